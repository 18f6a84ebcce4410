"""scikit-learn's bundled 8x8 digits as RGB pixels: the offline "digits" source's loader.

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
