"""`keras_deit.train(config, output_dir)`: one training run of a recipe, resumable.

Output folder:
- `config.json`: the config as run.
- `log.csv` (Keras' CSVLogger, one row per epoch: loss, learning rate, held-out top-1 /
  top-5 of each head and of the EMA weights) and, where TensorBoard is installed,
  `tensorboard/`.
- `checkpoints/`: the last finished epoch (`keras_deit.training.checkpointing`); the same
  command started again resumes there.
- `model.keras` (the student) and, with EMA, `model_ema.keras`; `results.json`: the final
  evaluation.
"""

import importlib.util
import json
import os

import keras

from keras_deit import teachers
from keras_deit.data import load_source, make_dataset
from keras_deit.distillation_model import DistillationModel
from keras_deit.models.deit import DeiT
from keras_deit.atomic_files import write_atomically
from keras_deit.training.checkpointing import EpochCheckpoint, atomic_write_text, latest_checkpoint, trim_csv_log
from keras_deit.training.ema import ema_weights, has_ema
from keras_deit.training.evaluation import evaluate
from keras_deit.training.initialization import initialize_from, resolve_path
from keras_deit.training.multi_worker_keras import repaired_for
from keras_deit.training.optimizer import build_optimizer
from keras_deit.training.schedule import WarmupCosineSchedule
from keras_deit.training.soft_target_loss import SoftTargetCrossEntropy
from keras_deit.training.strategy import choose_strategy, is_chief, is_tpu, mixed_precision_policy


def build_teacher(teacher_config, *, num_classes, image_size):
    """The frozen teacher: `"regnetyNNN"` (weights: a timm checkpoint, URL or None) or a `.keras` file."""
    spec = teacher_config["model"]
    if spec.endswith(".keras"):
        return keras.saving.load_model(resolve_path(spec), safe_mode=True)
    factory = getattr(teachers, "RegNetY" + spec.lower().removeprefix("regnety"), None)
    if not spec.lower().startswith("regnety") or factory is None:
        raise ValueError(f"Unknown teacher {spec!r}: expected 'regnety002' ... 'regnety320' or a .keras file.")
    size = teacher_config.get("image_size") or image_size
    weights = teacher_config.get("weights")
    return factory(
        weights=None if weights is None else resolve_path(weights),
        input_shape=(size, size, 3),
        num_classes=num_classes,
    )


def build_student(config, *, num_classes, dtype=None):
    """The DeiT of `config["model"]` with `num_classes` classes."""
    return DeiT(
        **config["model"], num_classes=num_classes, seed=config["training"]["seed"], dtype=dtype,
        name=config["name"],
    )


def learning_rate_schedule(training, *, updates_per_epoch, compute_dtype="float64"):
    """The recipe's per-update schedule: lr = base_learning_rate * global batch / reference batch."""
    peak = training["base_learning_rate"] * training["global_batch_size"] / training["reference_batch_size"]
    return WarmupCosineSchedule(
        peak_learning_rate=peak,
        total_steps=training["epochs"] * updates_per_epoch,
        warmup_steps=training["warmup_epochs"] * updates_per_epoch,
        warmup_learning_rate=training["warmup_learning_rate"],
        min_learning_rate=training["min_learning_rate"],
        compute_dtype=compute_dtype,
        steps_per_update=training["gradient_accumulation_steps"],
    )


class _Evaluation(keras.callbacks.Callback):
    """Adds the held-out accuracies (raw and EMA weights) and the learning rate to each epoch's logs."""

    def __init__(self, student, dataset):
        super().__init__()
        self.student = student
        self.dataset = dataset
        self.results = None

    def on_epoch_end(self, epoch, logs=None):
        self.results = evaluate(self.student, self.dataset, self.model.optimizer)
        logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        for weights, metrics in self.results.items():
            prefix = "val_" if weights == "weights" else "val_ema_"
            for name, value in metrics.items():
                if name not in ("images", "images_per_second"):
                    logs[prefix + name] = value


