"""Writing files so that neither a reader nor a crash ever sees half of one."""

import os
import re
import uuid

# The temporary files of `write_atomically`; `keras_deit.files.litter` removes those a
# killed process left.
PARTIAL_NAME = re.compile(r"\.partial-[0-9a-f]{12}-.+")


def write_atomically(path, write):
    """Calls `write(temporary_path)` for a file beside `path`, then renames it onto `path`.

    `os.replace` is atomic on POSIX: `path` holds the previous complete file or the new
    one, never a truncated one, even if the process is killed mid-write. The temporary
    name ends with `path`'s own name, so Keras still picks the format from the suffix
    (".keras", ".weights.h5"). A write that raises leaves no temporary file behind.

    Args:
        path: str. The file to write.
        write: function of one path that writes the whole file there.

    Example:
    ```python
    write_atomically("runs/model.keras", model.save)
    ```
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = os.path.join(directory, f".partial-{uuid.uuid4().hex[:12]}-{os.path.basename(path)}")
    try:
        write(partial)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically, flushed to disk before the rename.

    Args:
        path: str. The file to write.
        text: str. Its whole content, written as UTF-8.

    Example:
    ```python
    atomic_write_text("runs/digits/results.json", '{"top1": 0.86}')
    ```
    """

    def write(partial):
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())

    write_atomically(path, write)
