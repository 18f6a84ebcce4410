"""The official DeiT ImageNet-1k recipes as `RunConfig`s; `recipes/deit_*.py` return them.

The numbers are the defaults of `keras_deit.training.config` (the official `main.py`);
this file adds what differs per model: the variant's width (DeiT paper, Table 1), the
distillation setting and the 384 fine-tuning.
"""

import dataclasses

from keras_deit.models.deit_variants import VARIANTS
from keras_deit.weights.official import OFFICIAL_DEIT
from keras_deit.training.config import (
    DistillationConfig,
    ModelConfig,
    RunConfig,
    TeacherConfig,
    TrainingConfig,
)


def deit_config(variant, *, distill=False, image_size=224):
    """The official ImageNet-1k recipe for DeiT-`variant` ("tiny", "small", "base").

    Example:
    ```python
    config = deit_config("tiny", distill=True)
    config.training.epochs, config.distillation.kind  # (300, "hard")
    ```
    """
    return RunConfig(
        name=f"deit_{variant}{'_distilled' if distill else ''}_patch16_{image_size}",
        # keras_deit.models.deit_variants.VARIANTS: DeiT paper, Table 1.
        model=ModelConfig(**VARIANTS[variant], image_size=image_size, distill=distill),
        teacher=TeacherConfig(image_size=image_size) if distill else None,
        distillation=DistillationConfig(kind="hard" if distill else "none"),
    )


def finetune_384_config(variant, *, distill=False):
    """The official fine-tuning at 384 from the 224 checkpoint: lr 5e-6, wd 1e-8, 30 epochs."""
    config = deit_config(variant, distill=distill, image_size=384)
    source = f"deit_{variant}{'_distilled' if distill else ''}_patch16_224"
    return dataclasses.replace(
        config,
        training=TrainingConfig(
            epochs=30, base_learning_rate=5e-6, weight_decay=1e-8, init_from=OFFICIAL_DEIT[source].url
        ),
    )
