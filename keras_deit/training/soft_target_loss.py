"""Cross-entropy with soft targets (Mixup / CutMix / label smoothing) or integer labels."""

import keras
from keras import ops

from keras_deit.distillation.losses import target_distribution


@keras.saving.register_keras_serializable(package="keras_deit")
class SoftTargetCrossEntropy(keras.losses.Loss):
    """`-sum(targets * log_softmax(logits))` per example, in float32 (timm's loss of the same name).

    The labels may be soft targets (batch, classes), as `make_dataset` yields in training,
    or integer labels (batch,), as in evaluation.

    Args:
        name: str. Loss name.

    Example:
    ```python
    import numpy as np
    loss = SoftTargetCrossEntropy()
    loss(np.array([[0.9, 0.1]]), np.array([[2.0, 0.0]]))
    ```
    """

    def __init__(self, name="soft_target_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        targets = target_distribution(y_true, y_pred.shape[-1])
        return -ops.sum(targets * ops.log_softmax(ops.cast(y_pred, "float32"), axis=-1), axis=-1)
