"""timm's Mixup / CutMix in mode "batch", with label smoothing: one draw per batch.

With probability `probability` the batch is mixed: CutMix (alpha 1.0) with probability
`switch_probability`, else Mixup (alpha 0.8), each image with the reversed batch. The
CutMix lambda is corrected to the pasted area after clipping the box to the image.
Targets are timm's `mixup_target`: lam * smooth(y) + (1 - lam) * smooth(reversed y),
with smooth(y) = one-hot with 1 - smoothing + smoothing / C on, smoothing / C off.

Example:
```python
import tensorflow as tf
from keras_deit.data.mixup_cutmix import mix_batch
images = tf.random.uniform((8, 32, 32, 3), 0, 255)
labels = tf.range(8) % 3
images, targets = mix_batch(images, labels, seed=tf.constant([0, 1]), num_classes=3)
```
"""

import tensorflow as tf


def smooth_one_hot(labels, *, num_classes, smoothing):
    """Label-smoothed one-hot targets (B, num_classes) float32, timm's `one_hot`.

    Args:
        labels: int tensor (B,).
        num_classes: int.
        smoothing: float. Mass spread uniformly over all classes.
    """
    off = smoothing / num_classes
    return tf.one_hot(labels, num_classes, on_value=1.0 - smoothing + off, off_value=off)


def _sample_beta(alpha, seed):
    first_seed, second_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    first = tf.random.stateless_gamma((), first_seed, alpha)
    second = tf.random.stateless_gamma((), second_seed, alpha)
    return first / (first + second)


def cutmix_box(height, width, lam, seed):
    """timm's rand_bbox: (top, bottom, left, right) of the box pasted for a given lam.

    The box of side int(side * sqrt(1 - lam)) is centred uniformly in the image and
    clipped to it, so its area can be smaller than 1 - lam of the image.

    Args:
        height: int32 scalar. Image height.
        width: int32 scalar. Image width.
        lam: float32 scalar. Mixing weight of the original image.
        seed: int tensor (2,). Stateless seed.
    """
    ratio = tf.sqrt(1.0 - lam)
    half_height = tf.cast(tf.cast(height, "float32") * ratio, "int32") // 2
    half_width = tf.cast(tf.cast(width, "float32") * ratio, "int32") // 2
    y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    center_y = tf.random.stateless_uniform((), y_seed, 0, height, dtype="int32")
    center_x = tf.random.stateless_uniform((), x_seed, 0, width, dtype="int32")
    top = tf.clip_by_value(center_y - half_height, 0, height)
    bottom = tf.clip_by_value(center_y + half_height, 0, height)
    left = tf.clip_by_value(center_x - half_width, 0, width)
    right = tf.clip_by_value(center_x + half_width, 0, width)
    return top, bottom, left, right


def mix_batch(
    images,
    labels,
    seed,
    *,
    num_classes,
    mixup_alpha=0.8,
    cutmix_alpha=1.0,
    probability=1.0,
    switch_probability=0.5,
    label_smoothing=0.1,
):
    """Mixes a batch with its reverse; returns (images, soft targets (B, num_classes)).

    Args:
        images: float32 tensor (B, H, W, C).
        labels: int tensor (B,).
        seed: int tensor (2,). Stateless seed of this batch.
        num_classes: int.
        mixup_alpha: float. Beta(alpha, alpha) of Mixup; 0 turns Mixup off.
        cutmix_alpha: float. Beta(alpha, alpha) of CutMix; 0 turns CutMix off.
        probability: float. Chance that a batch is mixed at all.
        switch_probability: float. Chance of CutMix when both are on.
        label_smoothing: float. timm's smoothing of both targets.
    """
    apply_seed, switch_seed, mixup_seed, cutmix_seed, box_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, 5)
    )
    if mixup_alpha > 0 and cutmix_alpha > 0:
        use_cutmix = tf.random.stateless_uniform((), switch_seed) < switch_probability
    else:
        use_cutmix = tf.constant(cutmix_alpha > 0)
    mix = tf.random.stateless_uniform((), apply_seed) < probability
    mixup_lam = _sample_beta(mixup_alpha, mixup_seed) if mixup_alpha > 0 else tf.constant(1.0)
    cutmix_lam = _sample_beta(cutmix_alpha, cutmix_seed) if cutmix_alpha > 0 else tf.constant(1.0)
    shape = tf.shape(images)
    top, bottom, left, right = cutmix_box(shape[1], shape[2], cutmix_lam, box_seed)
    pasted_area = tf.cast((bottom - top) * (right - left), "float32")
    corrected_lam = 1.0 - pasted_area / tf.cast(shape[1] * shape[2], "float32")
    lam = tf.where(use_cutmix, corrected_lam, mixup_lam)
    lam = tf.where(mix, lam, 1.0)

    # Only the chosen mix is computed: the batch is the largest tensor of the pipeline.
    def cutmix():
        return _cutmix(images, tf.stack([top, bottom, left, right]))

    def mixup():
        return _mixup(images, lam)

    images = tf.cond(mix, lambda: tf.cond(use_cutmix, cutmix, mixup), lambda: tf.identity(images))
    targets = smooth_one_hot(labels, num_classes=num_classes, smoothing=label_smoothing)
    targets = lam * targets + (1.0 - lam) * tf.reverse(targets, axis=[0])
    return images, targets


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _mixup(images, lam):
    # XLA: one pass over the batch instead of three full-size temporaries.
    return lam * images + (1.0 - lam) * tf.reverse(images, axis=[0])


@tf.function(jit_compile=True, autograph=False, reduce_retracing=True)
def _cutmix(images, box):
    # XLA: one select pass over the batch, 4x faster than a strided-slice update that
    # copies the batch and then writes the reversed patch into it.
    top, bottom, left, right = tf.unstack(box)
    shape = tf.shape(images)
    rows = tf.range(shape[1])[:, None]
    columns = tf.range(shape[2])[None, :]
    inside = (rows >= top) & (rows < bottom) & (columns >= left) & (columns < right)
    return tf.where(inside[None, :, :, None], tf.reverse(images, axis=[0]), images)
