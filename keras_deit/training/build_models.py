"""The networks of a run: the student (a DeiT or the convnet), the frozen teacher, the model fitted."""

import dataclasses
import os

import keras

from keras_deit import teachers
from keras_deit.distillation.model import DistillationModel
from keras_deit.models.deit import DeiT
from keras_deit.teachers.convnet import ConvNet
from keras_deit.weights.transfer import resolve_path


def build_student(config, *, num_classes, dtype=None):
    """The network of `config.model` with `num_classes` classes, named `config.name`.

    Args:
        config: `RunConfig`.
        num_classes: int. Classes of the training source.
        dtype: the Keras dtype policy (name) to compute in; None for the global one.

    Example:
    ```python
    from keras_deit.training.recipes import load_recipe
    build_student(load_recipe("deit_tiny"), num_classes=1000).count_params()  # 5,717,416
    ```
    """
    options = dataclasses.asdict(config.model)
    if options.pop("architecture") == "convnet":
        return ConvNet(image_size=options["image_size"], num_classes=num_classes, dtype=dtype, name=config.name)
    return DeiT(**options, num_classes=num_classes, seed=config.training.seed, dtype=dtype, name=config.name)


def teacher_path(teacher):
    """The local `.keras` file a `TeacherConfig` names, or None for a RegNetY."""
    if not teacher.model.endswith(".keras"):
        return None
    return resolve_path(teacher.model)


def build_teacher(teacher, *, num_classes, image_size, dtype=None):
    """The frozen teacher of `teacher` (a `TeacherConfig`), computing under `dtype`.

    A RegNetY is built with the student's precision policy (16-bit compute, float32
    logits); a `.keras` teacher keeps the policy it was saved with.

    Example:
    ```python
    from keras_deit.training.config import TeacherConfig
    build_teacher(TeacherConfig(model="regnety002", weights=None), num_classes=10, image_size=32)
    ```
    """
    path = teacher_path(teacher)
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"teacher.model: no teacher model at {teacher.model!r}.")
        return keras.saving.load_model(path, safe_mode=True)
    spec = teacher.model.lower()
    factory = getattr(teachers, "RegNetY" + spec.removeprefix("regnety"), None)
    if not spec.startswith("regnety") or factory is None:
        raise ValueError(f"Unknown teacher {teacher.model!r}: expected 'regnety002' ... 'regnety320' or a .keras file.")
    size = teacher.image_size or image_size
    return factory(
        weights=None if teacher.weights is None else resolve_path(teacher.weights),
        input_shape=(size, size, 3),
        num_classes=num_classes,
        dtype=dtype,
    )


def build_training_model(config, student, *, num_classes, dtype=None):
    """What `fit` trains: a `DistillationModel` of `student` and the teacher, or `student` alone."""
    distillation = config.distillation
    if distillation.kind == "none":
        return student
    teacher = build_teacher(config.teacher, num_classes=num_classes, image_size=config.model.image_size, dtype=dtype)
    return DistillationModel(
        student=student, teacher=teacher, distillation=distillation.kind, alpha=distillation.alpha, tau=distillation.tau
    )
