"""The DeiT model contract: sizes, outputs, errors, weights files, saving."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
import torch

import keras_deit
from keras_deit.cli import main as cli_main
from keras_deit.weights.deit import official_checkpoint_name
from tests.conftest import random_images, timm_input

TINY = dict(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


# The DeiT paper / official model zoo parameter counts (paper Table 1, facebookresearch/deit README).
@pytest.mark.parametrize(
    "factory, distill, image_size, expected",
    [
        (keras_deit.DeiTTiny, False, 224, 5_717_416),
        (keras_deit.DeiTTiny, True, 224, 5_910_800),
        (keras_deit.DeiTSmall, False, 224, 22_050_664),
        (keras_deit.DeiTSmall, True, 224, 22_436_432),
        pytest.param(keras_deit.DeiTBase, False, 224, 86_567_656, marks=pytest.mark.slow),
        pytest.param(keras_deit.DeiTBase, True, 224, 87_338_192, marks=pytest.mark.slow),
        pytest.param(keras_deit.DeiTBase, False, 384, 86_859_496, marks=pytest.mark.slow),
        pytest.param(keras_deit.DeiTBase, True, 384, 87_630_032, marks=pytest.mark.slow),
    ],
)
def test_parameter_counts_equal_the_official_ones(factory, distill, image_size, expected):
    model = factory(distill=distill, image_size=image_size)
    assert model.count_params() == expected
    keras.backend.clear_session()


def test_distilled_output_is_the_mean_of_both_heads_whatever_training():
    model = keras_deit.DeiT(distill=True, drop_path_rate=0.0, **TINY)
    images = random_images(3, 32)
    cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
    np.testing.assert_allclose(np.asarray(model(images)), (cls_logits + dist_logits) / 2, atol=1e-6)
    # Same structure in training mode: one (batch, classes) tensor, never a tuple.
    training_output = model(images, training=True)
    assert tuple(training_output.shape) == (3, 5) and training_output.dtype == "float32"


def test_plain_model_heads_are_the_class_head_twice():
    model = keras_deit.DeiT(distill=False, **TINY)
    images = random_images(2, 32)
    cls_logits, dist_logits = model.heads(images)
    np.testing.assert_array_equal(np.asarray(cls_logits), np.asarray(dist_logits))
    np.testing.assert_array_equal(np.asarray(model(images)), np.asarray(cls_logits))


def test_stochastic_depth_rises_linearly_like_timm():
    model = keras_deit.DeiT(distill=True, drop_path_rate=0.3, **{**TINY, "depth": 5})
    expected = [x.item() for x in torch.linspace(0, 0.3, 5)]  # timm's dpr rule
    np.testing.assert_allclose([b.drop_path_rate for b in model.blocks], expected, atol=1e-7)


def test_every_weight_gets_a_gradient_in_training_mode():
    model = keras_deit.DeiT(distill=True, drop_path_rate=0.1, seed=0, **TINY)
    images = random_images(4, 32)
    labels = np.array([0, 1, 2, 3])
    with tf.GradientTape() as tape:
        cls_logits, dist_logits = model.heads(images, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(labels, cls_logits, from_logits=True)
        loss += keras.losses.sparse_categorical_crossentropy(labels, dist_logits, from_logits=True)
    gradients = tape.gradient(loss, model.trainable_weights)
    assert len(gradients) == len(model.trainable_weights) > 0
    for weight, gradient in zip(model.trainable_weights, gradients):
        assert gradient is not None and np.all(np.isfinite(gradient)), weight.path
        assert np.abs(gradient).max() > 0, weight.path


def test_include_top_false_gives_token_features_equal_to_timm(timm_models, tmp_path):
    reference = timm_models("deit_tiny_distilled_patch16_224")
    path = tmp_path / "deit.pth"
    torch.save(reference.state_dict(), path)
    # The checkpoint's heads are ignored without a top, as keras.applications do.
    model = keras_deit.DeiTTiny(distill=True, include_top=False, weights=str(path))
    images = random_images(1, 224)
    with torch.no_grad():
        expected = reference.forward_features(timm_input(images)).numpy()
    features = np.asarray(model(images))
    assert features.shape == (1, 198, 192)
    assert np.max(np.abs(features - expected)) <= 1e-4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image_size=225), "image_size 225x225 is not divisible by patch_size 16"),
        (dict(image_size=(224, 200)), "image_size 224x200 is not divisible by patch_size 16"),
        (dict(embed_dim=100, num_heads=3), "embed_dim 100 is not divisible by num_heads 3"),
        (dict(depth=0), "depth must be a positive int"),
        (dict(num_classes=0), "num_classes must be a positive int"),
        (dict(drop_path_rate=1.0), r"drop_path_rate must be in \[0, 1\)"),
        (dict(patch_size=(16, 8)), "patch_size must be square"),
    ],
)
def test_bad_configs_raise_a_value_error_that_says_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_deit.DeiT(**kwargs)


def test_images_of_the_wrong_size_are_a_clear_error():
    model = keras_deit.DeiT(**TINY)
    with pytest.raises(ValueError, match=r"takes images of shape \(batch, 32, 32, 3\)"):
        model(random_images(1, 48))


def test_keras_file_round_trip_in_safe_mode(tmp_path):
    model = keras_deit.DeiT(distill=True, drop_path_rate=0.1, seed=1, **TINY)
    images = random_images(2, 32)
    path = tmp_path / "deit.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is keras_deit.DeiT
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))
    for original, restored in zip(model.heads(images), loaded.heads(images)):
        np.testing.assert_array_equal(np.asarray(original), np.asarray(restored))


def test_from_config_round_trip_of_the_model():
    model = keras_deit.DeiTTiny(distill=True, image_size=64, num_classes=7)
    clone = keras_deit.DeiT.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.count_params() == model.count_params()


def distilled_checkpoint(timm_models, path, name="deit_tiny_distilled_patch16_224"):
    reference = timm_models(name)
    torch.save({"model": reference.state_dict()}, path)
    return reference


@pytest.mark.parametrize(
    "model_kwargs, message",
    [
        # A plain checkpoint into a distilled model: the distillation token is missing.
        (dict(distill=True), "missing from the checkpoint: dist_token"),
        # A distilled checkpoint into a plain model: its distillation tensors are extra.
        (dict(distill=False), "unexpected in the checkpoint.*dist_token.*head_dist.bias"),
        (dict(distill=False, num_classes=10), r"head.weight: checkpoint \(1000, 192\)"),
    ],
)
def test_missing_extra_or_misshaped_tensors_are_named(timm_models, tmp_path, model_kwargs, message):
    name = "deit_tiny_patch16_224" if model_kwargs["distill"] else "deit_tiny_distilled_patch16_224"
    path = tmp_path / "checkpoint.pth"
    torch.save(timm_models(name).state_dict(), path)
    model = keras_deit.DeiTTiny(**model_kwargs)
    before = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match=message):
        keras_deit.load_deit_weights(model, str(path))
    # Checked before anything is assigned: the model is left as it was.
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(weight), value)


def test_unknown_weights_argument_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="weights must be None, 'imagenet'"):
        keras_deit.DeiTTiny(weights=str(tmp_path / "weights.npz"))


def test_pth_loading_does_not_unpickle_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pth"
    torch.save({"model": {"cls_token": torch.zeros(1)}, "payload": Payload()}, path)
    with pytest.raises(Exception, match="(?i)weights.only|unsupported global"):
        keras_deit.load_deit_weights(keras_deit.DeiT(**TINY), str(path))
    assert not (tmp_path / "pwned").exists()


def test_convert_command_writes_weights_that_reproduce_the_checkpoint(timm_models, tmp_path):
    checkpoint = tmp_path / "deit_tiny_distilled_patch16_224.pth"
    reference = distilled_checkpoint(timm_models, checkpoint)
    target = tmp_path / "out" / "deit_tiny_distilled.weights.h5"
    assert cli_main(["convert", str(checkpoint), str(target)]) == 0
    assert sorted(os.listdir(target.parent)) == [target.name]  # no temporary file left
    model = keras_deit.DeiTTiny(distill=True, weights=str(target))
    images = random_images(1, 224)
    with torch.no_grad():
        expected = reference(timm_input(images)).numpy()
    assert np.max(np.abs(np.asarray(model(images)) - expected)) <= 1e-4


def test_convert_command_reports_a_non_deit_file(tmp_path, capsys):
    path = tmp_path / "other.safetensors"
    from safetensors.numpy import save_file

    save_file({"fc.weight": np.zeros((2, 2), "float32")}, str(path))
    assert cli_main(["convert", str(path), str(tmp_path / "x.weights.h5")]) == 2
    assert "is not a DeiT checkpoint" in capsys.readouterr().err


def test_imagenet_weights_pick_the_official_file_for_the_architecture():
    assert official_checkpoint_name(keras_deit.DeiTTiny(distill=True)) == (
        "deit_tiny_distilled_patch16_224-b40b3cf7.pth"
    )
    # No official 384 Tiny: the 224 file, interpolated on load.
    tiny_384 = keras_deit.DeiT(image_size=384, num_classes=1000)
    assert official_checkpoint_name(tiny_384) == "deit_tiny_patch16_224-a1311bcf.pth"
    with pytest.raises(ValueError, match="needs num_classes=1000"):
        official_checkpoint_name(keras_deit.DeiT(num_classes=10))


def test_mixed_bfloat16_model_stays_close_to_float32(tmp_path):
    model = keras_deit.DeiT(distill=True, **TINY)
    path = tmp_path / "deit.weights.h5"
    model.save_weights(path)
    mixed = keras_deit.DeiT(distill=True, dtype="mixed_bfloat16", **TINY)
    mixed.load_weights(path)
    images = random_images(4, 32)
    logits, mixed_logits = np.asarray(model(images)), np.asarray(mixed(images))
    assert mixed_logits.dtype == np.float32
    assert np.max(np.abs(mixed_logits - logits)) < 0.05 * max(1.0, np.abs(logits).max())


JAX_JOB = """
import numpy as np, keras, keras_deit
weights, keras_file, data = args
arrays = np.load(data)
model = keras_deit.DeiT(distill=True, image_size=32, patch_size=8, embed_dim=32, depth=2,
                        num_heads=2, num_classes=5)
