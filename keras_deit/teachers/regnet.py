"""RegNetY image classifiers (200MF ... 32GF), identical to timm's `regnety_002` ... `regnety_320`.

Keras 3 dropped RegNet from `keras.applications`; these rebuild it under tf.keras' old names
as functional models of standard Keras layers, so `.keras` files load in safe mode. The
architecture, layer for layer, is timm's (timm/models/regnet.py): a 3x3 stride-2 stem, four
stages of Y-bottleneck blocks (1x1 conv, 3x3 group conv, squeeze-excite, 1x1 conv, residual),
global average pooling and a linear classifier. DeiT uses RegNetY-16GF as its teacher.
"""

import os

import keras

from keras_deit.layers.image_normalization import ImageNormalization
from keras_deit.teachers.regnet_config import REGNETY_CONFIGS, regnet_stages
from keras_deit.weights.checkpoint_files import is_torch_checkpoint
from keras_deit.weights.regnet import load_timm_regnet_weights

STEM_WIDTH = 32
BN_EPSILON = 1e-5
# Keras' momentum weights the old running statistic, torch's (0.1) the new batch statistic.
BN_MOMENTUM = 0.9
DEFAULT_INPUT_SHAPE = (224, 224, 3)
KERAS_WEIGHTS_SUFFIX = ".weights.h5"


def _conv_initializer(groups):
    # timm's init: normal(0, sqrt(2 / fan_out)) with fan_out = k*k*out/groups; Keras' fan_out
    # ignores groups, so the scale carries them.
    return keras.initializers.VarianceScaling(
        scale=2.0 * groups, mode="fan_out", distribution="untruncated_normal"
    )


def _conv_bn(
    x, *, filters, kernel_size, strides=1, groups=1, activation=True, zero_gamma=False, dtype=None, name
):
    """timm's ConvNormAct: conv (no bias), BatchNorm, optional ReLU as `{name}_conv/_bn/_act`."""
    padding = "same"
    if kernel_size > 1 and strides > 1:
        # torch pads k//2 on every side; Keras "same" at stride 2 pads only bottom/right.
        x = keras.layers.ZeroPadding2D(kernel_size // 2, dtype=dtype, name=f"{name}_pad")(x)
        padding = "valid"
    # Keras' TF backend compiles grouped convolutions with XLA (cuDNN's grouped conv on GPU). On
    # CPU that is about 2x slower than one conv per group and retraced at every eager call; call
    # the model inside tf.function / predict / fit there.
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        groups=groups,
        use_bias=False,
        kernel_initializer=_conv_initializer(groups),
        dtype=dtype,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        # timm's zero_init_last: each residual branch starts as zero, the block as identity.
        gamma_initializer="zeros" if zero_gamma else "ones",
        dtype=dtype,
        name=f"{name}_bn",
    )(x)
    if activation:
        x = keras.layers.ReLU(dtype=dtype, name=f"{name}_act")(x)
    return x


def _squeeze_excite(x, *, channels, reduced_channels, dtype=None, name):
    """timm's SEModule: channel gates from pooled features through a ReLU / sigmoid bottleneck."""
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, dtype=dtype, name=f"{name}_pool")(x)
    gate = keras.layers.Conv2D(
        reduced_channels,
        1,
        activation="relu",
        kernel_initializer=_conv_initializer(1),
        dtype=dtype,
        name=f"{name}_fc1",
    )(gate)
    gate = keras.layers.Conv2D(
        channels,
        1,
        activation="sigmoid",
        kernel_initializer=_conv_initializer(1),
        dtype=dtype,
        name=f"{name}_fc2",
    )(gate)
    return keras.layers.Multiply(dtype=dtype, name=f"{name}_gate")([x, gate])


