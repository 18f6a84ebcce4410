"""Reading PyTorch's zip checkpoints (`torch.save`) into NumPy, without torch and without running code.

A `.pth` file is a zip archive: `<prefix>/data.pkl` pickles the object tree, and each tensor's
storage is the raw bytes of `<prefix>/data/<key>`. The pickle may name only the globals that
`torch.load(weights_only=True)` needs for state dicts (tensor rebuilding, storage types,
`collections.OrderedDict`); every other global is refused before it is looked up, so a
malicious file cannot run code here.
"""

import collections
import io
import pickle
import zipfile

import numpy as np

_LITTLE_ENDIAN_DTYPES = {
    "FloatStorage": "<f4",
    "HalfStorage": "<f2",
    "BFloat16Storage": "<u2",  # widened to float32 after reading: NumPy has no bfloat16
    "DoubleStorage": "<f8",
    "LongStorage": "<i8",
    "IntStorage": "<i4",
    "ByteStorage": "|u1",
    "BoolStorage": "|b1",
}

CONVERT_HINT = (
    "If you trust the file, convert it once where torch is installed: python -c \"import torch, "
    "safetensors.torch as s; c = torch.load('FILE', weights_only=False); "
    "s.save_file({k: v.contiguous() for k, v in c.get('model', c).items()}, 'FILE.safetensors')\" "
    "and load the .safetensors file (`keras-deit convert` then reads it too)."
)


class UnsafeCheckpointError(ValueError):
    """A checkpoint's pickle asks for a global outside the allow list; nothing was run."""


class _StorageType:
    """Stands for `torch.FloatStorage` & co. in the pickle: only its element dtype matters."""

    def __init__(self, name):
        self.name = name


class _RebuildTensor:
    """`torch._utils._rebuild_tensor_v2`: a strided view of a storage, copied to an array."""

    def __call__(self, storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                 metadata=None):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError("a tensor is rebuilt from something that is not a storage")
        return storage.view(storage_offset, size, stride)


class _RebuildParameter:
    """`torch._utils._rebuild_parameter`: a Parameter is its data here."""

    def __call__(self, data, requires_grad=False, backward_hooks=None):
        if not isinstance(data, np.ndarray):
            raise pickle.UnpicklingError("a parameter is rebuilt from something that is not a tensor")
        return data


class _Storage:
    """One storage's elements, as a flat NumPy array of its torch dtype."""

    def __init__(self, type_name, raw, numel, big_endian):
        dtype = np.dtype(_LITTLE_ENDIAN_DTYPES[type_name])
        if big_endian:
            dtype = dtype.newbyteorder(">")
        if len(raw) != numel * dtype.itemsize:
            raise pickle.UnpicklingError(
                f"storage of {numel} elements holds {len(raw)} bytes, not {numel * dtype.itemsize}"
            )
        self.bfloat16 = type_name == "BFloat16Storage"
        self.elements = np.frombuffer(raw, dtype=dtype)

    def view(self, offset, size, stride):
        if not (isinstance(offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
                and len(size) == len(stride)
                and all(isinstance(v, int) and v >= 0 for v in (offset, *size, *stride))):
            raise pickle.UnpicklingError(f"bad tensor layout: offset {offset!r} size {size!r} stride {stride!r}")
        # Bounds checked before as_strided, which would otherwise read outside the buffer.
        if 0 not in size:
            last = offset + sum((side - 1) * step for side, step in zip(size, stride))
            if last >= self.elements.size:
                raise pickle.UnpicklingError(
                    f"tensor of size {size}, stride {stride}, offset {offset} reaches past its "
                    f"storage of {self.elements.size} elements"
                )
            itemsize = self.elements.itemsize
            array = np.lib.stride_tricks.as_strided(
                self.elements[offset:], shape=size, strides=[step * itemsize for step in stride],
                writeable=False,
            )
        else:
            array = np.zeros(size, self.elements.dtype)
        array = np.array(array, dtype=self.elements.dtype.newbyteorder("="))
        if self.bfloat16:
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _RebuildTensor(),
    ("torch._utils", "_rebuild_parameter"): _RebuildParameter(),
    **{("torch", name): _StorageType(name) for name in _LITTLE_ENDIAN_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only tensors, storages, dicts, lists, tuples, numbers and strings."""

    def __init__(self, file, archive, prefix, path):
        super().__init__(file)
        self.archive, self.prefix, self.path = archive, prefix, path
        self.big_endian = False
        if f"{prefix}byteorder" in archive.namelist():
            self.big_endian = archive.read(f"{prefix}byteorder").strip() == b"big"
        self.storages = {}

    def find_class(self, module, name):
        allowed = _ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise UnsafeCheckpointError(
                f"{self.path}: refused for security: its pickle asks for the unsupported global "
                f"{module}.{name}, which could run code when loaded; keras_deit reads only "
                f"tensors, dicts, lists and numbers (what torch.load(weights_only=True) allows). "
                + CONVERT_HINT
            )
        return allowed

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
                and isinstance(pid[1], _StorageType) and isinstance(pid[2], str)
                and isinstance(pid[4], int)):
            raise pickle.UnpicklingError(f"unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}data/{key}")
            self.storages[key] = _Storage(storage_type.name, raw, numel, self.big_endian)
        return self.storages[key]


def load_torch_pickle(path):
    """Reads a `torch.save` zip file into Python containers of NumPy arrays, torch-free.

    Tensors come back as NumPy arrays of their dtype (float32, float16, float64, int64,
    int32, uint8, bool); bfloat16 tensors as float32 (exact: bfloat16 is float32's top half).

    Args:
        path: str. A file written by `torch.save` (zip format, torch >= 1.6).

    Returns:
        The saved object: dicts / OrderedDicts / lists / tuples of arrays and plain values.

    Raises:
        UnsafeCheckpointError: the pickle names a global outside the allow list (nothing ran).
        ValueError: the file is truncated, corrupt or not a torch zip checkpoint.

    Example:
    ```python
    import torch
    torch.save({"model": {"w": torch.ones(2, 3)}}, "/tmp/w.pth")
    load_torch_pickle("/tmp/w.pth")["model"]["w"].shape  # (2, 3)
    ```
    """
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [name for name in archive.namelist() if name.endswith("data.pkl")
                       and name.count("/") == 1]
            if len(pickles) != 1:
                raise ValueError("no <name>/data.pkl record")
            prefix = pickles[0][: -len("data.pkl")]
            unpickler = _RestrictedUnpickler(io.BytesIO(archive.read(pickles[0])), archive, prefix, path)
            return unpickler.load()
    except UnsafeCheckpointError:
        raise
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError,
            IndexError, OSError, AttributeError, zipfile.LargeZipFile) as error:
        if isinstance(error, FileNotFoundError):
            raise
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"{path}: not a readable PyTorch zip checkpoint (truncated, corrupt, or written by "
            f"torch < 1.6): {reason}"
        ) from None
