"""`make_dataset`: a `tf.data` pipeline of DeiT's training or evaluation transform.

Training: RandomResizedCrop (bicubic) and flip, RandAugment `rand-m9-mstd0.5-inc1` (or
3-Augment, or color jitter), random erasing, batching with static shapes, Mixup / CutMix
with label smoothing per batch, repeated augmentation in the epoch order. Evaluation:
resize + centre crop, integer labels. Images are float32 RGB NHWC in [0, 255] (erased
boxes go outside it); the models normalize inside. Everything is TensorFlow ops
(no `py_function`), and random draws are stateless, keyed by the seed, the epoch and
the element's position in it, so a seed gives the same batches every run and a pipeline
started at `initial_epoch` continues exactly where an uninterrupted one would be.

Example:
```python
from keras_deit.data import load_source, make_dataset
source = load_source("digits", split="train")
train = make_dataset(source, training=True, image_size=32, batch_size=16, seed=0)
images, targets = next(iter(train))  # (16, 32, 32, 3) float32, (16, 10) float32
```
"""

import numpy as np
import tensorflow as tf

from keras_deit.data.color_jitter import color_jitter as jitter_colors
from keras_deit.data.decoding import MAX_PIXELS, crop, decode_rgb, decode_window
from keras_deit.data.eval_transform import resize_and_center_crop
from keras_deit.data.mixup_cutmix import mix_batch, smooth_one_hot
from keras_deit.data.rand_augment import rand_augment as apply_rand_augment
from keras_deit.data.random_erasing import random_erasing
from keras_deit.data.random_resized_crop import resize_bicubic, sample_crop_window
from keras_deit.data.repeated_augmentation import epoch_indices
from keras_deit.data.sources import load_source
from keras_deit.data.three_augment import three_augment as apply_three_augment

# Purposes of the seed streams derived from the user's seed.
_ORDER, _IMAGE, _BATCH = 0, 1, 2
# The transforms are plain TensorFlow ops; autograph's conversion of every function
# they call only adds seconds of tracing.
_no_autograph = tf.autograph.experimental.do_not_convert


