"""Token merging (ToMe) against a NumPy reference of the published algorithm."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.special import erf

import keras_deit
from keras_deit.models.token_merging import TokenMergingDeiT, merge_tokens
from tests.conftest import IMAGENET_MEAN, IMAGENET_STD, random_images

# 64 patches + prefix: enough tokens for several merges per block.
TINY = dict(image_size=32, patch_size=4, embed_dim=32, depth=4, num_heads=2, num_classes=5)


def random_deit(distill, seed=0, include_top=True):
    """A tiny DeiT with every weight random (default init leaves biases 0, norms 1)."""
    model = keras_deit.DeiT(distill=distill, include_top=include_top, **TINY)
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        noise = rng.standard_normal(weight.shape).astype("float32")
        is_norm_scale = "norm" in weight.path and weight.path.endswith("gamma")
        weight.assign(1.0 + 0.1 * noise if is_norm_scale else 0.02 * noise)
    return model


# --- The NumPy reference: ToMe (Bolya et al. 2023, facebookresearch/ToMe) in float64, one
# image at a time, tokens as Python lists of (feature, size, set of source tokens).


def _layer_norm(x, layer):
    gamma, beta = (np.asarray(w, np.float64) for w in layer.get_weights())
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + 1e-6) * gamma + beta


def _dense(x, layer):
    kernel, bias = (np.asarray(w, np.float64) for w in layer.get_weights())
    return x @ kernel + bias


def _embed(deit, image):
    """(tokens, D): normalized image -> patches -> [cls, (dist), patches] + pos_embed."""
    pixels = (image.astype(np.float64) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    p = deit.patch_size
    grid_h, grid_w = deit.grid_size
    patches = pixels.reshape(grid_h, p, grid_w, p, 3).transpose(0, 2, 1, 3, 4).reshape(grid_h * grid_w, -1)
    kernel, bias = (np.asarray(w, np.float64) for w in deit.patch_embed.proj.get_weights())
    tokens = patches @ kernel.reshape(-1, kernel.shape[-1]) + bias
    prefix = [np.asarray(deit.tokens.cls_token, np.float64)[0]]
    if deit.distill:
        prefix.append(np.asarray(deit.tokens.dist_token, np.float64)[0])
    tokens = np.concatenate(prefix + [tokens])
    return tokens + np.asarray(deit.pos_embed.pos_embed, np.float64)[0]


def _attention_with_sizes(block, x, sizes, heads):
    """Attention with log(size) added to every key's logit; returns (output, mean key)."""
    n, dim = x.shape
    head_dim = dim // heads
    qkv = _dense(_layer_norm(x, block.norm1), block.attn.qkv).reshape(n, 3, heads, head_dim)
    q, k, v = qkv[:, 0], qkv[:, 1], qkv[:, 2]
    logits = np.einsum("thd,shd->hts", q, k) / math.sqrt(head_dim) + np.log(sizes)[None, None, :]
    logits -= logits.max(-1, keepdims=True)
    attention = np.exp(logits)
    attention /= attention.sum(-1, keepdims=True)
    context = np.einsum("hts,shd->thd", attention, v).reshape(n, dim)
    return _dense(context, block.attn.proj), k.mean(axis=1)


