"""keras_deit.distillation.losses.distillation_loss against the official formulas, by hand and in torch."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch
import torch.nn.functional as F

from keras_deit.distillation.losses import distillation_loss, distillation_loss_terms

BATCH, CLASSES = 6, 5


def _logits(seed):
    return (3.0 * np.random.default_rng(seed).normal(size=(BATCH, CLASSES))).astype("float32")


CLS, DIST, TEACHER = _logits(1), _logits(2), _logits(3)
LABELS = np.array([0, 1, 2, 3, 4, 1])
# Mixup of each sample with the reversed batch plus label smoothing 0.1, as timm builds them.
_ONE_HOT = np.eye(CLASSES)[LABELS]
SOFT_TARGETS = (0.7 * _ONE_HOT + 0.3 * _ONE_HOT[::-1]) * 0.9 + 0.1 / CLASSES


def _log_softmax(x):
    x = x.astype("float64")
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _cross_entropy(targets, logits):
    return float(np.mean(-(targets * _log_softmax(logits)).sum(axis=-1)))


def reference_terms(targets, cls, dist, teacher, kind, tau):
    """(base, distill) in float64 NumPy, written from the official losses.py."""
    base = _cross_entropy(targets, cls)
    if kind == "none":
        return base, 0.0
    if kind == "hard":
        return base, _cross_entropy(np.eye(CLASSES)[teacher.argmax(-1)], dist)
    log_p_teacher, log_p_student = _log_softmax(teacher / tau), _log_softmax(dist / tau)
    kl = np.sum(np.exp(log_p_teacher) * (log_p_teacher - log_p_student))
    return base, float(kl * tau * tau / dist.size)


def reference_loss(targets, cls, dist, teacher, kind, alpha, tau):
    base, distill = reference_terms(targets, cls, dist, teacher, kind, tau)
    return base if kind == "none" else (1 - alpha) * base + alpha * distill


def torch_official_loss(targets, cls, dist, teacher, kind, alpha, tau):
    """facebookresearch/deit DistillationLoss.forward, with its base criteria."""
    cls, dist, teacher = (torch.from_numpy(a) for a in (cls, dist, teacher))
    if targets.ndim == 1:
        base = F.cross_entropy(cls, torch.from_numpy(targets))
    else:  # timm SoftTargetCrossEntropy
        soft = torch.from_numpy(targets).float()
        base = torch.sum(-soft * F.log_softmax(cls, dim=-1), dim=-1).mean()
    if kind == "none":
        return float(base)
    if kind == "soft":
        distill = F.kl_div(
            F.log_softmax(dist / tau, dim=1),
            F.log_softmax(teacher / tau, dim=1),
            reduction="sum",
            log_target=True,
        ) * (tau * tau) / dist.numel()
    else:
        distill = F.cross_entropy(dist, teacher.argmax(dim=1))
    return float(base * (1 - alpha) + distill * alpha)


CASES = [("hard", 1.0), ("soft", 1.0), ("soft", 3.0), ("none", 1.0)]


@pytest.mark.parametrize("kind, tau", CASES)
@pytest.mark.parametrize("soft_labels", [False, True])
@pytest.mark.parametrize("alpha", [0.5, 0.1])
def test_loss_equals_the_official_formulas(kind, tau, soft_labels, alpha):
    y_true = SOFT_TARGETS.astype("float32") if soft_labels else LABELS
    targets = SOFT_TARGETS if soft_labels else _ONE_HOT
    loss = distillation_loss(y_true, CLS, DIST, TEACHER, kind=kind, alpha=alpha, tau=tau)
    assert loss.dtype == tf.float32 and tuple(loss.shape) == ()
    expected = reference_loss(targets, CLS, DIST, TEACHER, kind, alpha, tau)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6, atol=1e-6)
    official = torch_official_loss(y_true, CLS, DIST, TEACHER, kind, alpha, tau)
    np.testing.assert_allclose(float(loss), official, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind, tau", CASES)
def test_terms_are_the_base_and_distillation_parts(kind, tau):
    loss, base, distill = distillation_loss_terms(
        LABELS, CLS, DIST, TEACHER, kind=kind, alpha=0.3, tau=tau
    )
    expected_base, expected_distill = reference_terms(_ONE_HOT, CLS, DIST, TEACHER, kind, tau)
    np.testing.assert_allclose(
        [float(base), float(distill)], [expected_base, expected_distill], atol=1e-6
    )
    expected = expected_base if kind == "none" else 0.7 * expected_base + 0.3 * expected_distill
    np.testing.assert_allclose(float(loss), expected, atol=1e-6)


def test_column_labels_equal_flat_labels():
    flat = distillation_loss(LABELS, CLS, DIST, TEACHER, kind="hard")
    column = distillation_loss(LABELS[:, None], CLS, DIST, TEACHER, kind="hard")
    assert float(flat) == float(column)


def test_soft_kl_of_identical_distributions_is_zero_and_scales_with_tau_squared():
    _, _, same = distillation_loss_terms(LABELS, CLS, TEACHER, TEACHER, kind="soft", tau=2.0)
    assert abs(float(same)) < 1e-6
    # For equal logits scaled by tau, softmax(x / tau) is unchanged: only the T*T factor remains.
    _, _, at_one = distillation_loss_terms(LABELS, CLS, DIST, TEACHER, kind="soft", tau=1.0)
    _, _, at_three = distillation_loss_terms(
        LABELS, CLS, 3.0 * DIST, 3.0 * TEACHER, kind="soft", tau=3.0
    )
    np.testing.assert_allclose(float(at_three), 9.0 * float(at_one), rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logits_are_computed_in_float32(dtype):
    low = [keras.ops.cast(a, dtype) for a in (CLS, DIST, TEACHER)]
    rounded = [keras.ops.convert_to_numpy(keras.ops.cast(a, "float32")) for a in low]
    loss = distillation_loss(LABELS, *low, kind="soft", tau=3.0)
    assert loss.dtype == tf.float32
    expected = reference_loss(_ONE_HOT, *rounded, "soft", 0.5, 3.0)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", ["none", "soft", "hard"])
def test_gradients_reach_the_heads_the_kind_trains(kind):
    cls, dist = tf.Variable(CLS), tf.Variable(DIST)
    with tf.GradientTape() as tape:
        loss = distillation_loss(LABELS, cls, dist, TEACHER, kind=kind)
    grad_cls, grad_dist = tape.gradient(loss, [cls, dist])
    assert np.abs(grad_cls.numpy()).min() > 0
    if kind == "none":
        assert grad_dist is None
    else:
        assert np.abs(grad_dist.numpy()).min() > 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(kind="medium"), "distillation kind"),
        (dict(kind="hard", alpha=1.5), "alpha"),
        (dict(kind="hard", alpha=-0.1), "alpha"),
        (dict(kind="soft", tau=0.0), "tau"),
        (dict(kind="soft", tau=-1.0), "tau"),
    ],
)
def test_invalid_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        distillation_loss(LABELS, CLS, DIST, TEACHER, **kwargs)


def test_a_label_outside_the_classes_is_an_error_naming_it():
    labels = LABELS.copy()
    labels[1] = CLASSES
    with pytest.raises(ValueError, match=rf"Label {CLASSES} is outside the {CLASSES} classes"):
        distillation_loss(labels, CLS, DIST, TEACHER, kind="hard")
    graph_loss = tf.function(lambda y: distillation_loss(y, CLS, DIST, TEACHER, kind="hard"))
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"Label\] \[{CLASSES}\]"):
        graph_loss(tf.constant(labels))
