"""Multi-head self-attention with a fused qkv projection (timm's `Attention`)."""

import keras
from keras import ops

from keras_deit.layers.dense import dense
from keras_deit.layers.initializers import deit_normal
from keras_deit.layers.scaled_dot_product import scaled_dot_product_attention


@keras.saving.register_keras_serializable(package="keras_deit")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Self-attention over tokens: one fused `qkv` Dense, scaled dot product, `proj` Dense.

    The scaled dot product is `keras_deit.layers.scaled_dot_product`'s, whose softmax
    always runs in float32, also under `mixed_float16` / `mixed_bfloat16`.

    Args:
        num_heads: int. Number of attention heads; must divide the token width.

    Example:
    ```python
    import numpy as np
    layer = MultiHeadSelfAttention(num_heads=3)
    tokens = np.random.rand(2, 197, 192).astype("float32")
    layer(tokens).shape  # (2, 197, 192)
    _, scores = layer(tokens, return_attention_scores=True)
    scores.shape  # (2, 3, 197, 197)
    ```
    """

    def __init__(self, *, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads

    def build(self, input_shape):
        embed_dim = input_shape[-1]
        if embed_dim % self.num_heads:
            raise ValueError(
                f"embed_dim {embed_dim} is not divisible by num_heads {self.num_heads}."
            )
        self.head_dim = embed_dim // self.num_heads
        self.scale = self.head_dim**-0.5
        dense = dict(kernel_initializer=deit_normal(), dtype=self.dtype_policy)
        self.qkv = keras.layers.Dense(3 * embed_dim, name="qkv", **dense)
        self.proj = keras.layers.Dense(embed_dim, name="proj", **dense)
        self.qkv.build(input_shape)
        self.proj.build(input_shape)

    def call(self, tokens, return_attention_scores=False):
        batch, length = ops.shape(tokens)[0], ops.shape(tokens)[1]
        qkv = ops.reshape(dense(self.qkv, tokens), (batch, length, 3, self.num_heads, self.head_dim))
        # (batch, length, heads, head_dim) each.
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        context, scores = scaled_dot_product_attention(query, key, value, scale=self.scale)
        output = dense(self.proj, ops.reshape(context, (batch, length, self.num_heads * self.head_dim)))
        return (output, scores) if return_attention_scores else output

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads)
        return config
