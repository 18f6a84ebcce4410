"""Resumable training: one checkpoint per finished epoch, written atomically.

Layout of `DIR` (a run's `checkpoints/` folder):
- `epoch-0007.weights.h5`: model and optimizer state after 7 epochs (student, optimizer
  moments, EMA, step counter; never the teacher).
- `checkpoint.json`: `{"epoch": 7, "weights": "epoch-0007.weights.h5"}`, the commit point.

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

import keras

from keras_deit.atomic_files import write_atomically

STATE_FILE = "checkpoint.json"


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically, flushed to disk before the rename."""

    def write(partial):
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    write_atomically(path, write)


def latest_checkpoint(directory):
    """`(epochs_done, weights_path)` of the last committed checkpoint, or `(0, None)`."""
    state_path = os.path.join(directory, STATE_FILE)
    if not os.path.exists(state_path):
        return 0, None
    with open(state_path, encoding="utf-8") as handle:
        state = json.load(handle)
    return int(state["epoch"]), os.path.join(directory, state["weights"])


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves `model.save_weights` after every epoch and keeps only the newest.

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
        name = f"epoch-{epoch + 1:04d}.weights.h5"
        write_atomically(os.path.join(self.directory, name), self.model.save_weights)
        atomic_write_text(
            os.path.join(self.directory, STATE_FILE), json.dumps({"epoch": epoch + 1, "weights": name})
        )
        for old in os.listdir(self.directory):
            if old.endswith(".weights.h5") and old != name:
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
