"""DistillationModel: `compile` / `fit` a DeiT student against a frozen teacher."""

import keras
import numpy as np
from keras import ops

from keras_deit import _compat
from keras_deit.distillation.losses import (
    check_distillation_args,
    cross_entropy,
    distillation_loss_terms,
    target_distribution,
)
from keras_deit.models.deit import DeiT

# Reported by `fit` only: `evaluate` runs the student alone.
_TRAINING_METRICS = ("base_loss",)
_TEACHER_METRICS = ("distillation_loss", "teacher_agreement")


def _scale_loss_for_replicas(loss):
    # tf.distribute sums the replicas' gradients, and Keras's TF train step multiplies
    # the loss it logs back by the replica count: the loss returned to it must be the
    # replica's mean divided by that count, as Keras's own losses do.
    if keras.backend.backend() != "tensorflow":
        return loss
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def _top1_matches(logits, labels):
    return ops.cast(ops.equal(ops.argmax(logits, axis=-1), labels), "float32")


def _teacher_image_size(teacher, student_size):
    """The teacher's declared (height, width), or None where it is the student's or unknown."""
    try:
        input_shape = teacher.input_shape
    except (AttributeError, ValueError):  # a subclassed teacher declares no input
        return None
    if not isinstance(input_shape, tuple) or len(input_shape) != 4:
        raise ValueError(
            f"The teacher must take one image batch (B, H, W, C); its input is {input_shape}."
        )
    size = tuple(input_shape[1:3])
    if None in size or size == tuple(student_size):
        return None
    return size


def _check_teacher_gives_logits(teacher, image_size):
    """Raises ValueError when the teacher's outputs on a random batch are probabilities.

    A teacher ending in softmax would pass every shape check, and soft distillation would
    then soften probabilities instead of logits (the term shrinks several times).
    """
    images = np.random.default_rng(0).uniform(0.0, 255.0, (2, *image_size, 3)).astype("float32")
    outputs = ops.convert_to_numpy(ops.cast(teacher(images, training=False), "float32"))
    # 1e-2: a float16 softmax sums to 1 only within ~1e-3.
    if np.all(outputs >= 0.0) and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-2):
        raise ValueError(
            "The teacher must give logits: its outputs on a random batch are non-negative "
            "rows summing to 1 (probabilities); remove its final softmax."
        )


