"""Type checks for a dataclass of settings read from JSON: `"record_gradients": "false"` is a string,
not a boolean, and is refused instead of being taken as true.

    check_types(RunConfig, {"record_gradients": "false"}, source="Config file run.json")
    -> ValueError: Config file run.json: record_gradients must be true or false, got the string 'false'.

The rules follow the field annotations: `bool` takes only true/false; `int` takes whole numbers but no
booleans (JSON `1.0` is refused as a float); `float` takes any number but no booleans; `str`, `dict`
and `list` take only their own kind; `X | None` also takes null.
"""

from __future__ import annotations

import dataclasses
import types
import typing

_KIND_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string", dict: "a JSON object",
               list: "a JSON list"}


def _describe(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, (list, tuple)):
        return "a JSON list"
    return f"a {type(value).__name__}"


def _accepts(kind, value) -> bool:
    if kind is typing.Any:
        return True
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    origin = typing.get_origin(kind) or kind
    return isinstance(value, origin) if isinstance(origin, type) else True


def _alternatives(annotation) -> tuple:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def check_value(name: str, annotation, value) -> str | None:
    """None when `value` fits `annotation`, else the sentence (without its source) that says why not."""
    kinds = _alternatives(annotation)
    if any(_accepts(kind, value) for kind in kinds):
        return None
    wanted = [_KIND_NAMES.get(typing.get_origin(k) or k, getattr(k, "__name__", str(k))) for k in kinds if k is not type(None)]
    if type(None) in kinds:
        wanted.append("null (left out)")
    return f"{name} must be {' or '.join(wanted)}, got {_describe(value)}."


def check_types(cls, data: dict, source: str = "config") -> None:
    """Raise one ValueError for the first setting in `data` whose value does not fit its field's type."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in data:
            problem = check_value(field.name, hints[field.name], data[field.name])
            if problem:
                raise ValueError(f"{source}: {problem}")
