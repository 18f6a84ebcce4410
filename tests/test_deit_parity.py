"""keras_deit against timm (the reference behind the official checkpoints), random weights."""

import numpy as np
import pytest
import torch

import keras_deit
from keras_deit.weights.position_embedding import resize_position_embedding
from tests.conftest import random_images, timm_input

TOLERANCE = 1e-4

FACTORIES = {"tiny": keras_deit.DeiTTiny, "small": keras_deit.DeiTSmall}
# DeiT-Ti's width and patch with one block and ten classes: the 384 tests check the
# position-embedding grid (24x24, from 14x14), which depth and head size do not touch.
ONE_BLOCK = dict(depth=1, num_classes=10)
ONE_BLOCK_DEIT = dict(patch_size=16, embed_dim=192, num_heads=3, distill=True, **ONE_BLOCK)


def timm_logits(model, images):
    with torch.no_grad():
        return model(timm_input(images)).numpy()


@pytest.mark.parametrize(
    "timm_name, variant, distill",
    [
        ("deit_tiny_patch16_224", "tiny", False),
        ("deit_tiny_distilled_patch16_224", "tiny", True),
        pytest.param("deit_small_distilled_patch16_224", "small", True, marks=pytest.mark.slow),
    ],
)
def test_logits_match_timm_at_224(timm_models, tmp_path, timm_name, variant, distill):
    reference = timm_models(timm_name)
    path = tmp_path / f"{timm_name}.pth"
    # The official files wrap the state dict as {"model": ...}; both forms must load.
    torch.save({"model": reference.state_dict()} if distill else reference.state_dict(), path)
    model = FACTORIES[variant](distill=distill, weights=str(path))
    images = random_images(2, 224)
    expected = timm_logits(reference, images)
    got = np.asarray(model(images))
    assert np.max(np.abs(got - expected)) <= TOLERANCE
    # The distilled inference output is the mean of two heads that really differ.
    if distill:
        cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
        assert np.max(np.abs(cls_logits - dist_logits)) > 0.1
        with torch.no_grad():
            features = reference.forward_features(timm_input(images))
            timm_cls, timm_dist = reference.forward_head(features, pre_logits=False), None
            reference.set_distilled_training(True)
            reference.train(True)  # only selects the tuple output; no dropout / drop path here
            timm_cls, timm_dist = (t.numpy() for t in reference.forward_head(features))
            reference.eval()
        assert np.max(np.abs(cls_logits - timm_cls)) <= TOLERANCE
        assert np.max(np.abs(dist_logits - timm_dist)) <= TOLERANCE


def test_logits_match_timm_at_384_distilled(timm_models, tmp_path):
    reference = timm_models("deit_tiny_distilled_patch16_224", img_size=384, seed=1, **ONE_BLOCK)
    path = tmp_path / "deit_tiny_distilled_patch16_384.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(path))
    model = keras_deit.DeiT(image_size=384, weights=str(path), **ONE_BLOCK_DEIT)
    images = random_images(2, 384, seed=1)
    assert np.max(np.abs(np.asarray(model(images)) - timm_logits(reference, images))) <= TOLERANCE


def official_finetune_interpolation(state, num_extra_tokens, new_size):
    """The official DeiT main.py `--finetune` code, verbatim in torch."""
    pos_embed_checkpoint = state["pos_embed"]
    embedding_size = pos_embed_checkpoint.shape[-1]
    orig_size = int((pos_embed_checkpoint.shape[-2] - num_extra_tokens) ** 0.5)
    extra_tokens = pos_embed_checkpoint[:, :num_extra_tokens]
    pos_tokens = pos_embed_checkpoint[:, num_extra_tokens:]
    pos_tokens = pos_tokens.reshape(-1, orig_size, orig_size, embedding_size).permute(0, 3, 1, 2)
    pos_tokens = torch.nn.functional.interpolate(
        pos_tokens, size=(new_size, new_size), mode="bicubic", align_corners=False
    )
    pos_tokens = pos_tokens.permute(0, 2, 3, 1).flatten(1, 2)
    return torch.cat((extra_tokens, pos_tokens), dim=1)


def test_224_checkpoint_into_384_model_matches_official_finetune(timm_models, tmp_path):
    source = timm_models("deit_tiny_distilled_patch16_224", seed=2, **ONE_BLOCK)
    path = tmp_path / "deit_tiny_distilled_patch16_224.pth"
    torch.save({"model": source.state_dict()}, path)

    state = {k: v.clone() for k, v in source.state_dict().items()}
    state["pos_embed"] = official_finetune_interpolation(state, num_extra_tokens=2, new_size=24)
    reference = timm_models("deit_tiny_distilled_patch16_224", img_size=384, **ONE_BLOCK)
    reference.load_state_dict(state)

    model = keras_deit.DeiT(image_size=384, weights=str(path), **ONE_BLOCK_DEIT)
    images = random_images(2, 384, seed=2)
    assert np.max(np.abs(np.asarray(model(images)) - timm_logits(reference, images))) <= TOLERANCE


@pytest.mark.parametrize(
    "source_grid, target_grid", [((14, 14), (24, 24)), ((24, 24), (14, 14)), ((14, 14), (7, 20))]
)
def test_resize_position_embedding_equals_torch_bicubic(source_grid, target_grid):
    table = np.random.default_rng(3).normal(size=(1, 2 + source_grid[0] * source_grid[1], 8))
    table = table.astype("float32")
    grid = torch.from_numpy(table[:, 2:]).reshape(1, *source_grid, 8).permute(0, 3, 1, 2)
    expected = torch.nn.functional.interpolate(
        grid, size=target_grid, mode="bicubic", align_corners=False
    )
    expected = expected.permute(0, 2, 3, 1).reshape(1, -1, 8).numpy()
    got = resize_position_embedding(
        table, num_prefix_tokens=2, source_grid=source_grid, target_grid=target_grid
    )
    np.testing.assert_array_equal(got[:, :2], table[:, :2])
    # torch interpolates in float32, this in float64: float32 rounding of values ~3.
    assert np.max(np.abs(got[:, 2:] - expected)) <= 1e-5
