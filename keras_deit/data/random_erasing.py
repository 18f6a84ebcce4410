"""timm's RandomErasing (mode "pixel", one box), done in pixel space.

The official recipe erases after normalization with per-pixel N(0, 1) noise. The
models here normalize inside, so the box is filled with what that noise is in pixels:
255 * (mean + std * N(0, 1)) per channel. Values leave [0, 255] there, as they do in the
official pipeline after de-normalization.

Example:
```python
import tensorflow as tf
from keras_deit.data.random_erasing import random_erasing
image = tf.fill((224, 224, 3), 128.0)
erased = random_erasing(image, seed=tf.constant([3, 4]), probability=1.0)
```
"""

import math

import tensorflow as tf

from keras_deit.data.slice_update import paste_box

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_ATTEMPTS = 10


def random_erasing(
    image,
    seed,
    *,
    probability=0.25,
    min_area=0.02,
    max_area=1 / 3,
    min_aspect=0.3,
    max_aspect=None,
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
):
    """Erases one random box of `image` with probability `probability`.

    Args:
        image: float32 tensor (H, W, 3), pixel values 0..255.
        seed: int tensor (2,). Stateless seed.
        probability: float. Chance the image gets a box.
        min_area: float. Smallest box area, as a fraction of the image.
        max_area: float. Largest box area, as a fraction of the image.
        min_aspect: float. Smallest height / width; sampled log-uniformly.
        max_aspect: float or None. Largest height / width (default 1 / min_aspect).
        mean: 3 floats. Normalization mean in [0, 1] units, as the model's.
        std: 3 floats. Normalization std in [0, 1] units, as the model's.

    Returns:
        float32 (H, W, 3): the image, with the box (if any) filled with noise.
    """
    max_aspect = max_aspect or 1 / min_aspect
    shape = tf.shape(image)
    height = tf.cast(shape[0], "float32")
    width = tf.cast(shape[1], "float32")
    apply_seed, area_seed, aspect_seed, top_seed, left_seed, noise_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 6)
    )
    target_area = height * width * tf.random.stateless_uniform((_ATTEMPTS,), area_seed, min_area, max_area)
    aspect = tf.exp(
        tf.random.stateless_uniform(
            (_ATTEMPTS,), aspect_seed, math.log(min_aspect), math.log(max_aspect)
        )
    )
    box_height = tf.round(tf.sqrt(target_area * aspect))
    box_width = tf.round(tf.sqrt(target_area / aspect))
    # timm: the first of 10 attempts that fits strictly inside; none fitting: no box.
    fits = (box_width < width) & (box_height < height)
    first = tf.argmax(tf.cast(fits, "int32"), output_type="int32")
    box_height, box_width = box_height[first], box_width[first]
    top = tf.floor(tf.random.stateless_uniform((), top_seed) * (height - box_height + 1))
    left = tf.floor(tf.random.stateless_uniform((), left_seed) * (width - box_width + 1))
    erase = tf.reduce_any(fits) & (tf.random.stateless_uniform((), apply_seed) <= probability)
    box = tf.cast(tf.stack([top, left, box_height, box_width]), "int32")

    def erased():
        # Noise for the box only, written over it: 3 images in 4 keep theirs untouched.
        noise = tf.random.stateless_normal(tf.stack([box[2], box[3], 3]), noise_seed)
        noise = 255.0 * (tf.constant(mean) + tf.constant(std) * noise)
        return paste_box(image, box[0], box[1], noise)

    return tf.cond(erase, erased, lambda: tf.identity(image))
