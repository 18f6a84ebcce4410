"""DistillationModel: fit / evaluate numbers against independent references, on TF and JAX.

Some checks run this file as a script in a subprocess, `python tests/test_distillation_model.py
MODE SETUP OUT [SETUP OUT ...]`: MODE "jax" (Keras fixes its backend at import; it also
writes the error of a bad label under jax.jit to `OUT.label_error.txt` of the first run)
or "mirrored" (two logical CPUs must be configured before TensorFlow initializes).
"""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from keras_deit.data.digits import digits_rgb
from keras_deit.teachers.convnet import ConvNet
from keras_deit.distillation.model import DistillationModel
from keras_deit.distillation.losses import distillation_loss
from keras_deit.models.deit import DeiT

REPO = Path(__file__).resolve().parents[1]
CLASSES = 5
TINY = dict(image_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=CLASSES)


def tiny_student(distill=True, seed=0):
    keras.utils.set_random_seed(seed)
    return DeiT(distill=distill, **TINY)


def tiny_teacher(size=32, classes=CLASSES, seed=1):
    """A convnet with BatchNorm (statistics that training mode would move), [0, 255] in."""
    keras.utils.set_random_seed(seed)
    layers = keras.layers
    teacher = keras.Sequential(
        [
            keras.Input((size, size, 3)),
            layers.Rescaling(1.0 / 255.0),
            layers.Conv2D(8, 3, strides=2, activation="relu"),
            layers.BatchNormalization(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(classes),
        ]
    )
    # Non-trivial BatchNorm statistics: the default (0, 1) would hide a training-mode call.
    bn = teacher.layers[2]
    bn.moving_mean.assign(np.full(8, 0.3, "float32"))
    bn.moving_variance.assign(np.full(8, 2.0, "float32"))
    return teacher


def batch(size=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, (size, 32, 32, 3)).astype("float32")
    return images, np.arange(size) % CLASSES


def numpy_heads(student, images):
    cls_logits, dist_logits = student.heads(images, training=False)
    return ops.convert_to_numpy(cls_logits), ops.convert_to_numpy(dist_logits)


def top1(logits, labels):
    return float(np.mean(np.argmax(logits, -1) == labels))


def fit_steps(student, teacher, images, labels, kind, steps, optimizer=None, **compile_kwargs):
    """Fits `steps` batches of `len(images) // steps` in order; returns each step's loss."""
    model = DistillationModel(student=student, teacher=teacher, distillation=kind)
    model.compile(optimizer=optimizer or keras.optimizers.SGD(0.1), **compile_kwargs)
    running = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda step, logs: running.append(logs["loss"])
    )
    history = model.fit(
        images,
        labels,
        batch_size=len(images) // steps,
        shuffle=False,
        verbose=0,
        callbacks=[record],
    )
    # The logs hold the running mean over the epoch's batches so far.
    losses = [running[0]] + [(k + 1) * running[k] - k * running[k - 1] for k in range(1, steps)]
    return model, np.array(losses), {name: values[-1] for name, values in history.history.items()}


@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
@pytest.mark.parametrize("kind", ["hard", "soft", "none"])
def test_fit_step_logs_the_reference_loss_and_metrics(kind):
    student, teacher = tiny_student(), tiny_teacher()
    images, labels = batch()
    cls_logits, dist_logits = numpy_heads(student, images)
    teacher_logits = ops.convert_to_numpy(teacher(images, training=False))
    expected = float(distillation_loss(labels, cls_logits, dist_logits, teacher_logits, kind=kind))
    _, losses, logs = fit_steps(student, teacher, images, labels, kind, steps=1)
    np.testing.assert_allclose(losses[0], expected, rtol=1e-5)
    assert logs["cls_accuracy"] == top1(cls_logits, labels)
    assert logs["dist_accuracy"] == top1(dist_logits, labels)
    assert logs["accuracy"] == top1(cls_logits + dist_logits, labels)
    if kind == "none":
        assert "teacher_agreement" not in logs and "distillation_loss" not in logs
    else:
        assert logs["teacher_agreement"] == top1(dist_logits, np.argmax(teacher_logits, -1))


