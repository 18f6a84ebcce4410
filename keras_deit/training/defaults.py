"""The official DeiT recipe as a plain config dict; `recipes/*.py` start from it.

Every number is the official `main.py` default (../shared/reference/deit.md, "Training
recipe"): 300 epochs, global batch 1024, AdamW eps 1e-8, lr 5e-4 * batch / 512, weight
decay 0.05, cosine with 5 warmup epochs from 1e-6 to a minimum of 1e-5, drop path 0.1,
EMA 0.99996, label smoothing 0.1, Mixup 0.8, CutMix 1.0, RandAugment m9-mstd0.5,
random erasing 0.25, repeated augmentation 3; distillation from RegNetY-16GF, hard,
alpha 0.5, tau 1.0.
"""

from keras_deit.models.deit_variants import VARIANTS
from keras_deit.weights.official import OFFICIAL_DEIT, REGNETY_160_URL

# The paper's teacher (RegNetY-16GF, 82.9% top-1), timm's weights as the official repo uses.
TEACHER_WEIGHTS = REGNETY_160_URL


def deit_config(variant, *, distill=False, image_size=224):
    """The official ImageNet-1k recipe for DeiT-`variant` ("tiny", "small", "base").

    Example:
    ```python
    config = deit_config("tiny", distill=True)
    config["training"]["epochs"]  # 300
    ```
    """
    return {
        "name": f"deit_{variant}{'_distilled' if distill else ''}_patch16_{image_size}",
        "model": {
            # DeiT paper, Table 1 (keras_deit.models.deit_variants.VARIANTS).
            **VARIANTS[variant],
            "depth": 12,
            "patch_size": 16,
            "mlp_ratio": 4.0,
            "image_size": image_size,
            "distill": distill,
            "drop_path_rate": 0.1,
        },
        "teacher": (
            {"model": "regnety160", "weights": TEACHER_WEIGHTS, "image_size": image_size} if distill else None
        ),
        "distillation": {"kind": "hard" if distill else "none", "alpha": 0.5, "tau": 1.0},
        "data": {
            "source": "tfds:imagenet2012",
            "train_split": "train",
            "eval_split": "validation",
            "data_dir": None,
            "manual_dir": None,
            "rand_augment": True,
            "color_jitter": 0.3,  # unused with RandAugment, as in the official code
            "erasing_probability": 0.25,
            "mixup_alpha": 0.8,
            "cutmix_alpha": 1.0,
            "label_smoothing": 0.1,
            "repeats": 3,
            "crop_ratio": 0.875,
        },
        "training": {
            "epochs": 300,
            "global_batch_size": 1024,
            # lr = base_learning_rate * global_batch_size / reference_batch_size
            "base_learning_rate": 5e-4,
            "reference_batch_size": 512,
            "weight_decay": 0.05,
            "epsilon": 1e-8,
            "warmup_epochs": 5,
            "warmup_learning_rate": 1e-6,
            "min_learning_rate": 1e-5,
            "ema_momentum": 0.99996,
            # Micro-batches per update: global_batch_size / accumulation per step.
            "gradient_accumulation_steps": 1,
            "mixed_precision": "auto",
            "seed": 0,
            # A checkpoint to start from (fine-tuning): .pth / .keras / URL.
            "init_from": None,
            # None: the training split's size // global batch (tests shrink it).
            "steps_per_epoch": None,
            # None: the whole evaluation split.
            "eval_steps": None,
        },
    }


def finetune_384_config(variant, *, distill=False):
    """The official fine-tuning at 384 from the 224 checkpoint: lr 5e-6, wd 1e-8, 30 epochs."""
    config = deit_config(variant, distill=distill, image_size=384)
    source = f"deit_{variant}{'_distilled' if distill else ''}_patch16_224"
    config["training"].update(
        epochs=30,
        base_learning_rate=5e-6,
        weight_decay=1e-8,
        init_from=OFFICIAL_DEIT[source].url,
    )
    return config
