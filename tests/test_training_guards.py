"""Guards of a training run: the folder lock, the resume check, divergence, leftover temporaries.

The lock and the leftovers themselves are tested in test_files.py; here, through training.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest

import keras_deit
from keras_deit.files.run_lock import RunLock
from keras_deit.training.checkpointing import STATE_FILE, EpochCheckpoint, latest_checkpoint
from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe
from keras_deit.training.divergence import StopOnDivergence, TrainingDiverged
from keras_deit.training.resume_guard import check_resume, config_changes


def _digest(path):
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


# The run lock, through the command line.

def test_keras_deit_train_on_a_locked_folder_exits_with_one_line(tmp_path):
    folder = str(tmp_path / "run")
    with RunLock(folder):
        result = subprocess.run(
            [sys.executable, "-c", "import timm, sys; from keras_deit.cli import main; sys.exit(main())",
             "train", "digits", "--output", folder],
            capture_output=True, text=True, timeout=300,
        )
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("keras-deit: error:")]
    assert len(error_lines) == 1 and f"PID {os.getpid()}" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(folder)) == [".lock"]  # nothing written


# The resume check.

SAVED = {
    "name": "deit_digits",
    "model": {"depth": 2, "embed_dim": 32},
    "data": {"source": "digits", "scale": [0.6, 1.0]},
    "teacher": None,
    "distillation": {"kind": "none", "alpha": 0.5},
    "training": {"epochs": 2, "base_learning_rate": 2e-3, "ema_momentum": 0.99},
}


def _changed(**sections):
    config = json.loads(json.dumps(SAVED))
    for section, values in sections.items():
        if isinstance(values, dict) and isinstance(config[section], dict):
            config[section].update(values)
        else:
            config[section] = values
    return config


def test_schedule_changes_are_allowed_and_listed():
    config = _changed(training={"epochs": 5, "base_learning_rate": 1e-3})
    config["data"]["scale"] = (0.6, 1.0)  # a tuple, as recipes write it: JSON made it a list
    assert check_resume(SAVED, config) == [
        "training.base_learning_rate: 0.002 -> 0.001", "training.epochs: 2 -> 5",
    ]
    assert check_resume(SAVED, json.loads(json.dumps(SAVED))) == []


@pytest.mark.parametrize("sections, listed", [
    (dict(model={"depth": 1}), ["model.depth: 2 -> 1"]),
    (dict(model={"depth": 4, "embed_dim": 64}, training={"epochs": 9}),
     ["model.depth: 2 -> 4", "model.embed_dim: 32 -> 64"]),
    (dict(data={"scale": [0.08, 1.0]}), ["data.scale: [0.6, 1.0] -> [0.08, 1.0]"]),
    (dict(teacher={"model": "regnety002"}), ["teacher: None -> {'model': 'regnety002'}"]),
    (dict(distillation={"kind": "hard"}), ["distillation.kind: 'none' -> 'hard'"]),
    (dict(training={"ema_momentum": None}), ["training.ema_momentum: 0.99 -> None"]),
    (dict(model={"depth": 2, "embed_dim": 32, "drop_path_rate": 0.1}), ["model.drop_path_rate: (absent) -> 0.1"]),
])
def test_a_changed_model_data_teacher_or_distillation_is_refused(sections, listed):
    with pytest.raises(ValueError) as error:
        check_resume(SAVED, _changed(**sections))
    message = str(error.value)
    assert "\n" not in message
    refused = message.split(": ", 1)[1].split(". Resume")[0].split("; ")
    assert refused == listed
    assert "training.epochs" not in message


def test_config_changes_of_nested_dicts():
    changes = config_changes({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"c": 1, "d": 3}, "e": 4}})
    assert [(key, repr(old), new) for key, old, new in changes] == [("a.b.d", "2", 3), ("a.e", "(absent)", 4)]


# Divergence.

def _linear_model(weights, learning_rate):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.layers[0].kernel.assign(weights)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def _first_non_finite_step(weights, x, y, batch, learning_rate):
    """NumPy float32 SGD on the mean squared error: the 1-based step whose loss overflows."""
    weights = weights.astype("float32")
    with np.errstate(over="ignore", invalid="ignore"):
        for step, start in enumerate(range(0, len(x), batch), 1):
            xb, yb = x[start:start + batch], y[start:start + batch]
            error = xb @ weights - yb
            if not np.isfinite(np.mean(np.square(error))):
                return step
            weights = weights - np.float32(learning_rate) * (np.float32(2 / len(xb)) * xb.T @ error)
    return None


def test_a_huge_learning_rate_stops_at_the_step_the_loss_overflows(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")
    directory = str(tmp_path / "checkpoints")
    model = _linear_model(np.full((4, 1), 0.1, "float32"), 0.01)
    model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
              callbacks=[StopOnDivergence(), EpochCheckpoint(directory)])
    good = keras.ops.convert_to_numpy(model.layers[0].kernel).copy()
    checkpoint_digest = _digest(os.path.join(directory, "epoch-0001.weights.h5"))

    learning_rate = 1e5
    expected = _first_non_finite_step(good, x, y, 8, learning_rate)
    assert expected is not None and 2 < expected <= 8  # diverges mid-epoch, not at once
    model.optimizer.learning_rate.assign(learning_rate)
    with pytest.raises(TrainingDiverged, match=f"at epoch 2, step {expected} "):
        model.fit(x, y, batch_size=8, epochs=2, initial_epoch=1, shuffle=False, verbose=0,
                  callbacks=[StopOnDivergence(), EpochCheckpoint(directory)])
    epochs_done, path = latest_checkpoint(directory)
    assert epochs_done == 1 and _digest(path) == checkpoint_digest
    restored = _linear_model(np.zeros((4, 1), "float32"), 0.01)
    restored.load_weights(path)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored.layers[0].kernel), good)
    assert np.isfinite(good).all()


# Through keras_deit.train on the digits recipe, shrunk.

TINY = [
    "model.embed_dim=32", "model.depth=2", "model.num_heads=2", "training.global_batch_size=16",
    "training.steps_per_epoch=3", "training.eval_steps=1", "training.epochs=1",
]


def _run(output, *overrides):
    config = apply_overrides(load_recipe("digits"), TINY + list(overrides))
    return keras_deit.train(config, output, verbose=0)


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory):
    """A finished one-epoch run of the shrunk recipe; each test works on a copy of it."""
    output = str(tmp_path_factory.mktemp("trained") / "run")
    _run(output)
    return output


def test_train_refuses_a_resume_with_another_depth_and_keeps_config_json(one_epoch_run, tmp_path, capsys):
    output = shutil.copytree(one_epoch_run, str(tmp_path / "run"))
    before = {name: _digest(os.path.join(output, name)) for name in ("config.json", "checkpoints/checkpoint.json")}
    with open(os.path.join(output, ".partial-0123456789ab-model.keras"), "w") as handle:
        handle.write("left by a killed export of model.keras")

    with pytest.raises(ValueError, match=r"model\.depth: 2 -> 1\. Resume with the saved config"):
        _run(output, "model.depth=1", "training.epochs=2")
    assert {name: _digest(os.path.join(output, name)) for name in before} == before

    result = _run(output, "training.epochs=2")
    assert (result["resumed_from"], result["epochs_done"]) == (1, 2)
    out = capsys.readouterr().out
    assert f"Resuming {output} with training.epochs: 1 -> 2" in out
    assert "left by a killed process" in out and not os.path.exists(
        os.path.join(output, ".partial-0123456789ab-model.keras")
    )
    with open(os.path.join(output, "config.json")) as handle:
        assert json.load(handle)["training"]["epochs"] == 2


def test_train_with_a_diverging_learning_rate_names_the_step_and_keeps_the_good_checkpoint(one_epoch_run, tmp_path):
    output = shutil.copytree(one_epoch_run, str(tmp_path / "run"))
    checkpoint = os.path.join(output, "checkpoints", "epoch-0001.weights.h5")
    digest = _digest(checkpoint)
    os.remove(os.path.join(output, "model.keras"))

    with pytest.raises(TrainingDiverged, match=r"at epoch 2, step [1-3] "):
        _run(output, "training.epochs=2", "training.base_learning_rate=1e30")
    assert latest_checkpoint(os.path.join(output, "checkpoints")) == (1, checkpoint)
    assert _digest(checkpoint) == digest
    assert sorted(os.listdir(os.path.join(output, "checkpoints"))) == [STATE_FILE, "epoch-0001.weights.h5"]
    with h5py.File(checkpoint) as weights:
        arrays = []
        weights.visititems(lambda name, item: arrays.append(item[()]) if isinstance(item, h5py.Dataset) else None)
    assert len(arrays) > 10 and all(np.isfinite(array).all() for array in arrays if array.dtype.kind == "f")
    assert not os.path.exists(os.path.join(output, "model.keras"))
