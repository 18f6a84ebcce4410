"""OpenVINO export: `BASE/<version>/model.xml` + `model.bin` (OpenVINO Model Server's layout).

The network is converted by `openvino.convert_model` from the ONNX file
`keras_deit.export.onnx.write_onnx` writes (the route whose outputs match Keras to
float32 rounding; the ONNX file is a temporary, not part of the version).
"""

import os
import tempfile

from keras_deit.export.network_file import export_network_file
from keras_deit.export.onnx import write_onnx


def _import_openvino():
    try:
        import openvino
    except ImportError as error:
        raise ImportError(
            "The OpenVINO export needs the openvino package: pip install 'keras_deit[openvino]'."
        ) from error
    return openvino


def _write_openvino(model, folder):
    openvino = _import_openvino()
    with tempfile.TemporaryDirectory() as scratch:
        onnx_path = os.path.join(scratch, "model.onnx")
        write_onnx(model, onnx_path)
        converted = openvino.convert_model(onnx_path)
    # compress_to_fp16 (on by default) would halve the weights' precision.
    openvino.save_model(converted, os.path.join(folder, "model.xml"), compress_to_fp16=False)


def export_openvino(model, directory, *, version=None, class_names=None):
    """Exports `directory/<version>/model.xml` and `model.bin` for OpenVINO, weights in float32.

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
    import numpy as np, openvino, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    path = keras_deit.export_openvino(model, "saved_models/tiny_openvino")
    compiled = openvino.Core().compile_model(path + "/model.xml", "CPU")
    compiled(np.zeros((1, 32, 32, 3), "float32"))[0].shape  # (1, 5)
    ```
    """
    _import_openvino()  # a missing package fails before any work
    return export_network_file(
        model, directory, write_network=_write_openvino, version=version, class_names=class_names
    )
