"""The digits convnet teacher (`keras_deit.teachers.ConvNet`, 56,970 parameters), offline.

Three 3x3 convolutions at 32x32 on scikit-learn's digits, the digits recipe's
augmentation and AdamW (lr 5e-3, batch 64, 1 warmup epoch), 20 epochs, no EMA.
`recipes/digits_distilled.py` distills from the `model.keras` this run writes.

Command:

    keras-deit train recipes/digits_teacher.py --output runs/digits_teacher

Expected: not yet measured at 20 epochs; measured 89.4% top-1 on the 360 held-out
digits after the 10 epochs of `keras-deit demo --data digits` (seed 0, about 35 s on 2
CPU cores).
"""

from keras_deit.recipes.digits import digits_data
from keras_deit.training.config import ModelConfig, RunConfig, TrainingConfig


def get_config():
    """The convnet on the digits."""
    return RunConfig(
        name="convnet_digits",
        model=ModelConfig(architecture="convnet", image_size=32),
        data=digits_data(),
        training=TrainingConfig(
            epochs=20, global_batch_size=64, base_learning_rate=5e-3, reference_batch_size=64,
            warmup_epochs=1, ema_momentum=None, mixed_precision="float32",
        ),
    )
