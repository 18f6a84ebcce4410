"""Bounded decoding: header sizes, the pixel cap, and a crop-first eval transform whose cost follows the output.

References: Pillow's reading of each file's size; the whole-image resize followed by
the crop (the transform's previous form); peak RSS and wall time of served requests
measured in a fresh process.
"""

import io
import json
import os
import struct
import subprocess
import sys
import zlib

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_deit
from keras_deit.data import make_dataset
from keras_deit.data.decoding import MAX_PIXELS, checked_size, decode_rgb, header_size
from keras_deit.data.eval_transform import resize_and_center_crop
from keras_deit.export import export_saved_model

TINY = dict(image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=5)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def blank_bilevel_png(height, width):
    """A valid 1-bit grayscale PNG of `height` x `width` zeros, compressed row by row (tiny file)."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte, then 8 pixels a byte
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def encode(image, image_format, **options):
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def resize_then_crop(image, image_size, crop_ratio=0.875):
    """The transform as it was: the whole image resized (antialiased bicubic), then cropped."""
    scale_size = int(image_size / crop_ratio)
    height, width = image.shape[:2]
    if height <= width:
        new_height, new_width = scale_size, scale_size * width // height
    else:
        new_height, new_width = scale_size * height // width, scale_size
    resized = tf.image.resize(tf.cast(image, "float32"), (new_height, new_width), "bicubic", antialias=True)
    top, left = round((new_height - image_size) / 2), round((new_width - image_size) / 2)
    return np.round(np.clip(resized.numpy()[top:top + image_size, left:left + image_size], 0, 255))


@pytest.mark.parametrize(
    "shape, image_size, crop_ratio",
    [((427, 640), 32, 0.875), ((640, 427), 224, 0.875), ((97, 131), 64, 0.875), ((300, 300), 224, 0.875),
     ((50, 70), 224, 0.875), ((1000, 333), 224, 0.9), ((224, 224), 224, 1.0), ((3, 1500), 32, 0.875)],
)
def test_crop_first_equals_resize_then_crop(shape, image_size, crop_ratio):
    """Same pixels as resizing the whole image: values agree to float32 rounding (measured
    up to 0.015 levels apart before rounding to integers), so only values that near a .5
    tie round the other way (measured: at most 0.13% of values here, by 1 level)."""
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    expected = resize_then_crop(image, image_size, crop_ratio)
    actual = resize_and_center_crop(tf.constant(image), image_size=image_size, crop_ratio=crop_ratio).numpy()
    assert actual.shape == (image_size, image_size, 3)
    difference = np.abs(actual - expected)
    assert difference.max() <= 1.0 and np.mean(difference > 0) < 0.005


def keys_cubic(distance):
    """Keys' cubic convolution kernel, a = -0.5 (Pillow's and TensorFlow's bicubic)."""
    x = np.abs(distance)
    near = (1.5 * x - 2.5) * x * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def test_long_thin_image_matches_a_float64_resize_of_its_crop():
    """1 x 60000 to 64: resizing first built a 73 x 4.38 million image (3.8 GB)."""
    row = np.random.default_rng(1).integers(0, 256, (1, 60000, 3), dtype=np.uint8)
    out = resize_and_center_crop(tf.constant(row), image_size=64).numpy()
    # Reference: only the 64 output columns the crop keeps of the 73 * 60000 resize
    # (upscaling, so the kernel is not stretched), half-pixel centres, weights normalized.
    new_width = 73 * 60000
    left = round((new_width - 64) / 2)
    centers = (np.arange(left, left + 64) + 0.5) * 60000 / new_width
    weights = keys_cubic(np.arange(60000)[None, :] + 0.5 - centers[:, None])
    columns = (weights / weights.sum(1, keepdims=True)) @ row[0].astype("float64")
    expected = np.round(np.clip(columns, 0, 255))
    # One input row: every output row is that row's resize.
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), atol=1.0)
    assert np.mean(out != expected) < 0.01


@pytest.mark.parametrize(
    "image_format, options",
    [("PNG", {}), ("JPEG", {}), ("JPEG", {"progressive": True}), ("GIF", {}), ("BMP", {}),
     ("WEBP", {"lossless": True}), ("WEBP", {"quality": 80})],
)
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_header_size_is_pillows(image_format, options, mode):
    image = Image.fromarray(np.random.default_rng(2).integers(0, 256, (37, 53, 3), dtype=np.uint8)).convert(mode)
    encoded = tf.constant(encode(image, image_format, **options))
    height, width = header_size(encoded).numpy()
    assert (width, height) == Image.open(io.BytesIO(encoded.numpy())).size == (53, 37)
    assert decode_rgb(encoded).shape == (37, 53, 3)


def test_webp_extended_header_and_bmp_top_down():
    rgba = np.random.default_rng(3).integers(0, 256, (41, 29, 4), dtype=np.uint8)
    extended = encode(Image.fromarray(rgba), "WEBP")  # alpha: a VP8X chunk first
    assert extended[12:16] == b"VP8X"
    assert header_size(tf.constant(extended)).numpy().tolist() == [41, 29]
    bottom_up = bytearray(encode(Image.fromarray(rgba[..., :3]), "BMP"))
    bottom_up[22:26] = struct.pack("<i", -41)  # a negative height: rows stored top-down
    assert header_size(tf.constant(bytes(bottom_up))).numpy().tolist() == [41, 29]


