"""A training run SIGKILLed mid-epoch resumes from its last checkpoint with the same command."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from keras_deit.training.checkpointing import trim_csv_log

EPOCHS = 6
STEPS = 20
# The `keras-deit train` sub-command, through a local parser (cli.py is the lead's).
COMMAND = [
    sys.executable, "-c",
    "import timm, sys, argparse\n"
    "from keras_deit.commands import train\n"
    "parser = argparse.ArgumentParser(); train.register(parser.add_subparsers())\n"
    "arguments = parser.parse_args(sys.argv[1:]); sys.exit(arguments.handler(arguments))",
    "train", "digits",
    "--set", "model.embed_dim=32", "--set", "model.depth=2", "--set", "model.num_heads=2",
    "--set", f"training.epochs={EPOCHS}", "--set", f"training.steps_per_epoch={STEPS}",
    "--set", "training.global_batch_size=16", "--set", "training.eval_steps=2",
]


def _rows(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="") as handle:
        return [row for row in csv.DictReader(handle)]


def test_sigkill_mid_epoch_then_same_command_resumes(tmp_path):
    output = str(tmp_path / "run")
    command = COMMAND + ["--output", output]
    log = os.path.join(output, "log.csv")
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_rows(log)) < 2 and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.4)  # into the next epoch
    assert first.poll() is None, "the first run ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    with open(os.path.join(output, "checkpoints", "checkpoint.json")) as handle:
        killed_after = json.load(handle)["epoch"]
    assert 2 <= killed_after < EPOCHS

    second = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert second.returncode == 0, second.stderr[-3000:]
    rows = _rows(log)
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

    config = apply_overrides(load_recipe("digits"), [f"training.epochs={EPOCHS}", "training.global_batch_size=16"])
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


# The digits recipe with the DeiT augmentations on (RandAugment, Mixup / CutMix, erasing,
# repeats, stochastic depth, EMA): what a resumed run must replay exactly.
EXACT = [
    "--set", "model.embed_dim=32", "--set", "model.depth=2", "--set", "model.num_heads=2",
    "--set", "model.drop_path_rate=0.1", "--set", "data.rand_augment=True",
    "--set", "data.mixup_alpha=0.8", "--set", "data.cutmix_alpha=1.0",
    "--set", "data.erasing_probability=0.25", "--set", "data.repeats=2",
    "--set", "training.epochs=4", "--set", "training.steps_per_epoch=8",
    "--set", "training.global_batch_size=16", "--set", "training.eval_steps=1",
]


def _weights(path):
    import keras

    import keras_deit.models  # noqa: F401  registers the classes the file names

    model = keras.saving.load_model(path, safe_mode=True)
    return [np.asarray(keras.ops.convert_to_numpy(weight)) for weight in model.weights]


def test_a_run_killed_mid_epoch_and_resumed_ends_with_the_uninterrupted_weights(tmp_path):
    base = COMMAND[:COMMAND.index("--set")]
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    done = subprocess.run(base + EXACT + ["--output", straight], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    log = os.path.join(killed, "log.csv")
    first = subprocess.Popen(base + EXACT + ["--output", killed], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(_rows(log)) < 2 and first.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the third epoch
    assert first.poll() is None, "the first run ended before it could be killed"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    resumed = subprocess.run(base + EXACT + ["--output", killed], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    for name in ("model.keras", "model_ema.keras"):
        expected, actual = _weights(os.path.join(straight, name)), _weights(os.path.join(killed, name))
        assert len(expected) == len(actual)
        for reference, value in zip(expected, actual):
            np.testing.assert_allclose(value, reference, rtol=0, atol=1e-6)
    # Epoch by epoch the same losses, across the restart too.
    losses = [[float(row["loss"]) for row in _rows(os.path.join(run, "log.csv"))] for run in (straight, killed)]
    assert len(losses[0]) == 4
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-6)
