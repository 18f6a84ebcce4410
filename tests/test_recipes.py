"""Every recipe: official values, full-size parameter counts, and a shrunken training run."""

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import keras
import tensorflow as tf

import keras_deit
from keras_deit.commands import train as train_command
from keras_deit.training.build_data import build_data
from keras_deit.training.build_models import build_student, build_teacher
from keras_deit.training.build_optimization import build_training_optimizer
from keras_deit.training.config import TeacherConfig, from_dict
from keras_deit.training.overrides import apply_overrides
from keras_deit.training.recipes import load_recipe, recipe_names
from keras_deit.training.train import train

OFFICIAL = {
    # recipe: (parameters, ImageNet top-1 in the docstring)
    "deit_tiny": (5_717_416, "72.2"),
    "deit_small": (22_050_664, "79.9"),
    "deit_base": (86_567_656, "81.8"),
    "deit_tiny_distilled": (5_910_800, "74.5"),
    "deit_small_distilled": (22_436_432, "81.2"),
    "deit_base_distilled": (87_338_192, "83.4"),
    "deit_base_384": (86_859_496, "82.9"),
    "deit_base_distilled_384": (87_630_032, "85.2"),
}
SHRINK = [
    "model.embed_dim=32", "model.depth=2", "model.num_heads=2", "model.patch_size=8",
    "model.image_size=32", "data.source=digits", "data.eval_split=test",
    "training.global_batch_size=8", "training.steps_per_epoch=1", "training.epochs=1",
    "training.eval_steps=1",
]
TINY_TEACHER = ["teacher.model=regnety002", "teacher.weights=None", "teacher.image_size=32"]


DIGITS = {"digits", "digits_teacher", "digits_distilled"}
MNIST = {"mnist", "mnist_teacher", "mnist_distilled"}


def test_all_recipes_are_listed():
    assert set(OFFICIAL) | DIGITS | MNIST | {"cifar10"} == set(recipe_names())


