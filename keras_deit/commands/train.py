"""`keras-deit train RECIPE [--set key=value ...] [--output DIR] [--print-config]`: run a recipe."""


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="Train a recipe (recipes/NAME.py); resumes when DIR holds a checkpoint."
    )
    parser.add_argument("recipe", help="recipe name in recipes/ (e.g. deit_tiny, digits) or a .py file")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, e.g. --set training.epochs=10 (repeatable; checked against the schema)",
    )
    parser.add_argument("--output", default=None, help="run folder (default runs/<recipe name>)")
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit without training"
    )
    parser.set_defaults(handler=_run)


def _run(arguments):
    import json
    import os

    from keras_deit.training.config import to_dict
    from keras_deit.training.overrides import apply_overrides
    from keras_deit.training.recipes import load_recipe

    config = apply_overrides(load_recipe(arguments.recipe), arguments.overrides)
    if arguments.print_config:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    from keras_deit.training.train import train

    output = arguments.output or os.path.join("runs", os.path.basename(arguments.recipe).removesuffix(".py"))
    results = train(config, output)["results"]
    for weights, metrics in results.items():
        summary = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if "top" in name)
        print(f"{weights}: {summary}")
    print(f"run folder: {output}")
    return 0
