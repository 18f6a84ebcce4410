"""Resizing a position embedding to another patch grid: torch's bicubic, exactly.

The one implementation used for checkpoints of another resolution (`weights.deit`) and for
fine-tuning from a model of another resolution (`weights.transfer`).
"""

import math

import numpy as np

# PyTorch's bicubic kernel constant (Keys' a = -0.75), as torch.nn.functional.interpolate.
_TORCH_CUBIC_A = -0.75


def _torch_bicubic_matrix(in_size, out_size):
    """(out_size, in_size) matrix of torch's 1-D bicubic resampling, align_corners=False.

    Reproduces `torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`
    without antialiasing: source coordinate `(i + 0.5) * in/out - 0.5` (not clamped),
    four taps at floor-1 .. floor+2 with indices clamped to the border.
    """
    a = _TORCH_CUBIC_A
    matrix = np.zeros((out_size, in_size), dtype=np.float64)
    scale = in_size / out_size
    for i in range(out_size):
        source = (i + 0.5) * scale - 0.5
        floor = math.floor(source)
        t = source - floor
        distances = (t + 1.0, t, 1.0 - t, 2.0 - t)
        for tap, distance in enumerate(distances):
            if distance <= 1.0:
                weight = ((a + 2.0) * distance - (a + 3.0)) * distance * distance + 1.0
            else:
                weight = ((a * distance - 5.0 * a) * distance + 8.0 * a) * distance - 4.0 * a
            index = min(max(floor - 1 + tap, 0), in_size - 1)
            matrix[i, index] += weight
    return matrix


def resize_position_embedding(pos_embed, *, num_prefix_tokens, source_grid, target_grid):
    """Resizes a (1, prefix + h*w, D) position embedding to another patch grid.

    The prefix rows (class / distillation tokens) are kept; the patch rows are resampled
    bicubically exactly like the official DeiT fine-tuning code
    (`F.interpolate(mode="bicubic", align_corners=False)`, no antialiasing). timm's own
    `resample_abs_pos_embed` antialiases by default and gives other numbers.

    Args:
        pos_embed: array of shape (1, num_prefix_tokens + h * w, D).
        num_prefix_tokens: int. 1 (class token) or 2 (class + distillation token).
        source_grid: (h, w) patch grid of `pos_embed`.
        target_grid: (h', w') patch grid wanted.

    Returns:
        float32 NumPy array of shape (1, num_prefix_tokens + h' * w', D).

    Example:
    ```python
    import numpy as np
    table = np.random.randn(1, 2 + 14 * 14, 192).astype("float32")
    resize_position_embedding(table, num_prefix_tokens=2, source_grid=(14, 14),
                              target_grid=(24, 24)).shape  # (1, 578, 192)
    ```
    """
    pos_embed = np.asarray(pos_embed)
    source_h, source_w = source_grid
    target_h, target_w = target_grid
    expected = num_prefix_tokens + source_h * source_w
    if pos_embed.ndim != 3 or pos_embed.shape[0] != 1 or pos_embed.shape[1] != expected:
        raise ValueError(
            f"pos_embed of shape {pos_embed.shape} does not match {num_prefix_tokens} prefix "
            f"tokens and a {source_h}x{source_w} grid (expected (1, {expected}, D))."
        )
    prefix, grid = pos_embed[:, :num_prefix_tokens], pos_embed[0, num_prefix_tokens:]
    grid = grid.reshape(source_h, source_w, -1).astype(np.float64)
    rows = _torch_bicubic_matrix(source_h, target_h)
    cols = _torch_bicubic_matrix(source_w, target_w)
    resized = np.einsum("ih,hwd,jw->ijd", rows, grid, cols)
    resized = resized.reshape(1, target_h * target_w, -1).astype(np.float32)
    return np.concatenate([prefix.astype(np.float32), resized], axis=1)


def fit_position_embedding(table, *, num_prefix_tokens, target_grid):
    """Interpolates a checkpoint's square position grid to `target_grid` if they differ.

    A table that is not a square grid plus prefix rows is returned unchanged, so the
    shape check of the assignment reports it.

    Args:
        table: array (1, num_prefix_tokens + side * side, D).
        num_prefix_tokens: int. Class (and distillation) rows, kept as they are.
        target_grid: (int, int). The model's patch grid.

    Example:
    ```python
    import numpy as np
    table = np.zeros((1, 1 + 14 * 14, 8), "float32")
    fit_position_embedding(table, num_prefix_tokens=1, target_grid=(24, 24)).shape  # (1, 577, 8)
    ```
    """
    if table.ndim != 3 or table.shape[1] == num_prefix_tokens + target_grid[0] * target_grid[1]:
        return table
    side = math.isqrt(table.shape[1] - num_prefix_tokens)
    if side * side != table.shape[1] - num_prefix_tokens:
        return table
    return resize_position_embedding(
        table, num_prefix_tokens=num_prefix_tokens, source_grid=(side, side), target_grid=target_grid
    )
