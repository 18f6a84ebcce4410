"""TF Serving SavedModel export: signatures, REST / gRPC requests, versions, the CLI.

Reference for served photos: Pillow decoding and a float64 NumPy implementation of the
evaluation resize and crop, fed to the Keras model (the pipeline's transform itself is
checked against torchvision in test_data_transforms.py).
"""

import base64
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import keras_deit
from keras_deit.commands import export as export_command
from keras_deit.distillation.model import DistillationModel
from keras_deit.export import export_saved_model, inference_model
from keras_deit.export.serving_preprocessing import decode_and_transform, transform_images
from keras_deit.export.versions import existing_versions, write_version
from tests.conftest import command_parser

CLASS_NAMES = ["tench", "goldfish", "white shark", "tiger shark", "hammerhead"]
TINY = dict(image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=5)


def keys_cubic(distance):
    """Keys' cubic convolution kernel, a = -0.5 (Pillow's and TensorFlow's bicubic)."""
    x = np.abs(distance)
    near = (1.5 * x - 2.5) * x * x + 1.0
    far = ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def resize_matrix(in_size, out_size):
    """(out_size, in_size) weights of an antialiased bicubic resize, half-pixel centers."""
    scale = out_size / in_size
    centers = (np.arange(out_size) + 0.5) / scale
    # Shrinking stretches the kernel over 1 / scale input pixels (the antialias filter).
    distance = (np.arange(in_size)[None, :] + 0.5 - centers[:, None]) * min(scale, 1.0)
    weights = keys_cubic(distance)
    return weights / weights.sum(axis=1, keepdims=True)


def reference_eval_transform(image, size, crop_ratio=0.875):
    """NumPy float64 DeiT eval transform, geometry as torchvision's Resize + CenterCrop.

    Values are rounded to integers in [0, 255] like Pillow's uint8 output (and the
    evaluation pipeline). The test fails loudly if a value sits so near a rounding tie
    that float32 noise could decide it.
    """
    height, width = image.shape[:2]
    short_side = math.floor(size / crop_ratio)
    if height <= width:
        new_height, new_width = short_side, int(short_side * width / height)
    else:
        new_height, new_width = int(short_side * height / width), short_side
    rows = np.tensordot(resize_matrix(height, new_height), image.astype("float64"), axes=(1, 0))
    resized = np.einsum("awc,bw->abc", rows, resize_matrix(width, new_width), optimize=True)
    top = int(round((new_height - size) / 2.0))
    left = int(round((new_width - size) / 2.0))
    crop = np.clip(resized[top : top + size, left : left + size], 0.0, 255.0)
    assert np.abs(crop - np.floor(crop) - 0.5).min() > 1e-5
    return np.round(crop).astype("float32")


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def saved_model_cli_signatures(path):
    """{signature: {"inputs"|"outputs": {name: (dtype, shape)}}} from `saved_model_cli show --all`."""
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    cli = cli if os.path.exists(cli) else shutil.which("saved_model_cli")
    text = subprocess.run(
        [cli, "show", "--all", "--dir", path], capture_output=True, text=True, check=True
    ).stdout
    tensor = re.compile(r"(?:inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (\([^)]*\)|unknown_rank)")
    signatures = {}
    for block in text.split("signature_def['")[1:]:
        name = block.split("'", 1)[0]
        inputs, _, outputs = block.partition("contains the following output(s):")
        signatures[name] = {
            "inputs": {key: (dtype, shape) for key, dtype, shape in tensor.findall(inputs)},
            "outputs": {key: (dtype, shape) for key, dtype, shape in tensor.findall(outputs)},
        }
    return signatures


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return keras_deit.DeiT(distill=True, **TINY)


@pytest.fixture(scope="module")
def export_path(model, tmp_path_factory):
    base = tmp_path_factory.mktemp("saved_models") / "deit_tiny"
    return export_saved_model(model, str(base), class_names=CLASS_NAMES, top_k=3)


@pytest.fixture(scope="module")
def serving(export_path):
    return tf.saved_model.load(export_path)