def _bottleneck(x, *, in_channels, channels, strides, group_size, se_ratio, dtype=None, name):
    """timm's regnet Bottleneck (bottleneck ratio 1, SE after the group conv, conv1x1 shortcut)."""
    shortcut = x
    x = _conv_bn(x, filters=channels, kernel_size=1, dtype=dtype, name=f"{name}_conv1")
    x = _conv_bn(
        x,
        filters=channels,
        kernel_size=3,
        strides=strides,
        groups=channels // group_size,
        dtype=dtype,
        name=f"{name}_conv2",
    )
    # The SE width follows the block's input width, not its own (pycls / timm convention).
    x = _squeeze_excite(
        x, channels=channels, reduced_channels=int(round(in_channels * se_ratio)), dtype=dtype,
        name=f"{name}_se",
    )
    x = _conv_bn(
        x, filters=channels, kernel_size=1, activation=False, zero_gamma=True, dtype=dtype,
        name=f"{name}_conv3",
    )
    if in_channels != channels or strides != 1:
        shortcut = _conv_bn(
            shortcut,
            filters=channels,
            kernel_size=1,
            strides=strides,
            activation=False,
            dtype=dtype,
            name=f"{name}_downsample",
        )
    x = keras.layers.Add(dtype=dtype, name=f"{name}_add")([x, shortcut])
    return keras.layers.ReLU(dtype=dtype, name=f"{name}_act3")(x)


def RegNetY(
    *,
    variant,
    include_top=True,
    weights=None,
    input_shape=None,
    num_classes=1000,
    include_preprocessing=True,
    pooling=None,
    name=None,
    dtype=None,
):
    """Builds the RegNetY of one size; `RegNetY002` ... `RegNetY320` are its shorthands.

    Args:
        variant: str. One of "002", "004", "006", "008", "016", "032", "040", "064", "080",
            "120", "160", "320" (hundreds of MFLOPs at 224x224).
        include_top: bool. True: global average pooling + linear classifier, output logits
            (B, num_classes) in float32 even under mixed precision. False: no classifier,
            output the last feature map (B, h, w, C), or pooled (B, C) with `pooling`.
        weights: None (random, initialized like timm), a Keras `.weights.h5` file, or a
            timm / official checkpoint (`.pth`, `.pt`, `.bin`, `.safetensors`) converted by
            tensor name; `include_top=False` ignores the checkpoint's `head.*` tensors.
        input_shape: tuple `(H, W, 3)`, default (224, 224, 3); H and W may be None.
        num_classes: int. Classifier outputs, with `include_top=True`.
        include_preprocessing: bool. True: inputs are RGB in [0, 255], normalized inside with
            ImageNet's mean and std. False: inputs are already normalized.
        pooling: None, "avg" or "max". Global pooling of the features, only with
            `include_top=False`.
        name: str. Model name, default `f"regnety{variant}"`.
        dtype: a Keras dtype policy or its name, None for the global one. Under
            "mixed_bfloat16" / "mixed_float16" the layers compute in 16 bits with float32
            weights; the normalization and the logits stay float32.

    Returns:
        keras.Model.

    Example:
    ```python
    import numpy as np
    from keras_deit.teachers import RegNetY
    model = RegNetY(variant="002", input_shape=(64, 64, 3))
    model.predict(np.random.uniform(0, 255, (2, 64, 64, 3)), verbose=0).shape  # (2, 1000)
    ```
    """
    if variant not in REGNETY_CONFIGS:
        raise ValueError(
            f"Unknown RegNetY variant {variant!r}; expected one of {sorted(REGNETY_CONFIGS)}."
        )
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'; got {pooling!r}.")
    if include_top and pooling is not None:
        raise ValueError(
            "`pooling` applies only with `include_top=False` (the classifier always averages)."
        )
    weights = None if weights is None else os.fspath(weights)
    if weights is not None and not (
        weights.endswith(KERAS_WEIGHTS_SUFFIX) or is_torch_checkpoint(weights)
    ):
        raise ValueError(
            f"`weights` must be None, a Keras `{KERAS_WEIGHTS_SUFFIX}` file or a timm checkpoint "
            f"(`.pth`, `.pt`, `.bin`, `.safetensors`); got {weights!r}. For ImageNet weights, "
            "download timm's checkpoint (e.g. keras_deit.weights.official.REGNETY_160_URL) and pass its path."
        )
    input_shape = tuple(DEFAULT_INPUT_SHAPE if input_shape is None else input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"`input_shape` must be (H, W, 3) for RGB images; got {input_shape}.")
    config = REGNETY_CONFIGS[variant]

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if include_preprocessing:
        # The students' normalization layer: teacher and student see the same numbers.
        x = ImageNormalization(dtype=dtype, name="normalize")(x)
    x = _conv_bn(x, filters=STEM_WIDTH, kernel_size=3, strides=2, dtype=dtype, name="stem")
    in_channels = STEM_WIDTH
    stages = regnet_stages(
        w0=config["w0"],
        wa=config["wa"],
        wm=config["wm"],
        depth=config["depth"],
        group_size=config["group_size"],
    )
    for stage_index, stage in enumerate(stages, start=1):
        for block_index in range(1, stage["depth"] + 1):
            x = _bottleneck(
                x,
                in_channels=in_channels,
                channels=stage["width"],
                strides=2 if block_index == 1 else 1,
                group_size=stage["group_size"],
                se_ratio=config["se_ratio"],
                dtype=dtype,
                name=f"s{stage_index}_b{block_index}",
            )
            in_channels = stage["width"]
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="head_pool")(x)
        x = keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            # float32 logits under mixed precision: distillation takes their softmax.
            dtype="float32",
            name="head_fc",
        )(x)
    elif pooling == "avg":
        x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="avg_pool")(x)
    elif pooling == "max":
        x = keras.layers.GlobalMaxPooling2D(dtype=dtype, name="max_pool")(x)
    model = keras.Model(inputs, x, name=name or f"regnety{variant}")
    if weights is not None and weights.endswith(KERAS_WEIGHTS_SUFFIX):
        model.load_weights(weights)
    elif weights is not None:
        load_timm_regnet_weights(model, weights)
    return model


