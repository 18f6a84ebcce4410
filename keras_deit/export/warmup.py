"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` in a SavedModel.

TF Serving replays the file's requests when it loads a version and only then marks it
available, so the first client request does not pay for graph initialization and
memory allocation (TF Serving's "SavedModel Warmup"). The file is a TFRecord of
`tensorflow_serving.apis.prediction_log_pb2.PredictionLog`, each holding a
`PredictRequest`: here one batch of encoded images (a JPEG and a PNG, the decoder's
two branches) for `serving_default` and one float32 image of the model's size for `predict_images`.
"""

import os

import numpy as np
import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def import_prediction_log():
    """`tensorflow_serving.apis.prediction_log_pb2`, or an ImportError saying how to install it."""
    try:
        from tensorflow_serving.apis import prediction_log_pb2
    except ImportError as error:
        raise ImportError(
            "Writing TF Serving warm-up requests needs tensorflow-serving-api: "
            "pip install --no-deps tensorflow-serving-api (--no-deps: its requirements "
            "would replace tensorflow-cpu by tensorflow)."
        ) from error
    return prediction_log_pb2


def warmup_image(image_size, crop_ratio):
    """A deterministic uint8 RGB test card (height, width, 3), larger than the crop and not square.

    Args:
        image_size: (int, int). The model's input height and width.
        crop_ratio: float in (0, 1]. The export's crop ratio.

    Example:
    ```python
    warmup_image((224, 224), 0.875).shape  # (256, 341, 3)
    ```
    """
    height = int(image_size[0] / crop_ratio)
    width = height * 4 // 3
    rows, columns = np.mgrid[0:height, 0:width]
    channels = (rows * 255 // max(height - 1, 1), columns * 255 // max(width - 1, 1), (rows + columns) % 256)
    return np.stack(channels, axis=-1).astype("uint8")


def warmup_requests(*, model_name, image_size, crop_ratio):
    """`{signature name: PredictRequest}` for the serving signatures of `serving_archive`.

    Args:
        model_name: str. The name TF Serving serves the model under.
        image_size: (int, int). The model's input height and width.
        crop_ratio: float in (0, 1]. The export's crop ratio.

    Example:
    ```python
    requests = warmup_requests(model_name="deit_small", image_size=(224, 224), crop_ratio=0.875)
    sorted(requests)  # ["predict_images", "serving_default"]
    ```
    """
    from tensorflow_serving.apis import predict_pb2

    image = warmup_image(image_size, crop_ratio)
    inputs = {
        "serving_default": (
            "image_bytes",
            tf.make_tensor_proto(
                [tf.io.encode_jpeg(image, quality=90).numpy(), tf.io.encode_png(image).numpy()], dtype=tf.string
            ),
        ),
        # Pixels at the model's own size keep the file small (0.6 MB at 224).
        "predict_images": (
            "images", tf.make_tensor_proto(image[None, : image_size[0], : image_size[1]].astype("float32"))
        ),
    }
    requests = {}
    for signature, (input_name, tensor) in inputs.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        request.inputs[input_name].CopyFrom(tensor)
        requests[signature] = request
    return requests


def write_warmup_requests(folder, *, model_name, image_size, crop_ratio):
    """Writes `folder/assets.extra/tf_serving_warmup_requests` for a SavedModel in `folder`.

    Args:
        folder: str. The SavedModel's version folder.
        model_name: str. The name TF Serving serves the model under.
        image_size: (int, int). The model's input height and width.
        crop_ratio: float in (0, 1]. The export's crop ratio.

    Returns:
        str, the file written.

    Example:
    ```python
    write_warmup_requests("saved_models/deit_small/1", model_name="deit_small",
                          image_size=(224, 224), crop_ratio=0.875)
    ```
    """
    prediction_log_pb2 = import_prediction_log()
    path = os.path.join(folder, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for request in warmup_requests(model_name=model_name, image_size=image_size, crop_ratio=crop_ratio).values():
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path