def _bipartite_merge(x, sizes, sources, keys, r, protected):
    """ToMe's merge of r tokens: A = even, B = odd positions, best A -> B pairs merge."""
    n = len(x)
    r = min(r, (n - protected) // 2)
    if r <= 0:
        return x, sizes, sources
    unit = keys / np.linalg.norm(keys, axis=-1, keepdims=True)
    set_a, set_b = list(range(0, n, 2)), list(range(1, n, 2))
    similarity = unit[set_a] @ unit[set_b].T
    for row, token in enumerate(set_a):
        if token < protected:
            similarity[row, :] = -np.inf
    for column, token in enumerate(set_b):
        if token < protected:
            similarity[:, column] = -np.inf
    best, partner = similarity.max(axis=1), similarity.argmax(axis=1)
    ranking = np.argsort(-best, kind="stable")
    merged = set(ranking[:r].tolist())
    groups = {token: [token] for token in set_b}
    for row in merged:
        groups[set_b[partner[row]]].append(set_a[row])
    kept_a = [set_a[row] for row in range(len(set_a)) if row not in merged]
    # ToMe's order: prefix tokens first as they were, then the kept A tokens, then B.
    order = [t for t in range(protected)]
    order += [t for t in kept_a if t >= protected] + [t for t in set_b if t >= protected]
    new_x, new_sizes, new_sources = [], [], []
    for token in order:
        members = groups.get(token, [token])
        weights = sizes[members]
        new_x.append((x[members] * weights[:, None]).sum(0) / weights.sum())
        new_sizes.append(weights.sum())
        new_sources.append(set().union(*(sources[m] for m in members)))
    return np.array(new_x), np.array(new_sizes), new_sources


def reference_tome(deit, image, schedule):
    """(logits or None, final normalized tokens, their sources as sets, sizes) on one image."""
    protected = 2 if deit.distill else 1
    x = _embed(deit, image)
    sizes = np.ones(len(x))
    sources = [{token} for token in range(len(x))]
    for block, r in zip(deit.blocks, schedule):
        attended, keys = _attention_with_sizes(block, x, sizes, deit.num_heads)
        x = x + attended
        x, sizes, sources = _bipartite_merge(x, sizes, sources, keys, r, protected)
        hidden = _dense(_layer_norm(x, block.norm2), block.mlp.fc1)
        hidden = 0.5 * hidden * (1.0 + erf(hidden / math.sqrt(2.0)))
        x = x + _dense(hidden, block.mlp.fc2)
    x = _layer_norm(x, deit.norm)
    if not deit.include_top:
        return None, x, sources, sizes
    logits = _dense(x[0], deit.head)
    if deit.distill:
        logits = (logits + _dense(x[1], deit.head_dist)) / 2.0
    return logits, x, sources, sizes


def as_sets(sources):
    """Rows of a 0 / 1 source matrix as sets of input tokens."""
    return [set(np.flatnonzero(row > 0.5).tolist()) for row in np.asarray(sources)]


# --- Tests.


@pytest.mark.parametrize("distill", [False, True])
@pytest.mark.parametrize("r", [8, [0, 12, 30, 5], 100])
def test_merges_and_logits_equal_the_numpy_reference(distill, r):
    deit = random_deit(distill)
    model = merge_tokens(deit, r)
    images = random_images(3, 32, seed=1)
    logits = np.asarray(model(images))
    sources = np.asarray(model.merge_sources(images))
    schedule = r if isinstance(r, list) else [r] * deit.depth
    for index, image in enumerate(images):
        expected_logits, _, expected_sources, expected_sizes = reference_tome(deit, image, schedule)
        assert as_sets(sources[index]) == expected_sources
        np.testing.assert_array_equal(sources[index].sum(-1), expected_sizes)
        assert np.max(np.abs(logits[index] - expected_logits)) <= 1e-4
    assert sources.shape[1] == model.token_counts[-1]


@pytest.mark.parametrize("distill", [False, True])
def test_r_zero_is_exactly_the_deit(distill):
    deit = random_deit(distill)
    images = random_images(4, 32, seed=2)
    model = merge_tokens(deit, 0)
    assert np.max(np.abs(np.asarray(model(images)) - np.asarray(deit(images)))) <= 1e-6
    np.testing.assert_allclose(np.asarray(model.features(images)), np.asarray(deit.features(images)), atol=1e-6)
    # The reference without merges also gives the DeiT: it validates the reference itself.
    expected, _, _, _ = reference_tome(deit, images[0], [0] * deit.depth)
    assert np.max(np.abs(np.asarray(deit(images))[0] - expected)) <= 1e-4


@pytest.mark.parametrize("distill", [False, True])
def test_prefix_tokens_are_never_merged_even_at_the_largest_r(distill):
    deit = random_deit(distill, seed=3)
    model = merge_tokens(deit, 1000)
    sources = np.asarray(model.merge_sources(random_images(4, 32, seed=4)))
    prefix = deit.num_prefix_tokens
    for sample in sources:
        for token in range(prefix):
            assert as_sets(sample)[token] == {token}
        # Every input token ends in exactly one final token.
        np.testing.assert_array_equal(sample.sum(axis=0), np.ones(sample.shape[1]))


def test_r_is_clipped_to_half_the_unprotected_tokens_like_tome():
    # 64 patches + class token: 65 -> 33 -> 17 -> 9 (each block halves the 64, 32, 16 patches).
    assert merge_tokens(random_deit(False), 1000).token_counts == [33, 17, 9, 5]
    # + distillation token, [1000, 3, 0, 1000]: 66 -> 34 -> 31 -> 31 -> 17 (clipped to 14).
    model = merge_tokens(random_deit(True), [1000, 3, 0, 1000])
    assert model.token_counts == [34, 31, 31, 17]
    assert model.merge_schedule == [32, 3, 0, 14]
    assert model.compute_output_shape((2, 32, 32, 3)) == (2, 5)


def test_include_top_false_gives_the_merged_tokens():
    model = merge_tokens(random_deit(True, include_top=False), 8)
    images = random_images(2, 32, seed=7)
    features = np.asarray(model(images))
    assert features.shape == (2, 34, 32) == model.compute_output_shape((2, 32, 32, 3))
    for index, image in enumerate(images):
        _, expected, _, _ = reference_tome(model.deit, image, [8] * 4)
        assert np.max(np.abs(features[index] - expected)) <= 1e-4


def test_keras_file_round_trip_in_safe_mode_and_weights_are_shared(tmp_path):
    deit = random_deit(True)
    model = merge_tokens(deit, [2, 4, 6, 8])
    assert [id(w) for w in model.weights] == [id(w) for w in deit.weights]
    images = random_images(2, 32)
    model.save(tmp_path / "tome.keras")
    loaded = keras.saving.load_model(tmp_path / "tome.keras", safe_mode=True)
    assert isinstance(loaded, TokenMergingDeiT) and loaded.r == [2, 4, 6, 8]
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))
    cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
    np.testing.assert_allclose(np.asarray(model(images)), (cls_logits + dist_logits) / 2, atol=1e-6)


