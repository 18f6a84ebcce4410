"""Distillation training in keras_deit against the official DeiT loop in torch, step by step.

The reference is main.py / engine.py's loop written out in torch: a timm
`VisionTransformerDistilled`, the official `DistillationLoss` formulas on Mixup-like soft
targets, timm's weight-decay groups, `torch.optim.AdamW` and timm's `CosineLRScheduler`
configured as timm's `create_scheduler` does for `--sched cosine`. keras_deit trains the
same weights with `DistillationModel`, `build_optimizer` and `WarmupCosineSchedule`.
"""

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from timm.loss import SoftTargetCrossEntropy
from timm.optim import param_groups_weight_decay
from timm.scheduler import CosineLRScheduler

import keras

import keras_deit
from keras_deit.training.optimizer import build_optimizer
from keras_deit.training.schedule import WarmupCosineSchedule
from tests.conftest import IMAGENET_MEAN, IMAGENET_STD, random_images, timm_input

NUM_CLASSES = 10
IMAGE_SIZE = 32
BATCH = 8
EPOCHS, UPDATES_PER_EPOCH, WARMUP_EPOCHS = 4, 3, 1
PEAK_LR, WARMUP_LR, MIN_LR = 1e-3, 1e-4, 1e-5
# DeiT's 0.05 barely moves 12 updates; 0.5 makes a wrong exclusion visible in the logits.
WEIGHT_DECAY = 0.5
ALPHA = 0.7  # not 0.5, so swapped weights of the two terms would show
TAU = 3.0  # not 1, so a missing T * T would show
SMOOTHING = 0.1


def mixup_batches(seed=0):
    """One batch per update: images in [0, 255] and timm Mixup's smoothed, mixed targets."""
    rng = np.random.default_rng(seed)
    off = SMOOTHING / NUM_CLASSES
    batches = []
    for step in range(EPOCHS * UPDATES_PER_EPOCH):
        images = random_images(BATCH, IMAGE_SIZE, seed=seed + 1 + step)
        labels = rng.integers(0, NUM_CLASSES, BATCH)
        one_hot = np.full((BATCH, NUM_CLASSES), off, "float32")
        one_hot[np.arange(BATCH), labels] = 1.0 - SMOOTHING + off
        lam = np.float32(rng.uniform(0.3, 0.7))
        # timm's mixup_target: the batch mixed with its reverse.
        targets = lam * one_hot + (1.0 - lam) * one_hot[::-1]
        batches.append((images, targets.astype("float32")))
    return batches


def torch_teacher(seed=0):
    """The fixed teacher: a linear classifier on the normalized NCHW pixels."""
    generator = torch.Generator().manual_seed(seed)
    teacher = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * IMAGE_SIZE**2, NUM_CLASSES))
    with torch.no_grad():
        teacher[1].weight.copy_(0.02 * torch.randn(teacher[1].weight.shape, generator=generator))
        teacher[1].bias.copy_(0.5 * torch.randn(NUM_CLASSES, generator=generator))
    return teacher.eval()


def keras_teacher(reference):
    """The torch teacher ported to Keras: the same logits from [0, 255] NHWC images."""
    teacher = keras.Sequential([
        keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
        keras.layers.Normalization(mean=255.0 * IMAGENET_MEAN, variance=(255.0 * IMAGENET_STD) ** 2),
        keras.layers.Permute((3, 1, 2)),  # NCHW, so Flatten orders pixels as torch does
        keras.layers.Flatten(),
        keras.layers.Dense(NUM_CLASSES),
    ])
    linear = reference[1]
    teacher.layers[-1].set_weights([linear.weight.detach().numpy().T, linear.bias.detach().numpy()])
    return teacher



def official_distillation_loss(outputs, labels, teacher_outputs, kind):
    """facebookresearch/deit losses.py `DistillationLoss.forward`, criterion SoftTargetCrossEntropy."""
    outputs, outputs_kd = outputs
    base_loss = SoftTargetCrossEntropy()(outputs, labels)
    if kind == "soft":
        T = TAU
        distillation_loss = F.kl_div(
            F.log_softmax(outputs_kd / T, dim=1), F.log_softmax(teacher_outputs / T, dim=1),
            reduction="sum", log_target=True,
        ) * (T * T) / outputs_kd.numel()
    else:
        distillation_loss = F.cross_entropy(outputs_kd, teacher_outputs.argmax(dim=1))
    return base_loss * (1 - ALPHA) + distillation_loss * ALPHA