@pytest.mark.parametrize("recipe", sorted(OFFICIAL))
def test_official_recipe_values_and_docstring(recipe):
    import importlib.util

    config = load_recipe(recipe)
    training, data, model = config.training, config.data, config.model
    finetune = recipe.endswith("_384")
    assert training.epochs == (30 if finetune else 300)
    assert training.global_batch_size == 1024 and training.reference_batch_size == 512
    assert training.base_learning_rate == (5e-6 if finetune else 5e-4)
    assert training.weight_decay == (1e-8 if finetune else 0.05)
    assert (training.epsilon, training.warmup_epochs, training.warmup_learning_rate) == (1e-8, 5, 1e-6)
    assert (training.min_learning_rate, training.ema_momentum) == (1e-5, 0.99996)
    assert model.drop_path_rate == 0.1 and model.image_size == (384 if finetune else 224)
    assert (data.label_smoothing, data.mixup_alpha, data.cutmix_alpha) == (0.1, 0.8, 1.0)
    assert (data.rand_augment, data.erasing_probability, data.repeats) == (True, 0.25, 3)
    if "distilled" in recipe:
        assert (config.distillation.kind, config.distillation.alpha, config.distillation.tau) == ("hard", 0.5, 1.0)
        assert config.teacher.model == "regnety160"
        assert config.teacher.weights.endswith("regnety_160-a5fe301d.pth")
    else:
        assert config.distillation.kind == "none" and config.teacher is None
    if finetune:
        assert "_patch16_224-" in training.init_from
    spec = importlib.util.spec_from_file_location("recipe", f"recipes/{recipe}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert f"keras-deit train recipes/{recipe}.py" in module.__doc__
    assert f"{OFFICIAL[recipe][1]}% top-1" in module.__doc__


@pytest.mark.parametrize("recipe", sorted(OFFICIAL))
def test_full_size_model_has_the_papers_parameter_count(recipe):
    student = build_student(load_recipe(recipe), num_classes=1000)
    assert student.count_params() == OFFICIAL[recipe][0]
    keras.backend.clear_session()


@pytest.fixture(scope="module")
def checkpoints_at_16(tmp_path_factory):
    """Tiny DeiTs at 16x16 with 7 classes, to fine-tune from: {distill: (model, path)}."""
    checkpoints = {}
    for distill in (False, True):
        source = keras_deit.DeiT(image_size=16, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                                 distill=distill, num_classes=7, name="source")
        path = str(tmp_path_factory.mktemp("source") / "source.keras")
        source.save(path)
        checkpoints[distill] = (source, path)
    return checkpoints


@pytest.mark.parametrize("recipe", sorted(OFFICIAL | dict.fromkeys(DIGITS | MNIST)) + ["cifar10"])
def test_recipe_builds_model_data_and_optimizer_when_shrunk(recipe):
    config = apply_overrides(load_recipe(recipe), SHRINK)
    data = build_data(config, strategy=tf.distribute.get_strategy())
    student = build_student(config, num_classes=data.num_classes)
    images, targets = next(iter(data.train))
    optimizer = build_training_optimizer(config.training, variables=student.trainable_variables, updates_per_epoch=10)
    assert student(images).shape == (8, 10) and images.shape == (8, 32, 32, 3)
    # Mixup, CutMix or label smoothing: soft targets; all recipes smooth.
    assert targets.shape == (8, 10)
    np.testing.assert_allclose(np.sum(targets, axis=-1), 1.0, rtol=1e-6)
    assert optimizer.use_ema == (config.training.ema_momentum is not None)
    assert optimizer.weight_decay == config.training.weight_decay
    keras.backend.clear_session()


# One run per code path: plain + accumulation, distilled, fine-tuned + distilled, digits.
@pytest.mark.parametrize("recipe", ["deit_tiny", "deit_tiny_distilled", "deit_base_distilled_384", "digits"])
def test_recipe_trains_when_shrunk(recipe, tmp_path, checkpoints_at_16):
    overrides = list(SHRINK)
    config = load_recipe(recipe)
    if config.teacher is not None:
        overrides += TINY_TEACHER
    if recipe.endswith("_384"):
        overrides += [f"training.init_from={checkpoints_at_16[config.model.distill][1]}"]
    if recipe == "deit_tiny":
        overrides += ["training.gradient_accumulation_steps=2", "training.steps_per_epoch=2"]
    run = train(apply_overrides(config, overrides), str(tmp_path), verbose=0)
    student, results = run["student"], run["results"]
    assert student.count_params() > 0 and student.image_size == (32, 32)
    assert 0.0 <= results["weights"]["top1"] <= results["weights"]["top5"] <= 1.0
    assert "ema" in results
    for name in ("config.json", "log.csv", "results.json", "model.keras", "model_ema.keras"):
        assert (tmp_path / name).is_file(), name
    assert from_dict(json.loads((tmp_path / "config.json").read_text())) == apply_overrides(config, overrides)
    if recipe.endswith("_384"):
        # Fine-tuned from 16x16, 7 classes: trunk copied, pos_embed resized, heads new.
        saved = keras.saving.load_model(str(tmp_path / "model.keras"))
        assert saved.pos_embed.pos_embed.shape == (1, saved.num_prefix_tokens + 16, 32)
        assert saved.head.kernel.shape == (32, 10)
    if recipe == "deit_tiny":
        loaded = keras_deit.DeiT.from_config(student.get_config())
        assert np.isfinite(np.asarray(loaded.pos_embed.pos_embed)).all()
    keras.backend.clear_session()


def test_finetune_transfers_and_resizes(checkpoints_at_16):
    from keras_deit.weights.position_embedding import resize_position_embedding
    from keras_deit.weights.transfer import initialize_from

    source, path = checkpoints_at_16[True]
    target = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2,
                             distill=True, num_classes=10)
    assert sorted(initialize_from(target, path)) == ["head/bias", "head/kernel", "head_dist/bias", "head_dist/kernel"]
    expected = resize_position_embedding(np.asarray(source.pos_embed.pos_embed), num_prefix_tokens=2,
                                         source_grid=(2, 2), target_grid=(4, 4))
    np.testing.assert_allclose(np.asarray(target.pos_embed.pos_embed), expected, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(target.blocks[1].mlp.fc2.kernel),
                                  np.asarray(source.blocks[1].mlp.fc2.kernel))
    plain = keras_deit.DeiT(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
    with pytest.raises(ValueError, match="prefix token"):
        initialize_from(plain, path)


def test_an_installed_package_finds_the_recipes(tmp_path):
    # A regular (not editable) install, imported from outside the checkout. Built from a
    # copy: setuptools leaves a build/ folder, whose stale files a later build would reuse.
    repository = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    source, site = tmp_path / "source", tmp_path / "site"
    shutil.copytree(repository, source, ignore=shutil.ignore_patterns(
        ".git", "build", "*.egg-info", "__pycache__", "saved_models", "runs"))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    probe = (
        "import json, keras_deit.training.recipes as recipes\n"
        "print(json.dumps([recipes.__file__, recipes.recipes_dir(), recipes.recipe_names(),"
        " recipes.load_recipe('deit_small').training.base_learning_rate]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, folder, names, learning_rate = json.loads(result.stdout.strip().splitlines()[-1])
    assert module.startswith(str(site)) and folder.startswith(str(site))
    assert set(names) == set(OFFICIAL) | DIGITS | MNIST | {"cifar10"}
    assert learning_rate == 5e-4  # the official base lr for batch 512


def _train_command(arguments):
    parser = argparse.ArgumentParser()
    train_command.register(parser.add_subparsers())
    parsed = parser.parse_args(["train", *arguments])
    return parsed.handler(parsed)


def test_three_augment_is_reachable_from_the_command_line_and_recorded(tmp_path):
    overrides = [item for override in SHRINK + ["data.three_augment=True"] for item in ("--set", override)]
    assert _train_command(["digits", *overrides, "--output", str(tmp_path)]) == 0
    recorded = from_dict(json.loads((tmp_path / "config.json").read_text()))
    assert recorded.data.three_augment is True
    assert recorded == apply_overrides(load_recipe("digits"), SHRINK + ["data.three_augment=True"])
    assert json.loads((tmp_path / "results.json").read_text())["weights"]["images"] == 8  # eval_steps=1
    keras.backend.clear_session()


def test_teacher_recipe_trains_the_convnet_the_distilled_recipe_learns_from(tmp_path):
    teacher_run = train(apply_overrides(load_recipe("digits_teacher"), SHRINK), str(tmp_path / "teacher"), verbose=0)
    teacher_file = tmp_path / "teacher" / "model.keras"
    loaded = keras.saving.load_model(teacher_file, safe_mode=True)
    assert isinstance(loaded, keras_deit.teachers.ConvNet)
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(images)), keras.ops.convert_to_numpy(teacher_run["student"](images)),
        atol=1e-6,
    )
    distilled = apply_overrides(load_recipe("digits_distilled"), SHRINK + [f"teacher.model={teacher_file}"])
    run = train(distilled, str(tmp_path / "student"), verbose=0)
    assert run["student"].distill and "dist_top1" in run["results"]["weights"]
    log = (tmp_path / "student" / "log.csv").read_text()
    assert "teacher_agreement" in log and "distillation_loss" in log
    missing = apply_overrides(load_recipe("digits_distilled"), SHRINK + [f"teacher.model={tmp_path / 'none.keras'}"])
    with pytest.raises(FileNotFoundError, match="teacher.model: no file at"):
        train(missing, str(tmp_path / "missing"))
    keras.backend.clear_session()


