"""The upstream gradient of a `keras.ops.custom_gradient` function, on every backend.

Example:
```python
from keras_deit.layers.upstream import upstream_gradient
upstream_gradient((2.0,), None), upstream_gradient((), upstream=3.0)  # (2.0, 3.0)
```
"""


def upstream_gradient(args, upstream):
    """The TensorFlow backend passes the upstream gradient positionally, JAX by keyword."""
    return args[0] if upstream is None else upstream
