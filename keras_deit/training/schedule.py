"""DeiT's learning-rate schedule: linear warmup, then cosine decay, evaluated per step."""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_deit")
class WarmupCosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """timm's `CosineLRScheduler` (one cycle, no warmup prefix), per optimizer step.

    Steps `0 .. warmup_steps - 1` rise linearly from `warmup_learning_rate` towards
    `peak_learning_rate`; from `warmup_steps` on the rate is
    `min_lr + (peak - min_lr) * (1 + cos(pi * step / total_steps)) / 2`, with the step
    counted from 0, not from the end of warmup (timm's `warmup_prefix=False`, the
    official DeiT setting); from `total_steps` on it stays at `min_learning_rate`.

    Args:
        peak_learning_rate: float. The rate warmup reaches (DeiT: 5e-4 * batch / 512).
        total_steps: int. Steps of the cosine cycle (epochs * steps per epoch).
        warmup_steps: int. Linear warmup steps (5 epochs in DeiT); 0 for none.
        warmup_learning_rate: float. Rate at step 0 (DeiT: 1e-6).
        min_learning_rate: float. Final rate (DeiT: 1e-5).
        compute_dtype: str. "float64" matches timm's Python floats; "float32" for TPUs,
            whose compiled programs have no float64.
        steps_per_update: int. Gradient accumulation steps: Keras' optimizers call the
            schedule with the micro-batch count, the rate follows the update count.

    Example:
    ```python
    schedule = WarmupCosineSchedule(peak_learning_rate=1e-3, total_steps=1000,
                                    warmup_steps=50, warmup_learning_rate=1e-6,
                                    min_learning_rate=1e-5)
    float(schedule(0)), float(schedule(50)), float(schedule(1000))
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
    ):
        if total_steps <= 0:
            raise ValueError(f"total_steps must be positive, got {total_steps!r}.")
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}.")
        self.peak_learning_rate = float(peak_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.min_learning_rate = float(min_learning_rate)
        self.compute_dtype = compute_dtype
        self.steps_per_update = int(steps_per_update)

    def __call__(self, step):
        step = ops.cast(ops.floor_divide(step, self.steps_per_update), self.compute_dtype)
        warmup_slope = (self.peak_learning_rate - self.warmup_learning_rate) / max(self.warmup_steps, 1)
        warmup = self.warmup_learning_rate + step * warmup_slope
        progress = ops.minimum(step, self.total_steps) / self.total_steps
        cosine = self.min_learning_rate + 0.5 * (self.peak_learning_rate - self.min_learning_rate) * (
            1.0 + ops.cos(math.pi * progress)
        )
        return ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_learning_rate": self.warmup_learning_rate,
            "min_learning_rate": self.min_learning_rate,
            "compute_dtype": self.compute_dtype,
            "steps_per_update": self.steps_per_update,
        }