def test_cap_and_unknown_bytes_are_refused_before_decoding():
    bomb = tf.constant(blank_bilevel_png(20000, 20000))  # about 50 KB; 1.2 GB decoded as RGB
    assert header_size(bomb).numpy().tolist() == [20000, 20000]
    with pytest.raises(tf.errors.InvalidArgumentError, match=f"20000x20000 .*max_pixels={MAX_PIXELS}"):
        decode_rgb(bomb)
    small = tf.constant(encode(Image.new("RGB", (40, 30)), "PNG"))
    assert checked_size(small, 1200).numpy().tolist() == [30, 40]
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_pixels=1199"):
        checked_size(small, 1199)
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        decode_rgb(tf.constant(b"GIF"))  # too short for any header
    with pytest.raises(ValueError, match="max_pixels must be a positive int"):
        decode_rgb(small, 0)


def test_make_dataset_drops_images_over_its_cap(tmp_path):
    for name, size in (("small", (20, 16)), ("large", (80, 64))):
        (tmp_path / "class_a").mkdir(exist_ok=True)
        Image.new("RGB", size, (200, 10, 10)).save(tmp_path / "class_a" / f"{name}.png")

    def batches(max_pixels):
        dataset = make_dataset(str(tmp_path), training=False, image_size=16, batch_size=4, max_pixels=max_pixels)
        return [images.numpy() for images, _ in dataset]
    assert sum(len(batch) for batch in batches(MAX_PIXELS)) == 2
    (kept,) = batches(20 * 16)
    # The small red image alone, through the eval transform (a solid colour stays solid).
    assert kept.shape == (1, 16, 16, 3)
    np.testing.assert_array_equal(kept[0], np.broadcast_to([200.0, 10.0, 10.0], (16, 16, 3)))


def test_export_max_pixels_refuses_that_request_only(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras_deit.DeiT(**TINY)
    serving = tf.saved_model.load(export_saved_model(model, str(tmp_path / "capped"), max_pixels=1000))
    signature = serving.signatures["serving_default"]
    fits = encode(Image.new("RGB", (40, 25), (9, 99, 199)), "PNG")
    too_large = encode(Image.new("RGB", (40, 26), (9, 99, 199)), "PNG")
    cap_message = "26x40 pixels is over the decoded-pixel cap max_pixels=1000"
    with pytest.raises(tf.errors.InvalidArgumentError, match=cap_message):
        signature(image_bytes=tf.constant([fits, too_large]))
    served = signature(image_bytes=tf.constant([fits]))["probabilities"].numpy()
    pixels = np.broadcast_to(np.float32([9, 99, 199]), (1, 32, 32, 3))
    np.testing.assert_allclose(served, keras.ops.convert_to_numpy(keras.ops.softmax(model(pixels))), atol=1e-5)


SERVING_PROBE = r"""
import io, json, resource, struct, sys, time, zlib
import keras, numpy as np, tensorflow as tf
from PIL import Image
import keras_deit
from keras_deit.data.decoding import decode_rgb
from keras_deit.data.eval_transform import resize_and_center_crop
sys.path.insert(0, sys.argv[2])
from test_export_bounds import blank_bilevel_png, encode

keras.utils.set_random_seed(0)
model = keras_deit.DeiT(image_size=64, patch_size=8, embed_dim=64, depth=2, num_heads=2, distill=True, num_classes=5)
signature = tf.saved_model.load(keras_deit.export_saved_model(model, sys.argv[1])).signatures["serving_default"]
rng = np.random.default_rng(0)
requests = {
    "1x60000": encode(Image.fromarray(rng.integers(0, 256, (1, 60000, 3), dtype=np.uint8)), "PNG"),
    "1x16000": encode(Image.fromarray(rng.integers(0, 256, (1, 16000, 3), dtype=np.uint8)), "PNG"),
    "20000x20000": blank_bilevel_png(20000, 20000),
    "normal": encode(Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)), "PNG"),
}
def expected(encoded):
    pixels = resize_and_center_crop(decode_rgb(tf.constant(encoded)), image_size=64).numpy()[None]
    return [np.asarray(logits) for logits in model.heads(pixels)]
for _ in range(2):  # warm-up: the signature's first calls allocate its kernels and pools
    signature(image_bytes=tf.constant([requests["normal"]]))
baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the process's peak so far
results = {}
for name, encoded in requests.items():
    start = time.perf_counter()
    try:
        outputs = signature(image_bytes=tf.constant([encoded]))
        served = [outputs["cls_logits"].numpy(), outputs["dist_logits"].numpy()]
        error = None
    except tf.errors.InvalidArgumentError as raised:
        served, error = None, raised.message
    seconds = time.perf_counter() - start
    # Growth of the peak over the baseline bounds every request so far from above.
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024
    difference = None if served is None else max(float(np.abs(s - e).max()) for s, e in zip(served, expected(encoded)))
    results[name] = dict(seconds=seconds, growth_mb=growth_mb, error=error, difference=difference)
print(json.dumps(results))
"""


@pytest.mark.slow
def test_served_requests_cost_their_output_not_their_claimed_size(tmp_path):
    """In a fresh process (so the peak RSS is this test's): the claimed size of a PNG sets
    neither memory nor time; before, 1x8000 took 12.9 GB and 47 s at 224."""
    probe = subprocess.run(
        [sys.executable, "-c", SERVING_PROBE, str(tmp_path / "deit"), os.path.dirname(__file__)],
        capture_output=True, text=True, timeout=600,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    results = json.loads(probe.stdout.strip().splitlines()[-1])
    for name, result in results.items():
        assert result["seconds"] < 5.0 and result["growth_mb"] < 300, (name, result)
    for name in ("1x60000", "1x16000", "normal"):
        assert results[name]["error"] is None and results[name]["difference"] < 1e-4, (name, results[name])
    cap_message = f"20000x20000 pixels is over the decoded-pixel cap max_pixels={MAX_PIXELS}"
    assert cap_message in results["20000x20000"]["error"]
