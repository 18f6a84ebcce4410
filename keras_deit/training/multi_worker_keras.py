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

`repair_keras_for_multi_worker()` replaces those two functions of
`keras.src.backend.tensorflow.trainer`. The symbolic build reads only the batch's shapes,
so one replica's batch serves every strategy as the mean did; the reduction changes only
for multi-worker collective strategies, the others keep Keras' code path.
`choose_strategy()` calls it when it returns a MultiWorkerMirroredStrategy.
"""

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tensorflow_trainer

_REPAIRED = "_keras_deit_multi_worker_repair"


def _one_replica(value):
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    # As Keras' own method, with one replica's batch in place of an eager cross-worker mean.
    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, batches in iterator:
            data_batch = tree.map_structure(_one_replica, next(batches))
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica_repaired(original):
    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tensorflow_trainer._collective_all_reduce_multi_worker(strategy):
            # Shapes of any rank, scalars included: the mean over replicas, not over axis 0.
            return tree.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return original(values, strategy, reduction)

    setattr(reduce_per_replica, _REPAIRED, True)
    return reduce_per_replica


def repair_keras_for_multi_worker():
    """Lets `Model.fit` run under a multi-worker `MultiWorkerMirroredStrategy` (idempotent).

    Call it once before `fit` when you build the strategy yourself;
    `keras_deit.training.strategy.choose_strategy()` does.

    Example:
    ```python
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    repair_keras_for_multi_worker()
    with strategy.scope():
        model = keras_deit.DeiTTiny(num_classes=10)
        model.compile(optimizer="adamw", loss="sparse_categorical_crossentropy")
    model.fit(dataset, epochs=1, steps_per_epoch=100)
    ```
    """
    if getattr(tensorflow_trainer.reduce_per_replica, _REPAIRED, False):
        return
    tensorflow_trainer.reduce_per_replica = _reduce_per_replica_repaired(tensorflow_trainer.reduce_per_replica)
    tensorflow_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
