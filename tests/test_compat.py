"""Each private TF / Keras API fenced in keras_deit._compat still exists and behaves as used."""

import inspect
import json
import os
import subprocess
import sys

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.src.backend.tensorflow import trainer as keras_tf_trainer

from keras_deit import _compat
from keras_deit.training import multi_worker_keras


def test_indexed_case_keeps_the_unlowered_keyword_and_returns_the_chosen_branch():
    from tensorflow.python.ops import cond_v2

    assert "lower_using_switch_merge" in inspect.signature(cond_v2.indexed_case).parameters
    branches = [lambda value=value: tf.constant(value * 10.0) for value in range(4)]
    dataset = tf.data.Dataset.range(4).map(lambda index: _compat.indexed_case(tf.cast(index, "int32"), branches))
    np.testing.assert_array_equal(list(dataset.as_numpy_iterator()), [0.0, 10.0, 20.0, 30.0])
    graph = tf.function(lambda index: _compat.indexed_case(index, branches)).get_concrete_function(
        tf.TensorSpec((), "int32")
    ).graph
    op_types = {op.type for op in graph.get_operations()}
    # One (Stateless)Case op, no Switch / Merge: only the chosen branch runs.
    assert op_types & {"Case", "StatelessCase"} and not op_types & {"Switch", "Merge"}


def test_the_replaced_trainer_functions_have_the_signatures_the_replacements_take():
    original_reduce = _compat.keras_reduce_per_replica()
    assert original_reduce is keras_tf_trainer.reduce_per_replica
    assert list(inspect.signature(original_reduce).parameters) == ["values", "strategy", "reduction"]
    build = keras_tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"]
    assert list(inspect.signature(build).parameters) == ["self", "iterator", "data_batch"]
    assert inspect.signature(build) == inspect.signature(multi_worker_keras._maybe_symbolic_build)
    assert not _compat.is_collective_multi_worker(tf.distribute.get_strategy())
    assert not _compat.is_collective_multi_worker(tf.distribute.MirroredStrategy(["/cpu:0"]))


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_initializer="ones")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    return model


def test_model_strategy_and_symbolic_build_read_what_keras_sets():
    outside = _tiny_model()
    assert _compat.model_distribute_strategy(outside) is None
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _tiny_model()
    assert _compat.model_distribute_strategy(model) is strategy
    assert not model.optimizer.built
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    with strategy.scope():
        _compat.symbolic_build(model, (x, y, None))
    assert model.optimizer.built and model.compiled_loss is not None


def test_fit_calls_the_replaced_functions_and_gets_keras_own_back_after_the_block():
    original_reduce = keras_tf_trainer.reduce_per_replica
    original_build = keras_tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"]
    calls = {"reduce": 0, "build": 0}

    def reduce_per_replica(values, strategy, reduction):
        calls["reduce"] += 1
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        calls["build"] += 1
        return original_build(self, iterator=iterator, data_batch=data_batch)

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = _tiny_model()
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    with pytest.raises(RuntimeError, match="leaves the block"):
        with _compat.replaced_tensorflow_trainer_functions(
            reduce_per_replica=reduce_per_replica, maybe_symbolic_build=maybe_symbolic_build
        ):
            model.fit(x, y, batch_size=4, epochs=1, verbose=0)
            raise RuntimeError("leaves the block")
    assert calls["reduce"] >= 1 and calls["build"] == 1
    assert keras_tf_trainer.reduce_per_replica is original_reduce
    assert keras_tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"] is original_build


def _fit_weights(strategy, repaired):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = _tiny_model()
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")
    with repaired:
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    return model.get_weights(), history.history["loss"]


def test_repaired_for_patches_only_inside_the_block_and_trains_as_keras(monkeypatch):
    original_reduce = keras_tf_trainer.reduce_per_replica
    original_build = keras_tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"]
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with multi_worker_keras.repaired_for(strategy):  # not multi-worker: nothing replaced
        assert keras_tf_trainer.reduce_per_replica is original_reduce
    expected_weights, expected_loss = _fit_weights(strategy, multi_worker_keras.repaired_for(strategy))

    # A one-process stand-in for a multi-worker strategy: the repaired path then runs.
    monkeypatch.setattr(_compat, "is_collective_multi_worker", lambda strategy: True)
    with multi_worker_keras.repaired_for(strategy):
        assert keras_tf_trainer.reduce_per_replica is not original_reduce
        assert keras_tf_trainer.TensorFlowTrainer._maybe_symbolic_build is multi_worker_keras._maybe_symbolic_build
    assert keras_tf_trainer.reduce_per_replica is original_reduce
    assert keras_tf_trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"] is original_build
    weights, loss = _fit_weights(strategy, multi_worker_keras.repaired_for(strategy))
    for got, want in zip(weights, expected_weights):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    np.testing.assert_allclose(loss, expected_loss, rtol=1e-6)
    assert keras_tf_trainer.reduce_per_replica is original_reduce