def test_teacher_follows_the_students_mixed_precision_policy():
    from keras_deit.distillation.losses import distillation_loss

    config = TeacherConfig(model="regnety002", weights=None)
    full = build_teacher(config, num_classes=10, image_size=32, dtype="float32")
    mixed = build_teacher(config, num_classes=10, image_size=32, dtype="mixed_bfloat16")
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") if w.ndim == 2 else w for w in full.get_weights()]
    full.set_weights(weights)
    mixed.set_weights(weights)
    convolutions = [layer for layer in mixed.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions and all(layer.compute_dtype == "bfloat16" for layer in convolutions)
    assert all(layer.variable_dtype == "float32" for layer in convolutions)
    assert mixed.get_layer("head_fc").compute_dtype == "float32"
    images = rng.uniform(0, 255, (16, 32, 32, 3)).astype("float32")
    full_logits, mixed_logits = (np.asarray(model.predict(images, verbose=0)) for model in (full, mixed))
    assert mixed_logits.dtype == np.float32
    # bfloat16 keeps 8 bits of mantissa: the logits differ, the loss barely.
    assert np.max(np.abs(full_logits - mixed_logits)) > 0
    labels = rng.integers(0, 10, 16)
    student = rng.normal(0, 1, (2, 16, 10)).astype("float32")
    for kind in ("soft", "hard"):
        losses = [
            float(distillation_loss(labels, student[0], student[1], teacher, kind=kind))
            for teacher in (full_logits, mixed_logits)
        ]
        assert losses[1] == pytest.approx(losses[0], rel=2e-2), kind
    keras.backend.clear_session()


def _deit_parameters(*, dim, depth, mlp, patch, tokens, distill, classes):
    """A ViT's parameter count by hand: patch embedding, tokens, position embedding, blocks, heads."""
    hidden = int(dim * mlp)
    block = 4 * dim + (3 * dim * dim + 3 * dim) + (dim * dim + dim) + (dim * hidden + hidden) + (hidden * dim + dim)
    prefix = 2 if distill else 1
    return (patch * patch * 3 * dim + dim + prefix * dim + (tokens + prefix) * dim + depth * block + 2 * dim
            + prefix * (dim * classes + classes))


def test_mnist_recipes_are_one_student_on_one_split_with_a_7x7_patch_grid():
    plain, distilled, teacher = (load_recipe(name) for name in ("mnist", "mnist_distilled", "mnist_teacher"))
    assert distilled.model == dataclasses.replace(plain.model, distill=True)
    assert (distilled.data, distilled.training) == (plain.data, plain.training)
    assert (distilled.distillation.kind, distilled.distillation.alpha) == ("hard", 0.5)
    assert teacher.data.source == plain.data.source == "mnist" and teacher.model.architecture == "convnet"
    for config in (plain, distilled):
        student = build_student(config, num_classes=10)
        assert student.grid_size == (7, 7)
        model = config.model
        assert student.count_params() == _deit_parameters(
            dim=model.embed_dim, depth=model.depth, mlp=model.mlp_ratio, patch=model.patch_size, tokens=49,
            distill=model.distill, classes=10,
        )
    assert build_student(teacher, num_classes=10).count_params() == 56_970
    keras.backend.clear_session()
