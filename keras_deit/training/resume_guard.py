"""Resuming a run only with the config its checkpoint was trained with.

`load_weights` of a checkpoint into a different architecture loads what matches and
drops the rest, and a run continued on other data or another teacher is no longer the
run its log describes. So a resumed run may change its schedule (more epochs, another
learning rate) but not what the checkpoint is a checkpoint of.
"""

import json
import os

# The config keys that define what a checkpoint holds: the network (`name` names its
# layers), what it was trained on and against, and the layout of the optimizer state
# (accumulators, the loss-scale wrapper, the EMA copy).
GUARDED_KEYS = (
    "name", "model", "data", "teacher", "distillation",
    "training.gradient_accumulation_steps", "training.mixed_precision", "training.ema_momentum",
)


class _Absent:
    """A key missing on one side of a comparison."""

    def __repr__(self):
        return "(absent)"


_ABSENT = _Absent()


def config_changes(saved, config):
    """The `(dotted key, old, new)` of every leaf that differs between two nested dicts.

    Both sides are compared as JSON holds them (tuples as lists), so a config and its
    `config.json` are equal. A section present on one side only is one change.

    Example:
    ```python
    config_changes({"model": {"depth": 2}}, {"model": {"depth": 1}})  # [("model.depth", 2, 1)]
    ```
    """
    def diff(old, new, key):
        if isinstance(old, dict) and isinstance(new, dict):
            for name in sorted(set(old) | set(new)):
                yield from diff(old.get(name, _ABSENT), new.get(name, _ABSENT), f"{key}.{name}" if key else name)
        elif old != new:
            yield key, old, new

    return list(diff(json.loads(json.dumps(saved)), json.loads(json.dumps(config)), ""))


def _guarded(key):
    return any(key == guarded or key.startswith(guarded + ".") for guarded in GUARDED_KEYS)


def check_resume(saved, config):
    """The allowed changes of a resumed run's config, as `"key: old -> new"` lines.

    Args:
        saved: dict. The config the checkpoint was trained with (`config.json`).
        config: dict. The config of the run resuming it.

    Raises:
        ValueError: a key of `GUARDED_KEYS` changed; the message lists every changed one.

    Example:
    ```python
    check_resume({"training": {"epochs": 2}}, {"training": {"epochs": 4}})  # ["training.epochs: 2 -> 4"]
    ```
    """
    changes = config_changes(saved, config)
    refused = [f"{key}: {old!r} -> {new!r}" for key, old, new in changes if _guarded(key)]
    if refused:
        raise ValueError(
            "The checkpoint was trained with another model, data, teacher, distillation or optimizer "
            f"state layout: {'; '.join(refused)}. Resume with the saved config or use a new output folder."
        )
    return [f"{key}: {old!r} -> {new!r}" for key, old, new in changes]


def check_resume_folder(output_dir, config):
    """`check_resume` against `output_dir/config.json`, for a run that has a checkpoint.

    Args:
        output_dir: str. The run folder.
        config: dict. The config of the run resuming it.

    Raises:
        ValueError: a guarded key changed, or `config.json` is missing or unreadable.

    Example:
    ```python
    for change in check_resume_folder("runs/digits", config):
        print(f"Resuming with {change}")
    ```
    """
    path = os.path.join(output_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as handle:
            saved = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(
            f"{output_dir} has a checkpoint but {path} cannot be read ({error}): cannot check that the "
            "checkpoint matches this config. Restore it or use a new output folder."
        ) from None
    return check_resume(saved, config)
