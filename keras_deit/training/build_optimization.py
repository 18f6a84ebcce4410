"""The optimizer of a run: DeiT's AdamW with its decay exclusions, EMA and warmup-cosine schedule."""

from keras_deit.training.optimizer import build_optimizer
from keras_deit.training.schedule import WarmupCosineSchedule


def peak_learning_rate(training):
    """The official linear scaling: `base_learning_rate * global_batch_size / reference_batch_size`."""
    return training.base_learning_rate * training.global_batch_size / training.reference_batch_size


def build_schedule(training, *, updates_per_epoch, compute_dtype="float64"):
    """The `WarmupCosineSchedule` of a `TrainingConfig`, counted in updates.

    Args:
        training: `TrainingConfig`.
        updates_per_epoch: int. Optimizer updates per epoch.
        compute_dtype: str. "float32" on TPU (no float64 there), else "float64".

    Example:
    ```python
    from keras_deit.training.config import TrainingConfig
    schedule = build_schedule(TrainingConfig(), updates_per_epoch=1251)
    float(schedule(5 * 1251))  # the peak, 1e-3
    ```
    """
    # "epoch" stepping (the official main.py's) is WarmupCosineSchedule's `stepping` option.
    stepping = (
        {} if training.learning_rate_stepping == "update"
        else {"stepping": training.learning_rate_stepping, "updates_per_epoch": updates_per_epoch}
    )
    return WarmupCosineSchedule(
        peak_learning_rate=peak_learning_rate(training),
        total_steps=training.epochs * updates_per_epoch,
        warmup_steps=training.warmup_epochs * updates_per_epoch,
        warmup_learning_rate=training.warmup_learning_rate,
        min_learning_rate=training.min_learning_rate,
        compute_dtype=compute_dtype,
        steps_per_update=training.gradient_accumulation_steps,
        **stepping,
    )


def build_training_optimizer(training, *, variables, updates_per_epoch, compute_dtype="float64"):
    """`build_optimizer` of a `TrainingConfig` over `variables`, with `build_schedule`'s rate."""
    accumulation = training.gradient_accumulation_steps
    ema = training.ema_momentum
    return build_optimizer(
        variables=variables,
        learning_rate=build_schedule(training, updates_per_epoch=updates_per_epoch, compute_dtype=compute_dtype),
        weight_decay=training.weight_decay,
        epsilon=training.epsilon,
        # Keras updates the average at every micro-batch: the root keeps the decay per
        # update at the recipe's momentum.
        ema_momentum=None if ema is None else ema ** (1.0 / accumulation),
        gradient_accumulation_steps=accumulation,
    )
