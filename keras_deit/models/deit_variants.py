"""DeiTTiny / DeiTSmall / DeiTBase: the paper's sizes, keras.applications-style factories."""

from keras_deit.models.deit import DeiT

# DeiT paper, Table 1: all with patch 16, depth 12, MLP ratio 4, head width 64.
VARIANTS = {
    "tiny": dict(embed_dim=192, num_heads=3),
    "small": dict(embed_dim=384, num_heads=6),
    "base": dict(embed_dim=768, num_heads=12),
}


def build_variant(
    variant,
    *,
    distill=False,
    image_size=224,
    patch_size=16,
    num_classes=1000,
    include_top=True,
    pooling=None,
    weights=None,
    drop_path_rate=0.1,
    include_preprocessing=True,
    seed=None,
    name=None,
    dtype=None,
):
    """Builds a DeiT of one of the paper's sizes and loads `weights` (see `keras_deit.DeiT`).

    Example:
    ```python
    build_variant("tiny", distill=True, image_size=32, patch_size=8).name
    # 'deit_tiny_distilled_patch8_32'
    ```
    """
    if name is None:
        side = image_size if isinstance(image_size, int) else "x".join(map(str, image_size))
        name = f"deit_{variant}{'_distilled' if distill else ''}_patch{patch_size}_{side}"
    return DeiT(
        image_size=image_size,
        patch_size=patch_size,
        depth=12,
        mlp_ratio=4.0,
        distill=distill,
        num_classes=num_classes,
        include_top=include_top,
        pooling=pooling,
        include_preprocessing=include_preprocessing,
        drop_path_rate=drop_path_rate,
        seed=seed,
        name=name,
        dtype=dtype,
        weights=weights,
        **VARIANTS[variant],
    )


def DeiTTiny(**kwargs):
    """DeiT-Ti (5.7M parameters; 5.9M distilled), 72.2 / 74.5 (distilled) ImageNet top-1.

    Args:
        distill: bool. Add the distillation token and head.
        image_size: int or (int, int). Input size, divisible by `patch_size`.
        patch_size: int. Patch side.
        num_classes: int. Classes of the heads.
        include_top: bool. Classifier heads, or token features when False.
        pooling: None, "token" or "avg": pooling of the features with `include_top=False`.
        weights: None, "imagenet", a `.weights.h5` file or a timm / official checkpoint.
        drop_path_rate: float. Stochastic depth of the last block (official 0.1).
        include_preprocessing: bool. Take [0, 255] RGB and normalize inside.
        seed: int or None. Seed of stochastic depth.
        name: str. Model name (default like timm's, e.g. "deit_tiny_distilled_patch16_224").
        dtype: a Keras dtype policy, e.g. "mixed_bfloat16".

    Example:
    ```python
    import numpy as np, keras_deit
    model = keras_deit.DeiTTiny(distill=True, num_classes=10)
    model(np.zeros((1, 224, 224, 3), "float32")).shape  # (1, 10)
    ```
    """
    return build_variant("tiny", **kwargs)


def DeiTSmall(**kwargs):
    """DeiT-S (22.1M parameters; 22.4M distilled), 79.9 / 81.2 (distilled) ImageNet top-1.

    Arguments as `DeiTTiny`.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiTSmall(distill=True)
    ```
    """
    return build_variant("small", **kwargs)


def DeiTBase(**kwargs):
    """DeiT-B (86.6M parameters; 87.3M distilled), 81.8 / 83.4 (distilled) ImageNet top-1.

    Arguments as `DeiTTiny`; `image_size=384` gives the fine-tuned 384 models.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiTBase(distill=True, image_size=384)
    ```
    """
    return build_variant("base", **kwargs)
