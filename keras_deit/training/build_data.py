"""The data of a run: its sources, the training and evaluation pipelines, the epoch length."""

import dataclasses
import os

from keras_deit.data import check_class_names_match, load_source, make_dataset
from keras_deit.training.config import SOURCE_FIELDS

@dataclasses.dataclass
class RunData:
    """What `build_data` returns.

    Args:
        train: the training `tf.data.Dataset` (distributed over the replicas when there
            are several), step batches, repeated.
        eval: the evaluation `tf.data.Dataset` (one pass, `eval_steps` batches at most).
        class_names: tuple of str of the training source.
        updates_per_epoch: int. Optimizer updates per epoch.
        steps_per_epoch: int. Keras steps (micro-batches) per epoch.
    """

    train: object
    eval: object
    class_names: tuple
    updates_per_epoch: int
    steps_per_epoch: int

    @property
    def num_classes(self):
        return len(self.class_names)


def dataset_options(data):
    """The `make_dataset` arguments of a `DataConfig`: all its fields but where the data is."""
    options = dataclasses.asdict(data)
    for key in SOURCE_FIELDS:
        options.pop(key)
    return options


def load_sources(data):
    """`(train_source, eval_source)`: the `Source`s of `data.train_split` and `data.eval_split`."""
    manual_dir = data.manual_dir and os.path.expanduser(data.manual_dir)
    return tuple(
        load_source(data.source, split, data_dir=data.data_dir, manual_dir=manual_dir)
        for split in (data.train_split, data.eval_split)
    )


def build_data(config, *, strategy, epochs_done=0):
    """The training and evaluation pipelines of `config` (a `RunConfig`) on `strategy`.

    Each step takes `global_batch_size / gradient_accumulation_steps` images (split over
    the replicas by Keras), so an update always averages `global_batch_size` images.

    Args:
        config: `RunConfig`.
        strategy: the `tf.distribute.Strategy` of the run.
        epochs_done: int. Epochs finished before: the training pipeline starts there, with
            the batches an uninterrupted run would draw.

    Example:
    ```python
    import tensorflow as tf
    from keras_deit.training.recipes import load_recipe
    data = build_data(load_recipe("digits"), strategy=tf.distribute.get_strategy())
    data.num_classes, data.updates_per_epoch  # (10, 22)
    ```
    """
    training, image_size = config.training, config.model.image_size
    train_source, eval_source = load_sources(config.data)
    options = dataset_options(config.data)
    accumulation, global_batch = training.gradient_accumulation_steps, training.global_batch_size
    replicas = strategy.num_replicas_in_sync
    if global_batch % (accumulation * replicas):
        raise ValueError(
            f"training.global_batch_size {global_batch} is not divisible by gradient_accumulation_steps "
            f"{accumulation} x {replicas} replicas."
        )
    step_batch = global_batch // accumulation
    updates_per_epoch = training.steps_per_epoch or train_source.num_examples // global_batch
    if updates_per_epoch < 1:
        raise ValueError(
            f"The training split ({train_source.num_examples} images) is smaller than one global batch of "
            f"{global_batch}."
        )

    check_class_names_match(train_source, eval_source)
    steps_per_epoch = updates_per_epoch * accumulation

    def training_data(batch_size, num_shards=1, shard_index=0):
        # Every pipeline serves replicas / num_shards replicas a batch each per step.
        batches_per_epoch = steps_per_epoch * (replicas // num_shards)
        # Seeded by the run's seed and started at epochs_done: a resumed run sees the
        # batches the uninterrupted run would have seen.
        return make_dataset(
            train_source, training=True, image_size=image_size, batch_size=batch_size,
            seed=training.seed, initial_epoch=epochs_done, steps_per_epoch=batches_per_epoch,
            num_shards=num_shards, shard_index=shard_index, **options,
        )

    if replicas > 1:
        # One pipeline per worker (or TPU host), reading its own shard of each epoch and
        # batching per replica, as timm's per-rank sampler: left to Keras, every worker
        # would augment the whole epoch and keep only its share.
        train = strategy.distribute_datasets_from_function(
            lambda context: training_data(
                context.get_per_replica_batch_size(step_batch),
                num_shards=context.num_input_pipelines, shard_index=context.input_pipeline_id,
            )
        )
    else:
        train = training_data(step_batch)
    evaluation = make_dataset(eval_source, training=False, image_size=image_size, batch_size=step_batch, **options)
    if training.eval_steps:
        evaluation = evaluation.take(training.eval_steps)
    return RunData(
        train=train, eval=evaluation, class_names=train_source.class_names,
        updates_per_epoch=updates_per_epoch, steps_per_epoch=steps_per_epoch,
    )
