"""Attention rollout (Abnar & Zuidema 2020): how much each token draws on each input token."""

import numpy as np


def attention_rollout(scores):
    """Attention rollout: heads averaged, identity added, rows renormalized, layers multiplied.

    Args:
        scores: list (one per block, first to last) of arrays (batch, heads, T, T), as
            `DeiT.attention_scores` returns.

    Returns:
        float64 array (batch, T, T): row i is how much token i's final representation
        draws on each input token.

    Example:
    ```python
    import numpy as np
    scores = [np.full((1, 2, 3, 3), 1 / 3)] * 2
    attention_rollout(scores)[0].sum(-1)  # [1., 1., 1.]
    ```
    """
    rollout = None
    for layer in scores:
        attention = np.asarray(layer, np.float64).mean(axis=1)
        # The residual connection carries each token to itself: the identity.
        attention = attention + np.eye(attention.shape[-1])
        attention = attention / attention.sum(axis=-1, keepdims=True)
        rollout = attention if rollout is None else attention @ rollout
    return rollout
