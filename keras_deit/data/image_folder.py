"""A folder of class sub-folders of image files, checked cheaply for broken files.

Each file's first and last bytes are read once (no decoding, so an ImageNet-size folder
is scanned at disk speed): a file whose signature is not JPEG / PNG / GIF / BMP, or
whose end marker is missing (a truncated download), is skipped, counted and logged
once with its path. Corruption inside an otherwise complete file is caught later by the
pipeline, which drops that image with a warning (and stops with an error when no image
of an epoch decodes). A class folder without readable images is an error; a symlinked
class folder is followed only when it points outside the tree.

Example:
```python
from keras_deit.data.image_folder import scan_image_folder
folder = scan_image_folder("flowers/train")
folder.class_names, len(folder.paths), folder.skipped
```
"""

import collections
import logging
import os
import struct

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
_TAIL_BYTES = 1024
_LOGGER = logging.getLogger("keras_deit.data")

ImageFolder = collections.namedtuple("ImageFolder", ["paths", "labels", "class_names", "skipped"])
ImageFolder.__doc__ = """Scanned folder: file paths, int labels, sorted class names, skipped paths."""


def looks_complete(path):
    """True when the file starts with an image signature and ends with its end marker.

    Args:
        path: str. An image file.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
        handle.seek(max(0, size - _TAIL_BYTES))
        tail = handle.read()
    if head.startswith(b"\xff\xd8\xff"):
        return b"\xff\xd9" in tail
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return b"IEND" in tail
    if head.startswith((b"GIF87a", b"GIF89a")):
        return tail.rstrip(b"\x00").endswith(b";")
    if head.startswith(b"BM") and len(head) >= 6:
        return struct.unpack("<I", head[2:6])[0] <= size
    return False


def scan_image_folder(root):
    """Lists `root/<class>/**/<image>`; classes are the sorted sub-folder names.

    Args:
        root: str. Folder holding one sub-folder per class.

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no class sub-folder, a class sub-folder without readable image, or a
            symlinked class folder pointing into the tree (a cycle or a duplicate).
    """
    if not os.path.isdir(root):
        raise FileNotFoundError(f"Image folder {root!r} does not exist.")
    class_names = sorted(
        entry for entry in os.listdir(root) if os.path.isdir(os.path.join(root, entry))
    )
    if not class_names:
        raise ValueError(f"Image folder {root!r} has no class sub-folders.")
    _check_class_symlinks(root, class_names)
    paths, labels, skipped, empty = [], [], [], []
    for label, name in enumerate(class_names):
        count = len(paths)
        # followlinks=False (os.walk's default): a symlinked folder inside a class is not
        # entered, so no link can lead the walk in a loop.
        for directory, _, files in sorted(os.walk(os.path.join(root, name))):
            for file in sorted(files):
                if not file.lower().endswith(IMAGE_EXTENSIONS):
                    continue
                path = os.path.join(directory, file)
                if looks_complete(path):
                    paths.append(path)
                    labels.append(label)
                else:
                    skipped.append(path)
        if len(paths) == count:
            empty.append(name)
    if skipped:
        shown = ", ".join(skipped[:10]) + (" ..." if len(skipped) > 10 else "")
        _LOGGER.warning("%s: skipped %d unreadable image file(s): %s", root, len(skipped), shown)
    if empty:
        # A class without images would still take a label and an output of the model.
        raise ValueError(
            f"Image folder {root!r}: {len(empty)} of {len(class_names)} class sub-folder(s) "
            f"hold no readable {'/'.join(IMAGE_EXTENSIONS)} file: {', '.join(empty)}."
        )
    return ImageFolder(paths, labels, class_names, skipped)


def _check_class_symlinks(root, class_names):
    """Raises ValueError for a symlinked class folder that points into the tree or above it.

    Such a link is a cycle (it reaches `root` or one of its parents) or an alias of folders
    already scanned: it would add a class holding copies of other classes' images. An
    error rather than a skip, because skipping would change the class list (and every
    label after it) without the user noticing. A link to a folder outside the tree is a
    normal class.
    """
    real_root = os.path.realpath(root)
    targets = {}
    for name in class_names:
        folder = os.path.join(root, name)
        if not os.path.islink(folder):
            continue
        target = os.path.realpath(folder)
        inside = target == real_root or os.path.commonpath([target, real_root]) in (target, real_root)
        if inside:
            raise ValueError(
                f"Image folder {root!r}: class folder {name!r} is a symlink to {target!r}, "
                "inside or above the tree (a cycle or a copy of other classes): remove it."
            )
        if target in targets:
            raise ValueError(
                f"Image folder {root!r}: class folders {targets[target]!r} and {name!r} "
                f"both link to {target!r}."
            )
        targets[target] = name
