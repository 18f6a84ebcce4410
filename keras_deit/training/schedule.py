"""DeiT's learning-rate schedule: linear warmup, then cosine decay, per update or per epoch."""

import math

import keras
from keras import ops

STEPPING_MODES = ("update", "epoch")


@keras.saving.register_keras_serializable(package="keras_deit")
class WarmupCosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """timm's `CosineLRScheduler` (one cycle, no warmup prefix), stepped per update or per epoch.

    At the update count `t`, updates `0 .. warmup_steps - 1` rise linearly from
    `warmup_learning_rate` towards `peak_learning_rate`; from `warmup_steps` on the rate
    is `min_lr + (peak - min_lr) * (1 + cos(pi * t / total_steps)) / 2`, with `t` counted
    from 0, not from the end of warmup (timm's `warmup_prefix=False`, the official DeiT
    setting); from `total_steps` on it stays at `min_learning_rate`.

    `stepping="update"` evaluates this at every update (timm's `t_in_epochs=False`, its
    `step_update` after each update, as timm's train.py does). `stepping="epoch"` is the
    official DeiT main.py: the scheduler counts epochs (`t_in_epochs=True`) and is
    stepped with `lr_scheduler.step(epoch)` after epoch `epoch`, so the rate is constant
    within an epoch and epoch `e` trains at the value for `e - 1` (epoch 0 at the value
    for 0, the rate the scheduler starts with). Warmup then lasts one epoch more:
    `warmup_learning_rate` for epochs 0 and 1.

    Args:
        peak_learning_rate: float. The rate warmup reaches (DeiT: 5e-4 * batch / 512).
        total_steps: int. Updates of the cosine cycle (epochs * updates per epoch).
        warmup_steps: int. Linear warmup updates (5 epochs in DeiT); 0 for none.
        warmup_learning_rate: float. Rate at update 0 (DeiT: 1e-6).
        min_learning_rate: float. Final rate (DeiT: 1e-5).
        compute_dtype: str. "float64" matches timm's Python floats; "float32" for TPUs,
            whose compiled programs have no float64.
        steps_per_update: int. Gradient accumulation steps: Keras' optimizers call the
            schedule with the micro-batch count, the rate follows the update count.
        stepping: str. "update" (a new rate every update) or "epoch" (the official
            main.py: one rate per epoch, one epoch late).
        updates_per_epoch: int or None. Updates per epoch, required with "epoch" (then
            `total_steps` and `warmup_steps` must be whole epochs); None with "update".

    Example:
    ```python
    schedule = WarmupCosineSchedule(peak_learning_rate=1e-3, total_steps=1000,
                                    warmup_steps=50, warmup_learning_rate=1e-6,
                                    min_learning_rate=1e-5)
    float(schedule(0)), float(schedule(50)), float(schedule(1000))
    per_epoch = WarmupCosineSchedule(peak_learning_rate=1e-3, total_steps=1000,
                                     warmup_steps=50, stepping="epoch", updates_per_epoch=10)
    float(per_epoch(0)), float(per_epoch(19)), float(per_epoch(20))
    ```
    """

    def __init__(
        self,
        *,
        peak_learning_rate,
        total_steps,
        warmup_steps=0,
        warmup_learning_rate=0.0,
        min_learning_rate=0.0,
        compute_dtype="float64",
        steps_per_update=1,
        stepping="update",
        updates_per_epoch=None,
    ):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps!r}.")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}.")
        if stepping not in STEPPING_MODES:
            raise ValueError(f"stepping must be one of {STEPPING_MODES}, got {stepping!r}.")
        if stepping == "update" and updates_per_epoch is not None:
            raise ValueError(
                f"updates_per_epoch is read only with stepping='epoch'; got {updates_per_epoch!r} "
                "with stepping='update'."
            )
        if stepping == "epoch":
            if not isinstance(updates_per_epoch, int) or updates_per_epoch <= 0:
                raise ValueError(
                    f"stepping='epoch' needs updates_per_epoch, a positive int; got {updates_per_epoch!r}."
                )
            for name, value in (("total_steps", total_steps), ("warmup_steps", warmup_steps)):
                if value % updates_per_epoch:
                    raise ValueError(
                        f"With stepping='epoch', {name} ({value}) must be a whole number of "
                        f"epochs of updates_per_epoch={updates_per_epoch} updates."
                    )
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.min_learning_rate = float(min_learning_rate)
        self.compute_dtype = compute_dtype
        self.steps_per_update = int(steps_per_update)
        self.stepping = stepping
        self.updates_per_epoch = updates_per_epoch

    def __call__(self, step):
        update = ops.floor_divide(step, self.steps_per_update)
        if self.stepping == "epoch":
            # main.py calls lr_scheduler.step(epoch) after training epoch `epoch`, so epoch
            # e trains at timm's value for epoch e - 1: the per-update formula at the
            # first update of epoch e - 1 (timm's epoch counts scale to update counts).
            epoch = ops.floor_divide(update, self.updates_per_epoch)
            update = ops.maximum(epoch - 1, 0) * self.updates_per_epoch
        update = ops.cast(update, self.compute_dtype)
        warmup_slope = (self.peak_learning_rate - self.warmup_learning_rate) / max(self.warmup_steps, 1)
        warmup = self.warmup_learning_rate + update * warmup_slope
        progress = ops.minimum(update, self.total_steps) / self.total_steps
        cosine = self.min_learning_rate + 0.5 * (self.peak_learning_rate - self.min_learning_rate) * (
            1.0 + ops.cos(math.pi * progress)
        )
        return ops.where(update < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_learning_rate": self.warmup_learning_rate,
            "min_learning_rate": self.min_learning_rate,
            "compute_dtype": self.compute_dtype,
            "steps_per_update": self.steps_per_update,
            "stepping": self.stepping,
            "updates_per_epoch": self.updates_per_epoch,
        }
