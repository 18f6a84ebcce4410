"""Training DeiT from a recipe: typed config, data, models, optimizer, callbacks, evaluation.

Example:
```python
from keras_deit.training import apply_overrides, load_recipe, train
config = apply_overrides(load_recipe("digits"), ["training.epochs=2"])
train(config, "runs/digits")
```
"""

from keras_deit.training.config import (
    DataConfig,
    DistillationConfig,
    ModelConfig,
    RunConfig,
    TeacherConfig,
    TrainingConfig,
    from_dict,
    to_dict,
    validate,
)
from keras_deit.training.evaluation import evaluate, head_metrics
from keras_deit.training.optimizer import AdamW, build_optimizer, decays
from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe, recipe_names
from keras_deit.training.schedule import WarmupCosineSchedule
from keras_deit.training.train import train

__all__ = [
    "AdamW",
    "DataConfig",
    "DistillationConfig",
    "ModelConfig",
    "RunConfig",
    "TeacherConfig",
    "TrainingConfig",
    "WarmupCosineSchedule",
    "apply_overrides",
    "build_optimizer",
    "decays",
    "evaluate",
    "from_dict",
    "head_metrics",
    "load_recipe",
    "recipe_names",
    "to_dict",
    "train",
    "validate",
]
