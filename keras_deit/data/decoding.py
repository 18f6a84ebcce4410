"""Image bytes to RGB pixels: JPEG, PNG, BMP and GIF; grayscale and RGBA become RGB.

JPEGs decode with the accurate integer DCT, the one Pillow uses, so the pixels match
the official (Pillow) pipeline's; a crop of a JPEG decodes only the cropped region.

Example:
```python
import tensorflow as tf
from keras_deit.data.decoding import decode_rgb
image = decode_rgb(tf.io.read_file("cat.jpg"))  # uint8 (H, W, 3)
```
"""

import tensorflow as tf

_DCT_METHOD = "INTEGER_ACCURATE"


def decode_rgb(encoded):
    """Decodes an image file's bytes to uint8 RGB (H, W, 3); a GIF gives its first frame.

    Args:
        encoded: string scalar tensor. The file's bytes.
    """
    return tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method=_DCT_METHOD),
        # channels=3 converts grayscale to RGB and drops an alpha channel, as
        # Pillow's convert("RGB") does.
        lambda: tf.ensure_shape(
            tf.io.decode_image(encoded, channels=3, expand_animations=False), (None, None, 3)
        ),
    )


def decode_window(encoded, choose_window):
    """Decodes the region `choose_window(size)` picks; a JPEG decodes only that region.

    Args:
        encoded: string scalar tensor. The file's bytes.
        choose_window: function of the (height, width) int32 tensor returning the
            int32 window (top, left, height, width) inside it.
    """

    def jpeg():
        window = choose_window(tf.image.extract_jpeg_shape(encoded)[:2])
        return tf.image.decode_and_crop_jpeg(encoded, window, channels=3, dct_method=_DCT_METHOD)

    def other():
        image = decode_rgb(encoded)
        return crop(image, choose_window(tf.shape(image)[:2]))

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def crop(image, window):
    """The `window` = (top, left, height, width) region of a decoded image.

    Args:
        image: tensor (H, W, C).
        window: int32 tensor (4,).
    """
    return image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
