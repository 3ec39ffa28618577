"""The task registry: every task of rnn-zoo behind one call, `load_task(name, split, batch_size, seed)`.

A task is a small class registered under a snake_case key with `@register_task("key")` (the registry
pattern of timm's `@register_model`): adding a task is one file plus one import line in
`datasets/__init__.py`. Every task answers the same two questions:

- `spec(params)`: what the task is, as a `TaskSpec` of plain values (no data is built);
- `dataset(split, batch_size, seed, params, spec)`: the batched `tf.data.Dataset` of
  `(inputs, targets)` or `(inputs, targets, sample_weights)`.

Parameters are declared once, as class-level defaults; `load_task` fills the defaults in, refuses
unknown names, converts command-line strings to the type of the default ("100" -> 100), and lets the
task check the values before any data is built, so that a bad value is one `ValueError` sentence.
"""

from __future__ import annotations

import numbers


from datasets.spec import TaskSpec

SPLITS = ("train", "validation", "test")

_TASKS: dict[str, type["Task"]] = {}


class Task:
    """Base class of a registered task.

    Subclasses set `defaults` (every parameter with its default value), `param_types` for the
    parameters whose default is None (so a string from the command line can be converted), and
    implement `check`, `spec` and `dataset`.
    """

    name: str = ""
    defaults: dict = {}
    param_types: dict = {}
    # True for next-token tasks: known before any data is read, so a model that would read the
    # answer can be refused at once (the spec's `causal` says the same).
    causal: bool = False
    # The metric the task is judged by in a comparison (a name in the spec's metrics, or "nll" for the
    # loss in nats where accuracy says little).
    primary_metric: str = "accuracy"

    # ------------------------------------------------------------------ parameters
    def resolve(self, params: dict) -> dict:
        """Defaults filled in, types converted, values checked; raises ValueError on bad input."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise ValueError(
                f"task {self.name!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {known}."
            )
        resolved = {}
        for key, default in self.defaults.items():
            value = params.get(key, default)
            kind = self.param_types.get(key, type(default) if default is not None else str)
            resolved[key] = _convert(self.name, key, value, kind, nullable=default is None)
        self.check(resolved)
        return resolved

    def check(self, params: dict) -> None:
        """Raises a one-sentence ValueError when `params` cannot make this task."""

    # ------------------------------------------------------------------ the task itself
    def spec(self, params: dict) -> TaskSpec:
        raise NotImplementedError

    def sequence_length(self, params: dict) -> int | None:
        """The length of every sequence for resolved `params`, known before any data is read (None: not
        known until the data is)."""
        return None

    def dataset(self, split: str, batch_size: int, seed: int, params: dict, spec: TaskSpec) -> tf.data.Dataset:
        raise NotImplementedError


def _convert(task: str, key: str, value, kind: type, nullable: bool):
    """A parameter value converted to `kind`; strings from a command line are parsed."""
    if value is None or (nullable and isinstance(value, str) and value.strip().lower() in ("", "none")):
        if nullable:
            return None
        raise ValueError(f"parameter {key!r} of task {task!r} needs a value, got None.")
    try:
        if kind is bool:
            if isinstance(value, str):
                lowered = value.strip().lower()
                if lowered in ("1", "true", "yes", "on"):
                    return True
                if lowered in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            if isinstance(value, (bool, int)) and int(value) in (0, 1):
                return bool(value)
            raise ValueError
        if kind is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, str):
                return int(value.strip())
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            return str(value)
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"parameter {key!r} of task {task!r} must be {kind.__name__}, got {value!r}."
        ) from None


# ---------------------------------------------------------------------- registry
def register_task(name: str):
    """Class decorator: registers a `Task` subclass under `name`."""

    def decorator(cls):
        if name in _TASKS:
            raise ValueError(f"task {name!r} is registered twice.")
        cls.name = name
        _TASKS[name] = cls
        return cls

    return decorator


def list_tasks() -> list[str]:
    """The registered task names, sorted."""
    return sorted(_TASKS)


def get_task(name: str) -> Task:
    """The registered task `name`; an unknown name is answered with the known ones."""
    if name not in _TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks are: {', '.join(list_tasks())}.")
    return _TASKS[name]()


def task_defaults(name: str) -> dict:
    """The parameters of task `name` with their default values."""
    return dict(get_task(name).defaults)


def get_spec(name: str, **params) -> TaskSpec:
    """The `TaskSpec` of a task without building a pipeline.

    Synthetic tasks need no data at all; text tasks read their training split (cached within the
    process) because the vocabulary and the chance baseline come from it.
    """
    task = get_task(name)
    return task.spec(task.resolve(params))


def load_task(name: str, split: str = "train", batch_size: int = 64, seed: int = 0, **params):
    """A task's batched dataset and its spec.

    Args:
        name: a key of `list_tasks()`.
        split: "train" (an endless stream: pass `steps_per_epoch=spec.steps_per_epoch(batch_size)`
            to `fit`), "validation" or "test" (finite, fixed, the same for every `seed`).
        batch_size: examples per batch.
        seed: seed of the training stream (which examples, in which order). Validation and test
            sets do not depend on it, so every run is evaluated on the same examples.
        **params: task parameters (see `task_defaults(name)`); strings are converted.

    Returns:
        `(dataset, spec)`: `dataset` yields `(inputs, targets)`, or
        `(inputs, targets, sample_weights)` when `spec.sample_weighted`; inputs are int32 token
        ids `(batch, spec.sequence_length)`.
    """
    task = get_task(name)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    batch_size, seed = int(batch_size), int(seed)
    resolved = task.resolve(params)
    spec = task.spec(resolved)
    return task.dataset(split, batch_size, seed, resolved, spec), spec
