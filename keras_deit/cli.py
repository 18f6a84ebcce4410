"""The `keras-deit` console script: one sub-command per module in keras_deit/commands/."""

import argparse
import importlib
import sys

# Each module defines `register(subparsers)`, which adds its sub-command and sets
# `handler` (a function of the parsed arguments returning an exit code).
COMMAND_MODULES = (
    "keras_deit.commands.convert",
    "keras_deit.commands.demo",
    "keras_deit.commands.augment_preview",
    "keras_deit.commands.train",
    "keras_deit.commands.evaluate",
    "keras_deit.commands.attention",
    "keras_deit.commands.export",
)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-deit", description="DeiT for Keras 3 / TensorFlow."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv=None):
    """Entry point of `keras-deit`; returns the process exit code."""
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments) or 0
    except (ValueError, FileNotFoundError) as error:
        print(f"keras-deit {arguments.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
