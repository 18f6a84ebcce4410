"""TF Serving warm-up file: every record parses as a PredictionLog whose request the SavedModel answers
as the Keras model does."""

import os

import keras
import numpy as np
import tensorflow as tf

import keras_deit
from keras_deit.data.decoding import decode_rgb
from keras_deit.data.eval_transform import resize_and_center_crop
from keras_deit.export import export_saved_model
from keras_deit.export.warmup import WARMUP_FILE

TINY = dict(image_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=5)


def keras_outputs(model, pixels):
    cls_logits, dist_logits = (keras.ops.convert_to_numpy(x) for x in model.heads(pixels))
    logits = keras.ops.convert_to_numpy(model(pixels))
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return dict(cls_logits=cls_logits, dist_logits=dist_logits, probabilities=probabilities)


def test_warmup_requests_replay_like_the_keras_model(tmp_path):
    from tensorflow_serving.apis import prediction_log_pb2

    keras.utils.set_random_seed(0)
    model = keras_deit.DeiT(distill=True, **TINY)
    crop_ratio = 0.8
    path = export_saved_model(model, str(tmp_path / "deit_tiny"), crop_ratio=crop_ratio)
    serving = tf.saved_model.load(path)
    records = list(tf.data.TFRecordDataset(os.path.join(path, WARMUP_FILE)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(record) for record in records]
    requests = {log.predict_log.request.model_spec.signature_name: log.predict_log.request for log in logs}
    assert len(logs) == 2 and sorted(requests) == ["predict_images", "serving_default"]
    assert {request.model_spec.name for request in requests.values()} == {"deit_tiny"}

    for name, request in requests.items():
        inputs = {key: tf.make_ndarray(proto) for key, proto in request.inputs.items()}
        served = serving.signatures[name](**{key: tf.constant(value) for key, value in inputs.items()})
        if name == "serving_default":
            encoded = inputs["image_bytes"].tolist()
            # A JPEG and a PNG of the same test card: both decoder branches.
            assert [image[:3] for image in encoded] == [b"\xff\xd8\xff", b"\x89PN"]
            images = [decode_rgb(tf.constant(image)) for image in encoded]
        else:
            images = list(inputs["images"])
            assert inputs["images"].shape == (1, 32, 32, 3)
        pixels = np.stack(
            [resize_and_center_crop(image, image_size=32, crop_ratio=crop_ratio).numpy() for image in images]
        )
        for key, value in keras_outputs(model, pixels).items():
            np.testing.assert_allclose(served[key].numpy(), value, atol=1e-4)
