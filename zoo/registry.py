"""The model registry: every architecture of the zoo is a builder function registered under a key.

    @register_model("lstm")
    def lstm(*, vocabulary_size, output, num_classes, causal, units=128, ...): ...

    model = build_model("lstm", vocabulary_size=65, output="per_step", causal=True)

`build_model` checks the arguments every builder shares (sizes, output kind, causality) before anything
is built, so a mistake costs one clear `ValueError`, not a half-built graph. Adding an architecture is one
file with a registered builder plus one import line in `zoo/__init__.py`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
from typing import Callable

import keras

log = logging.getLogger(__name__)

PER_STEP = "per_step"  # logits (batch, time, classes)
LAST_CLASS = "last_class"  # logits (batch, classes), read at the last step
LAST_VALUE = "last_value"  # (batch, 1), one number read at the last step
OUTPUT_KINDS = (PER_STEP, LAST_CLASS, LAST_VALUE)

# Arguments every builder takes (the task's side of the contract plus the shared hyperparameters).
COMMON_ARGS = (
    "vocabulary_size",
    "output",
    "num_classes",
    "causal",
    "sequence_length",
    "units",
    "num_layers",
    "dropout",
    "embedding_dim",
)


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a builder.

    Args:
        name: registry key.
        builder: the function that returns a `keras.Model`.
        sees_future: True when the model reads tokens after step t to produce step t's output
            (Bidirectional models always; attention only without its causal mask). Such a model would
            read the answer of a next-token task, so `build_model` refuses `causal=True` for it.
        summary: first line of the builder's docstring.
        initialization: the initialization the builder uses by default, in words (for reports).
        base: for a variant registered with `register_variant`, the key of the builder it fixes
            arguments of (`bidirectional_lstm` -> `lstm`); None for an architecture of its own.
    """

    name: str
    builder: Callable[..., keras.Model]
    sees_future: bool | Callable[[dict], bool]
    summary: str
    initialization: str = "Keras defaults"
    base: str | None = None

    def reads_future(self, kwargs: dict) -> bool:
        """Whether the model built with `kwargs` (its defaults filled in) reads tokens after step t."""
        if callable(self.sees_future):
            return self.sees_future({**self.defaults, **kwargs})
        return bool(self.sees_future)

    @property
    def architecture(self) -> str:
        """The key of the architecture (the base builder of a variant)."""
        return self.base or self.name

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(inspect.signature(self.builder).parameters)

    @property
    def defaults(self) -> dict:
        """The builder's arguments that have a default, with it (a variant's fixed values included)."""
        return {
            name: p.default
            for name, p in inspect.signature(self.builder).parameters.items()
            if p.default is not inspect.Parameter.empty
        }


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, sees_future: bool | Callable[[dict], bool] = False,
                   initialization: str = "Keras defaults"):
    """Decorator that registers a builder under `name` (a snake_case key, named like its file).

    Args:
        sees_future: True, or a function of the builder's arguments (defaults filled in), when the model
            reads tokens after step t (see `ModelInfo`).
        initialization: the builder's default initialization in words, as reports state it.
    """

    def decorator(fn):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        doc = inspect.getdoc(fn) or ""
        _REGISTRY[name] = ModelInfo(name, fn, sees_future, doc.splitlines()[0] if doc else "", initialization)
        return fn

    return decorator


def register_variant(name: str, base: str, summary: str, **fixed):
    """Registers `functools.partial(<base's builder>, **fixed)` under `name`: a variant that fixes some
    arguments of a registered builder (`bidirectional=True`). `inspect.signature` of the partial keeps
    the base's arguments, so arguments are validated as for the base; it inherits the base's
    `sees_future` (evaluated with the fixed values) and initialization. Returns the partial."""
    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered.")
    info = get_model_info(base)
    builder = functools.partial(info.builder, **fixed)
    _REGISTRY[name] = ModelInfo(name, builder, info.sees_future, summary, info.initialization, base=base)
    return builder


def reads_backwards(kwargs: dict) -> bool:
    """`sees_future` of the recurrent builders: a bidirectional layer reads the sequence backwards too."""
    return bool(kwargs.get("bidirectional"))


def list_models() -> list[str]:
    """The registry keys, sorted."""
    return sorted(_REGISTRY)


def architectures() -> list[str]:
    """The keys of the architectures (variants left out), in the order they were registered."""
    return [name for name, info in _REGISTRY.items() if info.base is None]


