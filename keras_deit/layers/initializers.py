"""The weight initializers of the official DeiT / timm VisionTransformer."""

import keras


def deit_normal():
    """Normal(0, 0.02): timm's `trunc_normal_(std=.02)`.

    timm truncates at +-2 in absolute value, i.e. at 100 standard deviations, so it is a
    plain normal in practice; Keras' TruncatedNormal would cut at 2 standard deviations.
    """
    return keras.initializers.RandomNormal(stddev=0.02)
