"""ImageNet normalization inside the model, so every model takes [0, 255] RGB pixels."""

import keras
from keras import ops

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@keras.saving.register_keras_serializable(package="keras_deit")
class ImageNormalization(keras.layers.Layer):
    """`(pixels / 255 - mean) / std` per channel, computed in float32.

    The same arithmetic, in the same order, as torchvision's `ToTensor` + `Normalize`
    that produced the official checkpoints' inputs, so converted weights see the same
    numbers. Students, teachers and the exported SavedModel all take [0, 255] RGB.

    Args:
        mean: sequence of 3 floats. Channel means of [0, 1] pixels.
        std: sequence of 3 floats. Channel standard deviations of [0, 1] pixels.

    Example:
    ```python
    import numpy as np
    ImageNormalization()(np.full((1, 2, 2, 3), 255.0, "float32"))[0, 0, 0]
    # (1 - mean) / std = [2.2489, 2.4286, 2.64]
    ```
    """

    def __init__(self, *, mean=IMAGENET_MEAN, std=IMAGENET_STD, **kwargs):
        # No autocast: under mixed_bfloat16 Keras would round the raw pixels to 8 bits
        # of mantissa before this layer sees them.
        super().__init__(autocast=False, **kwargs)
        self.mean = tuple(float(value) for value in mean)
        self.std = tuple(float(value) for value in std)

    def call(self, images):
        # float32 whatever the policy: pixel values up to 255 lose precision in float16.
        images = ops.cast(images, "float32") / 255.0
        images = (images - ops.array(self.mean, "float32")) / ops.array(self.std, "float32")
        return ops.cast(images, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(mean=self.mean, std=self.std)
        return config