@pytest.fixture(scope="module")
def photos():
    """scikit-learn's two photographs (427x640): original JPEG bytes and decoded pixels."""
    from sklearn.datasets import load_sample_images

    samples = load_sample_images()
    encoded = {}
    for filename in samples.filenames:
        with open(filename, "rb") as file:
            encoded[os.path.basename(filename)] = file.read()
    # Pillow decodes as the official evaluation does (tf.io.decode_image's default JPEG
    # DCT differs from it by up to 18 levels on these photos; the export matches it).
    pixels = {name: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")) for name, data in encoded.items()}
    return encoded, pixels


def test_version_layout_is_tf_servings(export_path, model):
    base = os.path.dirname(export_path)
    assert os.path.basename(export_path) == "1"
    # No temporary folder left behind; `.lock` is the export lock's file.
    assert sorted(os.listdir(base)) == [".lock", "1"]
    assert os.path.exists(os.path.join(export_path, "saved_model.pb"))
    with pytest.raises(FileExistsError, match="never overwritten"):
        export_saved_model(model, base, version=1)
    assert sorted(os.listdir(base)) == [".lock", "1"]


def test_write_version_numbers_from_the_highest(tmp_path):
    base = str(tmp_path)
    killed_export = ".tmp-11-" + "0" * 32  # the staging folder of a killed export
    for name in ("3", "10", "notes", ".tmp-11-abc", killed_export):
        os.mkdir(os.path.join(base, name))
    assert existing_versions(base) == [3, 10]
    target = write_version(base, lambda folder: open(os.path.join(folder, "f"), "w").close())
    assert target == os.path.join(base, "11")
    # Only names of keras_deit's own pattern are litter.
    assert sorted(os.listdir(base)) == [".lock", ".tmp-11-abc", "10", "11", "3", "notes"]
    assert sorted(os.listdir(target)) == ["f"]
    # mkdtemp would leave 0700: readable by a server running as another user instead.
    assert os.stat(target).st_mode & 0o055 == os.stat(os.path.join(base, "3")).st_mode & 0o055
    with pytest.raises(ValueError, match="positive int"):
        write_version(base, lambda folder: None, version=0)


def test_signatures_seen_by_saved_model_cli(export_path, serving, model):
    signatures = saved_model_cli_signatures(export_path)
    outputs = {
        "probabilities": ("DT_FLOAT", "(-1,5)"),
        "top_k_classes": ("DT_INT32", "(-1,3)"),
        "top_k_scores": ("DT_FLOAT", "(-1,3)"),
        "top_k_labels": ("DT_STRING", "(-1,3)"),
        "cls_logits": ("DT_FLOAT", "(-1,5)"),
        "dist_logits": ("DT_FLOAT", "(-1,5)"),
    }
    normalize = lambda tensors: {name: (dtype, shape.replace(" ", "")) for name, (dtype, shape) in tensors.items()}
    assert normalize(signatures["serving_default"]["inputs"]) == {"image_bytes": ("DT_STRING", "(-1)")}
    assert normalize(signatures["serving_default"]["outputs"]) == outputs
    assert normalize(signatures["predict_images"]["inputs"]) == {"images": ("DT_FLOAT", "(-1,-1,-1,3)")}
    assert normalize(signatures["predict_images"]["outputs"]) == outputs

    assert set(serving.signatures) == {"serving_default", "predict_images"}
    _, inputs = serving.signatures["serving_default"].structured_input_signature
    assert inputs == {"image_bytes": tf.TensorSpec([None], tf.string, name="image_bytes")}
    # The module holds the model's variables, all float32.
    assert sorted(v.shape.num_elements() for v in serving.variables) == sorted(
        int(np.prod(w.shape)) for w in model.weights
    )
    assert {v.dtype for v in serving.variables} == {tf.float32}


@pytest.mark.parametrize("encoding", ["jpeg", "png"])
def test_photos_served_like_the_keras_model(serving, model, photos, encoding):
    encoded, pixels = photos
    names = sorted(encoded)
    if encoding == "jpeg":
        requests = [encoded[name] for name in names]  # the original camera JPEGs
    else:
        requests = [tf.io.encode_png(pixels[name]).numpy() for name in names]
    outputs = serving.signatures["serving_default"](image_bytes=tf.constant(requests))

    reference_pixels = np.stack([reference_eval_transform(pixels[name], 32) for name in names])
    # The signature's preprocessing, run eagerly: the same integer pixels.
    np.testing.assert_array_equal(decode_and_transform(tf.constant(requests), (32, 32)).numpy(), reference_pixels)
    cls_logits, dist_logits = (np.asarray(x) for x in model.heads(reference_pixels))
    probabilities = softmax(np.asarray(model(reference_pixels)))
    np.testing.assert_allclose(outputs["probabilities"].numpy(), probabilities, atol=1e-5)
    np.testing.assert_allclose(outputs["cls_logits"].numpy(), cls_logits, atol=1e-5)
    np.testing.assert_allclose(outputs["dist_logits"].numpy(), dist_logits, atol=1e-5)
    top_classes = np.argsort(-probabilities, axis=-1)[:, :3]
    np.testing.assert_array_equal(outputs["top_k_classes"].numpy(), top_classes)
    np.testing.assert_allclose(
        outputs["top_k_scores"].numpy(), np.take_along_axis(probabilities, top_classes, -1), atol=1e-5
    )
    labels = [[CLASS_NAMES[index].encode() for index in row] for row in top_classes]
    assert outputs["top_k_labels"].numpy().tolist() == labels


def test_other_formats_and_predict_images(serving, photos):
    _, pixels = photos
    image = pixels["flower.jpg"]

    def encode(image_format, **options):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=image_format, **options)
        return buffer.getvalue()

    lossless = [tf.io.encode_png(image).numpy(), encode("BMP"), encode("WEBP", lossless=True)]
    served = serving.signatures["serving_default"](image_bytes=tf.constant(lossless + [encode("GIF")]))
    probabilities = served["probabilities"].numpy()
    np.testing.assert_allclose(probabilities[1:3], probabilities[[0, 0]], atol=1e-6)
    assert probabilities.shape == (4, 5) and np.allclose(probabilities.sum(-1), 1.0, atol=1e-5)

    # predict_images: float32 pixels of any size (uint8 cast, values unchanged).
    batch = tf.cast(tf.constant(np.stack([image, image])), tf.float32)
    predicted = serving.signatures["predict_images"](images=batch)
    np.testing.assert_allclose(predicted["probabilities"].numpy(), probabilities[[0, 0]], atol=1e-6)


