"""The exponential moving average of the weights that `AdamW(use_ema=True)` keeps.

Keras' optimizer holds the average, one variable per trainable variable; these helpers
read it and lend it to the model (to evaluate or save it) without losing the raw weights.
"""

import contextlib

import keras

from keras_deit import _compat


def _inner(optimizer):
    # A mixed_float16 model is compiled with a LossScaleOptimizer around the AdamW.
    return getattr(optimizer, "inner_optimizer", optimizer)


def has_ema(optimizer):
    """True when `optimizer` keeps a built moving average of the weights."""
    optimizer = _inner(optimizer)
    return bool(optimizer is not None and optimizer.use_ema and getattr(optimizer, "built", False))


def ema_pairs(optimizer):
    """`[(variable, average)]` for every variable the optimizer averages."""
    return _compat.ema_pairs(_inner(optimizer))


@contextlib.contextmanager
def ema_weights(optimizer):
    """Within the block the averaged variables hold their EMA; afterwards their raw values.

    Args:
        optimizer: a built optimizer with `use_ema=True` (e.g. `model.optimizer` after fit).

    Example:
    ```python
    with ema_weights(model.optimizer):
        ema_logits = model.predict(images)
    ```
    """
    pairs = ema_pairs(optimizer)
    raw = [keras.ops.copy(variable.value) for variable, _ in pairs]
    try:
        for variable, average in pairs:
            variable.assign(average)
        yield
    finally:
        for (variable, _), value in zip(pairs, raw):
            variable.assign(value)
