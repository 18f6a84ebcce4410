"""One process at a time in a run folder: an exclusive `flock` on `DIR/.lock`.

Two trainings writing the same folder would rename temporary files under each other and
append the same epochs to one log. The lock is the kernel's `flock`, not the file's
existence: it is released when its holder exits, however it dies (SIGKILL included), so
a lock left by a dead run is simply taken by the next one. The file holds the holder's
PID and host, for the error message of the process that is refused.
"""

import errno
import fcntl
import os
import socket

LOCK_FILE = ".lock"


class RunFolderInUse(ValueError):
    """Another live process holds the run folder's lock."""


def _recorded_holder(folder):
    """The `(pid, host)` written in `folder`'s lock file, or None if none is."""
    try:
        with open(os.path.join(folder, LOCK_FILE), encoding="utf-8") as handle:
            fields = handle.read().split()
    except FileNotFoundError:
        return None
    if len(fields) != 2 or not fields[0].isdigit():
        return None
    return int(fields[0]), fields[1]


def lock_holder(folder):
    """`"PID 1234 on host h"`, the process recorded in `folder`'s lock file, or None.

    Example:
    ```python
    lock_holder("runs/digits")  # "PID 4242 on host trainer-0"
    ```
    """
    recorded = _recorded_holder(folder)
    return None if recorded is None else f"PID {recorded[0]} on host {recorded[1]}"


def is_locked_by_another_process(folder):
    """True when a process other than this one holds `folder`'s lock right now.

    Probes with a non-blocking shared lock, released at once: it conflicts with a
    holder's exclusive lock (this process's own included: `flock` locks belong to open
    files, so the recorded PID tells them apart). A `RunLock` entered during the probe's
    microseconds is refused as if the folder were in use.

    Example:
    ```python
    is_locked_by_another_process("runs/digits")  # True while a training writes there
    ```
    """
    path = os.path.join(folder, LOCK_FILE)
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as error:
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        return _recorded_holder(folder) != (os.getpid(), socket.gethostname())
    finally:
        os.close(descriptor)
    return False


class RunLock:
    """Holds an exclusive lock on a run folder for the duration of a `with` block.

    Args:
        folder: str. The run folder (created if missing).

    Raises:
        RunFolderInUse: on entering, when another live process holds the lock; the
            message names its PID and host.

    Example:
    ```python
    with RunLock("runs/digits"):
        ...  # train, write checkpoints
    ```
    """

    def __init__(self, folder):
        self.folder = folder
        self._descriptor = None

    def __enter__(self):
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, LOCK_FILE)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            holder = lock_holder(self.folder) or "an unrecorded process"
            raise RunFolderInUse(
                f"{self.folder} is in use by another run ({holder}, lock file {path}); "
                "wait for it to end or choose another output folder."
            ) from None
        # The previous holder's PID, if any, is stale: the kernel released its lock.
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode())
        os.fsync(descriptor)
        self._descriptor = descriptor
        return self

    def __exit__(self, *exc_info):
        # The file stays: deleting it would let a process that opened it just before
        # lock a file no longer in the folder while a third one locks a new one.
        fcntl.flock(self._descriptor, fcntl.LOCK_UN)
        os.close(self._descriptor)
        self._descriptor = None
