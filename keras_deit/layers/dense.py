"""A Keras `Dense` layer applied with its bias gradient as a matrix product.

The bias gradient is the upstream gradient summed over every token of the batch, which
XLA's CPU compiler runs as a slow windowed reduction (`token_sum.py`); `dense` applies
the layer's own kernel and bias with that sum written as a product with a vector of ones.
A quantized layer, or one with LoRA, is called as it is: only the layer knows its kernel.

Example:
```python
import keras
import numpy as np
from keras_deit.layers.dense import dense
layer = keras.layers.Dense(2, kernel_initializer="ones")
layer.build((None, 3))
dense(layer, np.ones((1, 4, 3), "float32"))  # [[[3., 3.], ... ]], as layer(...)
```
"""

from keras import ops

from keras_deit.layers.token_sum import sum_over_tokens
from keras_deit.layers.upstream import upstream_gradient


@ops.custom_gradient
def bias_add(x, bias):
    """`x + bias` over the last axis; the bias gradient summed by a matrix product."""

    def gradient(*args, upstream=None):
        upstream = upstream_gradient(args, upstream)
        return upstream, sum_over_tokens(upstream)

    return x + bias, gradient


def kernel_is_private(layer):
    """Whether only `layer(...)` itself can apply the Dense layer's kernel: quantized, or with LoRA."""
    return layer.quantization_mode is not None or layer.lora_enabled


def dense(layer, inputs):
    """`layer(inputs)` for a built `keras.layers.Dense` without activation."""
    if kernel_is_private(layer):
        return layer(inputs)
    kernel = ops.cast(layer.kernel, inputs.dtype)
    return bias_add(ops.matmul(inputs, kernel), ops.cast(layer.bias, inputs.dtype))