def tf_serving_rest_inputs(body, signature):
    """Request tensors from a REST `instances` body, decoded the way TF Serving does.

    Row format; with a single input an instance is the value itself; `{"b64": ...}`
    is a base64-encoded binary string.
    """
    (input_name,) = signature.structured_input_signature[1]
    values = [
        base64.b64decode(instance["b64"]) if isinstance(instance, dict) and set(instance) == {"b64"} else instance
        for instance in json.loads(body)["instances"]
    ]
    return {input_name: tf.constant(values, dtype=signature.structured_input_signature[1][input_name].dtype)}


def test_rest_b64_and_grpc_predict_request(serving, photos):
    from tensorflow_serving.apis import predict_pb2

    encoded, _ = photos
    images = [encoded[name] for name in sorted(encoded)]
    signature = serving.signatures["serving_default"]
    direct = signature(image_bytes=tf.constant(images))

    body = json.dumps({"instances": [{"b64": base64.b64encode(image).decode("ascii")} for image in images]})
    from_rest = signature(**tf_serving_rest_inputs(body, signature))

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "deit_tiny"
    request.model_spec.signature_name = "serving_default"
    request.inputs["image_bytes"].CopyFrom(tf.make_tensor_proto(images, dtype=tf.string))
    received = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    tensors = {name: tf.make_ndarray(proto) for name, proto in received.inputs.items()}
    assert tensors["image_bytes"].tolist() == images
    from_grpc = signature(**{name: tf.constant(value) for name, value in tensors.items()})

    for name, value in direct.items():
        np.testing.assert_array_equal(from_rest[name].numpy(), value.numpy())
        np.testing.assert_array_equal(from_grpc[name].numpy(), value.numpy())


