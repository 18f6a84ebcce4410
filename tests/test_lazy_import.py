"""`import keras_deit` loads nothing heavy; names load on first use; `keras-deit --help` is quick."""

import os
import subprocess
import sys
import time

import pytest

import keras_deit

# A tiny DeiT built and run on JAX (its numbers against the TF backend are checked in
# test_deit_model.py); prints whether TensorFlow was imported on the way.
JAX_SCRIPT = """
import sys
import numpy as np
import keras_deit
import keras
assert keras.backend.backend() == "jax"
model = keras_deit.DeiT(image_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=3)
images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
logits = np.asarray(model(images))
print(logits.shape, np.isfinite(logits).all())
print("tensorflow" in sys.modules)
"""


def _run(code, **environment):
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={**os.environ, **environment},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


@pytest.mark.slow
def test_a_deit_builds_and_runs_on_jax_without_tensorflow():
    shape, tensorflow_loaded = _run(JAX_SCRIPT, KERAS_BACKEND="jax")[-2:]
    assert shape == "(2, 3) True"
    assert tensorflow_loaded == "False"


def test_import_loads_neither_keras_nor_training_nor_export_and_a_built_deit_no_torch():
    # One process for both checks: each fresh TensorFlow import costs seconds.
    code = (
        "import sys, keras_deit\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow', 'torch')"
        " or m.startswith(('keras_deit.training', 'keras_deit.export', 'keras_deit.data'))))\n"
        "keras_deit.DeiT\n"
        "print(sorted(m for m in sys.modules if m.startswith(('keras_deit.training', 'keras_deit.export'))))\n"
        "keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2)\n"
        "print('torch' in sys.modules)\n"
    )
    before, after_model, torch_loaded = _run(code, KERAS_BACKEND="tensorflow")[-3:]
    assert before == "[]"
    assert after_model == "[]"
    assert torch_loaded == "False"


def test_every_public_name_resolves_and_is_listed():
    for name in keras_deit.__all__:
        assert name in dir(keras_deit)
    code = (
        "from keras_deit import " + ", ".join(keras_deit.__all__) + "\n"
        "import keras_deit\n"
        "print(train is keras_deit.training.train, DeiT.__module__, export_onnx.__module__)\n"
    )
    assert _run(code)[-1] == "True keras_deit.models.deit keras_deit.export.onnx"
    try:
        keras_deit.not_a_name
    except AttributeError as error:
        assert "not_a_name" in str(error)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_help_answers_quickly_without_heavy_imports():
    code = (
        "import sys\nfrom keras_deit.cli import build_parser\nbuild_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'keras', 'tensorflow', 'torch', 'jax')))\n"
    )
    assert _run(code)[-1] == "[]"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "keras_deit.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0 and "usage: keras-deit" in result.stdout
    # 0.6-1.0 s measured on the shared 2-core machine; generous for load.
    assert seconds < 5.0, seconds