def make_dataset(
    source,
    split="train",
    *,
    training,
    image_size,
    batch_size,
    seed=None,
    epochs=None,
    initial_epoch=0,
    steps_per_epoch=None,
    num_shards=1,
    shard_index=0,
    data_dir=None,
    manual_dir=None,
    crop_ratio=0.875,
    scale=(0.08, 1.0),
    ratio=(3 / 4, 4 / 3),
    flip_probability=0.5,
    rand_augment=True,
    three_augment=False,
    color_jitter=0.3,
    erasing_probability=0.25,
    mixup_alpha=0.8,
    cutmix_alpha=1.0,
    mix_probability=1.0,
    switch_probability=0.5,
    label_smoothing=0.1,
    repeats=3,
    shuffle_buffer=10_000,
    drop_remainder=None,
    max_pixels=MAX_PIXELS,
):
    """A `tf.data.Dataset` of (images, labels) batches with DeiT's transforms.

    Defaults are the official DeiT recipe; each augmentation has its switch. Class
    names and counts are on the `Source` (`load_source(...)`), which can be passed
    here instead of a spec so the folder is scanned once.

    Args:
        source: str or Source. A spec for `load_source` ("digits", "tfds:cifar10", a
            folder, TFRecord files) or a loaded Source.
        split: str. Split to read when `source` is a spec.
        training: bool. Training transform (shuffled, repeated) or evaluation transform
            (one ordered pass).
        image_size: int. Side of the square images.
        batch_size: int. Per-shard batch size.
        seed: int or None. Same seed, same batches; None draws one.
        epochs: int or None. Training passes; None repeats forever (an epoch is
            `source.num_examples // num_shards` images). Ignored in evaluation.
        initial_epoch: int. Training: start after `initial_epoch * steps_per_epoch`
            batches, with exactly the batches an uninterrupted pipeline yields from
            there (Keras' `fit(initial_epoch=...)` resuming a run with the same seed).
        steps_per_epoch: int or None. Batches per Keras epoch, the unit of
            `initial_epoch`; None: `source.num_examples // num_shards // batch_size`.
        num_shards: int. Replicas or input workers sharing the data (e.g.
            `input_context.num_input_pipelines`).
        shard_index: int. This shard (e.g. `input_context.input_pipeline_id`). Shards
            share each epoch's order and draw their own augmentations.
        data_dir: str or None. TFDS data directory.
        manual_dir: str or None. TFDS manual download directory.
        crop_ratio: float. Evaluation: centre crop of `image_size / crop_ratio`.
        scale: 2 floats. RandomResizedCrop area range.
        ratio: 2 floats. RandomResizedCrop aspect ratio range.
        flip_probability: float. Horizontal flip chance.
        rand_augment: bool. timm's `rand-m9-mstd0.5-inc1`.
        three_augment: bool. DeiT III's 3-Augment instead of RandAugment (it ends with
            color jitter of strength `color_jitter`).
        color_jitter: float. Color jitter strength, used only without RandAugment (as
            the official code); 0 turns it off.
        erasing_probability: float. Random erasing chance; 0 turns it off.
        mixup_alpha: float. Mixup Beta parameter; 0 turns Mixup off.
        cutmix_alpha: float. CutMix Beta parameter; 0 turns CutMix off.
        mix_probability: float. Chance a batch is mixed.
        switch_probability: float. Chance of CutMix rather than Mixup.
        label_smoothing: float. Label smoothing of the training targets.
        repeats: int. Repeated augmentation: copies of each image per epoch (1: off).
        shuffle_buffer: int. Streamed sources (TFDS, TFRecord): records permuted together per
            epoch, a window of this many at a time (memory holds one window).
        drop_remainder: bool or None. Drop the last partial batch (static shapes);
            None means True in training and False in evaluation.
        max_pixels: int. Encoded images of more pixels are dropped before decoding
            (their header is read; see `keras_deit.data.decoding`).

    Returns:
        A `tf.data.Dataset` of (images float32 (B, S, S, 3), labels): labels are int32
        (B,) in evaluation or with mixing and smoothing off, else float32 soft targets
        (B, num_classes).

    Raises:
        ValueError: unknown or empty source, labels outside the class range, an argument
            out of its range.
        tf.errors.InvalidArgumentError: while iterating, when no image of an epoch decodes.
    """
    _check_arguments(
        image_size=image_size, batch_size=batch_size, epochs=epochs, initial_epoch=initial_epoch,
        steps_per_epoch=steps_per_epoch, num_shards=num_shards, shard_index=shard_index,
        repeats=repeats, shuffle_buffer=shuffle_buffer, crop_ratio=crop_ratio,
        flip_probability=flip_probability, erasing_probability=erasing_probability,
        mix_probability=mix_probability, switch_probability=switch_probability,
        label_smoothing=label_smoothing, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha,
    )
    source = load_source(source, split, data_dir=data_dir, manual_dir=manual_dir)
    if source.num_examples < num_shards:
        raise ValueError(f"{source.num_examples} examples cannot feed num_shards={num_shards} shards.")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    # Shards share the epoch's order (base_seed) but draw their own augmentations, as
    # timm seeds each rank apart; shard 0's draws are those of an unsharded pipeline.
    base_seed = tf.constant([seed, 0], "int64")
    shard_seed = tf.constant([seed, shard_index], "int64")
    if drop_remainder is None:
        drop_remainder = training
    first_batch = 0
    if training:
        per_shard = source.num_examples // num_shards
        steps_per_epoch = steps_per_epoch or max(1, per_shard // batch_size)
        first_batch = initial_epoch * steps_per_epoch
        start_epoch, start_position = divmod(first_batch * batch_size, per_shard)
        if epochs is not None and start_epoch >= epochs:
            raise ValueError(
                f"initial_epoch={initial_epoch} starts at data epoch {start_epoch}, after the "
                f"last of epochs={epochs}."
            )
        records = _training_records(
            source, base_seed, seed=seed, start_epoch=start_epoch, start_position=start_position,
            epochs=epochs, repeats=repeats, num_shards=num_shards, shard_index=shard_index,
            shuffle_buffer=shuffle_buffer,
        )
        image_seed = tf.random.experimental.stateless_fold_in(shard_seed, _IMAGE)

        @_no_autograph
        def transform(payload, label, epoch, position):
            # Keyed by the element's place in the whole run, epoch * per_shard + position:
            # a pipeline started at any epoch draws what an uninterrupted one draws there.
            element_seed = tf.random.experimental.stateless_fold_in(
                image_seed, epoch * per_shard + position
            )
            return _train_image(
                source.payload, payload, element_seed, image_size=image_size,
                scale=scale, ratio=ratio, flip_probability=flip_probability,
                rand_augment=rand_augment, three_augment=three_augment,
                color_jitter=color_jitter, erasing_probability=erasing_probability, max_pixels=max_pixels,
            )

    else:
        records = _eval_records(source, num_shards=num_shards, shard_index=shard_index)

        @_no_autograph
        def transform(payload, label, epoch, position):
            image = _load(source.payload, max_pixels)(payload)
            return resize_and_center_crop(image, image_size=image_size, crop_ratio=crop_ratio)

    dataset = _decode(records, transform, source=source, image_size=image_size)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    mixing = mixup_alpha > 0 or cutmix_alpha > 0
    if training and (mixing or label_smoothing > 0):
        batch_seed = tf.random.experimental.stateless_fold_in(shard_seed, _BATCH)
        num_classes = source.num_classes

        @_no_autograph
        def mix(counter, batch):
            images, labels = batch
            if not mixing:
                return images, smooth_one_hot(labels, num_classes=num_classes, smoothing=label_smoothing)
            return mix_batch(
                images, labels, tf.random.experimental.stateless_fold_in(batch_seed, counter),
                num_classes=num_classes, mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha,
                probability=mix_probability, switch_probability=switch_probability,
                label_smoothing=label_smoothing,
            )

        # Batch seeds by the batch's index in the run, so a resumed pipeline continues them.
        dataset = dataset.enumerate(start=first_batch).map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _load(payload_kind, max_pixels):
    """The function turning a record's payload into uint8 pixels (H, W, 3)."""
    if payload_kind == "pixels":
        return tf.convert_to_tensor
    if payload_kind == "path":
        return lambda path: decode_rgb(tf.io.read_file(path), max_pixels)
    return lambda encoded: decode_rgb(encoded, max_pixels)


def _decode(records, transform, *, source, image_size):
    """(image, label) from (payload, label, epoch, position) records, `transform` applied.

    Encoded images that fail to decode are dropped with a warning (the cheap checks of
    the sources cannot see every corruption). So that a source of which nothing decodes
    fails instead of waiting forever, each epoch's records end with a marker (position
    -1, no decoding): reaching it with no image decoded in that epoch is an error.
    """
    if source.payload == "pixels":
        return records.map(
            _no_autograph(lambda payload, label, epoch, position: (transform(payload, label, epoch, position), label)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    blank = tf.zeros((image_size, image_size, 3), "float32")

    @_no_autograph
    def decode(payload, label, epoch, position):
        image = tf.cond(
            position < 0, lambda: blank, lambda: transform(payload, label, epoch, position)
        )
        return image, label, epoch, position

    images = records.map(decode, num_parallel_calls=tf.data.AUTOTUNE).ignore_errors(log_warning=True)

    @_no_autograph
    def count_decoded(decoded, element):
        _, _, epoch, position = element
        end = position < 0
        check = tf.debugging.Assert(
            tf.logical_or(tf.logical_not(end), decoded > 0),
            [f"No image of {source.name!r} ({source.split}) decoded in epoch", epoch,
             "every file failed to decode: see the warnings above."],
        )
        with tf.control_dependencies([check]):
            return tf.where(end, tf.constant(0, "int64"), decoded + 1), element

    images = images.scan(tf.constant(0, "int64"), count_decoded)
    images = images.filter(lambda image, label, epoch, position: position >= 0)
    return images.map(lambda image, label, epoch, position: (image, label))


def _with_end_marker(records, epoch, payload_kind):
    """`records` (payload, label, epoch, position) followed by the epoch's end marker."""
    if payload_kind == "pixels":
        return records
    marker = (tf.constant(""), tf.constant(0, "int32"), epoch, tf.constant(-1, "int64"))
    return records.concatenate(tf.data.Dataset.from_tensors(marker))


def _training_records(
    source, base_seed, *, seed, start_epoch, start_position, epochs, repeats, num_shards,
    shard_index, shuffle_buffer,
):
    """(payload, label, epoch, position) in training order from (start_epoch, start_position).

    Each epoch's order is a function of (seed, epoch) alone, so a pipeline may start at
    any epoch and position and yield what an uninterrupted one yields from there.
    """
    per_shard = source.num_examples // num_shards
    order_seed = tf.random.experimental.stateless_fold_in(base_seed, _ORDER)
    if source.table is not None:
        payloads, labels = (tf.constant(array) for array in source.table)

        def epoch_order(epoch):
            indices = epoch_indices(
                source.num_examples, seed=tf.random.experimental.stateless_fold_in(order_seed, epoch),
                repeats=repeats, num_shards=num_shards, shard_index=shard_index,
            )
            return tf.data.Dataset.from_tensor_slices(indices).enumerate().map(
                lambda position, index: (tf.gather(payloads, index), tf.gather(labels, index), position)
            )
    else:
        # A stream has no random access: its file order is drawn once from the seed, each
        # epoch permutes it window by window (`shuffle_buffer` records, keyed by seed, epoch
        # and window), then each image `repeats` times in a row, sharded so its copies go to
        # different shards. Starting inside an epoch reads (without decoding) and drops the
        # records before the start. Not Dataset.shuffle: its seed goes through tf.random's
        # global-seed logic, which fails on a tensor seed once a global seed is set (as
        # keras.utils.set_random_seed, and so keras_deit.train, does).
        stream = source.stream(seed)

        def epoch_order(epoch):
            epoch_seed = tf.random.experimental.stateless_fold_in(order_seed, epoch)

            def permute(window_index, window):
                payloads, labels = window
                order = tf.random.experimental.stateless_shuffle(
                    tf.range(tf.shape(labels)[0]),
                    tf.random.experimental.stateless_fold_in(epoch_seed, window_index),
                )
                return tf.data.Dataset.from_tensor_slices((tf.gather(payloads, order), tf.gather(labels, order)))

            records = stream.batch(shuffle_buffer).enumerate().flat_map(permute)
            if repeats > 1:
                records = records.flat_map(
                    lambda payload, label: tf.data.Dataset.from_tensors((payload, label)).repeat(repeats)
                )
            records = records.shard(num_shards, shard_index).take(per_shard).enumerate()
            return records.map(lambda position, record: (*record, position))

    def epoch_records(epoch):
        skipped = tf.where(epoch == start_epoch, tf.constant(start_position, "int64"), tf.constant(0, "int64"))
        records = epoch_order(epoch).skip(skipped)
        records = records.map(lambda payload, label, position: (payload, label, epoch, position))
        return _with_end_marker(records, epoch, source.payload)

    epoch_numbers = (
        tf.data.Dataset.range(start_epoch, epochs) if epochs else tf.data.Dataset.counter(start_epoch)
    )
    return epoch_numbers.flat_map(epoch_records)


def _eval_records(source, *, num_shards, shard_index):
    """(payload, label, epoch 0, position) of one ordered pass over this shard."""
    if source.table is not None:
        records = tf.data.Dataset.from_tensor_slices(source.table)
    else:
        records = source.stream(None)
    records = records.shard(num_shards, shard_index).enumerate()
    epoch = tf.constant(0, "int64")
    records = records.map(lambda position, record: (*record, epoch, position))
    return _with_end_marker(records, epoch, source.payload)


def _check_arguments(**arguments):
    """Raises ValueError naming the first argument outside its range."""
    at_least_one = ("image_size", "batch_size", "num_shards", "repeats", "shuffle_buffer")
    for name in at_least_one:
        if not (isinstance(arguments[name], int) and arguments[name] >= 1):
            raise ValueError(f"{name} must be an integer >= 1, got {arguments[name]!r}.")
    for name in ("epochs", "steps_per_epoch"):
        value = arguments[name]
        if value is not None and not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be None or an integer >= 1, got {value!r}.")
    if not (isinstance(arguments["initial_epoch"], int) and arguments["initial_epoch"] >= 0):
        raise ValueError(f"initial_epoch must be an integer >= 0, got {arguments['initial_epoch']!r}.")
    if not 0 <= arguments["shard_index"] < arguments["num_shards"]:
        raise ValueError(
            f"shard_index must be in [0, num_shards={arguments['num_shards']}), got {arguments['shard_index']!r}."
        )
    if not 0.0 < arguments["crop_ratio"] <= 1.0:
        raise ValueError(f"crop_ratio must be in (0, 1], got {arguments['crop_ratio']!r}.")
    for name in ("flip_probability", "erasing_probability", "mix_probability", "switch_probability"):
        if not 0.0 <= arguments[name] <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {arguments[name]!r}.")
    if not 0.0 <= arguments["label_smoothing"] < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {arguments['label_smoothing']!r}.")
    for name in ("mixup_alpha", "cutmix_alpha"):
        if not arguments[name] >= 0.0:
            raise ValueError(f"{name} must be >= 0, got {arguments[name]!r}.")


def _train_image(
    payload_kind, payload, seed, *, image_size, scale, ratio, flip_probability, rand_augment,
    three_augment, color_jitter, erasing_probability, max_pixels,
):
    """The per-image training transform, float32 (image_size, image_size, 3)."""
    crop_seed, flip_seed, augment_seed, erase_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4)
    )

    def choose_window(size):
        return sample_crop_window(size, crop_seed, scale=scale, ratio=ratio)

    if payload_kind == "pixels":
        region = crop(payload, choose_window(tf.shape(payload)[:2]))
    else:
        encoded = tf.io.read_file(payload) if payload_kind == "path" else payload
        region = decode_window(encoded, choose_window, max_pixels)
    image = resize_bicubic(region, (image_size, image_size))
    flip = tf.random.stateless_uniform((), flip_seed) < flip_probability
    # tf.cond, not tf.where: a broadcast select of the whole image costs more than the flip.
    image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
    if three_augment:
        image = apply_three_augment(image, augment_seed, color_jitter_strength=color_jitter)
    elif rand_augment:
        image = apply_rand_augment(image, augment_seed)
    elif color_jitter:
        image = jitter_colors(image, augment_seed, strength=color_jitter)
    if erasing_probability > 0:
        image = random_erasing(image, erase_seed, probability=erasing_probability)
    return tf.ensure_shape(image, (image_size, image_size, 3))
