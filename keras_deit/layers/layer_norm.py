"""LayerNorm over the last axis with its gradient in closed form, the token sums as matrix products.

Keras' `LayerNormalization` is differentiated by autodiff, whose gamma / beta gradients are
sums over every token of the batch, which XLA's CPU compiler runs slowly (`token_sum.py`).
`LayerNorm` computes the same function, and its backward pass

    x_hat = (x - mean) / sigma,  g = dy * gamma
    dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sigma
    dgamma = sum over tokens of dy * x_hat,  dbeta = sum over tokens of dy

with the two sums over tokens as products with a vector of ones. It keeps `x`, the mean
and 1 / sigma for the backward pass. Half-precision inputs are normalized in float32, as
Keras does.

Example:
```python
import numpy as np
from keras_deit.layers.layer_norm import LayerNorm
norm = LayerNorm(epsilon=1e-6)
norm(np.array([[1.0, 2.0, 3.0]], "float32"))  # [[-1.2247, 0., 1.2247]]
```
"""

import keras
from keras import ops

from keras_deit.layers.token_sum import sum_over_tokens
from keras_deit.layers.upstream import upstream_gradient


def _feature_mean(x):
    return ops.mean(x, axis=-1, keepdims=True)


def layer_norm(x, gamma, beta, epsilon):
    """`(x - mean) / sqrt(variance + epsilon) * gamma + beta` over the last axis of float32 `x`."""

    @ops.custom_gradient
    def normalize(x, gamma, beta):
        mean = _feature_mean(x)
        centred = x - mean
        inverse_sigma = ops.rsqrt(_feature_mean(ops.square(centred)) + epsilon)
        outputs = centred * inverse_sigma * gamma + beta

        def gradient(*args, upstream=None):
            upstream = upstream_gradient(args, upstream)
            normalized = (x - mean) * inverse_sigma
            scaled = upstream * gamma
            inputs_gradient = inverse_sigma * (
                scaled - _feature_mean(scaled) - normalized * _feature_mean(scaled * normalized)
            )
            return inputs_gradient, sum_over_tokens(upstream * normalized), sum_over_tokens(upstream)

        return outputs, gradient

    return normalize(x, gamma, beta)


@keras.saving.register_keras_serializable(package="keras_deit")
class LayerNorm(keras.layers.LayerNormalization):
    """`keras.layers.LayerNormalization` over the last axis, centred and scaled, whose
    gradient runs faster under XLA (module docstring); same weights (`gamma`, `beta`)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.axis not in (-1, [-1]) or not (self.center and self.scale) or self.rms_scaling:
            raise ValueError("LayerNorm normalizes the last axis, centred and scaled; use "
                             f"keras.layers.LayerNormalization for axis={self.axis}, center={self.center}, "
                             f"scale={self.scale}, rms_scaling={self.rms_scaling}.")

    def call(self, inputs):
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        outputs = layer_norm(
            ops.cast(inputs, dtype), ops.cast(self.gamma, dtype), ops.cast(self.beta, dtype), self.epsilon
        )
        return ops.cast(outputs, self.compute_dtype)
