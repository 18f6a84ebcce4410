"""The exact (erf) GELU, with hand-written gradients that keep only the GELU's input.

Differentiating `ops.gelu(x, approximate=False)` makes TensorFlow keep each intermediate
of `0.5 x (1 + erf(x / sqrt 2))` for the backward pass: four tensors of the MLP's hidden
size (the largest activations of a DeiT block) per block. The gradient
Phi(x) + x phi(x) needs only x, and recomputing it costs one erf and one exp.

`gelu_dense` goes one step further for the MLP's `fc2(gelu(hidden))`: the dense layer's
kernel gradient needs the GELU's output, which autodiff would keep beside its input (two
tensors of the hidden size per block). Recomputing the GELU in the backward pass from
`hidden` keeps one. On the distillation step of benchmarks/training_memory.py (DeiT-Ti,
batch 32) XLA's buffer assignment for the step fell from 1.18 to 1.00 GiB.

Example:
```python
import numpy as np
from keras_deit.layers.gelu import gelu_dense, gelu_exact
gelu_exact(np.array([-1.0, 0.0, 1.0], "float32"))  # [-0.1587, 0., 0.8413]
gelu_dense(np.ones((2, 4), "float32"), np.ones((4, 3), "float32"), np.zeros(3, "float32"))  # 3.3654 each
```
"""

import math

from keras import ops

from keras_deit.layers.token_sum import sum_over_tokens
from keras_deit.layers.upstream import upstream_gradient

_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _cdf(x):
    return 0.5 * (1.0 + ops.erf(x * _INV_SQRT_2))


def _slope(x, cdf):
    """d/dx x Phi(x) = Phi(x) + x phi(x)."""
    return cdf + x * ops.exp(-0.5 * ops.square(x)) * _INV_SQRT_2PI


@ops.custom_gradient
def gelu_exact(x):
    """x * Phi(x), Phi the standard normal CDF: `ops.gelu(x, approximate=False)`.

    Args:
        x: tensor of any shape, floating dtype.
    """

    def gradient(*args, upstream=None):
        return upstream_gradient(args, upstream) * _slope(x, _cdf(x))

    return ops.gelu(x, approximate=False), gradient


@ops.custom_gradient
def gelu_dense(hidden, kernel, bias):
    """`gelu_exact(hidden) @ kernel + bias`, keeping only `hidden` for the backward pass.

    Args:
        hidden: tensor (..., H), floating dtype.
        kernel: tensor (H, D), the dense layer's kernel in `hidden`'s dtype.
        bias: tensor (D,), its bias.
    """
    outputs = ops.matmul(ops.gelu(hidden, approximate=False), kernel) + bias

    def gradient(*args, upstream=None):
        upstream = upstream_gradient(args, upstream)
        # A dependency on the upstream gradient: without it XLA's and Grappler's common
        # subexpression elimination merge the recomputation with the forward's GELU and
        # keep its intermediates alive until here, the memory this op exists to save.
        recomputed = hidden + 0.0 * ops.cast(ops.reshape(upstream, (-1,))[0], hidden.dtype)
        cdf = _cdf(recomputed)
        activation = recomputed * cdf
        width, features = ops.shape(kernel)
        kernel_gradient = ops.matmul(
            ops.transpose(ops.reshape(activation, (-1, width))), ops.reshape(upstream, (-1, features))
        )
        bias_gradient = sum_over_tokens(upstream)
        hidden_gradient = ops.matmul(upstream, ops.transpose(kernel)) * _slope(recomputed, cdf)
        return hidden_gradient, kernel_gradient, bias_gradient

    return outputs, gradient
