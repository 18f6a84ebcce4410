"""Stopping a diverged run at the step its loss stops being finite.

Keras' `fit` trains on through NaN: every later step stays NaN, the epoch ends, and the
run saves an all-NaN model over its last checkpoint with exit status 0. Here the first
non-finite loss ends the run with an error, and `EpochCheckpoint` refuses non-finite
weights (an update can overflow the weights at an epoch's last step, before any loss
sees them), so the last good checkpoint stays the one a restart resumes.
"""

import math

import keras
import numpy as np


class TrainingDiverged(ValueError):
    """The loss or the weights of a run became non-finite (NaN or infinite)."""


def non_finite_variables(variables):
    """The paths of the floating-point `variables` holding a NaN or an infinity.

    Example:
    ```python
    non_finite_variables(model.weights + model.optimizer.variables)  # [] for a healthy run
    ```
    """
    bad = []
    for variable in variables:
        if "float" in str(variable.dtype):
            if not np.isfinite(keras.ops.convert_to_numpy(variable)).all():
                bad.append(variable.path)
    return bad


class StopOnDivergence(keras.callbacks.Callback):
    """Raises `TrainingDiverged` naming the epoch and step of the first non-finite loss.

    Keras logs the epoch's running mean of the loss after every step: one non-finite
    step makes it non-finite, so checking the mean misses none. The check runs on Keras'
    callback thread (`async_safe`), so the training loop does not wait for each step's
    loss to reach the host; the error surfaces at most a few steps later, and always
    before the epoch ends (Keras waits for the thread there), hence before a checkpoint.

    Example:
    ```python
    model.fit(data, epochs=10, callbacks=[StopOnDivergence(), EpochCheckpoint("run/checkpoints")])
    ```
    """

    async_safe = True

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingDiverged(
                f"Training diverged: the loss is {float(loss)} at epoch {self.epoch + 1}, step {batch + 1} "
                "(counting from 1); no checkpoint of this epoch was written. Lower the learning rate "
                "(training.base_learning_rate) and resume."
            )
