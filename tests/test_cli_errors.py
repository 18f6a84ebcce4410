"""Every user error of `keras-deit` is one stderr line `keras-deit: error: ...`, exit status 2."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from keras_deit.cli import error_message, main

PREFIX = "keras-deit: error: "


def _assert_one_error_line(capsys, argv, status=2, *, contains):
    assert main(argv) == status
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(PREFIX) and contains in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import keras_deit

    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    keras_deit.DeiT(image_size=16, patch_size=8, embed_dim=16, depth=1, num_heads=2, num_classes=3).save(path)
    return str(path)


def test_a_config_error_is_one_line(capsys, tmp_path):
    _assert_one_error_line(
        capsys, ["train", "digits", "--set", "training.global_batch_size=0", "--output", str(tmp_path / "run")],
        contains="global_batch_size must be >= 1",
    )
    _assert_one_error_line(
        capsys, ["train", "digits", "--set", "training.not_a_key=1"], contains="Unknown config key",
    )


def test_an_output_that_is_a_file_is_one_line(capsys, tmp_path):
    file = tmp_path / "taken"
    file.write_text("")
    _assert_one_error_line(capsys, ["demo", "--output", str(file)], contains="File exists")


def test_an_output_that_cannot_be_written_is_one_line(capsys, tmp_path):
    # Root ignores a folder's mode 0o555; a folder under a file fails for everyone.
    file = tmp_path / "plain_file"
    file.write_text("")
    _assert_one_error_line(capsys, ["demo", "--output", str(file / "run")], contains="Not a directory")


def test_a_missing_or_truncated_image_for_attention_is_one_line(capsys, tmp_path, tiny_model):
    missing = str(tmp_path / "missing.png")
    _assert_one_error_line(capsys, ["attention", "--model", tiny_model, missing], contains="missing.png")
    import tensorflow as tf

    png = tf.io.encode_png(np.zeros((16, 16, 3), "uint8")).numpy()
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png[: len(png) // 2])
    line = _assert_one_error_line(capsys, ["attention", "--model", tiny_model, str(truncated)], contains="")
    assert "function_node" not in line and len(line) > len(PREFIX)


def test_a_truncated_or_refused_checkpoint_for_convert_is_one_line(capsys, tmp_path):
    checkpoint = tmp_path / "deit.pth"
    torch.save({"pos_embed": torch.zeros(1, 5, 8)}, checkpoint)
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2])
    target = str(tmp_path / "out.weights.h5")
    _assert_one_error_line(capsys, ["convert", str(checkpoint), target], contains="not a readable PyTorch zip checkpoint")
    # A pickled object weights_only=True refuses to build (it would run code).
    torch.save({"model": np.dtype("float32")}, checkpoint)
    _assert_one_error_line(capsys, ["convert", str(checkpoint), target], contains="refused for security")
    assert not os.path.exists(target)


def test_evaluate_on_a_missing_model_is_one_line_and_debug_shows_the_traceback(capsys, tmp_path):
    argv = ["evaluate", "--model", str(tmp_path / "none.keras"), "--data", "digits"]
    _assert_one_error_line(capsys, argv, contains="No model at")
    assert main(["--debug", *argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "FileNotFoundError" in err
    assert err.strip().splitlines()[-1].startswith(PREFIX)


def _raise(error):
    def handler(arguments):
        raise error

    return handler


def test_a_bug_keeps_its_traceback_and_ctrl_c_is_one_line(capsys, monkeypatch):
    import keras_deit.commands.demo as demo

    monkeypatch.setattr(demo, "_run", _raise(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError):
        main(["demo"])
    monkeypatch.setattr(demo, "_run", _raise(KeyboardInterrupt()))
    _assert_one_error_line(capsys, ["demo"], status=130, contains="interrupted")
    assert error_message(ValueError("first line\n  detail")) == "first line"
    assert error_message(KeyError()) == "KeyError"


def test_the_console_script_prints_one_line_and_exits_2(tmp_path):
    file = tmp_path / "taken"
    file.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "keras_deit.cli", "evaluate", "--model", str(file / "m.keras"), "--data", "digits"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("keras-deit")]
    assert errors == [f"{PREFIX}No model at {str(file / 'm.keras')!r}."], result.stderr
    assert "Traceback" not in result.stderr
