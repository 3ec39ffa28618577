"""The model registry: every architecture of the zoo is a builder function registered under a key.

    @register_model("lstm", display="LSTM", family="recurrent", ...)
    def lstm(common, /, *, forget_bias=1.0, ...):   # common: CommonArgs; then the LSTM's own arguments
        ...

    model = build_model("lstm", vocabulary_size=65, output="per_step", causal=True, units=256)

The arguments every builder shares (the task's side of the contract and the shared hyperparameters) are
declared and documented once, as the fields of `CommonArgs`; a builder receives them as one `CommonArgs`
value and declares only its own arguments, keyword-only with their defaults. `build_model` checks the
shared arguments (sizes, output kind, causality) and refuses unknown ones before anything is built, so
a mistake costs one clear `ValueError`, not a half-built graph. `register_model` also records what
reports say about a model (its name in prose, its family, its gate bias, its default initialization in
words), so no report has to know model names. Adding an architecture is one file with a registered
builder plus one import line in `zoo/__init__.py`; a variant is `register_variant` (a `functools.partial`
of a registered builder).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import math
from typing import Callable

import keras

log = logging.getLogger(__name__)

PER_STEP = "per_step"  # logits (batch, time, classes)
LAST_CLASS = "last_class"  # logits (batch, classes), read at the last step
LAST_VALUE = "last_value"  # (batch, 1), one number read at the last step
OUTPUT_KINDS = (PER_STEP, LAST_CLASS, LAST_VALUE)

FAMILIES = ("recurrent", "attention")


@dataclasses.dataclass(frozen=True)
class CommonArgs:
    """The arguments every builder takes: what training passes to every model (`spec.model_kwargs()` of
    the task plus the run's `units`, `num_layers`, `dropout` and `embedding_dim`). Declared and
    documented here once; a builder receives them as its first argument and names only its own.

    Args:
        vocabulary_size: number of token ids (required).
        output: what the head predicts: "per_step" (logits at every step), "last_class" (logits of a
            label read at the last step) or "last_value" (one number read at the last step).
        num_classes: logits per prediction; defaults to `vocabulary_size` (1 for "last_value").
        causal: the task is next-token prediction. A model that reads the future refuses it; attention
            then applies its causal mask; a unidirectional recurrent model is causal anyway.
        sequence_length: the task's sequence length, None when not known: T_max of chrono biases,
            the size of attention's position table.
        units: the model's width: the hidden state of a recurrent layer (each direction's for a
            bidirectional one), the residual stream of attention.
        num_layers: stacked layers (recurrent layers, or attention blocks).
        dropout: dropout rate between layers, never on the recurrent connection (Zaremba, Sutskever &
            Vinyals, 2014).
        embedding_dim: size of the token embedding; defaults to `units`.
        tbptt: truncated backpropagation through time (`zoo.tbptt`): the recurrent layers cut the
            gradient of their state every `tbptt` steps (forward values unchanged); None: full BPTT.
            Recurrent models only; smaller than `sequence_length`.
    """

    vocabulary_size: int
    output: str = PER_STEP
    num_classes: int | None = None
    causal: bool = False
    sequence_length: int | None = None
    units: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    embedding_dim: int | None = None
    tbptt: int | None = None

    @property
    def classes(self) -> int:
        """Width of the head: `num_classes`, else the vocabulary for classes and 1 for a value."""
        if self.output == LAST_VALUE:
            return 1
        return self.vocabulary_size if self.num_classes is None else self.num_classes

    @property
    def embedding_size(self) -> int:
        """`embedding_dim`, else `units`."""
        return self.embedding_dim or self.units


# Arguments every builder takes, in order, and the defaults of those that have one.
COMMON_ARGS = tuple(f.name for f in dataclasses.fields(CommonArgs))
COMMON_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(CommonArgs) if f.default is not dataclasses.MISSING
}


@dataclasses.dataclass(frozen=True)
class GateBias:
    """The gate whose bias a gated cell's builder sets, as reports name it. (Not the initializer
    `zoo.initializers.GateBias`, which puts the value into the bias vector.)

    Args:
        argument: the builder argument that sets it ("forget_bias").
        gate: the gate ("forget").
        default: the builder's default value of `argument` (1.0 for the LSTM: Keras's).
        words: the bias in prose ("forget-gate bias").
        keeps: what of its state one step keeps, as a formula with a few words, where that is not the gate
            itself ("1 - z: its update gate z writes the new candidate" for minGRU); "" (the default) when the
            gate is the fraction kept, as an LSTM's forget gate and Keras's GRU update gate are.
        retention: the fraction of the state one step keeps at a zero input, from the bias (`kept`); None
            (the default): the gate itself, sigmoid(bias).
    """

    argument: str
    gate: str
    default: float
    words: str
    keeps: str = ""
    retention: Callable[[float], float] | None = None

    def kept(self, bias: float) -> float:
        """The fraction of the state one step keeps at a zero input when the bias is `bias`."""
        return self.retention(bias) if self.retention is not None else sigmoid(bias)


def sigmoid(x: float) -> float:
    """The logistic function of a number (a gate's value at a zero input, from its bias)."""
    return 1.0 / (1.0 + math.exp(-x))


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a builder.

    Args:
        name: registry key.
        builder: the function that returns a `keras.Model`, called as `builder(CommonArgs(...), **own)`;
            for a variant a `functools.partial` of its base's builder.
        sees_future: True when the model reads tokens after step t to produce step t's output
            (Bidirectional models always; attention only without its causal mask). Such a model would
            read the answer of a next-token task, so `build_model` refuses `causal=True` for it.
        summary: first line of the builder's docstring.
        display: the model's name in prose ("tanh RNN", "LSTM", "bidirectional GRU", "self-attention").
        family: one of `FAMILIES`: "recurrent" or "attention".
        gate_bias: for a gated cell the gate whose bias its builder sets (`GateBias`); None otherwise.
        default_bias_words: the biases at the builder's defaults in words ("forget-gate bias 1", "zero bias").
        recurrent_kernel_words: the default recurrent kernel in words ("orthogonal", "identity"); "" for a
            model without a recurrent kernel.
        initialization: the initialization the builder uses by default, in words (for reports).
        base: for a variant registered with `register_variant`, the key of the builder it fixes
            arguments of (`bidirectional_lstm` -> `lstm`); None for an architecture of its own.
    """

    name: str
    builder: Callable[..., keras.Model]
    sees_future: bool | Callable[[dict], bool]
    summary: str
    display: str
    family: str
    default_bias_words: str
    recurrent_kernel_words: str
    gate_bias: GateBias | None = None
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
    def own_parameters(self) -> tuple[str, ...]:
        """The builder's own arguments (after the `CommonArgs`)."""
        return tuple(p.name for p in _own_parameters(self.builder))

    @property
    def parameters(self) -> tuple[str, ...]:
        """Every argument `build_model(name, ...)` accepts: `COMMON_ARGS`, then the builder's own."""
        return COMMON_ARGS + self.own_parameters

    @property
    def defaults(self) -> dict:
        """The arguments that have a default, with it: the shared ones', then the builder's own (a
        variant's fixed values included)."""
        own = {p.name: p.default for p in _own_parameters(self.builder) if p.default is not inspect.Parameter.empty}
        return {**COMMON_DEFAULTS, **own}

    def build(self, **kwargs) -> keras.Model:
        """Call the builder: the shared arguments as one `CommonArgs`, the rest as its own keywords.
        Checks nothing (`build_model` checks first)."""
        common = CommonArgs(**{k: v for k, v in kwargs.items() if k in COMMON_ARGS})
        return self.builder(common, **{k: v for k, v in kwargs.items() if k not in COMMON_ARGS})


def _own_parameters(builder) -> list[inspect.Parameter]:
    """The keyword-only parameters of a builder `(common, /, *, ...)`."""
    return [p for p in inspect.signature(builder).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]


def _check_builder(name: str, fn) -> None:
    """A builder takes the `CommonArgs` first, then only keyword-only arguments of its own."""
    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        raise TypeError(f"The builder of {name!r} must take the shared arguments first: def {name}(common, /, *, ...).")
    bad = [p.name for p in params[1:] if p.kind is not inspect.Parameter.KEYWORD_ONLY or p.name in COMMON_ARGS]
    if bad:
        raise TypeError(
            f"The builder of {name!r} must declare only its own arguments, keyword-only after `*` (not the shared "
            f"ones of CommonArgs, which it receives as its first argument): {', '.join(bad)}."
        )


def _check_metadata(name: str, fn, family: str, gate_bias: GateBias | None) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family of {name!r} must be one of {', '.join(FAMILIES)}, got {family!r}.")
    if gate_bias is not None:
        own = {p.name: p.default for p in _own_parameters(fn)}
        if own.get(gate_bias.argument, None) != gate_bias.default:
            raise ValueError(
                f"gate_bias of {name!r} names argument {gate_bias.argument!r} with default {gate_bias.default!r}; "
                f"the builder's default is {own.get(gate_bias.argument, 'missing')!r}."
            )


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str, *, display: str, family: str, default_bias_words: str, recurrent_kernel_words: str,
                   gate_bias: GateBias | None = None, sees_future: bool | Callable[[dict], bool] = False,
                   initialization: str = "Keras defaults"):
    """Decorator that registers a builder `fn(common, /, *, own arguments...)` under `name` (a snake_case
    key, named like its file), with what reports need to know about the model (see `ModelInfo`).

    Args:
        display: the model's name in prose ("LSTM").
        family: "recurrent" or "attention".
        default_bias_words: the biases at the defaults in words ("forget-gate bias 1", "zero bias").
        recurrent_kernel_words: the default recurrent kernel in words ("orthogonal"; "" if none).
        gate_bias: a gated cell's `GateBias` (its argument must be the builder's, with that default).
        sees_future: True, or a function of the builder's arguments (defaults filled in), when the model
            reads tokens after step t (see `ModelInfo`).
        initialization: the builder's default initialization in words, as reports state it.
    """

    def decorator(fn):
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _check_builder(name, fn)
        _check_metadata(name, fn, family, gate_bias)
        doc = inspect.getdoc(fn) or ""
        _REGISTRY[name] = ModelInfo(
            name=name,
            builder=fn,
            sees_future=sees_future,
            summary=doc.splitlines()[0] if doc else "",
            display=display,
            family=family,
            default_bias_words=default_bias_words,
            recurrent_kernel_words=recurrent_kernel_words,
            gate_bias=gate_bias,
            initialization=initialization,
        )
        return fn

    return decorator


