"""DeiT-Ti/16 at 224 on ImageNet-1k: the official recipe, 72.2% top-1 expected.

5,717,416 parameters. 300 epochs at global batch 1024 (AdamW lr 5e-4 * 1024 / 512,
weight decay 0.05, 5 warmup epochs, cosine to 1e-5, EMA 0.99996); see
keras_deit/training/config.py for every value (`--print-config` shows them).
Command (ImageNet prepared for TFDS, `manual_dir` holding the tars):

    keras-deit train recipes/deit_tiny.py --output runs/deit_tiny \
        --set data.manual_dir=~/imagenet

Expected: 72.2% ImageNet-1k top-1 (official model zoo; not reproduced with keras_deit
yet).
"""

from keras_deit.training.defaults import deit_config


def get_config():
    """The official recipe as a `RunConfig`."""
    return deit_config("tiny")
