"""Recipes: small Python files (`recipes/NAME.py`) whose `get_config()` returns a `RunConfig`."""

import importlib.util
import os

from keras_deit.training.config import RunConfig, validate


def recipes_dir():
    """The folder of the shipped recipes: the installed `keras_deit.recipes` package
    (setup.py maps the repository's `recipes/` to it), else `recipes/` beside the
    `keras_deit` source folder (a checkout on `PYTHONPATH`, not installed)."""
    spec = importlib.util.find_spec("keras_deit.recipes")
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "recipes")


def recipe_names():
    """Names of the shipped recipes (`recipes/*.py`)."""
    folder = recipes_dir()
    if not os.path.isdir(folder):
        return []
    return sorted(name[:-3] for name in os.listdir(folder) if name.endswith(".py") and not name.startswith("_"))


def recipe_path(recipe):
    """The file of `recipe`: a name in `recipes/` or a `.py` path."""
    path = recipe if recipe.endswith(".py") else os.path.join(recipes_dir(), f"{recipe}.py")
    if not os.path.isfile(path):
        raise ValueError(f"Unknown recipe {recipe!r}: expected one of {recipe_names()} or a .py file.")
    return path


def load_recipe(recipe):
    """The validated `RunConfig` of a recipe: a name in `recipes/` (e.g. "deit_tiny") or a `.py` path.

    Raises:
        ValueError: one line naming the file, for an unknown recipe, a file that does not
            run (syntax error, failing import), no `get_config`, or a `get_config()` that
            does not return a valid `RunConfig`.

    Example:
    ```python
    config = load_recipe("digits")
    config.training.epochs  # 30
    ```
    """
    path = recipe_path(recipe)
    spec = importlib.util.spec_from_file_location(f"keras_deit_recipe_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise ValueError(f"Recipe {path}: syntax error at line {error.lineno}: {error.msg}.") from None
    except Exception as error:  # noqa: BLE001  any failure of the user's file, reported as one line
        raise ValueError(f"Recipe {path} failed to run: {type(error).__name__}: {error}") from None
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ValueError(f"Recipe {path} defines no get_config() function.")
    config = get_config()
    if not isinstance(config, RunConfig):
        raise ValueError(
            f"Recipe {path}: get_config() returned a {type(config).__name__}, expected a "
            "keras_deit.training.config.RunConfig."
        )
    try:
        return validate(config)
    except ValueError as error:
        raise ValueError(f"Recipe {path}: {error}") from None
