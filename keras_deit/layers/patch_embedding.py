"""Patch embedding: non-overlapping patches projected to tokens (ViT / DeiT stem)."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_deit")
class PatchEmbedding(keras.layers.Layer):
    """Cuts an image into `patch_size` squares and projects each to `embed_dim`.

    A Conv2D with kernel = stride = patch size, no padding, with bias: the official
    `patch_embed.proj`. Output tokens are in row-major patch order, as in timm.

    Args:
        patch_size: int. Side of the square patches.
        embed_dim: int. Width of the tokens.

    Example:
    ```python
    import numpy as np
    layer = PatchEmbedding(patch_size=16, embed_dim=192)
    layer(np.zeros((2, 224, 224, 3), "float32")).shape  # (2, 196, 192)
    ```
    """

    def __init__(self, *, patch_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        # PyTorch's default Conv2d init (kaiming_uniform with a=sqrt(5)), as the official code.
        self.proj = keras.layers.Conv2D(
            embed_dim,
            kernel_size=patch_size,
            strides=patch_size,
            padding="valid",
            kernel_initializer=keras.initializers.VarianceScaling(1.0 / 3.0, "fan_in", "uniform"),
            dtype=self.dtype_policy,
            name="proj",
        )

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        for side in (height, width):
            if side is not None and side % self.patch_size:
                raise ValueError(
                    f"Image size {height}x{width} is not divisible by patch_size {self.patch_size}."
                )
        self.proj.build(input_shape)

    def call(self, images):
        patches = self.proj(images)
        batch = ops.shape(patches)[0]
        return ops.reshape(patches, (batch, -1, self.embed_dim))

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            return (input_shape[0], None, self.embed_dim)
        return (input_shape[0], (height // self.patch_size) * (width // self.patch_size), self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(patch_size=self.patch_size, embed_dim=self.embed_dim)
        return config
