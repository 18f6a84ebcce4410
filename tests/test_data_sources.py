"""Every source through make_dataset: shapes, dtypes, value ranges, class names, bad data."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_deit.data import load_source, make_dataset

SIZE = 32
# The training transform's erased boxes hold 255 * (mean + std * N(0, 1)): a few
# values fall outside [0, 255], never beyond ~6 std.
ERASED_LOW, ERASED_HIGH = 255 * (0.406 - 6 * 0.225), 255 * (0.485 + 6 * 0.229)


def check_batches(dataset, *, batch_size, num_classes, training):
    images, labels = next(iter(dataset))
    assert images.shape == (batch_size, SIZE, SIZE, 3) and images.dtype == tf.float32
    if training:
        assert ERASED_LOW <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= ERASED_HIGH
        assert labels.shape == (batch_size, num_classes) and labels.dtype == tf.float32
        np.testing.assert_allclose(tf.reduce_sum(labels, axis=1), 1.0, atol=1e-5)
    else:
        assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255.0
        assert labels.shape == (batch_size,) and labels.dtype == tf.int32
        assert 0 <= int(tf.reduce_min(labels)) and int(tf.reduce_max(labels)) < num_classes
    return images, labels


def test_digits():
    source = load_source("digits", split="train")
    assert source.num_classes == 10 and source.num_examples == 1437
    assert source.class_names == tuple("0123456789")
    check_batches(
        make_dataset(source, training=True, image_size=SIZE, batch_size=8, seed=0),
        batch_size=8, num_classes=10, training=True,
    )
    evaluation = make_dataset("digits", "test", training=False, image_size=SIZE, batch_size=64)
    assert sum(int(images.shape[0]) for images, _ in evaluation) == 360


def write_image_folder(root, count_per_class=2):
    """Two classes: JPEG, PNG, BMP, GIF files in RGB, grayscale and RGBA."""
    rng = np.random.default_rng(0)
    formats = [("jpg", "RGB"), ("png", "RGBA"), ("bmp", "L"), ("gif", "RGB"), ("png", "L"), ("jpeg", "L")]
    for class_name in ("cat", "dog"):
        os.makedirs(os.path.join(root, class_name))
        for index in range(count_per_class):
            for extension, mode in formats:
                pixels = rng.integers(0, 256, (24 + index, 40, 4), dtype=np.uint8)
                image = Image.fromarray(pixels, "RGBA").convert(mode)
                image.save(os.path.join(root, class_name, f"{index}_{mode}.{extension}"))
    return 2 * count_per_class * len(formats)


def test_image_folder_every_format(tmp_path):
    total = write_image_folder(str(tmp_path))
    source = load_source(str(tmp_path), split="train")
    assert source.class_names == ("cat", "dog") and source.num_examples == total
    assert source.skipped == ()
    check_batches(
        make_dataset(source, training=True, image_size=SIZE, batch_size=8, seed=0),
        batch_size=8, num_classes=2, training=True,
    )
    evaluation = make_dataset(source, training=False, image_size=SIZE, batch_size=total)
    images, labels = check_batches(evaluation, batch_size=total, num_classes=2, training=False)
    assert sorted(labels.numpy().tolist()) == [0] * (total // 2) + [1] * (total // 2)


def test_image_folder_decodes_like_pillow(tmp_path):
    """Lossless files decode exactly as Pillow's convert("RGB") (alpha dropped, gray replicated)."""
    from keras_deit.data.decoding import decode_rgb

    rng = np.random.default_rng(1)
    for extension, mode in [("png", "RGBA"), ("bmp", "L"), ("gif", "L"), ("png", "RGB")]:
        path = str(tmp_path / f"image_{mode}.{extension}")
        Image.fromarray(rng.integers(0, 256, (9, 11, 4), dtype=np.uint8), "RGBA").convert(mode).save(path)
        expected = np.asarray(Image.open(path).convert("RGB"))
        np.testing.assert_array_equal(decode_rgb(tf.io.read_file(path)).numpy(), expected)


def test_corrupt_files_are_skipped_and_counted(tmp_path, caplog):
    total = write_image_folder(str(tmp_path), count_per_class=1)
    good_jpeg = tmp_path / "cat" / "0_RGB.jpg"
    data = good_jpeg.read_bytes()
    (tmp_path / "cat" / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "dog" / "not_an_image.png").write_text("hello, I am text")
    with caplog.at_level("WARNING", logger="keras_deit.data"):
        source = load_source(str(tmp_path), split="train")
    assert len(source.skipped) == 2 and source.num_examples == total
    assert "skipped 2 unreadable" in caplog.text and "truncated.jpg" in caplog.text
    training = make_dataset(source, training=True, image_size=SIZE, batch_size=4, seed=0, epochs=2)
    # Two epochs of 12 images: 6 full batches, no crash.
    assert sum(1 for _ in training) == 2 * total // 4


def test_errors_before_training(tmp_path):
    with pytest.raises(ValueError, match="Unknown data source"):
        load_source("no/such/thing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no class sub-folders"):
        load_source(str(tmp_path / "empty"))
    (tmp_path / "empty" / "cat").mkdir()
    with pytest.raises(ValueError, match="no readable"):
        load_source(str(tmp_path / "empty"))


def write_tfrecords(path, labels, size=(20, 30)):
    rng = np.random.default_rng(0)
    with tf.io.TFRecordWriter(path) as writer:
        for label in labels:
            pixels = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            encoded = tf.io.encode_jpeg(pixels).numpy()
            feature = {
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
            }
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_tfrecords(tmp_path):
    write_tfrecords(str(tmp_path / "train-00000-of-00001"), [0, 1, 2, 1, 0, 2, 1, 2])
    (tmp_path / "labels.txt").write_text("ant\nbee\nwasp\n")
    source = load_source(str(tmp_path), split="train")
    assert source.class_names == ("ant", "bee", "wasp") and source.num_examples == 8
    check_batches(
        make_dataset(source, training=True, image_size=SIZE, batch_size=4, seed=0),
        batch_size=4, num_classes=3, training=True,
    )
    _, labels = check_batches(
        make_dataset(str(tmp_path / "train-*"), training=False, image_size=SIZE, batch_size=8),
        batch_size=8, num_classes=3, training=False,
    )
    assert labels.numpy().tolist() == [0, 1, 2, 1, 0, 2, 1, 2]


def test_tfrecord_label_out_of_range(tmp_path):
    write_tfrecords(str(tmp_path / "train-00000-of-00001"), [0, 1, 5])
    (tmp_path / "labels.txt").write_text("ant\nbee\n")
    with pytest.raises(ValueError, match=r"1 label\(s\) outside \[0, 2\)"):
        load_source(str(tmp_path), split="train")


def test_tfds_mock_data():
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=12):
        source = load_source("tfds:cifar10", split="train")
        # Offline, the mock has no label names: ClassLabel(num_classes=10) names them "0".."9".
        assert source.num_classes == 10 and source.num_examples == 12
        check_batches(
            make_dataset(source, training=True, image_size=SIZE, batch_size=4, seed=0, shuffle_buffer=16),
            batch_size=4, num_classes=10, training=True,
        )
        check_batches(
            make_dataset(source, training=False, image_size=SIZE, batch_size=4),
            batch_size=4, num_classes=10, training=False,
        )
