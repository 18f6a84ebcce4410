"""EpochCheckpoint keeps two checkpoints, falls back past an unreadable one, never saves NaN."""

import json
import os
import warnings

import keras
import numpy as np
import pytest

from keras_deit.training.checkpointing import STATE_FILE, EpochCheckpoint, latest_checkpoint
from keras_deit.training.divergence import TrainingDiverged

X = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]], "float32")).astype("float32")


def _model(optimizer):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, kernel_initializer="ones")])
    model.compile(optimizer=optimizer, loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


class _RecordWeights(keras.callbacks.Callback):
    """The model's weights and optimizer state after each epoch, by epochs done."""

    def __init__(self):
        super().__init__()
        self.after = {}

    def on_epoch_end(self, epoch, logs=None):
        variables = self.model.weights + self.model.optimizer.variables
        self.after[epoch + 1] = [keras.ops.convert_to_numpy(v).copy() for v in variables]


def _state(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights + model.optimizer.variables]


def _train(directory, epochs, initial_epoch=0, model=None):
    model = model or _model(keras.optimizers.Adam(0.05))
    record = _RecordWeights()
    model.fit(
        X, Y, batch_size=8, epochs=epochs, initial_epoch=initial_epoch, shuffle=False, verbose=0,
        callbacks=[EpochCheckpoint(directory), record],
    )
    return model, record.after


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)


def test_keeps_the_last_two_checkpoints_and_commits_them_in_the_json(tmp_path):
    directory = str(tmp_path / "checkpoints")
    _, after = _train(directory, epochs=3)
    assert sorted(os.listdir(directory)) == [STATE_FILE, "epoch-0002.weights.h5", "epoch-0003.weights.h5"]
    with open(os.path.join(directory, STATE_FILE)) as handle:
        assert json.load(handle) == {
            "epoch": 3, "weights": "epoch-0003.weights.h5",
            "previous": {"epoch": 2, "weights": "epoch-0002.weights.h5"},
        }
    epochs_done, path = latest_checkpoint(directory)
    assert (epochs_done, os.path.basename(path)) == (3, "epoch-0003.weights.h5")
    restored = _model(keras.optimizers.Adam(0.05))
    restored.load_weights(path)
    for saved, expected in zip(_state(restored), after[3]):
        np.testing.assert_array_equal(saved, expected)


def test_truncated_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    directory = str(tmp_path / "checkpoints")
    _, after = _train(directory, epochs=3)
    newest = os.path.join(directory, "epoch-0003.weights.h5")
    _truncate(newest)
    with pytest.warns(UserWarning, match="epoch-0003.weights.h5 cannot be read"):
        epochs_done, path = latest_checkpoint(directory)
    assert (epochs_done, os.path.basename(path)) == (2, "epoch-0002.weights.h5")
    model = _model(keras.optimizers.Adam(0.05))
    model.load_weights(path)
    # The state after epoch 2 exactly, optimizer moments and step counter included.
    for saved, expected in zip(_state(model), after[2]):
        np.testing.assert_array_equal(saved, expected)

    # Resumed from there, epoch 3 is written again over the unreadable file, and the
    # epoch-2 checkpoint stays the one before it.
    _train(directory, epochs=3, initial_epoch=2, model=model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        epochs_done, path = latest_checkpoint(directory)
    assert (epochs_done, os.path.basename(path)) == (3, "epoch-0003.weights.h5")
    with open(os.path.join(directory, STATE_FILE)) as handle:
        assert json.load(handle)["previous"] == {"epoch": 2, "weights": "epoch-0002.weights.h5"}
    assert sorted(os.listdir(directory)) == [STATE_FILE, "epoch-0002.weights.h5", "epoch-0003.weights.h5"]


def test_no_readable_checkpoint_is_a_one_line_error_naming_the_files(tmp_path):
    directory = str(tmp_path / "checkpoints")
    _train(directory, epochs=2)
    for name in ("epoch-0001.weights.h5", "epoch-0002.weights.h5"):
        _truncate(os.path.join(directory, name))
    with pytest.warns(UserWarning, match="epoch-0002"), pytest.raises(ValueError) as error:
        latest_checkpoint(directory)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"No readable checkpoint in {directory}")
    assert "epoch-0001.weights.h5" in message and "epoch-0002.weights.h5" in message


def test_no_checkpoint_yet(tmp_path):
    assert latest_checkpoint(str(tmp_path / "checkpoints")) == (0, None)


def test_weights_overflowed_by_the_last_update_are_not_saved(tmp_path):
    directory = str(tmp_path / "checkpoints")
    model = _model(keras.optimizers.SGD(0.01))
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0, callbacks=[EpochCheckpoint(directory)])
    good = [keras.ops.convert_to_numpy(v).copy() for v in model.weights]
    # One step per epoch: the loss before the update is finite, the update overflows
    # float32 (|gradient| > 1 times 1e38), so only the checkpoint can catch it.
    model.optimizer.learning_rate.assign(1e38)
    with pytest.raises(TrainingDiverged, match="after epoch 2, .*the checkpoint of epoch 2 was not written"):
        model.fit(X, Y, batch_size=32, epochs=2, initial_epoch=1, verbose=0, callbacks=[EpochCheckpoint(directory)])
    assert not np.isfinite(keras.ops.convert_to_numpy(model.weights[0])).all()
    epochs_done, path = latest_checkpoint(directory)
    assert (epochs_done, sorted(os.listdir(directory))) == (1, [STATE_FILE, "epoch-0001.weights.h5"])
    restored = _model(keras.optimizers.SGD(0.01))
    restored.load_weights(path)
    for saved, expected in zip(restored.weights, good):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(saved), expected)
