"""A training run SIGKILLed mid-epoch resumes from its last checkpoint with the same command.

One set of runs serves the file: the digits recipe with the DeiT augmentations trained
straight through, and the same command killed in its third epoch and started again.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_deit.training.checkpointing import trim_csv_log

EPOCHS = 4
STEPS = 8
# The `keras-deit train` sub-command, through a local parser (cli.py is the lead's).
COMMAND = [
    sys.executable, "-c",
    "import timm, sys, argparse\n"
    "from keras_deit.commands import train\n"
    "parser = argparse.ArgumentParser(); train.register(parser.add_subparsers())\n"
    "arguments = parser.parse_args(sys.argv[1:]); sys.exit(arguments.handler(arguments))",
    "train", "digits",
]
# The digits recipe with the DeiT augmentations on (RandAugment, Mixup / CutMix, erasing,
# repeats, stochastic depth, EMA): what a resumed run must replay exactly.
OVERRIDES = [
    "model.embed_dim=32", "model.depth=2", "model.num_heads=2",
    "model.drop_path_rate=0.1", "data.rand_augment=True",
    "data.mixup_alpha=0.8", "data.cutmix_alpha=1.0",
    "data.erasing_probability=0.25", "data.repeats=2",
    f"training.epochs={EPOCHS}", f"training.steps_per_epoch={STEPS}",
    "training.global_batch_size=16", "training.eval_steps=1",
]
EXACT = [argument for override in OVERRIDES for argument in ("--set", override)]


def _rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle)]


def _committed_epoch(run):
    """The epoch of the run's committed checkpoint (0 before the first)."""
    try:
        with open(os.path.join(run, "checkpoints", "checkpoint.json")) as handle:
            return json.load(handle)["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`(straight, killed)` run folders; the killed one was resumed by the same command.

    The straight run trains alongside the one to be killed: two processes at once halve
    the time of their TensorFlow imports, and neither reads the other's folder.
    """
    base = tmp_path_factory.mktemp("resume")
    straight, killed = str(base / "straight"), str(base / "killed")
    straight_log = open(base / "straight.log", "w")
    uninterrupted = subprocess.Popen(
        COMMAND + EXACT + ["--output", straight], stdout=straight_log, stderr=subprocess.STDOUT,
    )
    try:
        first = subprocess.Popen(COMMAND + EXACT + ["--output", killed], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 240
        # The commit point of epoch 2 (the CSV row is written before the checkpoint).
        while _committed_epoch(killed) < 2 and first.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # into the third epoch
        assert first.poll() is None, "the first run ended before it could be killed"
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        killed_after = _committed_epoch(killed)
        resumed = subprocess.run(COMMAND + EXACT + ["--output", killed], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        assert uninterrupted.wait(timeout=300) == 0, (base / "straight.log").read_text()[-3000:]
    finally:
        uninterrupted.kill()
        straight_log.close()
    return straight, killed, killed_after


@pytest.mark.slow
def test_sigkill_mid_epoch_then_same_command_resumes(runs):
    _, output, killed_after = runs
    assert 2 <= killed_after < EPOCHS
    rows = _rows(os.path.join(output, "log.csv"))
    assert [int(row["epoch"]) for row in rows] == list(range(EPOCHS))
    with open(os.path.join(output, "checkpoints", "checkpoint.json")) as handle:
        assert json.load(handle)["epoch"] == EPOCHS
    assert sorted(os.listdir(os.path.join(output, "checkpoints"))) == [
        "checkpoint.json", f"epoch-{EPOCHS - 1:04d}.weights.h5", f"epoch-{EPOCHS:04d}.weights.h5"
    ]
    # The optimizer's step counter was restored: the logged rate follows the schedule
    # through the restart (a fresh optimizer would restart the warmup).
    from keras_deit.training.build_optimization import build_schedule
    from keras_deit.training.overrides import apply_overrides
    from keras_deit.training.recipes import load_recipe

    config = apply_overrides(load_recipe("digits"), OVERRIDES)
    schedule = build_schedule(config.training, updates_per_epoch=STEPS)
    expected = [float(schedule((epoch + 1) * STEPS)) for epoch in range(EPOCHS)]
    np.testing.assert_allclose([float(row["learning_rate"]) for row in rows], expected, rtol=1e-6)
    assert all(np.isfinite(float(row["loss"])) for row in rows)
    assert os.path.isfile(os.path.join(output, "model.keras"))


def test_trim_csv_log_drops_unfinished_epochs_and_torn_lines(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss\n0,2.0\n1,1.5\n2,1.2\n3,1.")
    trim_csv_log(str(path), 2)
    assert path.read_text() == "epoch,loss\n0,2.0\n1,1.5\n"


def _weights(path):
    import keras

    import keras_deit.models  # noqa: F401  registers the classes the file names

    model = keras.saving.load_model(path, safe_mode=True)
    return [np.asarray(keras.ops.convert_to_numpy(weight)) for weight in model.weights]


@pytest.mark.slow
def test_a_run_killed_mid_epoch_and_resumed_ends_with_the_uninterrupted_weights(runs):
    straight, killed, _ = runs
    for name in ("model.keras", "model_ema.keras"):
        expected, actual = _weights(os.path.join(straight, name)), _weights(os.path.join(killed, name))
        assert len(expected) == len(actual)
        for reference, value in zip(expected, actual):
            np.testing.assert_allclose(value, reference, rtol=0, atol=1e-6)
    # Epoch by epoch the same losses, across the restart too.
    losses = [[float(row["loss"]) for row in _rows(os.path.join(run, "log.csv"))] for run in (straight, killed)]
    assert len(losses[0]) == EPOCHS
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
