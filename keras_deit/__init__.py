"""keras_deit: DeiT (data-efficient image Transformers) for Keras 3 and TensorFlow.

Names load on first use (PEP 562): `import keras_deit` imports neither Keras nor
TensorFlow, so the `keras-deit` command answers at once and the model code runs on
JAX without TensorFlow. Loading a `.keras` file needs keras_deit's classes
registered: they are when Keras was imported before keras_deit, or once any model name
is used; otherwise `import keras_deit.models` first.

Example:
```python
import keras_deit
model = keras_deit.DeiTSmall(distill=True)
```
"""

import importlib
import sys

__version__ = "0.1.0"

# Public name -> the module that defines it (a sub-package for the sub-package names).
_LAZY_NAMES = {
    "DeiT": "keras_deit.models",
    "DeiTBase": "keras_deit.models",
    "DeiTSmall": "keras_deit.models",
    "DeiTTiny": "keras_deit.models",
    "load_deit_weights": "keras_deit.weights.deit",
    "DistillationModel": "keras_deit.distillation.model",
    "export_litert": "keras_deit.export",
    "export_onnx": "keras_deit.export",
    "export_openvino": "keras_deit.export",
    "export_saved_model": "keras_deit.export",
    "train": "keras_deit.training",
    **{f"RegNetY{size}": "keras_deit.teachers" for size in (
        "002", "004", "006", "008", "016", "032", "040", "064", "080", "120", "160", "320"
    )},
}
_SUBPACKAGES = ("distillation", "layers", "teachers", "training")

__all__ = sorted([*_LAZY_NAMES, *_SUBPACKAGES], key=lambda name: (name[0].islower(), name))


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_deit.{name}")
    if name in _LAZY_NAMES:
        value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
        globals()[name] = value  # later look-ups skip __getattr__
        return value
    raise AttributeError(f"module 'keras_deit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:
    # Keras is loaded already, so registering the model classes costs nothing, and a
    # `.keras` file then loads after a bare `import keras_deit`.
    importlib.import_module("keras_deit.models")
    importlib.import_module("keras_deit.teachers")
