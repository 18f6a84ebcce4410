"""RandAugment as timm's `rand-m9-mstd0.5-inc1`, the DeiT recipe, in TensorFlow ops.

Each of `num_layers` layers picks one of the 15 "increasing" ops uniformly (with
replacement), applies it with probability `probability` at a magnitude drawn from
N(magnitude, magnitude_std) clipped to [0, 10], and negates the signed arguments with
probability 0.5 - timm's `AugmentOp` step by step, with its magnitude-to-argument maps.
The ops are Pillow's, re-written in `pil_ops`.

Example:
```python
import tensorflow as tf
from keras_deit.data.rand_augment import rand_augment
image = tf.cast(tf.random.uniform((224, 224, 3), 0, 256, "int32"), "float32")
augmented = rand_augment(image, seed=tf.constant([1, 2]))
```
"""

import tensorflow as tf

from keras_deit import _compat
from keras_deit.data import pil_ops

# timm's _RAND_INCREASING_TRANSFORMS, in its order.
INCREASING_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing",
    "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing",
    "BrightnessIncreasing", "SharpnessIncreasing", "ShearX", "ShearY",
    "TranslateXRel", "TranslateYRel",
)
# timm's create_transform: img_mean = round(255 * ImageNet mean), the fill of geometric ops.
IMAGENET_MEAN_PIXELS = (124, 116, 104)
_LEVEL_DENOMINATOR = 10.0


def _enhance_factor(level, sign):
    # _enhance_increasing_level_to_arg: 1 +- 0.9 * level / 10, kept >= 0.1.
    return tf.maximum(1.0 + sign * level / _LEVEL_DENOMINATOR * 0.9, 0.1)


def apply_op(image, name, level, sign, *, fill=IMAGENET_MEAN_PIXELS, translate_pct=0.45):
    """One RandAugment op at a magnitude, through timm's magnitude-to-argument map.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        name: str. One of `INCREASING_OPS`.
        level: float64 scalar. Magnitude on the 0..10 scale (already clipped).
        sign: float64 scalar, +1 or -1. Applied to the signed arguments (rotate, shear,
            translate, enhance), as timm's `_randomly_negate`.
        fill: 3 ints. Colour uncovered by the geometric ops.
        translate_pct: float. Translation at magnitude 10, as a fraction of the side.
    """
    level = tf.cast(level, "float64")
    sign = tf.cast(sign, "float64")
    fraction = level / _LEVEL_DENOMINATOR
    if name == "AutoContrast":
        return pil_ops.auto_contrast(image)
    if name == "Equalize":
        return pil_ops.equalize(image)
    if name == "Invert":
        return pil_ops.invert(image)
    if name == "Rotate":
        return pil_ops.rotate(image, sign * fraction * 30.0, fill)
    if name == "PosterizeIncreasing":
        return pil_ops.posterize(image, 4 - tf.cast(tf.floor(fraction * 4.0), "int32"))
    if name == "SolarizeIncreasing":
        return pil_ops.solarize(image, 256.0 - tf.minimum(tf.floor(fraction * 256.0), 256.0))
    if name == "SolarizeAdd":
        return pil_ops.solarize_add(image, tf.minimum(tf.floor(fraction * 110.0), 128.0))
    if name == "ColorIncreasing":
        return pil_ops.color(image, _enhance_factor(level, sign))
    if name == "ContrastIncreasing":
        return pil_ops.contrast(image, _enhance_factor(level, sign))
    if name == "BrightnessIncreasing":
        return pil_ops.brightness(image, _enhance_factor(level, sign))
    if name == "SharpnessIncreasing":
        return pil_ops.sharpness(image, _enhance_factor(level, sign))
    if name == "ShearX":
        return pil_ops.shear_x(image, sign * fraction * 0.3, fill)
    if name == "ShearY":
        return pil_ops.shear_y(image, sign * fraction * 0.3, fill)
    shape = tf.cast(tf.shape(image), "float64")
    if name == "TranslateXRel":
        return pil_ops.translate_x(image, sign * fraction * translate_pct * shape[1], fill)
    if name == "TranslateYRel":
        return pil_ops.translate_y(image, sign * fraction * translate_pct * shape[0], fill)
    raise ValueError(f"Unknown RandAugment op {name!r}; expected one of {INCREASING_OPS}.")


