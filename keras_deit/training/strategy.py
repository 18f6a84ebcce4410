"""The `tf.distribute` strategy, mixed-precision policy and compiler for the machine we run on."""

import glob
import json
import os

import tensorflow as tf


def _tpu_reachable():
    # Probing TPUClusterResolver without a TPU can hang on the GCE metadata server:
    # only try where a TPU is announced (Cloud TPU VM devices, Colab or TPU_NAME).
    return bool(
        os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR") or glob.glob("/dev/accel*")
        or glob.glob("/dev/vfio/[0-9]*")
    )


def _workers_in_tf_config():
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    return len(config.get("cluster", {}).get("worker", []))


def choose_strategy():
    """The strategy for this environment, in order of preference.

    `TPUStrategy` when a TPU is reachable, `MultiWorkerMirroredStrategy` when `TF_CONFIG`
    names several workers (fit inside `multi_worker_keras.repaired_for(strategy)`),
    `MirroredStrategy` with several GPUs, otherwise the default strategy (one device).

    Example:
    ```python
    strategy = choose_strategy()
    with strategy.scope():
        model = ...
    ```
    """
    if _tpu_reachable():
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", ""))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    if _workers_in_tf_config() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_tpu(strategy):
    return isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy))


def mixed_precision_policy(strategy, setting="auto"):
    """The Keras dtype policy name for `setting` under `strategy`.

    Args:
        strategy: the `tf.distribute.Strategy` in use.
        setting: str. "auto": "mixed_bfloat16" on TPU, "mixed_float16" on GPU (Keras
            then adds loss scaling), "float32" on CPU; or a policy name, used as given.
    """
    if setting != "auto":
        return setting
    if is_tpu(strategy):
        return "mixed_bfloat16"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return "float32"


def is_chief():
    """True on the process that writes logs and checkpoints: the chief, else worker 0."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task")
    if not task:
        return True
    if "chief" in config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type") == "worker" and task.get("index", 0) == 0


def jit_compile_setting(strategy, setting="auto"):
    """The `jit_compile` to pass to `model.compile` for `setting` under `strategy`.

    Args:
        strategy: the `tf.distribute.Strategy` in use.
        setting: True, False or "auto". "auto": True (XLA) with one replica, CPU
            included, where Keras' own "auto" picks the TF graph although XLA's training
            step is the faster one there (`benchmarks/distillation_step.py`); Keras' "auto"
            under a multi-replica or TPU strategy.

    Example:
    ```python
    jit_compile_setting(tf.distribute.get_strategy())  # True
    ```
    """
    if setting == "auto" and strategy.num_replicas_in_sync == 1 and not is_tpu(strategy):
        return True
    return setting
