"""Token merging (ToMe, Bolya et al., ICLR 2023): bipartite soft matching of tokens.

ToMe makes a trained ViT faster without retraining: in each block, after the attention
residual, the `r` most similar token pairs are averaged into one, so every later block
sees fewer tokens. Similarity is the cosine of the attention keys (averaged over heads);
the tokens are split alternately into sets A (even positions) and B (odd), each A token
is paired with its most similar B token and the `r` best-paired A tokens are merged into
their partners. A merged token stands for several patches: it carries a size (how many
patches it averages), the merge is a size-weighted mean and the attention adds log(size)
to each key's logit ("proportional attention"), so a token of size s weighs as its s
patches would. The prefix tokens (class, distillation) are never merged.

Everything has static shapes: the token count after a block follows from `r` alone.

Example:
```python
import numpy as np
from keras_deit.layers.token_merging import bipartite_soft_matching, merge_weighted_average
tokens = np.random.rand(2, 17, 8).astype("float32")  # class token + 16 patches
keys = np.random.rand(2, 17, 4).astype("float32")
matching = bipartite_soft_matching(keys, r=4, num_protected=1)
merged, sizes = merge_weighted_average(matching, tokens, None)
merged.shape, sizes.shape  # (2, 13, 8), (2, 13, 1)
```
"""

import numpy as np
from keras import ops

from keras_deit.layers.scaled_dot_product import scaled_dot_product_attention