def test_soft_targets_enter_the_base_term_and_accuracy_takes_their_argmax():
    student, teacher = tiny_student(), tiny_teacher()
    images, labels = batch()
    one_hot = np.eye(CLASSES, dtype="float32")[labels]
    targets = 0.6 * one_hot + 0.4 * one_hot[::-1]  # Mixup with the reversed batch
    cls_logits, dist_logits = numpy_heads(student, images)
    teacher_logits = ops.convert_to_numpy(teacher(images, training=False))
    expected = float(
        distillation_loss(targets, cls_logits, dist_logits, teacher_logits, kind="hard")
    )
    _, losses, logs = fit_steps(student, teacher, images, targets, "hard", steps=1)
    np.testing.assert_allclose(losses[0], expected, rtol=1e-5)
    assert logs["cls_accuracy"] == top1(cls_logits, labels)


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_teacher_is_frozen_and_every_student_weight_gets_a_gradient(kind):
    import tensorflow as tf

    student, teacher = tiny_student(), tiny_teacher()
    images, labels = batch()
    teacher_before = [w.copy() for w in teacher.get_weights()]
    adam = keras.optimizers.Adam(1e-3)
    model, losses, _ = fit_steps(student, teacher, images, labels, kind, 2, adam)
    assert np.all(np.isfinite(losses))
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert len(model.trainable_variables) == len(student.trainable_variables)
    teacher_ids = {id(v) for v in teacher.weights}
    assert not teacher_ids & {id(v) for v in model.trainable_variables}
    # Adam's two slots per variable, for the student's parameters alone.
    slot_sizes = sum(int(np.prod(v.shape)) for v in model.optimizer.variables if len(v.shape))
    assert slot_sizes == 2 * sum(int(np.prod(v.shape)) for v in student.trainable_variables)

    with tf.GradientTape() as tape:
        y_pred = model(images, training=True)
        loss = model.compute_loss(images, labels, y_pred, training=True)
    gradients = tape.gradient(loss, student.trainable_variables + teacher.weights)
    for variable, gradient in zip(student.trainable_variables, gradients):
        assert gradient is not None and np.abs(gradient.numpy()).max() > 0, variable.path
    assert all(gradient is None for gradient in gradients[len(student.trainable_variables) :])


@pytest.mark.filterwarnings("ignore:Gradients do not exist for variables")
def test_without_distillation_the_distillation_head_does_not_move():
    student, teacher = tiny_student(), tiny_teacher()
    images, labels = batch()
    head, head_dist = student.head.get_weights(), student.head_dist.get_weights()
    fit_steps(student, teacher, images, labels, "none", steps=2)
    for before, after in zip(head_dist, student.head_dist.get_weights()):
        np.testing.assert_array_equal(before, after)
    assert all(np.abs(b - a).max() > 0 for b, a in zip(head, student.head.get_weights()))


