"""scikit-learn's bundled 8x8 digits as RGB pixels: the offline "digits" source's loader,
and the same digits as NumPy train / test arrays for tests and the notebook.

Example:
```python
from keras_deit.data.digits import digits_pixels
images, labels, class_names = digits_pixels()
images.shape  # (1797, 8, 8, 3)
```
"""

import numpy as np


def digits_pixels():
    """scikit-learn's 1,797 digits as RGB: `(images, labels, class_names)`.

    images: float32 (1797, 8, 8, 3) in [0, 255], the 0..16 gray levels scaled and
    replicated to three channels; labels: int (1797,); class_names: "0" ... "9". The one
    loader of the digits, for the demo's arrays and for the data pipeline's "digits" source.

    Example:
    ```python
    images, labels, class_names = digits_pixels()
    images.shape  # (1797, 8, 8, 3)
    ```
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = digits.images.astype("float32") * (255.0 / 16.0)
    return np.repeat(images[..., None], 3, axis=-1), digits.target, tuple(str(name) for name in digits.target_names)


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

