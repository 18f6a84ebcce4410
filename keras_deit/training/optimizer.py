"""DeiT's optimizer: AdamW without weight decay on biases, norms, tokens and positions."""

import keras
from keras import ops

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
    """AdamW with torch's update (the official DeiT optimizer), keeping the raw weights after `fit`.

    Two differences from `keras.optimizers.AdamW`:

    - Epsilon is added to the bias-corrected second moment, as in `torch.optim.AdamW`:
      `p -= lr / (1 - beta_1**t) * m / (sqrt(v / (1 - beta_2**t)) + epsilon)`. Keras adds
      it before the bias correction, which makes its epsilon `1 / sqrt(1 - beta_2**t)`
      times larger (32x at the first update, 7x at the 20th, 1.26x at the 1000th):
      weights with small gradients move less than in torch. The decoupled weight decay
      `p -= lr * weight_decay * p` before the Adam step is the same in both.
    - Keras' `fit` ends with `finalize_variable_values`, which replaces the model's
      weights by their moving average when `use_ema=True`. DeiT evaluates (and saves)
      the raw weights, and keras_deit the EMA beside them (`keras_deit.training.ema`),
      so this subclass keeps the raw weights; the average stays in the optimizer.

    Arguments as `keras.optimizers.AdamW`.

    Example:
    ```python
    optimizer = AdamW(learning_rate=1e-3, weight_decay=0.05, epsilon=1e-8,
                      use_ema=True, ema_momentum=0.999)
    ```
    """

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        step = ops.cast(self.iterations + 1, variable.dtype)
        bias_correction_1 = 1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)
        bias_correction_2 = 1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)
        index = self._get_variable_index(variable)
        m = self._momentums[index]
        v = self._velocities[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        if self.amsgrad:
            v_hat = self._velocity_hats[index]
            self.assign(v_hat, ops.maximum(v_hat, v))
            v = v_hat
        denominator = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(bias_correction_2)), self.epsilon)
        self.assign_sub(variable, ops.divide(ops.multiply(m, lr / bias_correction_1), denominator))

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
