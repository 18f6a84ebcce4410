"""scikit-learn's bundled digits as a small offline image set, and a small convnet teacher.

The demo, the distillation experiment and the tests train on it: it ships with
scikit-learn, so nothing is downloaded.
"""

import keras
import numpy as np

from keras_deit.data.digits import digits_pixels

NUM_CLASSES = 10


def digits_rgb(*, image_size=16, train_size=0.75, seed=0):
    """Digits as `(x_train, y_train, x_test, y_test)`: RGB float32 in [0, 255], int labels.

    The 8x8 images of `digits_pixels()` are upsampled by an integer factor (nearest) to
    `image_size` and split (stratified) with `train_size` (a count or a fraction) for
    training.

    Example:
    ```python
    x_train, y_train, x_test, y_test = digits_rgb(image_size=32, train_size=300)
    x_train.shape  # (300, 32, 32, 3)
    ```
    """
    from sklearn.model_selection import train_test_split

    if image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8 (the digits are 8x8), got {image_size}.")
    images, labels, _ = digits_pixels()
    scale = image_size // 8
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, train_size=train_size, stratify=labels, random_state=seed
    )
    return x_train, y_train, x_test, y_test


def random_shifts(images, rng, max_shift=2):
    """Each image translated by up to `max_shift` pixels each way, zeros (background) filled in."""
    padded = np.pad(images, ((0, 0), (max_shift,) * 2, (max_shift,) * 2, (0, 0)))
    offsets = rng.integers(0, 2 * max_shift + 1, size=(len(images), 2))
    height, width = images.shape[1:3]
    return np.stack(
        [padded[i, dy : dy + height, dx : dx + width] for i, (dy, dx) in enumerate(offsets)]
    )


def make_teacher(*, image_size=16, seed=0):
    """A small convnet from [0, 255] RGB digits to logits (20k parameters)."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((image_size, image_size, 3)),
            layers.Rescaling(1.0 / 255.0),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, padding="same", activation="relu"),
            layers.BatchNormalization(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(NUM_CLASSES),
        ],
        name="teacher",
    )


def fit_with_shifts(model, x, y, *, epochs, batch_size, seed):
    """`model.fit` one epoch at a time on freshly shifted images (the demo's augmentation)."""
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        model.fit(
            random_shifts(x, rng), y, batch_size=batch_size, initial_epoch=epoch,
            epochs=epoch + 1, verbose=0,
        )


def train_teacher(x, y, *, epochs=20, batch_size=32, seed=0):
    """The convnet teacher, trained on shifted images with the labels; returns it."""
    teacher = make_teacher(image_size=x.shape[1], seed=seed)
    teacher.compile(
        optimizer=keras.optimizers.Adam(2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    fit_with_shifts(teacher, x, y, epochs=epochs, batch_size=batch_size, seed=seed)
    return teacher


def accuracy(model, x, y):
    """Top-1 of `model(x)` (for a DeiT the mean of both heads) against labels `y`."""
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def train_student(kind, teacher, x, y, *, epochs, seed, student_config, batch_size=32, learning_rate=5e-4):
    """A DeiT trained with `kind` distillation ("none", "soft", "hard") from `teacher`.

    With "none" the student has no distillation token (plain cross-entropy); otherwise
    it has one, trained with the official alpha 0.5 and tau 1. AdamW (weight decay
    0.05) with a cosine schedule, random shifts as augmentation.

    Args:
        student_config: dict of `keras_deit.DeiT` arguments (size, patches, width, depth, heads).

    Returns:
        The trained `keras_deit.DeiT`.
    """
    from keras_deit.distillation.model import DistillationModel
    from keras_deit.models.deit import DeiT

    keras.utils.set_random_seed(seed)
    student = DeiT(distill=kind != "none", num_classes=NUM_CLASSES, seed=seed, **student_config)
    model = DistillationModel(student=student, teacher=teacher, distillation=kind)
    steps = epochs * int(np.ceil(len(x) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05))
    fit_with_shifts(model, x, y, epochs=epochs, batch_size=batch_size, seed=seed)
    return student
