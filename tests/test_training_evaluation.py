"""`evaluate` and `attention`: head accuracies against NumPy, rollout against its formula."""

import argparse

import numpy as np
import pytest

import keras_deit
from keras_deit.commands import attention, evaluate
from keras_deit.training.evaluation import head_metrics


def _parser(module):
    parser = argparse.ArgumentParser()
    module.register(parser.add_subparsers())
    return parser


@pytest.fixture(scope="module")
def model():
    return keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2,
                           distill=True, num_classes=10, seed=0)


def test_head_metrics_match_numpy(model):
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (20, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 10, 20)
    batches = [(images[:8], labels[:8]), (images[8:], labels[8:])]
    metrics = head_metrics(model, batches)
    cls_logits, dist_logits = (np.asarray(t) for t in model.heads(images))
    for prefix, logits in (("cls_", cls_logits), ("dist_", dist_logits), ("", cls_logits + dist_logits)):
        assert metrics[prefix + "top1"] == pytest.approx(np.mean(logits.argmax(-1) == labels))
        top5 = np.argsort(-logits, -1)[:, :5]
        assert metrics[prefix + "top5"] == pytest.approx(np.mean((top5 == labels[:, None]).any(-1)))
    assert metrics["images"] == 20 and metrics["images_per_second"] > 0


def test_rollout_matches_the_formula():
    rng = np.random.default_rng(1)
    scores = [rng.dirichlet(np.ones(6), size=(2, 3, 6)) for _ in range(4)]  # (B, heads, T, T)
    expected = np.stack([np.eye(6)] * 2)
    for layer in scores:
        a = layer.mean(1) + np.eye(6)
        a = a / a.sum(-1, keepdims=True)
        expected = np.einsum("bij,bjk->bik", a, expected)
    np.testing.assert_allclose(attention.attention_rollout(scores), expected, rtol=1e-12)
    np.testing.assert_allclose(attention.attention_rollout(scores).sum(-1), 1.0)


def test_attention_command_writes_a_figure(model, tmp_path):
    from PIL import Image

    image_path = tmp_path / "digit.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype="uint8")).save(image_path)
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    maps = attention.token_maps(model, attention.load_image(str(image_path), model.image_size))
    assert len(maps) == 2 + 2 * 2 and all(grid.shape == (4, 4) for grid in maps.values())
    output = tmp_path / "maps.png"
    arguments = _parser(attention).parse_args(["attention", "--model", str(model_path), str(image_path), "-o", str(output)])
    assert arguments.handler(arguments) == 0 and output.stat().st_size > 10_000


def test_evaluate_command_reports_each_head(model, tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    arguments = _parser(evaluate).parse_args(
        ["evaluate", "--model", str(model_path), "--data", "digits", "--split", "test", "--batch-size", "128"]
    )
    assert arguments.handler(arguments) == 0
    table = capsys.readouterr().out
    for head in ("| weights | class |", "| weights | distillation |", "| weights | mean of heads |"):
        assert head in table
