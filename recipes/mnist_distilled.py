"""The MNIST DeiT distilled from the MNIST convnet (hard distillation, distillation token).

The student, data and optimizer of `recipes/mnist.py`, with a distillation token
trained on the argmax of the convnet that `recipes/mnist_teacher.py` trains (its
`runs/mnist_teacher/model.keras`; train it first), alpha 0.5 as the official code.

Command:

    keras-deit train recipes/mnist_teacher.py --output runs/mnist_teacher
    keras-deit train recipes/mnist_distilled.py --output runs/mnist_distilled

Expected: 81.8 +- 2.6% top-1 on the 1,000 test digits with both heads (class head
81.5 +- 2.5%, distillation head 82.0 +- 2.5%; 5 seeds, 20 epochs, teacher 97.4%;
benchmarks/distillation_experiment.py), against 79.5 +- 2.1% without distillation; in
`keras-deit demo`'s run (seed 0, teacher 10 epochs at 96.0%): 84.7 / 85.6 / 85.5%.
"""

import dataclasses

from keras_deit.recipes import mnist
from keras_deit.training.config import DistillationConfig, TeacherConfig

TEACHER = "runs/mnist_teacher/model.keras"


def get_config():
    """The MNIST student with hard distillation from the convnet teacher."""
    config = mnist.get_config()
    return dataclasses.replace(
        config,
        name="deit_mnist_distilled",
        model=dataclasses.replace(config.model, distill=True),
        teacher=TeacherConfig(model=TEACHER, weights=None),
        distillation=DistillationConfig(kind="hard"),
    )