# Ops that XLA runs 2-4x faster on CPU (their elementwise steps and histograms fused),
# with outputs equal to the plain TensorFlow ones, value for value. The geometric ops
# compile their own kernel (pil_ops.affine); XLA makes Sharpness's filter slower.
_COMPILED_OPS = frozenset(
    ("AutoContrast", "Equalize", "SolarizeIncreasing", "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing")
)
_op_functions = {}


def _op_function(name, fill):
    """`apply_op(image, name, level, sign, fill=fill)`, XLA-compiled for `_COMPILED_OPS`."""
    key = (name, tuple(fill))
    if key not in _op_functions:

        def function(image, level, sign):
            return apply_op(image, name, level, sign, fill=fill)

        if name in _COMPILED_OPS:
            function = tf.function(function, jit_compile=True, autograph=False, reduce_retracing=True)
        _op_functions[key] = function
    return _op_functions[key]


def _select(index, branches):
    """`branches[index]()`, running only that branch.

    `tf.switch_case` and `tf.cond` are lowered to Switch / Merge nodes where tf.data runs
    them: every node of the 15 untaken ops is still visited (dead), 1 to 2 ms an image,
    more than the op applied. An unlowered Case op runs the chosen branch alone (0.8 ms
    less per image, measured in tf.data). The lowered form also fails on all workers but
    the first under MultiWorkerMirroredStrategy ("Haven't set up remote eager worker");
    the unlowered one runs there (tested). `lower_using_switch_merge` is not public API:
    TensorFlow's own `switch_case` calls `indexed_case` with it.
    """
    return _compat.indexed_case(index, branches)


def rand_augment(
    image,
    seed,
    *,
    num_layers=2,
    magnitude=9.0,
    magnitude_std=0.5,
    probability=0.5,
    ops=INCREASING_OPS,
    fill=IMAGENET_MEAN_PIXELS,
):
    """timm's RandAugment on one image, deterministic given `seed`.

    Args:
        image: float32 tensor (H, W, 3). Integer pixel values 0..255.
        seed: int tensor (2,). Stateless seed of this image.
        num_layers: int. Ops chosen per image (timm's `n`, 2).
        magnitude: float. Mean magnitude on the 0..10 scale (timm's `m`, 9).
        magnitude_std: float. Standard deviation of the magnitude (`mstd`, 0.5).
        probability: float. Chance that a chosen op is applied (`p`, 0.5).
        ops: tuple of str. The op set, by default timm's increasing set.
        fill: 3 ints. Colour uncovered by the geometric ops (ImageNet mean).

    Returns:
        The augmented float32 (H, W, 3) image, integer values 0..255.
    """

    def one_layer(image, layer_seed):
        op_seed, apply_seed, level_seed, sign_seed = tf.unstack(
            tf.random.experimental.stateless_split(layer_seed, 4)
        )
        index = tf.random.stateless_uniform((), op_seed, 0, len(ops), dtype="int32")
        level = magnitude + magnitude_std * tf.random.stateless_normal((), level_seed, dtype="float64")
        level = tf.clip_by_value(level, 0.0, _LEVEL_DENOMINATOR)
        sign = tf.where(tf.random.stateless_uniform((), sign_seed) > 0.5, -1.0, 1.0)
        # A skipped op selects the extra identity branch, so no op runs for nothing.
        applied = tf.random.stateless_uniform((), apply_seed) <= probability
        index = tf.where(applied, index, len(ops))
        branches = [lambda name=name: _op_function(name, fill)(image, level, sign) for name in ops]
        return _select(index, branches + [lambda: image])
    # One traced function called `num_layers` times: its 16 branches are built and
    # optimized once, which makes the pipeline start seconds sooner.
    one_layer = tf.function(
        one_layer,
        input_signature=(tf.TensorSpec((None, None, 3), "float32"), tf.TensorSpec((2,), "int64")),
        autograph=False,
    )
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, "int64"), num_layers)
    shape = tf.shape(image)
    for layer_seed in tf.unstack(seeds):
        image = one_layer(image, layer_seed)
    return tf.reshape(image, shape)
