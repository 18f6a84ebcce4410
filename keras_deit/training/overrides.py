"""`--set section.key=value` overrides, parsed by the type of the config field they replace."""

import ast
import dataclasses
import difflib
import typing
from typing import Literal

from keras_deit.training.config import SECTIONS, TeacherConfig, check_value, field_types, type_name, validate


def config_keys():
    """Every settable key: "name" and "section.field" for each field of each section."""
    return ["name"] + [
        f"{section}.{field.name}" for section, cls in SECTIONS.items() for field in dataclasses.fields(cls)
    ]


def parse_value(key, text, annotation):
    """`text` as a value of type `annotation` (str, int, float, bool, Optional, tuple, Literal).

    Raises:
        ValueError: naming `key` and the type expected.
    """
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Union:
        if text == "None":
            return None
        (inner,) = [argument for argument in arguments if argument is not type(None)]
        return parse_value(key, text, inner)
    if annotation is str:
        return text
    if origin is Literal:
        for choice in arguments:
            if text == str(choice) or (isinstance(choice, bool) and text == str(choice).lower()):
                return choice
        raise ValueError(f"--set {key}={text}: expected {type_name(annotation)}.")
    if annotation is bool:
        if text not in ("True", "False", "true", "false"):
            raise ValueError(f"--set {key}={text}: expected bool (True or False).")
        return text in ("True", "true")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise ValueError(f"--set {key}={text}: expected {type_name(annotation)}.") from None
    if origin is tuple and isinstance(value, list):
        value = tuple(value)
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if origin is tuple and isinstance(value, tuple):
        value = tuple(float(item) if arguments[0] is float and type(item) is int else item for item in value)
    try:
        check_value(key, value, annotation)
    except ValueError:
        raise ValueError(f"--set {key}={text}: expected {type_name(annotation)}.") from None
    return value


def apply_overrides(config, overrides):
    """A copy of `config` (a `RunConfig`) with `["section.key=value", ...]` applied and validated.

    Each value is parsed by its field's type ("None" for an optional field; a tuple as
    `(0.5,1.0)`; a choice by its name); unknown keys are errors suggesting the nearest
    key. Setting a teacher key of a recipe without teacher starts from `TeacherConfig()`.

    Example:
    ```python
    from keras_deit.training.recipes import load_recipe
    config = apply_overrides(load_recipe("digits"), ["training.epochs=2", "data.three_augment=True"])
    ```
    """
    config = dataclasses.replace(
        config, **{name: dataclasses.replace(section) for name in SECTIONS if (section := getattr(config, name))}
    )
    keys = config_keys()
    for override in overrides:
        if "=" not in override:
            raise ValueError(f"--set expects key=value, got {override!r}.")
        key, text = (part.strip() for part in override.split("=", 1))
        if key not in keys:
            hint = difflib.get_close_matches(key, keys, n=1)
            if key in SECTIONS:
                raise ValueError(f"--set {override}: {key!r} is a section; set one of its keys, e.g. {key}.{dataclasses.fields(SECTIONS[key])[0].name}.")
            raise ValueError(
                f"Unknown config key {key!r} in --set {override}"
                + (f"; did you mean {hint[0]!r}?" if hint else f"; keys: {', '.join(keys)}.")
            )
        if key == "name":
            config.name = text
            continue
        section_name, field_name = key.split(".")
        if getattr(config, section_name) is None:
            setattr(config, section_name, TeacherConfig())
        section = getattr(config, section_name)
        setattr(section, field_name, parse_value(key, text, field_types(type(section))[field_name]))
    return validate(config)
