"""Network-file exports (ONNX, LiteRT, OpenVINO): each runtime's logits against the Keras model."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_deit
from keras_deit.export import export_litert, export_onnx, export_openvino
from keras_deit.export.litert import write_litert

CLASS_NAMES = ["tench", "goldfish", "white shark", "tiger shark", "hammerhead"]
TINY = dict(image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=5)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return keras_deit.DeiT(distill=True, **TINY)


def test_onnx_matches_keras(model, tmp_path):
    import onnxruntime

    path = export_onnx(model, str(tmp_path / "onnx"), class_names=CLASS_NAMES)
    assert sorted(os.listdir(path)) == ["labels.txt", "model.onnx"]
    with open(os.path.join(path, "labels.txt"), encoding="utf-8") as labels:
        assert labels.read().splitlines() == CLASS_NAMES
    session = onnxruntime.InferenceSession(os.path.join(path, "model.onnx"))
    assert [(i.name, i.shape[1:]) for i in session.get_inputs()] == [("images", [32, 32, 3])]
    images = np.random.default_rng(2).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    (logits,) = session.run(None, {"images": images})
    np.testing.assert_allclose(logits, np.asarray(model(images)), atol=1e-4)


def _litert_logits(interpreter, images):
    """The interpreter's logits for `images`, its input resized to their batch."""
    (image_input,) = interpreter.get_input_details()
    interpreter.resize_tensor_input(image_input["index"], images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(image_input["index"], images)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def test_litert_matches_keras(model, tmp_path):
    path = export_litert(model, str(tmp_path / "litert"))
    interpreter = tf.lite.Interpreter(model_path=os.path.join(path, "model.tflite"))
    (image_input,) = interpreter.get_input_details()
    assert image_input["shape_signature"].tolist() == [-1, 32, 32, 3]
    images = np.random.default_rng(3).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    logits = _litert_logits(interpreter, images)
    np.testing.assert_allclose(logits, np.asarray(model(images)), atol=1e-4)


def test_litert_dynamic_range_quantizes_every_block_matmul(model, tmp_path):
    path = str(tmp_path / "model_int8.tflite")
    write_litert(model, path, optimizations=[tf.lite.Optimize.DEFAULT])
    interpreter = tf.lite.Interpreter(model_path=path)
    int8_matmuls = {
        (detail["name"].split("/")[1], tuple(detail["shape"]))
        for detail in interpreter.get_tensor_details()
        if detail["dtype"] == np.int8 and "MatMul" in detail["name"]
    }
    # qkv, proj, fc1, fc2 of each of the 2 blocks hold int8 weights (output x input, by shape).
    width = TINY["embed_dim"]
    shapes = {(3 * width, width), (width, width), (4 * width, width), (width, 4 * width)}
    assert int8_matmuls == {(f"blocks_{i}_1", shape) for i in range(TINY["depth"]) for shape in shapes}, int8_matmuls
    images = np.random.default_rng(4).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    logits = _litert_logits(interpreter, images)
    expected = np.asarray(model(images))
    # int8 weights: close to float32 (measured 0.003 for logits of std 0.17), not equal.
    np.testing.assert_allclose(logits, expected, atol=0.02)
    assert np.abs(logits - expected).max() > 1e-5


@pytest.mark.slow
def test_openvino_matches_keras(model, tmp_path):
    import openvino

    path = export_openvino(model, str(tmp_path / "openvino"), class_names=CLASS_NAMES)
    assert sorted(os.listdir(path)) == ["labels.txt", "model.bin", "model.xml"]
    assert sorted(os.listdir(tmp_path / "openvino")) == [".lock", "1"]  # no temporary folder or ONNX file left
    with open(os.path.join(path, "labels.txt"), encoding="utf-8") as labels:
        assert labels.read().splitlines() == CLASS_NAMES
    network = openvino.Core().read_model(os.path.join(path, "model.xml"))
    (image_input,) = network.inputs
    assert image_input.get_any_name() == "images"
    assert str(image_input.get_partial_shape()) == "[?,32,32,3]"
    # Weights stay float32 (save_model's default compress_to_fp16 is turned off).
    constants = [op for op in network.get_ops() if op.get_type_name() == "Constant"]
    assert "f16" not in {op.get_output_element_type(0).get_type_name() for op in constants}
    compiled = openvino.Core().compile_model(network, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    images = np.random.default_rng(5).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    logits = compiled(images)[0]
    np.testing.assert_allclose(logits, np.asarray(model(images)), atol=1e-4)
