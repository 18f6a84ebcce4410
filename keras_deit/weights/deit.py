"""DeiT weights: timm tensor names of every variable, and loading any weights source into a DeiT."""

import os

from keras_deit.weights.assignment import assign_state_dict, torch_conv_kernel, torch_dense_kernel
from keras_deit.weights.checkpoint_files import is_torch_checkpoint, read_state_dict
from keras_deit.weights.official import official_deit_for
from keras_deit.weights.position_embedding import fit_position_embedding

KERAS_WEIGHTS_SUFFIX = ".weights.h5"


def official_deit_of(model):
    """The `OfficialDeiT` entry for `model`'s architecture (see `official_deit_for`).

    Example:
    ```python
    import keras_deit
    official_deit_of(keras_deit.DeiTTiny(distill=True)).file
    # 'deit_tiny_distilled_patch16_224-b40b3cf7.pth'
    ```
    """
    return official_deit_for(
        embed_dim=model.embed_dim, depth=model.depth, num_heads=model.num_heads,
        patch_size=model.patch_size, mlp_ratio=model.mlp_ratio, distill=model.distill,
        image_size=model.image_size, include_top=model.include_top, num_classes=model.num_classes,
    )


def official_checkpoint_name(model):
    """The official checkpoint file name for `model`'s architecture.

    Example:
    ```python
    import keras_deit
    official_checkpoint_name(keras_deit.DeiT(image_size=384))  # 'deit_tiny_patch16_224-a1311bcf.pth'
    ```
    """
    return official_deit_of(model).file


def check_weights_argument(weights):
    """Raises a one-line error for a `weights` value no loader takes, before a model is built.

    Example:
    ```python
    check_weights_argument("imagenet")
    ```
    """
    if weights is None or weights == "imagenet":
        return
    weights = os.fspath(weights)
    if not (weights.endswith(KERAS_WEIGHTS_SUFFIX) or is_torch_checkpoint(weights)):
        raise ValueError(
            f"weights must be None, 'imagenet', a Keras '{KERAS_WEIGHTS_SUFFIX}' file or a timm / "
            f"official checkpoint (.pth, .pt, .bin, .safetensors); got {weights!r}."
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"Weights file not found: {weights!r}")


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
        return fit_position_embedding(
            table, num_prefix_tokens=model.num_prefix_tokens, target_grid=model.grid_size
        )

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


def load_deit_weights(model, weights):
    """Loads `weights` into a DeiT model, in place.

    Args:
        model: a `keras_deit.DeiT`.
        weights: None (keep the random initialization), `"imagenet"` (download the
            official checkpoint; the architecture must be an official one), a Keras
            weights file (`*.weights.h5`), or an official / timm checkpoint (`.pth`, `.pt`, `.bin`,
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
    if weights == "imagenet":
        import keras

        # Checked before the download: an unofficial architecture never fetches a file.
        official = official_deit_of(model)
        weights = keras.utils.get_file(official.file, official.url, cache_subdir="keras_deit")
    check_weights_argument(weights)
    weights = os.fspath(weights)
    if weights.endswith(KERAS_WEIGHTS_SUFFIX):
        model.load_weights(weights)
        return model
    state = read_state_dict(weights)
    ignore = () if model.include_top else ("head.", "head_dist.")
    assign_state_dict(timm_assignments(model), state, source=weights, ignore=ignore)
    return model
