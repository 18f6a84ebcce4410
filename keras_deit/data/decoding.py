"""Image bytes to RGB pixels, with the image's size read from its header and capped first.

JPEG, PNG, GIF, BMP and WebP; grayscale and alpha become RGB, a GIF or an animated
WebP gives its first frame. JPEGs decode with the accurate integer DCT, the one Pillow
uses, so the pixels match the official (Pillow) pipeline's; a crop of a JPEG decodes
only the cropped region.

A few hundred bytes of PNG can claim 20000x20000 pixels (1.2 GB decoded), so before
any decoding the width and height are read from the file's header and an image of
more than `max_pixels` pixels is refused with an InvalidArgumentError naming the cap
(in a served request that request fails alone; `make_dataset` drops the file). The
default cap is Pillow's `Image.MAX_IMAGE_PIXELS`.

Example:
```python
import tensorflow as tf
from keras_deit.data.decoding import decode_rgb, header_size
encoded = tf.io.encode_png(tf.zeros((427, 640, 3), tf.uint8))
header_size(encoded).numpy()  # [427, 640]
decode_rgb(encoded).shape  # (427, 640, 3)
```
"""

import tensorflow as tf

_DCT_METHOD = "INTEGER_ACCURATE"
MAX_PIXELS = 89_478_485  # Pillow's Image.MAX_IMAGE_PIXELS, 1024 ** 3 // 4 // 3
UNKNOWN_FORMAT = "Unknown image file format. One of JPEG, PNG, GIF, BMP, WebP required."
# Every header field read below lies in the first 30 bytes.
_HEADER_LENGTH = 32


def _matches(header, offset, magic):
    """Whether `header[offset:]` starts with the bytes `magic`."""
    expected = tf.constant(list(magic), tf.int64)
    return tf.reduce_all(tf.equal(header[offset:offset + len(magic)], expected))


def _little_endian(header, offset, length):
    return sum(header[offset + i] * (256 ** i) for i in range(length))


def _big_endian(header, offset, length):
    return sum(header[offset + i] * (256 ** (length - 1 - i)) for i in range(length))


def _signed_abs(header, offset):
    value = _little_endian(header, offset, 4)
    return tf.where(value >= 2**31, 2**32 - value, value)


