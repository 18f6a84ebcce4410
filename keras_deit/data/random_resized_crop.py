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

    The same values as `tf.image.resize(image, size, "bicubic", antialias=True)` (the
    kernel is separable), computed as two 1-D resizes whose "channels" are a whole row of
    pixels: the kernel's inner loop runs over a row instead of 3 values. The transposes
    between the passes run under XLA: 1.9 ms instead of 3.6 for crops of a 427x640
    photo, measured in tf.data on one core (AMD EPYC Zen 3).

    Args:
        image: tensor (H, W, C), pixel values 0..255.
        size: 2 ints or an int tensor (2,). (height, width) of the result.

    Example:
    ```python
    import tensorflow as tf
    resize_bicubic(tf.zeros((300, 400, 3), "uint8"), (224, 224)).shape  # (224, 224, 3)
    ```
    """
    size = tf.cast(tf.convert_to_tensor(size), "int32")
    shape = tf.shape(image)
    height, width, channels = shape[0], shape[1], shape[2]
    rows = _resize_axis(tf.reshape(tf.cast(image, "float32"), (height, width * channels)), size[0])
    columns = _resize_axis(_swap_axes(rows, width, channels), size[1])
    return _swap_and_round(tf.reshape(columns, tf.stack([size[1], size[0], channels])))


# TensorFlow's own transpose of (H, W, 3) float32 to (W, H, 3) moves one 12-byte pixel at
# a time: 1.2 ms for 224x400, more than the resize itself; XLA's takes 0.25 ms. XLA
# compiles once per shape (0.1-0.2 s), so the varying width is padded up to one of 4
# sizes an octave: about 12 compilations for crops of 100 to 640 pixels.
def _bucket(length):
    """The smallest n * 2**k >= length with 4 < n <= 8 (or length itself below 8)."""
    bits = tf.cast(tf.math.ceil(tf.math.log(tf.cast(tf.maximum(length, 1), "float32")) / math.log(2.0)), "int32")
    step = tf.bitwise.left_shift(1, tf.maximum(bits - 3, 0))
    return (length + step - 1) // step * step


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _transpose_xla(image):
    return tf.transpose(image, (1, 0, 2))


def _swap_axes(matrix, width, channels):
    """(N, width * channels) float32, read as (N, width, channels), to (width, N * channels)."""
    rows = tf.shape(matrix)[0]
    padded_width = _bucket(width)
    padded = tf.pad(matrix, [[0, 0], [0, (padded_width - width) * channels]])
    swapped = _transpose_xla(tf.reshape(padded, tf.stack([rows, padded_width, channels])))
    return tf.reshape(swapped[:width], tf.stack([width, rows * channels]))


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _swap_and_round(image):
    # The output has the caller's (usually fixed) size: one compilation.
    return tf.round(tf.clip_by_value(tf.transpose(image, (1, 0, 2)), 0.0, 255.0))


def _resize_axis(matrix, length):
    """Resizes the rows axis of a (N, M) float32 matrix to `length` (bicubic, antialiased)."""
    images = matrix[None, :, None, :]  # one image of N x 1 pixels with M channels
    scale = tf.cast(length, "float32") / tf.cast(tf.shape(matrix)[0], "float32")
    resized = tf.raw_ops.ScaleAndTranslate(
        images=images, size=tf.stack([length, 1]), scale=tf.stack([scale, 1.0]),
        translation=tf.zeros(2), kernel_type="keyscubic", antialias=True,
    )
    return resized[0, :, 0, :]
