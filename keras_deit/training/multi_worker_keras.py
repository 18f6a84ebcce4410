"""Two repairs that let Keras 3's `fit` run under `tf.distribute.MultiWorkerMirroredStrategy`.

Keras 3 (3.15 included) cannot `fit` under MultiWorkerMirroredStrategy with more than one
worker, even a two-layer model (keras-team/keras#20585, tensorflow/tensorflow#72388):

1. Before the first step the TF trainer reduces the first batch with
   `strategy.reduce("MEAN", batch)` in eager mode, only to learn its shapes for the
   symbolic build; the collective strategy refuses to convert the `PerReplica` batch
   ("Attempt to convert a value (PerReplica ...) to a Tensor"). One replica's batch has
   the shapes the build needs.
2. Each step's logs (scalar metric results) are reduced with
   `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar ("Invalid reduction
   dimension 0 for input with 0 dimensions"). The mean over replicas is `axis=None`.

`repaired_for(strategy)` replaces those two functions of Keras' TF trainer (through
`keras_deit._compat`) while its block runs, and only for a multi-worker collective
strategy; on exit Keras' own functions are back, so nothing else in the process sees
the change.
"""

import contextlib

import keras
import tensorflow as tf

from keras_deit import _compat


def _one_replica(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # As Keras' own method, with one replica's batch in place of an eager cross-worker mean.
    if _compat.model_distribute_strategy(self) is None:
        return
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = keras.tree.map_structure(_one_replica, next(batches))
            break
    with self.distribute_strategy.scope():
        _compat.symbolic_build(self, data_batch)


def _reduce_per_replica_repaired(original):
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _compat.is_collective_multi_worker(strategy):
            # Shapes of any rank, scalars included: the mean over replicas, not over axis 0.
            return keras.tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    return reduce_per_replica


@contextlib.contextmanager
def repaired_for(strategy):
    """Within the block, `Model.fit` runs under `strategy` even when it spans several workers.

    For a multi-worker `MultiWorkerMirroredStrategy` the two trainer functions above are
    replaced on entry and restored on exit; for any other strategy nothing changes.
    The replacement is process-wide while the block runs: fit one model at a time in it.

    Args:
        strategy: the `tf.distribute.Strategy` the model was built under.

    Example:
    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        model = keras_deit.DeiTTiny(num_classes=10)
        model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    with repaired_for(strategy):
        model.fit(dataset, epochs=1, steps_per_epoch=100)
    ```
    """
    if not _compat.is_collective_multi_worker(strategy):
        yield
        return
    with _compat.replaced_tensorflow_trainer_functions(
        reduce_per_replica=_reduce_per_replica_repaired(_compat.keras_reduce_per_replica()),
        maybe_symbolic_build=_maybe_symbolic_build,
    ):
        yield
