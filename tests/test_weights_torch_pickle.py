"""The torch-free `.pth` reader: equal to torch.load, refuses code, clear errors."""

import builtins
import collections
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from keras_deit.weights.checkpoint_files import read_state_dict
from keras_deit.weights.torch_pickle import UnsafeCheckpointError, load_torch_pickle
from tests.conftest import random_images, timm_input


def assert_same(ours, reference):
    """`ours` (NumPy containers) equals `reference` (torch.load's), bit for bit."""
    if isinstance(reference, torch.Tensor):
        expected = reference.float() if reference.dtype == torch.bfloat16 else reference
        expected = expected.detach().numpy()
        assert isinstance(ours, np.ndarray) and ours.dtype == expected.dtype
        assert ours.shape == expected.shape
        np.testing.assert_array_equal(ours, expected)
    elif isinstance(reference, dict):
        assert type(ours) is type(reference) and list(ours) == list(reference)
        for key in reference:
            assert_same(ours[key], reference[key])
    elif isinstance(reference, (list, tuple)):
        assert type(ours) is type(reference) and len(ours) == len(reference)
        for a, b in zip(ours, reference):
            assert_same(a, b)
    else:
        assert ours == reference


def test_files_written_by_torch_save_read_equal_to_torch_load(tmp_path):
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(6, 8, generator=generator)
    state = collections.OrderedDict(
        f32=torch.randn(3, 4, generator=generator),
        f16=torch.randn(5, generator=generator).half(),
        bf16=torch.randn(2, 3, generator=generator).bfloat16(),
        f64=torch.randn(2, 2, generator=generator).double(),
        i64=torch.arange(-3, 7),
        i32=torch.arange(4, dtype=torch.int32).reshape(2, 2),
        u8=torch.arange(250, 256, dtype=torch.uint8),
        flags=torch.tensor([True, False, True]),
        transposed=base.t(),  # non-contiguous, shares base's storage
        strided=base[::2, 1::3],
        offset=base[3:, 2:5],
        scalar=torch.tensor(2.5),
        empty=torch.zeros(0, 3),
        param=torch.nn.Parameter(torch.randn(4, generator=generator)),
    )
    state["base"] = base
    checkpoint = {
        "model": state,
        "nested": {"inner": {"t": base[1]}, "list": [1, 2.5, "s", None, True, (3, "x")]},
        "epoch": 7,
    }
    path = tmp_path / "checkpoint.pth"
    torch.save(checkpoint, path)
    assert_same(load_torch_pickle(str(path)), torch.load(path, weights_only=True))
    # read_state_dict unwraps {"model": ...} to the flat state dict.
    assert_same(read_state_dict(str(path)), dict(torch.load(path, weights_only=True)["model"]))


class SystemPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvalPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"open({str(self.marker)!r}, 'w').close()",))


class SubprocessPayload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


class NotAllowed:
    """A harmless class, still not on the allow list."""


def _torch_zip_with_pickle(path, data_pkl):
    """A torch zip checkpoint whose data.pkl is `data_pkl` (raw pickle bytes)."""
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("checkpoint/data.pkl", data_pkl)
        archive.writestr("checkpoint/byteorder", "little")
        archive.writestr("checkpoint/version", "3\n")


@pytest.mark.parametrize("payload", [SystemPayload, EvalPayload, SubprocessPayload, "global", "object"])
def test_malicious_pickles_are_refused_and_never_run(tmp_path, payload):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    if payload == "global":
        # GLOBAL opcode naming posix.system, then REDUCE: hand-written protocol-0 pickle.
        data = b"cposix\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR."
        _torch_zip_with_pickle(path, data)
    elif payload == "object":
        torch.save({"model": {"w": torch.ones(2)}, "extra": NotAllowed()}, path)
    else:
        torch.save({"model": {"w": torch.ones(2)}, "payload": payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as error:
        read_state_dict(str(path))
    message = str(error.value)
    assert "refused for security" in message and "unsupported global" in message
    assert "safetensors" in message and "keras-deit convert" in message and str(path) in message
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "missing_storage"])
def test_corrupt_files_are_a_one_line_value_error_naming_the_file(tmp_path, damage):
    good = tmp_path / "good.pth"
    torch.save({"model": {"w": torch.randn(64, 64)}}, good)
    path = tmp_path / "bad.pth"
    raw = good.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint at all" * 10)
    else:
        import zipfile

        with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as target:
            for name in source.namelist():
                if "/data/" not in name:
                    target.writestr(name, source.read(name))
    with pytest.raises(ValueError) as error:
        read_state_dict(str(path))
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    assert not isinstance(error.value, UnsafeCheckpointError)


BLOCKED_TORCH_SCRIPT = """
import sys

class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")

sys.meta_path.insert(0, BlockTorch())
import numpy as np, keras_deit
checkpoint, images_file, out = sys.argv[1:4]
model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                        distill=True, num_classes=10, weights=checkpoint)
np.save(out, np.asarray(model(np.load(images_file))))
assert "torch" not in sys.modules
"""


def test_official_layout_loads_into_deit_without_torch(timm_models, tmp_path):
    reference = timm_models(
        "deit_tiny_distilled_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=2,
        num_heads=2, num_classes=10,
    )
    checkpoint = tmp_path / "deit.pth"
    torch.save({"model": reference.state_dict(), "epoch": 299}, checkpoint)
    images = random_images(2, 32)
    np.save(tmp_path / "images.npy", images)
    result = subprocess.run(
        [sys.executable, "-c", BLOCKED_TORCH_SCRIPT, str(checkpoint), str(tmp_path / "images.npy"),
         str(tmp_path / "logits.npy")],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with torch.no_grad():
        expected = reference(timm_input(images)).numpy()
    assert np.max(np.abs(np.load(tmp_path / "logits.npy") - expected)) <= 1e-4
