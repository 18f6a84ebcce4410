"""scikit-learn's bundled digits as a small offline image set.

The demo, the distillation experiment and the tests train on it: it ships with
scikit-learn, so nothing is downloaded.
"""

import numpy as np

from keras_deit.data.digits import digits_pixels


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
from keras_deit.data.digits import digits_pixels