def get_model_info(name: str) -> ModelInfo:
    """The registry entry for `name`; an unknown name is answered with the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown model {name!r}; choose one of: {', '.join(list_models())}.")
    return _REGISTRY[name]


def _check_positive_int(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def validate_arguments(name: str, kwargs: dict) -> ModelInfo:
    """Check the arguments of `build_model(name, **kwargs)` without building anything."""
    info = get_model_info(name)
    accepted = info.parameters
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(
            f"Model {name!r} takes no argument(s) {', '.join(unknown)}; it accepts: {', '.join(accepted)}."
        )
    if "vocabulary_size" not in kwargs:
        raise ValueError(f"build_model({name!r}, ...) needs vocabulary_size (the number of token ids).")
    _check_positive_int("vocabulary_size", kwargs["vocabulary_size"], minimum=2)
    output = kwargs.get("output", PER_STEP)
    if output not in OUTPUT_KINDS:
        raise ValueError(f"output must be one of {', '.join(OUTPUT_KINDS)}, got {output!r}.")
    if kwargs.get("num_classes") is not None:
        _check_positive_int("num_classes", kwargs["num_classes"], minimum=1 if output == LAST_VALUE else 2)
        if output == LAST_VALUE and kwargs["num_classes"] != 1:
            raise ValueError("output='last_value' predicts one number: num_classes must be 1 or left out.")
    for arg in ("units", "num_layers", "embedding_dim", "sequence_length"):
        if kwargs.get(arg) is not None:
            _check_positive_int(arg, kwargs[arg])
    dropout = kwargs.get("dropout", 0.0)
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}.")
    from zoo.bptt import IMPLEMENTATIONS

    if kwargs.get("implementation", "auto") not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {kwargs['implementation']!r}."
        )
    check_causality(name, kwargs)
    return info


def check_causality(name: str, kwargs: dict) -> None:
    """Refuse a model that reads the future (`kwargs` its builder arguments) on a next-token task."""
    if not (kwargs.get("causal") and get_model_info(name).reads_future(kwargs)):
        return
    info = get_model_info(name)
    why = (
        "it reads the sequence backwards as well as forwards"
        if {**info.defaults, **kwargs}.get("bidirectional")
        else "without the causal mask it attends to every position"
    )
    causal_models = [m for m in list_models() if not _REGISTRY[m].reads_future({"causal": True})]
    raise ValueError(
        f"{name} cannot be trained on a next-token task: {why}, so at step t it would read the token it "
        f"must predict; choose a causal model ({', '.join(causal_models)}) or a task whose target is not the next token."
    )


def build_model(name: str, *, param_budget: int | None = None, **kwargs) -> keras.Model:
    """Build the registered model `name` with the given arguments.

    Args:
        name: a key of `list_models()`.
        param_budget: when given, `units` is chosen as the width whose parameter count comes closest to
            this number (see `fit_param_budget`); `units` must then be left out.
        **kwargs: the builder's arguments: the task's `vocabulary_size`, `output`, `num_classes`, `causal`,
            `sequence_length`, and the model's hyperparameters (`units`, `num_layers`, `dropout`,
            `embedding_dim`, initializers ...). See each builder's docstring.

    Returns:
        A functional `keras.Model`: int32 token ids (batch, time) in, logits (batch, time, classes),
        (batch, classes) or (batch, 1) out, according to `output`.
    """
    if param_budget is not None:
        if "units" in kwargs:
            raise ValueError("Give either units or param_budget, not both: the budget chooses the width.")
        units, _ = fit_param_budget(name, param_budget, **kwargs)
        kwargs["units"] = units
    info = validate_arguments(name, kwargs)
    return info.builder(**kwargs)


def fit_param_budget(name: str, param_budget: int, **kwargs) -> tuple[int, int]:
    """The width (`units`) whose model comes closest to `param_budget` parameters, and that count.

    The parameter count grows monotonically with `units` for every builder, so the width is found by
    doubling and then bisection over real builds (no per-architecture formula to keep in sync). This is
    how SimpleRNN, LSTM, GRU and attention are compared at equal size (Chung et al., 2014).
    """
    _check_positive_int("param_budget", param_budget)
    validate_arguments(name, {**kwargs, "units": 1})

    def count(units):
        return get_model_info(name).builder(**{**kwargs, "units": units}).count_params()

    smallest = count(1)
    if param_budget <= smallest:
        raise ValueError(
            f"param_budget={param_budget} is below the smallest {name} with these arguments "
            f"({smallest} parameters at units=1); raise the budget or shrink the vocabulary/embedding."
        )
    lo, hi = 1, 2
    counts = {1: smallest}
    while (counts.setdefault(hi, count(hi))) < param_budget:
        lo, hi = hi, hi * 2
        if hi > 1 << 16:
            raise ValueError(f"param_budget={param_budget} needs more than 65536 units; choose a smaller budget.")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        counts[mid] = count(mid)
        if counts[mid] < param_budget:
            lo = mid
        else:
            hi = mid
    units = min((lo, hi), key=lambda u: (abs(counts[u] - param_budget), u))
    log.info("param_budget %d -> %s with units=%d (%d parameters)", param_budget, name, units, counts[units])
    return units, counts[units]
