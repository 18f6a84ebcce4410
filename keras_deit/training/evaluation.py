"""Top-1 / top-5 of each DeiT head, their mean, and throughput, over a labelled data set."""

import time
import weakref

import numpy as np
import tensorflow as tf

from keras_deit.training.ema import ema_weights, has_ema

# One compiled forward pass per model, reused by every epoch's evaluation. The compiled
# function reaches its model through a weak reference: one closing over the model would
# keep every evaluated model (the dictionary's key) alive for good.
_COMPILED_HEADS = weakref.WeakKeyDictionary()


def _compiled_heads(model):
    compiled = _COMPILED_HEADS.get(model)
    if compiled is None:
        reference = weakref.ref(model)

        def heads(images):
            network = reference()
            if hasattr(network, "heads"):
                return network.heads(images, training=False)
            # A plain classifier (the convnet): one head.
            logits = network(images, training=False)
            return logits, logits

        compiled = _COMPILED_HEADS[model] = tf.function(heads, reduce_retracing=True)
    return compiled


def _top_k_hits(logits, labels, k):
    top = np.argsort(-logits, axis=-1)[:, :k]
    return int(np.sum(np.any(top == labels[:, None], axis=-1)))


def head_metrics(student, dataset):
    """Accuracies of a DeiT (or any classifier of logits) over `dataset` (images, integer labels).

    Args:
        student: a `keras_deit.DeiT` with its heads, or a model returning logits.
        dataset: iterable of (images float32 [0, 255], labels int (B,)), e.g.
            `make_dataset(..., training=False)`.

    Returns:
        dict: `top1`, `top5` of the prediction (the mean of both heads for a distilled
        model); with distillation token also `cls_top1`, `cls_top5`, `dist_top1`,
        `dist_top5`; `images`; `images_per_second` (the first batch, which compiles,
        not timed).

    Example:
    ```python
    from keras_deit.data import make_dataset
    data = make_dataset("digits", "test", training=False, image_size=32, batch_size=64)
    head_metrics(model, data)["top1"]
    ```
    """
    heads = _compiled_heads(student)
    hits = {name: 0 for name in ("cls_top1", "cls_top5", "dist_top1", "dist_top5", "top1", "top5")}
    images_seen, timed_images, timed_seconds = 0, 0, 0.0
    for images, labels in dataset:
        start = time.perf_counter()
        cls_logits, dist_logits = (np.asarray(t) for t in heads(images))
        seconds = time.perf_counter() - start
        if images_seen:
            timed_images, timed_seconds = timed_images + len(labels), timed_seconds + seconds
        labels = np.asarray(labels).reshape(-1)
        k = min(5, cls_logits.shape[-1])
        for prefix, logits in (("cls_", cls_logits), ("dist_", dist_logits), ("", cls_logits + dist_logits)):
            hits[prefix + "top1"] += _top_k_hits(logits, labels, 1)
            hits[prefix + "top5"] += _top_k_hits(logits, labels, k)
        images_seen += len(labels)
    if not images_seen:
        raise ValueError("The evaluation data set is empty.")
    metrics = {name: count / images_seen for name, count in hits.items()}
    if not getattr(student, "distill", False):
        metrics = {"top1": metrics["top1"], "top5": metrics["top5"]}
    metrics["images"] = images_seen
    metrics["images_per_second"] = timed_images / timed_seconds if timed_seconds else float("nan")
    return metrics


def evaluate(student, dataset, optimizer=None):
    """`{"weights": head_metrics, "ema": head_metrics}`; "ema" only where `optimizer` keeps one.

    The official code keeps an EMA of the weights but never evaluates it; both are
    reported here.

    Example:
    ```python
    evaluate(model, eval_data, model.optimizer)["ema"]["top1"]
    ```
    """
    results = {"weights": head_metrics(student, dataset)}
    if optimizer is not None and has_ema(optimizer):
        with ema_weights(optimizer):
            results["ema"] = head_metrics(student, dataset)
    return results
