"""Removing the temporary files and folders that killed processes leave in a folder.

A process killed mid-write leaves what it was writing under its temporary name:
`.partial-<12 hex>-<name>` files of `keras_deit.files.atomic.write_atomically` (a run's
checkpoints, logs and models) and `.tmp-<version>-<32 hex>` folders of
`keras_deit.export.versions.write_version` (an export's staging folder). Nothing else
ever renames them into place, so they only take disk space, a whole model each.
"""

import os
import re
import shutil

from keras_deit.files.atomic import PARTIAL_NAME
from keras_deit.files.run_lock import is_locked_by_another_process, lock_holder

# `write_version`'s staging folder: f".tmp-{version}-{uuid.uuid4().hex}".
EXPORT_STAGING_NAME = re.compile(r"\.tmp-[0-9]+-[0-9a-f]{32}")


def _is_litter(name):
    return bool(PARTIAL_NAME.fullmatch(name) or EXPORT_STAGING_NAME.fullmatch(name))


def clean_litter(folder):
    """Removes the temporary files and export staging folders left in `folder`.

    Looks in `folder` and its direct subfolders (a run's `checkpoints/`), and only at
    names of this package's two temporary patterns. A live writer's temporaries look
    the same as a dead one's, so call it holding `folder`'s `RunLock`: when another live
    process holds that lock, nothing is removed.

    Args:
        folder: str. A run folder or an export base folder; a missing one is empty.

    Returns:
        list of str: the paths removed.

    Example:
    ```python
    with RunLock("runs/digits"):
        for path in clean_litter("runs/digits"):
            print(f"removed {path}, left by a killed process")
    ```
    """
    if not os.path.isdir(folder):
        return []
    if is_locked_by_another_process(folder):
        print(f"Not cleaning {folder}: in use by {lock_holder(folder) or 'another process'}.")
        return []
    candidates = [folder] + [
        os.path.join(folder, name) for name in sorted(os.listdir(folder))
        if not _is_litter(name) and os.path.isdir(os.path.join(folder, name))
    ]
    removed = []
    for directory in candidates:
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if not _is_litter(name):
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
            removed.append(path)
    return removed
