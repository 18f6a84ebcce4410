"""DeiT's optimizer: AdamW without weight decay on biases, norms, tokens and positions."""

import keras

# timm's `VisionTransformer.no_weight_decay()`: these tables are not shrunk towards 0.
NO_DECAY_NAMES = ("pos_embed", "cls_token", "dist_token")


def decays(variable):
    """True when DeiT applies weight decay to `variable` (timm's `param_groups_weight_decay`).

    No decay for 1-D variables (biases, LayerNorm scales and offsets) and for the
    position embedding and the class / distillation tokens.
    """
    return len(variable.shape) > 1 and variable.name not in NO_DECAY_NAMES


@keras.saving.register_keras_serializable(package="keras_deit")
class AdamW(keras.optimizers.AdamW):
    """Keras' AdamW whose EMA never overwrites the trained weights.

    Keras' `fit` ends with `finalize_variable_values`, which replaces the model's
    weights by their moving average when `use_ema=True`. DeiT evaluates (and saves) the
    raw weights, and keras_deit the EMA beside them (`keras_deit.training.ema`), so this
    subclass keeps the raw weights; the average stays in the optimizer's variables.

    Arguments as `keras.optimizers.AdamW`.

    Example:
    ```python
    optimizer = AdamW(learning_rate=1e-3, weight_decay=0.05, use_ema=True, ema_momentum=0.999)
    ```
    """

    def finalize_variable_values(self, var_list):
        pass


def build_optimizer(
    *,
    variables,
    learning_rate,
    weight_decay=0.05,
    epsilon=1e-8,
    ema_momentum=None,
    gradient_accumulation_steps=1,
):
    """DeiT's AdamW over `variables`, with decay only where `decays(variable)`.

    Args:
        variables: list of the trainable variables (the student's).
        learning_rate: float or a `LearningRateSchedule` of the optimizer step.
        weight_decay: float. Decoupled weight decay (DeiT: 0.05; fine-tuning 1e-8).
        epsilon: float. Adam's epsilon (DeiT: 1e-8; Keras' default is 1e-7).
        ema_momentum: float or None. Keep an exponential moving average of the weights,
            updated once per micro-batch with this momentum; None for no EMA.
        gradient_accumulation_steps: int. Micro-batches summed per update (1: none).

    Example:
    ```python
    import keras_deit
    from keras_deit.training.optimizer import build_optimizer
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
    optimizer = build_optimizer(variables=model.trainable_variables, learning_rate=5e-4)
    ```
    """
    optimizer = AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        epsilon=epsilon,
        use_ema=ema_momentum is not None,
        ema_momentum=0.99 if ema_momentum is None else ema_momentum,
        gradient_accumulation_steps=gradient_accumulation_steps if gradient_accumulation_steps > 1 else None,
    )
    optimizer.exclude_from_weight_decay(var_list=[v for v in variables if not decays(v)])
    return optimizer
