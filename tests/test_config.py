"""The typed run config: every constructor option has a field, `--set` is parsed and checked."""

import dataclasses
import inspect
import json

import pytest

import keras_deit
from keras_deit.commands import train as train_command
from keras_deit.data import make_dataset
from keras_deit.teachers import RegNetY
from keras_deit.teachers.convnet import ConvNet
from keras_deit.training.config import (
    SECTIONS,
    SOURCE_FIELDS,
    DataConfig,
    ModelConfig,
    RunConfig,
    TeacherConfig,
    TrainingConfig,
    from_dict,
    to_dict,
    validate,
)
from keras_deit.training.optimizer import build_optimizer
from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe, recipe_names
from keras_deit.training.schedule import WarmupCosineSchedule
from tests.conftest import command_parser


def _parameters(function):
    return {
        name for name, parameter in inspect.signature(function).parameters.items()
        if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }


def _fields(section_class):
    return {field.name for field in dataclasses.fields(section_class)}


# What the trainer computes rather than reads from the config, with the reason.
RUNTIME = {
    keras_deit.DeiT.__init__: {
        "num_classes",  # the training source's class count
        "include_top", "pooling",  # a trained model needs its heads (pooling is for headless ones)
        "weights",  # training.init_from (converted, interpolated, heads re-initialized)
        "include_preprocessing",  # images enter every model in [0, 255]
        "seed",  # training.seed
    },
    ConvNet.__init__: {"num_classes", "dtype", "name"},  # source classes, precision policy, run name
    make_dataset: {
        "source", "split",  # data.source / train_split / eval_split, loaded once by load_sources
        "data_dir", "manual_dir",  # read by load_sources (SOURCE_FIELDS)
        "training",  # True for the training pipeline, False for the evaluation one
        "image_size",  # model.image_size
        "batch_size",  # global_batch_size / accumulation / replicas
        "seed",  # training.seed
        "epochs",  # None: Keras' fit draws steps_per_epoch steps from an endless pipeline
        "num_shards", "shard_index",  # the strategy's input pipelines
        "drop_remainder",  # make_dataset's own rule: training drops, evaluation keeps
        "initial_epoch", "steps_per_epoch",  # epochs done (a resumed run), batches in an epoch
    },
    RegNetY: {
        "variant",  # teacher.model names it ("regnety160")
        "include_top", "pooling",  # the teacher gives logits
        "input_shape",  # teacher.image_size or the student's
        "num_classes",  # the training source's
        "include_preprocessing",  # images enter every model in [0, 255]
        "name", "dtype",  # the factory's name; the student's precision policy
    },
    build_optimizer: {"variables", "learning_rate"},  # the student's; build_schedule's
    WarmupCosineSchedule.__init__: {
        "peak_learning_rate",  # base_learning_rate * global_batch_size / reference_batch_size
        "total_steps", "warmup_steps",  # epochs / warmup_epochs times updates per epoch
        "compute_dtype",  # float32 on TPU, else float64
        "steps_per_update",  # training.gradient_accumulation_steps
        "updates_per_epoch",  # from the training split's size
    },
}
# The config field feeding a parameter of another name.
RENAMED = {WarmupCosineSchedule.__init__: {"stepping": "learning_rate_stepping"}}
FED_BY = {
    keras_deit.DeiT.__init__: ModelConfig,
    ConvNet.__init__: ModelConfig,
    make_dataset: DataConfig,
    RegNetY: TeacherConfig,
    build_optimizer: TrainingConfig,
    WarmupCosineSchedule.__init__: TrainingConfig,
}


@pytest.mark.parametrize("function", list(FED_BY), ids=lambda function: function.__qualname__)
def test_every_parameter_has_a_config_field(function):
    renamed = RENAMED.get(function, {})
    fields = _fields(FED_BY[function])
    missing = sorted(
        name for name in _parameters(function) - RUNTIME[function]
        if renamed.get(name, name) not in fields
    )
    assert not missing, f"{function.__qualname__}: no config field for {missing}"
    # The data section feeds make_dataset whole, less where the data is.
    if function is make_dataset:
        assert set(SOURCE_FIELDS) <= fields