def test_xla_compiled_call_equals_eager():
    model = merge_tokens(random_deit(True), 8)
    images = random_images(2, 32, seed=5)
    compiled = tf.function(model.__call__, jit_compile=True)
    assert np.max(np.abs(np.asarray(compiled(images)) - np.asarray(model(images)))) <= 1e-5


@pytest.mark.parametrize(
    "r, message",
    [(-1, "non-negative"), ("8", "non-negative"), ([1, 2], "list of 4"), (True, "non-negative")],
)
def test_bad_r_is_a_clear_error(r, message):
    with pytest.raises(ValueError, match=message):
        merge_tokens(random_deit(False), r)


def test_bad_model_images_and_training_are_clear_errors():
    with pytest.raises(ValueError, match="keras_deit.DeiT"):
        merge_tokens(keras.Sequential([keras.layers.Dense(2)]), 8)
    model = merge_tokens(random_deit(False), 8)
    with pytest.raises(ValueError, match="shape"):
        model(random_images(1, 48))
    with pytest.raises(ValueError, match="inference"):
        model(random_images(1, 32), training=True)


JAX_JOB = """
import numpy as np, keras, keras_deit  # keras_deit registers the classes
keras_file, data = args
images = np.load(data)["images"]
model = keras.saving.load_model(keras_file, safe_mode=True)
np.savez(data.replace(".npz", "_jax.npz"), logits=np.asarray(model(images)),
         sources=np.asarray(model.merge_sources(images)))
"""


@pytest.mark.slow
def test_keras_file_runs_the_same_on_the_jax_backend(jax_worker, tmp_path):
    model = merge_tokens(random_deit(True), [0, 12, 30, 5])
    images = random_images(2, 32, seed=6)
    model.save(tmp_path / "tome.keras")
    np.savez(tmp_path / "data.npz", images=images)
    jax_worker(JAX_JOB, tmp_path / "tome.keras", tmp_path / "data.npz")
    jax_outputs = np.load(tmp_path / "data_jax.npz")
    assert np.max(np.abs(jax_outputs["logits"] - np.asarray(model(images)))) <= 1e-5
    np.testing.assert_array_equal(jax_outputs["sources"], np.asarray(model.merge_sources(images)))
