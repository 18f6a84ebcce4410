"""The learning-rate schedule against timm's CosineLRScheduler, the official one."""

import numpy as np
import pytest
import torch
from timm.scheduler import CosineLRScheduler

import keras

from keras_deit.training.build_optimization import build_schedule
from keras_deit.training.recipes import load_recipe
from keras_deit.training.schedule import WarmupCosineSchedule

IMAGENET_TRAIN_IMAGES = 1_281_167


def timm_learning_rates(*, peak, total, warmup, warmup_lr, min_lr, steps):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    scheduler = CosineLRScheduler(
        optimizer, t_initial=total, lr_min=min_lr, warmup_t=warmup, warmup_lr_init=warmup_lr,
        t_in_epochs=False,
    )
    rates = []
    for step in steps:
        scheduler.step_update(step)
        rates.append(optimizer.param_groups[0]["lr"])
    return np.array(rates)


@pytest.mark.parametrize("recipe", ["deit_tiny", "deit_base_distilled", "deit_base_384"])
def test_recipe_schedule_equals_timm_at_key_steps(recipe):
    training = load_recipe(recipe).training
    updates_per_epoch = IMAGENET_TRAIN_IMAGES // training.global_batch_size
    schedule = build_schedule(training, updates_per_epoch=updates_per_epoch)
    total, warmup = training.epochs * updates_per_epoch, training.warmup_epochs * updates_per_epoch
    steps = [0, warmup // 2, warmup - 1, warmup, (warmup + total) // 2, total - 1, total, total + 10]
    expected = timm_learning_rates(
        peak=training.base_learning_rate * training.global_batch_size / 512, total=total,
        warmup=warmup, warmup_lr=1e-6, min_lr=1e-5, steps=steps,
    )
    ours = np.array([float(schedule(step)) for step in steps])
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=0)


def test_official_values():
    training = load_recipe("deit_small").training
    schedule = build_schedule(training, updates_per_epoch=1251)
    assert float(schedule(0)) == pytest.approx(1e-6, rel=1e-12)
    assert float(schedule(5 * 1251)) == pytest.approx(1e-3, rel=1e-3)  # 5e-4 * 1024 / 512
    assert float(schedule(300 * 1251)) == pytest.approx(1e-5, rel=1e-12)
    finetune = load_recipe("deit_base_384").training
    assert finetune.base_learning_rate * finetune.global_batch_size / 512 == pytest.approx(1e-5)


def test_schedule_serializes():
    schedule = WarmupCosineSchedule(
        peak_learning_rate=1e-3, total_steps=100, warmup_steps=10, warmup_learning_rate=1e-6,
        min_learning_rate=1e-5,
    )
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, WarmupCosineSchedule)
    for step in (0, 5, 50, 100):
        assert float(restored(step)) == float(schedule(step))


def test_optimizer_uses_schedule_per_update_with_accumulation():
    from keras_deit.training.optimizer import build_optimizer

    variable = keras.Variable(np.ones((2, 2), "float32"))
    schedule = WarmupCosineSchedule(peak_learning_rate=1e-2, total_steps=10, warmup_steps=2, steps_per_update=2)
    optimizer = build_optimizer(variables=[variable], learning_rate=schedule, gradient_accumulation_steps=2)
    for _ in range(6):
        optimizer.apply([keras.ops.ones((2, 2))], [variable])
    assert int(optimizer.iterations) == 3  # 6 micro-batches, 3 updates
    # Keras passes the micro-batch count (6); the rate is the one of update 3.
    expected = WarmupCosineSchedule(peak_learning_rate=1e-2, total_steps=10, warmup_steps=2)(3)
    assert float(optimizer.learning_rate) == pytest.approx(float(expected), rel=1e-6)


def official_epoch_learning_rates(*, peak, epochs, warmup_epochs, warmup_lr, min_lr, updates_per_epoch, run_epochs):
    """The rate of every update in the official main.py loop: timm's scheduler in epochs, stepped after each epoch."""
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=peak)
    # timm's create_scheduler for --sched cosine, as main.py calls it.
    scheduler = CosineLRScheduler(
        optimizer, t_initial=epochs, lr_min=min_lr, warmup_t=warmup_epochs, warmup_lr_init=warmup_lr,
        cycle_limit=1, t_in_epochs=True,
    )
    rates = []
    for epoch in range(run_epochs):
        rates += [optimizer.param_groups[0]["lr"]] * updates_per_epoch  # train_one_epoch
        scheduler.step(epoch)
    return np.array(rates)