def test_student_fit_alone_trains_both_heads_on_the_labels():
    # DeiT's call returns the mean of both heads: cross-entropy of the mean sends each head
    # half the gradient (timm's training without distillation does the same).
    import tensorflow as tf

    student = tiny_student()
    images, labels = batch()
    with tf.GradientTape() as tape:
        logits = student(images, training=True)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    biases = [student.head.bias, student.head_dist.bias]
    grad_head_bias, grad_dist_bias = tape.gradient(loss, biases)
    probs = ops.convert_to_numpy(ops.softmax(logits))
    expected = 0.5 * (probs - np.eye(CLASSES)[labels]).mean(axis=0)
    np.testing.assert_allclose(grad_head_bias.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(grad_dist_bias.numpy(), expected, atol=1e-6)

    before = student.head_dist.get_weights()
    student.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    student.fit(images, labels, batch_size=8, verbose=0)
    assert all(np.abs(b - a).max() > 0 for b, a in zip(before, student.head_dist.get_weights()))


def test_evaluate_runs_the_student_alone():
    student, teacher = tiny_student(), tiny_teacher()
    images, labels = batch()
    model = DistillationModel(student=student, teacher=teacher)
    model.compile(optimizer="sgd")

    def no_teacher(images):
        raise AssertionError("evaluate ran the teacher")

    model.teacher_logits = no_teacher
    logs = model.evaluate(images, labels, batch_size=8, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "cls_accuracy", "dist_accuracy", "accuracy"}
    mean_logits = ops.convert_to_numpy(student(images))
    log_probs = mean_logits - np.log(np.exp(mean_logits).sum(-1, keepdims=True))
    np.testing.assert_allclose(logs["loss"], -log_probs[np.arange(8), labels].mean(), rtol=1e-5)
    assert logs["accuracy"] == top1(mean_logits, labels)


def test_teacher_with_another_input_size_gets_bilinearly_resized_images():
    student = tiny_student()
    keras.utils.set_random_seed(2)
    teacher = keras.Sequential(
        [keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(CLASSES)]
    )
    model = DistillationModel(student=student, teacher=teacher)
    images, _ = batch()
    # Halving with bilinear sampling at pixel centers averages each 2x2 block.
    halved = images.reshape(8, 16, 2, 16, 2, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(
        ops.convert_to_numpy(model.teacher_logits(images)),
        ops.convert_to_numpy(teacher(halved)),
        rtol=1e-4,
        atol=1e-4,
    )


@pytest.mark.parametrize("jit_compile, flags", [
    (True, "--xla_cpu_enable_concurrency_optimized_scheduler=false"), (False, None), ("auto", None),
])
def test_compiling_for_xla_asks_for_the_low_memory_cpu_schedule(monkeypatch, jit_compile, flags):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    model = DistillationModel(student=tiny_student(), teacher=tiny_teacher(), distillation="hard")
    model.compile(optimizer="adamw", jit_compile=jit_compile)
    assert os.environ.get("XLA_FLAGS") == flags


@pytest.mark.slow
def test_xla_step_equals_the_graph_step():
    images, labels = batch()
    _, graph, _ = fit_steps(tiny_student(), tiny_teacher(), images, labels, "hard", steps=2)
    _, xla, _ = fit_steps(
        tiny_student(), tiny_teacher(), images, labels, "hard", steps=2, jit_compile=True
    )
    np.testing.assert_allclose(xla, graph, rtol=1e-5)


@pytest.mark.parametrize("policy, tolerance", [("mixed_bfloat16", 0.05), ("mixed_float16", 0.01)])
def test_mixed_precision_step_is_close_to_float32(policy, tolerance):
    images, labels = batch()
    _, reference, _ = fit_steps(tiny_student(), tiny_teacher(), images, labels, "soft", steps=2)
    keras.mixed_precision.set_global_policy(policy)
    try:
        student, teacher = tiny_student(), tiny_teacher()
        model, losses, _ = fit_steps(student, teacher, images, labels, "soft", steps=2)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert student.compute_dtype == teacher.compute_dtype == policy.split("_")[1]
    # Keras adds dynamic loss scaling for float16 because the wrapper takes the student's policy.
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    np.testing.assert_allclose(losses, reference, rtol=tolerance)


def _feature_map_teacher():
    return keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(CLASSES, 3)])


def _softmax_teacher():
    return keras.Sequential([tiny_teacher(), keras.layers.Softmax()])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: dict(teacher=tiny_teacher(classes=7)), "7 classes"),
        (lambda: dict(student=DeiT(include_top=False, **TINY)), "include_top"),
        (lambda: dict(student=tiny_teacher()), "keras_deit.DeiT"),
        (lambda: dict(teacher=_feature_map_teacher()), "logits"),
        (lambda: dict(teacher=_softmax_teacher()), "must give logits"),
        (lambda: dict(distillation="feature"), "kind"),
        (lambda: dict(alpha=2.0), "alpha"),
        (lambda: dict(tau=0), "tau"),
    ],
)
def test_invalid_construction_is_a_clear_error(make, message):
    kwargs = dict(student=tiny_student(), teacher=tiny_teacher()) | make()
    with pytest.raises(ValueError, match=message):
        DistillationModel(**kwargs)


