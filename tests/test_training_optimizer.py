"""AdamW against torch's, its weight-decay exclusions (against timm's rule) and the EMA of the weights."""

import numpy as np
import pytest
import torch
from timm.optim import param_groups_weight_decay

import keras

import keras_deit
from keras_deit.weights.deit import timm_assignments
from keras_deit.training.ema import ema_weights
from keras_deit.training.optimizer import AdamW, build_optimizer, decays


@pytest.mark.parametrize("distill", [False, True])
def test_decayed_variables_match_timm_param_groups(timm_models, distill):
    name = "deit_tiny_distilled_patch16_224" if distill else "deit_tiny_patch16_224"
    reference = timm_models(name, img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=10)
    no_decay_group, decay_group = param_groups_weight_decay(
        reference, weight_decay=0.05, no_weight_decay_list=reference.no_weight_decay()
    )
    assert decay_group["weight_decay"] == 0.05 and no_decay_group["weight_decay"] == 0.0
    names = {id(p): n for n, p in reference.named_parameters()}
    timm_decayed = {names[id(p)] for p in decay_group["params"]}
    timm_plain = {names[id(p)] for p in no_decay_group["params"]}
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                            distill=distill, num_classes=10)
    by_variable = {id(variable): timm_name for timm_name, variable, _ in timm_assignments(model)}
    ours = {by_variable[id(v)] for v in model.trainable_variables if decays(v)}
    assert ours == timm_decayed
    assert {by_variable[id(v)] for v in model.trainable_variables} - ours == timm_plain
    assert {"pos_embed", "cls_token", "blocks.0.norm1.weight", "head.bias"} <= timm_plain


def torch_adamw_trajectory(initial, gradients, *, learning_rates, weight_decay, decayed, amsgrad):
    """torch.optim.AdamW (DeiT's optimizer) on `initial`, a list of arrays, with the given gradients per step."""
    parameters = [torch.nn.Parameter(torch.from_numpy(value.copy())) for value in initial]
    groups = [
        {"params": [p for p, d in zip(parameters, decayed) if d], "weight_decay": weight_decay},
        {"params": [p for p, d in zip(parameters, decayed) if not d], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=learning_rates[0], eps=1e-8, amsgrad=amsgrad)
    for rate, step_gradients in zip(learning_rates, gradients):
        for group in optimizer.param_groups:
            group["lr"] = rate
        for parameter, gradient in zip(parameters, step_gradients):
            parameter.grad = torch.from_numpy(gradient)
        optimizer.step()
    return [p.detach().numpy() for p in parameters]


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adamw_update_equals_torch_adamw(amsgrad):
    from keras_deit.training.schedule import WarmupCosineSchedule

    rng = np.random.default_rng(0)
    shapes = [(6, 5), (5,), (1, 3, 4)]
    initial = [rng.normal(size=shape).astype("float32") for shape in shapes]
    # Gradients from 1e-10 to 1: where epsilon and its placement decide the update.
    gradients = [
        [(rng.normal(size=shape) * 10.0 ** rng.uniform(-10, 0, size=shape)).astype("float32") for shape in shapes]
        for _ in range(25)
    ]
    schedule = WarmupCosineSchedule(
        peak_learning_rate=1e-2, total_steps=25, warmup_steps=5, warmup_learning_rate=1e-4, min_learning_rate=1e-5,
    )
    learning_rates = [float(schedule(step)) for step in range(25)]
    variables = [keras.Variable(value) for value in initial]
    optimizer = AdamW(learning_rate=schedule, weight_decay=0.5, epsilon=1e-8, amsgrad=amsgrad)
    optimizer.exclude_from_weight_decay(var_list=[variables[1]])
    for step_gradients in gradients:
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in step_gradients], variables)
    expected = torch_adamw_trajectory(
        initial, gradients, learning_rates=learning_rates, weight_decay=0.5, decayed=[True, False, True],
        amsgrad=amsgrad,
    )
    for variable, reference, start in zip(variables, expected, initial):
        moved = np.abs(reference - start)
        assert moved.max() > 1e-2
        # float32 rounding of values near 1 over 25 steps: 5e-7 measured; Keras' own
        # AdamW (epsilon before the bias correction) is 5e-4 off.
        np.testing.assert_allclose(variable.numpy(), reference, rtol=0, atol=2e-6)


def test_optimizer_decays_only_kernels():
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=4)
    optimizer = build_optimizer(variables=model.trainable_variables, learning_rate=0.0, weight_decay=0.5)
    optimizer.build(model.trainable_variables)
    decayed = {v.path for v in model.trainable_variables if optimizer._use_weight_decay(v)}
    assert decayed == {v.path for v in model.trainable_variables if decays(v)}
    assert "deit/blocks_0/attn/qkv/kernel" in decayed and "deit/pos_embed/pos_embed" not in decayed
    assert optimizer.epsilon == 1e-8


def test_ema_is_kept_beside_the_raw_weights_after_fit():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    optimizer = AdamW(learning_rate=0.1, weight_decay=0.0, use_ema=True, ema_momentum=0.5)
    model.compile(optimizer=optimizer, loss="mse")
    kernel = model.layers[0].kernel
    history = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            history.append(np.array(kernel.numpy()))

    x, y = np.ones((4, 3), "float32"), np.zeros((4, 1), "float32")
    initial = np.array(kernel.numpy())
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, shuffle=False, callbacks=[Record()])
    # Keras: average = variable at step 0, then 0.5 * average + 0.5 * variable.
    expected = history[0]
    for value in history[1:]:
        expected = 0.5 * expected + 0.5 * value
    np.testing.assert_allclose(kernel.numpy(), history[-1])  # raw weights kept after fit
    with ema_weights(model.optimizer):
        np.testing.assert_allclose(kernel.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(kernel.numpy(), history[-1])
    assert not np.allclose(initial, history[-1])


def test_strategy_defaults_on_this_machine(monkeypatch):
    import tensorflow as tf

    from keras_deit.training.strategy import choose_strategy, is_chief, mixed_precision_policy

    monkeypatch.delenv("TF_CONFIG", raising=False)
    strategy = choose_strategy()
    assert strategy.num_replicas_in_sync == 1 and is_chief()
    if not tf.config.list_logical_devices("GPU"):
        assert mixed_precision_policy(strategy) == "float32"
    assert mixed_precision_policy(strategy, "mixed_bfloat16") == "mixed_bfloat16"
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert not is_chief()
