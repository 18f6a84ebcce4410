"""`keras_deit.train(config, output_dir)`: one training run of a recipe, resumable.

Output folder:
- `config.json`: the resolved config (`keras_deit.training.config.from_dict` reads it back).
- `log.csv` (Keras' CSVLogger, one row per epoch: loss, learning rate, held-out top-1 /
  top-5 of each head and of the EMA weights) and, where TensorBoard is installed,
  `tensorboard/`.
- `checkpoints/`: the last two finished epochs (`keras_deit.training.checkpointing`); the
  same command started again resumes there, refused if the model, data, teacher or
  distillation changed (`keras_deit.training.resume_guard`).
- `.lock`: held by the running process (`keras_deit.files.run_lock`), so a second run
  on the same folder stops at once.
- `model.keras` (the student) and, with EMA, `model_ema.keras`; `results.json`: the final
  evaluation.
"""

import contextlib
import json
import os

import keras

from keras_deit.files.atomic import atomic_write_text, write_atomically
from keras_deit.files.litter import clean_litter
from keras_deit.files.run_lock import RunLock
from keras_deit.training.build_callbacks import EpochEvaluation, build_callbacks
from keras_deit.training.build_data import build_data
from keras_deit.training.build_models import build_student, build_training_model
from keras_deit.training.build_optimization import build_training_optimizer
from keras_deit.training.checkpointing import latest_checkpoint
from keras_deit.training.config import to_dict, validate
from keras_deit.training.divergence import StopOnDivergence
from keras_deit.training.ema import ema_weights, has_ema
from keras_deit.training.evaluation import evaluate
from keras_deit.training.multi_worker_keras import repaired_for
from keras_deit.training.resume_guard import check_resume_folder
from keras_deit.weights.transfer import initialize_from
from keras_deit.training.soft_target_loss import SoftTargetCrossEntropy
from keras_deit.training.strategy import (
    choose_strategy, is_chief, is_tpu, jit_compile_setting, mixed_precision_policy,
)


def _check_files(config):
    # Before any data is read: a missing local teacher or checkpoint is a one-line error.
    teacher = config.distillation.kind != "none" and config.teacher.model
    init_from = config.training.init_from
    for key, path in (("teacher.model", teacher), ("training.init_from", init_from)):
        local = path and "://" not in path and (key != "teacher.model" or path.endswith(".keras"))
        if local and not os.path.isfile(os.path.expanduser(path)):
            raise FileNotFoundError(f"{key}: no file at {path!r}.")


def train(config, output_dir, *, verbose="auto"):
    """Trains `config` (a `RunConfig`, e.g. a recipe's) into `output_dir`; resumes a killed run.

    Reads top to bottom: the data (`build_data`), the student and, for distillation, the
    teacher (`build_models`), DeiT's AdamW with its schedule and EMA
    (`build_optimization`), the callbacks (`build_callbacks`), then `fit` with one
    checkpoint per epoch. Started again on the same `output_dir` it continues after the
    last finished epoch.

    Args:
        config: `RunConfig`. Validated before any work.
        output_dir: str. Folder of logs, checkpoints and the final models.
        verbose: Keras `fit` verbosity ("auto": progress bar; 2: one line per epoch).

    Returns:
        dict: `student` (the trained network), `results` (the final `evaluate` output),
        `class_names`, `epochs_done`, `resumed_from` (epochs finished before this call).

    Example:
    ```python
    import keras_deit
    from keras_deit.training.overrides import apply_overrides
    from keras_deit.training.recipes import load_recipe
    config = apply_overrides(load_recipe("digits"), ["training.epochs=2"])
    keras_deit.train(config, "runs/digits")["results"]["weights"]["top1"]
    ```
    """
    validate(config)
    _check_files(config)
    # Only the chief writes the folder; the other workers of a multi-worker run share it.
    with RunLock(output_dir) if is_chief() else contextlib.nullcontext():
        return _train_holding_lock(config, output_dir, verbose=verbose)


def _train_holding_lock(config, output_dir, *, verbose):
    """`train`, with the run folder's lock held by the chief."""
    training = config.training
    keras.utils.set_random_seed(training.seed)
    strategy = choose_strategy()
    policy = mixed_precision_policy(strategy, training.mixed_precision)
    chief = is_chief()
    os.makedirs(output_dir, exist_ok=True)
    epochs_done, checkpoint = latest_checkpoint(os.path.join(output_dir, "checkpoints"))
    if chief:
        for path in clean_litter(output_dir):
            print(f"Removed {path}, left by a killed process.")
        # Before config.json is replaced: a refused resume leaves the run as it was.
        if checkpoint:
            for change in check_resume_folder(output_dir, to_dict(config)):
                print(f"Resuming {output_dir} with {change}")
        atomic_write_text(os.path.join(output_dir, "config.json"), json.dumps(to_dict(config), indent=2))

    data = build_data(config, strategy=strategy, epochs_done=epochs_done)
    with strategy.scope():
        student = build_student(config, num_classes=data.num_classes, dtype=policy)
        if training.init_from and not checkpoint:
            reinitialized = initialize_from(student, training.init_from)
            if reinitialized:
                print(f"Fine-tuning from {training.init_from}: re-initialized {reinitialized}")
        model = build_training_model(config, student, num_classes=data.num_classes, dtype=policy)
        optimizer = build_training_optimizer(
            training, variables=student.trainable_variables, updates_per_epoch=data.updates_per_epoch,
            compute_dtype="float32" if is_tpu(strategy) else "float64",
        )
        # A DistillationModel computes its own loss; the student alone learns the targets.
        model.compile(
            optimizer=optimizer, jit_compile=jit_compile_setting(strategy, training.jit_compile),
            **({} if model is not student else {"loss": SoftTargetCrossEntropy()}),
        )
        # Built now so a checkpoint restores the moments, the step counter and the EMA.
        model.optimizer.build(model.trainable_variables)
        if checkpoint:
            model.load_weights(checkpoint)

    evaluation = EpochEvaluation(student, data.eval)
    callbacks = [StopOnDivergence()] + build_callbacks(
        output_dir, evaluation=evaluation, epochs_done=epochs_done, chief=chief
    )
    if epochs_done < training.epochs:
        with repaired_for(strategy):
            model.fit(
                data.train, epochs=training.epochs, initial_epoch=epochs_done,
                steps_per_epoch=data.steps_per_epoch, callbacks=callbacks, verbose=verbose,
            )
    results = evaluation.results or evaluate(student, data.eval, model.optimizer)
    if chief:
        atomic_write_text(os.path.join(output_dir, "results.json"), json.dumps(results, indent=2))
        write_atomically(os.path.join(output_dir, "model.keras"), student.save)
        if has_ema(model.optimizer):
            with ema_weights(model.optimizer):
                write_atomically(os.path.join(output_dir, "model_ema.keras"), student.save)
    return {
        "student": student, "results": results, "class_names": data.class_names,
        "epochs_done": training.epochs, "resumed_from": epochs_done,
    }