def test_compile_refuses_a_loss_and_fit_refuses_sample_weights():
    model = DistillationModel(student=tiny_student(), teacher=tiny_teacher())
    with pytest.raises(ValueError, match="own loss"):
        model.compile(optimizer="sgd", loss="mse")
    model.compile(optimizer="sgd")
    images, labels = batch()
    with pytest.raises(ValueError, match="sample_weight"):
        model.fit(images, labels, sample_weight=np.ones(8), verbose=0)


def test_a_label_outside_the_classes_is_an_error_naming_it():
    import tensorflow as tf

    images, labels = batch()
    labels[3] = CLASSES + 2
    model = DistillationModel(student=tiny_student(), teacher=tiny_teacher())
    model.compile(optimizer="sgd", jit_compile=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"Label\] \[{CLASSES + 2}\] \[outside"):
        model.fit(images, labels, batch_size=8, verbose=0)
    # Under XLA, which drops asserts, the bad row's target is NaN and so is the loss.
    model = DistillationModel(student=tiny_student(), teacher=tiny_teacher())
    model.compile(optimizer="sgd", jit_compile=True)
    history = model.fit(images, labels, batch_size=8, verbose=0)
    assert np.isnan(history.history["loss"][0])


def test_a_label_outside_the_classes_is_an_error_in_student_fit():
    import tensorflow as tf

    from keras_deit.training.soft_target_loss import SoftTargetCrossEntropy

    images, labels = batch()
    labels[0] = -1
    student = tiny_student()
    student.compile(optimizer="sgd", loss=SoftTargetCrossEntropy(), jit_compile=False)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Label\] \[-1\] \[outside"):
        student.fit(images, labels, batch_size=8, verbose=0)


def test_checkpoints_hold_the_student_and_optimizer_never_the_teacher(tmp_path):
    import h5py

    images, labels = batch()
    adam = keras.optimizers.Adam(1e-3)
    model, _, _ = fit_steps(tiny_student(), tiny_teacher(), images, labels, "hard", 1, adam)
    path = tmp_path / "run.weights.h5"
    model.save_weights(path)
    saved = []
    with h5py.File(path) as file:
        file.visititems(
            lambda name, item: saved.append(name) if isinstance(item, h5py.Dataset) else None
        )
    assert not any("sequential" in name for name in saved), saved
    assert len([name for name in saved if name.startswith("layers/")]) == len(model.student.weights)

    other_teacher = tiny_teacher(seed=5)
    teacher_weights = other_teacher.get_weights()
    resumed = DistillationModel(student=tiny_student(seed=3), teacher=other_teacher)
    resumed.compile(optimizer=keras.optimizers.Adam(1e-3))
    resumed.optimizer.build(resumed.trainable_variables)
    resumed.load_weights(path)
    for a, b in zip(model.student.get_weights(), resumed.student.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.variables, resumed.optimizer.variables):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))
    for a, b in zip(teacher_weights, other_teacher.get_weights()):
        np.testing.assert_array_equal(a, b)

    model.save(tmp_path / "student.keras")
    loaded = keras.saving.load_model(tmp_path / "student.keras")
    assert isinstance(loaded, DeiT)
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(images)), ops.convert_to_numpy(model.student(images)), atol=1e-6
    )

    clone = DistillationModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()


# --- Digits: the student learns the teacher's decisions ----------------------------------