def train(config, output_dir, *, verbose="auto"):
    """Trains the recipe `config` (a dict from `recipes/*.py`) into `output_dir`.

    Builds the student (and, for a distilled recipe, the teacher and a
    `DistillationModel`), the DeiT data pipeline, AdamW with the warmup-cosine schedule
    and the weight-decay exclusions, an EMA of the weights, on the strategy of the
    machine, and fits with one checkpoint per epoch. Started again on the same
    `output_dir` it continues after the last finished epoch.

    Args:
        config: dict. A recipe's `get_config()`, overrides applied.
        output_dir: str. Folder of logs, checkpoints and the final models.
        verbose: Keras `fit` verbosity ("auto": progress bar).

    Returns:
        dict: `student` (the trained `DeiT`), `results` (the final `evaluate` output),
        `epochs_done`, `resumed_from` (epochs finished before this call).

    Example:
    ```python
    import keras_deit
    from keras_deit.training.config import apply_overrides, load_recipe
    config = apply_overrides(load_recipe("digits"), ["training.epochs=2"])
    keras_deit.train(config, "runs/digits")["results"]["weights"]["top1"]
    ```
    """
    model_config, data, training = config["model"], config["data"], config["training"]
    keras.utils.set_random_seed(training["seed"])
    strategy = choose_strategy()
    policy = mixed_precision_policy(strategy, training["mixed_precision"])
    chief = is_chief()
    os.makedirs(output_dir, exist_ok=True)
    if chief:
        atomic_write_text(os.path.join(output_dir, "config.json"), json.dumps(config, indent=2))

    sources = {
        split: load_source(
            data["source"], data[split], data_dir=data["data_dir"],
            manual_dir=data["manual_dir"] and os.path.expanduser(data["manual_dir"]),
        )
        for split in ("train_split", "eval_split")
    }
    num_classes = sources["train_split"].num_classes
    accumulation = training["gradient_accumulation_steps"]
    global_batch = training["global_batch_size"]
    replicas = strategy.num_replicas_in_sync
    if global_batch < 1:
        raise ValueError(f"training.global_batch_size must be a positive number of images, got {global_batch}.")
    if global_batch % (accumulation * replicas):
        raise ValueError(
            f"global_batch_size {global_batch} is not divisible by gradient_accumulation_steps "
            f"{accumulation} x {replicas} replicas."
        )
    # Keras splits each step's batch over the replicas; accumulation splits the global
    # batch over steps: the update always averages global_batch_size images.
    step_batch = global_batch // accumulation
    updates_per_epoch = training["steps_per_epoch"] or sources["train_split"].num_examples // global_batch
    if updates_per_epoch < 1:
        raise ValueError(f"The training split is smaller than one global batch of {global_batch}.")
    steps_per_epoch = updates_per_epoch * accumulation

    checkpoint_dir = os.path.join(output_dir, "checkpoints")
    epochs_done, checkpoint = latest_checkpoint(checkpoint_dir)
    image_size = model_config["image_size"]

    def training_data(batch_size, num_shards=1, shard_index=0):
        return make_dataset(
            sources["train_split"], training=True, image_size=image_size, batch_size=batch_size,
            # A resumed run draws new augmentations rather than replaying epoch 0's.
            seed=training["seed"] + epochs_done, num_shards=num_shards, shard_index=shard_index,
            rand_augment=data["rand_augment"], color_jitter=data["color_jitter"],
            erasing_probability=data["erasing_probability"], mixup_alpha=data["mixup_alpha"],
            cutmix_alpha=data["cutmix_alpha"], label_smoothing=data["label_smoothing"],
            repeats=data["repeats"], **{key: data[key] for key in ("scale", "flip_probability") if key in data},
        )

    if replicas > 1:
        # One pipeline per worker (or TPU host), reading its own shard of each epoch and
        # batching per replica, as timm's per-rank sampler: left to Keras, every worker
        # would augment the whole epoch and keep only its share.
        train_data = strategy.distribute_datasets_from_function(
            lambda context: training_data(
                context.get_per_replica_batch_size(step_batch),
                num_shards=context.num_input_pipelines, shard_index=context.input_pipeline_id,
            )
        )
    else:
        train_data = training_data(step_batch)
    eval_data = make_dataset(
        sources["eval_split"], training=False, image_size=image_size, batch_size=step_batch,
        crop_ratio=data["crop_ratio"],
    )
    if training["eval_steps"]:
        eval_data = eval_data.take(training["eval_steps"])

    with strategy.scope():
        student = build_student(config, num_classes=num_classes, dtype=policy)
        if training["init_from"] and not checkpoint:
            reinitialized = initialize_from(student, training["init_from"])
            if reinitialized:
                print(f"Fine-tuning from {training['init_from']}: re-initialized {reinitialized}")
        ema = training["ema_momentum"]
        optimizer = build_optimizer(
            variables=student.trainable_variables,
            learning_rate=learning_rate_schedule(
                training, updates_per_epoch=updates_per_epoch,
                compute_dtype="float32" if is_tpu(strategy) else "float64",
            ),
            weight_decay=training["weight_decay"],
            epsilon=training["epsilon"],
            # Keras updates the average at every micro-batch: the root keeps the decay
            # per update at the recipe's momentum.
            ema_momentum=None if ema is None else ema ** (1.0 / accumulation),
            gradient_accumulation_steps=accumulation,
        )
        distillation = config["distillation"]
        if distillation["kind"] != "none":
            teacher = build_teacher(config["teacher"], num_classes=num_classes, image_size=image_size)
            model = DistillationModel(
                student=student, teacher=teacher, distillation=distillation["kind"],
                alpha=distillation["alpha"], tau=distillation["tau"],
            )
            model.compile(optimizer=optimizer)
        else:
            model = student
            model.compile(optimizer=optimizer, loss=SoftTargetCrossEntropy())
        # Built now so a checkpoint restores the moments, the step counter and the EMA.
        model.optimizer.build(model.trainable_variables)
        if checkpoint:
            model.load_weights(checkpoint)

    csv_path = os.path.join(output_dir, "log.csv")
    if chief:
        trim_csv_log(csv_path, epochs_done)
    evaluation = _Evaluation(student, eval_data)
    callbacks = [evaluation]
    if chief:
        callbacks.append(keras.callbacks.CSVLogger(csv_path, append=True))
        # tensorflow-cpu does not bring TensorBoard; its writer fails without it.
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "tensorboard")))
    # Last: an epoch is logged before it is committed, so a resumed run trims the log of an
    # epoch killed between the two rather than missing one.
    callbacks.append(EpochCheckpoint(checkpoint_dir, write=chief))
    if epochs_done < training["epochs"]:
        with repaired_for(strategy):
            model.fit(
                train_data, epochs=training["epochs"], initial_epoch=epochs_done,
                steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
            )
    results = evaluation.results or evaluate(student, eval_data, model.optimizer)
    if chief:
        atomic_write_text(os.path.join(output_dir, "results.json"), json.dumps(results, indent=2))
        write_atomically(os.path.join(output_dir, "model.keras"), student.save)
        if has_ema(model.optimizer):
            with ema_weights(model.optimizer):
                write_atomically(os.path.join(output_dir, "model_ema.keras"), student.save)
    return {"student": student, "results": results, "epochs_done": training["epochs"], "resumed_from": epochs_done}
