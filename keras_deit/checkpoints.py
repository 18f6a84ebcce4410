"""Reading PyTorch / timm checkpoints and assigning them to Keras variables by name.

Nothing here unpickles code: `.pth` files go through `torch.load(weights_only=True)`
(torch is imported only then) and `.safetensors` files through safetensors' NumPy reader.
"""

import os

import numpy as np

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
SAFETENSORS_SUFFIX = ".safetensors"


def is_torch_checkpoint(path):
    """True when `path` names a file this module reads (`.pth`, `.pt`, `.bin`, `.safetensors`)."""
    return str(path).endswith(TORCH_SUFFIXES + (SAFETENSORS_SUFFIX,))


def read_state_dict(path):
    """Reads a timm / official checkpoint into a dict of NumPy arrays.

    Accepts a plain state dict or the official `{"model": state_dict}` wrapper (also
    `{"state_dict": ...}` and `{"model_ema": ...}` as written by timm's trainer).

    Args:
        path: str. A `.pth` / `.pt` / `.bin` file (read with `weights_only=True`) or a
            `.safetensors` file.

    Returns:
        dict mapping tensor names to float32 / int NumPy arrays.

    Example:
    ```python
    state = read_state_dict("deit_tiny_patch16_224-a1311bcf.pth")
    state["pos_embed"].shape  # (1, 197, 192)
    ```
    """
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
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs PyTorch (`pip install torch`); a `.safetensors` "
            "copy of the checkpoint loads without it."
        ) from error
    # weights_only=True: a checkpoint from the internet must not run code when read.
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except RuntimeError as error:  # torch's archive reader on a truncated or foreign file
        raise ValueError(f"{path!r} is not a readable PyTorch checkpoint: {error}") from error
    for wrapper in ("model", "state_dict", "model_ema"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(wrapper), dict):
            checkpoint = checkpoint[wrapper]
            break
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path!r} does not hold a state dict (found {type(checkpoint)}).")
    state = {}
    for name, tensor in checkpoint.items():
        if not hasattr(tensor, "detach"):
            raise ValueError(f"{path!r}: entry {name!r} is not a tensor ({type(tensor)}).")
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.float()
        state[name] = tensor.numpy()
    return state


def torch_dense_kernel(weight):
    """torch Linear weight (out, in) -> Keras Dense kernel (in, out)."""
    return np.transpose(weight)


def torch_conv_kernel(weight):
    """torch Conv2d weight (out, in/groups, kh, kw) -> Keras Conv2D kernel (kh, kw, in/groups, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def torch_depthwise_kernel(weight):
    """torch depthwise Conv2d weight (C, 1, kh, kw) -> Keras DepthwiseConv2D kernel (kh, kw, C, 1)."""
    return np.transpose(weight, (2, 3, 0, 1))


def assign_state_dict(assignments, state, source="checkpoint", ignore=()):
    """Assigns checkpoint tensors to Keras variables, by name, checking everything first.

    Every variable must find its tensor, every tensor (except names in `ignore`) must be
    used, and every shape must match; otherwise nothing is assigned and a ValueError names
    each offending tensor.

    Args:
        assignments: list of `(tensor_name, variable, transform)`, `transform` a function
            from the checkpoint array to the variable's layout (or None for identity).
        state: dict of NumPy arrays, e.g. from `read_state_dict`.
        source: str. Named in error messages (usually the file path).
        ignore: iterable of tensor names (or name prefixes ending in ".") that may be
            present in `state` without a variable, e.g. a classifier dropped by
            `include_top=False`.

    Example:
    ```python
    import keras, numpy as np
    dense = keras.layers.Dense(2); dense.build((None, 3))
    state = {"fc.weight": np.ones((2, 3), "float32"), "fc.bias": np.zeros(2, "float32")}
    assign_state_dict([("fc.weight", dense.kernel, torch_dense_kernel),
                       ("fc.bias", dense.bias, None)], state)
    ```
    """
    ignore = tuple(ignore)
    missing, mismatched, values = [], [], []
    used = set()
    for name, variable, transform in assignments:
        if name not in state:
            missing.append(name)
            continue
        used.add(name)
        value = state[name] if transform is None else transform(state[name])
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(
                f"{name}: checkpoint {tuple(state[name].shape)} -> {tuple(value.shape)}, "
                f"model variable {variable.path} {tuple(variable.shape)}"
            )
            continue
        values.append((variable, value))
    extra = sorted(
        name
        for name in state
        if name not in used and not any(name == i or (i.endswith(".") and name.startswith(i)) for i in ignore)
    )
    problems = []
    if missing:
        problems.append(f"missing from the checkpoint: {', '.join(missing)}")
    if extra:
        problems.append(f"unexpected in the checkpoint (no model variable): {', '.join(extra)}")
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched))
    if problems:
        raise ValueError(f"Cannot load {source} into the model: " + " | ".join(problems))
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))
