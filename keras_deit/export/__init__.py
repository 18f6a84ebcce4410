"""Deployable exports of a trained DeiT: TF Serving SavedModel, ONNX, LiteRT, OpenVINO.

Each export is a new version folder `BASE/<version>/` (TF Serving's layout, also
Triton's and OpenVINO Model Server's), written atomically by
`keras_deit.export.versions.write_version`. The exported network is always the
float32 student, whatever policy it was trained with.

Example:
```python
import keras_deit
model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                        num_heads=2, num_classes=5)
keras_deit.export.export_saved_model(model, "saved_models/tiny")  # "saved_models/tiny/1"
```
"""

from keras_deit.export.inference_model import inference_model
from keras_deit.export.litert import export_litert
from keras_deit.export.onnx import export_onnx
from keras_deit.export.openvino import export_openvino
from keras_deit.export.saved_model import export_saved_model, serving_archive

EXPORTERS = {
    "savedmodel": export_saved_model,
    "onnx": export_onnx,
    "litert": export_litert,
    "openvino": export_openvino,
}
"""`--format` name to its export function, each `f(model, directory, **options)`."""

__all__ = [
    "EXPORTERS",
    "export_litert",
    "export_onnx",
    "export_openvino",
    "export_saved_model",
    "inference_model",
    "serving_archive",
]
