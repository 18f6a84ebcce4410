"""`evaluate`: head accuracies against NumPy, the command's table."""

import argparse

import numpy as np
import pytest

import keras_deit
from keras_deit.commands import evaluate
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
