"""Recipes (`recipes/NAME.py` with `get_config()`) and `--set key=value` overrides."""

import ast
import copy
import importlib.util
import os


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


def load_recipe(recipe):
    """The config dict of a recipe: a name in `recipes/` (e.g. "deit_tiny") or a `.py` path.

    Example:
    ```python
    config = load_recipe("digits")
    ```
    """
    path = recipe if recipe.endswith(".py") else os.path.join(recipes_dir(), f"{recipe}.py")
    if not os.path.isfile(path):
        raise ValueError(f"Unknown recipe {recipe!r}: expected one of {recipe_names()} or a .py file.")
    spec = importlib.util.spec_from_file_location(f"keras_deit_recipe_{os.path.basename(path)[:-3]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def _parse(text, current, key):
    """`text` as a value of the type of `current`; None and literals as Python spells them."""
    if text == "None":
        return None
    if isinstance(current, str) or current is None and not _is_literal(text):
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"--set {key}={text}: not a Python literal (expected {type(current).__name__}).")
    if current is None:
        return value
    if isinstance(current, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(current, bool)
    elif isinstance(current, float):
        ok = isinstance(value, (int, float))
        value = float(value) if ok else value
    elif isinstance(current, (list, tuple)):
        ok = isinstance(value, (list, tuple))
        value = type(current)(value) if ok else value
    else:
        ok = isinstance(value, type(current))
    if not ok:
        raise ValueError(f"--set {key}={text}: expected {type(current).__name__}, got {type(value).__name__}.")
    return value


def _is_literal(text):
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return False
    return True


def apply_overrides(config, overrides):
    """A copy of `config` with `["section.key=value", ...]` applied.

    Values are parsed as Python literals and must have the type of the value they
    replace (an int may replace a float; `None` replaces anything; a key whose recipe
    value is None takes any literal, else the text). Unknown keys are errors.

    Example:
    ```python
    apply_overrides({"training": {"epochs": 300}}, ["training.epochs=2"])
    ```
    """
    config = copy.deepcopy(config)
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"--set expects key=value, got {override!r}.")
        key, text = override.split("=", 1)
        *parents, leaf = key.strip().split(".")
        node = config
        for depth, part in enumerate(parents):
            if not isinstance(node.get(part), dict):
                raise ValueError(f"Unknown config key {'.'.join(parents[:depth + 1])!r} in --set {override}.")
            node = node[part]
        if leaf not in node:
            raise ValueError(
                f"Unknown config key {key!r}; keys here: {sorted(node)}."
            )
        if isinstance(node[leaf], dict):
            raise ValueError(f"{key!r} is a section; set one of its keys: {sorted(node[leaf])}.")
        node[leaf] = _parse(text.strip(), node[leaf], key)
    return config
