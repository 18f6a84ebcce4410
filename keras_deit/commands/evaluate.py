"""`keras-deit evaluate --model M --data SOURCE`: top-1 / top-5 of each head, EMA, throughput."""

import os


def load_models(path):
    """`{"weights": DeiT, "ema": DeiT}` from a `.keras` file or a run folder of `keras-deit train`.

    A run folder gives `model.keras` and, where saved, `model_ema.keras`.
    """
    import keras

    import keras_deit.models  # noqa: F401  registers the classes .keras files name

    if os.path.isdir(path):
        files = {"weights": os.path.join(path, "model.keras"), "ema": os.path.join(path, "model_ema.keras")}
        files = {name: file for name, file in files.items() if os.path.isfile(file)}
        if "weights" not in files:
            raise FileNotFoundError(f"{path} holds no model.keras (a run folder of keras-deit train).")
    elif os.path.isfile(path):
        files = {"weights": path}
    else:
        raise FileNotFoundError(f"No model at {path!r}.")
    return {name: keras.saving.load_model(file, safe_mode=True) for name, file in files.items()}


def evaluate_models(models, *, data, split, batch_size=64, crop_ratio=0.875, data_dir=None):
    """`{name: head_metrics}` of each (square-input) model on the evaluation transform of `data` / `split`."""
    from keras_deit.data import load_source, make_dataset
    from keras_deit.training.evaluation import head_metrics

    source = load_source(data, split, data_dir=data_dir)
    results = {}
    for name, model in models.items():
        # A model of another class count would be scored against shifted labels.
        if model.num_classes != source.num_classes:
            raise ValueError(
                f"The model ({name}) has {model.num_classes} classes, {data!r} ({split}) has "
                f"{source.num_classes}: evaluate it on the data it was trained for."
            )
        dataset = make_dataset(
            source, training=False, image_size=model.image_size[0], batch_size=batch_size,
            crop_ratio=crop_ratio, data_dir=data_dir,
        )
        results[name] = head_metrics(model, dataset)
    return results


def format_table(results):
    """A Markdown table: one row per weights and head, top-1, top-5 and images/s."""
    lines = ["| weights | head | top-1 | top-5 | images/s |", "|---|---|---|---|---|"]
    for name, metrics in results.items():
        heads = [("class", "cls_"), ("distillation", "dist_"), ("mean of heads", "")]
        if "cls_top1" not in metrics:
            heads = [("class", "")]
        for head, prefix in heads:
            lines.append(
                f"| {name} | {head} | {100 * metrics[prefix + 'top1']:.2f}% | "
                f"{100 * metrics[prefix + 'top5']:.2f}% | {metrics['images_per_second']:.0f} |"
            )
    return "\n".join(lines)


def register(subparsers):
    parser = subparsers.add_parser("evaluate", help="Top-1 / top-5 of a DeiT's heads (and EMA) on a data set.")
    parser.add_argument("--model", required=True, help="a DeiT .keras file or a run folder of keras-deit train")
    parser.add_argument("--data", required=True, help="data source: digits, tfds:NAME, a folder, TFRecords")
    parser.add_argument("--split", default="validation", help="split (digits: test)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--crop-ratio", type=float, default=0.875)
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.set_defaults(handler=_run)


def _run(arguments):
    results = evaluate_models(
        load_models(arguments.model), data=arguments.data, split=arguments.split,
        batch_size=arguments.batch_size, crop_ratio=arguments.crop_ratio, data_dir=arguments.data_dir,
    )
    print(format_table(results))
    return 0
