"""Every recipe: official values, full-size parameter counts, and a shrunken training run."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import keras

import keras_deit
from keras_deit.training.config import apply_overrides, load_recipe, recipe_names
from keras_deit.training.train import build_student, train

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


def test_all_recipes_are_listed():
    assert set(OFFICIAL) | {"digits", "cifar10"} == set(recipe_names())


@pytest.mark.parametrize("recipe", sorted(OFFICIAL))
def test_official_recipe_values_and_docstring(recipe):
    import importlib.util

    config = load_recipe(recipe)
    json.dumps(config)  # a plain dict
    training, data, model = config["training"], config["data"], config["model"]
    finetune = recipe.endswith("_384")
    assert training["epochs"] == (30 if finetune else 300)
    assert training["global_batch_size"] == 1024 and training["reference_batch_size"] == 512
    assert training["base_learning_rate"] == (5e-6 if finetune else 5e-4)
    assert training["weight_decay"] == (1e-8 if finetune else 0.05)
    assert (training["epsilon"], training["warmup_epochs"], training["warmup_learning_rate"]) == (1e-8, 5, 1e-6)
    assert (training["min_learning_rate"], training["ema_momentum"]) == (1e-5, 0.99996)
    assert model["drop_path_rate"] == 0.1 and model["image_size"] == (384 if finetune else 224)
    assert (data["label_smoothing"], data["mixup_alpha"], data["cutmix_alpha"]) == (0.1, 0.8, 1.0)
    assert (data["rand_augment"], data["erasing_probability"], data["repeats"]) == (True, 0.25, 3)
    if "distilled" in recipe:
        assert config["distillation"] == {"kind": "hard", "alpha": 0.5, "tau": 1.0}
        assert config["teacher"]["model"] == "regnety160"
        assert config["teacher"]["weights"].endswith("regnety_160-a5fe301d.pth")
    else:
        assert config["distillation"]["kind"] == "none" and config["teacher"] is None
    if finetune:
        assert "_patch16_224-" in training["init_from"]
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


def test_overrides_are_type_checked():
    config = load_recipe("deit_tiny")
    changed = apply_overrides(config, ["training.epochs=3", "training.weight_decay=0", "data.manual_dir=~/x",
                                       "training.ema_momentum=None", "model.distill=True"])
    assert changed["training"]["epochs"] == 3 and config["training"]["epochs"] == 300
    assert isinstance(changed["training"]["weight_decay"], float)
    assert changed["data"]["manual_dir"] == "~/x" and changed["training"]["ema_momentum"] is None
    for bad, message in [
        ("training.epoch=3", "Unknown config key 'training.epoch'"),
        ("nothing.epochs=3", "Unknown config key 'nothing'"),
        ("training.epochs=3.5", "expected int"),
        ("model.distill=1", "expected bool"),
        ("training", "key=value"),
        ("training=3", "is a section"),
    ]:
        with pytest.raises(ValueError, match=message):
            apply_overrides(config, [bad])


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


@pytest.mark.parametrize("recipe", sorted(OFFICIAL) + ["cifar10", "digits"])
def test_recipe_builds_model_data_and_optimizer_when_shrunk(recipe):
    from keras_deit.data import make_dataset
    from keras_deit.training.optimizer import build_optimizer
    from keras_deit.training.train import learning_rate_schedule

    config = apply_overrides(load_recipe(recipe), SHRINK)
    student = build_student(config, num_classes=10)
    data = config["data"]
    images, targets = next(iter(make_dataset(
        data["source"], training=True, image_size=32, batch_size=8, seed=0,
        mixup_alpha=data["mixup_alpha"], cutmix_alpha=data["cutmix_alpha"], repeats=data["repeats"],
        rand_augment=data["rand_augment"], erasing_probability=data["erasing_probability"],
    )))
    optimizer = build_optimizer(
        variables=student.trainable_variables,
        learning_rate=learning_rate_schedule(config["training"], updates_per_epoch=10),
        weight_decay=config["training"]["weight_decay"], ema_momentum=config["training"]["ema_momentum"],
    )
    assert student(images).shape == (8, 10) and targets.shape == (8, 10)
    assert optimizer.use_ema and optimizer.weight_decay == config["training"]["weight_decay"]


# One run per code path: plain + accumulation, distilled, fine-tuned + distilled, digits.
@pytest.mark.parametrize("recipe", ["deit_tiny", "deit_tiny_distilled", "deit_base_distilled_384", "digits"])
def test_recipe_trains_when_shrunk(recipe, tmp_path, checkpoints_at_16):
    overrides = list(SHRINK)
    config = load_recipe(recipe)
    if config["teacher"] is not None:
        overrides += TINY_TEACHER
    if recipe.endswith("_384"):
        overrides += [f"training.init_from={checkpoints_at_16[config['model']['distill']][1]}"]
    if recipe == "deit_tiny":
        overrides += ["training.gradient_accumulation_steps=2", "training.steps_per_epoch=2"]
    run = train(apply_overrides(config, overrides), str(tmp_path), verbose=0)
    student, results = run["student"], run["results"]
    assert student.count_params() > 0 and student.image_size == (32, 32)
    assert 0.0 <= results["weights"]["top1"] <= results["weights"]["top5"] <= 1.0
    assert "ema" in results
    for name in ("config.json", "log.csv", "results.json", "model.keras", "model_ema.keras"):
        assert (tmp_path / name).is_file(), name
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
        "import json, keras_deit.training.config as config\n"
        "print(json.dumps([config.__file__, config.recipes_dir(), config.recipe_names(),"
        " config.load_recipe('deit_small')['training']['base_learning_rate']]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module, folder, names, learning_rate = json.loads(result.stdout.strip().splitlines()[-1])
    assert module.startswith(str(site)) and folder.startswith(str(site))
    assert set(names) == set(OFFICIAL) | {"digits", "cifar10"}
    assert learning_rate == 5e-4  # the official base lr for batch 512