def test_ema_pairs_are_the_variables_and_their_moving_averages():
    variable = keras.Variable(np.array([1.0], "float32"))
    other = keras.Variable(np.array([2.0, 3.0], "float32"))
    optimizer = keras.optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5)
    optimizer.build([variable, other])
    gradient = [np.array([1.0], "float32"), np.array([0.0, 0.0], "float32")]
    for _ in range(2):
        optimizer.apply_gradients(zip(gradient, [variable, other]))
    pairs = _compat.ema_pairs(optimizer)
    assert [pair[0] for pair in pairs] == [variable, other]
    # SGD steps 1 -> 0 -> -1; the average starts at the first step's value: 0.5 * 0 + 0.5 * -1.
    np.testing.assert_allclose(pairs[0][1].numpy(), [-0.5])
    np.testing.assert_allclose(pairs[1][1].numpy(), [2.0, 3.0])


def _two_layer_model(seed):
    inputs = keras.Input((3,))
    kept = keras.layers.Dense(2, name="kept", kernel_initializer=keras.initializers.RandomNormal(seed=seed))
    skipped = keras.layers.Dense(2, name="skipped", kernel_initializer=keras.initializers.RandomNormal(seed=seed + 1))
    return keras.Model(inputs, skipped(kept(inputs))), kept, skipped


def test_weights_files_leave_out_and_keep_the_skipped_objects(tmp_path):
    path = str(tmp_path / "model.weights.h5")
    model, kept, skipped = _two_layer_model(0)
    _compat.save_weights_skipping(model, path, [skipped])
    with h5py.File(path) as file:
        arrays = []
        file.visititems(lambda name, item: arrays.append(name) if isinstance(item, h5py.Dataset) else None)
    assert len(arrays) == 2  # kernel and bias of `kept` only

    restored, restored_kept, restored_skipped = _two_layer_model(10)
    skipped_before = [w.copy() for w in restored_skipped.get_weights()]
    _compat.load_weights_skipping(restored, path, [restored_skipped])
    for got, want in zip(restored_kept.get_weights(), kept.get_weights()):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(restored_skipped.get_weights(), skipped_before):
        np.testing.assert_array_equal(got, want)


def test_the_low_memory_xla_cpu_schedule_flag_is_one_this_xla_knows():
    # XLA aborts on a flag it does not know: the misspelt one fails, the real one computes.
    script = (
        "import tensorflow as tf; "
        "print(tf.function(lambda x: x * 3.0 + 1.0, jit_compile=True)(tf.constant([1.0, 2.0])).numpy().tolist())"
    )

    def run(flags):
        env = {**os.environ, "XLA_FLAGS": flags}
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)

    known = run(f"{_compat.XLA_CPU_SCHEDULER_FLAG}=false")
    assert known.returncode == 0, known.stderr[-2000:]
    assert json.loads(known.stdout.strip().splitlines()[-1]) == pytest.approx([4.0, 7.0])
    misspelt = run(f"{_compat.XLA_CPU_SCHEDULER_FLAG}_misspelt=false")
    assert misspelt.returncode != 0 and "Unknown flag" in misspelt.stderr


LOW_MEMORY = f"{_compat.XLA_CPU_SCHEDULER_FLAG}=false"


@pytest.mark.parametrize("before, after, changed", [
    (None, LOW_MEMORY, True),
    ("--xla_dump_to=/tmp/dump", f"--xla_dump_to=/tmp/dump {LOW_MEMORY}", True),
    (f"{_compat.XLA_CPU_SCHEDULER_FLAG}=true", f"{_compat.XLA_CPU_SCHEDULER_FLAG}=true", False),
])
def test_the_low_memory_xla_cpu_schedule_keeps_the_users_flags(monkeypatch, before, after, changed):
    if before is None:
        monkeypatch.delenv("XLA_FLAGS", raising=False)
    else:
        monkeypatch.setenv("XLA_FLAGS", before)
    assert _compat.prefer_low_memory_xla_cpu_schedule() is changed
    assert os.environ["XLA_FLAGS"] == after


def test_the_low_memory_xla_cpu_schedule_is_left_off_on_an_unchecked_tensorflow(monkeypatch):
    # An XLA that does not know the flag would abort the process.
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setattr(tf, "__version__", "2.99.0")
    assert _compat.prefer_low_memory_xla_cpu_schedule() is False
    assert "XLA_FLAGS" not in os.environ
