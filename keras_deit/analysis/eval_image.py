"""An image file as the model sees it in evaluation: decoded, resized and centre-cropped."""

import os

import numpy as np


def load_eval_image(path, image_size, crop_ratio=0.875):
    """An image file through the evaluation transform: float32 RGB (side, side, 3) in [0, 255].

    The pipeline's own functions (`keras_deit.data.decoding.decode_rgb`,
    `keras_deit.data.eval_transform.resize_and_center_crop`), so attention maps are
    drawn on the pixels the model is evaluated and served on.

    Args:
        path: str. A JPEG, PNG, GIF, BMP or WebP file.
        image_size: int or (int, int). The model's (square) input size.
        crop_ratio: float in (0, 1]. Centre crop over resized shorter side.

    Example:
    ```python
    image = load_eval_image("cat.jpg", (224, 224))  # (224, 224, 3)
    ```
    """
    import tensorflow as tf

    from keras_deit.data.decoding import decode_rgb
    from keras_deit.data.eval_transform import resize_and_center_crop

    height, width = (image_size, image_size) if isinstance(image_size, int) else image_size
    if height != width:
        raise ValueError(f"The evaluation transform crops squares; this model takes {height}x{width} images.")
    if not 0.0 < crop_ratio <= 1.0:
        raise ValueError(f"crop_ratio must be in (0, 1], got {crop_ratio!r}.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No image file at {path!r}.")
    image = decode_rgb(tf.io.read_file(path))
    return np.asarray(resize_and_center_crop(image, image_size=height, crop_ratio=crop_ratio))
