"""DeiT III's 3-Augment: one of grayscale, solarize, Gaussian blur; then color jitter.

The official `new_data_aug_generator`: RandomChoice([Grayscale(3), Solarization
(threshold 128), GaussianBlur(radius ~ U(0.1, 2))]) after the crop and flip, then
ColorJitter(0.3, 0.3, 0.3). The blur here is an exact Gaussian (sigma = radius, edges
repeated); Pillow approximates it with three box blurs, so pixels differ slightly.

Example:
```python
import tensorflow as tf
from keras_deit.data.three_augment import three_augment
image = tf.cast(tf.random.uniform((32, 32, 3), 0, 256, "int32"), "float32")
three_augment(image, seed=tf.constant([5, 6]))
```
"""

import tensorflow as tf

from keras_deit.data import pil_ops
from keras_deit.data.color_jitter import color_jitter

# Radius at most 2: 3 sigma on each side fits in 13 taps.
_BLUR_TAPS = 13


def gaussian_blur(image, sigma):
    """Separable Gaussian blur, edge pixels repeated, rounded to integers.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        sigma: float scalar. Standard deviation in pixels (Pillow's radius), at most 2.
    """
    offsets = tf.range(_BLUR_TAPS, dtype="float32") - _BLUR_TAPS // 2
    weights = tf.exp(-0.5 * tf.square(offsets / sigma))
    weights = weights / tf.reduce_sum(weights)
    half = _BLUR_TAPS // 2
    padded = tf.pad(image[None], [[0, 0], [half, half], [half, half], [0, 0]], mode="SYMMETRIC")
    vertical = tf.tile(tf.reshape(weights, (-1, 1, 1, 1)), (1, 1, 3, 1))
    horizontal = tf.tile(tf.reshape(weights, (1, -1, 1, 1)), (1, 1, 3, 1))
    blurred = tf.nn.depthwise_conv2d(padded, vertical, (1, 1, 1, 1), "VALID")
    blurred = tf.nn.depthwise_conv2d(blurred, horizontal, (1, 1, 1, 1), "VALID")[0]
    return tf.round(tf.clip_by_value(blurred, 0.0, 255.0))


def three_augment(image, seed, *, color_jitter_strength=0.3):
    """3-Augment on one image.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        seed: int tensor (2,). Stateless seed.
        color_jitter_strength: float. ColorJitter after the choice; 0 turns it off.
    """
    choice_seed, radius_seed, jitter_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 3)
    )
    choice = tf.random.stateless_uniform((), choice_seed, 0, 3, dtype="int32")
    radius = tf.random.stateless_uniform((), radius_seed, 0.1, 2.0)
    image = tf.switch_case(
        choice,
        [
            lambda: pil_ops.grayscale(image),
            lambda: pil_ops.solarize(image, 128),
            lambda: gaussian_blur(image, radius),
        ],
    )
    if color_jitter_strength:
        image = color_jitter(image, jitter_seed, strength=color_jitter_strength)
    return image
