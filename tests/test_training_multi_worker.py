"""`keras_deit.train` under MultiWorkerMirroredStrategy: two worker processes on 127.0.0.1."""

import csv
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_deit.training import apply_overrides, load_recipe
from keras_deit.training.build_models import build_student

# One worker (or the single process when TF_CONFIG is unset): trains the recipe with
# the overrides and saves the student's final weights as weights_<task index>.npy.
WORKER = """
import json, os, sys
import keras
import numpy as np
import pytest

import keras_deit
from keras_deit.training import apply_overrides, load_recipe
recipe, output = sys.argv[1], sys.argv[2]
result = keras_deit.train(apply_overrides(load_recipe(recipe), sys.argv[3:]), output, verbose=2)
task = json.loads(os.environ.get("TF_CONFIG") or '{"task": {"index": "single"}}')["task"]["index"]
weights = np.concatenate([np.ravel(w) for w in result["student"].get_weights()])
np.save(os.path.join(output, f"weights_{task}.npy"), weights)
"""
SMALL = [
    "model.embed_dim=32", "model.depth=2", "model.num_heads=2", "training.global_batch_size=16",
    "training.steps_per_epoch=3", "training.epochs=2", "training.eval_steps=1",
]


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _environment(tf_config=None):
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    if tf_config:
        environment["TF_CONFIG"] = json.dumps(tf_config)
    return environment


def _run_workers(tmp_path, recipe, overrides, output):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes, logs = [], []
    for index in range(2):
        log = open(tmp_path / f"worker{index}.log", "w")
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, recipe, output, *overrides],
            stdout=log, stderr=subprocess.STDOUT, env=_environment(tf_config),
        ))
        logs.append(log)
    try:
        codes = [process.wait(timeout=300) for process in processes]
    finally:
        for process, log in zip(processes, logs):
            process.kill()
            log.close()
    for index, code in enumerate(codes):
        assert code == 0, (tmp_path / f"worker{index}.log").read_text()[-4000:]
    return [np.load(os.path.join(output, f"weights_{index}.npy")) for index in range(2)]


def _log_rows(output):
    with open(os.path.join(output, "log.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_two_workers_train_what_one_process_trains(tmp_path):
    # Deterministic inputs (whole-image crops, no drop path): the two workers' shards of
    # each global batch of 16 are the one process's batch, so the updates must agree.
    overrides = SMALL + ["model.drop_path_rate=0.0", "data.scale=(1.0, 1.0)", "training.warmup_epochs=0"]
    workers = _run_workers(tmp_path, "digits", overrides, str(tmp_path / "workers"))
    single_output = str(tmp_path / "single")
    single = subprocess.run(
        [sys.executable, "-c", WORKER, "digits", single_output, *overrides],
        capture_output=True, text=True, timeout=300, env=_environment(),
    )
    assert single.returncode == 0, single.stderr[-4000:]
    alone = np.load(os.path.join(single_output, "weights_single.npy"))

    np.testing.assert_array_equal(workers[0], workers[1])
    np.testing.assert_allclose(workers[0], alone, atol=1e-5)
    config = apply_overrides(load_recipe("digits"), overrides)
    keras.utils.set_random_seed(config.training.seed)
    initial = np.concatenate([np.ravel(w) for w in build_student(config, num_classes=10).get_weights()])
    assert np.abs(alone - initial).max() > 100 * 1e-5  # the six updates moved the weights
    worker_losses = [float(row["loss"]) for row in _log_rows(str(tmp_path / "workers"))]
    alone_losses = [float(row["loss"]) for row in _log_rows(single_output)]
    np.testing.assert_allclose(worker_losses, alone_losses, rtol=1e-5)
    # Only the chief wrote the outputs.
    assert len(worker_losses) == 2 and os.path.exists(tmp_path / "workers" / "model.keras")


@pytest.mark.slow
def test_two_workers_train_the_distilled_recipe_with_its_augmentations(tmp_path):
    # DeiT-Ti distilled, shrunk: RandAugment, Mixup / CutMix, erasing, repeated
    # augmentation sharded over the workers, hard distillation from a RegNetY teacher.
    overrides = SMALL + [
        "model.patch_size=8", "model.image_size=32", "data.source=digits", "data.eval_split=test",
        "teacher.model=regnety002", "teacher.weights=None", "teacher.image_size=32",
    ]
    output = str(tmp_path / "workers")
    workers = _run_workers(tmp_path, "deit_tiny_distilled", overrides, output)
    np.testing.assert_array_equal(workers[0], workers[1])
    rows = _log_rows(output)
    assert [int(row["epoch"]) for row in rows] == [0, 1]
    for row in rows:
        # Hard distillation: the loss is the mean of the class-token and distillation-token losses.
        np.testing.assert_allclose(
            float(row["loss"]), (float(row["base_loss"]) + float(row["distillation_loss"])) / 2, rtol=1e-5
        )
        assert 0.0 < float(row["loss"]) < 10.0
