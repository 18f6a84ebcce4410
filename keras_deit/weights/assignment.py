"""Assigning checkpoint tensors to Keras variables by name, and torch -> Keras layouts.

Everything is checked before anything is assigned: names, shapes, dtypes and finite values.
"""

import keras
import numpy as np


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
    used, every shape must match, a float variable takes only a float tensor and only
    finite values; otherwise nothing is assigned and a ValueError names each offending
    tensor.

    Args:
        assignments: list of `(tensor_name, variable, transform)`, `transform` a function
            from the checkpoint array to the variable's layout (or None for identity).
        state: dict of NumPy arrays, e.g. from `keras_deit.weights.checkpoint_files.read_state_dict`.
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
    missing, mismatched, wrong_dtype, not_finite, values = [], [], [], [], []
    used = set()
    for name, variable, transform in assignments:
        if name not in state:
            missing.append(name)
            continue
        used.add(name)
        raw = np.asarray(state[name])
        if keras.backend.is_float_dtype(variable.dtype):
            # A float weight from an int / bool tensor is a wrong file or name, never a cast.
            if not np.issubdtype(raw.dtype, np.floating):
                wrong_dtype.append(f"{name} ({raw.dtype}, model variable {variable.path} {variable.dtype})")
                continue
            if not np.all(np.isfinite(raw)):
                not_finite.append(f"{name} ({int(np.sum(~np.isfinite(raw)))} NaN / Inf values)")
                continue
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
    if wrong_dtype:
        problems.append("not a float tensor for a float weight: " + ", ".join(wrong_dtype))
    if not_finite:
        problems.append("NaN / Inf values: " + ", ".join(not_finite))
    if problems:
        raise ValueError(f"Cannot load {source} into the model: " + " | ".join(problems))
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))
