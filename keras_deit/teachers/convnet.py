"""A small convnet classifier: the offline demo's teacher, trained on MNIST or the digits in seconds."""

import keras

# Channels of the three 3x3 convolutions: 56k parameters for 10 classes.
FILTERS = (32, 64, 64)


@keras.saving.register_keras_serializable(package="keras_deit")
class ConvNet(keras.Model):
    """Three 3x3 convolutions with max pooling between them, global average pooling, a linear head.

    Takes RGB images in [0, 255] (NHWC, scaled to [0, 1] inside) and returns float32
    logits (batch, num_classes) under any dtype policy. A convnet's locality is the
    inductive bias a DeiT student learns from its teacher (DeiT paper, section 5.2).
    `recipes/digits_teacher.py` trains one through `keras_deit.train`.

    Args:
        image_size: int. Input height and width.
        num_classes: int. Classes of the head.
        dtype: a Keras dtype policy or its name (e.g. "mixed_bfloat16"), None for the
            global one.
        name: str. Model name.

    Example:
    ```python
    import numpy as np
    from keras_deit.teachers.convnet import ConvNet
    model = ConvNet(image_size=32, num_classes=10)
    model(np.random.uniform(0, 255, (2, 32, 32, 3)).astype("float32")).shape  # (2, 10)
    ```
    """

    def __init__(self, *, image_size=32, num_classes=10, dtype=None, name="convnet", **kwargs):
        layers = keras.layers
        inputs = keras.Input((image_size, image_size, 3), name="images")
        x = layers.Rescaling(1.0 / 255.0, dtype=dtype, name="rescale")(inputs)
        for index, filters in enumerate(FILTERS, start=1):
            if index > 1:
                # Each pooling doubles the receptive field: the last layer sees a whole digit.
                x = layers.MaxPooling2D(dtype=dtype, name=f"pool{index - 1}")(x)
            x = layers.Conv2D(filters, 3, padding="same", activation="relu", dtype=dtype, name=f"conv{index}")(x)
        x = layers.GlobalAveragePooling2D(dtype=dtype, name="pool_global")(x)
        # float32 logits under mixed precision: losses and distillation take their softmax.
        outputs = layers.Dense(num_classes, dtype="float32", name="head")(x)
        super().__init__(inputs, outputs, name=name, **kwargs)
        self.image_size = image_size
        self.num_classes = num_classes

    def get_config(self):
        return {
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
