"""DeiT-B/16 distilled fine-tuned at 384 from its 224 checkpoint: 85.2% top-1 expected.

87,630,032 parameters. The official fine-tuning: 30 epochs, lr 5e-6 * 1024 / 512, weight
decay 1e-8, otherwise the 224 recipe; the position embedding is interpolated
bicubically from 14x14 to 24x24. `training.init_from` is the official 224 checkpoint
(or a `.keras` model written by `recipes/deit_base_distilled.py`).

Command:

    keras-deit train recipes/deit_base_distilled_384.py --output runs/deit_base_distilled_384 \
        --set data.manual_dir=~/imagenet

Expected: 85.2% ImageNet-1k top-1 (the official number is after 1000 epochs of distillation at 224; from the
300-epoch distilled checkpoint expect less).
"""

from keras_deit.training.defaults import finetune_384_config


def get_config():
    """The official recipe as a `RunConfig`."""
    return finetune_384_config("base", distill=True)
