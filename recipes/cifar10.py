"""DeiT-Ti with 4x4 patches on CIFAR-10 (TFDS `cifar10`, downloaded on first use).

A small-data recipe: 32x32 images, patch 4 (64 tokens), DeiT-Ti's width, depth 12,
3 heads; the official augmentation and regularization, global batch 256, 300 epochs,
lr 5e-4 * 256 / 512. No teacher (add one with `--set teacher.model=... --set
distillation.kind=hard --set model.distill=True`).

Command:

    keras-deit train recipes/cifar10.py --output runs/cifar10

Expected: not yet measured (needs a GPU; DeiT-Ti-sized ViTs trained from scratch on
CIFAR-10 with this augmentation are commonly reported in the low 90s).
"""

from keras_deit.training.config import DataConfig, ModelConfig, RunConfig, TrainingConfig


def get_config():
    """The official recipe at 32x32 with patch 4, batch 256."""
    return RunConfig(
        name="deit_tiny_patch4_cifar10",
        model=ModelConfig(patch_size=4, image_size=32),
        data=DataConfig(source="tfds:cifar10", eval_split="test"),
        training=TrainingConfig(global_batch_size=256),
    )
