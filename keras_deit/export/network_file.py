"""The network alone, as files in a version folder: what ONNX, LiteRT and OpenVINO share.

Input `images`: float32 (batch, image_size..., 3) RGB in [0, 255], already resized
and cropped as in evaluation (`keras_deit.data.eval_transform`); output: the float32
logits (the mean of both heads for a distilled model). Class names, if given, go to
`labels.txt`, one per line in class-index order.
"""

import os

import keras

from keras_deit.export.inference_model import checked_class_names, inference_model
from keras_deit.export.versions import write_version


def image_input_spec(model):
    """The files' input: float32 (batch, image_size..., 3) named `images`, batch dynamic."""
    return keras.InputSpec(shape=(None, *model.image_size, 3), dtype="float32", name="images")


def write_labels(folder, class_names):
    """Writes `folder/labels.txt`, one class name per line; nothing for None."""
    if class_names is not None:
        with open(os.path.join(folder, "labels.txt"), "w", encoding="utf-8") as labels:
            labels.write("".join(f"{name}\n" for name in class_names))


def export_network_file(model, directory, *, write_network, version=None, class_names=None):
    """Writes a new version `directory/<version>/` holding the network and `labels.txt`.

    Args:
        model: a `DeiT` or a distillation model with a `.student` (exported alone).
        directory: str. The model's base folder.
        write_network: function `(float32 DeiT, folder)` writing the network's files.
        version: positive int, or None for the next free version.
        class_names: sequence of `num_classes` str, or None.

    Returns:
        str, the new version folder.

    Example:
    ```python
    import keras_deit
    model = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=64, depth=2,
                            num_heads=2, num_classes=5)
    write = lambda net, folder: net.save_weights(folder + "/model.weights.h5")
    export_network_file(model, "saved_models/tiny_weights", write_network=write)
    ```
    """
    model = inference_model(model)
    class_names = checked_class_names(class_names, model.num_classes)

    def write(folder):
        write_network(model, folder)
        write_labels(folder, class_names)

    return write_version(directory, write, version)
