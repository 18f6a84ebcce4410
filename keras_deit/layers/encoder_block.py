"""The pre-norm transformer encoder block of ViT / DeiT."""

import keras

from keras_deit.layers.attention import MultiHeadSelfAttention
from keras_deit.layers.drop_path import DropPath
from keras_deit.layers.layer_norm import LayerNorm
from keras_deit.layers.mlp import Mlp

LAYER_NORM_EPSILON = 1e-6  # timm's ViT LayerNorm; Keras' default 1e-3 would differ.


@keras.saving.register_keras_serializable(package="keras_deit")
class EncoderBlock(keras.layers.Layer):
    """`x + drop_path(attn(norm1(x)))`, then `x + drop_path(mlp(norm2(x)))`.

    Args:
        num_heads: int. Attention heads.
        mlp_ratio: float. MLP hidden width over token width.
        drop_path_rate: float. Stochastic depth rate of this block.
        seed: int or None. Seed of the stochastic depth draws.

    Example:
    ```python
    import numpy as np
    block = EncoderBlock(num_heads=3, mlp_ratio=4.0, drop_path_rate=0.1)
    block(np.zeros((2, 197, 192), "float32"), training=True).shape  # (2, 197, 192)
    ```
    """

    def __init__(self, *, num_heads, mlp_ratio=4.0, drop_path_rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.drop_path_rate = drop_path_rate
        self.seed = seed
        self.drop_path = DropPath(rate=drop_path_rate, seed=seed, dtype=self.dtype_policy, name="drop_path")

    def build(self, input_shape):
        embed_dim = input_shape[-1]
        norm = dict(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy)
        self.norm1 = LayerNorm(name="norm1", **norm)
        self.attn = MultiHeadSelfAttention(num_heads=self.num_heads, dtype=self.dtype_policy, name="attn")
        self.norm2 = LayerNorm(name="norm2", **norm)
        self.mlp = Mlp(hidden_dim=int(embed_dim * self.mlp_ratio), dtype=self.dtype_policy, name="mlp")
        for layer in (self.norm1, self.attn, self.norm2, self.mlp):
            layer.build(input_shape)

    def call(self, x, training=None):
        x = x + self.drop_path(self.attn(self.norm1(x)), training=training)
        x = x + self.drop_path(self.mlp(self.norm2(x)), training=training)
        return x

    def attention_scores(self, x):
        """Attention probabilities (batch, heads, tokens, tokens) of this block on input `x`."""
        return self.attn(self.norm1(x), return_attention_scores=True)[1]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            mlp_ratio=self.mlp_ratio,
            drop_path_rate=self.drop_path_rate,
            seed=self.seed,
        )
        return config
