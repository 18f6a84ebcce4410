"""Learned absolute position embedding of the prefix and patch tokens."""

import keras
from keras import ops

from keras_deit.layers.initializers import deit_normal


@keras.saving.register_keras_serializable(package="keras_deit")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding to `[prefix tokens, patch tokens]`.

    One table of shape (1, num_prefix_tokens + h * w, D), added once before the blocks,
    as the official DeiT (`pos_embed`). `keras_deit.weights.position_embedding` carries a
    table to another grid when a checkpoint of another resolution is loaded.

    Args:
        grid_size: (int, int). Patch grid (image size // patch size).
        num_prefix_tokens: int. Tokens before the patches (1, or 2 with distillation).

    Example:
    ```python
    import numpy as np
    layer = PositionEmbedding(grid_size=(14, 14), num_prefix_tokens=1)
    layer(np.zeros((2, 197, 192), "float32")).shape  # (2, 197, 192)
    ```
    """

    def __init__(self, *, grid_size, num_prefix_tokens, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(int(side) for side in grid_size)
        self.num_prefix_tokens = num_prefix_tokens

    @property
    def sequence_length(self):
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    def build(self, input_shape):
        if input_shape[1] is not None and input_shape[1] != self.sequence_length:
            raise ValueError(
                f"PositionEmbedding expects {self.sequence_length} tokens "
                f"({self.num_prefix_tokens} prefix + {self.grid_size[0]}x{self.grid_size[1]} "
                f"patches), got {input_shape[1]}."
            )
        self.pos_embed = self.add_weight(
            shape=(1, self.sequence_length, input_shape[-1]),
            initializer=deit_normal(),
            name="pos_embed",
        )

    def call(self, tokens):
        return tokens + ops.cast(self.pos_embed, tokens.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(grid_size=self.grid_size, num_prefix_tokens=self.num_prefix_tokens)
        return config
