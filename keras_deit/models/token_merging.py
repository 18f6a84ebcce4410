"""A DeiT that merges tokens as it goes (ToMe, Bolya et al. 2023), for faster inference."""

import numbers

import keras
from keras import ops

from keras_deit.layers.token_merging import max_merges, token_merging_block
from keras_deit.models.deit import DeiT


def _merge_schedule(r, depth):
    """r as one non-negative int per block; a clear error for anything else."""
    def is_count(value):
        return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0

    if is_count(r):
        return [int(r)] * depth
    if isinstance(r, (list, tuple)) and len(r) == depth and all(is_count(value) for value in r):
        return [int(value) for value in r]
    raise ValueError(
        f"r must be a non-negative int or a list of {depth} of them (one per block), got {r!r}."
    )


@keras.saving.register_keras_serializable(package="keras_deit")
class TokenMergingDeiT(keras.Model):
    """A `DeiT` run with token merging (ToMe): `r` tokens fewer after each block.

    The DeiT's own layers and weights (shared, not copied) with ToMe's bipartite soft
    matching, size-weighted merges and proportional attention
    (`keras_deit.layers.token_merging`); the class and distillation tokens are never
    merged. The call contract is the DeiT's: RGB images in [0, 255] to float32 logits,
    for a distilled model the mean of both heads; `features` returns the merged tokens.
    Inference only. `r` is clipped per block to half the unprotected tokens, as ToMe does;
    `merge_schedule` holds what each block merges and `token_counts` the tokens after it.

    Args:
        deit: a `keras_deit.DeiT`.
        r: int, or list of ints one per block. Tokens each block merges away; 0 is the
            unchanged DeiT.

    Example:
    ```python
    import numpy as np, keras_deit
    from keras_deit.models.token_merging import TokenMergingDeiT
    deit = keras_deit.DeiT(image_size=32, patch_size=4, embed_dim=64, depth=4,
                           num_heads=2, distill=True, num_classes=10)
    model = TokenMergingDeiT(deit=deit, r=8)
    model.token_counts  # [58, 50, 42, 34]
    images = np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model(images).shape  # (2, 10)
    model.save("deit_tome.keras")
    ```
    """

    def __init__(self, *, deit, r, **kwargs):
        if not isinstance(deit, DeiT):
            raise ValueError(f"deit must be a keras_deit.DeiT, got {type(deit).__name__}.")
        schedule = _merge_schedule(r, deit.depth)
        if kwargs.get("name") is None:
            kwargs["name"] = f"{deit.name}_tome"
        # The DeiT's dtype policy; no autocast: [0, 255] pixels reach it unchanged.
        super().__init__(dtype=deit.dtype_policy, autocast=False, **kwargs)
        self.deit = deit
        self.r = int(r) if isinstance(r, numbers.Integral) else list(schedule)
        tokens = deit.grid_size[0] * deit.grid_size[1] + deit.num_prefix_tokens
        self.merge_schedule, self.token_counts = [], []
        for block_r in schedule:
            block_r = min(block_r, max_merges(tokens, deit.num_prefix_tokens))
            tokens -= block_r
            self.merge_schedule.append(block_r)
            self.token_counts.append(tokens)
        self.built = True

    def _check(self, images, training):
        if training:
            raise ValueError("TokenMergingDeiT is for inference: call it with training=False.")
        expected = (self.deit.image_size[0], self.deit.image_size[1], 3)
        if tuple(images.shape[1:]) != expected:
            raise ValueError(
                f"This model takes images of shape (batch, {expected[0]}, {expected[1]}, 3) "
                f"with RGB values in [0, 255]; got shape {tuple(images.shape)}."
            )

    def _merged_tokens(self, images, track_sources=False):
        """(tokens after the last block before the norm, sources or None)."""
        deit = self.deit
        x = images if deit.preprocessing is None else deit.preprocessing(images)
        x = deit.pos_embed(deit.tokens(deit.patch_embed(x)))
        sources = None
        if track_sources:
            length = x.shape[1]
            sources = ops.broadcast_to(ops.eye(length, dtype="float32"), (ops.shape(x)[0], length, length))
        sizes = None
        for block, block_r in zip(deit.blocks, self.merge_schedule):
            x, sizes, matching = token_merging_block(
                block, x, sizes, r=block_r, num_protected=deit.num_prefix_tokens
            )
            if track_sources and matching is not None:
                # Each source patch belongs to exactly one token: summing the 0 / 1 rows
                # of merged tokens is their union.
                sources = matching.merge(sources)
        return x, sources

    def features(self, images, training=False):
        """Merged token features after the final norm: (batch, token_counts[-1], embed_dim)."""
        self._check(images, training)
        return self.deit.norm(self._merged_tokens(images)[0])

    def heads(self, images, training=False):
        """`(cls_logits, dist_logits)`, float32, each (batch, num_classes), as `DeiT.heads`."""
        deit = self.deit
        if not deit.include_top:
            raise ValueError("heads() needs the classifier: build the DeiT with include_top=True.")
        tokens = self.features(images, training=training)
        cls_logits = ops.cast(deit.head(tokens[:, 0]), "float32")
        if not deit.distill:
            return cls_logits, cls_logits
        return cls_logits, ops.cast(deit.head_dist(tokens[:, 1]), "float32")

    def merge_sources(self, images):
        """Which input tokens each final token merges: float32 0 / 1 (batch, final, input tokens).

        Row i is token i after the last block, column j the j-th input token (prefix
        tokens, then patches in row-major order); rows sum to the tokens' sizes.

        Example:
        ```python
        sources = model.merge_sources(images)
        groups = sources[:, model.deit.num_prefix_tokens:, model.deit.num_prefix_tokens:]
        ```
        """
        self._check(images, False)
        return self._merged_tokens(images, track_sources=True)[1]

    def call(self, images, training=None):
        if not self.deit.include_top:
            return self.features(images, training=training)
        cls_logits, dist_logits = self.heads(images, training=training)
        if not self.deit.distill:
            return cls_logits
        return (cls_logits + dist_logits) / 2.0

    def compute_output_shape(self, input_shape):
        if self.deit.include_top:
            return (input_shape[0], self.deit.num_classes)
        return (input_shape[0], self.token_counts[-1], self.deit.embed_dim)

    def get_config(self):
        return {
            "deit": keras.saving.serialize_keras_object(self.deit),
            "r": self.r,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["deit"] = keras.saving.deserialize_keras_object(config["deit"])
        return cls(**config)


def merge_tokens(model, r):
    """`model` (a `keras_deit.DeiT`) with token merging: a `TokenMergingDeiT` sharing its weights.

    Args:
        model: `keras_deit.DeiT`.
        r: int, or list of ints one per block. Tokens each block merges away
            (ToMe's r; 0 keeps the exact DeiT).

    Returns:
        A `TokenMergingDeiT`; it saves to and loads from `.keras` in safe mode.

    Example:
    ```python
    import keras_deit
    from keras_deit.models.token_merging import merge_tokens
    fast = merge_tokens(keras_deit.DeiTSmall(), r=16)
    fast.token_counts[-1]  # 11: 16 fewer per block, the last block clipped to 10
    ```
    """
    return TokenMergingDeiT(deit=model, r=r)
