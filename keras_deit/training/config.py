"""The typed config of a training run: every option, its default and its allowed range.

A run is a `RunConfig`: a name and one section per part of the system, each passed whole
to what it feeds: `ModelConfig` to `keras_deit.DeiT` (or the convnet), `DataConfig` to
`load_source` / `make_dataset`, `TeacherConfig` to the teacher factory,
`DistillationConfig` to `DistillationModel`, `TrainingConfig` to `build_optimizer`,
`WarmupCosineSchedule` and the fit loop. The defaults are the official DeiT ImageNet
recipe (the argparse defaults of facebookresearch/deit `main.py`): 300
epochs, global batch 1024, AdamW eps 1e-8, lr 5e-4 * batch / 512, weight decay 0.05,
cosine with 5 warmup epochs from 1e-6 to a minimum of 1e-5, drop path 0.1, EMA 0.99996,
label smoothing 0.1, Mixup 0.8, CutMix 1.0, RandAugment m9-mstd0.5, random erasing 0.25,
repeated augmentation 3; distillation from RegNetY-16GF, hard, alpha 0.5, tau 1.0.

Each field's metadata may hold a `Bounds` (its allowed range); `validate(config)`
checks types, ranges and the rules between fields, and is run on every recipe, every
`--set` and at the start of `keras_deit.train`.

Example:
```python
from keras_deit.training.config import DataConfig, ModelConfig, RunConfig, validate
config = RunConfig(name="tiny", model=ModelConfig(image_size=32, patch_size=8),
                   data=DataConfig(source="digits", eval_split="test"))
validate(config)
```
"""

import dataclasses
import math
import typing
from typing import Literal, Optional, Tuple

from keras_deit.weights.official import REGNETY_160_URL

# The paper's teacher (RegNetY-16GF, 82.9% top-1), timm's weights as the official repo uses.
TEACHER_WEIGHTS = REGNETY_160_URL


@dataclasses.dataclass(frozen=True)
class Bounds:
    """An allowed interval: `low <= value <= high`, `open_low` / `open_high` make a side strict.

    Example:
    ```python
    Bounds(0.0, 1.0, open_low=True).contains(0.0)  # False; str(...) == "in (0, 1]"
    ```
    """

    low: Optional[float] = None
    high: Optional[float] = None
    open_low: bool = False
    open_high: bool = False

    def contains(self, value):
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.open_high else value > self.high):
            return False
        return True

    def __str__(self):
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.open_high else '<='} {self.high:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}{')' if self.open_high else ']'}"


