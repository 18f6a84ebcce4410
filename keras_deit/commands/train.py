"""`keras-deit train RECIPE [--set key=value ...] [--output DIR]`: run a recipe."""


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="Train a recipe (recipes/NAME.py); resumes when DIR holds a checkpoint."
    )
    parser.add_argument("recipe", help="recipe name in recipes/ (e.g. deit_tiny, digits) or a .py file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set training.epochs=10 (repeatable)",
    )
    parser.add_argument("--output", default=None, help="run folder (default runs/<recipe name>)")
    parser.set_defaults(handler=_run)


def _run(arguments):
    import os

    from keras_deit.training import apply_overrides, load_recipe, train

    config = apply_overrides(load_recipe(arguments.recipe), arguments.overrides)
    output = arguments.output or os.path.join("runs", os.path.basename(arguments.recipe).removesuffix(".py"))
    results = train(config, output)["results"]
    for weights, metrics in results.items():
        summary = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if "top" in name)
        print(f"{weights}: {summary}")
    print(f"run folder: {output}")
    return 0
