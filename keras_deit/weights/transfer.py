"""Fine-tuning initialization: weights from a checkpoint of another resolution or class count."""

import os

import keras
import numpy as np

from keras_deit.models.deit import DeiT
from keras_deit.weights.checkpoint_files import is_torch_checkpoint, read_state_dict
from keras_deit.weights.deit import load_deit_weights
from keras_deit.weights.position_embedding import resize_position_embedding

_HEADS = ("head", "head_dist")


def resolve_path(path):
    """A local file for `path`: URLs are downloaded once into Keras' cache, `~` expanded.

    Example:
    ```python
    resolve_path("~/runs/deit.keras")  # '/home/me/runs/deit.keras'
    ```
    """
    if path.startswith(("http://", "https://")):
        return keras.utils.get_file(os.path.basename(path), path, cache_subdir="keras_deit")
    return os.path.expanduser(path)


def _relative(variable):
    # Paths start with the model's name, which encodes the resolution ("deit_base_patch16_384/...").
    return variable.path.split("/", 1)[1]


def transfer_weights(source, target):
    """Copies a DeiT's weights into another DeiT of a possibly other resolution or class count.

    The position embedding is resized bicubically (the official fine-tuning rule); heads
    whose shape differs (another number of classes) keep their fresh initialization.

    Args:
        source: `keras_deit.DeiT`. Trained model.
        target: `keras_deit.DeiT`. Same width, depth and tokens; any image size / classes.

    Returns:
        list of str: the target's variables left at their initialization.

    Example:
    ```python
    small = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
    large = keras_deit.DeiT(image_size=48, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                            num_classes=10)
    transfer_weights(small, large)  # ["head/kernel", "head/bias"]
    ```
    """
    if source.num_prefix_tokens != target.num_prefix_tokens:
        raise ValueError(
            f"The checkpoint has {source.num_prefix_tokens} prefix token(s), the model "
            f"{target.num_prefix_tokens}: fine-tune a distilled model from a distilled one."
        )
    sources = {_relative(variable): variable for variable in source.weights}
    skipped = []
    for variable in target.weights:
        name = _relative(variable)
        value = sources.get(name)
        if value is None or name.split("/")[0] in _HEADS and tuple(value.shape) != tuple(variable.shape):
            if name.split("/")[0] not in _HEADS:
                raise ValueError(f"The checkpoint has no {name!r}: not the same DeiT architecture.")
            skipped.append(name)
            continue
        value = np.asarray(keras.ops.convert_to_numpy(value))
        if name.endswith("pos_embed") and value.shape != tuple(variable.shape):
            value = resize_position_embedding(
                value, num_prefix_tokens=source.num_prefix_tokens, source_grid=source.grid_size,
                target_grid=target.grid_size,
            )
        if value.shape != tuple(variable.shape):
            raise ValueError(f"{name}: checkpoint shape {value.shape}, model shape {tuple(variable.shape)}.")
        variable.assign(value)
    return skipped


def initialize_from(student, path):
    """Loads the weights at `path` into `student` for fine-tuning; returns the re-initialized names.

    Args:
        student: `keras_deit.DeiT` being trained.
        path: str. A `.keras` DeiT (any resolution / classes), an official or timm
            checkpoint (`.pth`, ..., position embedding interpolated; heads re-initialized
            when the class count differs), a `.weights.h5` of the same architecture, or
            a URL of one of these.

    Returns:
        list of str: the student's variables left at their initialization (new heads).

    Example:
    ```python
    student = keras_deit.DeiTTiny(distill=True, image_size=384, num_classes=10)
    initialize_from(student, "deit_tiny_distilled_patch16_224-b40b3cf7.pth")
    # ['head/bias', 'head/kernel', 'head_dist/bias', 'head_dist/kernel']
    ```
    """
    path = resolve_path(path)
    if path.endswith(".keras"):
        return transfer_weights(keras.saving.load_model(path, safe_mode=True), student)
    if path.endswith(".weights.h5") or not is_torch_checkpoint(path):
        load_deit_weights(student, path)
        return []
    head = read_state_dict(path).get("head.weight")
    if head is not None and head.shape[0] == student.num_classes:
        load_deit_weights(student, path)
        return []
    # Another class count: the trunk only, through a headless twin of the student.
    trunk = DeiT.from_config({**student.get_config(), "include_top": False, "name": "trunk"})
    load_deit_weights(trunk, path)
    return transfer_weights(trunk, student)