def test_overrides_parse_every_field_type():
    config = load_recipe("deit_tiny")
    changed = apply_overrides(config, [
        "training.epochs=3", "training.weight_decay=0", "data.manual_dir=~/x", "training.ema_momentum=None",
        "model.distill=True", "data.scale=(0.5, 1)", "distillation.kind=soft", "teacher.model=regnety002",
        "teacher.weights=None", "data.three_augment=true", "name=other", "training.learning_rate_stepping=epoch",
    ])
    assert config.training.epochs == 300 and config.teacher is None  # the original is untouched
    assert changed.training.epochs == 3 and changed.training.weight_decay == 0.0
    assert isinstance(changed.training.weight_decay, float)
    assert changed.data.manual_dir == "~/x" and changed.training.ema_momentum is None
    assert changed.data.scale == (0.5, 1.0) and all(isinstance(value, float) for value in changed.data.scale)
    assert changed.teacher == TeacherConfig(model="regnety002", weights=None)
    assert changed.data.three_augment is True and changed.name == "other"
    assert changed.training.learning_rate_stepping == "epoch"


@pytest.mark.parametrize("override, message", [
    ("training.epoch=3", "Unknown config key 'training.epoch'.*did you mean 'training.epochs'"),
    ("data.three_augmnt=True", "did you mean 'data.three_augment'"),
    ("nothing.epochs=3", "Unknown config key 'nothing.epochs'"),
    ("training.epochs=3.5", "training.epochs.*expected int"),
    ("model.distill=1", "expected bool"),
    ("training", "key=value"),
    ("training=3", "is a section"),
    ("distillation.kind=medium", r"expected one of 'none', 'soft', 'hard'"),
    ("training.mixed_precision=float64", "expected one of 'auto'"),
    ("data.scale=0.5", "expected a tuple of 2 floats"),
    ("training.epochs=0", r"training.epochs must be >= 1, got 0"),
    ("training.global_batch_size=-8", r"training.global_batch_size must be >= 1"),
    ("training.gradient_accumulation_steps=0", r"gradient_accumulation_steps must be >= 1"),
    ("data.repeats=0", r"data.repeats must be >= 1"),
    ("data.erasing_probability=1.5", r"data.erasing_probability must be in \[0, 1\]"),
    ("data.mix_probability=-0.1", r"data.mix_probability must be in \[0, 1\]"),
    ("data.crop_ratio=0", r"data.crop_ratio must be in \(0, 1\]"),
    ("data.crop_ratio=1.2", r"data.crop_ratio must be in \(0, 1\]"),
    ("data.scale=(0.0, 1.0)", r"data.scale must be in \(0, 1\]"),
    ("data.scale=(0.9, 0.2)", "low <= high"),
    ("training.base_learning_rate=0", r"base_learning_rate must be > 0"),
    ("training.base_learning_rate=1e999", r"base_learning_rate must be > 0, got inf"),
    ("training.min_learning_rate=-1e-5", r"min_learning_rate must be >= 0"),
    ("training.warmup_learning_rate=-1.0", r"warmup_learning_rate must be >= 0"),
    ("distillation.alpha=1.5", r"distillation.alpha must be in \[0, 1\]"),
    ("distillation.tau=0", r"distillation.tau must be > 0"),
    ("training.ema_momentum=1.0", r"ema_momentum must be in \[0, 1\)"),
    ("training.gradient_accumulation_steps=3", "1024 is not divisible by training.gradient_accumulation_steps 3"),
    ("distillation.kind=hard", "needs a teacher"),
    ("model.patch_size=15", "multiple of model.patch_size"),
])
def test_bad_overrides_are_one_line_errors_naming_the_key(override, message):
    with pytest.raises(ValueError, match=message) as error:
        apply_overrides(load_recipe("deit_tiny"), [override])
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("recipe", recipe_names())
def test_every_recipe_round_trips_through_json(recipe):
    config = load_recipe(recipe)
    assert from_dict(json.loads(json.dumps(to_dict(config)))) == config