@pytest.mark.slow
def test_hard_distillation_head_agrees_with_a_trained_convnet_teacher_on_held_out_digits():
    x_train, y_train, x_test, _ = digits_rgb(image_size=16, train_size=0.6)
    keras.utils.set_random_seed(0)
    teacher = ConvNet(image_size=16, num_classes=10)
    teacher.compile(optimizer=keras.optimizers.Adam(2e-3),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x_train, y_train, batch_size=32, epochs=8, verbose=0)
    # Four 8x8 patches of the 16x16 images: a student that learns in a few epochs.
    student = DeiT(
        image_size=16,
        patch_size=8,
        embed_dim=128,
        depth=2,
        num_heads=4,
        distill=True,
        num_classes=10,
    )
    model = DistillationModel(student=student, teacher=teacher, distillation="hard")
    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05))
    model.fit(x_train, y_train, batch_size=32, epochs=10, verbose=0)
    _, dist_logits = numpy_heads(student, x_test)
    teacher_labels = np.argmax(teacher.predict(x_test, verbose=0), -1)
    agreement = top1(dist_logits, teacher_labels)
    # Chance is 0.1; measured 0.83 / 0.88 / 0.87 with seeds 0 / 1 / 2.
    assert agreement > 0.7, agreement


# --- Other backends and devices, in subprocesses ------------------------------------------


def _arrays(prefix, arrays):
    return {f"{prefix}_{index}": array for index, array in enumerate(arrays)}


def _unarrays(file, prefix):
    count = sum(key.startswith(prefix + "_") for key in file)
    return [file[f"{prefix}_{index}"] for index in range(count)]


def _save_setup(path, kind):
    """Weights and data for a run in another process: a Keras seed differs across backends."""
    student, teacher = tiny_student(), tiny_teacher()
    images, labels = batch(16)
    arrays = _arrays("student", student.get_weights()) | _arrays("teacher", teacher.get_weights())
    np.savez(path, images=images, labels=labels, kind=kind, **arrays)


def _run_setup(path, steps):
    setup = np.load(path)
    student, teacher = tiny_student(), tiny_teacher()
    student.set_weights(_unarrays(setup, "student"))
    teacher.set_weights(_unarrays(setup, "teacher"))
    kind = str(setup["kind"])
    _, losses, _ = fit_steps(student, teacher, setup["images"], setup["labels"], kind, steps)
    for before, after in zip(_unarrays(setup, "teacher"), teacher.get_weights()):
        np.testing.assert_array_equal(before, after)  # BatchNorm statistics included
    return losses, student.get_weights()