model.load_weights(weights)
loaded = keras.saving.load_model(keras_file, safe_mode=True)
cls_logits, dist_logits = model.heads(arrays["images"])
np.savez(data.replace(".npz", "_jax.npz"), logits=np.asarray(model(arrays["images"])),
         loaded=np.asarray(loaded(arrays["images"])), cls=np.asarray(cls_logits),
         dist=np.asarray(dist_logits))
"""


@pytest.mark.slow
def test_forward_and_keras_file_on_the_jax_backend(jax_worker, tmp_path):
    model = keras_deit.DeiT(distill=True, **TINY)
    images = random_images(2, 32)
    model.save_weights(tmp_path / "deit.weights.h5")
    model.save(tmp_path / "deit.keras")
    np.savez(tmp_path / "data.npz", images=images)
    jax_worker(JAX_JOB, tmp_path / "deit.weights.h5", tmp_path / "deit.keras", tmp_path / "data.npz")
    jax_outputs = np.load(tmp_path / "data_jax.npz")
    expected = np.asarray(model(images))
    assert np.max(np.abs(jax_outputs["logits"] - expected)) <= 1e-5
    np.testing.assert_array_equal(jax_outputs["loaded"], jax_outputs["logits"])
    cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
    assert np.max(np.abs(jax_outputs["cls"] - cls_logits)) <= 1e-5
    assert np.max(np.abs(jax_outputs["dist"] - dist_logits)) <= 1e-5


SMALL_TIMM = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


@pytest.mark.parametrize("distill", [False, True])
@pytest.mark.parametrize("pooling", ["token", "avg"])
def test_pooling_equals_timm_features_pooled(timm_models, tmp_path, distill, pooling):
    name = "deit_tiny_distilled_patch16_224" if distill else "deit_tiny_patch16_224"
    reference = timm_models(name, **SMALL_TIMM)
    path = tmp_path / "deit.pth"
    torch.save(reference.state_dict(), path)
    model = keras_deit.DeiT(distill=distill, include_top=False, pooling=pooling, weights=str(path), **TINY)
    images = random_images(3, 32)
    with torch.no_grad():
        features = reference.forward_features(timm_input(images))
        if pooling == "token":
            # timm's pre-logits: the class token, or for a distilled model the mean of both tokens.
            expected = reference.forward_head(features, pre_logits=True).numpy()
        else:
            expected = features[:, reference.num_prefix_tokens :].mean(dim=1).numpy()
    got = np.asarray(model(images))
    assert got.shape == (3, 32) == tuple(model.compute_output_shape((3, 32, 32, 3)))
    assert np.max(np.abs(got - expected)) <= 1e-4


def test_pooling_with_heads_or_unknown_is_an_error():
    with pytest.raises(ValueError, match="pooling applies only with include_top=False"):
        keras_deit.DeiT(pooling="avg", **TINY)
    with pytest.raises(ValueError, match="pooling must be None, 'token' or 'avg'"):
        keras_deit.DeiT(include_top=False, pooling="max", **TINY)


def test_reset_classifier_keeps_the_trunk_and_gives_fresh_heads(tmp_path):
    model = keras_deit.DeiT(distill=True, seed=0, **TINY)
    images = random_images(2, 32)
    features = np.asarray(model.features(images))
    old_kernel = np.asarray(model.head.kernel).copy()
    heads = model.reset_classifier(7)
    assert heads == (model.head, model.head_dist) and model.num_classes == 7
    np.testing.assert_array_equal(np.asarray(model.features(images)), features)
    cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
    assert cls_logits.shape == dist_logits.shape == (2, 7)
    # Fresh heads: DeiT's init (normal std 0.02 kernel, zero bias), shape (embed_dim, 7).
    kernel = np.asarray(model.head.kernel)
    assert kernel.shape == (32, 7) and not np.any(np.asarray(model.head.bias))
    assert abs(kernel.std() - 0.02) < 0.005  # 224 draws: the std estimate is within ~5%
    assert not np.array_equal(kernel[:, :5], old_kernel)
    # Logits are the new heads applied to the untouched class / distillation tokens.
    np.testing.assert_allclose(cls_logits, features[:, 0] @ kernel, atol=1e-5)
    np.testing.assert_allclose(dist_logits, features[:, 1] @ np.asarray(model.head_dist.kernel), atol=1e-5)
    # No stale variables; paths as if built with 7 classes.
    assert len(model.weights) == len(keras_deit.DeiT(distill=True, **{**TINY, "num_classes": 7}).weights)
    assert {"deit/head/kernel", "deit/head_dist/bias"} <= {v.path for v in model.weights}
    path = tmp_path / "reset.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.get_config() == model.get_config() and loaded.num_classes == 7
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))


def test_reset_classifier_needs_heads_and_a_class_count():
    with pytest.raises(ValueError, match="needs a model with heads"):
        keras_deit.DeiT(include_top=False, **TINY).reset_classifier(3)
    with pytest.raises(ValueError, match="num_classes must be a positive int"):
        keras_deit.DeiT(**TINY).reset_classifier(0)


@pytest.mark.parametrize("distill", [False, True])
def test_no_weight_decay_equals_timm_param_groups(timm_models, distill):
    from timm.optim import param_groups_weight_decay

    from keras_deit.weights.deit import timm_assignments

    name = "deit_tiny_distilled_patch16_224" if distill else "deit_tiny_patch16_224"
    reference = timm_models(name, **SMALL_TIMM)
    no_decay_group, _ = param_groups_weight_decay(
        reference, weight_decay=0.05, no_weight_decay_list=reference.no_weight_decay()
    )
    names = {id(p): n for n, p in reference.named_parameters()}
    timm_plain = {names[id(p)] for p in no_decay_group["params"]}
    model = keras_deit.DeiT(distill=distill, **TINY)
    by_path = {variable.path: timm_name for timm_name, variable, _ in timm_assignments(model)}
    assert {by_path[path] for path in model.no_weight_decay()} == timm_plain
    assert {"pos_embed", "cls_token", "norm.weight", "head.bias"} <= timm_plain


def test_pooling_survives_the_keras_file(tmp_path):
    model = keras_deit.DeiT(distill=True, include_top=False, pooling="avg", **TINY)
    assert model.get_config()["pooling"] == "avg" and "weights" not in model.get_config()
    model.save(tmp_path / "pooled.keras")
    loaded = keras.saving.load_model(tmp_path / "pooled.keras", safe_mode=True)
    images = random_images(2, 32)
    np.testing.assert_array_equal(np.asarray(loaded(images)), np.asarray(model(images)))