_FACTORY_DOC = """Builds RegNetY-{flops}: timm's `regnety_{variant}`, {params} trainable parameters.

    Args:
        include_top: bool. True: logits (B, num_classes), float32 under mixed precision.
            False: the last feature map (B, h, w, C), or (B, C) with `pooling`.
        weights: None (random), a Keras `.weights.h5` file, or a timm checkpoint
            (`.pth` / `.safetensors`) of `regnety_{variant}`, converted by tensor name.
        input_shape: tuple `(H, W, 3)`, default (224, 224, 3).
        num_classes: int. Classifier outputs, with `include_top=True`.
        include_preprocessing: bool. True: inputs are RGB in [0, 255], ImageNet-normalized
            inside. False: inputs are already normalized.
        pooling: None, "avg" or "max", only with `include_top=False`.
        name: str. Model name.
        dtype: a Keras dtype policy or its name (e.g. "mixed_bfloat16"), None for the global one.

    Returns:
        keras.Model.

    Example:
    ```python
    import numpy as np
    from keras_deit.teachers import RegNetY{variant}
    model = RegNetY{variant}(input_shape=(64, 64, 3))
    model.predict(np.random.uniform(0, 255, (1, 64, 64, 3)), verbose=0).shape  # (1, 1000)
    ```
    """


def _factory(variant, flops, params):
    def factory(
        *,
        include_top=True,
        weights=None,
        input_shape=None,
        num_classes=1000,
        include_preprocessing=True,
        pooling=None,
        name=f"regnety{variant}",
        dtype=None,
    ):
        return RegNetY(
            variant=variant,
            include_top=include_top,
            weights=weights,
            input_shape=input_shape,
            num_classes=num_classes,
            include_preprocessing=include_preprocessing,
            pooling=pooling,
            name=name,
            dtype=dtype,
        )

    factory.__name__ = factory.__qualname__ = f"RegNetY{variant}"
    factory.__doc__ = _FACTORY_DOC.format(flops=flops, variant=variant, params=params)
    return factory


# Parameter counts are timm's (checked by tests/test_regnet.py).
RegNetY002 = _factory("002", "200MF", "3,162,996")
RegNetY004 = _factory("004", "400MF", "4,344,144")
RegNetY006 = _factory("006", "600MF", "6,055,160")
RegNetY008 = _factory("008", "800MF", "6,263,168")
RegNetY016 = _factory("016", "1.6GF", "11,202,430")
RegNetY032 = _factory("032", "3.2GF", "19,436,338")
RegNetY040 = _factory("040", "4.0GF", "20,646,656")
RegNetY064 = _factory("064", "6.4GF", "30,583,252")
RegNetY080 = _factory("080", "8.0GF", "39,180,068")
RegNetY120 = _factory("120", "12GF", "51,822,544")
RegNetY160 = _factory("160", "16GF", "83,590,140")
RegNetY320 = _factory("320", "32GF", "145,046,770")
