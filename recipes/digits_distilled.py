"""The digits DeiT distilled from the digits convnet (hard distillation, distillation token).

The student, data and optimizer of `recipes/digits.py`, with a distillation token
trained on the argmax of the convnet that `recipes/digits_teacher.py` trains (its
`runs/digits_teacher/model.keras`; train it first), alpha 0.5 as the paper.

Command:

    keras-deit train recipes/digits_teacher.py --output runs/digits_teacher
    keras-deit train recipes/digits_distilled.py --output runs/digits_distilled

Expected: not yet measured at 30 epochs; `keras-deit demo --data digits` runs it shorter
and prints its class, distillation and combined held-out top-1.
"""

import dataclasses

from keras_deit.recipes import digits
from keras_deit.training.config import DistillationConfig, TeacherConfig

TEACHER = "runs/digits_teacher/model.keras"


def get_config():
    """The digits student with hard distillation from the convnet teacher."""
    config = digits.get_config()
    return dataclasses.replace(
        config,
        name="deit_digits_distilled",
        model=dataclasses.replace(config.model, distill=True),
        teacher=TeacherConfig(model=TEACHER, weights=None),
        distillation=DistillationConfig(kind="hard"),
    )
