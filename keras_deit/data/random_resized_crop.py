"""RandomResizedCrop as timm/torchvision sample it: area (0.08, 1), log-uniform ratio.

Ten candidate windows are drawn at once; the first that fits is used (torchvision's
loop), else a centre crop with the ratio clamped. The crop is resized with bicubic
antialiased interpolation (Pillow always antialiases when shrinking) and rounded to
integer pixel values, as Pillow's uint8 output.

Example:
```python
import tensorflow as tf
from keras_deit.data.random_resized_crop import sample_crop_window
window = sample_crop_window(tf.constant([427, 640]), seed=tf.constant([0, 1]))
```
"""

import math

import tensorflow as tf

_ATTEMPTS = 10


def sample_crop_window(size, seed, *, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's RandomResizedCrop.get_params: (top, left, height, width) int32.

    Args:
        size: int tensor (2,). (height, width) of the image.
        seed: int tensor (2,). Stateless seed.
        scale: 2 floats. Range of the crop's area, as a fraction of the image's.
        ratio: 2 floats. Range of the crop's width / height, sampled log-uniformly.
    """
    height = tf.cast(size[0], "float32")
    width = tf.cast(size[1], "float32")
    area_seed, ratio_seed, top_seed, left_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )
    target_area = height * width * tf.random.stateless_uniform((_ATTEMPTS,), area_seed, *scale)
    aspect = tf.exp(
        tf.random.stateless_uniform((_ATTEMPTS,), ratio_seed, math.log(ratio[0]), math.log(ratio[1]))
    )
    # tf.round rounds half to even, as Python's round() in torchvision.
    crop_width = tf.round(tf.sqrt(target_area * aspect))
    crop_height = tf.round(tf.sqrt(target_area / aspect))
    fits = (crop_width <= width) & (crop_height <= height)
    first = tf.argmax(tf.cast(fits, "int32"), output_type="int32")
    in_ratio = width / height
    fallback_width = tf.where(
        in_ratio > ratio[1], tf.round(height * ratio[1]), width
    )
    fallback_height = tf.where(in_ratio < ratio[0], tf.round(width / ratio[0]), height)
    fallback_width = tf.where(in_ratio < ratio[0], width, fallback_width)
    any_fits = tf.reduce_any(fits)
    crop_height = tf.where(any_fits, crop_height[first], fallback_height)
    crop_width = tf.where(any_fits, crop_width[first], fallback_width)
    random_top = tf.floor(tf.random.stateless_uniform((), top_seed) * (height - crop_height + 1))
    random_left = tf.floor(tf.random.stateless_uniform((), left_seed) * (width - crop_width + 1))
    top = tf.where(any_fits, random_top, tf.floor((height - crop_height) / 2))
    left = tf.where(any_fits, random_left, tf.floor((width - crop_width) / 2))
    return tf.cast(tf.stack([top, left, crop_height, crop_width]), "int32")


def resize_bicubic(image, size):
    """Bicubic antialiased resize to `size`, rounded to integer pixel values in [0, 255].

    Args:
        image: tensor (H, W, 3), pixel values 0..255.
        size: 2 ints. (height, width) of the result.
    """
    resized = tf.image.resize(tf.cast(image, "float32"), size, method="bicubic", antialias=True)
    return tf.round(tf.clip_by_value(resized, 0.0, 255.0))
