"""The sum over tokens as a matrix product, and the LayerNorm and Dense whose gradients use
it: values and gradients against NumPy (float64) and torch's autograd of `F.layer_norm`."""

import keras
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from keras_deit.layers.dense import dense
from keras_deit.layers.layer_norm import LayerNorm, layer_norm
from keras_deit.layers.token_sum import sum_over_tokens

RNG = np.random.default_rng(0)


def test_sum_over_tokens_equals_numpy_in_float64():
    x = RNG.normal(size=(4, 33, 40)).astype("float32")
    np.testing.assert_allclose(np.asarray(sum_over_tokens(x)), x.astype("float64").sum((0, 1)), atol=1e-4)


def _tape(function, inputs, upstream):
    """(outputs, gradients of sum(outputs * upstream) w.r.t. each of `inputs`) on the TF tape."""
    import tensorflow as tf

    inputs = [tf.constant(value) for value in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = function(*inputs)
        weighted = tf.reduce_sum(tf.cast(outputs, "float32") * upstream)
    return np.asarray(outputs, "float32"), [np.asarray(g, "float32") for g in tape.gradient(weighted, inputs)]


def test_layer_norm_values_and_gradients_equal_torch_layer_norm():
    norm = LayerNorm(epsilon=1e-6)
    x = (RNG.normal(size=(3, 7, 24)) * 4 + 1).astype("float32")
    norm.build(x.shape)
    gamma, beta = RNG.normal(size=(2, 24)).astype("float32")
    norm.set_weights([gamma, beta])
    upstream = RNG.normal(size=x.shape).astype("float32")
    output, (dx, dgamma, dbeta) = _tape(lambda *a: layer_norm(*a, 1e-6), [x, gamma, beta], upstream)
    tx, tgamma, tbeta = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (x, gamma, beta))
    reference = F.layer_norm(tx, (24,), tgamma, tbeta, 1e-6)
    (reference * torch.tensor(upstream, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(output, reference.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(np.asarray(norm(x)), reference.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(dx, tx.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(dgamma, tgamma.grad.numpy(), atol=1e-4)
    np.testing.assert_allclose(dbeta, tbeta.grad.numpy(), atol=1e-4)


def test_layer_norm_under_mixed_float16_normalizes_in_float32():
    x = (RNG.normal(size=(2, 5, 16)) * 100).astype("float32")
    half = LayerNorm(epsilon=1e-6, dtype="mixed_float16")
    output = half(x.astype("float16"))
    expected = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-6)
    assert output.dtype == "float16"
    np.testing.assert_allclose(np.asarray(output, "float32"), expected, atol=5e-3)


@pytest.mark.parametrize("settings", [dict(axis=1), dict(center=False), dict(scale=False)], ids=str)
def test_layer_norm_refuses_what_it_does_not_compute(settings):
    with pytest.raises(ValueError, match="LayerNorm normalizes the last axis"):
        LayerNorm(**settings)


def test_dense_values_and_gradients_equal_the_closed_form():
    import tensorflow as tf

    layer = keras.layers.Dense(6, bias_initializer="random_normal")
    x = tf.constant(RNG.normal(size=(2, 5, 4)).astype("float32"))
    layer.build(x.shape)
    kernel, bias = (np.asarray(w, "float64") for w in layer.weights)
    upstream = RNG.normal(size=(2, 5, 6)).astype("float32")
    with tf.GradientTape() as tape:
        tape.watch(x)
        output = dense(layer, x)
        weighted = tf.reduce_sum(output * upstream)
    dx, dkernel, dbias = (g.numpy() for g in tape.gradient(weighted, [x, layer.kernel.value, layer.bias.value]))
    rows, up = x.numpy().reshape(-1, 4).astype("float64"), upstream.reshape(-1, 6).astype("float64")
    np.testing.assert_allclose(output.numpy(), x.numpy() @ kernel + bias, atol=1e-5)
    np.testing.assert_allclose(dx, upstream @ kernel.T, atol=1e-5)
    np.testing.assert_allclose(dkernel, rows.T @ up, atol=1e-5)
    np.testing.assert_allclose(dbias, up.sum(0), atol=1e-5)


def test_dense_of_a_quantized_layer_is_the_layer_itself():
    layer = keras.layers.Dense(6)
    x = RNG.normal(size=(2, 5, 4)).astype("float32")
    layer.build(x.shape)
    float_output = np.asarray(dense(layer, x))
    np.testing.assert_allclose(float_output, np.asarray(layer(x)), atol=1e-6)
    layer.quantize("int8")
    np.testing.assert_allclose(np.asarray(dense(layer, x)), np.asarray(layer(x)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(dense(layer, x)), float_output, atol=0.05 * np.abs(float_output).max())
