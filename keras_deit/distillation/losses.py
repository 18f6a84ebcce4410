"""The DeiT distillation loss (official `losses.py`), in keras.ops for every backend."""

import keras
import numpy as np
from keras import ops

DISTILLATION_KINDS = ("none", "soft", "hard")


def check_distillation_args(*, kind, alpha=0.5, tau=1.0):
    """Raises ValueError unless `kind`, `alpha` and `tau` are valid distillation settings."""
    if kind not in DISTILLATION_KINDS:
        raise ValueError(f"distillation kind must be one of {DISTILLATION_KINDS}, got {kind!r}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    if not tau > 0.0:
        raise ValueError(f"tau must be positive, got {tau!r}.")


def target_distribution(y_true, num_classes):
    """Targets as float32 class probabilities, (batch, num_classes).

    Integer labels of shape (batch,) or (batch, 1) become one-hot rows; soft targets
    (batch, num_classes), e.g. from Mixup / CutMix / label smoothing, pass through.
    A label outside `[0, num_classes)` is an error naming it (see `check_label_range`).

    Args:
        y_true: int labels (batch,) or (batch, 1), or soft targets (batch, num_classes).
        num_classes: int. Classes of the logits.

    Example:
    ```python
    import numpy as np
    target_distribution(np.array([2, 0]), 3)  # [[0, 0, 1], [1, 0, 0]]
    ```
    """
    if len(y_true.shape) == 2 and y_true.shape[-1] == num_classes:
        return ops.cast(y_true, "float32")
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    one_hot = ops.one_hot(labels, num_classes, dtype="float32")
    # A label outside the range one-hots to a zero row, which would train on nothing.
    in_range = ops.equal(ops.sum(one_hot, axis=-1), 1.0)
    one_hot = check_label_range(labels, in_range, one_hot, num_classes=num_classes)
    # Where no runtime check runs (TensorFlow under XLA drops asserts), the bad rows are
    # NaN: the loss turns NaN instead of training silently on zero targets.
    return ops.where(ops.expand_dims(in_range, -1), one_hot, float("nan"))


def check_label_range(labels, in_range, value, *, num_classes):
    """`value`, after raising an error naming the first label where `in_range` is False.

    The check runs in eager mode, in TensorFlow graphs (`tf.debugging.Assert`, an
    `InvalidArgumentError`; XLA ignores asserts) and under `jax.jit` (a debug callback,
    a `JaxRuntimeError` carrying the ValueError).

    Args:
        labels: int tensor (batch,).
        in_range: bool tensor (batch,). Whether each label is in `[0, num_classes)`.
        value: tensor returned unchanged (in TensorFlow graphs, after the check).
        num_classes: int. For the message.

    Example:
    ```python
    import numpy as np
    labels = np.array([1, 7])
    check_label_range(labels, labels < 3, labels, num_classes=3)  # ValueError: label 7
    ```
    """
    backend = keras.backend.backend()
    message = f"outside the {num_classes} classes [0, {num_classes})"
    if backend == "tensorflow":
        import tensorflow as tf

        if not tf.executing_eagerly():
            # A static-shape gather (not boolean_mask), so the graph still compiles under XLA.
            first_bad = tf.gather(labels, tf.argmin(tf.cast(in_range, "int32")))
            check = tf.debugging.Assert(
                tf.reduce_all(in_range), ["Label", first_bad, message], name="label_range"
            )
            with tf.control_dependencies([check]):
                return tf.identity(value)
    elif backend == "jax":
        import jax

        def raise_on_bad(labels, in_range):
            _raise_on_bad_label(np.asarray(labels), np.asarray(in_range), message)

        jax.debug.callback(raise_on_bad, labels, in_range)
        return value
    _raise_on_bad_label(ops.convert_to_numpy(labels), ops.convert_to_numpy(in_range), message)
    return value


def _raise_on_bad_label(labels, in_range, message):
    if not in_range.all():
        raise ValueError(f"Label {int(labels[~in_range][0])} is {message}.")


def cross_entropy(targets, logits):
    """Mean over the batch of `-sum(targets * log_softmax(logits))`, in float32."""
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    return ops.mean(-ops.sum(targets * log_probs, axis=-1))


def distillation_loss_terms(
    y_true, cls_logits, dist_logits, teacher_logits, *, kind, alpha=0.5, tau=1.0
):
    """`(loss, base, distill)`, float32 scalars: the DeiT loss and its two terms.

    `loss` is what `distillation_loss` returns; `base` is the cross-entropy of the class
    head with `y_true`; `distill` compares the distillation head with the teacher (0 for
    `kind="none"`, where `dist_logits` and `teacher_logits` are not read). Arguments as
    `distillation_loss`.
    """
    check_distillation_args(kind=kind, alpha=alpha, tau=tau)
    num_classes = cls_logits.shape[-1]
    base = cross_entropy(target_distribution(y_true, num_classes), cls_logits)
    if kind == "none":
        return base, base, ops.zeros((), "float32")
    student = ops.cast(dist_logits, "float32")
    teacher = ops.cast(teacher_logits, "float32")
    if kind == "hard":
        # The teacher's label is not smoothed, even when y_true is (official code).
        teacher_labels = ops.one_hot(ops.argmax(teacher, axis=-1), num_classes, dtype="float32")
        distill = cross_entropy(teacher_labels, student)
    else:
        student_log_probs = ops.log_softmax(student / tau, axis=-1)
        teacher_log_probs = ops.log_softmax(teacher / tau, axis=-1)
        kl_sum = ops.sum(ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs))
        # The official code divides the summed KL by the element count batch * classes,
        # not by the batch (torch's reduction="batchmean" would): the soft term is
        # num_classes times smaller than a per-sample KL. T * T keeps the gradient scale
        # independent of the temperature (Hinton et al. 2015).
        distill = kl_sum * (tau * tau) / ops.cast(ops.size(student), "float32")
    return (1.0 - alpha) * base + alpha * distill, base, distill