def _webp_size(header):
    """(height, width) of a WebP from its first chunk: lossy "VP8 ", lossless "VP8L" or "VP8X"."""
    # VP8: 14-bit sizes in the key frame header; the top 2 bits are an upscaling hint.
    lossy = tf.stack([_little_endian(header, 28, 2) % 16384, _little_endian(header, 26, 2) % 16384])
    # VP8L: after the 0x2f signature byte, width - 1 and height - 1 in 14 bits each.
    bits = _little_endian(header, 21, 4)
    lossless = tf.stack([(bits // 16384) % 16384 + 1, bits % 16384 + 1])
    # VP8X (extended, e.g. animations or alpha): the canvas, 24 bits each, minus 1.
    extended = tf.stack([_little_endian(header, 27, 3) + 1, _little_endian(header, 24, 3) + 1])
    return tf.where(
        _matches(header, 12, b"VP8 "), lossy, tf.where(_matches(header, 12, b"VP8L"), lossless, extended)
    )


def _non_jpeg_size(encoded):
    """(height, width) int64 from a PNG, GIF, BMP or WebP header; other bytes are refused."""
    header = tf.cast(
        tf.io.decode_raw(tf.strings.substr(encoded, 0, _HEADER_LENGTH), tf.uint8, fixed_length=_HEADER_LENGTH),
        tf.int64,
    )
    # The magic bytes TensorFlow's decode_image recognizes a format by.
    formats = [
        # PNG: the IHDR chunk comes first, width then height, big-endian.
        (_matches(header, 0, b"\x89PNG\r\n\x1a\n"), tf.stack([_big_endian(header, 20, 4), _big_endian(header, 16, 4)])),
        # GIF: the logical screen, which TensorFlow decodes every frame onto.
        (_matches(header, 0, b"GIF8"), tf.stack([_little_endian(header, 8, 2), _little_endian(header, 6, 2)])),
        # BMP: int32 width and height (negative: rows top-down), where TensorFlow reads them.
        (_matches(header, 0, b"BM"), tf.stack([_signed_abs(header, 22), _signed_abs(header, 18)])),
        (_matches(header, 0, b"RIFF") & _matches(header, 8, b"WEBP"), _webp_size(header)),
    ]
    known = tf.reduce_any(tf.stack([matched for matched, _ in formats]))
    check = tf.debugging.Assert(known, [UNKNOWN_FORMAT])
    size = tf.zeros(2, tf.int64)
    for matched, format_size in reversed(formats):
        size = tf.where(matched, format_size, size)
    with tf.control_dependencies([check]):
        return tf.identity(size)


def header_size(encoded):
    """(height, width) of an encoded image, read from its header without decoding it.

    Args:
        encoded: string scalar tensor. The file's bytes.

    Returns:
        int64 tensor (2,). Bytes that are neither JPEG, PNG, GIF, BMP nor WebP raise
        InvalidArgumentError "Unknown image file format ..."; a malformed JPEG header
        raises TensorFlow's own JPEG error.

    Example:
    ```python
    import tensorflow as tf
    header_size(tf.io.encode_jpeg(tf.zeros((2, 3, 3), tf.uint8))).numpy()  # [2, 3]
    ```
    """
    return tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64),
        lambda: _non_jpeg_size(encoded),
    )


def checked_size(encoded, max_pixels=MAX_PIXELS):
    """`header_size(encoded)`, after refusing an image of more than `max_pixels` pixels.

    Args:
        encoded: string scalar tensor. The file's bytes.
        max_pixels: int. Largest height * width decoded.

    Returns:
        int64 tensor (2,), (height, width). Over the cap: InvalidArgumentError
        "... is over the decoded-pixel cap max_pixels=...".

    Example:
    ```python
    import tensorflow as tf
    checked_size(tf.io.encode_png(tf.zeros((4, 5, 3), tf.uint8)), max_pixels=20).numpy()  # [4, 5]
    ```
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive int, got {max_pixels!r}.")
    size = header_size(encoded)
    message = tf.strings.format(
        "Image of {}x{} pixels is over the decoded-pixel cap max_pixels=" + str(max_pixels) + ".",
        (size[0], size[1]),
    )
    check = tf.debugging.Assert(size[0] * size[1] <= max_pixels, [message])
    with tf.control_dependencies([check]):
        return tf.identity(size)


def _after(tensor, encoded):
    """`encoded`, in a graph only once `tensor` (a checked size) is computed."""
    with tf.control_dependencies([tensor]):
        return tf.identity(encoded)


def decode_rgb(encoded, max_pixels=MAX_PIXELS):
    """Decodes an image file's bytes to uint8 RGB (H, W, 3); a GIF gives its first frame.

    Args:
        encoded: string scalar tensor. The file's bytes.
        max_pixels: int. Larger images are refused before decoding (see `checked_size`).

    Example:
    ```python
    import tensorflow as tf
    decode_rgb(tf.io.encode_png(tf.zeros((4, 5, 1), tf.uint8))).shape  # (4, 5, 3)
    ```
    """
    return _decode(_after(checked_size(encoded, max_pixels), encoded))


def _decode(encoded):
    """Decodes without a size check (the callers check the header first)."""
    return tf.cond(
        tf.io.is_jpeg(encoded),
        lambda: tf.io.decode_jpeg(encoded, channels=3, dct_method=_DCT_METHOD),
        # channels=3 converts grayscale to RGB and drops an alpha channel, as
        # Pillow's convert("RGB") does.
        lambda: tf.ensure_shape(
            tf.io.decode_image(encoded, channels=3, expand_animations=False), (None, None, 3)
        ),
    )


def decode_window(encoded, choose_window, max_pixels=MAX_PIXELS):
    """Decodes the region `choose_window(size)` picks; a JPEG decodes only that region.

    Args:
        encoded: string scalar tensor. The file's bytes.
        choose_window: function of the (height, width) int32 tensor returning the
            int32 window (top, left, height, width) inside it.
        max_pixels: int. Larger images are refused before decoding (see `checked_size`).

    Example:
    ```python
    import tensorflow as tf
    encoded = tf.io.encode_jpeg(tf.zeros((8, 8, 3), tf.uint8))
    decode_window(encoded, lambda size: tf.constant([0, 0, 4, 4])).shape  # (4, 4, 3)
    ```
    """
    size = checked_size(encoded, max_pixels)

    def jpeg():
        window = choose_window(tf.cast(size, tf.int32))
        return tf.image.decode_and_crop_jpeg(_after(size, encoded), window, channels=3, dct_method=_DCT_METHOD)

    def other():
        image = _decode(_after(size, encoded))
        return crop(image, choose_window(tf.shape(image)[:2]))

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def crop(image, window):
    """The `window` = (top, left, height, width) region of a decoded image.

    Args:
        image: tensor (H, W, C).
        window: int32 tensor (4,).

    Example:
    ```python
    import tensorflow as tf
    crop(tf.zeros((8, 8, 3)), tf.constant([2, 2, 4, 4])).shape  # (4, 4, 3)
    ```
    """
    return image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
