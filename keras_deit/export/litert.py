"""LiteRT (TensorFlow Lite) export: `BASE/<version>/model.tflite`."""

import os

from keras_deit.export.network_file import export_network_file, image_input_spec


def write_litert(model, path, *, optimizations=()):
    """Writes the float32 `model`'s network to the `.tflite` file `path` (input `images`, logits out).

    Args:
        model: a float32 `DeiT` with its classifier (see `inference_model`).
        path: str. The .tflite file to write.
        optimizations: sequence of `tf.lite.Optimize`. `[tf.lite.Optimize.DEFAULT]`
            without a representative data set is LiteRT's dynamic-range quantization
            (int8 weights, activations quantized per call); empty keeps float32.

    Example:
    ```python
    import tensorflow as tf, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    write_litert(model, "/tmp/tiny_int8.tflite", optimizations=[tf.lite.Optimize.DEFAULT])
    ```
    """
    model.export(
        path, format="litert", input_signature=[image_input_spec(model)], verbose=False,
        optimizations=list(optimizations),
    )


def export_litert(model, directory, *, version=None, class_names=None):
    """Exports `directory/<version>/model.tflite` for LiteRT (TensorFlow Lite).

    The network only (see `keras_deit.export.network_file`); the input's batch size is
    dynamic (resize the interpreter's input before `allocate_tensors`).

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder.
        version: positive int, or None for the next free version.
        class_names: sequence of `num_classes` str, or None.

    Returns:
        str, the new version folder.

    Example:
    ```python
    import tensorflow as tf, keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    path = keras_deit.export_litert(model, "saved_models/tiny_litert")
    interpreter = tf.lite.Interpreter(model_path=path + "/model.tflite")
    ```
    """
    def write_network(network, folder):
        write_litert(network, os.path.join(folder, "model.tflite"))

    return export_network_file(
        model, directory, write_network=write_network, version=version, class_names=class_names
    )