def test_from_dict_refuses_unknown_keys():
    values = to_dict(RunConfig())
    values["training"]["epocs"] = 3
    with pytest.raises(ValueError, match="training.epocs"):
        from_dict(values)


def test_validate_refuses_wrong_types_set_in_python():
    config = RunConfig(data=DataConfig(repeats="3"))
    with pytest.raises(ValueError, match="data.repeats: expected int, got '3'"):
        validate(config)
    with pytest.raises(ValueError, match="model.architecture='convnet' trains without distillation"):
        validate(RunConfig(model=ModelConfig(architecture="convnet", distill=True)))


@pytest.mark.parametrize("source, message", [
    ("def get_config(:\n", "syntax error at line 1"),
    ("x = 1\n", "defines no get_config"),
    ("def get_config():\n    return {'training': {}}\n", "returned a dict, expected a keras_deit.training.config.RunConfig"),
    ("import not_a_module_anywhere\n", "failed to run: ModuleNotFoundError"),
    (
        "from keras_deit.training.config import RunConfig, TrainingConfig\n"
        "def get_config():\n    return RunConfig(training=TrainingConfig(epochs=0))\n",
        "training.epochs must be >= 1",
    ),
])
def test_broken_recipes_are_one_line_errors_naming_the_file(tmp_path, source, message):
    path = tmp_path / "broken.py"
    path.write_text(source)
    with pytest.raises(ValueError, match=message) as error:
        load_recipe(str(path))
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_print_config_prints_the_resolved_config_and_trains_nothing(tmp_path, capsys):
    arguments = command_parser(train_command).parse_args([
        "train", "digits", "--set", "data.three_augment=True", "--set", "training.epochs=2",
        "--output", str(tmp_path / "run"), "--print-config",
    ])
    assert arguments.handler(arguments) == 0
    printed = json.loads(capsys.readouterr().out)
    assert from_dict(printed) == apply_overrides(load_recipe("digits"), ["data.three_augment=True", "training.epochs=2"])
    assert printed["data"]["three_augment"] is True and printed["data"]["max_pixels"] == 89_478_485
    assert not (tmp_path / "run").exists()


def test_defaults_are_the_official_recipe():
    # facebookresearch/deit main.py's argparse defaults.
    data, training, model = DataConfig(), TrainingConfig(), ModelConfig()
    assert (training.epochs, training.global_batch_size, training.base_learning_rate) == (300, 1024, 5e-4)
    assert (training.weight_decay, training.epsilon, training.warmup_epochs) == (0.05, 1e-8, 5)
    assert (training.warmup_learning_rate, training.min_learning_rate, training.ema_momentum) == (1e-6, 1e-5, 0.99996)
    assert (data.mixup_alpha, data.cutmix_alpha, data.mix_probability, data.switch_probability) == (0.8, 1.0, 1.0, 0.5)
    assert (data.label_smoothing, data.erasing_probability, data.repeats, data.color_jitter) == (0.1, 0.25, 3, 0.3)
    assert (data.rand_augment, data.three_augment, data.crop_ratio, data.scale) == (True, False, 0.875, (0.08, 1.0))
    assert model.drop_path_rate == 0.1
    # Each section's defaults are the defaults of the function it feeds, where it has one.
    for function, section in ((make_dataset, data), (build_optimizer, training)):
        for name, parameter in inspect.signature(function).parameters.items():
            if name in SECTIONS or not hasattr(section, name) or parameter.default is inspect.Parameter.empty:
                continue
            expected = parameter.default
            if name == "ema_momentum":
                expected = 0.99996  # build_optimizer's None is "no EMA"; the recipe keeps one
            assert getattr(section, name) == pytest.approx(expected), name
