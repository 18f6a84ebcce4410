"""The DeiT layers: config round trips, and each layer against a NumPy computation."""

import keras
import numpy as np
import pytest
from scipy.special import erf

from keras_deit import layers

RNG = np.random.default_rng(0)


def tokens(batch=2, length=5, width=8):
    return RNG.normal(size=(batch, length, width)).astype("float32")


LAYER_CASES = [
    (layers.PatchEmbedding(patch_size=4, embed_dim=8), np.zeros((2, 8, 12, 3), "float32")),
    (layers.PrefixTokens(distill=True), tokens()),
    (layers.PositionEmbedding(grid_size=(2, 2), num_prefix_tokens=1), tokens()),
    (layers.MultiHeadSelfAttention(num_heads=2), tokens()),
    (layers.Mlp(hidden_dim=16), tokens()),
    (layers.DropPath(rate=0.2, seed=3), tokens()),
    (layers.EncoderBlock(num_heads=2, mlp_ratio=2.0, drop_path_rate=0.1, seed=1), tokens()),
    (layers.ImageNormalization(), np.zeros((1, 2, 2, 3), "float32")),
]


@pytest.mark.parametrize("layer, inputs", LAYER_CASES, ids=lambda case: type(case).__name__)
def test_from_config_round_trip_gives_same_layer_and_outputs(layer, inputs):
    expected = np.asarray(layer(inputs))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    clone.build(inputs.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone(inputs)), expected)
    # The registered name is what .keras files store; safe-mode loading resolves it.
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"] == f"keras_deit>{type(layer).__name__}"


def test_patch_embedding_equals_numpy_patch_projection():
    layer = layers.PatchEmbedding(patch_size=4, embed_dim=6)
    images = RNG.normal(size=(2, 8, 12, 3)).astype("float32")
    out = np.asarray(layer(images))
    kernel, bias = (np.asarray(w) for w in layer.proj.weights)
    # Row-major patches, each flattened (row, col, channel) to match the conv kernel.
    patches = images.reshape(2, 2, 4, 3, 4, 3).transpose(0, 1, 3, 2, 4, 5).reshape(2, 6, 48)
    expected = patches @ kernel.reshape(48, 6) + bias
    assert out.shape == (2, 6, 6)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def numpy_attention(x, qkv_w, qkv_b, proj_w, proj_b, heads):
    batch, length, width = x.shape
    head_dim = width // heads
    qkv = (x @ qkv_w + qkv_b).reshape(batch, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
    q, k, v = qkv
    logits = q @ k.transpose(0, 1, 3, 2) * head_dim**-0.5
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, length, width)
    return context @ proj_w + proj_b, probs


def test_attention_equals_numpy_and_both_paths_agree():
    layer = layers.MultiHeadSelfAttention(num_heads=2)
    x = tokens(width=8)
    layer.build(x.shape)
    for weight in layer.weights:  # random biases too, so a bias mix-up shows
        weight.assign(RNG.normal(size=weight.shape).astype("float32") * 0.3)
    expected, expected_probs = numpy_attention(x, *(np.asarray(w) for w in layer.weights), heads=2)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)
    output, scores = layer(x, return_attention_scores=True)
    np.testing.assert_allclose(np.asarray(output), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(scores), expected_probs, atol=1e-6)


def test_attention_softmax_stays_float32_under_mixed_precision():
    layer = layers.MultiHeadSelfAttention(num_heads=2, dtype="mixed_bfloat16")
    x = tokens(width=8)
    output, scores = layer(x, return_attention_scores=True)
    assert scores.dtype == "float32"
    assert output.dtype == "bfloat16"


def test_mlp_uses_exact_erf_gelu():
    layer = layers.Mlp(hidden_dim=16)
    x = tokens(width=8) * 3
    layer.build(x.shape)
    w1, b1, w2, b2 = (np.asarray(w) for w in layer.weights)
    hidden = x @ w1 + b1
    expected = (0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))) @ w2 + b2
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


