"""The DeiT evaluation transform: resize the shorter side to size / crop_ratio, centre crop.

torchvision's Resize(int(size / crop_ratio), bicubic) then CenterCrop(size), as the
official code evaluates (224 / 0.875 = 256, then 224).

Only the pixels the crop keeps are computed: the crop box is found from the image's
shape first, and the region of the input under it (plus the bicubic kernel's reach) is
resized with the whole image's scale and an offset. The values are those of resizing
the whole image and cropping (TensorFlow's antialiased bicubic, to float rounding),
but the cost follows the output size: a 1x8000 image no longer becomes a
256x2048000 intermediate (12.9 GB) on its way to 224x224.

Example:
```python
import tensorflow as tf
from keras_deit.data.eval_transform import resize_and_center_crop
image = tf.zeros((427, 640, 3), "uint8")
resize_and_center_crop(image, image_size=224).shape  # (224, 224, 3)
```
"""

import tensorflow as tf

# Keys' cubic reaches 2 pixels each side; shrinking by s stretches it to 2 / s.
_KERNEL_RADIUS = 2.0


def _round_half_to_even(numerator):
    """`round(numerator / 2)` of a non-negative int64, half to even as Python's round."""
    half = numerator // 2
    return half + (numerator % 2) * (half % 2)


def _axis_plan(length, resized_length, offset, image_size):
    """The input window under output pixels `offset .. offset + image_size` of one axis.

    Args:
        length: int64 scalar. The input's length on this axis.
        resized_length: int64 scalar. Its length after the whole-image resize.
        offset: int64 scalar. Where the crop starts in the resized image.
        image_size: int. The crop's length.

    Returns:
        (start, window_length, scale, translation): int64, int64, float32, float32.
        Resizing `input[start:start + window_length]` with this scale and translation
        (`tf.raw_ops.ScaleAndTranslate`) gives the crop of the whole-image resize.
    """
    # The scale as the whole-image resize computes it (float32 lengths), so the kernel
    # weights are the same.
    scale = tf.cast(resized_length, "float32") / tf.cast(length, "float32")
    scale64 = tf.cast(scale, "float64")
    reach = _KERNEL_RADIUS * tf.maximum(1.0 / scale64, 1.0)
    # Output pixel x samples the input at (x + 0.5) / scale (pixel centres at i + 0.5);
    # one pixel of margin each side absorbs float rounding.
    first = (tf.cast(offset, "float64") + 0.5) / scale64
    last = (tf.cast(offset + image_size, "float64") - 0.5) / scale64
    start = tf.clip_by_value(tf.cast(tf.math.floor(first - reach - 0.5), "int64") - 1, 0, length - 1)
    stop = tf.clip_by_value(tf.cast(tf.math.ceil(last + reach - 0.5), "int64") + 2, start + 1, length)
    # ScaleAndTranslate samples (x + 0.5 - translation) / scale: the window's offset
    # `start` and the crop's `offset` become one translation, small whatever the image.
    translation = tf.cast(tf.cast(start, "float64") * scale64 - tf.cast(offset, "float64"), "float32")
    return start, stop - start, scale, translation


def _resize_rows(matrix, length, scale, translation):
    """Resizes the rows axis of a (N, M) float32 matrix (bicubic, antialiased, offset)."""
    images = matrix[None, :, None, :]  # one image of N x 1 pixels with M channels
    resized = tf.raw_ops.ScaleAndTranslate(
        images=images, size=tf.stack([length, 1]), scale=tf.stack([scale, 1.0]),
        translation=tf.stack([translation, 0.0]), kernel_type="keyscubic", antialias=True,
    )
    return resized[0, :, 0, :]


def resize_and_center_crop(image, *, image_size, crop_ratio=0.875):
    """Evaluation transform of one image; float32 (image_size, image_size, 3), 0..255.

    Integer pixel values, as Pillow's uint8 output; memory and time follow
    `image_size` and the cropped part of the input, whatever the aspect ratio.

    Args:
        image: uint8 or float tensor (H, W, 3).
        image_size: int. Side of the square output.
        crop_ratio: float. Fraction of the resized shorter side kept by the crop.

    Example:
    ```python
    import tensorflow as tf
    resize_and_center_crop(tf.zeros((1, 8000, 3), "uint8"), image_size=224).shape  # (224, 224, 3)
    ```
    """
    scale_size = int(image_size / crop_ratio)
    shape = tf.shape(image, out_type="int64")
    height, width = shape[0], shape[1]
    shorter = tf.minimum(height, width)
    longer = tf.maximum(height, width)
    # torchvision: the longer side becomes int(size * long / short), truncated (int64:
    # 256 times a long side overflows int32).
    new_longer = (scale_size * longer) // shorter
    new_height = tf.where(height <= width, tf.constant(scale_size, "int64"), new_longer)
    new_width = tf.where(height <= width, new_longer, tf.constant(scale_size, "int64"))
    # torchvision's CenterCrop: int(round((h - size) / 2)), round half to even.
    top = _round_half_to_even(new_height - image_size)
    left = _round_half_to_even(new_width - image_size)
    row_start, row_count, row_scale, row_translation = _axis_plan(height, new_height, top, image_size)
    column_start, column_count, column_scale, column_translation = _axis_plan(width, new_width, left, image_size)
    window = tf.cast(
        image[row_start:row_start + row_count, column_start:column_start + column_count], "float32"
    )
    # Two 1-D passes whose "channels" are a whole row of pixels (as resize_bicubic):
    # the kernel's inner loop runs over a row instead of 3 values.
    rows = _resize_rows(tf.reshape(window, tf.stack([row_count, -1])), image_size, row_scale, row_translation)
    rows = tf.reshape(rows, tf.stack([tf.constant(image_size, "int64"), column_count, 3]))
    columns = tf.reshape(tf.transpose(rows, (1, 0, 2)), tf.stack([column_count, -1]))
    columns = _resize_rows(columns, image_size, column_scale, column_translation)
    cropped = tf.transpose(tf.reshape(columns, (image_size, image_size, 3)), (1, 0, 2))
    cropped = tf.round(tf.clip_by_value(cropped, 0.0, 255.0))
    return tf.ensure_shape(cropped, (image_size, image_size, 3))