@keras.saving.register_keras_serializable(package="keras_deit")
class DistillationModel(keras.Model):
    """Trains a DeiT student with DeiT's distillation through `compile` / `fit`.

    Each training step feeds the batch as given (after augmentation and Mixup / CutMix)
    to the student and to the teacher; the teacher runs in inference mode, without
    gradient, and is never trained (`teacher.trainable` is set to False). A teacher with
    another declared input size gets the images bilinearly resized. The loss is
    `keras_deit.distillation.losses.distillation_loss` (the official formulas).

    `fit` logs `loss`, `base_loss`, `distillation_loss`, `cls_accuracy`, `dist_accuracy`,
    `accuracy` (of the mean of both heads, the student's prediction) and
    `teacher_agreement` (how often the distillation head's argmax is the teacher's).
    Accuracies compare with the argmax of soft targets. `evaluate` runs the student alone:
    `loss` is the cross-entropy of the mean of both heads (the official evaluation) and
    the three accuracies. `model(images)` returns the student's `(cls_logits,
    dist_logits)`; for predictions use `model.student`.

    What is saved is the student: `save` / `export` save or export `model.student`
    (so `ModelCheckpoint` writes loadable students), and `save_weights` writes the
    student's and the optimizer's state, for `load_weights` into a `DistillationModel`
    to resume training (e.g. `BackupAndRestore`); the teacher is never written.

    With `distillation="none"` only the class head learns (the official rule): the
    distillation head of a distilled student stays at its initialization, and the
    student's prediction averages it in. Train a student without distillation token, or
    `student.fit` (which trains the mean of both heads on the labels, as timm does).

    Args:
        student: `keras_deit.DeiT` with `include_top=True`, with or without distillation
            token (without, its class head serves both terms).
        teacher: built Keras model from the student's images (RGB in [0, 255], as fed)
            to logits (no softmax), with the student's number of classes.
        distillation: str. "hard" (the paper's best), "soft" or "none".
        alpha: float in [0, 1]. Weight of the distillation term.
        tau: float > 0. Temperature of soft distillation.
        name: str. Model name.

    Example:
    ```python
    import numpy as np, keras, keras_deit
    student = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                              num_heads=2, distill=True, num_classes=10)
    teacher = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Rescaling(1 / 255),
                                keras.layers.Conv2D(8, 3, activation="relu"),
                                keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    model = keras_deit.DistillationModel(student=student, teacher=teacher)
    model.compile(optimizer=keras.optimizers.AdamW(5e-4))
    images = np.random.uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    labels = np.arange(8) % 10
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    student.save("student.keras")
    ```
    """

    def __init__(
        self,
        *,
        student,
        teacher,
        distillation="hard",
        alpha=0.5,
        tau=1.0,
        name="distillation_model",
    ):
        check_distillation_args(kind=distillation, alpha=alpha, tau=tau)
        if not isinstance(student, DeiT):
            raise ValueError(f"student must be a keras_deit.DeiT, got {type(student).__name__}.")
        if not student.include_top:
            raise ValueError("The student needs its heads: build it with include_top=True.")
        if not isinstance(teacher, keras.Model) or not teacher.built:
            raise ValueError("teacher must be a built keras.Model (call it once on a batch).")
        teacher_size = _teacher_image_size(teacher, student.image_size)
        probe = keras.KerasTensor((1, *(teacher_size or student.image_size), 3))
        teacher_shape = tuple(teacher.compute_output_spec(probe).shape)
        if len(teacher_shape) != 2:
            raise ValueError(
                f"The teacher must output logits (batch, classes); it outputs {teacher_shape}."
            )
        teacher_classes = teacher_shape[-1]
        if teacher_classes != student.num_classes:
            raise ValueError(
                f"The teacher predicts {teacher_classes} classes, the student "
                f"{student.num_classes}: they must match."
            )
        _check_teacher_gives_logits(teacher, teacher_size or student.image_size)
        # The student's dtype policy, so `compile` adds loss scaling for a mixed_float16
        # student; no autocast: the images reach both networks unchanged.
        super().__init__(name=name, dtype=student.dtype_policy, autocast=False)
        teacher.trainable = False
        self.student = student
        self.teacher = teacher
        self.distillation = distillation
        self.alpha = alpha
        self.tau = tau
        self._teacher_size = teacher_size
        self.base_loss_tracker = keras.metrics.Mean(name="base_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.cls_accuracy = keras.metrics.Mean(name="cls_accuracy")
        self.dist_accuracy = keras.metrics.Mean(name="dist_accuracy")
        self.accuracy = keras.metrics.Mean(name="accuracy")
        self.teacher_agreement = keras.metrics.Mean(name="teacher_agreement")
        # Which metrics the step being traced reports; set by compute_loss, a Python
        # value fixed at trace time (a tensor would leak out of JAX's gradient trace).
        self._hidden_metrics = ()
        self.built = True

    def call(self, images, training=None):
        return self.student.heads(ops.cast(images, "float32"), training=training)

    def teacher_logits(self, images):
        """The teacher's float32 logits for `images` (resized to its input size), no gradient."""
        images = ops.cast(images, "float32")
        if self._teacher_size is not None:
            images = ops.image.resize(images, self._teacher_size, interpolation="bilinear")
        return ops.stop_gradient(ops.cast(self.teacher(images, training=False), "float32"))

    def compile(
        self,
        optimizer="rmsprop",
        loss=None,
        loss_weights=None,
        metrics=None,
        weighted_metrics=None,
        **kwargs,
    ):
        """As `keras.Model.compile`, without `loss` and metrics: the model sets both.

        With `jit_compile=True` on TensorFlow it also asks XLA's CPU compiler for its
        memory-minimizing schedule (`keras_deit._compat.prefer_low_memory_xla_cpu_schedule`),
        which takes effect if no XLA compilation ran in the process before.
        """
        if any(arg is not None for arg in (loss, loss_weights, metrics, weighted_metrics)):
            raise ValueError(
                "DistillationModel computes its own loss and metrics: compile it with the "
                "optimizer (and run options) only."
            )
        if kwargs.get("jit_compile") is True and keras.backend.backend() == "tensorflow":
            # The step holds the student's activations for its backward pass while the
            # teacher's forward runs: XLA's memory-minimizing schedule lowers the peak
            # (benchmarks/training_memory.py) at no measured cost in speed.
            _compat.prefer_low_memory_xla_cpu_schedule()
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if sample_weight is not None:
            raise ValueError("DistillationModel supports neither sample_weight nor class_weight.")
        cls_logits, dist_logits = y_pred
        targets = target_distribution(y, self.student.num_classes)
        labels = ops.argmax(targets, axis=-1)
        run_teacher = training and self.distillation != "none"
        self._hidden_metrics = (() if training else _TRAINING_METRICS) + (
            () if run_teacher else _TEACHER_METRICS
        )
        if training:
            teacher_logits = self.teacher_logits(x) if run_teacher else None
            loss, base, distill = distillation_loss_terms(
                targets,
                cls_logits,
                dist_logits,
                teacher_logits,
                kind=self.distillation,
                alpha=self.alpha,
                tau=self.tau,
            )
            self.base_loss_tracker.update_state(base)
            if run_teacher:
                self.distillation_loss_tracker.update_state(distill)
                teacher_labels = ops.argmax(teacher_logits, axis=-1)
                self.teacher_agreement.update_state(_top1_matches(dist_logits, teacher_labels))
        else:
            loss = cross_entropy(targets, (cls_logits + dist_logits) / 2.0)
        self.cls_accuracy.update_state(_top1_matches(cls_logits, labels))
        self.dist_accuracy.update_state(_top1_matches(dist_logits, labels))
        self.accuracy.update_state(_top1_matches(cls_logits + dist_logits, labels))
        return _scale_loss_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # compute_loss updated every metric: it alone has the teacher's logits.
        logs = self.get_metrics_result()
        return {name: value for name, value in logs.items() if name not in self._hidden_metrics}

    def save_weights(self, filepath, overwrite=True, max_shard_size=None):
        """Saves the student's and the optimizer's state, not the teacher's (it never changes)."""
        _compat.save_weights_skipping(
            self, filepath, [self.teacher], overwrite=overwrite, max_shard_size=max_shard_size
        )

    def load_weights(self, filepath, skip_mismatch=False, **kwargs):
        """Loads what `save_weights` wrote; the teacher keeps its weights."""
        _compat.load_weights_skipping(self, filepath, [self.teacher], skip_mismatch=skip_mismatch, **kwargs)

    def save(self, filepath, *args, **kwargs):
        """Saves the student (`self.student.save`): the teacher is a training device."""
        return self.student.save(filepath, *args, **kwargs)

    def export(self, filepath, *args, **kwargs):
        """Exports the student (`self.student.export`)."""
        return self.student.export(filepath, *args, **kwargs)

    def get_config(self):
        return {
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "distillation": self.distillation,
            "alpha": self.alpha,
            "tau": self.tau,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
