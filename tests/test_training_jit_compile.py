"""Which compiler `keras_deit.train` steps with: `training.jit_compile` and its "auto"."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_deit
from keras_deit.training.build_models import build_student
from keras_deit.training.config import from_dict, to_dict
from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe
from keras_deit.training.strategy import jit_compile_setting


class _Replicas:
    """The one attribute of a `tf.distribute.Strategy` the setting reads."""

    def __init__(self, count):
        self.num_replicas_in_sync = count


def test_auto_is_xla_with_one_replica_and_keras_auto_with_more():
    assert jit_compile_setting(tf.distribute.get_strategy()) is True
    assert jit_compile_setting(_Replicas(1), "auto") is True
    # Under several replicas Keras' "auto" decides (it keeps XLA off with tf.distribute).
    assert jit_compile_setting(_Replicas(2), "auto") == "auto"
    for setting in (True, False):
        assert jit_compile_setting(_Replicas(1), setting) is setting
        assert jit_compile_setting(_Replicas(2), setting) is setting


def test_jit_compile_parses_as_bool_or_auto_and_round_trips_through_json():
    config = load_recipe("digits")
    assert config.training.jit_compile == "auto"
    for text, value in (("true", True), ("False", False), ("auto", "auto")):
        changed = apply_overrides(config, [f"training.jit_compile={text}"])
        round_tripped = from_dict(json.loads(json.dumps(to_dict(changed)))).training.jit_compile
        for parsed in (changed.training.jit_compile, round_tripped):
            assert parsed == value and type(parsed) is type(value)
    # 1 == True in Python, but it is not the choice True.
    for text in ("1", "xla", "yes"):
        with pytest.raises(ValueError, match=r"training.jit_compile=.*expected one of 'auto', True, False"):
            apply_overrides(config, [f"training.jit_compile={text}"])
    values = to_dict(config)
    values["training"]["jit_compile"] = 1
    with pytest.raises(ValueError, match=r"training.jit_compile: expected one of 'auto', True, False, got 1"):
        from_dict(values)


TINY = [
    "model.embed_dim=32", "model.depth=2", "model.num_heads=2", "training.global_batch_size=16",
    "training.steps_per_epoch=3", "training.eval_steps=1", "training.epochs=1", "training.ema_momentum=None",
    # The untrained RegNetY-200MF as the teacher: no teacher file to train first.
    "teacher.model=regnety002", "teacher.weights=None", "teacher.image_size=32",
]


_KERAS_COMPILE = keras.Model.compile


def _trained(output, jit_compile, monkeypatch):
    """(the trained student, the jit_compile `model.compile` got) of a shrunk distillation run."""
    compiled_with = []

    def recording_compile(self, *args, **kwargs):
        compiled_with.append(kwargs.get("jit_compile"))
        return _KERAS_COMPILE(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "compile", recording_compile)
    config = apply_overrides(load_recipe("digits_distilled"), TINY + [f"training.jit_compile={jit_compile}"])
    return keras_deit.train(config, output, verbose=0)["student"], compiled_with


def test_train_steps_under_xla_by_default_on_a_cpu_and_as_a_graph_alike(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", os.environ.get("XLA_FLAGS", ""))  # compile(jit_compile=True) appends to it
    config = apply_overrides(load_recipe("digits_distilled"), TINY)
    keras.utils.set_random_seed(config.training.seed)  # as train does before building the student
    initial = build_student(config, num_classes=10, dtype="float32")
    xla, xla_compiled = _trained(str(tmp_path / "xla"), "auto", monkeypatch)
    graph, graph_compiled = _trained(str(tmp_path / "graph"), False, monkeypatch)
    assert xla_compiled == [True] and graph_compiled == [False]

    images = np.random.default_rng(0).uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    logits = {name: np.stack([keras.ops.convert_to_numpy(head) for head in model.heads(images, training=False)])
              for name, model in (("xla", xla), ("graph", graph), ("initial", initial))}
    # Same seed, same data, same three AdamW updates: the two compilers' students differ by
    # rounding only, which AdamW amplifies (its first updates are about lr * sign(gradient),
    # so a weight whose gradient is near zero may move either way; measured: 4% of what the
    # updates moved the logits). The step's numbers under XLA are checked against the
    # official loop in test_training_parity.py.
    moved = np.abs(logits["graph"] - logits["initial"]).max()
    assert moved > 0.1 * np.abs(logits["initial"]).max()
    assert np.abs(logits["xla"] - logits["graph"]).max() <= 0.1 * moved
