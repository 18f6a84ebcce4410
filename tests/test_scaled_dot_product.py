"""The attention core shared by DeiT's attention and ToMe's: values against NumPy (float64),
gradients against torch's autograd of `F.scaled_dot_product_attention` (float64)."""

import keras
import numpy as np
import torch
import torch.nn.functional as F

from keras_deit.layers.scaled_dot_product import scaled_dot_product_attention

RNG = np.random.default_rng(0)
SHAPE = (2, 7, 3, 4)  # (batch, tokens, heads, head_dim)


def _numpy_attention(query, key, value, scale, bias):
    q, k, v = (x.astype("float64").transpose(0, 2, 1, 3) for x in (query, key, value))
    logits = q @ k.transpose(0, 1, 3, 2) * scale + bias
    scores = np.exp(logits - logits.max(-1, keepdims=True))
    scores /= scores.sum(-1, keepdims=True)
    return (scores @ v).transpose(0, 2, 1, 3), scores


def test_context_and_scores_equal_numpy_with_a_logit_bias():
    query, key, value = (RNG.normal(size=SHAPE).astype("float32") for _ in range(3))
    # ToMe's bias: log of each key's size, the same for every query and head.
    bias = np.log(RNG.integers(1, 5, (2, 1, 1, 7))).astype("float32")
    context, scores = scaled_dot_product_attention(query, key, value, scale=0.5, logit_bias=bias)
    expected_context, expected_scores = _numpy_attention(query, key, value, 0.5, bias)
    np.testing.assert_allclose(np.asarray(scores), expected_scores, atol=1e-6)
    np.testing.assert_allclose(np.asarray(context), expected_context, atol=1e-5)
    assert keras.backend.standardize_dtype(scores.dtype) == "float32"


def test_gradients_equal_torch_autograd_of_scaled_dot_product_attention():
    import tensorflow as tf

    query, key, value, upstream = (RNG.normal(size=SHAPE).astype("float32") for _ in range(4))
    inputs = [tf.constant(x) for x in (query, key, value)]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        context, _ = scaled_dot_product_attention(*inputs, scale=SHAPE[-1] ** -0.5)
        weighted = tf.reduce_sum(context * upstream)
    gradients = tape.gradient(weighted, inputs)

    torch_inputs = [torch.tensor(x, dtype=torch.float64).transpose(1, 2).requires_grad_() for x in (query, key, value)]
    torch_context = F.scaled_dot_product_attention(*torch_inputs)  # scale head_dim ** -0.5
    torch_context.backward(torch.tensor(upstream, dtype=torch.float64).transpose(1, 2))
    np.testing.assert_allclose(np.asarray(context), torch_context.detach().transpose(1, 2).numpy(), atol=1e-5)
    for gradient, torch_input in zip(gradients, torch_inputs):
        np.testing.assert_allclose(np.asarray(gradient), torch_input.grad.transpose(1, 2).numpy(), atol=1e-5)


def test_half_precision_values_get_a_float32_softmax():
    query, key, value = (RNG.normal(size=SHAPE).astype("float16") for _ in range(3))
    context, scores = scaled_dot_product_attention(query, key, value, scale=0.5)
    expected_context, expected_scores = _numpy_attention(query, key, value, 0.5, 0.0)
    assert [keras.backend.standardize_dtype(x.dtype) for x in (scores, context)] == ["float32", "float16"]
    np.testing.assert_allclose(np.asarray(scores), expected_scores, atol=2e-3)
    np.testing.assert_allclose(np.asarray(context, dtype="float64"), expected_context, atol=1e-2)
