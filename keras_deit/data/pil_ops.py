"""Pillow's image operations re-written in TensorFlow ops, pixel for pixel.

timm's RandAugment (what DeiT trains with) calls Pillow: `ImageOps`, `ImageEnhance` and
`Image.transform`. Each function here reproduces the Pillow function of the same name on
a float32 (H, W, 3) image holding integers 0..255 and returns one too, including Pillow's
integer rounding (its blends and its bicubic transform truncate; its filters round), so a
TensorFlow pipeline can apply the official recipe without `py_function`. The tests
compare every op with Pillow.

Example:
```python
import tensorflow as tf
from keras_deit.data import pil_ops
image = tf.random.uniform((32, 32, 3), 0, 256, "int32")
image = tf.cast(image, "float32")
pil_ops.rotate(image, degrees=30.0, fill=(124, 116, 104))
```
"""

import math

import tensorflow as tf


def _luminance(image):
    # Pillow's RGB -> "L": ITU-R 601-2 weights in 16-bit fixed point, rounded.
    r, g, b = tf.unstack(tf.cast(image, "int32"), axis=-1)
    return tf.cast((r * 19595 + g * 38470 + b * 7471 + 0x8000) // 65536, "float32")


def _blend(degenerate, image, factor):
    # Image.blend: in1 + alpha * (in2 - in1) in float32, clipped, truncated to uint8.
    factor = tf.cast(factor, "float32")
    mixed = degenerate + factor * (image - degenerate)
    return tf.floor(tf.clip_by_value(mixed, 0.0, 255.0))


def _apply_lut(image, luts):
    """Per-channel look-up: `luts` is (3, 256); image values index it."""
    channels = tf.cast(tf.transpose(image, (2, 0, 1)), "int32")  # (3, H, W)
    looked_up = tf.gather(luts, channels, batch_dims=1)
    return tf.transpose(tf.cast(looked_up, "float32"), (1, 2, 0))


def _histograms(image):
    """(3, 256) int32 per-channel histograms."""
    channels = tf.cast(tf.reshape(tf.transpose(image, (2, 0, 1)), (3, -1)), "int32")
    offsets = channels + tf.range(3)[:, None] * 256
    # DenseBincount with a constant size: tf.math.bincount's size depends on the values,
    # which makes XLA compile equalize again for every new maximum.
    counts = tf.raw_ops.DenseBincount(
        input=tf.reshape(offsets, [-1]), size=768, weights=tf.zeros([0], "int32"), binary_output=False
    )
    return tf.reshape(counts, (3, 256))


def auto_contrast(image):
    """ImageOps.autocontrast (cutoff 0): stretch each channel's [min, max] to [0, 255].

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
    """
    # Pillow builds the table in float64 and truncates with int().
    image64 = tf.cast(image, "float64")
    low = tf.reduce_min(image64, axis=(0, 1))
    high = tf.reduce_max(image64, axis=(0, 1))
    flat = high <= low
    one = tf.ones_like(low)
    scale = tf.where(flat, one, 255.0 / tf.where(flat, one, high - low))
    offset = tf.where(flat, tf.zeros_like(low), -low * scale)
    values = image64 * scale + offset
    return tf.cast(tf.clip_by_value(tf.cast(values, "int32"), 0, 255), "float32")


def equalize(image):
    """ImageOps.equalize: per-channel histogram equalization, Pillow's integer table.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
    """
    histograms = _histograms(image)
    nonzero = histograms > 0
    # Count of the last non-empty bin, which Pillow leaves out of the step.
    last_index = 255 - tf.argmax(tf.cast(tf.reverse(nonzero, [1]), "int32"), axis=1, output_type="int32")
    last_count = tf.gather(histograms, last_index, batch_dims=1)
    step = (tf.reduce_sum(histograms, axis=1) - last_count) // 255
    identity = tf.logical_or(
        tf.reduce_sum(tf.cast(nonzero, "int32"), axis=1) <= 1, tf.equal(step, 0)
    )
    safe_step = tf.maximum(step, 1)[:, None]
    before = tf.cumsum(histograms, axis=1, exclusive=True)
    luts = (safe_step // 2 + before) // safe_step
    luts = tf.where(identity[:, None], tf.range(256)[None, :], tf.minimum(luts, 255))
    return _apply_lut(image, luts)


def invert(image):
    """ImageOps.invert: 255 - x.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
    """
    return 255.0 - image


def posterize(image, bits):
    """ImageOps.posterize: keep the `bits` most significant bits (8 or more: unchanged).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        bits: int scalar tensor. Bits kept, 0..8; 0 gives a black image (Pillow before
            10 did this; Pillow 10+ raises, which makes timm fail at magnitude 10).
    """
    bits = tf.cast(bits, "int32")
    mask = tf.bitwise.invert(tf.bitwise.left_shift(1, 8 - tf.minimum(bits, 8)) - 1)
    return tf.cast(tf.bitwise.bitwise_and(tf.cast(image, "int32"), mask), "float32")


def solarize(image, threshold=128):
    """ImageOps.solarize: invert the pixels at or above `threshold`.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        threshold: scalar. 256 leaves the image unchanged.
    """
    return tf.where(image < tf.cast(threshold, "float32"), image, 255.0 - image)


def solarize_add(image, addition, threshold=128):
    """timm's solarize_add: add `addition` to the pixels below `threshold`, clip at 255.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        addition: scalar. Added to the dark pixels.
        threshold: scalar. Pixels at or above it are unchanged.
    """
    added = tf.minimum(image + tf.cast(addition, "float32"), 255.0)
    return tf.where(image < tf.cast(threshold, "float32"), added, image)


def color(image, factor):
    """ImageEnhance.Color: blend with the grayscale image (0: gray, 1: unchanged).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        factor: float scalar.
    """
    gray = _luminance(image)[..., None]
    return _blend(tf.broadcast_to(gray, tf.shape(image)), image, factor)


def contrast(image, factor):
    """ImageEnhance.Contrast: blend with the mean gray level (0: flat gray, 1: unchanged).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        factor: float scalar.
    """
    mean = tf.floor(tf.reduce_mean(tf.cast(_luminance(image), "float64")) + 0.5)
    return _blend(tf.cast(mean, "float32"), image, factor)


def brightness(image, factor):
    """ImageEnhance.Brightness: blend with black (0: black, 1: unchanged).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        factor: float scalar.
    """
    return _blend(0.0, image, factor)


def smooth(image):
    """ImageFilter.SMOOTH: 3x3 kernel [[1,1,1],[1,5,1],[1,1,1]] / 13, border pixels kept.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
    """
    kernel = tf.constant([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    kernel = tf.tile(kernel[:, :, None, None], (1, 1, 3, 1))
    filtered = tf.nn.depthwise_conv2d(image[None], kernel, (1, 1, 1, 1), "VALID")[0]
    # Pillow rounds the filter output (clip8 adds 0.5 before truncating).
    filtered = tf.floor(tf.clip_by_value(filtered, 0.0, 255.0) + 0.5)
    middle = tf.concat([image[1:-1, :1], filtered, image[1:-1, -1:]], axis=1)
    return tf.concat([image[:1], middle, image[-1:]], axis=0)


def sharpness(image, factor):
    """ImageEnhance.Sharpness: blend with the SMOOTH-filtered image (1: unchanged).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        factor: float scalar.
    """
    return _blend(smooth(image), image, factor)


def grayscale(image):
    """Pillow's convert("L") repeated on 3 channels (torchvision's Grayscale(3)).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
    """
    return tf.tile(_luminance(image)[..., None], (1, 1, 3))


def _cubic(v1, v2, v3, v4, d):
    # Pillow's Geometry.c BICUBIC macro, same Horner form (the truncation to uint8
    # afterwards makes the evaluation order visible): cubic convolution with a = -1.
    p2 = -v1 + v3
    p3 = 2 * (v1 - v2) + v3 - v4
    p4 = -v1 + v2 - v3 + v4
    return v2 + d * (p2 + d * (p3 + d * p4))


# Pillow evaluates the bicubic in float64. Along one axis (shear, translate), float64
# costs no more than float32 once XLA has fused the steps; the 4x4 bicubic of rotate runs
# in float32, 1.7x faster, which truncates a value one level apart only where it lies
# within ~1e-5 of an integer (measured against Pillow on photos: <= 0.006% of values,
# as in float64; flat regions stay exact, the Horner form returns v2 there).
_ROWS_DTYPE, _GRID_DTYPE = "float64", "float32"


def _taps(coordinate, size):
    """The 4 bicubic taps of each sample along one axis, clamped to the image as Pillow.

    Args:
        coordinate: float tensor (H, W). Sample positions in pixel units, centres at k + 0.5.
        size: int32 scalar. The image's length along that axis.

    Returns:
        (4 int32 index tensors (H, W), the position shifted to centres at k, its floor).
    """
    coordinate = coordinate - 0.5
    floor = tf.floor(coordinate)
    first = tf.cast(floor, "int32") - 1
    return [tf.clip_by_value(first + k, 0, size - 1) for k in range(4)], coordinate, floor


def _pixels(flat, rows, columns, width, dtype):
    """Pixels (H, W, 3) at (rows, columns) of an image flattened to (H * W, 3)."""
    return tf.cast(tf.gather(flat, rows * width + columns), dtype)


def _fraction(coordinate, floor, dtype):
    """The tap weight `coordinate - floor` broadcast once to (H, W, 3)."""
    fraction = tf.cast(coordinate - floor, dtype)[..., None]
    return tf.broadcast_to(fraction, tf.concat([tf.shape(coordinate), [3]], axis=0))


def _resample(image, x_in, y_in, along):
    """Pillow's bicubic at (x_in, y_in) (pixel units, centres at k + 0.5).

    `along` "x" / "y": the other coordinate is exact (a pixel centre), so only the 4 taps
    along that axis count, which is Pillow's value there. Each tap is one gather of whole
    pixels from the flattened image: XLA's CPU code for it is 1.2-2.8x faster than building
    windows of taps (concatenations and transposes with 3 or 12 values innermost).
    """
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    flat = tf.reshape(image, (-1, 3))
    rows = tf.broadcast_to(tf.range(height)[:, None], (height, width))
    columns = tf.broadcast_to(tf.range(width)[None, :], (height, width))
    if along == "x":
        taps, x, floor = _taps(x_in, width)
        planes = [_pixels(flat, rows, tap, width, _ROWS_DTYPE) for tap in taps]
        return _cubic(*planes, _fraction(x, floor, _ROWS_DTYPE))
    if along == "y":
        taps, y, floor = _taps(y_in, height)
        planes = [_pixels(flat, tap, columns, width, _ROWS_DTYPE) for tap in taps]
        return _cubic(*planes, _fraction(y, floor, _ROWS_DTYPE))
    x_taps, x, x_floor = _taps(x_in, width)
    y_taps, y, y_floor = _taps(y_in, height)
    dx = _fraction(x, x_floor, _GRID_DTYPE)
    across = [
        _cubic(*[_pixels(flat, row, column, width, _GRID_DTYPE) for column in x_taps], dx) for row in y_taps
    ]
    return _cubic(*across, _fraction(y, y_floor, _GRID_DTYPE))


def affine(image, matrix, fill):
    """Image.transform(AFFINE, matrix, BICUBIC, fillcolor=fill), as Pillow computes it.

    Output pixel (x, y) samples the input at `(a x' + b y' + c, d x' + e y' + f)` with
    x' = x + 0.5, y' = y + 0.5 (pixel centres); a sample outside the image is `fill`,
    one inside is bicubic with edge pixels repeated, truncated to an integer. With
    (d, e, f) = (0, 1, 0) (shear / translation along x) the sample rows are exact and
    only the 4 horizontal taps count; with (a, b, c) = (1, 0, 0), the vertical ones.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        matrix: 6 floats or a float tensor (6,). Pillow's (a, b, c, d, e, f).
        fill: 3 numbers. Colour of the area uncovered by the transform.
    """
    a, b, c, d, e, f = tf.unstack(tf.cast(matrix, "float64"))
    return _affine(image, a, b, c, d, e, f, fill, along=None)


def _affine(image, a, b, c, d, e, f, fill, *, along):
    """`affine`; `along` "x" / "y" promises the matrix moves samples along that axis only."""
    coefficients = tf.cast(tf.stack([a, b, c, d, e, f]), "float64")
    fill = tf.cast(tf.reshape(tf.convert_to_tensor(fill), (3,)), "float32")
    return _COMPILED_AFFINE[along](image, coefficients, fill)


def _affine_kernel(image, coefficients, fill, along):
    """The transform itself (compiled by XLA): coefficients float64 (6,), fill float32 (3,)."""
    a, b, c, d, e, f = tf.unstack(coefficients)
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], "float64"), tf.cast(shape[1], "float64")
    # Coordinates in float64, as Pillow: a float32 x_in would move the tap weights.
    ys, xs = tf.meshgrid(tf.range(height) + 0.5, tf.range(width) + 0.5, indexing="ij")
    x_in = a * xs + b * ys + c
    y_in = d * xs + e * ys + f
    inside = (x_in >= 0) & (y_in >= 0) & (x_in < width) & (y_in < height)
    value = _resample(image, x_in, y_in, along)
    value = tf.cast(tf.floor(tf.clip_by_value(value, 0.0, 255.0)), "float32")
    return tf.where(inside[..., None], value, fill)


# XLA fuses the ~40 elementwise steps of the cubic into a few loops over the image
# (several times faster on CPU than one kernel per step); one compilation per image size.
_COMPILED_AFFINE = {
    along: tf.function(
        lambda image, coefficients, fill, along=along: _affine_kernel(image, coefficients, fill, along),
        jit_compile=True, autograph=False, reduce_retracing=True,
    )
    for along in (None, "x", "y")
}


def rotate(image, degrees, fill):
    """Image.rotate(degrees, BICUBIC, fillcolor=fill): counter-clockwise about the centre.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        degrees: float scalar. Counter-clockwise angle.
        fill: 3 numbers. Colour of the uncovered corners.
    """
    shape = tf.cast(tf.shape(image), "float64")
    center_x, center_y = shape[1] / 2.0, shape[0] / 2.0
    angle = -tf.cast(degrees, "float64") * (math.pi / 180.0)
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Pillow's rotate: the inverse rotation about the centre, as an affine matrix.
    matrix = tf.stack(
        [
            cos, sin, cos * -center_x + sin * -center_y + center_x,
            -sin, cos, -sin * -center_x + cos * -center_y + center_y,
        ]
    )
    return affine(image, matrix, fill)


def shear_x(image, factor, fill):
    """timm's shear_x: Pillow affine (1, factor, 0, 0, 1, 0).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        factor: float scalar. Horizontal shear.
        fill: 3 numbers. Colour of the uncovered area.
    """
    factor = tf.cast(factor, "float64")
    return _affine(image, 1.0, factor, 0.0, 0.0, 1.0, 0.0, fill, along="x")


def shear_y(image, factor, fill):
    """timm's shear_y: Pillow affine (1, 0, 0, factor, 1, 0).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        factor: float scalar. Vertical shear.
        fill: 3 numbers. Colour of the uncovered area.
    """
    factor = tf.cast(factor, "float64")
    return _affine(image, 1.0, 0.0, 0.0, factor, 1.0, 0.0, fill, along="y")


def translate_x(image, pixels, fill):
    """timm's translate_x_abs: Pillow affine (1, 0, pixels, 0, 1, 0) (content moves left).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        pixels: float scalar. Offset of the sampling point.
        fill: 3 numbers. Colour of the uncovered area.
    """
    pixels = tf.cast(pixels, "float64")
    return _affine(image, 1.0, 0.0, pixels, 0.0, 1.0, 0.0, fill, along="x")


def translate_y(image, pixels, fill):
    """timm's translate_y_abs: Pillow affine (1, 0, 0, 0, 1, pixels) (content moves up).

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        pixels: float scalar. Offset of the sampling point.
        fill: 3 numbers. Colour of the uncovered area.
    """
    pixels = tf.cast(pixels, "float64")
    return _affine(image, 1.0, 0.0, 0.0, 0.0, 1.0, pixels, fill, along="y")
