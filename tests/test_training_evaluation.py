"""`evaluate`: head accuracies against NumPy, the command's table."""

import numpy as np
import pytest

import keras_deit
from keras_deit.commands import evaluate
from keras_deit.training.evaluation import head_metrics
from tests.conftest import command_parser


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


def test_evaluating_many_models_keeps_none_of_them_alive():
    import gc
    import weakref

    import keras

    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    labels = np.arange(4)
    references = []
    for seed in range(5):
        student = keras_deit.DeiT(image_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2,
                                  num_classes=10, seed=seed)
        metrics = head_metrics(student, [(images, labels)])
        # The compiled pass serves the same numbers as the model called eagerly.
        expected = np.mean(np.argmax(keras.ops.convert_to_numpy(student(images)), -1) == labels)
        assert metrics["top1"] == pytest.approx(expected)
        references.append(weakref.ref(student))
        del student
    gc.collect()
    assert [reference() for reference in references] == [None] * 5


def test_head_metrics_of_a_plain_classifier_match_numpy():
    from keras_deit.teachers.convnet import ConvNet

    model = ConvNet(image_size=16, num_classes=10)
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (12, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 10, 12)
    metrics = head_metrics(model, [(images[:5], labels[:5]), (images[5:], labels[5:])])
    logits = np.asarray(model.predict(images, verbose=0))
    assert set(metrics) == {"top1", "top5", "images", "images_per_second"}
    assert metrics["top1"] == pytest.approx(np.mean(logits.argmax(-1) == labels))
    top5 = np.argsort(-logits, -1)[:, :5]
    assert metrics["top5"] == pytest.approx(np.mean((top5 == labels[:, None]).any(-1)))


def test_evaluate_command_reports_each_head(model, tmp_path, capsys):
    model_path = tmp_path / "model.keras"
    model.save(model_path)
    arguments = command_parser(evaluate).parse_args(
        ["evaluate", "--model", str(model_path), "--data", "digits", "--split", "test", "--batch-size", "128"]
    )
    assert arguments.handler(arguments) == 0
    table = capsys.readouterr().out
    for head in ("| weights | class |", "| weights | distillation |", "| weights | mean of heads |"):
        assert head in table


def test_evaluate_refuses_a_model_of_another_class_count(tmp_path):
    three_classes = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_classes=3)
    with pytest.raises(ValueError, match=r"has 3 classes, 'digits' \(test\) has 10"):
        evaluate.evaluate_models({"weights": three_classes}, data="digits", split="test")
