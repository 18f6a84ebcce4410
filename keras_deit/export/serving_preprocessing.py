"""Serving inputs to model inputs with the evaluation pipeline's own decode and transform.

Signatures that take whole photos apply `keras_deit.data.decoding.decode_rgb` and
`keras_deit.data.eval_transform.resize_and_center_crop`, the functions the evaluation
data set maps, so a served image reaches the model as the same pixels it was evaluated
on (JPEG decoded with the accurate DCT as Pillow does, shorter side resized bicubically
to image_size / crop_ratio, center crop). Pixels stay float32 RGB in [0, 255]: the
model normalizes inside. A request's cost follows the output size, not the claimed
input size: the image's header is read and capped before decoding, and only the
region the crop keeps is resized.
"""

import tensorflow as tf

from keras_deit.data.decoding import MAX_PIXELS, decode_rgb
from keras_deit.data.eval_transform import resize_and_center_crop

DEFAULT_CROP_RATIO = 0.875  # 224 / 256, the official DeiT evaluation


def _square_side(image_size):
    height, width = image_size
    if height != width:
        raise ValueError(
            f"The evaluation transform crops squares; this model takes {height}x{width} images."
        )
    return height


def decode_and_transform(image_bytes, image_size, crop_ratio=DEFAULT_CROP_RATIO, *, max_pixels=MAX_PIXELS):
    """Encoded images to the model's input, float32 (batch, side, side, 3) in [0, 255].

    Each image is decoded (JPEG, PNG, GIF, BMP, WebP; grayscale and alpha become RGB, an
    animation gives its first frame) and transformed on its own, since sizes differ.
    Bytes that are not an image raise InvalidArgumentError "Unknown image file format.
    One of JPEG, PNG, GIF, BMP, WebP required."; an image of more than `max_pixels`
    pixels raises InvalidArgumentError "... over the decoded-pixel cap max_pixels=...".

    Args:
        image_bytes: tf.string tensor (batch,) of encoded images.
        image_size: (int, int). The model's input height and width (a square).
        crop_ratio: float in (0, 1]. Crop side over resized shorter side.
        max_pixels: int. Largest height * width decoded, read from each image's header.

    Example:
    ```python
    import tensorflow as tf
    encoded = tf.io.encode_jpeg(tf.zeros((427, 640, 3), tf.uint8))
    decode_and_transform(tf.stack([encoded, encoded]), (224, 224)).shape  # (2, 224, 224, 3)
    ```
    """
    side = _square_side(image_size)
    return tf.map_fn(
        lambda encoded: resize_and_center_crop(
            decode_rgb(encoded, max_pixels), image_size=side, crop_ratio=crop_ratio
        ),
        image_bytes,
        fn_output_signature=tf.TensorSpec([side, side, 3], tf.float32),
    )


def transform_images(images, image_size, crop_ratio=DEFAULT_CROP_RATIO):
    """A batch of same-size RGB images in [0, 255], any size, to the model's input.

    Args:
        images: real tensor (batch, height, width, 3).
        image_size: (int, int). The model's input height and width (a square).
        crop_ratio: float in (0, 1]. Crop side over resized shorter side.

    Example:
    ```python
    import tensorflow as tf
    transform_images(tf.zeros((2, 427, 640, 3)), (224, 224)).shape  # (2, 224, 224, 3)
    ```
    """
    side = _square_side(image_size)
    return tf.map_fn(
        lambda image: resize_and_center_crop(image, image_size=side, crop_ratio=crop_ratio),
        images,
        fn_output_signature=tf.TensorSpec([side, side, 3], tf.float32),
    )