def max_merges(num_tokens, num_protected):
    """How many tokens one bipartite matching can remove: half the unprotected ones."""
    return max((num_tokens - num_protected) // 2, 0)


class TokenMatching:
    """The outcome of `bipartite_soft_matching`: which A tokens merge into which B tokens.

    Indices count within the sets, A = positions 0, 2, 4, ... and B = 1, 3, 5, ...

    Args:
        unmerged: int tensor (batch, len(A) - r). A tokens kept, in ascending order.
        merged: int tensor (batch, r). A tokens merged away.
        destination: int tensor (batch, r). The B token each `merged` token joins.
        num_protected: int. Prefix tokens that stay first and unmerged.
    """

    def __init__(self, *, unmerged, merged, destination, num_protected):
        self.unmerged = unmerged
        self.merged = merged
        self.destination = destination
        self.num_protected = num_protected

    def merge(self, x):
        """Sums every merged A row of `x` (batch, tokens, C) into its B row.

        Output order: the prefix tokens in their original order, then the kept A tokens,
        then the B tokens (ToMe's order).
        """
        set_a, set_b = x[:, 0::2], x[:, 1::2]
        kept = ops.take_along_axis(set_a, self.unmerged[..., None], axis=1)
        sources = ops.take_along_axis(set_a, self.merged[..., None], axis=1)
        # A one-hot matmul rather than a scatter: static shapes, the same on every backend,
        # and only r x len(B) x C multiply-adds.
        targets = ops.one_hot(self.destination, set_b.shape[1], dtype=x.dtype)
        set_b = set_b + ops.einsum("brj,brc->bjc", targets, sources)
        # Prefix token i sits in A (even i) or B (odd i), first in its set either way.
        prefix_a = (self.num_protected + 1) // 2
        prefix_b = self.num_protected // 2
        return ops.concatenate(
            [kept[:, :prefix_a], set_b[:, :prefix_b], kept[:, prefix_a:], set_b[:, prefix_b:]],
            axis=1,
        )


def bipartite_soft_matching(metric, r, num_protected):
    """ToMe's bipartite soft matching of tokens by the cosine similarity of `metric`.

    Args:
        metric: tensor (batch, tokens, C). Per-token features compared (ToMe: the keys
            averaged over heads).
        r: int. Tokens to remove; clipped to `max_merges(tokens, num_protected)`.
        num_protected: int >= 1. Leading tokens never merged (class, distillation).

    Returns:
        A `TokenMatching`.

    Example:
    ```python
    import numpy as np
    matching = bipartite_soft_matching(np.random.rand(1, 9, 4), r=2, num_protected=1)
    matching.merge(np.ones((1, 9, 1), "float32"))[0, :, 0]  # sizes of the 7 tokens, sum 9
    ```
    """
    num_tokens = metric.shape[1]
    if num_protected < 1:
        raise ValueError(f"num_protected must be at least 1 (the class token), got {num_protected}.")
    r = min(int(r), max_merges(num_tokens, num_protected))
    metric = ops.cast(metric, "float32")
    metric = metric / ops.norm(metric, axis=-1, keepdims=True)
    set_a, set_b = metric[:, 0::2], metric[:, 1::2]
    scores = ops.einsum("bic,bjc->bij", set_a, set_b)
    size_a, size_b = set_a.shape[1], set_b.shape[1]
    # -inf on the prefix tokens' rows (as sources) and columns (as destinations).
    protected = np.zeros((size_a, size_b), bool)
    protected[: (num_protected + 1) // 2, :] = True
    protected[:, : num_protected // 2] = True
    scores = ops.where(protected, -np.inf, scores)
    best_score = ops.max(scores, axis=-1)
    best_partner = ops.argmax(scores, axis=-1)
    # top_k: highest scores first, ties to the lower index.
    _, merged = ops.top_k(best_score, k=r)
    destination = ops.take_along_axis(best_partner, merged, axis=1)
    # The kept A tokens in ascending order: the largest -(merged * len(A) + index).
    is_merged = ops.sum(ops.one_hot(merged, size_a, dtype="float32"), axis=1)
    order = -(is_merged * size_a + ops.arange(size_a, dtype="float32"))
    _, unmerged = ops.top_k(order, k=size_a - r)
    return TokenMatching(
        unmerged=unmerged,
        merged=merged,
        destination=ops.cast(destination, unmerged.dtype),
        num_protected=num_protected,
    )


def merge_weighted_average(matching, x, sizes):
    """Merges tokens `x` by `matching` into size-weighted means; returns `(x, sizes)`.

    Args:
        matching: `TokenMatching`.
        x: tensor (batch, tokens, C).
        sizes: float32 tensor (batch, tokens, 1), the patches each token stands for, or
            None for all ones.

    Returns:
        `(merged x, merged sizes)`, sizes float32 (batch, tokens - r, 1).
    """
    if sizes is None:
        sizes = ops.ones_like(ops.cast(x[..., :1], "float32"))
    merged = matching.merge(x * ops.cast(sizes, x.dtype))
    sizes = matching.merge(sizes)
    return merged / ops.cast(sizes, merged.dtype), sizes


def proportional_attention(attention, tokens, sizes):
    """ToMe's attention: `softmax(q k^T / sqrt(d) + log(size_k)) v`, and the keys.

    Uses the weights of a `MultiHeadSelfAttention` (`qkv`, `proj`); with `sizes` None it
    computes exactly that layer's output.

    Args:
        attention: a built `keras_deit.layers.MultiHeadSelfAttention`.
        tokens: tensor (batch, tokens, embed_dim), already normalized.
        sizes: float32 tensor (batch, tokens, 1) or None.

    Returns:
        `(output (batch, tokens, embed_dim), keys averaged over heads (batch, tokens, head_dim))`.
    """
    batch, length = ops.shape(tokens)[0], tokens.shape[1]
    heads, head_dim = attention.num_heads, attention.head_dim
    qkv = ops.reshape(attention.qkv(tokens), (batch, length, 3, heads, head_dim))
    query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    bias = None if sizes is None else ops.log(sizes)[:, None, None, :, 0]
    context, _ = scaled_dot_product_attention(query, key, value, scale=attention.scale, logit_bias=bias)
    output = attention.proj(ops.reshape(context, (batch, length, heads * head_dim)))
    return output, ops.mean(key, axis=2)


def token_merging_block(block, x, sizes, *, r, num_protected):
    """An `EncoderBlock` at inference with ToMe between the attention and the MLP.

    `x + attn(norm1(x))` with proportional attention, then `r` tokens merged, then
    `x + mlp(norm2(x))` (ToMe's ToMeBlock). Until a first merge every size is 1, so with
    `sizes` None and `r` 0 this is the unchanged block.

    Args:
        block: a built `keras_deit.layers.EncoderBlock`.
        x: tensor (batch, tokens, embed_dim).
        sizes: float32 tensor (batch, tokens, 1), or None (all ones).
        r: int. Tokens to merge away (clipped to half the unprotected tokens).
        num_protected: int. Leading tokens never merged.

    Returns:
        `(x, sizes, matching)`: `matching` is the `TokenMatching`, None where nothing merged.

    Example:
    ```python
    import numpy as np
    from keras_deit.layers import EncoderBlock
    block = EncoderBlock(num_heads=2)
    block.build((None, 17, 8))
    x, sizes, _ = token_merging_block(block, np.random.rand(2, 17, 8).astype("float32"),
                                      None, r=4, num_protected=1)
    x.shape  # (2, 13, 8)
    ```
    """
    r = min(int(r), max_merges(x.shape[1], num_protected))
    if sizes is None and r == 0:
        return block(x, training=False), None, None
    attended, keys = proportional_attention(block.attn, block.norm1(x), sizes)
    x = x + attended
    matching = None
    if r > 0:
        matching = bipartite_soft_matching(keys, r, num_protected)
        x, sizes = merge_weighted_average(matching, x, sizes)
    x = x + block.mlp(block.norm2(x))
    return x, sizes, matching
