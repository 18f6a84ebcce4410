"""keras_deit.files: atomic writes, the run-folder lock, leftovers of killed processes."""

import os
import signal
import subprocess
import sys
import time

import pytest

import keras_deit
from keras_deit.files.atomic import PARTIAL_NAME, atomic_write_text, write_atomically
from keras_deit.files.litter import clean_litter
from keras_deit.files.run_lock import RunFolderInUse, RunLock

RUN_LOCK_FILE = os.path.join(os.path.dirname(keras_deit.__file__), "files", "run_lock.py")
# A second process holding a RunLock; run_lock.py is imported alone (the standard library
# only), so the process starts in milliseconds rather than importing TensorFlow.
HOLDER = (
    "import importlib.util, sys\n"
    f"spec = importlib.util.spec_from_file_location('run_lock', {RUN_LOCK_FILE!r})\n"
    "run_lock = importlib.util.module_from_spec(spec); spec.loader.exec_module(run_lock)\n"
    "try:\n"
    "    lock = run_lock.RunLock(sys.argv[1]).__enter__()\n"
    "except run_lock.RunFolderInUse as error:\n"
    "    print(error, file=sys.stderr); sys.exit(2)\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


def _hold(folder):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, folder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


# Atomic writes.

def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "results.json")
    atomic_write_text(path, "first")
    seen = []

    def write_half_then_fail(partial):
        seen.append(os.path.basename(partial))
        with open(partial, "w") as handle:
            handle.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(path, write_half_then_fail)
    with open(path) as handle:
        assert handle.read() == "first"
    assert sorted(os.listdir(tmp_path)) == ["results.json"]
    # The temporary is named after the target (Keras reads the format from the suffix)
    # and matches the pattern clean_litter removes.
    assert seen[0].endswith("-results.json") and PARTIAL_NAME.fullmatch(seen[0])
    atomic_write_text(path, "second \u00e9")
    with open(path, encoding="utf-8") as handle:
        assert handle.read() == "second \u00e9"


# The run lock.

def test_a_second_process_is_refused_at_once_naming_the_holder(tmp_path):
    folder = str(tmp_path / "run")
    holder = _hold(folder)
    try:
        with pytest.raises(RunFolderInUse, match=f"in use by another run \\(PID {holder.pid} on host "):
            with RunLock(folder):
                pass
        start = time.monotonic()
        second = subprocess.run([sys.executable, "-c", HOLDER, folder], capture_output=True, text=True, timeout=30)
        elapsed = time.monotonic() - start
        assert second.returncode == 2 and second.stdout == ""
        assert second.stderr.count("\n") == 1 and f"PID {holder.pid}" in second.stderr
        assert elapsed < 5, f"refused after {elapsed:.1f} s"
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path):
    folder = str(tmp_path / "run")
    holder = _hold(folder)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with open(os.path.join(folder, ".lock")) as handle:
        assert handle.read().split()[0] == str(holder.pid)  # stale: its flock died with it
    with RunLock(folder):
        with open(os.path.join(folder, ".lock")) as handle:
            assert handle.read().split()[0] == str(os.getpid())
    # Released on leaving the block: another process takes it.
    _hold(folder).kill()


# Leftovers of killed processes.

def _litter(folder):
    os.makedirs(os.path.join(folder, "checkpoints"))
    os.makedirs(os.path.join(folder, "tensorboard", "train"))
    litter = [
        os.path.join(folder, ".partial-0123456789ab-model.keras"),
        os.path.join(folder, "checkpoints", ".partial-00000000abcd-epoch-0003.weights.h5"),
        os.path.join(folder, ".tmp-3-" + "f" * 32),
    ]
    kept = [
        os.path.join(folder, "model.keras"),
        os.path.join(folder, ".partial-notes.txt"),  # not our naming
        os.path.join(folder, ".tmp-mine"),
        os.path.join(folder, "checkpoints", "epoch-0002.weights.h5"),
        os.path.join(folder, "tensorboard", "train", ".partial-0123456789ab-deep.txt"),  # two levels down
    ]
    for path in litter[:2] + kept:
        with open(path, "w") as handle:
            handle.write("x")
    os.makedirs(os.path.join(litter[2], "variables"))
    with open(os.path.join(litter[2], "saved_model.pb"), "w") as handle:
        handle.write("x")
    return litter, kept


def test_clean_litter_removes_only_our_temporaries(tmp_path):
    folder = str(tmp_path / "run")
    litter, kept = _litter(folder)
    with RunLock(folder):
        assert sorted(clean_litter(folder)) == sorted(litter)
    assert not any(os.path.exists(path) for path in litter)
    assert all(os.path.exists(path) for path in kept)
    assert clean_litter(str(tmp_path / "missing")) == []


def test_clean_litter_leaves_a_live_runs_temporaries(tmp_path, capsys):
    folder = str(tmp_path / "run")
    litter, _ = _litter(folder)
    holder = _hold(folder)
    try:
        assert clean_litter(folder) == []
        assert f"in use by PID {holder.pid}" in capsys.readouterr().out
        assert all(os.path.exists(path) for path in litter)
    finally:
        holder.kill()
        holder.wait()
    assert sorted(clean_litter(folder)) == sorted(litter)