def distillation_loss(y_true, cls_logits, dist_logits, teacher_logits, *, kind, alpha=0.5, tau=1.0):
    """DeiT's training loss: `(1 - alpha) * base + alpha * distill`, a float32 scalar.

    The official formulas (facebookresearch/deit `losses.py`):
    - base: cross-entropy of `cls_logits` with `y_true`, averaged over the batch.
    - `kind="hard"`: distill = cross-entropy of `dist_logits` with the teacher's argmax.
    - `kind="soft"`: distill = KL(softmax(teacher / tau) || softmax(dist / tau)), summed
      over batch and classes, times `tau**2`, divided by batch * classes.
    - `kind="none"`: the loss is `base` alone; `alpha` is ignored and `dist_logits` gets
      no gradient (nothing in the loss reads it).

    The teacher logits should carry no gradient (`keras.ops.stop_gradient`). Logits of any
    float dtype are cast to float32 first.

    Args:
        y_true: labels, int (batch,) or (batch, 1), or soft targets (batch, classes).
        cls_logits: tensor (batch, classes). The student's class head.
        dist_logits: tensor (batch, classes). The student's distillation head (the class
            head again for a student without distillation token).
        teacher_logits: tensor (batch, classes), or None for `kind="none"`.
        kind: str. "none", "soft" or "hard".
        alpha: float in [0, 1]. Weight of the distillation term.
        tau: float > 0. Softmax temperature of soft distillation.

    Example:
    ```python
    import numpy as np
    from keras_deit.distillation.losses import distillation_loss
    rng = np.random.default_rng(0)
    cls, dist, teacher = (rng.normal(size=(4, 10)).astype("float32") for _ in range(3))
    labels = np.array([1, 2, 3, 4])
    loss = distillation_loss(labels, cls, dist, teacher, kind="hard", alpha=0.5)
    ```
    """
    loss, _, _ = distillation_loss_terms(
        y_true, cls_logits, dist_logits, teacher_logits, kind=kind, alpha=alpha, tau=tau
    )
    return loss
