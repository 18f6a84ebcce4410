"""RegNetY teachers against timm on random weights: logits, sizes, checkpoints, saving."""

import numpy as np
import pytest

import keras
from safetensors.numpy import save_file as save_numpy_safetensors

from keras_deit import teachers
from keras_deit.teachers import REGNETY_CONFIGS, regnet
from keras_deit.weights.assignment import assign_state_dict
from keras_deit.weights.regnet import load_timm_regnet_weights, timm_regnet_assignments
from tests.conftest import random_images, timm_input

torch = pytest.importorskip("torch")
timm = pytest.importorskip("timm")

IMAGE_SIZE = 64
TOLERANCE = 1e-4


def _factory(variant):
    return getattr(teachers, f"RegNetY{variant}")


def _images(batch=2, seed=0):
    return random_images(batch, IMAGE_SIZE, seed=seed)


def _timm_logits(model, images):
    # timm takes normalized NCHW images; the Keras models take [0, 255] NHWC pixels.
    with torch.no_grad():
        return model(timm_input(images)).numpy()


def _random_timm_regnet(variant, seed=0):
    """A timm RegNetY in eval mode whose BatchNorms all have non-trivial statistics and affines.

    Keeps timm's fan-out conv init rather than conftest's `randomize_` (0.02-std convs): the
    signal then keeps its scale through up to 27 blocks and logits come out of order 1.
    """
    torch.manual_seed(seed)
    model = timm.create_model(f"regnety_{variant}", pretrained=False).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                # timm zero-inits each block's last BN gamma: that would hide the residual branch.
                module.weight.uniform_(0.5, 1.0)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


@pytest.fixture(scope="module")
def regnety002_checkpoint(tmp_path_factory):
    model = _random_timm_regnet("002")
    path = tmp_path_factory.mktemp("regnety002") / "regnety_002.pth"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture(scope="module")
def keras_regnety002(regnety002_checkpoint):
    """RegNetY002 loaded from the random timm checkpoint (tests below never modify it)."""
    _, path = regnety002_checkpoint
    return teachers.RegNetY002(weights=str(path), input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))


@pytest.mark.parametrize("variant", list(REGNETY_CONFIGS))
def test_parameter_counts_match_timm(variant, monkeypatch):
    with torch.device("meta"):  # shapes only: no memory, no init time
        reference = timm.create_model(f"regnety_{variant}")
    # Only shapes are counted: zeros skip drawing up to 145M random numbers per model.
    monkeypatch.setattr(regnet, "_conv_initializer", lambda groups: "zeros")
    model = _factory(variant)()
    trainable = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    running_stats = sum(int(np.prod(weight.shape)) for weight in model.non_trainable_weights)
    assert trainable == sum(parameter.numel() for parameter in reference.parameters())
    assert running_stats == sum(
        buffer.numel()
        for name, buffer in reference.named_buffers()
        if not name.endswith("num_batches_tracked")
    )
    if variant == "160":
        assert trainable == 83_590_140  # timm's regnety_160, DeiT's teacher


def test_regnety002_pth_matches_timm(regnety002_checkpoint, keras_regnety002):
    reference, _ = regnety002_checkpoint
    images = _images()
    expected = _timm_logits(reference, images)
    logits = keras.ops.convert_to_numpy(keras_regnety002(images))
    assert logits.shape == (2, 1000) and logits.dtype == np.float32
    assert np.abs(expected).max() > 1e-2  # the comparison is not vacuous
    np.testing.assert_allclose(logits, expected, rtol=0, atol=TOLERANCE)


def test_regnety016_safetensors_matches_timm(tmp_path):
    import safetensors.torch

    reference = _random_timm_regnet("016", seed=1)
    path = tmp_path / "regnety_016.safetensors"
    safetensors.torch.save_file(reference.state_dict(), str(path))
    model = teachers.RegNetY016(weights=str(path), input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    images = _images(seed=1)
    expected = _timm_logits(reference, images)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(images)), expected, rtol=0, atol=TOLERANCE
    )


def test_regnety160_matches_timm(monkeypatch):
    # Full 16GF network at 64x64 (1/12 of the 224x224 FLOPs); tensors assigned in memory
    # through the same name mapping the file loader uses.
    reference = _random_timm_regnet("160", seed=2)
    state = {
        name: tensor.numpy()
        for name, tensor in reference.state_dict().items()
        if not name.endswith("num_batches_tracked")
    }
    # Every variable is overwritten below: zeros skip drawing 83M random numbers.
    monkeypatch.setattr(regnet, "_conv_initializer", lambda groups: "zeros")
    model = teachers.RegNetY160(input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    assign_state_dict(timm_regnet_assignments(model), state)
    images = _images(batch=1, seed=2)
    expected = _timm_logits(reference, images)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(images)), expected, rtol=0, atol=TOLERANCE
    )