def test_gelu_gradient_equals_the_derivative_of_x_times_the_normal_cdf():
    import tensorflow as tf

    from keras_deit.layers.gelu import gelu_exact

    x = np.concatenate([np.linspace(-6, 6, 241), RNG.normal(size=200) * 3]).astype("float32")
    variable = tf.Variable(x)
    upstream = RNG.normal(size=x.shape).astype("float32")
    with tf.GradientTape() as tape:
        y = gelu_exact(variable)
        weighted = tf.reduce_sum(y * upstream)
    gradient = tape.gradient(weighted, variable).numpy()
    x64 = x.astype("float64")
    np.testing.assert_allclose(y.numpy(), x64 * 0.5 * (1 + erf(x64 / np.sqrt(2))), atol=1e-6)
    # d/dx x Phi(x) = Phi(x) + x phi(x), checked against a float64 central difference.
    step = 1e-6
    numeric = (
        (x64 + step) * 0.5 * (1 + erf((x64 + step) / np.sqrt(2)))
        - (x64 - step) * 0.5 * (1 + erf((x64 - step) / np.sqrt(2)))
    ) / (2 * step)
    np.testing.assert_allclose(gradient, upstream * numeric, atol=1e-5)


def _mlp_gradients(layer, x, upstream):
    """(output, d x, d weights) of sum(layer(x) * upstream) on the TensorFlow tape."""
    import tensorflow as tf

    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        output = layer(x, training=True)
        weighted = tf.reduce_sum(tf.cast(output, "float32") * upstream)
    gradients = tape.gradient(weighted, [x] + [w.value for w in layer.trainable_weights])
    return np.asarray(output, "float32"), [np.asarray(g, "float32") for g in gradients]


def test_mlp_gradients_equal_the_closed_form_with_gelu_recomputed():
    layer = layers.Mlp(hidden_dim=16)
    x = tokens(width=8) * 3
    layer.build(x.shape)
    upstream = RNG.normal(size=x.shape).astype("float32")
    output, (dx, dw1, db1, dw2, db2) = _mlp_gradients(layer, x, upstream)
    # The backward pass by hand in float64: out = gelu(x w1 + b1) w2 + b2.
    w1, b1, w2, b2 = (np.asarray(w, "float64") for w in layer.weights)
    x64 = x.astype("float64")
    hidden = x64 @ w1 + b1
    cdf = 0.5 * (1 + erf(hidden / np.sqrt(2)))
    activation = hidden * cdf
    slope = cdf + hidden * np.exp(-0.5 * hidden**2) / np.sqrt(2 * np.pi)
    d_hidden = (upstream @ w2.T) * slope
    flat = lambda array: array.reshape(-1, array.shape[-1])  # noqa: E731
    np.testing.assert_allclose(output, activation @ w2 + b2, atol=1e-5)
    np.testing.assert_allclose(dw2, flat(activation).T @ flat(upstream), atol=1e-4)
    np.testing.assert_allclose(db2, flat(upstream).sum(0), atol=1e-5)
    np.testing.assert_allclose(dw1, flat(x64).T @ flat(d_hidden), atol=1e-4)
    np.testing.assert_allclose(db1, flat(d_hidden).sum(0), atol=1e-5)
    np.testing.assert_allclose(dx, d_hidden @ w1.T, atol=1e-5)


