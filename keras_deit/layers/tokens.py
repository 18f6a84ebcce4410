"""The class token and, for distilled models, the distillation token."""

import keras
from keras import ops

from keras_deit.layers.initializers import deit_normal


@keras.saving.register_keras_serializable(package="keras_deit")
class PrefixTokens(keras.layers.Layer):
    """Prepends the learned class token and (with `distill`) the distillation token.

    Output order is `[cls, dist, patch_1, ..., patch_N]`, as the official DeiT: the
    classifier reads token 0, the distillation classifier token 1.

    Args:
        distill: bool. Add the distillation token after the class token.

    Example:
    ```python
    import numpy as np
    tokens = PrefixTokens(distill=True)
    tokens(np.zeros((2, 196, 192), "float32")).shape  # (2, 198, 192)
    ```
    """

    def __init__(self, *, distill=False, **kwargs):
        super().__init__(**kwargs)
        self.distill = distill

    @property
    def num_tokens(self):
        return 2 if self.distill else 1

    def build(self, input_shape):
        embed_dim = input_shape[-1]
        self.cls_token = self.add_weight(
            shape=(1, 1, embed_dim), initializer=deit_normal(), name="cls_token"
        )
        self.dist_token = None
        if self.distill:
            self.dist_token = self.add_weight(
                shape=(1, 1, embed_dim), initializer=deit_normal(), name="dist_token"
            )

    def call(self, patch_tokens):
        batch = ops.shape(patch_tokens)[0]
        prefix = [self.cls_token] + ([self.dist_token] if self.distill else [])
        prefix = [
            ops.broadcast_to(ops.cast(token, patch_tokens.dtype), (batch, 1, token.shape[-1]))
            for token in prefix
        ]
        return ops.concatenate(prefix + [patch_tokens], axis=1)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else input_shape[1] + self.num_tokens
        return (input_shape[0], length, input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update(distill=self.distill)
        return config
