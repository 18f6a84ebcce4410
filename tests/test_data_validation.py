"""Bad data and bad arguments are clear errors before (or, for undecodable files, during the first pass of) training."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_deit.data import check_class_names_match, load_source, make_dataset


def write_classes(root, names, count=2):
    rng = np.random.default_rng(0)
    for name in names:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for index in range(count):
            pixels = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(os.path.join(root, name, f"{index}.png"))


def test_evaluation_split_with_other_classes_is_an_error_naming_them(tmp_path):
    write_classes(str(tmp_path / "train"), ["a", "b", "c"])
    write_classes(str(tmp_path / "validation"), ["a", "c", "d"])
    train = load_source(str(tmp_path), "train")
    validation = load_source(str(tmp_path), "validation")
    with pytest.raises(ValueError, match=r"missing \['b'\], extra \['d'\]"):
        check_class_names_match(train, validation)
    check_class_names_match(train, train)


def test_empty_class_folders_are_an_error_naming_them(tmp_path):
    write_classes(str(tmp_path), ["cat", "dog"])
    (tmp_path / "emu").mkdir()
    (tmp_path / "yak").mkdir()
    (tmp_path / "yak" / "notes.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"2 of 4 class sub-folder\(s\) hold no readable .*: emu, yak"):
        load_source(str(tmp_path))


def test_symlinked_class_folders(tmp_path):
    root, outside = tmp_path / "tree", tmp_path / "elsewhere"
    write_classes(str(root), ["cat", "dog"])
    write_classes(str(outside), ["owl"], count=3)
    # A link to a folder outside the tree is an ordinary class.
    os.symlink(outside / "owl", root / "owl")
    source = load_source(str(root))
    assert source.class_names == ("cat", "dog", "owl") and source.num_examples == 7
    # A link back to the tree (a cycle) would add a class of copies of every image.
    os.symlink(root, root / "loop")
    with pytest.raises(ValueError, match=r"'loop' is a symlink to .*inside or above the tree"):
        load_source(str(root))
    os.remove(root / "loop")
    os.symlink(root / "cat", root / "kitten")
    with pytest.raises(ValueError, match=r"'kitten' is a symlink"):
        load_source(str(root))
    os.remove(root / "kitten")
    # A link inside a class folder is not followed (os.walk without followlinks).
    os.symlink(root, root / "cat" / "up")
    assert load_source(str(root)).num_examples == 7


def test_a_folder_of_which_nothing_decodes_fails_after_one_pass(tmp_path):
    # Every file passes the header and end-marker check, none decodes.
    for name in ("cat", "dog"):
        (tmp_path / name).mkdir()
        for index in range(3):
            (tmp_path / name / f"{index}.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00garbage" * 20 + b"\xff\xd9")
    source = load_source(str(tmp_path))
    assert source.num_examples == 6 and source.skipped == ()
    for training in (True, False):
        dataset = make_dataset(source, training=training, image_size=16, batch_size=2, seed=0)
        with pytest.raises(tf.errors.InvalidArgumentError, match="No image of .* decoded in epoch"):
            next(iter(dataset))


def test_a_few_undecodable_files_are_dropped_not_fatal(tmp_path):
    write_classes(str(tmp_path), ["cat", "dog"], count=3)
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00garbage" * 20 + b"\xff\xd9")
    dataset = make_dataset(str(tmp_path), training=True, image_size=16, batch_size=2, seed=0, epochs=2)
    # 7 records per epoch, 6 decode: 12 images in 6 batches.
    assert sum(int(images.shape[0]) for images, _ in dataset) == 12
    evaluation = make_dataset(str(tmp_path), training=False, image_size=16, batch_size=4)
    assert sum(int(images.shape[0]) for images, _ in evaluation) == 6


@pytest.mark.parametrize(
    "argument, value",
    [("repeats", 0), ("batch_size", 0), ("image_size", -1), ("epochs", 0), ("num_shards", 0),
     ("shard_index", 2), ("initial_epoch", -1), ("steps_per_epoch", 0), ("shuffle_buffer", 0),
     ("erasing_probability", 1.5), ("label_smoothing", 1.0), ("mixup_alpha", -0.1), ("crop_ratio", 0.0)],
)
def test_arguments_out_of_range_are_a_value_error_naming_them(argument, value):
    arguments = dict(training=True, image_size=16, batch_size=4, seed=0, num_shards=2) | {argument: value}
    with pytest.raises(ValueError, match=rf"^{argument} must be"):
        make_dataset("digits", **arguments)


def test_more_shards_than_examples_and_resuming_past_the_end():
    with pytest.raises(ValueError, match="cannot feed num_shards=2000"):
        make_dataset("digits", training=True, image_size=16, batch_size=4, num_shards=2000)
    with pytest.raises(ValueError, match="after the last of epochs=2"):
        make_dataset("digits", training=True, image_size=16, batch_size=8, epochs=2, initial_epoch=3)


def test_a_corrupt_tfrecord_file_is_a_one_line_error_naming_it(tmp_path):
    good, bad = str(tmp_path / "train-00000-of-00002"), str(tmp_path / "train-00001-of-00002")
    for path in (good, bad):
        with tf.io.TFRecordWriter(path) as writer:
            for label in range(4):
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x" * 50])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    data = bytearray(open(bad, "rb").read())
    data[len(data) // 2] ^= 0xFF  # a flipped byte: the record's CRC no longer matches
    open(bad, "wb").write(bytes(data))
    with pytest.raises(ValueError, match=r"^Corrupt TFRecord file .*train-00001-of-00002'") as error:
        load_source(str(tmp_path), "train")
    assert "\n" not in str(error.value)
