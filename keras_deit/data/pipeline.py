"""`make_dataset`: a `tf.data` pipeline of DeiT's training or evaluation transform.

Training: RandomResizedCrop (bicubic) and flip, RandAugment `rand-m9-mstd0.5-inc1` (or
3-Augment, or color jitter), random erasing, batching with static shapes, Mixup / CutMix
with label smoothing per batch, repeated augmentation in the epoch order. Evaluation:
resize + centre crop, integer labels. Images are float32 RGB NHWC in [0, 255] (erased
boxes go outside it); the models normalize inside. Everything is TensorFlow ops
(no `py_function`), and random draws are stateless, keyed by the seed and the
element's position, so a seed gives the same batches every run.

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
        shuffle_buffer: int. Shuffle buffer for streamed sources (TFDS, TFRecord).
        drop_remainder: bool or None. Drop the last partial batch (static shapes);
            None means True in training and False in evaluation.
        max_pixels: int. Encoded images of more pixels are dropped before decoding
            (their header is read; see `keras_deit.data.decoding`).

    Returns:
        A `tf.data.Dataset` of (images float32 (B, S, S, 3), labels): labels are int32
        (B,) in evaluation or with mixing and smoothing off, else float32 soft targets
        (B, num_classes).

    Raises:
        ValueError: unknown or empty source, labels outside the class range.
    """
    source = load_source(source, split, data_dir=data_dir, manual_dir=manual_dir)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    # Shards share the epoch's order (base_seed) but draw their own augmentations, as
    # timm seeds each rank apart; shard 0's draws are those of an unsharded pipeline.
    base_seed = tf.constant([seed, 0], "int64")
    shard_seed = tf.constant([seed, shard_index], "int64")
    if drop_remainder is None:
        drop_remainder = training
    if training:
        records = _training_records(
            source, base_seed, seed=seed, epochs=epochs, repeats=repeats,
            num_shards=num_shards, shard_index=shard_index, shuffle_buffer=shuffle_buffer,
        )
        image_seed = tf.random.experimental.stateless_fold_in(shard_seed, _IMAGE)

        @_no_autograph
        def transform(counter, payload, label):
            element_seed = tf.random.experimental.stateless_fold_in(image_seed, counter)
            image = _train_image(
                source.payload, payload, element_seed, image_size=image_size,
                scale=scale, ratio=ratio, flip_probability=flip_probability,
                rand_augment=rand_augment, three_augment=three_augment,
                color_jitter=color_jitter, erasing_probability=erasing_probability, max_pixels=max_pixels,
            )
            return image, label

        dataset = records.enumerate().map(
            _no_autograph(lambda counter, record: transform(counter, *record)),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    else:
        records = _eval_records(source, num_shards=num_shards, shard_index=shard_index)

        @_no_autograph
        def transform(payload, label):
            image = _load(source.payload, max_pixels)(payload)
            image = resize_and_center_crop(image, image_size=image_size, crop_ratio=crop_ratio)
            return image, label

        dataset = records.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    if source.payload != "pixels":
        # A file that passed the cheap check but fails to decode is dropped, not fatal.
        dataset = dataset.ignore_errors(log_warning=True)
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

        dataset = dataset.enumerate().map(mix, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _load(payload_kind, max_pixels):
    """The function turning a record's payload into uint8 pixels (H, W, 3)."""
    if payload_kind == "pixels":
        return tf.convert_to_tensor
    if payload_kind == "path":
        return lambda path: decode_rgb(tf.io.read_file(path), max_pixels)
    return lambda encoded: decode_rgb(encoded, max_pixels)


def _training_records(source, base_seed, *, seed, epochs, repeats, num_shards, shard_index, shuffle_buffer):
    """(payload, label) in training order: shuffled per epoch, repeated, sharded."""
    if source.table is not None:
        payloads, labels = (tf.constant(array) for array in source.table)
        order_seed = tf.random.experimental.stateless_fold_in(base_seed, _ORDER)
        epoch_numbers = tf.data.Dataset.range(epochs) if epochs else tf.data.Dataset.counter()
        indices = epoch_numbers.flat_map(
            lambda epoch: tf.data.Dataset.from_tensor_slices(
                epoch_indices(
                    source.num_examples,
                    seed=tf.random.experimental.stateless_fold_in(order_seed, epoch),
                    repeats=repeats, num_shards=num_shards, shard_index=shard_index,
                )
            )
        )
        return indices.map(lambda index: (tf.gather(payloads, index), tf.gather(labels, index)))
    # A stream has no random access: a seeded shuffle buffer per epoch, then each
    # image `repeats` times in a row, sharded so its copies go to different shards.
    records = source.stream(seed).shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if repeats > 1:
        records = records.flat_map(
            lambda payload, label: tf.data.Dataset.from_tensors((payload, label)).repeat(repeats)
        )
    records = records.shard(num_shards, shard_index).take(source.num_examples // num_shards)
    return records.repeat(epochs)


def _eval_records(source, *, num_shards, shard_index):
    if source.table is not None:
        records = tf.data.Dataset.from_tensor_slices(source.table)
    else:
        records = source.stream(None)
    return records.shard(num_shards, shard_index)


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
