"""`keras_deit.analysis` and `keras-deit attention`: rollout against its formula, maps on the eval transform."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_deit
from keras_deit.analysis import attention_rollout, draw_map_grid, load_eval_image, token_maps
from keras_deit.cli import main as cli_main
from keras_deit.commands import attention
from keras_deit.data.eval_transform import resize_and_center_crop
from tests.conftest import command_parser


@pytest.fixture(scope="module")
def model():
    return keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2,
                           distill=True, num_classes=10, seed=0)


@pytest.fixture
def image_path(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype="uint8")).save(path)
    return path


def test_rollout_matches_the_formula():
    rng = np.random.default_rng(1)
    scores = [rng.dirichlet(np.ones(6), size=(2, 3, 6)) for _ in range(4)]  # (B, heads, T, T)
    expected = np.stack([np.eye(6)] * 2)
    for layer in scores:
        a = layer.mean(1) + np.eye(6)
        a = a / a.sum(-1, keepdims=True)
        expected = np.einsum("bij,bjk->bik", a, expected)
    np.testing.assert_allclose(attention_rollout(scores), expected, rtol=1e-12)
    np.testing.assert_allclose(attention_rollout(scores).sum(-1), 1.0)


def test_attention_command_writes_a_figure(model, image_path, tmp_path):
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    maps = token_maps(model, load_eval_image(str(image_path), model.image_size))
    assert len(maps) == 2 + 2 * 2 and all(grid.shape == (4, 4) for grid in maps.values())
    output = tmp_path / "maps.png"
    arguments = command_parser(attention).parse_args(
        ["attention", "--model", str(model_path), str(image_path), "-o", str(output)]
    )
    assert arguments.handler(arguments) == 0 and output.stat().st_size > 10_000


def test_maps_are_computed_on_the_evaluation_crop(model, image_path):
    """The image is the eval transform's centre crop, not a squashed resize; maps are the
    rollout and last-block scores of the model on exactly those pixels."""
    pixels = np.asarray(Image.open(image_path).convert("RGB"))
    image = load_eval_image(str(image_path), model.image_size, crop_ratio=0.8)
    np.testing.assert_array_equal(image, resize_and_center_crop(tf.constant(pixels), image_size=32, crop_ratio=0.8))
    squashed = tf.image.resize(pixels.astype("float32"), (32, 32), "bicubic", antialias=True).numpy()
    assert np.abs(image - squashed).mean() > 10  # a plain resize would be another image
    scores = [np.asarray(layer, "float64") for layer in model.attention_scores(image[None])]
    maps = token_maps(model, image)
    rollout = np.eye(scores[0].shape[-1])
    for layer in scores:  # the formula, again, on these pixels' scores
        step = layer[0].mean(0) + np.eye(layer.shape[-1])
        rollout = (step / step.sum(-1, keepdims=True)) @ rollout
    np.testing.assert_allclose(maps["class token: rollout"], rollout[0, 2:].reshape(4, 4), atol=1e-6)
    np.testing.assert_allclose(maps["distillation token: rollout"], rollout[1, 2:].reshape(4, 4), atol=1e-6)
    last_head = scores[-1][0, 1, 1, 2:].reshape(4, 4)
    np.testing.assert_allclose(maps["distillation token: last block, head 1"], last_head, atol=1e-6)
    with pytest.raises(ValueError, match="model's size"):
        token_maps(model, np.zeros((40, 50, 3)))


def test_attention_accepts_a_run_folder_and_its_crop_ratio(model, image_path, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    model.save(run / "model.keras")
    (run / "config.json").write_text(json.dumps({"data": {"crop_ratio": 0.8}}), encoding="utf-8")
    assert attention.resolve_model(str(run)) == (str(run / "model.keras"), 0.8)
    output = tmp_path / "maps.png"
    assert cli_main(["attention", "--model", str(run), str(image_path), "-o", str(output)]) == 0
    assert "wrote" in capsys.readouterr().out and output.stat().st_size > 10_000


@pytest.mark.parametrize("case", ["empty run folder", "missing model", "missing image"])
def test_attention_errors_are_one_line(model, image_path, tmp_path, capsys, case):
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    (tmp_path / "empty").mkdir()
    model_argument, image_argument, expected = {
        "empty run folder": (tmp_path / "empty", image_path, "holds no model.keras"),
        "missing model": (tmp_path / "nothing.keras", image_path, "No model at"),
        "missing image": (model_path, tmp_path / "cat.jpg", "No image file at"),
    }[case]
    assert cli_main(["attention", "--model", str(model_argument), str(image_argument)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-deit: error:") and expected in error and "\n" not in error


def test_map_grid_draws_each_map_as_its_share_of_the_attention(model, tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.uniform(0, 255, (32, 32, 3)) for _ in range(3)]
    maps = [{"class token": rng.uniform(0, 1, (4, 4)), "distillation token": rng.uniform(0, 1, (4, 4))}
            for _ in range(3)]
    path = tmp_path / "grid.png"
    drawn = draw_map_grid(images, maps, ["true 1, predicted 1", "a", "b"], str(path))
    for image_maps, shares in zip(maps, drawn):
        for title, grid in image_maps.items():
            np.testing.assert_allclose(shares[title], grid / grid.sum(), rtol=1e-12)
    # 3 rows of (image + 2 maps) at 2.2 inches and 100 dpi, plus the colour bar's margin.
    assert Image.open(path).size == (740, 660)
    with pytest.raises(ValueError, match="as many images, maps and captions"):
        draw_map_grid(images, maps[:2], ["a", "b", "c"], str(path))
    with pytest.raises(ValueError, match="the same maps"):
        draw_map_grid(images[:2], [maps[0], {"other": maps[1]["class token"]}], ["a", "b"], str(path))
