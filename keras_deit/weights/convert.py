"""Converting an official / timm DeiT checkpoint to a Keras weights file, architecture read from it."""

from keras_deit.files.atomic import write_atomically
from keras_deit.models.deit_variants import VARIANTS, build_variant
from keras_deit.weights.checkpoint_files import read_state_dict


def infer_architecture(path, state):
    """DeiT factory arguments for a checkpoint, read from its tensors.

    Width gives the variant, `dist_token` the distillation, `pos_embed` the resolution.

    Args:
        path: str. The checkpoint's path, named in errors.
        state: dict of NumPy arrays (`read_state_dict(path)`).

    Example:
    ```python
    infer_architecture(path, read_state_dict(path))
    # {'variant': 'tiny', 'distill': True, 'patch_size': 16, 'image_size': 224, 'num_classes': 1000}
    ```
    """
    if "pos_embed" not in state or "patch_embed.proj.weight" not in state:
        raise ValueError(f"{path!r} is not a DeiT checkpoint (no pos_embed / patch_embed).")
    embed_dim, _, patch_size, _ = state["patch_embed.proj.weight"].shape
    variant = next((name for name, config in VARIANTS.items() if config["embed_dim"] == embed_dim), None)
    if variant is None:
        raise ValueError(f"{path!r}: embed_dim {embed_dim} is none of the DeiT Ti/S/B widths.")
    distill = "dist_token" in state
    num_patches = state["pos_embed"].shape[1] - (2 if distill else 1)
    side = int(round(num_patches**0.5))
    if side * side != num_patches:
        raise ValueError(f"{path!r}: pos_embed of {num_patches} patches is not a square grid.")
    num_classes = state["head.weight"].shape[0] if "head.weight" in state else None
    return dict(
        variant=variant,
        distill=distill,
        patch_size=int(patch_size),
        image_size=side * int(patch_size),
        num_classes=num_classes,
    )


def convert_checkpoint(source, target, image_size=None):
    """Converts an official / timm DeiT checkpoint to a Keras `.weights.h5` file.

    The architecture is read from the checkpoint. With `image_size`, the position
    embedding is interpolated to that resolution (as the official fine-tuning code).
    The file is written atomically (`keras_deit.files.atomic`), so an interrupted
    conversion never leaves a truncated weights file.

    Args:
        source: str. The checkpoint (`.pth`, `.pt`, `.bin`, `.safetensors`).
        target: str. The Keras weights file to write (`*.weights.h5`).
        image_size: int or None. Resolution of the Keras model; None keeps the checkpoint's.

    Returns:
        The built Keras model holding the converted weights.

    Example:
    ```python
    convert_checkpoint("deit_small_distilled_patch16_224-649709d9.pth",
                       "deit_small_distilled.weights.h5")
    ```
    """
    if not str(target).endswith(".weights.h5"):
        raise ValueError(f"The output must be a Keras weights file ending in .weights.h5, got {target!r}.")
    state = read_state_dict(source)
    architecture = infer_architecture(source, state)
    variant = architecture.pop("variant")
    num_classes = architecture.pop("num_classes")
    if image_size is not None:
        architecture["image_size"] = image_size
    model = build_variant(
        variant,
        include_top=num_classes is not None,
        num_classes=num_classes or 1000,
        weights=source,
        **architecture,
    )
    write_atomically(target, lambda partial: model.save_weights(partial, overwrite=True))
    return model
