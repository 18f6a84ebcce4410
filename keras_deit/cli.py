"""The `keras-deit` console script: one sub-command per module in keras_deit/commands/.

Only argparse is imported here and at the top of the command modules; each handler
imports what it needs, so `keras-deit --help` answers without loading TensorFlow.
"""

import argparse
import importlib
import pickle
import re
import sys
import traceback

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

# Errors that mean the input is wrong, not the code: one line, exit status 2. OSError
# covers missing files, folders given as files and back, refused permissions and full
# disks; UnpicklingError is a checkpoint `torch.load(weights_only=True)` refuses.
USER_ERRORS = (ValueError, OSError, pickle.UnpicklingError)
# TensorFlow's errors for missing or unreadable user files (a truncated image, a corrupt
# TFRecord), looked up only where TensorFlow is already loaded: otherwise none can have
# been raised.
TENSORFLOW_USER_ERRORS = ("InvalidArgumentError", "DataLossError", "NotFoundError", "PermissionDeniedError")
USER_ERROR_STATUS = 2
INTERRUPTED_STATUS = 130


def user_error_types():
    """The exception types `main` reports as one line: USER_ERRORS and TensorFlow's, if loaded."""
    tensorflow = sys.modules.get("tensorflow")
    if tensorflow is None or not hasattr(tensorflow, "errors"):
        return USER_ERRORS
    return USER_ERRORS + tuple(getattr(tensorflow.errors, name) for name in TENSORFLOW_USER_ERRORS)


def error_message(error):
    """The one line `keras-deit: error: ...` shows for `error`: its first non-empty line.

    TensorFlow's `{{function_node ...}}` prefix is dropped; an error without a message is
    named by its type.

    Example:
    ```python
    error_message(FileNotFoundError(2, "No such file or directory", "a.png"))
    # "[Errno 2] No such file or directory: 'a.png'"
    ```
    """
    text = getattr(error, "message", None) or str(error)
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-deit", description="DeiT for Keras 3 / TensorFlow."
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv=None):
    """Entry point of `keras-deit`; returns the process exit code.

    A user error (`user_error_types()`) prints one line `keras-deit: error: <message>`
    on stderr and returns 2 (Ctrl-C: 130); `--debug` prints the traceback before it.
    """
    arguments = build_parser().parse_args(argv)
    try:
        return arguments.handler(arguments) or 0
    except KeyboardInterrupt:
        return _report(arguments, "interrupted", INTERRUPTED_STATUS)
    except Exception as error:
        if not isinstance(error, user_error_types()):
            raise
        return _report(arguments, error_message(error), USER_ERROR_STATUS)


def _report(arguments, message, status):
    if arguments.debug:
        traceback.print_exc()
    print(f"keras-deit: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
