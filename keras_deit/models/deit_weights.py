"""Loading weights into DeiT models: Keras weights files and official / timm checkpoints."""

import math
import os

from keras_deit.checkpoints import (
    assign_state_dict,
    is_torch_checkpoint,
    read_state_dict,
    torch_conv_kernel,
    torch_dense_kernel,
)
from keras_deit.layers.position_embedding import resize_position_embedding

_OFFICIAL_URL = "https://dl.fbaipublicfiles.com/deit/"

# The official ImageNet-1k checkpoints (facebookresearch/deit README), keyed by
# (embed_dim, distill, image_size).
OFFICIAL_CHECKPOINTS = {
    (192, False, 224): "deit_tiny_patch16_224-a1311bcf.pth",
    (384, False, 224): "deit_small_patch16_224-cd65a155.pth",
    (768, False, 224): "deit_base_patch16_224-b5f2ef4d.pth",
    (192, True, 224): "deit_tiny_distilled_patch16_224-b40b3cf7.pth",
    (384, True, 224): "deit_small_distilled_patch16_224-649709d9.pth",
    (768, True, 224): "deit_base_distilled_patch16_224-df68dfff.pth",
    (768, False, 384): "deit_base_patch16_384-8de9b5d1.pth",
    (768, True, 384): "deit_base_distilled_patch16_384-d0272ac0.pth",
}


def official_checkpoint_name(model):
    """The official checkpoint file for `model`'s architecture.

    A model at another resolution gets the checkpoint of the nearest official
    resolution (384 for sizes of 384 and up where one exists, else 224); its position
    embedding is interpolated on load.
    """
    if model.patch_size != 16 or model.depth != 12 or model.mlp_ratio != 4.0:
        raise ValueError(
            'weights="imagenet" exists only for the official DeiT Ti/S/B with patch 16.'
        )
    if model.include_top and model.num_classes != 1000:
        raise ValueError(
            'weights="imagenet" with include_top=True needs num_classes=1000, got '
            f"{model.num_classes}; use include_top=False to fine-tune on other classes."
        )
    resolution = 384 if min(model.image_size) >= 384 else 224
    key = (model.embed_dim, model.distill, resolution)
    if key not in OFFICIAL_CHECKPOINTS:
        key = (model.embed_dim, model.distill, 224)
    if key not in OFFICIAL_CHECKPOINTS:
        raise ValueError(f"No official checkpoint for embed_dim={model.embed_dim}.")
    return OFFICIAL_CHECKPOINTS[key]


def timm_assignments(model):
    """`(timm tensor name, Keras variable, transform)` for every weight of a DeiT."""

    def dense(prefix, layer):
        return [
            (f"{prefix}.weight", layer.kernel, torch_dense_kernel),
            (f"{prefix}.bias", layer.bias, None),
        ]

    def norm(prefix, layer):
        return [(f"{prefix}.weight", layer.gamma, None), (f"{prefix}.bias", layer.beta, None)]

    def pos_embed(table):
        return _fit_position_embedding(table, model)

    proj = model.patch_embed.proj
    assignments = [
        ("patch_embed.proj.weight", proj.kernel, torch_conv_kernel),
        ("patch_embed.proj.bias", proj.bias, None),
        ("cls_token", model.tokens.cls_token, None),
        ("pos_embed", model.pos_embed.pos_embed, pos_embed),
    ]
    if model.distill:
        assignments.append(("dist_token", model.tokens.dist_token, None))
    for index, block in enumerate(model.blocks):
        prefix = f"blocks.{index}"
        assignments += norm(f"{prefix}.norm1", block.norm1)
        assignments += dense(f"{prefix}.attn.qkv", block.attn.qkv)
        assignments += dense(f"{prefix}.attn.proj", block.attn.proj)
        assignments += norm(f"{prefix}.norm2", block.norm2)
        assignments += dense(f"{prefix}.mlp.fc1", block.mlp.fc1)
        assignments += dense(f"{prefix}.mlp.fc2", block.mlp.fc2)
    assignments += norm("norm", model.norm)
    if model.include_top:
        assignments += dense("head", model.head)
        if model.distill:
            assignments += dense("head_dist", model.head_dist)
    return assignments


def _fit_position_embedding(table, model):
    """Interpolates a checkpoint's square position grid to the model's grid if they differ."""
    prefix = model.num_prefix_tokens
    target_grid = model.grid_size
    if table.ndim != 3 or table.shape[1] == prefix + target_grid[0] * target_grid[1]:
        return table
    side = math.isqrt(table.shape[1] - prefix)
    if side * side != table.shape[1] - prefix:
        return table  # not a square grid: assign_state_dict reports the shape mismatch
    return resize_position_embedding(
        table, num_prefix_tokens=prefix, source_grid=(side, side), target_grid=target_grid
    )


def load_deit_weights(model, weights):
    """Loads `weights` into a DeiT model, in place.

    Args:
        model: a `keras_deit.DeiT`.
        weights: None (keep the random initialization), `"imagenet"` (download the
            official checkpoint for this architecture), a Keras weights file
            (`*.weights.h5`), or an official / timm checkpoint (`.pth`, `.pt`, `.bin`,
            `.safetensors`) converted by tensor name. A checkpoint trained at another
            resolution is loaded with its position embedding interpolated bicubically,
            as the official fine-tuning code does. With `include_top=False` the
            checkpoint's heads are ignored.

    Example:
    ```python
    model = keras_deit.DeiTTiny(distill=True)
    load_deit_weights(model, "deit_tiny_distilled_patch16_224-b40b3cf7.pth")
    ```
    """
    if weights is None:
        return model
    weights = os.fspath(weights)
    if weights == "imagenet":
        import keras

        name = official_checkpoint_name(model)
        weights = keras.utils.get_file(name, _OFFICIAL_URL + name, cache_subdir="keras_deit")
    if weights.endswith(".weights.h5"):
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"Weights file not found: {weights!r}")
        model.load_weights(weights)
        return model
    if not is_torch_checkpoint(weights):
        raise ValueError(
            f"weights must be None, 'imagenet', a Keras '.weights.h5' file or a timm / "
            f"official checkpoint (.pth, .pt, .bin, .safetensors); got {weights!r}."
        )
    state = read_state_dict(weights)
    ignore = () if model.include_top else ("head.", "head_dist.")
    assign_state_dict(timm_assignments(model), state, source=weights, ignore=ignore)
    return model
