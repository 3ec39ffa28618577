"""Command-line flags generated from `RunConfig`'s fields: one flag per field, its help from the
docstring's Args, its default shown. A new field gets its flag without a line here.

    --units N            hidden size (model width for self_attention) (default: 128)
    --task-param KEY=VALUE   (repeatable; task_params)
    --theory, --no-theory    (a bool field)

A flag only parses (`type=int`); whether the value can work is decided once, by `RunConfig.from_dict` and
`RunConfig.validate()`, so a command line and a config.json are refused with the same sentence.
Standard library only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import types
import typing

from training.core.config import CHOICES, RunConfig

# The groups of `training.train --help`; a field named in none of them lands in "other settings".
GROUPS = {
    "model": ("model", "units", "num_layers", "dropout", "embedding_dim", "param_budget", "model_params"),
    "task": ("task", "task_params"),
    "training": ("optimizer", "learning_rate", "momentum", "clipnorm", "global_clipnorm", "clipvalue", "tbptt",
                 "batch_size", "epochs", "steps_per_epoch", "validation_steps", "seed", "strategy"),
    "gradient recording": ("record_gradients", "gradient_every", "per_variable", "through_time_every", "probe_size",
                           "through_time", "curve_every", "curve_examples", "theory", "tensorboard"),
    "run": ("run_name",),
}
DICT_FLAGS = {"task_params": "--task-param", "model_params": "--model-param"}  # KEY=VALUE, repeatable
OWN_VALUES = {"task_params": "task's", "model_params": "builder's"}  # what a KEY left out takes


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """argparse's ArgumentDefaultsHelpFormatter without its "(default: None)" and "(default: False)":
    a default is appended only where the help text does not already say what the default is."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default:" in text.lower() or action.default is None or action.default is False \
                or action.default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def field_help(cls=RunConfig) -> dict[str, str]:
    """{field: its sentence} from the `Args:` section of the dataclass's docstring."""
    entries, name = {}, None
    lines = (cls.__doc__ or "").split("Args:", 1)[-1].splitlines()
    for line in lines:
        match = re.match(r"^\s*(\w+): (.*)$", line)
        if match and match.group(1) in {f.name for f in dataclasses.fields(cls)}:
            name = match.group(1)
            entries[name] = match.group(2).strip()
        elif name and line.strip():
            entries[name] += " " + line.strip()
    return entries


def flag_name(field: str) -> str:
    return DICT_FLAGS.get(field, "--" + field.replace("_", "-"))


# Python's spellings of JSON's true, false and null: `use_causal_mask=False` was once kept as the string
# "False", which is truthy, so the mask stayed on without a word.
PYTHON_LITERALS = {"True": True, "False": False, "None": None}


def key_value(text: str) -> tuple[str, object]:
    """KEY=VALUE -> (key, the value as JSON, or True/False/None as Python spells them, else the plain
    string)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if value.strip() in PYTHON_LITERALS:
        return key.strip(), PYTHON_LITERALS[value.strip()]
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a plain string (a corpus path, a TFDS name ...)
    return key.strip(), value


def _scalar_type(annotation):
    """int for `int` and `int | None`, and so on."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [k for k in typing.get_args(annotation) if k is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else str
    return annotation


def _shown(value) -> str:
    return "not set" if value is None else str(value)


def add_field_flags(group, names, defaults: dict | None = None, helps: dict | None = None, cls=RunConfig) -> None:
    """Add one flag per RunConfig field in `names` to an argparse parser or group.

    Args:
        group: the parser or argument group.
        names: RunConfig field names.
        defaults: the default to show for a field (RunConfig's own when absent). The flag's parsed
            default stays argparse's (SUPPRESS or None): the command decides what a flag left out means.
        helps: help text that replaces the docstring's for a field.
        cls: the dataclass of the fields.

    Raises:
        ValueError: a field without a line in the docstring's Args (every flag has its help).
    """
    hints = typing.get_type_hints(cls)
    sentences = {**field_help(cls), **(helps or {})}
    shown = {**dataclasses.asdict(cls()), **(defaults or {})}
    for name in names:
        text = sentences.get(name)
        if not text:
            raise ValueError(f"{cls.__name__} field {name!r} has no line in {cls.__name__}'s docstring Args: add one.")
        kind = _scalar_type(hints[name])
        if name in CHOICES:
            text += f" One of {', '.join(CHOICES[name])}."
        if name in DICT_FLAGS:
            group.add_argument(flag_name(name), dest=name, type=key_value, action="append", metavar="KEY=VALUE",
                               help=f"{text} (repeatable; default: the {OWN_VALUES[name]} own values)")
            continue
        if "default:" not in text.lower():  # "default, or mirrored" names a choice, not the default
            text += f" (default: {_shown(shown[name])})"
        if kind is bool:
            group.add_argument(flag_name(name), dest=name, action=argparse.BooleanOptionalAction, help=text)
        else:
            group.add_argument(flag_name(name), dest=name, type=kind, help=text,
                               metavar={int: "N", float: "X"}.get(kind, name.upper()))


def add_run_config_flags(parser: argparse.ArgumentParser) -> None:
    """Every RunConfig field as a flag, in the groups of `GROUPS`."""
    names = RunConfig.field_names()
    placed = set()
    for title, fields in GROUPS.items():
        add_field_flags(parser.add_argument_group(title), [f for f in fields if f in names])
        placed.update(fields)
    rest = [f for f in names if f not in placed]
    if rest:
        add_field_flags(parser.add_argument_group("other settings"), rest)
