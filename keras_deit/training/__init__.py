"""Training DeiT from a recipe: optimizer, schedule, EMA, strategy, checkpoints, evaluation.

Example:
```python
from keras_deit.training import apply_overrides, load_recipe, train
config = apply_overrides(load_recipe("digits"), ["training.epochs=2"])
train(config, "runs/digits")
```
"""

from keras_deit.training.config import apply_overrides, load_recipe, recipe_names
from keras_deit.training.evaluation import evaluate, head_metrics
from keras_deit.training.optimizer import AdamW, build_optimizer, decays
from keras_deit.training.schedule import WarmupCosineSchedule
from keras_deit.training.train import train

__all__ = [
    "AdamW",
    "WarmupCosineSchedule",
    "apply_overrides",
    "build_optimizer",
    "decays",
    "evaluate",
    "head_metrics",
    "load_recipe",
    "recipe_names",
    "train",
]
