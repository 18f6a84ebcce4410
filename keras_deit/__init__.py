"""keras_deit: DeiT (data-efficient image Transformers) for Keras 3 and TensorFlow.

Example:
```python
import keras_deit
model = keras_deit.DeiTSmall(distill=True)
```
"""

from keras_deit import distillation, layers, teachers, training
from keras_deit.distillation.model import DistillationModel
from keras_deit.export import export_litert, export_onnx, export_openvino, export_saved_model
from keras_deit.models import DeiT, DeiTBase, DeiTSmall, DeiTTiny
from keras_deit.weights.deit import load_deit_weights
from keras_deit.training import train
from keras_deit.teachers import (
    RegNetY002,
    RegNetY004,
    RegNetY006,
    RegNetY008,
    RegNetY016,
    RegNetY032,
    RegNetY040,
    RegNetY064,
    RegNetY080,
    RegNetY120,
    RegNetY160,
    RegNetY320,
)

__version__ = "0.1.0"

__all__ = [
    "DeiT",
    "DeiTBase",
    "DeiTSmall",
    "DeiTTiny",
    "DistillationModel",
    "RegNetY002",
    "RegNetY004",
    "RegNetY006",
    "RegNetY008",
    "RegNetY016",
    "RegNetY032",
    "RegNetY040",
    "RegNetY064",
    "RegNetY080",
    "RegNetY120",
    "RegNetY160",
    "RegNetY320",
    "distillation",
    "export_litert",
    "export_onnx",
    "export_openvino",
    "export_saved_model",
    "layers",
    "load_deit_weights",
    "teachers",
    "train",
    "training",
]
