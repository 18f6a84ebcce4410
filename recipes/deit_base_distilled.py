"""DeiT-B/16 distilled at 224 on ImageNet-1k: the official recipe, 83.4% top-1 expected.

87,338,192 parameters. 300 epochs at global batch 1024 (AdamW lr 5e-4 * 1024 / 512,
weight decay 0.05, 5 warmup epochs, cosine to 1e-5, EMA 0.99996); see
keras_deit/training/config.py for every value (`--print-config` shows them).
Distilled from RegNetY-16GF (timm `regnety_160`, 82.9% top-1; weights
`regnety_160-a5fe301d.pth`), hard distillation, alpha 0.5, tau 1.0.

Command (ImageNet prepared for TFDS, `manual_dir` holding the tars):

    keras-deit train recipes/deit_base_distilled.py --output runs/deit_base_distilled \
        --set data.manual_dir=~/imagenet

Expected: 83.4% ImageNet-1k top-1 (official model zoo; not reproduced with keras_deit
yet).
"""

from keras_deit.training.defaults import deit_config


def get_config():
    """The official recipe as a `RunConfig`."""
    return deit_config("base", distill=True)
