"""A pipeline started at `initial_epoch` yields exactly the batches of the uninterrupted one from there."""

import numpy as np
import pytest
import tensorflow as tf

from keras_deit.data import load_source, make_dataset


def batches(dataset, count):
    return [tuple(tensor.numpy() for tensor in batch) for batch in dataset.take(count)]


def assert_resume_is_exact(source, *, initial_epoch, steps_per_epoch, **options):
    # RandAugment, Mixup / CutMix, erasing and repeated augmentation: the defaults.
    common = dict(training=True, image_size=16, batch_size=4, seed=3, steps_per_epoch=steps_per_epoch) | options
    skipped = initial_epoch * steps_per_epoch
    uninterrupted = batches(make_dataset(source, **common), skipped + 3)[skipped:]
    resumed = batches(make_dataset(source, initial_epoch=initial_epoch, **common), 3)
    for (images_a, targets_a), (images_b, targets_b) in zip(uninterrupted, resumed):
        np.testing.assert_array_equal(images_a, images_b)
        np.testing.assert_array_equal(targets_a, targets_b)
    first = batches(make_dataset(source, **common), 1)[0]
    assert not np.array_equal(first[0], resumed[0][0])


@pytest.mark.parametrize("steps_per_epoch, initial_epoch", [(7, 2), (12, 1)])
def test_table_source(steps_per_epoch, initial_epoch):
    source = load_source("mnist:train_size=50", "train")
    # 7 x 4 x 2 = 56 images: data epoch 1 at position 6; 12 x 4 = 48: inside epoch 0.
    assert_resume_is_exact(source, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch)
    assert_resume_is_exact(
        source, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, num_shards=2, shard_index=1
    )


def test_streamed_tfrecord_source(tmp_path):
    # A global seed set, as keras_deit.train sets one: the epoch's seeded shuffle must not
    # go through tf.random's global-seed logic (it fails on a tensor seed then).
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    for shard in range(2):
        with tf.io.TFRecordWriter(str(tmp_path / f"train-0000{shard}-of-00002")) as writer:
            for index in range(10):
                encoded = tf.io.encode_png(rng.integers(0, 256, (12, 14, 3), dtype=np.uint8)).numpy()
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[index % 3])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    source = load_source(str(tmp_path), "train")
    assert source.num_examples == 20
    # 3 x 4 x 2 = 24 images: data epoch 1 at position 4 (its first 4 records read and dropped).
    assert_resume_is_exact(source, initial_epoch=2, steps_per_epoch=3, shuffle_buffer=8)
    assert_resume_is_exact(source, initial_epoch=3, steps_per_epoch=5, shuffle_buffer=8)
