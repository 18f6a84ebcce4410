"""The transformer MLP: Dense - exact GELU - Dense."""

import keras
from keras import ops

from keras_deit.layers.dense import dense, kernel_is_private
from keras_deit.layers.gelu import gelu_dense, gelu_exact
from keras_deit.layers.initializers import deit_normal


@keras.saving.register_keras_serializable(package="keras_deit")
class Mlp(keras.layers.Layer):
    """Two Dense layers around an exact (erf) GELU, as timm's `Mlp` (`fc1`, `fc2`).

    Args:
        hidden_dim: int. Width of the hidden layer (mlp_ratio * embed_dim).

    Example:
    ```python
    import numpy as np
    Mlp(hidden_dim=768)(np.zeros((2, 197, 192), "float32")).shape  # (2, 197, 192)
    ```
    """

    def __init__(self, *, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim

    def build(self, input_shape):
        dense = dict(kernel_initializer=deit_normal(), dtype=self.dtype_policy)
        self.fc1 = keras.layers.Dense(self.hidden_dim, name="fc1", **dense)
        self.fc2 = keras.layers.Dense(input_shape[-1], name="fc2", **dense)
        self.fc1.build(input_shape)
        self.fc2.build(tuple(input_shape[:-1]) + (self.hidden_dim,))

    def call(self, tokens):
        # The erf GELU of the official weights (not the tanh one), with gradients that
        # keep only its input (gelu.py): fc2 with the GELU in one op, unless fc2 is
        # quantized or has LoRA, whose kernels only the Dense layer itself knows.
        hidden = dense(self.fc1, tokens)
        if kernel_is_private(self.fc2):
            return self.fc2(gelu_exact(hidden))
        kernel = ops.cast(self.fc2.kernel, hidden.dtype)
        return gelu_dense(hidden, kernel, ops.cast(self.fc2.bias, hidden.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim)
        return config