def _run_script(mode, runs, backend):
    """Runs `_script` in a fresh process; `runs` is a list of (setup path, output path)."""
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(REPO), CUDA_VISIBLE_DEVICES="")
    paths = [str(path) for run in runs for path in run]
    result = subprocess.run(
        [sys.executable, __file__, mode, *paths],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _outputs(runs)


def _outputs(runs):
    """`(losses, weights)` that `_script` wrote for each of `runs`."""
    outputs = [np.load(out_path) for _, out_path in runs]
    return [(out["losses"], _unarrays(out, "weights")) for out in outputs]


@pytest.fixture(scope="module")
def jax_runs(jax_worker, tmp_path_factory):
    """`(runs, results, label_error)` of one job on the suite's JAX worker: every JAX check of this file."""
    tmp_path = tmp_path_factory.mktemp("jax")
    runs = [(tmp_path / f"{kind}.npz", tmp_path / f"{kind}_jax.npz") for kind in ("hard", "soft")]
    for (setup, _), kind in zip(runs, ("hard", "soft")):
        _save_setup(setup, kind)
    jax_worker("from tests.test_distillation_model import _script\n_script('jax', *args)",
               *[path for run in runs for path in run])
    results = _outputs(runs)
    label_error = Path(f"{runs[0][1]}.label_error.txt").read_text()
    return runs, results, label_error


@pytest.mark.slow
def test_jax_backend_trains_like_tensorflow(jax_runs):
    runs, results, _ = jax_runs
    for (setup, _), (jax_losses, jax_weights) in zip(runs, results):
        tf_losses, tf_weights = _run_setup(setup, steps=2)
        np.testing.assert_allclose(jax_losses, tf_losses, rtol=1e-4)  # step 2 reads step 1's update
        for a, b in zip(jax_weights, tf_weights):
            np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.slow
def test_a_label_outside_the_classes_is_an_error_under_jax_jit(jax_runs):
    _, _, label_error = jax_runs
    assert "ValueError: Label 9 is outside the 5 classes [0, 5)" in label_error, label_error[-2000:]


@pytest.mark.slow
def test_mirrored_strategy_on_two_devices_equals_one_device(tmp_path):
    setup = tmp_path / "setup.npz"
    _save_setup(setup, "soft")
    runs = [(setup, tmp_path / "out.npz")]
    [(losses, weights)] = _run_script("mirrored", runs, backend="tensorflow")
    one_device_losses, one_device_weights = _run_setup(setup, steps=2)
    np.testing.assert_allclose(losses, one_device_losses, rtol=1e-5)
    for a, b in zip(weights, one_device_weights):
        np.testing.assert_allclose(a, b, atol=1e-5)


def _script(mode, *paths):
    if mode == "mirrored":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        two_cpus = [tf.config.LogicalDeviceConfiguration()] * 2
        tf.config.set_logical_device_configuration(cpu, two_cpus)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        scope = strategy.scope
    else:
        assert keras.backend.backend() == "jax"
        scope = contextlib.nullcontext
    for setup_path, out_path in zip(paths[::2], paths[1::2]):
        with scope():
            losses, weights = _run_setup(setup_path, steps=2)
        np.savez(out_path, losses=losses, **_arrays("weights", weights))
    if mode == "jax":
        images, labels = batch()
        labels[5] = 9
        model = DistillationModel(student=tiny_student(), teacher=tiny_teacher())
        model.compile(optimizer="sgd", jit_compile=True)
        try:
            model.fit(images, labels, batch_size=8, verbose=0)
            message = "no error"
        except Exception as error:  # the test reads which error, and its message
            message = f"{type(error).__name__} {error}"
        Path(f"{paths[1]}.label_error.txt").write_text(message)


if __name__ == "__main__":
    _script(*sys.argv[1:])


# --- Teachers of every kind ------------------------------------------------------------------


def efficientnet_teacher():
    """keras.applications EfficientNetB0 as it is: [0, 255] inputs, logits (no softmax)."""
    keras.utils.set_random_seed(2)
    return keras.applications.EfficientNetB0(
        weights=None, input_shape=(32, 32, 3), classes=CLASSES, classifier_activation=None
    )


def savedmodel_teacher(tmp_path):
    """A teacher exported as a SavedModel and reloaded through keras.layers.TFSMLayer."""
    original = tiny_teacher()
    original.export(str(tmp_path / "teacher"), format="tf_saved_model", verbose=False)
    reloaded = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.TFSMLayer(str(tmp_path / "teacher"), call_endpoint="serve")]
    )
    return original, reloaded


@pytest.mark.parametrize("which", ["efficientnet", "savedmodel"])
def test_keras_application_and_savedmodel_teachers_give_the_reference_loss(which, tmp_path):
    if which == "efficientnet":
        teacher = reference_teacher = efficientnet_teacher()
    else:
        reference_teacher, teacher = savedmodel_teacher(tmp_path)
    student = tiny_student()
    images, labels = batch()
    cls_logits, dist_logits = numpy_heads(student, images)
    teacher_logits = ops.convert_to_numpy(reference_teacher(images, training=False))
    expected = float(distillation_loss(labels, cls_logits, dist_logits, teacher_logits, kind="hard"))
    before = [np.array(w) for w in teacher.weights]
    _, losses, logs = fit_steps(student, teacher, images, labels, "hard", steps=1)
    np.testing.assert_allclose(losses[0], expected, rtol=1e-5)
    assert logs["teacher_agreement"] == top1(dist_logits, np.argmax(teacher_logits, -1))
    for weight, value in zip(teacher.weights, before):
        np.testing.assert_array_equal(np.asarray(weight), value)
