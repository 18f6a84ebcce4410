"""Transforms against references: mixing targets, CutMix areas, eval resize, crops, resize, erasing."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_deit.data import make_dataset
from keras_deit.data.eval_transform import resize_and_center_crop
from keras_deit.data.mixup_cutmix import mix_batch, smooth_one_hot
from keras_deit.data.random_erasing import random_erasing
from keras_deit.data.slice_update import paste_box
from keras_deit.data.random_resized_crop import sample_crop_window
from keras_deit.data.repeated_augmentation import epoch_indices

NUM_CLASSES = 5


def mixed_batches(count, **kwargs):
    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 255, (6, 16, 20, 3)), "float32")
    labels = tf.constant([0, 1, 2, 3, 4, 1])
    for seed in range(count):
        mixed, targets = mix_batch(images, labels, tf.constant([seed, 0]), num_classes=NUM_CLASSES, **kwargs)
        yield images.numpy(), labels.numpy(), mixed.numpy(), targets.numpy()


def recover_lambda(labels, targets, smoothing=0.1):
    """lam from the first target: lam * y_0 + (1 - lam) * y_last, smoothed (timm)."""
    smooth = smooth_one_hot(labels, num_classes=NUM_CLASSES, smoothing=smoothing).numpy()
    first, last = smooth[0], smooth[-1]
    return float(np.dot(targets[0] - last, first - last) / np.dot(first - last, first - last))


def test_targets_are_the_mixing_weights_of_each_pair():
    cutmix_count = 0
    for images, labels, mixed, targets in mixed_batches(12):
        lam = recover_lambda(labels, targets)
        smooth = smooth_one_hot(labels, num_classes=NUM_CLASSES, smoothing=0.1).numpy()
        np.testing.assert_allclose(targets, lam * smooth + (1 - lam) * smooth[::-1], atol=1e-6)
        np.testing.assert_allclose(targets.sum(axis=1), 1.0, atol=1e-6)
        reversed_images = images[::-1]
        pasted = np.all(mixed == reversed_images, axis=-1) & np.any(images != reversed_images, axis=-1)
        if pasted[0].any() or np.allclose(mixed, images):  # CutMix (or an empty box)
            cutmix_count += 1
            # Corrected lambda: 1 - pasted pixels / all pixels, the same box for every image.
            np.testing.assert_allclose(lam, 1 - pasted[0].mean(), atol=1e-6)
            assert all((pasted[i] == pasted[0]).all() for i in range(len(images)) if i != 2 and i != 3)
        else:  # Mixup
            np.testing.assert_allclose(mixed, lam * images + (1 - lam) * reversed_images, atol=1e-3)
    assert 0 < cutmix_count < 12


def test_cutmix_lambda_is_corrected_for_clipped_boxes():
    """With CutMix only, the box's clipped area sets lam; unclipped it would be Beta-sampled."""
    corrected = 0
    for images, labels, mixed, targets in mixed_batches(20, mixup_alpha=0.0):
        lam = recover_lambda(labels, targets)
        pasted = np.all(mixed[0] == images[-1], axis=-1)
        np.testing.assert_allclose(lam, 1 - pasted.mean(), atol=1e-6)
        rows, columns = np.nonzero(pasted)
        if rows.size:
            box = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
            assert box == rows.size  # one rectangle
            corrected += rows.min() == 0 or columns.min() == 0 or rows.max() == 15 or columns.max() == 19
    assert corrected > 0  # some boxes hit the border and were clipped


def test_label_smoothing_only():
    for _, labels, mixed, targets in mixed_batches(1, mixup_alpha=0.0, cutmix_alpha=0.0):
        expected = np.full((6, NUM_CLASSES), 0.02)
        expected[np.arange(6), labels] = 0.92
        np.testing.assert_allclose(targets, expected, atol=1e-6)