_INHERIT = object()


def register_variant(name: str, base: str, summary: str, *, display: str, family=_INHERIT, gate_bias=_INHERIT,
                     default_bias_words=_INHERIT, recurrent_kernel_words=_INHERIT, initialization=_INHERIT,
                     **fixed):
    """Registers `functools.partial(<base's builder>, **fixed)` under `name`: a variant that fixes some
    arguments of a registered builder (`bidirectional=True`). `inspect.signature` of the partial keeps
    the base's arguments, so arguments are validated as for the base; it inherits the base's
    `sees_future` (evaluated with the fixed values) and every report field not given here (`display`
    must be given: a variant has a name of its own). Returns the partial."""
    if name in _REGISTRY:
        raise ValueError(f"A model named {name!r} is already registered.")
    info = get_model_info(base)
    unknown = sorted(set(fixed) - set(info.own_parameters))
    if unknown:
        raise ValueError(f"Variant {name!r} fixes {', '.join(unknown)}, which {base!r} does not take.")
    builder = functools.partial(info.builder, **fixed)
    given = dict(family=family, gate_bias=gate_bias, default_bias_words=default_bias_words,
                 recurrent_kernel_words=recurrent_kernel_words, initialization=initialization)
    overrides = {k: v for k, v in given.items() if v is not _INHERIT}
    variant = dataclasses.replace(info, name=name, builder=builder, summary=summary, display=display, base=base,
                                  **overrides)
    _check_metadata(name, builder, variant.family, variant.gate_bias)
    _REGISTRY[name] = variant
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
    output = kwargs.get("output", COMMON_DEFAULTS["output"])
    if output not in OUTPUT_KINDS:
        raise ValueError(f"output must be one of {', '.join(OUTPUT_KINDS)}, got {output!r}.")
    if kwargs.get("num_classes") is not None:
        _check_positive_int("num_classes", kwargs["num_classes"], minimum=1 if output == LAST_VALUE else 2)
        if output == LAST_VALUE and kwargs["num_classes"] != 1:
            raise ValueError("output='last_value' predicts one number: num_classes must be 1 or left out.")
    for arg in ("units", "num_layers", "embedding_dim", "sequence_length"):
        if kwargs.get(arg) is not None:
            _check_positive_int(arg, kwargs[arg])
    dropout = kwargs.get("dropout", COMMON_DEFAULTS["dropout"])
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}.")
    from zoo.bptt import IMPLEMENTATIONS

    if kwargs.get("implementation", "auto") not in IMPLEMENTATIONS:
        raise ValueError(
            f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {kwargs['implementation']!r}."
        )
    check_causality(name, kwargs)
    check_truncation(name, kwargs)
    return info


