"""Loading weights into DeiT: the official table, weights="imagenet" checks, tensor checks."""

import keras
import numpy as np
import pytest
import torch

import keras_deit
from keras_deit.models.deit_variants import VARIANTS
from keras_deit.training.config import TEACHER_WEIGHTS
from keras_deit.training.defaults import finetune_384_config
from keras_deit.weights.official import OFFICIAL_DEIT, REGNETY_160_URL

TINY = dict(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=5)


@pytest.mark.parametrize("name", sorted(OFFICIAL_DEIT))
def test_official_table_agrees_with_timm_and_the_paper(name):
    import timm

    entry = OFFICIAL_DEIT[name]
    # timm's own config of the same model name: architecture and evaluation settings.
    reference = timm.create_model(name, pretrained=False)
    assert reference.patch_embed.proj.out_channels == entry.embed_dim
    assert len(reference.blocks) == entry.depth and reference.blocks[0].attn.num_heads == entry.num_heads
    assert reference.patch_embed.patch_size == (entry.patch_size, entry.patch_size)
    assert reference.patch_embed.img_size == (entry.image_size, entry.image_size)
    assert (reference.num_prefix_tokens == 2) == entry.distill
    cfg = reference.pretrained_cfg
    assert cfg["url"] == entry.url and entry.file.startswith(name)
    assert tuple(cfg["mean"]) == entry.mean and tuple(cfg["std"]) == entry.std
    # 384: timm's full-image crop; 224: the official eval's 0.875 (timm's config says 0.9).
    assert entry.crop_pct == (cfg["crop_pct"] if entry.image_size == 384 else 0.875)
    # The factories' sizes are the table's.
    variant = name.split("_")[1]
    assert VARIANTS[variant] == dict(embed_dim=entry.embed_dim, num_heads=entry.num_heads)
    del reference


def test_training_defaults_take_their_files_from_the_table():
    assert TEACHER_WEIGHTS == REGNETY_160_URL == "https://dl.fbaipublicfiles.com/deit/regnety_160-a5fe301d.pth"
    assert finetune_384_config("base", distill=True).training.init_from == (
        "https://dl.fbaipublicfiles.com/deit/deit_base_distilled_patch16_224-df68dfff.pth"
    )


@pytest.mark.parametrize(
    "kwargs, nearest, difference",
    [
        (dict(embed_dim=192, num_heads=4), "deit_tiny_patch16_224", "num_heads 3 (this model: 4)"),
        (dict(embed_dim=384, num_heads=6, depth=6, distill=True), "deit_small_distilled_patch16_224",
         "depth 12 (this model: 6)"),
        (dict(embed_dim=768, num_heads=12, patch_size=32), "deit_base_patch16_224", "patch_size 16"),
        (dict(embed_dim=192, num_heads=3, mlp_ratio=2.0), "deit_tiny_patch16_224", "mlp_ratio 4.0"),
    ],
)
def test_imagenet_weights_refuse_an_unofficial_architecture_before_downloading(
    monkeypatch, kwargs, nearest, difference
):
    def no_download(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr(keras.utils, "get_file", no_download)
    with pytest.raises(ValueError, match="nearest official model is " + nearest) as error:
        keras_deit.DeiT(weights="imagenet", **kwargs)
    assert difference in str(error.value)


def test_imagenet_weights_fetch_the_official_file_of_the_architecture(monkeypatch, tmp_path, timm_models):
    # The download is stood in for by a random timm checkpoint of the same architecture.
    reference = timm_models("deit_tiny_distilled_patch16_224")
    local = tmp_path / "deit.pth"
    torch.save({"model": reference.state_dict()}, local)
    asked = []

    def fake_get_file(fname, origin, cache_subdir):
        asked.append((fname, origin))
        return str(local)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    model = keras_deit.DeiTTiny(distill=True, weights="imagenet")
    entry = OFFICIAL_DEIT["deit_tiny_distilled_patch16_224"]
    assert asked == [(entry.file, entry.url)]
    np.testing.assert_array_equal(np.asarray(model.tokens.dist_token), reference.dist_token.detach().numpy())


def _tiny_state(model):
    """The timm-named state dict of a Keras DeiT (torch layouts)."""
    from keras_deit.weights.deit import timm_assignments

    state = {}
    for name, variable, transform in timm_assignments(model):
        value = np.asarray(variable)
        # Back to torch layouts: Dense (in, out) -> (out, in), Conv (kh, kw, in, out) -> (out, in, kh, kw).
        if value.ndim == 2:
            value = value.T
        elif value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)
        # Contiguous: safetensors' NumPy writer stores a transposed view's memory, not its values.
        state[name] = np.ascontiguousarray(value)
    return state


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda s: s.update({"blocks.1.mlp.fc1.weight": s["blocks.1.mlp.fc1.weight"].astype(np.int64)}),
         r"not a float tensor for a float weight: blocks\.1\.mlp\.fc1\.weight \(int64"),
        (lambda s: s.update({"norm.bias": np.ones(s["norm.bias"].shape, bool)}),
         r"not a float tensor for a float weight: norm\.bias \(bool"),
        (lambda s: s["pos_embed"].__setitem__((0, 3, 1), np.nan), r"NaN / Inf values: pos_embed \(1 NaN"),
        (lambda s: s["head.weight"].__setitem__((2, 0), np.inf), r"NaN / Inf values: head\.weight \(1 NaN"),
    ],
    ids=["int", "bool", "nan", "inf"],
)
def test_non_float_or_non_finite_tensors_are_named_and_nothing_is_assigned(tmp_path, corrupt, message):
    from safetensors.numpy import save_file

    state = _tiny_state(keras_deit.DeiT(**TINY))
    corrupt(state)
    path = tmp_path / "bad.safetensors"
    save_file(state, str(path))
    model = keras_deit.DeiT(**TINY)
    before = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match=message):
        keras_deit.load_deit_weights(model, str(path))
    for weight, value in zip(model.weights, before):
        np.testing.assert_array_equal(np.asarray(weight), value)


def test_a_good_state_round_trips_exactly(tmp_path):
    from safetensors.numpy import save_file

    source = keras_deit.DeiT(**TINY)
    state = _tiny_state(source)
    path = tmp_path / "good.safetensors"
    save_file(state, str(path))
    target = keras_deit.DeiT(**TINY, weights=str(path))
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(np.asarray(target(images)), np.asarray(source(images)))
