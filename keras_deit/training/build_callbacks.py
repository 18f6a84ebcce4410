"""The callbacks of a run: per-epoch evaluation, the CSV / TensorBoard logs, the checkpoint."""

import importlib.util
import os

import keras

from keras_deit.training.checkpointing import EpochCheckpoint, trim_csv_log
from keras_deit.training.evaluation import evaluate


class EpochEvaluation(keras.callbacks.Callback):
    """Adds the held-out accuracies (raw and EMA weights) and the learning rate to each epoch's logs.

    Args:
        student: the network evaluated (`keras_deit.DeiT` or any classifier).
        dataset: the evaluation data set.

    Example:
    ```python
    evaluation = EpochEvaluation(student, eval_data)
    model.fit(train_data, epochs=2, callbacks=[evaluation])
    evaluation.results["weights"]["top1"]
    ```
    """

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


def build_callbacks(output_dir, *, evaluation, epochs_done, chief=True):
    """`[evaluation, CSV log, TensorBoard, checkpoint]` of a run in `output_dir`.

    Only the chief writes logs and checkpoints. The checkpoint comes last: an epoch is
    logged before it is committed, so a resumed run trims the log of an epoch killed
    between the two rather than missing one.

    Args:
        output_dir: str. The run folder.
        evaluation: `EpochEvaluation`.
        epochs_done: int. Epochs finished before (the log is trimmed to them).
        chief: bool. False on the workers that must not write.
    """
    callbacks = [evaluation]
    if chief:
        csv_path = os.path.join(output_dir, "log.csv")
        trim_csv_log(csv_path, epochs_done)
        callbacks.append(keras.callbacks.CSVLogger(csv_path, append=True))
        # tensorflow-cpu does not bring TensorBoard; its writer fails without it.
        if importlib.util.find_spec("tensorboard") is not None:
            callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "tensorboard")))
    callbacks.append(EpochCheckpoint(os.path.join(output_dir, "checkpoints"), write=chief))
    return callbacks
