"""TF Serving's model layout `BASE/<version>/`, each version written atomically.

TF Serving watches BASE and loads the highest integer-named folder. A version is
therefore written under a hidden name first (TF Serving ignores names that are not
integers) and renamed into place in one step, so a running server never loads half a
model; an existing version is never touched, because TF Serving does not reload a
version whose files change.
"""

import os
import shutil
import uuid

from keras_deit.files.litter import clean_litter
from keras_deit.files.run_lock import RunLock


def existing_versions(base):
    """The integer versions present in `base`, sorted; [] when `base` does not exist."""
    if not os.path.isdir(base):
        return []
    return sorted(
        int(name)
        for name in os.listdir(base)
        if name.isdigit() and os.path.isdir(os.path.join(base, name))
    )


def next_version(base):
    """One more than the highest version in `base`, or 1 for a new model."""
    versions = existing_versions(base)
    return versions[-1] + 1 if versions else 1


def write_version(base, write, version=None):
    """Writes a new version of a model into `base/<version>/`, all or nothing.

    Args:
        base: str. The model's folder, e.g. "saved_models/deit_small".
        write: callable taking a path to an empty, existing folder and filling it.
        version: positive int, or None for `next_version(base)`.

    Returns:
        The path of the new version folder.

    Raises:
        FileExistsError: `base/<version>` exists already.

    Example:
    ```python
    def write(folder):
        with open(os.path.join(folder, "model.txt"), "w") as file:
            file.write("weights")
    write_version("saved_models/demo", write)  # "saved_models/demo/1", then ".../2"
    ```
    """
    if version is None:
        version = next_version(base)
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive int, got {version!r}.")
    target = os.path.join(base, str(version))
    if os.path.exists(target):
        raise FileExistsError(
            f"{target} exists: versions are never overwritten (TF Serving would not reload "
            f"it). Export to a new version, e.g. --version {next_version(base)}."
        )
    os.makedirs(base, exist_ok=True)
    # Locked: a second export to the same folder stops at once, and staging folders of
    # killed exports (no live holder) are removed first.
    with RunLock(base):
        clean_litter(base)
        # os.mkdir, not tempfile.mkdtemp: mkdtemp's 0700 mode would survive the rename and
        # hide the model from a server running as another user.
        staging = os.path.join(base, f".tmp-{version}-{uuid.uuid4().hex}")
        os.mkdir(staging)
        try:
            write(staging)
            if os.path.exists(target):
                raise FileExistsError(f"{target} was created by someone else during this export.")
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target
