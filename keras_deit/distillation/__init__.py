"""DeiT's distillation: the official loss (`losses`) and `DistillationModel` (`model`) that trains with it.

Example:
```python
from keras_deit.distillation.losses import distillation_loss
from keras_deit.distillation.model import DistillationModel
```
"""
