"""`keras-deit augment-preview SOURCE -o grid.png`: a grid of augmented training images.

Each tile is one image of the first training batch (the full DeiT recipe, or with
`--recipe` that recipe's data options, `--set data.KEY=VALUE` applied), titled with its
two largest target classes and their weights, so the Mixup / CutMix mixing and label
smoothing can be checked by eye.
"""


def write_preview(source, output, *, image_size=224, count=16, seed=0, split="train", options=None):
    """Writes a PNG grid of `count` augmented training images with their mixed labels.

    Args:
        source: str. Any `load_source` spec ("digits", a folder, "tfds:cifar10", ...).
        output: str. PNG path.
        image_size: int. Side of each image.
        count: int. Images in the grid (one training batch).
        seed: int. Seed of the pipeline.
        split: str. Split to read.
        options: dict or None. `make_dataset` options (e.g. `dataset_options` of a
            recipe's data section); None for `make_dataset`'s defaults.

    Example:
    ```python
    write_preview("digits", "grid.png", image_size=64, count=8)
    ```
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt
    import numpy as np

    from keras_deit.data import load_source, make_dataset

    loaded = load_source(source, split)
    dataset = make_dataset(
        loaded, training=True, image_size=image_size, batch_size=count, seed=seed, **(options or {})
    )
    images, targets = (tensor.numpy() for tensor in next(iter(dataset)))
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        # Erased boxes hold normalized noise outside [0, 255]; clip for display.
        axis.imshow(np.clip(images[index], 0, 255).astype("uint8"))
        top = np.argsort(targets[index])[::-1][:2]
        axis.set_title(
            "\n".join(f"{loaded.class_names[k]}: {targets[index][k]:.2f}" for k in top), fontsize=8
        )
    figure.tight_layout()
    figure.savefig(output, dpi=80)
    plt.close(figure)


def register(subparsers):
    parser = subparsers.add_parser(
        "augment-preview", help="Write a grid of augmented training images with their mixed labels."
    )
    parser.add_argument("source", help="data source: 'digits', 'tfds:NAME', a folder, TFRecord files")
    parser.add_argument("-o", "--output", required=True, help="PNG file to write")
    parser.add_argument("--image-size", type=int, default=None, help="default: the recipe's, else 224")
    parser.add_argument("--recipe", default=None, help="use this recipe's data options (recipes/NAME.py or a .py file)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set data.three_augment=True (with --recipe)",
    )
    parser.add_argument("--count", type=int, default=16, help="images in the grid")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", default="train")
    parser.set_defaults(handler=_run)


def _run(arguments):
    image_size, options = arguments.image_size or 224, None
    if arguments.recipe:
        from keras_deit.training.build_data import dataset_options
        from keras_deit.training.overrides import apply_overrides
        from keras_deit.training.recipes import load_recipe

        config = apply_overrides(load_recipe(arguments.recipe), arguments.overrides)
        image_size, options = arguments.image_size or config.model.image_size, dataset_options(config.data)
    elif arguments.overrides:
        raise ValueError("--set needs --recipe: it overrides a recipe's values.")
    write_preview(
        arguments.source, arguments.output, image_size=image_size,
        count=arguments.count, seed=arguments.seed, split=arguments.split, options=options,
    )
    print(f"wrote {arguments.output}")
    return 0