def check_truncation(name: str, kwargs: dict) -> None:
    """Refuse `tbptt` (truncated BPTT) for a model without a recurrent state, or one not below the
    sequence length (`kwargs`: the builder arguments)."""
    from zoo.tbptt import check_tbptt

    tbptt = kwargs.get("tbptt")
    if tbptt is None:
        return
    if get_model_info(name).family != "recurrent":
        recurrent = [m for m in list_models() if _REGISTRY[m].family == "recurrent"]
        raise ValueError(
            f"{name} has no recurrent state to carry from window to window, so truncated BPTT (tbptt) does not "
            f"apply to it; leave tbptt out, or choose a recurrent model ({', '.join(recurrent)})."
        )
    check_tbptt(tbptt, kwargs.get("sequence_length"))


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
        **kwargs: the shared arguments (`CommonArgs`: the task's `vocabulary_size`, `output`,
            `num_classes`, `causal`, `sequence_length`; `units`, `num_layers`, `dropout`, `embedding_dim`)
            and the builder's own (initializers, ...; see its docstring).

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
    return info.build(**kwargs)


def fit_param_budget(name: str, param_budget: int, **kwargs) -> tuple[int, int]:
    """The width (`units`) whose model comes closest to `param_budget` parameters, and that count.

    The parameter count grows monotonically with `units` for every builder, so the width is found by
    doubling and then bisection over real builds (no per-architecture formula to keep in sync). This is
    how SimpleRNN, LSTM, GRU and attention are compared at equal size (Chung et al., 2014).
    """
    _check_positive_int("param_budget", param_budget)
    validate_arguments(name, {**kwargs, "units": 1})

    def count(units):
        return get_model_info(name).build(**{**kwargs, "units": units}).count_params()

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