def test_include_top_false_gives_timm_features(regnety002_checkpoint):
    reference, path = regnety002_checkpoint
    # The checkpoint's head.fc.* tensors are ignored, everything else still checked.
    model = teachers.RegNetY002(
        include_top=False,
        include_preprocessing=False,
        weights=str(path),
        input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3),
    )
    normalized = timm_input(_images())
    with torch.no_grad():
        expected = reference.forward_features(normalized).numpy().transpose(0, 2, 3, 1)
    features = keras.ops.convert_to_numpy(model(normalized.numpy().transpose(0, 2, 3, 1)))
    assert features.shape == (2, IMAGE_SIZE // 32, IMAGE_SIZE // 32, 368)
    np.testing.assert_allclose(features, expected, rtol=0, atol=TOLERANCE)
    pooled = teachers.RegNetY002(include_top=False, pooling="avg", input_shape=(None, None, 3))
    assert pooled.output.shape == (None, 368)


def test_random_init_follows_timm():
    model = teachers.RegNetY002(input_shape=(32, 32, 3))
    # timm: normal(0, sqrt(2 / fan_out)), fan_out = 3 * 3 * 368 / 46 groups for this conv.
    kernel = keras.ops.convert_to_numpy(model.get_layer("s4_b1_conv2_conv").kernel)
    assert kernel.shape == (3, 3, 8, 368)
    np.testing.assert_allclose(kernel.std(), np.sqrt(2 / (3 * 3 * 8)), rtol=0.03)
    # timm's zero_init_last: each block's last BatchNorm starts with gamma 0.
    assert not np.any(keras.ops.convert_to_numpy(model.get_layer("s4_b1_conv3_bn").gamma))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("head_fc").kernel).std(), 0.01, rtol=0.03
    )


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (
            lambda state: state.pop("s3.b2.se.fc1.bias"),
            "missing from the checkpoint: s3.b2.se.fc1.bias",
        ),
        (
            lambda state: state.update({"s5.b1.conv1.conv.weight": np.zeros(3, "float32")}),
            "s5.b1.conv1.conv.weight",
        ),
        (
            lambda state: state.update({"s2.b1.conv2.bn.running_var": np.ones(7, "float32")}),
            "s2.b1.conv2.bn.running_var",
        ),
    ],
    ids=["missing", "extra", "misshaped"],
)
def test_bad_checkpoint_raises_naming_tensor(
    regnety002_checkpoint, keras_regnety002, tmp_path, corrupt, message
):
    reference, _ = regnety002_checkpoint
    state = {name: tensor.numpy() for name, tensor in reference.state_dict().items()}
    corrupt(state)
    path = tmp_path / "bad.safetensors"
    save_numpy_safetensors(state, str(path))
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        load_timm_regnet_weights(keras_regnety002, str(path))  # checks everything before assigning


def test_keras_file_round_trip(keras_regnety002, tmp_path):
    # A checkpoint-loaded model: random init zeroes each block's last BN gamma, so a
    # residual branch lost in saving would go unseen.
    model = keras_regnety002
    images = _images()
    expected = keras.ops.convert_to_numpy(model(images))
    model.save(tmp_path / "regnety002.keras")
    restored = keras.saving.load_model(tmp_path / "regnety002.keras", safe_mode=True)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(images)), expected)
    model.save_weights(tmp_path / "regnety002.weights.h5")
    reloaded = teachers.RegNetY002(
        weights=str(tmp_path / "regnety002.weights.h5"), input_shape=(IMAGE_SIZE, IMAGE_SIZE, 3)
    )
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(reloaded(images)), expected)


def test_logits_are_float32_under_mixed_precision():
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        model = teachers.RegNetY002(input_shape=(32, 32, 3), num_classes=10)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    # Symbolic dtypes: a bfloat16 forward pass on CPU costs seconds and proves nothing more.
    assert model.get_layer("s4_b1_conv2_conv").compute_dtype == "bfloat16"
    assert model.output.shape == (None, 10) and model.output.dtype == "float32"


def test_invalid_arguments():
    with pytest.raises(ValueError, match="pooling"):
        teachers.RegNetY002(pooling="avg")
    with pytest.raises(ValueError, match="input_shape"):
        teachers.RegNetY002(input_shape=(64, 64, 1))
    with pytest.raises(ValueError, match="weights"):
        teachers.RegNetY002(weights="imagenet")
