"""TF Serving SavedModel export: the network with decoding, resizing and cropping inside.

Written as `BASE/<version>/` (see `keras_deit.export.versions`) with
`assets.extra/tf_serving_warmup_requests` (see `keras_deit.export.warmup`), so TF
Serving runs each signature once before it reports the version as available.
"""

import os

import keras
import tensorflow as tf

from keras_deit.data.decoding import MAX_PIXELS
from keras_deit.export.inference_model import checked_class_names, inference_model
from keras_deit.export.serving_preprocessing import DEFAULT_CROP_RATIO, decode_and_transform, transform_images
from keras_deit.export.versions import write_version
from keras_deit.export.warmup import import_prediction_log, write_warmup_requests


def _predictions(model, images, class_names, top_k):
    """The signatures' outputs for float32 (batch, image_size..., 3) pixels in [0, 255]."""
    outputs = {}
    if model.distill:
        cls_logits, dist_logits = model.heads(images, training=False)
        # model.call's average, from the heads computed once.
        logits = (cls_logits + dist_logits) / 2.0
        outputs.update(cls_logits=cls_logits, dist_logits=dist_logits)
    else:
        logits = model(images, training=False)
    probabilities = tf.nn.softmax(logits)
    scores, classes = tf.math.top_k(probabilities, k=min(top_k, model.num_classes))
    outputs.update(probabilities=probabilities, top_k_classes=classes, top_k_scores=scores)
    if class_names is not None:
        outputs["top_k_labels"] = tf.gather(tf.constant(class_names), classes)
    return outputs


def serving_archive(
    model, *, class_names=None, top_k=5, crop_ratio=DEFAULT_CROP_RATIO, max_pixels=MAX_PIXELS
):
    """A `keras.export.ExportArchive` holding `model` and the two serving signatures.

    `serving_default(image_bytes)`: tf.string (batch,) of encoded JPEG / PNG / GIF /
    BMP / WebP; the name ends in `_bytes` so TF Serving's REST API accepts
    `{"b64": ...}` values; an image whose header claims more than `max_pixels` pixels
    fails its request before decoding. `predict_images(images)`: float32 (batch,
    height, width, 3) RGB in [0, 255], any size (uint8 pixels cast to float32
    unchanged). Both apply the evaluation transform (see
    `keras_deit.export.serving_preprocessing`) and return
    `probabilities`, `top_k_classes` (int32), `top_k_scores`, `top_k_labels` (with
    class names) and, for a distilled model, `cls_logits` and `dist_logits`.

    Args:
        model: a float32 `DeiT` with its classifier (see `inference_model`).
        class_names: sequence of `num_classes` str, or None.
        top_k: int. Classes listed per image (at most `num_classes`).
        crop_ratio: float in (0, 1]. Center crop over resized side, 0.875 for DeiT.
        max_pixels: int. Largest height * width an encoded request may decode to.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=2)
    archive = serving_archive(model, class_names=["cat", "dog"])
    archive.write_out("/tmp/deit_archive", verbose=False)
    ```
    """
    class_names = checked_class_names(class_names, model.num_classes)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
    if not 0.0 < crop_ratio <= 1.0:
        raise ValueError(f"crop_ratio must be in (0, 1], got {crop_ratio!r}.")
    image_size = tuple(model.image_size)

    def serve_image_bytes(image_bytes):
        images = decode_and_transform(image_bytes, image_size, crop_ratio, max_pixels=max_pixels)
        return _predictions(model, images, class_names, top_k)

    def predict_images(images):
        return _predictions(model, transform_images(images, image_size, crop_ratio), class_names, top_k)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serving_default",
        serve_image_bytes,
        input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")],
    )
    archive.add_endpoint(
        "predict_images",
        predict_images,
        input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")],
    )
    return archive


def export_saved_model(
    model, directory, *, version=None, class_names=None, top_k=5, crop_ratio=DEFAULT_CROP_RATIO,
    max_pixels=MAX_PIXELS,
):
    """Exports a SavedModel for TensorFlow Serving as `directory/<version>/`.

    Clients send encoded photos (`serving_default`) or raw pixels (`predict_images`);
    decoding, resizing and cropping happen in the SavedModel (see `serving_archive`).
    `assets.extra/tf_serving_warmup_requests` holds one request per signature, which
    TF Serving replays before serving the version (needs `tensorflow-serving-api`).

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder, e.g. "saved_models/deit_small".
        version: positive int, or None for the next free version. Never overwritten.
        class_names: sequence of `num_classes` str, or None (no `top_k_labels`).
        top_k: int. Classes listed per image.
        crop_ratio: float in (0, 1]. Center crop over resized side (0.875, DeiT's).
        max_pixels: int. Largest height * width an encoded request may decode to
            (Pillow's 89_478_485 by default).

    Returns:
        str, the new version folder.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, distill=True, num_classes=5)
    keras_deit.export_saved_model(model, "saved_models/tiny_demo")  # ".../tiny_demo/1"
    ```
    """
    import_prediction_log()  # a missing tensorflow-serving-api fails before any work
    model = inference_model(model)
    archive = serving_archive(
        model, class_names=class_names, top_k=top_k, crop_ratio=crop_ratio, max_pixels=max_pixels
    )

    def write(folder):
        archive.write_out(folder, verbose=False)
        write_warmup_requests(folder, model_name=os.path.basename(os.path.normpath(directory)),
                              image_size=tuple(model.image_size), crop_ratio=crop_ratio)

    return write_version(directory, write, version)
