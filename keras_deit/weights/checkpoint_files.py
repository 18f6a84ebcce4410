"""Reading a checkpoint file into a flat dict of NumPy arrays, by format.

`.pth` / `.pt` / `.bin` files (torch's zip format) go through `torch_pickle`, which runs no
code and needs no torch; `.safetensors` files through safetensors' NumPy reader.
"""

import os

import numpy as np

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"
# Keys under which trainers wrap a state dict: the official DeiT files use "model",
# timm's trainer "state_dict" and "model_ema".
STATE_DICT_WRAPPERS = ("model", "state_dict", "model_ema")


def is_torch_checkpoint(path):
    """True when `path` names a file this module reads (`.pth`, `.pt`, `.bin`, `.safetensors`)."""
    return str(path).endswith(TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,))


def read_state_dict(path):
    """Reads a timm / official checkpoint into a dict of NumPy arrays.

    Accepts a plain state dict or one wrapped as `{"model": ...}`, `{"state_dict": ...}` or
    `{"model_ema": ...}`. Arrays keep their stored dtype, bfloat16 widened to float32.

    Args:
        path: str. A `.pth` / `.pt` / `.bin` file (torch zip format) or a `.safetensors` file.

    Returns:
        dict mapping tensor names to NumPy arrays.

    Example:
    ```python
    state = read_state_dict("deit_tiny_patch16_224-a1311bcf.pth")
    state["pos_embed"].shape  # (1, 197, 192)
    ```
    """
    from keras_deit.weights.torch_pickle import load_torch_pickle

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path!r}")
    if path.endswith(SAFETENSORS_SUFFIX):
        from safetensors.numpy import load_file

        return dict(load_file(path))
    if not path.endswith(TORCH_SUFFIXES):
        raise ValueError(
            f"Unknown checkpoint format for {path!r}: expected one of "
            f"{TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,)}."
        )
    checkpoint = load_torch_pickle(path)
    for wrapper in STATE_DICT_WRAPPERS:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
            break
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path!r} does not hold a state dict (found {type(checkpoint).__name__}).")
    for name, tensor in checkpoint.items():
        if not isinstance(tensor, np.ndarray):
            raise ValueError(f"{path!r}: entry {name!r} is not a tensor ({type(tensor).__name__}).")
    return dict(checkpoint)
