"""Every private TensorFlow / Keras API keras_deit relies on, fenced in one module.

Each function below wraps one private API, with the versions it was checked on
(TensorFlow 2.21.0, Keras 3.15.1) and why no public API serves. tests/test_compat.py
checks that each still exists with the signature and behaviour used here, so an upgrade
that breaks one fails there, not in the middle of a training run. TensorFlow and Keras
are imported inside the functions: importing this module costs nothing.
"""

import contextlib

CHECKED_ON = {"tensorflow": "2.21.0", "keras": "3.15.1"}


def indexed_case(index, branches):
    """`branches[index]()` as one unlowered Case op (runs only the chosen branch).

    Private: `tensorflow.python.ops.cond_v2.indexed_case(..., lower_using_switch_merge=False)`,
    checked on TF 2.21.0. `tf.switch_case` always lowers to Switch / Merge inside
    tf.data, which visits every untaken branch and fails on non-chief workers of
    MultiWorkerMirroredStrategy (see `keras_deit.data.rand_augment._select`).
    """
    from tensorflow.python.ops import cond_v2

    return cond_v2.indexed_case(index, branches, lower_using_switch_merge=False)


def _tensorflow_trainer():
    from keras.src.backend.tensorflow import trainer

    return trainer


def keras_reduce_per_replica():
    """Keras' own `reduce_per_replica(values, strategy, reduction)` of its TF trainer.

    Private: `keras.src.backend.tensorflow.trainer.reduce_per_replica`, checked on
    Keras 3.15.1; `keras_deit.training.multi_worker_keras` wraps it.
    """
    return _tensorflow_trainer().reduce_per_replica


def is_collective_multi_worker(strategy):
    """True for a MultiWorkerMirroredStrategy over several workers, Keras' own test.

    Private: `keras.src.backend.tensorflow.trainer._collective_all_reduce_multi_worker`
    (it reads `strategy.extended._in_multi_worker_mode()`), checked on Keras 3.15.1; used
    so the repair applies exactly where Keras takes its multi-worker code path.
    """
    return _tensorflow_trainer()._collective_all_reduce_multi_worker(strategy)


def model_distribute_strategy(model):
    """The strategy a TF-backend `keras.Model` was created under, None outside any.

    Private: `Trainer._distribute_strategy`, checked on Keras 3.15.1 (the public
    `distribute_strategy` falls back to the default strategy, losing the "none" case
    Keras' `_maybe_symbolic_build` tests).
    """
    return model._distribute_strategy


def symbolic_build(model, data_batch):
    """Builds `model`'s variables, metrics and optimizer from one batch's shapes.

    Private: `Trainer._symbolic_build(data_batch=...)`, checked on Keras 3.15.1; the step
    Keras' `_maybe_symbolic_build` ends with.
    """
    model._symbolic_build(data_batch=data_batch)


@contextlib.contextmanager
def replaced_tensorflow_trainer_functions(*, reduce_per_replica, maybe_symbolic_build):
    """Within the block Keras' TF trainer uses the given functions; afterwards its own.

    Private: the module function `keras.src.backend.tensorflow.trainer.reduce_per_replica`
    (called by name from the trainer's step functions) and the method
    `TensorFlowTrainer._maybe_symbolic_build(self, iterator=None, data_batch=None)`,
    checked on Keras 3.15.1. No public hook reaches either; see
    `keras_deit.training.multi_worker_keras` for why they are replaced.

    Args:
        reduce_per_replica: function `(values, strategy, reduction)`.
        maybe_symbolic_build: method `(self, iterator=None, data_batch=None)`.
    """
    trainer = _tensorflow_trainer()
    original_reduce = trainer.reduce_per_replica
    original_build = trainer.TensorFlowTrainer.__dict__["_maybe_symbolic_build"]
    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    try:
        yield
    finally:
        trainer.reduce_per_replica = original_reduce
        trainer.TensorFlowTrainer._maybe_symbolic_build = original_build


def ema_pairs(optimizer):
    """`[(variable, average)]` for every variable a built Keras optimizer averages.

    Private: `BaseOptimizer._trainable_variables` and `._model_variables_moving_average`
    (parallel lists, None where a variable is not averaged), checked on Keras 3.15.1.
    Keras keeps the EMA of `use_ema=True` but exposes it only through
    `finalize_variable_values`, which overwrites the weights for good.
    """
    return [
        (variable, average)
        for variable, average in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average)
        if average is not None
    ]


def save_weights_skipping(model, filepath, objects_to_skip, *, overwrite=True, max_shard_size=None):
    """`keras.saving.save_weights` leaving out the state of `objects_to_skip`.

    Undocumented: the `objects_to_skip=` keyword that `keras.saving.save_weights` passes
    through `**kwargs` to `saving_lib.save_weights_only`, checked on Keras 3.15.1 (absent
    from the public signature and docstring). It keeps a frozen teacher out of training
    checkpoints.
    """
    import keras

    keras.saving.save_weights(
        model, filepath, overwrite=overwrite, max_shard_size=max_shard_size, objects_to_skip=objects_to_skip
    )


def load_weights_skipping(model, filepath, objects_to_skip, *, skip_mismatch=False, **kwargs):
    """`keras.saving.load_weights` leaving the state of `objects_to_skip` untouched.

    Undocumented: `keras.saving.load_weights(..., objects_to_skip=...)`, read from
    `**kwargs` as a "legacy" keyword for `.weights.h5` files, checked on Keras 3.15.1.
    """
    import keras

    keras.saving.load_weights(
        model, filepath, skip_mismatch=skip_mismatch, objects_to_skip=objects_to_skip, **kwargs
    )


XLA_CPU_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def prefer_low_memory_xla_cpu_schedule():
    """Asks XLA's CPU compiler for its memory-minimizing schedule; True if the flag was set.

    Unstable: `--xla_cpu_enable_concurrency_optimized_scheduler=false`, an XLA debug flag
    passed through the `XLA_FLAGS` environment variable, checked on TensorFlow 2.21.0 (its
    XLA defaults to a breadth-first schedule that runs more ops at once and keeps more
    buffers alive; false picks the depth-first, memory-minimizing one). No TensorFlow API
    sets an XLA debug option. XLA reads `XLA_FLAGS` once, at a process's first XLA
    compilation, so this acts only before that, and it aborts the process on a flag it does
    not know, so the flag is set only on the TensorFlow minor versions checked. Flags the
    user set are kept, and a scheduler the user chose is left as it is.

    Example:
    ```python
    from keras_deit import _compat
    _compat.prefer_low_memory_xla_cpu_schedule()  # before the first jit_compile=True call
    ```
    """
    import os

    import tensorflow as tf

    checked_minor = CHECKED_ON["tensorflow"].rsplit(".", 1)[0] + "."
    flags = os.environ.get("XLA_FLAGS", "")
    if not tf.__version__.startswith(checked_minor) or XLA_CPU_SCHEDULER_FLAG in flags:
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {XLA_CPU_SCHEDULER_FLAG}=false".strip()
    return True