def test_malformed_bytes_fail_that_request_only(serving, photos):
    encoded, _ = photos
    signature = serving.signatures["serving_default"]
    good = signature(image_bytes=tf.constant([encoded["china.jpg"]]))["probabilities"].numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match="Unknown image file format"):
        signature(image_bytes=tf.constant([encoded["china.jpg"], b"<html>not an image</html>"]))
    truncated_png = tf.io.encode_png(tf.zeros((64, 64, 3), tf.uint8)).numpy()[:40]
    with pytest.raises(tf.errors.InvalidArgumentError, match="PNG"):
        signature(image_bytes=tf.constant([truncated_png]))
    again = signature(image_bytes=tf.constant([encoded["china.jpg"]]))["probabilities"].numpy()
    np.testing.assert_array_equal(again, good)


def test_crash_while_writing_leaves_no_version(model, tmp_path, monkeypatch):
    base = tmp_path / "deit_tiny"

    def crash(obj, export_dir, *args, **kwargs):
        with open(os.path.join(export_dir, "saved_model.pb"), "wb") as partial:
            partial.write(b"half a model")
        raise RuntimeError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        export_saved_model(model, str(base))
    assert os.listdir(base) == [".lock"]  # no version, no staging folder


def test_mixed_precision_student_exported_in_float32_without_teacher(tmp_path):
    keras.utils.set_random_seed(1)
    student = keras_deit.DeiT(dtype="mixed_bfloat16", **TINY)
    teacher = keras_deit.DeiT(**{**TINY, "embed_dim": 32})
    distillation = DistillationModel(student=student, teacher=teacher)
    float32_student = keras_deit.DeiT(**TINY)
    float32_student.set_weights(student.get_weights())

    serving = tf.saved_model.load(export_saved_model(distillation, str(tmp_path / "student")))
    outputs = serving.signatures["predict_images"].structured_outputs
    assert set(outputs) == {"probabilities", "top_k_classes", "top_k_scores"}
    assert {v.dtype for v in serving.variables} == {tf.float32}
    assert sum(v.shape.num_elements() for v in serving.variables) == student.count_params()

    image = np.random.default_rng(0).uniform(0, 255, (2, 40, 48, 3)).astype("float32")
    served = serving.signatures["predict_images"](images=tf.constant(image))["probabilities"].numpy()
    pixels = transform_images(tf.constant(image), (32, 32)).numpy()
    np.testing.assert_allclose(served, softmax(np.asarray(float32_student(pixels))), atol=1e-5)
    assert inference_model(distillation).dtype_policy.name == "float32"


def run_export_command(argv):
    arguments = command_parser(export_command).parse_args(["export", *argv])
    return arguments.handler(arguments)


def test_cli_exports_a_keras_file(model, tmp_path, capsys):
    model_file = str(tmp_path / "student.keras")
    model.save(model_file)
    names_file = tmp_path / "classes.txt"
    names_file.write_text("".join(f"{name}\n" for name in CLASS_NAMES), encoding="utf-8")
    output = str(tmp_path / "saved_models" / "deit_tiny")

    argv = [model_file, "--output", output, "--version", "7", "--class-names", str(names_file), "--top-k", "2"]
    assert run_export_command(argv) == 0
    assert f"wrote {os.path.join(output, '7')}" in capsys.readouterr().out
    serving = tf.saved_model.load(os.path.join(output, "7"))
    images = np.random.default_rng(4).uniform(0, 255, (1, 32, 32, 3)).astype("float32")
    labels = serving.signatures["predict_images"](images=tf.constant(images))["top_k_labels"]
    assert labels.shape == (1, 2) and all(label.decode() in CLASS_NAMES for label in labels.numpy()[0])

    assert run_export_command(argv) == 2  # version 7 exists: refused, untouched
    assert "never overwritten" in capsys.readouterr().err
    with pytest.raises(ValueError, match="savedmodel only"):
        run_export_command([model_file, "--output", output, "--format", "onnx", "--top-k", "2"])