def train_official(student, teacher, batches, *, kind, t_in_epochs):
    """main.py + engine.train_one_epoch; per update, timm train.py's `step_update` instead."""
    student.train()
    student.set_distilled_training(True)
    # timm create_optimizer: weight-decay groups, AdamW with DeiT's --opt-eps 1e-8.
    groups = param_groups_weight_decay(student, WEIGHT_DECAY, no_weight_decay_list=student.no_weight_decay())
    optimizer = torch.optim.AdamW(groups, lr=PEAK_LR, eps=1e-8)
    epochs, warmup = (EPOCHS, WARMUP_EPOCHS) if t_in_epochs else (
        EPOCHS * UPDATES_PER_EPOCH, WARMUP_EPOCHS * UPDATES_PER_EPOCH)
    # timm create_scheduler for --sched cosine.
    scheduler = CosineLRScheduler(
        optimizer, t_initial=epochs, lr_min=MIN_LR, warmup_t=warmup, warmup_lr_init=WARMUP_LR,
        cycle_limit=1, t_in_epochs=t_in_epochs,
    )
    losses, rates, num_updates = [], [], 0
    for epoch in range(EPOCHS):
        for images, targets in batches[epoch * UPDATES_PER_EPOCH:(epoch + 1) * UPDATES_PER_EPOCH]:
            samples = timm_input(images)
            outputs = student(samples)
            with torch.no_grad():
                teacher_outputs = teacher(samples)
            loss = official_distillation_loss(outputs, torch.from_numpy(targets), teacher_outputs, kind)
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            num_updates += 1
            scheduler.step_update(num_updates)  # no-op with t_in_epochs
        scheduler.step(epoch)  # no-op without t_in_epochs
    return np.array(losses), np.array(rates)


def timm_heads(student, images):
    with torch.no_grad():  # train mode only selects the two-head output: no dropout here
        student.train()
        return tuple(t.numpy() for t in student(timm_input(images)))


def train_keras(student, teacher, batches, *, kind, stepping, jit_compile):
    model = keras_deit.DistillationModel(student=student, teacher=teacher, distillation=kind, alpha=ALPHA, tau=TAU)
    schedule = WarmupCosineSchedule(
        peak_learning_rate=PEAK_LR, total_steps=EPOCHS * UPDATES_PER_EPOCH,
        warmup_steps=WARMUP_EPOCHS * UPDATES_PER_EPOCH, warmup_learning_rate=WARMUP_LR,
        min_learning_rate=MIN_LR, stepping=stepping,
        updates_per_epoch=UPDATES_PER_EPOCH if stepping == "epoch" else None,
    )
    optimizer = build_optimizer(
        variables=student.trainable_variables, learning_rate=schedule, weight_decay=WEIGHT_DECAY, epsilon=1e-8
    )
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    losses, rates = [], []
    for images, targets in batches:
        rates.append(float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
        model.reset_metrics()  # the logged loss is then this batch's
        losses.append(float(model.train_on_batch(images, targets, return_dict=True)["loss"]))
    return np.array(losses), np.array(rates)


# As a TF graph (Keras' choice on a CPU) and under XLA (what `keras_deit.train` compiles
# with one replica, on a CPU too).
@pytest.mark.parametrize("kind, stepping, jit_compile", [
    ("hard", "epoch", False), ("soft", "epoch", False), ("hard", "update", False), ("soft", "update", False),
    ("hard", "update", True),
])
def test_distillation_training_equals_official_loop(timm_models, tmp_path, monkeypatch, kind, stepping, jit_compile):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # compile(jit_compile=True) appends to it
    reference = timm_models(
        "deit_tiny_distilled_patch16_224", img_size=IMAGE_SIZE, patch_size=8, embed_dim=64, depth=2,
        num_heads=2, num_classes=NUM_CLASSES, drop_rate=0.0, drop_path_rate=0.0,
    )
    path = tmp_path / "student.pth"
    torch.save(reference.state_dict(), path)
    student = keras_deit.DeiT(image_size=IMAGE_SIZE, patch_size=8, embed_dim=64, depth=2, num_heads=2,
                              distill=True, num_classes=NUM_CLASSES)
    keras_deit.load_deit_weights(student, str(path))
    teacher = torch_teacher()
    batches = mixup_batches()

    # The ported teacher gives the torch teacher's logits and labels.
    probe = batches[0][0]
    with torch.no_grad():
        expected_teacher = teacher(timm_input(probe)).numpy()
    ported = keras_teacher(teacher)
    np.testing.assert_allclose(np.asarray(ported(probe)), expected_teacher, rtol=0, atol=1e-4)
    assert (np.asarray(ported(probe)).argmax(-1) == expected_teacher.argmax(-1)).all()
    initial = timm_heads(reference, probe)

    official_losses, official_rates = train_official(
        reference, teacher, batches, kind=kind, t_in_epochs=stepping == "epoch"
    )
    losses, rates = train_keras(student, ported, batches, kind=kind, stepping=stepping, jit_compile=jit_compile)

    np.testing.assert_allclose(rates, official_rates, rtol=1e-6, atol=0)
    np.testing.assert_allclose(losses, official_losses, rtol=1e-4, atol=0)
    expected_heads = timm_heads(reference, probe)
    for ours, expected, before in zip(student.heads(probe, training=False), expected_heads, initial):
        scale = np.abs(expected).max()
        assert np.abs(np.asarray(ours) - expected).max() <= 1e-3 * scale
        assert np.abs(expected - before).max() > 0.05 * scale  # training moved the logits