def test_mlp_under_mixed_bfloat16_and_int8_keeps_the_float32_gradients_within_their_precision():
    x = tokens(width=8)
    upstream = RNG.normal(size=x.shape).astype("float32")
    reference = layers.Mlp(hidden_dim=16)
    reference.build(x.shape)
    _, expected = _mlp_gradients(reference, x, upstream)
    mixed = layers.Mlp(hidden_dim=16, dtype="mixed_bfloat16")
    mixed.build(x.shape)
    mixed.set_weights(reference.get_weights())
    output, gradients = _mlp_gradients(mixed, x, upstream)
    assert output.dtype == np.float32 and np.asarray(mixed(x)).dtype == np.dtype("bfloat16")
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(got, want, atol=0.05 * np.abs(want).max())
    # A quantized fc2 takes the Dense layer's own path: same outputs to int8 precision.
    quantized = layers.Mlp(hidden_dim=16)
    quantized.build(x.shape)
    quantized.set_weights(reference.get_weights())
    quantized.fc2.quantize("int8")
    want = np.asarray(reference(x))
    np.testing.assert_allclose(np.asarray(quantized(x)), want, atol=0.02 * np.abs(want).max())


def test_drop_path_drops_whole_samples_at_the_rate_and_keeps_the_mean():
    layer = layers.DropPath(rate=0.3, seed=0)
    x = np.ones((4000, 3, 2), "float32")
    out = np.asarray(layer(x, training=True))
    per_sample = out.reshape(4000, -1)
    assert np.all(per_sample.min(1) == per_sample.max(1))  # one draw per sample
    kept = per_sample[:, 0] > 0
    np.testing.assert_allclose(per_sample[kept, 0], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.03  # binomial std at n=4000 is 0.007
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)


def test_drop_path_masks_continue_after_a_weights_round_trip(tmp_path):
    # What a resumed run needs: after save_weights / load_weights the generator draws the
    # masks the uninterrupted layer would have drawn next, not the ones after the reload.
    inputs = keras.Input((6, 4))
    layer = layers.DropPath(rate=0.5, seed=7)
    model = keras.Model(inputs, layer(inputs))
    batch = np.ones((64, 6, 4), "float32")
    layer(batch, training=True)
    path = str(tmp_path / "drop_path.weights.h5")
    model.save_weights(path)
    expected = [keras.ops.convert_to_numpy(layer(batch, training=True)) for _ in range(3)]
    model.load_weights(path)
    actual = [keras.ops.convert_to_numpy(layer(batch, training=True)) for _ in range(3)]
    # Each draw keeps some samples and drops others: equal masks are not a coincidence.
    assert all(0 < (mask[:, 0, 0] > 0).sum() < 64 for mask in expected)
    np.testing.assert_array_equal(np.stack(actual), np.stack(expected))


def test_encoder_block_equals_pre_norm_equation():
    block = layers.EncoderBlock(num_heads=2, mlp_ratio=2.0)
    x = tokens(width=8)
    block.build(x.shape)

    def layer_norm(values, norm):
        gamma, beta = (np.asarray(w) for w in norm.weights)
        mean, var = values.mean(-1, keepdims=True), values.var(-1, keepdims=True)
        return (values - mean) / np.sqrt(var + 1e-6) * gamma + beta

    attn = np.asarray(block.attn(layer_norm(x, block.norm1)))
    y = x + attn
    expected = y + np.asarray(block.mlp(layer_norm(y, block.norm2)))
    np.testing.assert_allclose(np.asarray(block(x)), expected, atol=1e-5)


def test_image_normalization_equals_torchvision_arithmetic():
    images = RNG.uniform(0, 255, (2, 3, 3, 3)).astype("float32")
    mean = np.array([0.485, 0.456, 0.406], "float32")
    std = np.array([0.229, 0.224, 0.225], "float32")
    np.testing.assert_allclose(
        np.asarray(layers.ImageNormalization()(images)), (images / 255 - mean) / std, atol=1e-6
    )


def test_patch_embedding_rejects_indivisible_images():
    with pytest.raises(ValueError, match="not divisible by patch_size 16"):
        layers.PatchEmbedding(patch_size=16, embed_dim=8).build((None, 200, 224, 3))


def test_attention_rejects_heads_that_do_not_divide_width():
    with pytest.raises(ValueError, match="embed_dim 10 is not divisible by num_heads 3"):
        layers.MultiHeadSelfAttention(num_heads=3).build((None, 4, 10))