@pytest.mark.parametrize("shape", [(427, 640), (640, 427), (97, 131), (300, 300)])
def test_eval_transform_matches_torchvision_on_pillow(shape):
    """torchvision Resize(int(S / 0.875), bicubic) + CenterCrop(S) on Pillow, S = 64.

    TF's antialiased bicubic is not Pillow's resampler (fixed-point weights), so values
    differ by rounding: measured mean |diff| under 0.6 levels and max under 16 levels
    on these noisy images.
    """
    import torchvision.transforms as transforms

    rng = np.random.default_rng(0)
    coarse = rng.integers(0, 256, (shape[0] // 8, shape[1] // 8, 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize(shape[::-1], Image.BILINEAR))
    reference = transforms.Compose(
        [transforms.Resize(int(64 / 0.875), interpolation=transforms.InterpolationMode.BICUBIC),
         transforms.CenterCrop(64)]
    )(Image.fromarray(image))
    expected = np.asarray(reference, "float32")
    actual = resize_and_center_crop(tf.constant(image), image_size=64).numpy()
    assert actual.shape == expected.shape == (64, 64, 3)
    difference = np.abs(actual - expected)
    assert difference.mean() < 0.6 and difference.max() < 16


def test_crop_window_follows_torchvision():
    areas, ratios = [], []
    for seed in range(200):
        top, left, height, width = sample_crop_window(tf.constant([100, 150]), tf.constant([seed, 9])).numpy()
        assert 0 <= top <= 100 - height and 0 <= left <= 150 - width
        areas.append(height * width / 15000)
        ratios.append(width / height)
    assert 0.07 <= min(areas) and max(areas) <= 1.0
    assert np.log(3 / 4) - 0.05 <= np.log(ratios).min() and np.log(ratios).max() <= np.log(4 / 3) + 0.05
    # Same distribution as torchvision's sampler (first fitting draw of 10): compare
    # mean area with 2000 torchvision draws (std of our 200-draw mean: about 0.02).
    import torch
    from torchvision.transforms import RandomResizedCrop

    torch.manual_seed(0)
    reference = [
        np.prod(RandomResizedCrop.get_params(torch.zeros(3, 100, 150), [0.08, 1.0], [3 / 4, 4 / 3])[2:]) / 15000
        for _ in range(2000)
    ]
    assert abs(np.mean(areas) - np.mean(reference)) < 0.06
    # An image too thin for every draw falls back to a centre crop of clamped ratio.
    top, left, height, width = sample_crop_window(tf.constant([10, 200]), tf.constant([0, 0]), scale=(0.9, 1.0)).numpy()
    assert (height, width) == (10, 13) and (top, left) == (0, 93)


@pytest.mark.parametrize("top, left, height, width", [
    (0, 0, 5, 7), (3, 2, 4, 4), (6, 3, 4, 6), (0, 8, 10, 1), (9, 0, 1, 9), (0, 0, 10, 9),
])
def test_paste_box_writes_the_patch_as_numpy_slice_assignment(top, left, height, width):
    rng = np.random.default_rng(top * 10 + left)
    image = rng.normal(size=(10, 9, 3)).astype("float32")
    patch = rng.normal(size=(height, width, 3)).astype("float32")
    expected = image.copy()
    expected[top:top + height, left:left + width] = patch
    np.testing.assert_array_equal(paste_box(tf.constant(image), top, left, tf.constant(patch)).numpy(), expected)


def test_random_erasing_fills_one_box_with_normalized_noise():
    image = tf.fill((64, 64, 3), 7.0)
    boxes = 0
    for seed in range(40):
        erased = random_erasing(image, tf.constant([seed, 3]), probability=0.5).numpy()
        changed = np.any(erased != 7.0, axis=-1)
        if changed.any():
            boxes += 1
            rows, columns = np.nonzero(changed)
            area = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
            assert 0.02 * 4096 * 0.8 <= area <= 4096 / 3 * 1.1
    assert 10 <= boxes <= 30  # p = 0.5 over 40 images
    noise = random_erasing(tf.zeros((200, 200, 3)), tf.constant([1, 1]), probability=1.0, min_area=0.3).numpy()
    values = noise[np.any(noise != 0, axis=-1)]
    # Pixel-space noise: mean 255 * mean, std 255 * std per channel.
    np.testing.assert_allclose(values.mean(0), 255 * np.array([0.485, 0.456, 0.406]), atol=2.0)
    np.testing.assert_allclose(values.std(0), 255 * np.array([0.229, 0.224, 0.225]), rtol=0.05)


def test_repeated_augmentation_order():
    indices = epoch_indices(12, seed=tf.constant([0, 0]), repeats=3).numpy()
    assert len(indices) == 12
    assert all(indices[3 * k] == indices[3 * k + 1] == indices[3 * k + 2] for k in range(4))
    shards = [epoch_indices(12, seed=tf.constant([0, 0]), repeats=3, num_shards=3, shard_index=k).numpy() for k in range(3)]
    assert all(len(shard) == 4 for shard in shards)
    # Each image's 3 copies go to the 3 shards, one each.
    np.testing.assert_array_equal(shards[0], shards[1])
    np.testing.assert_array_equal(shards[0], shards[2])
    plain = epoch_indices(12, seed=tf.constant([0, 0]), repeats=1).numpy()
    assert sorted(plain.tolist()) == list(range(12))


def test_shards_draw_their_own_augmentations_of_the_repeated_copies():
    # Repeated augmentation puts an image's copies at the same place of every shard: with
    # one augmentation seed for all shards the copies would be the same picture.
    def first_batch(shard_index):
        dataset = make_dataset(
            "digits", training=True, image_size=24, batch_size=8, seed=0, repeats=2, num_shards=2,
            shard_index=shard_index, mixup_alpha=0.0, cutmix_alpha=0.0, label_smoothing=0.0,
        )
        images, labels = next(iter(dataset))
        return images.numpy(), labels.numpy()

    (images_0, labels_0), (images_1, labels_1) = first_batch(0), first_batch(1)
    np.testing.assert_array_equal(labels_0, labels_1)  # the same images, in the same order
    differing = [not np.array_equal(a, b) for a, b in zip(images_0, images_1)]
    assert all(differing), differing


def test_same_seed_same_batches_and_epochs_differ():
    def first_batches(seed):
        dataset = make_dataset("digits", training=True, image_size=24, batch_size=8, seed=seed, epochs=2)
        return [images.numpy() for images, _ in dataset.take(2)]

    first, again, other = first_batches(0), first_batches(0), first_batches(1)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    # Batches run across the epoch boundary: 2 x 1437 images in 8s, the remainder dropped.
    two_epochs = make_dataset("digits", training=True, image_size=24, batch_size=8, seed=0, epochs=2)
    assert sum(1 for _ in two_epochs) == 2 * 1437 // 8


def test_switches_off_give_integer_labels():
    dataset = make_dataset(
        "digits", training=True, image_size=24, batch_size=8, seed=0, rand_augment=False,
        erasing_probability=0.0, mixup_alpha=0.0, cutmix_alpha=0.0, label_smoothing=0.0, color_jitter=0.0,
    )
    images, labels = next(iter(dataset))
    assert labels.dtype == tf.int32 and labels.shape == (8,)
    values = images.numpy()
    np.testing.assert_array_equal(values, np.round(values))
    assert values.min() >= 0 and values.max() <= 255


def test_three_augment_option():
    dataset = make_dataset("digits", training=True, image_size=24, batch_size=8, seed=0, three_augment=True)
    images, labels = next(iter(dataset))
    assert images.shape == (8, 24, 24, 3) and labels.shape == (8, 10)


@pytest.mark.parametrize("shape", [(300, 401, 3), (427, 640, 3), (150, 97, 3), (224, 224, 3), (31, 700, 3), (64, 48, 1)])
def test_resize_bicubic_matches_tensorflow_and_pillow(shape):
    """The two-pass resize (padded XLA transposes) against TensorFlow's one-call resize,
    value for value, and against Pillow's bicubic (what timm's RandomResizedCrop calls).

    Pillow rounds fixed-point weights and its intermediate pass to uint8: measured on
    these smooth images, mean |diff| 0.15-0.2 levels and max 1 level.
    """
    from keras_deit.data.random_resized_crop import resize_bicubic

    rng = np.random.default_rng(shape[1])
    coarse = rng.integers(0, 256, (max(shape[0] // 8, 2), max(shape[1] // 8, 2), shape[2]), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse.squeeze(-1) if shape[2] == 1 else coarse).resize(shape[1::-1], Image.BILINEAR))
    image = image.reshape(shape)
    actual = resize_bicubic(tf.constant(image), (224, 160)).numpy()
    expected = tf.round(tf.clip_by_value(tf.image.resize(image, (224, 160), "bicubic", antialias=True), 0, 255))
    np.testing.assert_array_equal(actual, expected.numpy())
    pillow = np.asarray(Image.fromarray(image.squeeze(-1) if shape[2] == 1 else image).resize((160, 224), Image.BICUBIC))
    difference = np.abs(actual - pillow.reshape(224, 160, shape[2]).astype("float32"))
    assert difference.mean() < 0.25 and difference.max() <= 1
