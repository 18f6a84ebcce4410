"""Resumable training: a checkpoint per finished epoch, the last two kept, written atomically.

Layout of `DIR` (a run's `checkpoints/` folder):
- `epoch-0007.weights.h5`: model and optimizer state after 7 epochs (student, optimizer
  moments, EMA, step counter; never the teacher), and `epoch-0006.weights.h5`, the one
  before, to fall back to if the newest cannot be read (a disk that filled up or failed,
  a copy cut short).
- `checkpoint.json`: `{"epoch": 7, "weights": "epoch-0007.weights.h5", "previous":
  {"epoch": 6, "weights": "epoch-0006.weights.h5"}}`, the commit point.

Every file is written under a temporary name and renamed with `os.replace` (atomic on
POSIX), and the JSON is replaced only after its weights file is complete, so a process
killed at any moment (SIGKILL included) leaves the previous checkpoint intact. Keras'
`BackupAndRestore` overwrites its weights file in place and writes the epoch number in a
second, separate step: a kill between or during them leaves weights and epoch disagreeing.
"""

import csv
import io
import json
import os
import warnings

import h5py
import keras

from keras_deit.files.atomic import atomic_write_text, write_atomically
from keras_deit.training.divergence import TrainingDiverged, non_finite_variables

STATE_FILE = "checkpoint.json"


def _committed(directory):
    """The `{"epoch", "weights"}` entries of `checkpoint.json`, newest first; [] without one."""
    state_path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(state_path):
        return []
    try:
        with open(state_path, encoding="utf-8") as handle:
            state = json.load(handle)
        entries = [{"epoch": int(state["epoch"]), "weights": state["weights"]}]
        if state.get("previous"):
            entries.append({"epoch": int(state["previous"]["epoch"]), "weights": state["previous"]["weights"]})
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{state_path} is not a checkpoint state file ({error!r}).") from None
    return entries


def _unreadable(path):
    """Why the HDF5 file at `path` cannot be read completely, or None if it can."""
    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]
        # None: visititems stops at the first callback returning anything else.

    try:
        with h5py.File(path, "r") as weights:
            # Reading every array finds a file cut short or damaged inside, not only one
            # whose header is gone.
            weights.visititems(read)
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


def latest_checkpoint(directory):
    """`(epochs_done, weights_path)` of the newest readable checkpoint, or `(0, None)`.

    An unreadable newest checkpoint is skipped with a warning naming it, for the one
    before.

    Raises:
        ValueError: checkpoints were committed but none of them can be read.

    Example:
    ```python
    epochs_done, path = latest_checkpoint("runs/digits/checkpoints")
    ```
    """
    entries = _committed(directory)
    problems = []
    for entry in entries:
        path = os.path.join(directory, entry["weights"])
        problem = _unreadable(path)
        if problem is None:
            return entry["epoch"], path
        problems.append(f"{path} ({problem})")
        if entry is not entries[-1]:
            warnings.warn(f"Checkpoint {path} cannot be read ({problem}); falling back to the one before.")
    if problems:
        raise ValueError(f"No readable checkpoint in {directory}: {'; '.join(problems)}.")
    return 0, None


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves `model.save_weights` after every epoch and keeps the newest two.

    Refuses to save weights or optimizer state holding a NaN or an infinity: it raises
    `TrainingDiverged` and the last good checkpoint stays.

    Args:
        directory: str. The checkpoint folder (created).
        write: bool. False on the workers of a multi-worker run that must not write.

    Example:
    ```python
    epochs_done, path = latest_checkpoint("run/checkpoints")
    if path:
        model.load_weights(path)
    model.fit(data, epochs=10, initial_epoch=epochs_done,
              callbacks=[EpochCheckpoint("run/checkpoints")])
    ```
    """

    def __init__(self, directory, *, write=True):
        super().__init__()
        self.directory = directory
        self.write = write

    def on_epoch_end(self, epoch, logs=None):
        if not self.write:
            return
        bad = non_finite_variables(self.model.weights + self.model.optimizer.variables)
        if bad:
            raise TrainingDiverged(
                f"Training diverged: after epoch {epoch + 1}, {len(bad)} variables hold NaN or infinity "
                f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); the checkpoint of epoch "
                f"{epoch + 1} was not written. Lower the learning rate (training.base_learning_rate) and resume."
            )
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        write_atomically(os.path.join(self.directory, name), self.model.save_weights)
        # The one before is the newest earlier epoch: after a fall-back past an
        # unreadable checkpoint, that file is the one just replaced.
        earlier = [entry for entry in _committed(self.directory) if entry["epoch"] < epoch + 1][:1]
        state = {"epoch": epoch + 1, "weights": name, "previous": earlier[0] if earlier else None}
        atomic_write_text(os.path.join(self.directory, STATE_FILE), json.dumps(state))
        kept = {name} | {entry["weights"] for entry in earlier}
        for old in os.listdir(self.directory):
            if old.endswith(".weights.h5") and old not in kept:
                os.remove(os.path.join(self.directory, old))


def trim_csv_log(path, epochs_done):
    """Keeps the header and the complete rows of epochs `< epochs_done` of a CSVLogger file.

    A run killed after logging an epoch but before checkpointing it (or in the middle of
    a line) would otherwise log that epoch twice once resumed.
    """
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        return
    header, kept = rows[0], []
    for row in rows[1:]:
        if len(row) == len(header) and row[0].isdigit() and int(row[0]) < epochs_done:
            kept.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows([header, *kept])
    atomic_write_text(path, buffer.getvalue())