def _field(default, bounds=None, *, factory=False):
    metadata = {"bounds": bounds} if bounds is not None else {}
    if factory:
        return dataclasses.field(default_factory=default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


AT_LEAST_1 = Bounds(1)
AT_LEAST_0 = Bounds(0)
POSITIVE = Bounds(0, open_low=True)
UNIT = Bounds(0, 1)  # probabilities, strengths and weights in [0, 1]
BELOW_1 = Bounds(0, 1, open_high=True)
ABOVE_0_TO_1 = Bounds(0, 1, open_low=True)


@dataclasses.dataclass
class ModelConfig:
    """The network trained: `keras_deit.DeiT`'s constructor (defaults: DeiT-Ti/16 at 224).

    Args:
        architecture: "deit" (`keras_deit.DeiT`) or "convnet" (the small
            `keras_deit.teachers.ConvNet`, which reads `image_size` only; the digits
            teacher recipe trains it).
        image_size: int. Input side, a multiple of `patch_size`.
        patch_size, embed_dim, depth, num_heads, mlp_ratio, distill, drop_path_rate: as
            `keras_deit.DeiT` (drop path 0.1 is the official training value).
    """

    architecture: Literal["deit", "convnet"] = "deit"
    image_size: int = _field(224, AT_LEAST_1)
    patch_size: int = _field(16, AT_LEAST_1)
    embed_dim: int = _field(192, AT_LEAST_1)
    depth: int = _field(12, AT_LEAST_1)
    num_heads: int = _field(3, AT_LEAST_1)
    mlp_ratio: float = _field(4.0, POSITIVE)
    distill: bool = False
    drop_path_rate: float = _field(0.1, BELOW_1)


@dataclasses.dataclass
class DataConfig:
    """Where the images come from (`load_source`) and every option of `make_dataset`.

    Args:
        source: str. A `load_source` spec: "digits", "tfds:NAME", a folder, TFRecords.
        train_split, eval_split: str. Splits trained on and evaluated on.
        data_dir, manual_dir: str or None. TFDS folders (`manual_dir`: ImageNet's tars).
        The other fields are `make_dataset`'s arguments of the same name (its docstring).
    """

    source: str = "tfds:imagenet2012"
    train_split: str = "train"
    eval_split: str = "validation"
    data_dir: Optional[str] = None
    manual_dir: Optional[str] = None
    crop_ratio: float = _field(0.875, ABOVE_0_TO_1)
    scale: Tuple[float, float] = _field((0.08, 1.0), ABOVE_0_TO_1)
    ratio: Tuple[float, float] = _field((3 / 4, 4 / 3), POSITIVE)
    flip_probability: float = _field(0.5, UNIT)
    rand_augment: bool = True
    three_augment: bool = False
    # Unused with RandAugment, as in the official code.
    color_jitter: float = _field(0.3, AT_LEAST_0)
    erasing_probability: float = _field(0.25, UNIT)
    mixup_alpha: float = _field(0.8, AT_LEAST_0)
    cutmix_alpha: float = _field(1.0, AT_LEAST_0)
    mix_probability: float = _field(1.0, UNIT)
    switch_probability: float = _field(0.5, UNIT)
    label_smoothing: float = _field(0.1, BELOW_1)
    repeats: int = _field(3, AT_LEAST_1)
    shuffle_buffer: int = _field(10_000, AT_LEAST_1)
    # Decoded images above this many pixels are refused (a decompression bomb guard).
    max_pixels: int = _field(89_478_485, AT_LEAST_1)


# The fields of `DataConfig` that say where the data is; the rest go to `make_dataset`.
SOURCE_FIELDS = ("source", "train_split", "eval_split", "data_dir", "manual_dir")


@dataclasses.dataclass
class TeacherConfig:
    """The frozen teacher of a distilled run.

    Args:
        model: str. "regnety002" ... "regnety320" (`keras_deit.teachers.RegNetY*`) or a
            `.keras` file, e.g. the `model.keras` of a teacher recipe's run.
        weights: str or None. The RegNetY's weights: a timm checkpoint, a
            `.weights.h5` or a URL; None for random weights (tests).
        image_size: int or None. The teacher's input side; None: the student's.
    """

    model: str = "regnety160"
    weights: Optional[str] = TEACHER_WEIGHTS
    image_size: Optional[int] = _field(None, AT_LEAST_1)


@dataclasses.dataclass
class DistillationConfig:
    """`DistillationModel`'s loss: kind, alpha (weight of the teacher term), tau (temperature)."""

    kind: Literal["none", "soft", "hard"] = "none"
    alpha: float = _field(0.5, UNIT)
    tau: float = _field(1.0, POSITIVE)


@dataclasses.dataclass
class TrainingConfig:
    """Optimizer, learning-rate schedule, EMA, precision and the length of the run.

    Args:
        epochs: int. Training epochs.
        global_batch_size: int. Images per update, over all replicas and micro-batches.
        base_learning_rate: float. The peak rate is
            `base_learning_rate * global_batch_size / reference_batch_size`.
        reference_batch_size: int. The batch `base_learning_rate` is quoted for.
        weight_decay, epsilon: float. AdamW's (`build_optimizer`).
        warmup_epochs: int. Linear warmup from `warmup_learning_rate`.
        warmup_learning_rate, min_learning_rate: float. `WarmupCosineSchedule`'s.
        learning_rate_stepping: "update" (a new rate every update) or "epoch" (once per
            epoch, as the official `main.py`).
        ema_momentum: float or None. EMA of the weights per update; None for none.
        gradient_accumulation_steps: int. Micro-batches per update.
        mixed_precision: "auto" (bfloat16 on TPU, float16 on GPU, float32 on CPU) or a
            Keras policy name.
        jit_compile: True (the step compiled by XLA), False (a TF graph, XLA off) or
            "auto": XLA when the run has one replica, on a CPU too, where Keras' own
            "auto" would run the graph (XLA's step is the faster one there:
            `benchmarks/distillation_step.py`); Keras' choice under a multi-replica
            strategy. TPUs always compile.
        seed: int. Seed of initialization, dropout and augmentation.
        init_from: str or None. A checkpoint to start from (fine-tuning): .pth / .keras
            / .weights.h5 / URL.
        steps_per_epoch: int or None. Updates per epoch; None: the training split's size
            // global batch (tests shrink it).
        eval_steps: int or None. Evaluation batches; None: the whole split.
    """

    epochs: int = _field(300, AT_LEAST_1)
    global_batch_size: int = _field(1024, AT_LEAST_1)
    base_learning_rate: float = _field(5e-4, POSITIVE)
    reference_batch_size: int = _field(512, AT_LEAST_1)
    weight_decay: float = _field(0.05, AT_LEAST_0)
    epsilon: float = _field(1e-8, POSITIVE)
    warmup_epochs: int = _field(5, AT_LEAST_0)
    warmup_learning_rate: float = _field(1e-6, AT_LEAST_0)
    min_learning_rate: float = _field(1e-5, AT_LEAST_0)
    learning_rate_stepping: Literal["update", "epoch"] = "update"
    ema_momentum: Optional[float] = _field(0.99996, BELOW_1)
    gradient_accumulation_steps: int = _field(1, AT_LEAST_1)
    mixed_precision: Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"] = "auto"
    jit_compile: Literal["auto", True, False] = "auto"
    seed: int = _field(0, AT_LEAST_0)
    init_from: Optional[str] = None
    steps_per_epoch: Optional[int] = _field(None, AT_LEAST_1)
    eval_steps: Optional[int] = _field(None, AT_LEAST_1)


@dataclasses.dataclass
class RunConfig:
    """One training run: its name and its sections (`teacher` None without distillation).

    Example:
    ```python
    import keras_deit
    from keras_deit.training.config import DataConfig, ModelConfig, RunConfig, TrainingConfig
    config = RunConfig(
        name="deit_digits", model=ModelConfig(image_size=32, patch_size=8, embed_dim=64, depth=2),
        data=DataConfig(source="digits", eval_split="test", repeats=1),
        training=TrainingConfig(epochs=2, global_batch_size=64, mixed_precision="float32"),
    )
    keras_deit.train(config, "runs/deit_digits")
    ```
    """

    name: str = "deit"
    model: ModelConfig = _field(ModelConfig, factory=True)
    data: DataConfig = _field(DataConfig, factory=True)
    teacher: Optional[TeacherConfig] = None
    distillation: DistillationConfig = _field(DistillationConfig, factory=True)
    training: TrainingConfig = _field(TrainingConfig, factory=True)


SECTIONS = {
    "model": ModelConfig,
    "data": DataConfig,
    "teacher": TeacherConfig,
    "distillation": DistillationConfig,
    "training": TrainingConfig,
}


def field_types(section_class):
    """`{field name: type annotation}` of a config dataclass."""
    return typing.get_type_hints(section_class)


def type_name(annotation):
    """A reader's name for an annotation: "int", "float or None", "one of 'none', 'soft'"."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(choice) for choice in arguments)
    if origin is typing.Union:
        inner = [argument for argument in arguments if argument is not type(None)]
        return f"{type_name(inner[0])} or None"
    if origin is tuple:
        return f"a tuple of {len(arguments)} {type_name(arguments[0])}s"
    return annotation.__name__


def _is_instance(value, annotation):
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        # By type as well: `1 == True`, but 1 is not the choice True.
        return any(value == choice and type(value) is type(choice) for choice in arguments)
    if origin is typing.Union:
        return any(_is_instance(value, argument) for argument in arguments)
    if annotation is type(None):
        return value is None
    if origin is tuple:
        return isinstance(value, tuple) and len(value) == len(arguments) and all(
            _is_instance(item, argument) for item, argument in zip(value, arguments)
        )
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


def check_value(key, value, annotation, bounds=None):
    """Raises ValueError naming `key` unless `value` has the type `annotation` and lies in `bounds`."""
    if not _is_instance(value, annotation):
        raise ValueError(f"{key}: expected {type_name(annotation)}, got {value!r}.")
    if bounds is None or value is None:
        return
    for item in value if isinstance(value, tuple) else (value,):
        if not bounds.contains(item):
            raise ValueError(f"{key} must be {bounds}, got {value!r}.")


def _check_section(prefix, section):
    for field in dataclasses.fields(section):
        annotation = field_types(type(section))[field.name]
        check_value(f"{prefix}.{field.name}", getattr(section, field.name), annotation, field.metadata.get("bounds"))


def validate(config):
    """Raises a one-line ValueError unless `config` is a well-formed `RunConfig`.

    Checks every field's type and range, then the rules between fields: the global
    batch divisible by the accumulation steps, increasing crop ranges, a teacher
    for distillation, patches that tile the image, a convnet only without
    distillation or fine-tuning.
    """
    if not isinstance(config, RunConfig):
        raise ValueError(f"Expected a keras_deit RunConfig, got {type(config).__name__}.")
    check_value("name", config.name, str)
    if not config.name:
        raise ValueError("name must not be empty.")
    for section_name, section_class in SECTIONS.items():
        section = getattr(config, section_name)
        if section is None and section_name == "teacher":
            continue
        if not isinstance(section, section_class):
            raise ValueError(f"{section_name}: expected a {section_class.__name__}, got {type(section).__name__}.")
        _check_section(section_name, section)
    model, data, training = config.model, config.data, config.training
    distillation = config.distillation
    for key in ("scale", "ratio"):
        low, high = getattr(data, key)
        if low > high:
            raise ValueError(f"data.{key} must be (low, high) with low <= high, got {(low, high)!r}.")
    if training.global_batch_size % training.gradient_accumulation_steps:
        raise ValueError(
            f"training.global_batch_size {training.global_batch_size} is not divisible by "
            f"training.gradient_accumulation_steps {training.gradient_accumulation_steps}."
        )
    if distillation.kind != "none" and config.teacher is None:
        raise ValueError(f"distillation.kind={distillation.kind!r} needs a teacher: set teacher.model.")
    if model.architecture == "convnet":
        if distillation.kind != "none" or model.distill or training.init_from:
            raise ValueError(
                "model.architecture='convnet' trains without distillation, distillation token or "
                "init_from: set distillation.kind='none', model.distill=False, training.init_from=None."
            )
    elif model.image_size % model.patch_size or model.embed_dim % model.num_heads:
        raise ValueError(
            f"model.image_size ({model.image_size}) must be a multiple of model.patch_size "
            f"({model.patch_size}), model.embed_dim ({model.embed_dim}) of model.num_heads ({model.num_heads})."
        )
    return config


def to_dict(config):
    """The config as plain JSON-ready dicts (what `config.json` holds)."""
    return dataclasses.asdict(config)


def from_dict(values):
    """The `RunConfig` of `to_dict`'s output (e.g. a run's `config.json`), validated.

    Example:
    ```python
    import json
    config = from_dict(json.load(open("runs/digits/config.json")))
    ```
    """
    values = dict(values)
    unknown = sorted(set(values) - {"name", *SECTIONS})
    if unknown:
        raise ValueError(f"Unknown config sections {unknown}: expected name, {', '.join(SECTIONS)}.")
    sections = {}
    for section_name, section_class in SECTIONS.items():
        if section_name not in values:
            continue
        section = values[section_name]
        if section is None:
            sections[section_name] = None
            continue
        annotations = field_types(section_class)
        unknown = sorted(set(section) - set(annotations))
        if unknown:
            raise ValueError(f"Unknown config keys {[f'{section_name}.{key}' for key in unknown]}.")
        sections[section_name] = section_class(**{
            # JSON has no tuples.
            key: tuple(value) if isinstance(value, list) and typing.get_origin(annotations[key]) is tuple else value
            for key, value in section.items()
        })
    return validate(RunConfig(**({"name": values["name"]} if "name" in values else {}), **sections))
