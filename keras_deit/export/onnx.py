"""ONNX export through Keras and tf2onnx: `BASE/<version>/model.onnx` (Triton's layout)."""

import os

from keras_deit.export.network_file import export_network_file, image_input_spec


def write_onnx(model, path):
    """Writes the float32 `model`'s network to the file `path` (input `images`, logits out).

    Args:
        model: a float32 `DeiT` with its classifier (see `inference_model`).
        path: str. The .onnx file to write.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    write_onnx(model, "/tmp/tiny.onnx")
    ```
    """
    import keras_deit.export.onnx_erfc  # noqa: F401  registers the Erfc handler exact GELU needs

    model.export(path, format="onnx", input_signature=[image_input_spec(model)], verbose=False)


def export_onnx(model, directory, *, version=None, class_names=None):
    """Exports `directory/<version>/model.onnx` (Triton's layout), through Keras and tf2onnx.

    The network only (see `keras_deit.export.network_file`): input `images`, float32
    (batch, image_size..., 3) RGB in [0, 255], already resized and cropped; output the
    float32 logits. Class names, if given, go to `labels.txt` beside it.

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder.
        version: positive int, or None for the next free version.
        class_names: sequence of `num_classes` str, or None.

    Returns:
        str, the new version folder.

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
    return export_network_file(
        model, directory, write_network=lambda network, folder: write_onnx(network, os.path.join(folder, "model.onnx")),
        version=version, class_names=class_names,
    )
