"""The DeiT model: ViT encoder with a class token and, distilled, a distillation token."""

import keras
from keras import ops

from keras_deit.layers.encoder_block import LAYER_NORM_EPSILON, EncoderBlock
from keras_deit.layers.image_normalization import ImageNormalization
from keras_deit.layers.initializers import deit_normal
from keras_deit.layers.layer_norm import LayerNorm
from keras_deit.layers.patch_embedding import PatchEmbedding
from keras_deit.layers.position_embedding import PositionEmbedding
from keras_deit.layers.tokens import PrefixTokens
from keras_deit.weights.deit import check_weights_argument, load_deit_weights
from keras_deit.weights.official import official_deit_for

POOLINGS = (None, "token", "avg")


def _as_pair(value, name):
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(side, int) and side > 0 for side in pair):
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}.")
    return pair


@keras.saving.register_keras_serializable(package="keras_deit")
class DeiT(keras.Model):
    """Data-efficient image Transformer (Touvron et al. 2021), timm's architecture and names.

    Takes RGB images, float, values in [0, 255], NHWC (like keras.applications); with
    `include_preprocessing` the ImageNet mean / std normalization happens inside.
    `model(images)` returns float32 logits (batch, num_classes): for a distilled model the
    mean of the class head and the distillation head, as the paper evaluates.
    `model.heads(images)` returns both heads. The output structure never depends on
    `training`. With `include_top=False`, `model(images)` returns the normalized token
    features (batch, prefix tokens + patches, embed_dim), or pooled (batch, embed_dim).
    Like timm's model it owns its fine-tuning knowledge: `reset_classifier(num_classes)`
    and `no_weight_decay()`.

    Args:
        image_size: int or (int, int). Input height and width; divisible by `patch_size`.
        patch_size: int. Side of the square patches.
        embed_dim: int. Token width.
        depth: int. Number of encoder blocks.
        num_heads: int. Attention heads; must divide `embed_dim`.
        mlp_ratio: float. MLP hidden width over `embed_dim`.
        distill: bool. Add the distillation token and its head (`head_dist`).
        num_classes: int. Classes of the heads.
        include_top: bool. Add the classifier heads.
        pooling: None, "token" or "avg", only with `include_top=False`. None: all token
            features. "token": the class token's features (distilled: the mean of the class
            and distillation tokens, what the heads see). "avg": the mean of the patch
            tokens' features (prefix tokens excluded).
        weights: None (random initialization), "imagenet" (the official checkpoint; the
            architecture must be an official one, checked before any download), a Keras
            `.weights.h5` file, or a timm / official checkpoint (`.pth`, `.pt`, `.bin`,
            `.safetensors`; position embedding interpolated to `image_size`). Not part
            of `get_config`, as in keras.applications.
        include_preprocessing: bool. Normalize [0, 255] inputs inside the model.
        drop_path_rate: float. Stochastic depth of the last block; it rises linearly
            from 0 at the first block (the official rule).
        seed: int or None. Seed of the stochastic depth draws.

    Example:
    ```python
    import numpy as np, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, distill=True, num_classes=10)
    images = np.random.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model(images).shape  # (4, 10)
    cls_logits, dist_logits = model.heads(images)
    ```
    """

    def __init__(
        self,
        *,
        image_size=224,
        patch_size=16,
        embed_dim=192,
        depth=12,
        num_heads=3,
        mlp_ratio=4.0,
        distill=False,
        num_classes=1000,
        include_top=True,
        pooling=None,
        weights=None,
        include_preprocessing=True,
        drop_path_rate=0.0,
        seed=None,
        **kwargs,
    ):
        image_size = _as_pair(image_size, "image_size")
        patch_size_pair = _as_pair(patch_size, "patch_size")
        if patch_size_pair[0] != patch_size_pair[1]:
            raise ValueError(f"patch_size must be square, got {patch_size!r}.")
        patch_size = patch_size_pair[0]
        if image_size[0] % patch_size or image_size[1] % patch_size:
            raise ValueError(
                f"image_size {image_size[0]}x{image_size[1]} is not divisible by "
                f"patch_size {patch_size}."
            )
        for name, value in (("embed_dim", embed_dim), ("depth", depth), ("num_heads", num_heads)):
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}.")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}.")
        if mlp_ratio <= 0:
            raise ValueError(f"mlp_ratio must be positive, got {mlp_ratio!r}.")
        if include_top and (not isinstance(num_classes, int) or num_classes <= 0):
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}.")
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f"drop_path_rate must be in [0, 1), got {drop_path_rate!r}.")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be None, 'token' or 'avg', got {pooling!r}.")
        if include_top and pooling is not None:
            raise ValueError("pooling applies only with include_top=False (the heads read the tokens).")
        check_weights_argument(weights)
        if weights == "imagenet":
            # Before building: an unofficial architecture fails at once, nothing downloaded.
            official_deit_for(
                embed_dim=embed_dim, depth=depth, num_heads=num_heads, patch_size=patch_size,
                mlp_ratio=mlp_ratio, distill=distill, image_size=image_size,
                include_top=include_top, num_classes=num_classes,
            )
        if kwargs.get("name") is None:
            kwargs["name"] = "deit"
        # No autocast: raw [0, 255] pixels reach ImageNormalization in float32.
        super().__init__(autocast=False, **kwargs)
        self.image_size = image_size
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.distill = distill
        self.num_classes = num_classes
        self.include_top = include_top
        self.pooling = pooling
        self.include_preprocessing = include_preprocessing
        self.drop_path_rate = drop_path_rate
        self.seed = seed

        policy = self.dtype_policy
        self.preprocessing = (
            ImageNormalization(name="preprocessing") if include_preprocessing else None
        )
        self.patch_embed = PatchEmbedding(
            patch_size=patch_size, embed_dim=embed_dim, dtype=policy, name="patch_embed"
        )
        self.tokens = PrefixTokens(distill=distill, dtype=policy, name="tokens")
        self.grid_size = (image_size[0] // patch_size, image_size[1] // patch_size)
        self.pos_embed = PositionEmbedding(
            grid_size=self.grid_size,
            num_prefix_tokens=self.tokens.num_tokens,
            dtype=policy,
            name="pos_embed",
        )
        self.blocks = [
            EncoderBlock(
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                # The official linear rule: 0 at the first block, drop_path_rate at the last.
                drop_path_rate=drop_path_rate * index / max(depth - 1, 1),
                seed=None if seed is None else seed + index,
                dtype=policy,
                name=f"blocks_{index}",
            )
            for index in range(depth)
        ]
        self.norm = LayerNorm(
            epsilon=LAYER_NORM_EPSILON, dtype=policy, name="norm"
        )
        self.head, self.head_dist = self._new_heads(num_classes) if include_top else (None, None)
        self.build((None, image_size[0], image_size[1], 3))
        load_deit_weights(self, weights)

    def _new_heads(self, num_classes):
        dense = dict(kernel_initializer=deit_normal(), dtype=self.dtype_policy)
        head = keras.layers.Dense(num_classes, name="head", **dense)
        head_dist = keras.layers.Dense(num_classes, name="head_dist", **dense) if self.distill else None
        return head, head_dist

    @property
    def num_prefix_tokens(self):
        """1 (class token) or 2 (class and distillation tokens)."""
        return self.tokens.num_tokens

    def build(self, input_shape):
        if self.built:
            return
        input_shape = tuple(input_shape)
        if input_shape[1:] != (self.image_size[0], self.image_size[1], 3):
            raise ValueError(
                f"This DeiT takes images of shape (batch, {self.image_size[0]}, "
                f"{self.image_size[1]}, 3), got {input_shape}."
            )
        if self.preprocessing is not None:
            self.preprocessing.build(input_shape)
        self.patch_embed.build(input_shape)
        num_patches = self.grid_size[0] * self.grid_size[1]
        token_shape = (None, num_patches, self.embed_dim)
        self.tokens.build(token_shape)
        token_shape = (None, num_patches + self.num_prefix_tokens, self.embed_dim)
        self.pos_embed.build(token_shape)
        for block in self.blocks:
            block.build(token_shape)
        self.norm.build(token_shape)
        for head in (self.head, self.head_dist):
            if head is not None:
                head.build((None, self.embed_dim))
        self.built = True

    def _check_images(self, images):
        shape = tuple(images.shape[1:])
        if shape != (self.image_size[0], self.image_size[1], 3):
            raise ValueError(
                f"This DeiT takes images of shape (batch, {self.image_size[0]}, "
                f"{self.image_size[1]}, 3) with RGB values in [0, 255]; got shape "
                f"{tuple(images.shape)}. Build a model with image_size={shape[:2]} (weights "
                "load with the position embedding interpolated) or resize the images."
            )

    def _tokens_in(self, images):
        self._check_images(images)
        x = self.preprocessing(images) if self.preprocessing is not None else images
        return self.pos_embed(self.tokens(self.patch_embed(x)))

    def features(self, images, training=False):
        """Token features after the final norm: (batch, prefix tokens + patches, embed_dim)."""
        x = self._tokens_in(images)
        for block in self.blocks:
            x = block(x, training=training)
        return self.norm(x)

    def attention_scores(self, images):
        """Attention probabilities of every block: a list of (batch, heads, tokens, tokens).

        For attention maps and rollout; inference mode.

        Example:
        ```python
        scores = model.attention_scores(images)
        cls_to_patches = scores[-1][:, :, 0, model.num_prefix_tokens:]
        ```
        """
        x = self._tokens_in(images)
        scores = []
        for block in self.blocks:
            scores.append(block.attention_scores(x))
            x = block(x, training=False)
        return scores

    def heads(self, images, training=False):
        """`(cls_logits, dist_logits)`, float32, each (batch, num_classes).

        For a model without distillation token both are the class head's logits (the
        class token then serves both loss terms, the paper's "usual distillation").
        """
        if not self.include_top:
            raise ValueError("heads() needs the classifier: build the model with include_top=True.")
        tokens = self.features(images, training=training)
        cls_logits = ops.cast(self.head(tokens[:, 0]), "float32")
        if not self.distill:
            return cls_logits, cls_logits
        dist_logits = ops.cast(self.head_dist(tokens[:, 1]), "float32")
        return cls_logits, dist_logits

    def pool(self, tokens):
        """Pools token features `(batch, tokens, D)` to `(batch, D)` by `self.pooling`.

        Example:
        ```python
        model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=1,
                                num_heads=2, include_top=False, pooling="avg")
        model.pool(model.features(images)).shape  # (batch, 32)
        ```
        """
        if self.pooling == "avg":
            return ops.mean(tokens[:, self.num_prefix_tokens :], axis=1)
        if self.distill:
            return (tokens[:, 0] + tokens[:, 1]) / 2.0
        return tokens[:, 0]

    def reset_classifier(self, num_classes):
        """Replaces the heads by fresh ones for `num_classes`; the trunk keeps its weights.

        As timm's `reset_classifier`: for fine-tuning on another label set. Compile (again)
        after calling it.

        Args:
            num_classes: int. Classes of the new heads.

        Returns:
            tuple of the new Dense layers: `(head,)`, or `(head, head_dist)` when distilled.

        Example:
        ```python
        model = keras_deit.DeiTTiny(distill=True, weights="imagenet")
        model.reset_classifier(10)
        model.heads(images)[0].shape  # (batch, 10)
        ```
        """
        if not self.include_top:
            raise ValueError("reset_classifier() needs a model with heads (include_top=True).")
        if not isinstance(num_classes, int) or num_classes <= 0:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}.")
        new_heads = self._new_heads(num_classes)
        # A built Keras layer locks its state; Keras' own in-place edits (quantize, LoRA)
        # unlock it the same way to swap sublayers.
        self._tracker.unlock()
        try:
            for name, new in zip(("head", "head_dist"), new_heads):
                old = getattr(self, name)
                if old is not None:
                    self._tracker.untrack(old)
                setattr(self, name, new)
                if new is not None:
                    # Under the model's scope: paths stay "<model>/head/kernel" as at build time.
                    with keras.name_scope(self.name):
                        new.build((None, self.embed_dim))
        finally:
            self._tracker.lock()
        self.num_classes = num_classes
        return tuple(head for head in new_heads if head is not None)

    def no_weight_decay(self):
        """Paths of the variables trained without weight decay, as the official optimizer groups.

        timm's `no_weight_decay()` (pos_embed, cls_token, dist_token) plus what its
        `param_groups_weight_decay` leaves undecayed: biases and every 1-D variable (LayerNorm
        scales and offsets).

        Returns:
            set of str: `variable.path` of each such trainable variable.

        Example:
        ```python
        skip = model.no_weight_decay()
        optimizer.exclude_from_weight_decay(
            var_list=[v for v in model.trainable_variables if v.path in skip])
        ```
        """
        tables = {self.pos_embed.pos_embed.path, self.tokens.cls_token.path}
        if self.distill:
            tables.add(self.tokens.dist_token.path)
        return {
            variable.path
            for variable in self.trainable_variables
            if variable.path in tables or len(variable.shape) <= 1
        }

    def call(self, images, training=None):
        if not self.include_top:
            tokens = self.features(images, training=training)
            return tokens if self.pooling is None else self.pool(tokens)
        cls_logits, dist_logits = self.heads(images, training=training)
        if not self.distill:
            return cls_logits
        return (cls_logits + dist_logits) / 2.0

    def compute_output_shape(self, input_shape):
        if self.include_top:
            return (input_shape[0], self.num_classes)
        if self.pooling is not None:
            return (input_shape[0], self.embed_dim)
        tokens = self.grid_size[0] * self.grid_size[1] + self.num_prefix_tokens
        return (input_shape[0], tokens, self.embed_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            image_size=self.image_size,
            patch_size=self.patch_size,
            embed_dim=self.embed_dim,
            depth=self.depth,
            num_heads=self.num_heads,
            mlp_ratio=self.mlp_ratio,
            distill=self.distill,
            num_classes=self.num_classes,
            include_top=self.include_top,
            pooling=self.pooling,
            include_preprocessing=self.include_preprocessing,
            drop_path_rate=self.drop_path_rate,
            seed=self.seed,
        )
        return config
