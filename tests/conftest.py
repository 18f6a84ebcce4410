"""Shared test helpers: timm reference models with random weights, random images, CLI parsers."""

# timm (torchvision) before TensorFlow: torchvision 0.29 segfaults on import when
# TensorFlow 2.21 is already loaded in the process; the other order works.
import timm  # noqa: F401  isort: skip
import argparse

import numpy as np
import pytest

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], "float32")
IMAGENET_STD = np.array([0.229, 0.224, 0.225], "float32")


def command_parser(module):
    """A `keras-deit` parser with the one sub-command of `module` (a `keras_deit.commands` module)."""
    parser = argparse.ArgumentParser(prog="keras-deit")
    module.register(parser.add_subparsers(dest="command", required=True))
    return parser


def random_images(batch, size, seed=0):
    """RGB float32 images with values in [0, 255], NHWC."""
    height, width = (size, size) if isinstance(size, int) else size
    return np.random.default_rng(seed).uniform(0, 255, (batch, height, width, 3)).astype("float32")


def timm_input(images):
    """What timm is fed for `images`: torchvision's ToTensor + Normalize, NCHW."""
    import torch

    normalized = (images / np.float32(255.0) - IMAGENET_MEAN) / IMAGENET_STD
    return torch.from_numpy(np.ascontiguousarray(normalized.transpose(0, 3, 1, 2)))


def randomize_(module, seed=0):
    """Overwrites every parameter and buffer of a torch module with random values.

    timm's own init leaves biases at 0, LayerNorm at (1, 0) and tokens near 0, which
    would hide a transposed or swapped tensor; random values test every one.
    """
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in list(module.named_parameters()) + list(module.named_buffers()):
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(noise.abs() * 0.5 + 0.5)
            elif tensor.ndim == 1 and name.endswith(("norm.weight", "norm1.weight", "norm2.weight", "bn.weight")):
                tensor.copy_(1.0 + 0.1 * noise)  # normalization scales near 1
            else:
                tensor.copy_(0.02 * noise)
    return module.eval()


@pytest.fixture(scope="session")
def timm_models():
    """Factory of randomized timm models: `timm_models(name, seed=0, **kwargs)`."""
    import timm
    import torch

    torch.manual_seed(0)

    def make(name, seed=0, **kwargs):
        model = timm.create_model(name, pretrained=False, **kwargs)
        return randomize_(model, seed)

    return make


# One Keras-on-JAX process serves every JAX check of the suite: a fresh Python with Keras,
# JAX and XLA costs many seconds, and Keras fixes its backend at import. Each job is a
# snippet run with `args` (its file paths) in a fresh namespace; it writes what the test
# compares into files. A job may load TensorFlow (keras.utils.set_random_seed does), so a
# check that JAX work needs no TensorFlow runs in a process of its own (test_lazy_import.py).
JAX_WORKER = r"""
import contextlib, json, sys, traceback
import keras
assert keras.backend.backend() == "jax", keras.backend.backend()
protocol = sys.stdout
for line in sys.stdin:
    job = json.loads(line)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            exec(compile(job["code"], "<jax job>", "exec"), {"args": job["args"], "__name__": "__jax_job__"})
        reply = {"ok": True}
    except BaseException:
        reply = {"ok": False, "error": traceback.format_exc()}
    protocol.write(json.dumps(reply) + "\n")
    protocol.flush()
"""


class JaxWorker:
    """A running Keras-on-JAX process: `worker(code, *args)` runs `code` there with `args`."""

    def __init__(self, folder):
        import os
        import subprocess
        import sys
        from pathlib import Path

        repo = str(Path(__file__).resolve().parents[1])
        path = os.pathsep.join([repo] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
        environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "PYTHONPATH": path,
                       "CUDA_VISIBLE_DEVICES": ""}
        # stderr to a file: a pipe nobody reads would fill and block the worker.
        self.log = Path(folder) / "jax_worker.log"
        self._log_file = open(self.log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-c", JAX_WORKER], cwd=repo, env=environment, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log_file,
        )

    def __call__(self, code, *args):
        import json

        self.process.stdin.write(json.dumps({"code": code, "args": [str(a) for a in args]}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError("the JAX worker died:\n" + self.log.read_text()[-3000:])
        reply = json.loads(line)
        assert reply["ok"], reply["error"][-3000:]

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self._log_file.close()


@pytest.fixture(scope="session")
def jax_worker(tmp_path_factory):
    """The session's Keras-on-JAX worker (see `JaxWorker`), started on first use."""
    worker = JaxWorker(tmp_path_factory.mktemp("jax_worker"))
    yield worker
    worker.close()
