"""Deployable exports of a trained DeiT: a TF Serving SavedModel, ONNX and LiteRT files.

Each export is a new version folder `BASE/<version>/` (TF Serving's layout, also
Triton's), written atomically by `keras_deit.serving_versions.write_version`. The
exported network is always the float32 student, whatever policy it was trained with.
"""

import os

import keras
import tensorflow as tf

from keras_deit.serving_preprocessing import DEFAULT_CROP_RATIO, decode_and_transform, transform_images
from keras_deit.serving_versions import write_version


def inference_model(model):
    """The network to deploy: the student of a distillation model, in float32.

    A mixed-precision model is rebuilt from its config with `dtype="float32"` and its
    variables copied by path, so serving runs, and clients see, float32 only.

    Args:
        model: a `DeiT`, or an object with a `.student` `DeiT` (a distillation model:
            its teacher is left out).

    Example:
    ```python
    import keras_deit
    student = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                              num_heads=2, num_classes=5, dtype="mixed_bfloat16")
    inference_model(student).dtype_policy.name  # "float32"
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"Exports need Keras' TensorFlow backend, this process uses {keras.backend.backend()!r}.")
    model = getattr(model, "student", model)
    if not isinstance(model, keras.Model) or not hasattr(model, "heads"):
        raise ValueError(f"Expected a keras_deit DeiT (or a model with a .student DeiT), got {type(model).__name__}.")
    if not model.include_top:
        raise ValueError("Only a classifier can be exported: this DeiT has include_top=False.")
    if model.dtype_policy.name == "float32":
        return model
    float32_model = model.__class__.from_config({**model.get_config(), "dtype": "float32"})
    sources = {variable.path: variable for variable in model.weights}
    targets = {variable.path: variable for variable in float32_model.weights}
    if sources.keys() != targets.keys():
        raise ValueError(f"The float32 rebuild of {model.name} does not have the same variables.")
    for path, target in targets.items():
        target.assign(keras.ops.cast(sources[path], target.dtype))
    return float32_model


def _class_names(class_names, num_classes):
    if class_names is None:
        return None
    class_names = [str(name) for name in class_names]
    if len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names given for a model of {num_classes} classes.")
    return class_names


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


def serving_archive(model, *, class_names=None, top_k=5, crop_ratio=DEFAULT_CROP_RATIO):
    """A `keras.export.ExportArchive` holding `model` and the two serving signatures.

    `serving_default(image_bytes)`: tf.string (batch,) of encoded JPEG / PNG / GIF /
    BMP / WebP; the name ends in `_bytes` so TF Serving's REST API accepts
    `{"b64": ...}` values. `predict_images(images)`: float32 (batch, height, width, 3)
    RGB in [0, 255], any size (uint8 pixels cast to float32 unchanged). Both apply the
    evaluation transform (see `keras_deit.serving_preprocessing`) and return
    `probabilities`, `top_k_classes` (int32), `top_k_scores`, `top_k_labels` (with
    class names) and, for a distilled model, `cls_logits` and `dist_logits`.

    Args:
        model: a float32 `DeiT` with its classifier (see `inference_model`).
        class_names: sequence of `num_classes` str, or None.
        top_k: int. Classes listed per image (at most `num_classes`).
        crop_ratio: float in (0, 1]. Center crop over resized side, 0.875 for DeiT.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=2)
    archive = serving_archive(model, class_names=["cat", "dog"])
    archive.write_out("/tmp/deit_archive", verbose=False)
    ```
    """
    class_names = _class_names(class_names, model.num_classes)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive int, got {top_k!r}.")
    if not 0.0 < crop_ratio <= 1.0:
        raise ValueError(f"crop_ratio must be in (0, 1], got {crop_ratio!r}.")
    image_size = tuple(model.image_size)

    def serve_image_bytes(image_bytes):
        images = decode_and_transform(image_bytes, image_size, crop_ratio)
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


def export_saved_model(model, directory, *, version=None, class_names=None, top_k=5, crop_ratio=DEFAULT_CROP_RATIO):
    """Exports a SavedModel for TensorFlow Serving as `directory/<version>/`.

    Clients send encoded photos (`serving_default`) or raw pixels (`predict_images`);
    decoding, resizing and cropping happen in the SavedModel (see `serving_archive`).

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder, e.g. "saved_models/deit_small".
        version: positive int, or None for the next free version. Never overwritten.
        class_names: sequence of `num_classes` str, or None (no `top_k_labels`).
        top_k: int. Classes listed per image.
        crop_ratio: float in (0, 1]. Center crop over resized side (0.875, DeiT's).

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
    archive = serving_archive(inference_model(model), class_names=class_names, top_k=top_k, crop_ratio=crop_ratio)
    return write_version(directory, lambda folder: archive.write_out(folder, verbose=False), version)


def _export_file(model, directory, filename, export_format, version, class_names):
    model = inference_model(model)
    class_names = _class_names(class_names, model.num_classes)
    spec = keras.InputSpec(shape=(None, *model.image_size, 3), dtype="float32", name="images")

    def write(folder):
        model.export(os.path.join(folder, filename), format=export_format, input_signature=[spec], verbose=False)
        if class_names is not None:
            with open(os.path.join(folder, "labels.txt"), "w", encoding="utf-8") as labels:
                labels.write("".join(f"{name}\n" for name in class_names))

    return write_version(directory, write, version)


def export_onnx(model, directory, *, version=None, class_names=None):
    """Exports `directory/<version>/model.onnx` (Triton's layout), through Keras and tf2onnx.

    The file holds the network only: input `images`, float32 (batch, image_size..., 3)
    RGB in [0, 255], already resized and cropped as in evaluation
    (`keras_deit.data.eval_transform`); output the float32 logits. Class names, if
    given, go to `labels.txt` beside it.

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder.
        version: positive int, or None for the next free version.
        class_names: sequence of `num_classes` str, or None.

    Example:
    ```python
    import numpy as np, onnxruntime, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    path = keras_deit.export_onnx(model, "saved_models/tiny_onnx")
    session = onnxruntime.InferenceSession(path + "/model.onnx")
    session.run(None, {"images": np.zeros((1, 32, 32, 3), "float32")})[0].shape  # (1, 5)
    ```
    """
    import keras_deit.tf2onnx_erfc  # noqa: F401  registers the Erfc handler exact GELU needs

    return _export_file(model, directory, "model.onnx", "onnx", version, class_names)


def export_litert(model, directory, *, version=None, class_names=None):
    """Exports `directory/<version>/model.tflite` for LiteRT (TensorFlow Lite).

    Same network, input and output as `export_onnx`; the input's batch size is dynamic
    (resize the interpreter's input before `allocate_tensors`).

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder.
        version: positive int, or None for the next free version.
        class_names: sequence of `num_classes` str, or None.

    Example:
    ```python
    import tensorflow as tf, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    path = keras_deit.export_litert(model, "saved_models/tiny_litert")
    interpreter = tf.lite.Interpreter(model_path=path + "/model.tflite")
    ```
    """
    return _export_file(model, directory, "model.tflite", "litert", version, class_names)


EXPORTERS = {"savedmodel": export_saved_model, "onnx": export_onnx, "litert": export_litert}