@pytest.mark.parametrize("epochs, warmup_epochs, updates_per_epoch", [(6, 2, 3), (5, 0, 2), (300, 5, 1)])
def test_epoch_stepping_equals_official_main_loop(epochs, warmup_epochs, updates_per_epoch):
    run_epochs = epochs + 2  # past the end: timm holds lr_min
    expected = official_epoch_learning_rates(
        peak=1e-3, epochs=epochs, warmup_epochs=warmup_epochs, warmup_lr=1e-6, min_lr=1e-5,
        updates_per_epoch=updates_per_epoch, run_epochs=run_epochs,
    )
    schedule = WarmupCosineSchedule(
        peak_learning_rate=1e-3, total_steps=epochs * updates_per_epoch,
        warmup_steps=warmup_epochs * updates_per_epoch, warmup_learning_rate=1e-6, min_learning_rate=1e-5,
        stepping="epoch", updates_per_epoch=updates_per_epoch,
    )
    ours = np.array([float(schedule(update)) for update in range(run_epochs * updates_per_epoch)])
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=0)
    # Constant within each epoch, and a different rate in each of the first epochs.
    per_epoch = ours.reshape(run_epochs, updates_per_epoch)
    assert np.all(per_epoch == per_epoch[:, :1])
    if warmup_epochs:
        assert per_epoch[0, 0] == per_epoch[1, 0] == pytest.approx(1e-6, rel=1e-12)
        assert per_epoch[2, 0] > per_epoch[1, 0]


def test_epoch_stepping_follows_updates_with_accumulation():
    # 2 micro-batches per update, 3 updates per epoch: an epoch is 6 micro-batch steps.
    schedule = WarmupCosineSchedule(
        peak_learning_rate=1e-3, total_steps=12, warmup_steps=3, warmup_learning_rate=1e-6,
        steps_per_update=2, stepping="epoch", updates_per_epoch=3,
    )
    expected = official_epoch_learning_rates(
        peak=1e-3, epochs=4, warmup_epochs=1, warmup_lr=1e-6, min_lr=0.0, updates_per_epoch=3, run_epochs=4,
    )
    ours = np.array([float(schedule(step)) for step in range(24)])
    np.testing.assert_allclose(ours, np.repeat(expected, 2), rtol=1e-12, atol=0)


def test_update_stepping_equals_timm_step_update_every_update():
    expected = timm_learning_rates(peak=1e-3, total=40, warmup=7, warmup_lr=1e-6, min_lr=1e-5, steps=range(45))
    schedule = WarmupCosineSchedule(
        peak_learning_rate=1e-3, total_steps=40, warmup_steps=7, warmup_learning_rate=1e-6, min_learning_rate=1e-5,
    )
    np.testing.assert_allclose([float(schedule(step)) for step in range(45)], expected, rtol=1e-12, atol=0)


def test_epoch_schedule_serializes_with_its_stepping():
    schedule = WarmupCosineSchedule(
        peak_learning_rate=1e-3, total_steps=20, warmup_steps=4, stepping="epoch", updates_per_epoch=4,
    )
    config = schedule.get_config()
    assert config["stepping"] == "epoch" and config["updates_per_epoch"] == 4
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config() == config
    for step in (0, 5, 9, 13, 30):
        assert float(restored(step)) == float(schedule(step))
    assert WarmupCosineSchedule(peak_learning_rate=1e-3, total_steps=20).get_config()["stepping"] == "update"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"stepping": "batch"}, "stepping must be one of"),
        ({"stepping": "epoch"}, "needs updates_per_epoch"),
        ({"stepping": "epoch", "updates_per_epoch": 0}, "needs updates_per_epoch"),
        ({"stepping": "epoch", "updates_per_epoch": 3}, r"total_steps \(20\) must be a whole number"),
        ({"stepping": "epoch", "updates_per_epoch": 5, "warmup_steps": 3}, r"warmup_steps \(3\) must be"),
        ({"updates_per_epoch": 5}, "read only with stepping='epoch'"),
    ],
)
def test_bad_stepping_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupCosineSchedule(peak_learning_rate=1e-3, total_steps=20, **kwargs)
