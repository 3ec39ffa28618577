"""What `python -m training.compare` trains: the `seed-problems` suite and grids of models x tasks.

A sweep is a list of experiments; an experiment is a list of planned runs that share one task stream
(the same task parameters and seeds, hence the same examples in the same order: `datasets` makes the
training stream a pure function of the task parameters and the seed), one budget (optimizer steps,
not seconds) and, on request, one parameter count (`param_budget`). Each planned run is an ordinary
`RunConfig` plus the labels the report groups by.

The `seed-problems` suite reproduces the classic problems of recurrent networks side by side:

    vanishing     ||dL_T/dx_t|| against the lag T - t, at initialisation and after training
                  (Bengio, Simard & Frasconi, 1994; Hochreiter, 1991)
    exploding     plain SGD, recurrent gain 1.0 / 1.5 / 2.0, with and without global_clipnorm=1
                  (Pascanu, Mikolov & Bengio, 2013)
    long_term     accuracy against the gap on `recall`, and `adding` against its baseline
                  (Hochreiter & Schmidhuber, 1997; Le, Jaitly & Hinton, 2015)
    unidirectional  `future_cloze`: causal models against bidirectional ones and unmasked attention
                  (Schuster & Paliwal, 1997)
    char_lm       next-character prediction on Tiny Shakespeare (Karpathy, 2015; Graves, 2013)

Initialization decides many of these outcomes (an orthogonal recurrent kernel keeps a SimpleRNN's
gradient nearly flat at the start; a forget-gate bias of 1 makes an LSTM forget within a few steps), so
every experiment runs each architecture at Keras's defaults *and* with the classic glorot-uniform
recurrent kernel, and the gated cells also with gate biases that start with long memory (forget/update
bias 3, chrono initialization of Tallec & Ollivier, 2018). The `quick` budget trims sizes, steps and
variants for two CPU cores (aimed at 15 minutes; 19 measured, docs/results.md); what it left out is
recorded in the sweep and printed in the report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import re
from typing import Any

import zoo
from training.core.config import RunConfig
from training.core.rules import SOLVED_ACCURACY
from training.sweep import kinds

SUITES = ("seed-problems",)
BUDGETS = ("quick", "standard", "full", "smoke")
DEFAULT_CORPUS_DIR = pathlib.Path(__file__).resolve().parents[3] / "shared" / "corpora" / "tiny_shakespeare"
SAMPLE_PROMPT = "ROMEO:"


# ----------------------------------------------------------------------------------------------- plan
@dataclasses.dataclass(frozen=True)
class Variant:
    """One architecture at one initialization.

    Args:
        model: zoo registry key.
        setting: short key of the initialization ("default", "glorot", "forget_bias_3", "chrono", ...).
        initialization: the initialization in words, for the report.
        model_params: builder arguments that make this initialization.
    """

    model: str
    setting: str
    initialization: str
    model_params: dict = dataclasses.field(default_factory=dict)
    name: str | None = None  # a label chosen by the user (grids)

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        return self.model if self.setting == "default" else f"{self.model} [{self.setting}]"


@dataclasses.dataclass
class PlannedRun:
    """One training run of a sweep: its config and the labels the report groups it by."""

    id: str
    experiment: str
    model: str
    setting: str
    label: str
    initialization: str
    task: str
    task_params: dict
    seed: int
    config: dict
    extra: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Experiment:
    """A group of runs the report shows together (one section, one table, its plots).

    Args:
        key: short name, also the prefix of its runs' folder names.
        title: section title.
        kind: how the report reads it, a name in `training.sweep.kinds`.
        question: what it measures, in one sentence (never its outcome).
        runs: the planned runs.
        settings: the budget in words and numbers (steps, batch, units, optimizer ...).
        omitted: variants or task values the `full` budget runs and this budget leaves out.
    """

    key: str
    title: str
    kind: str
    question: str
    runs: list = dataclasses.field(default_factory=list)
    settings: dict = dataclasses.field(default_factory=dict)
    omitted: list = dataclasses.field(default_factory=list)

    def meta(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "runs"}


# ------------------------------------------------------------------------------- initializations
_GATE = {"lstm": ("forget_bias", "forget-gate bias"), "gru": ("update_bias", "update-gate bias")}
_BIAS_WORDS = {"lstm": "forget-gate bias 1", "gru": "biases 0", "simple_rnn": "zero bias", "irnn": "zero bias"}


def _base(model: str) -> str:
    """The architecture of a zoo model (`bidirectional_lstm` -> `lstm`)."""
    try:
        return zoo.get_model_info(model).architecture
    except ValueError:  # refused with its reason when the plan is checked
        return model


def default_variant(model: str, **extra_params) -> Variant:
    """The builder's own initialization, in the words the zoo registers it with."""
    try:
        words = zoo.get_model_info(model).initialization
    except ValueError:
        words = "Keras defaults"
    return Variant(model, "default", words, dict(extra_params))


def glorot_variant(model: str, **extra_params) -> Variant:
    return Variant(
        model,
        "glorot",
        f"classic: glorot-uniform recurrent kernel (per gate block), {_BIAS_WORDS.get(_base(model), 'zero bias')}",
        {"recurrent_initializer": "glorot_uniform", **extra_params},
    )


def orthogonal_variant(model: str, **extra_params) -> Variant:
    """Each gate block its own orthogonal matrix with gain 1: against `glorot` one change (the kernel's
    distribution), against the default one change (how the orthogonal kernel is drawn)."""
    return Variant(
        model,
        "orthogonal",
        f"orthogonal recurrent kernel drawn per gate block (each block orthogonal, gain 1), "
        f"{_BIAS_WORDS.get(_base(model), 'zero bias')}",
        {"recurrent_initializer": "orthogonal", **extra_params},
    )


def gate_variant(model: str, value, **extra_params) -> Variant:
    """Forget-gate (LSTM) or update-gate (GRU) bias `value`, a number or "chrono"."""
    argument, words = _GATE[_base(model)]
    if value == "chrono":
        return Variant(
            model,
            "chrono",
            f"Keras's recurrent kernel, chrono {words} log U(1, T_max - 1), T_max = sequence length "
            "(Tallec & Ollivier, 2018)",
            {argument: "chrono", **extra_params},
        )
    return Variant(
        model, f"{argument}_{value:g}", f"Keras's recurrent kernel, {words} {value:g}",
        {argument: value, **extra_params}
    )


def gained_variant(model: str, gain: float, initializer: str | None = None) -> Variant:
    """The recurrent kernel scaled by `gain`: Keras's (orthogonal; identity for the IRNN) or `initializer`.
    Gain 1 with Keras's kernel is the default variant itself."""
    if initializer is None and gain == 1.0:
        return default_variant(model)
    if initializer is None:
        kernel = "identity" if model == "irnn" else "orthogonal"
        setting, params = f"gain_{gain:g}", {"recurrent_gain": gain}
    else:
        kernel = initializer.replace("_", "-")
        setting, params = f"{initializer}_gain_{gain:g}", {"recurrent_initializer": initializer, "recurrent_gain": gain}
    return Variant(model, setting, f"{kernel} recurrent kernel x {gain:g}", params)


def variant(spec: str, **extra_params) -> Variant:
    """A variant by name, "model:setting": setting "default", "glorot", "orthogonal" (per gate block),
    "gain_<g>", "forget_bias_<b>" / "update_bias_<b>", "chrono", or for attention "causal_mask" /
    "unmasked"."""
    model, _, setting = spec.partition(":")
    setting = setting or "default"
    if setting == "default":
        return default_variant(model, **extra_params)
    if setting == "glorot":
        return glorot_variant(model, **extra_params)
    if setting == "orthogonal":
        return orthogonal_variant(model, **extra_params)
    if setting == "chrono":
        return gate_variant(model, "chrono", **extra_params)
    if setting.startswith("gain_"):
        return gained_variant(model, float(setting[5:]))
    for argument in ("forget_bias_", "update_bias_"):
        if setting.startswith(argument):
            return gate_variant(model, float(setting[len(argument):]), **extra_params)
    if setting == "causal_mask":
        return _causal_attention(default_variant(model, **extra_params))
    if setting == "unmasked":
        return dataclasses.replace(default_variant(model, use_causal_mask=False, **extra_params), setting="unmasked",
                                   initialization=zoo.get_model_info(model).initialization + ", no causal mask")
    raise ValueError(f"Unknown variant {spec!r}.")


def init_variants(model: str, level: str, sequence_length: int | None = None, **extra_params) -> list[Variant]:
    """The initializations of `model` at `level`: "default" (Keras's only), "classic" (defaults and
    glorot), "bias" (defaults and gate bias 3), "gates" (classic plus gate bias 3), "all" (classic plus
    per-gate orthogonal, bias 3 and chrono)."""
    out = [default_variant(model, **extra_params)]
    base = _base(model)
    if level == "default" or base == "self_attention":
        return out
    if level == "bias":
        return out + ([gate_variant(model, 3.0, **extra_params)] if base in _GATE else [])
    out.append(glorot_variant(model, **extra_params))
    if base in _GATE and level in ("gates", "all"):
        if level == "all":
            out.append(orthogonal_variant(model, **extra_params))
        out.append(gate_variant(model, 3.0, **extra_params))
        if level == "all":
            out.append(gate_variant(model, "chrono", **extra_params))
    return out


# ------------------------------------------------------------------------------------------ budgets
# Everything a budget changes, per experiment: sizes, steps, seeds and the variants ("model:setting",
# see `variant`). The numbers behind each choice are in docs (design measurements: every quick setting
# separates the variants the issue names on 1-3 seeds).
_VANISHING_ALL = ["simple_rnn:gain_0.5", "simple_rnn:gain_0.8", "simple_rnn", "simple_rnn:gain_1.5",
                  "simple_rnn:glorot", "irnn", "irnn:glorot",
                  "lstm", "lstm:orthogonal", "lstm:glorot", "lstm:forget_bias_3", "lstm:chrono",
                  "gru", "gru:orthogonal", "gru:glorot", "gru:update_bias_3", "gru:chrono", "self_attention"]
_VANISHING_QUICK = [v for v in _VANISHING_ALL if v not in ("simple_rnn:glorot", "irnn:glorot", "self_attention")]
_LONG_ALL = ["simple_rnn", "simple_rnn:glorot", "irnn", "lstm", "lstm:orthogonal", "lstm:glorot",
             "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:orthogonal", "gru:glorot", "gru:update_bias_3",
             "gru:chrono", "self_attention:causal_mask"]
_LONG_QUICK = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:update_bias_3"]
_CAUSAL_UNI = ["simple_rnn", "lstm", "gru", "self_attention:causal_mask"]
_SEEING_UNI = ["bidirectional_simple_rnn", "bidirectional_lstm", "bidirectional_gru", "self_attention:unmasked"]
_CHAR_ALL = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "gru", "gru:update_bias_3", "self_attention"]

# Steps-to-solve thresholds (validation metric on the curve subset) and success over seeds.
SOLVE = {
    "recall": {"metric": "val_accuracy", "threshold": SOLVED_ACCURACY, "higher_is_better": True},
    "temporal_order": {"metric": "val_accuracy", "threshold": SOLVED_ACCURACY, "higher_is_better": True},
    "future_cloze": {"metric": "val_accuracy", "threshold": SOLVED_ACCURACY, "higher_is_better": True},
    "adding": {"metric": "val_loss", "threshold": 0.05, "higher_is_better": False},  # MSE; baseline 1/6
}


def _copy_solve(task_params: dict) -> dict:
    """copy_memory: solved at half the memoryless baseline (n ln a / (T + 2n) nats per step)."""
    n, a, t = task_params.get("num_symbols", 10), task_params.get("alphabet_size", 8), task_params["delay"]
    return {"metric": "val_loss", "threshold": 0.5 * n * math.log(a) / (t + 2 * n), "higher_is_better": False}


BUDGET_SETTINGS: dict[str, dict[str, Any]] = {
    "full": {
        "seeds": [0, 1, 2],
        "eval_size": 1000,
        "vanishing": dict(gap=100, units=64, batch_size=64, steps=1000, epochs=5, learning_rate=3e-3,
                          variants=_VANISHING_ALL),
        "exploding": dict(adding=dict(length=50, units=64, batch_size=64, steps=600, learning_rate=1e-2),
                          sgd=dict(gap=50, units=64, batch_size=64, steps=300, learning_rate=0.05,
                                   gains=[1.0, 1.5, 2.0], initializers=[None, "glorot_uniform"])),
        "long_term": dict(units=64, batch_size=64, learning_rate=3e-3, steps=2000, epochs=10, variants=_LONG_ALL,
                          tasks=[("recall", {"gap": 50}, {}), ("recall", {"gap": 100}, {}), ("recall", {"gap": 150}, {}),
                                 ("adding", {"length": 100}, {}),
                                 ("copy_memory", {"delay": 20, "num_symbols": 5}, {"learning_rate": 1e-2}),
                                 ("temporal_order", {"length": 100}, {})]),
        "unidirectional": dict(length=20, distance=5, answer_delay=2, units=64, batch_size=64, steps=1000, epochs=5,
                               learning_rate=3e-3),
        "char_lm": dict(seq_len=100, units=256, batch_size=64, steps=5000, epochs=20, learning_rate=2e-3,
                        validation_steps=None, sample_length=400, variants=_CHAR_ALL, seeds=[0, 1, 2]),
    },
    # At most an hour on two CPU cores, every variant.
    "standard": {
        "seeds": [0, 1, 2],
        "eval_size": 1000,
        "jobs": 3,  # as quick: 3 workers keep 2 cores busy (41 min 46 s at f78749b: docs/results.md)
        "vanishing": dict(gap=50, units=32, batch_size=32, steps=300, learning_rate=3e-3, variants=_VANISHING_ALL),
        "exploding": dict(adding=dict(length=50, units=64, batch_size=32, steps=300, learning_rate=1e-2),
                          sgd=dict(gap=50, units=64, batch_size=32, steps=60, learning_rate=0.05,
                                   gains=[1.0, 1.5, 2.0], initializers=[None])),
        "long_term": dict(units=32, batch_size=32, learning_rate=3e-3, steps=300, variants=_LONG_ALL,
                          tasks=[("recall", {"gap": 100}, {}), ("adding", {"length": 50}, {}),
                                 ("copy_memory", {"delay": 10, "num_symbols": 5},
                                  {"learning_rate": 1e-2, "units": 64, "steps": 400}),
                                 ("temporal_order", {"length": 60}, {"steps": 400})]),
        "unidirectional": dict(length=20, distance=5, answer_delay=2, units=32, batch_size=32, steps=150,
                               learning_rate=3e-3),
        "char_lm": dict(seq_len=64, units=128, batch_size=64, steps=3000, learning_rate=3e-3, validation_steps=10,
                        sample_length=200, variants=_CHAR_ALL, seeds=[0]),
    },
    # `make demo`: aimed at 15 minutes on two CPU cores (13 min 46 s measured at bfc4148 with three worker
    # processes reusing traced models; 17 min 37 s at ad8e661: docs/results.md), three seeds for the
    # synthetic experiments, 1,000 evaluation examples (binomial SE 0.01 at chance 1/8).
    "quick": {
        "seeds": [0, 1, 2],
        "eval_size": 1000,
        "jobs": 3,  # 3 workers on 2 cores: 17 min 37 s against 19 min 2 s with 2 (the same test metrics)
        "vanishing": dict(gap=50, units=32, batch_size=32, steps=200, learning_rate=3e-3, record_gradients=False,
                          variants=_VANISHING_QUICK),
        "exploding": dict(adding=dict(length=50, units=64, batch_size=32, steps=200, learning_rate=1e-2),
                          sgd=dict(gap=50, units=64, batch_size=32, steps=60, learning_rate=0.05,
                                   gains=[1.0, 2.0], initializers=[None])),
        "long_term": dict(units=32, batch_size=32, learning_rate=3e-3, steps=200, record_gradients=False,
                          through_time=False, variants=_LONG_QUICK,
                          tasks=[("recall", {"gap": 100}, {}), ("adding", {"length": 50}, {}),
                                 ("copy_memory", {"delay": 10, "num_symbols": 5},
                                  {"learning_rate": 1e-2, "units": 64, "steps": 400}),
                                 ("temporal_order", {"length": 60}, {"steps": 400})]),
        "unidirectional": dict(length=20, distance=5, answer_delay=2, units=32, batch_size=32, steps=100,
                               learning_rate=3e-3, record_gradients=False, through_time=False),
        "char_lm": dict(seq_len=64, units=128, batch_size=64, steps=2000, learning_rate=3e-3, validation_steps=10,
                        sample_length=200, record_gradients=False, through_time=False, variants=["lstm", "gru"],
                        seeds=[0]),
    },
    # A handful of steps on tiny models: checks the whole pipeline in seconds; its numbers mean nothing.
    "smoke": {
        "seeds": [0],
        "eval_size": 64,
        "vanishing": dict(gap=8, units=8, batch_size=16, steps=3, learning_rate=3e-3,
                          variants=["simple_rnn:gain_0.5", "simple_rnn", "irnn", "lstm", "lstm:orthogonal", "gru",
                                    "self_attention"]),
        "exploding": dict(adding=dict(length=10, units=8, batch_size=16, steps=3, learning_rate=1e-2),
                          sgd=dict(gap=8, units=8, batch_size=16, steps=3, learning_rate=0.05, gains=[1.0, 2.0],
                                   initializers=[None])),
        "long_term": dict(units=8, batch_size=16, learning_rate=3e-3, steps=3, variants=["simple_rnn", "lstm", "gru"],
                          tasks=[("recall", {"gap": 5}, {}), ("adding", {"length": 10}, {}),
                                 ("copy_memory", {"delay": 5, "num_symbols": 5}, {}),
                                 ("temporal_order", {"length": 12}, {})]),
        "unidirectional": dict(length=12, distance=3, answer_delay=2, units=8, batch_size=16, steps=3,
                               learning_rate=3e-3),
        "char_lm": dict(seq_len=16, units=8, batch_size=16, steps=3, learning_rate=3e-3, validation_steps=2,
                        sample_length=20, variants=["simple_rnn", "lstm", "gru"], seeds=[0]),
    },
}

CAUSAL_MODELS = ("simple_rnn", "irnn", "lstm", "gru", "self_attention")
BIDIRECTIONAL_MODELS = ("bidirectional_simple_rnn", "bidirectional_lstm", "bidirectional_gru")
EXPERIMENT_KEYS = ("vanishing", "exploding", "long_term", "unidirectional", "char_lm")
CURVE_POINTS = 20  # learning-curve points per run


def default_jobs(budget: str | None) -> int:
    """Worker processes a budget uses unless --jobs says otherwise (quick, standard: 3 on the 2-core machine: a run's
    fixed cost is mostly single-threaded tracing, and 2 workers kept only 1.64 cores busy)."""
    return int(BUDGET_SETTINGS.get(budget or "", {}).get("jobs", 1))


def run_id(experiment: str, variant_label: str, task: str, task_values: dict, seed: int) -> str:
    """A folder name: letters, digits, '.', '_' and '-' only."""
    values = "-".join(f"{k}{v:g}" if isinstance(v, (int, float)) else f"{k}{v}" for k, v in task_values.items())
    raw = "--".join(p for p in (experiment, variant_label, task + (f"-{values}" if values else ""), f"s{seed}") if p)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw.replace(" [", "-").replace("]", "")).strip("_")


def _config(model, task, task_params, model_params, seed, run_name, *, units, batch_size, steps, epochs=1,
            learning_rate, optimizer="adam", global_clipnorm=None, validation_steps=0, param_budget=None,
            through_time_every=0, record_gradients=True, curve_every=None, theory=False, tensorboard=False,
            through_time=True) -> dict:
    if steps % epochs:
        raise ValueError(f"steps ({steps}) must be a multiple of epochs ({epochs}) so every run has the same budget.")
    # validation_steps 0 (unless a budget or a grid asks for a pass): Keras's validation pass at the epoch ends is
    # left out, because the learning curve (CURVE_POINTS points on fixed validation examples) already measures
    # validation, and the pass's tracing was ~1 s of every short run's fixed cost.
    config = RunConfig(
        model=model,
        task=task,
        task_params=dict(task_params),
        model_params=dict(model_params),
        units=units,
        param_budget=param_budget,
        optimizer=optimizer,
        learning_rate=learning_rate,
        global_clipnorm=global_clipnorm,
        batch_size=batch_size,
        epochs=epochs,
        steps_per_epoch=steps // epochs,
        validation_steps=validation_steps,
        seed=seed,
        record_gradients=record_gradients,
        through_time_every=through_time_every,
        through_time=through_time,
        curve_every=max(steps // CURVE_POINTS, 1) if curve_every is None else curve_every,
        theory=theory,
        tensorboard=tensorboard,
        run_name=run_name,
    )
    return config.validate().to_dict()


def _runs(experiment: str, variants, task: str, task_params: dict, swept: dict, seeds, extra=None,
          **train) -> list[PlannedRun]:
    """One run per variant x seed on `task` (with `swept` the task values shown in run names)."""
    out = []
    for v in variants:
        for seed in seeds:
            rid = run_id(experiment, v.label, task, swept, seed)
            config = _config(v.model, task, task_params, v.model_params, seed, rid, **train)
            out.append(PlannedRun(rid, experiment, v.model, v.setting, v.label, v.initialization, task,
                                  dict(task_params), seed, config, extra=dict(extra or {})))
    return out


def _variants(models, levels: dict | str, sequence_length=None, **extra) -> list[Variant]:
    out = []
    for model in models:
        level = levels if isinstance(levels, str) else levels.get(_base(model), "default")
        out += init_variants(model, level, sequence_length, **extra)
    return out


def seed_problems(budget: str = "quick", corpus_dir=None, seeds=None, param_budget=None) -> list[Experiment]:
    """The five experiments of the `seed-problems` suite at `budget`.

    Args:
        budget: "quick" (`make demo`: aimed at 15 minutes on two CPU cores), "standard" (an hour, every variant),
            "full" (the real numbers) or "smoke" (a pipeline check whose numbers mean nothing).
        corpus_dir: the folder holding Tiny Shakespeare's `input.txt`, passed to `char_lm` as TFDS's
            `manual_dir`; the shared offline copy by default.
        seeds: override the budget's seeds.
        param_budget: give every model about this many parameters (its width is chosen to match).
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}.")
    b = BUDGET_SETTINGS[budget]
    seeds = list(seeds) if seeds else list(b["seeds"])
    eval_size = b["eval_size"]
    extra_train = {"param_budget": param_budget} if param_budget else {}
    experiments = []

    # 1. Vanishing gradients through time: the gain sweep of the tanh RNN and the gated cells' inits.
    s = b["vanishing"]
    task_params = {"gap": s["gap"], "eval_size": eval_size}
    e = Experiment(
        "vanishing",
        "Vanishing gradients through time",
        "through_time",
        f"How much gradient reaches the key of recall (gap {s['gap']}) at initialisation, how fast does "
        "||dL_T/dx_t|| fall with the lag (measured, and predicted by the recurrent Jacobian's spectral radius), "
        "and does the model then learn the task? A tanh RNN whose orthogonal recurrent kernel is scaled by a "
        "gain, and gated cells whose recurrent kernel or gate bias is changed one at a time.",
        settings={**_settings(s, "recall", task_params, seeds), "solve": SOLVE["recall"],
                  "theory": "zoo.dynamics: per-step recurrent Jacobian at initialisation"},
    )
    for v in [variant(name) for name in s["variants"]]:
        group = "tanh gain sweep" if v.model == "simple_rnn" and (v.setting.startswith("gain") or v.setting == "default") \
            else "gated cells: one change at a time" if v.model in ("lstm", "gru") else "references"
        gain = float(v.model_params.get("recurrent_gain", 1.0))
        e.runs += _runs(e.key, [v], "recall", task_params, {"gap": s["gap"]}, seeds,
                        extra={"group": group, "gain": gain, "solve": SOLVE["recall"]},
                        theory=True, **_train(s, extra_train))
    experiments.append(e)

    # 2. Exploding gradients and clipping.
    a, g = b["exploding"]["adding"], b["exploding"]["sgd"]
    e = Experiment(
        "exploding",
        "Exploding gradients and clipping",
        "exploding",
        f"Does global gradient clipping let an IRNN learn the adding problem (length {a['length']}, Adam, learning "
        f"rate {a['learning_rate']:g}) that it fails without? And with plain SGD (learning rate {g['learning_rate']:g}) "
        "on recall, how large does the gradient norm get when the recurrent kernel is scaled by a gain of "
        + ", ".join(f"{x:g}" for x in g["gains"]) + ", which runs diverge, and which only look solved (hidden-state "
        "overflow, saturated softmax, zero gradient: degenerate)?",
        settings={"adding (Adam)": {**a, "optimizer": "adam", "clip": "none / global_clipnorm=1"},
                  "recall (SGD)": {k: v for k, v in g.items() if k != "initializers"},
                  "seeds": list(seeds), "eval_size": eval_size, "optimizer": "adam (adding), sgd (recall)",
                  "steps": a["steps"], "units": a["units"], "batch_size": a["batch_size"],
                  "step gradients recorded": "yes", "solve": SOLVE["adding"]},
    )
    adding_params = {"length": a["length"], "eval_size": eval_size}
    for clip in (None, 1.0):
        v = default_variant("irnn")
        label = v.label + (" clip" if clip else "")
        for seed in seeds:
            rid = run_id(e.key, label.replace(" clip", "-clip1"), "adding", {"length": a["length"]}, seed)
            config = _config("irnn", "adding", adding_params, v.model_params, seed, rid, units=a["units"],
                             batch_size=a["batch_size"], steps=a["steps"], learning_rate=a["learning_rate"],
                             optimizer="adam", global_clipnorm=clip, **extra_train)
            e.runs.append(PlannedRun(rid, e.key, "irnn", v.setting, label,
                                     v.initialization + (", global_clipnorm=1" if clip else ", no clipping"),
                                     "adding", dict(adding_params), seed, config,
                                     extra={"group": "IRNN on adding (Adam)", "gain": 1.0, "clip": clip,
                                            "kernel": "default", "solve": SOLVE["adding"]}))
    recall_params = {"gap": g["gap"], "eval_size": eval_size}
    for model in ("simple_rnn", "irnn"):
        for initializer in g["initializers"]:
            for gain in g["gains"]:
                v = gained_variant(model, gain, initializer)
                for clip in (None, 1.0):
                    for seed in seeds:
                        label = v.label + (" clip" if clip else "")
                        rid = run_id(e.key, label.replace(" clip", "-clip1"), "recall", {"gap": g["gap"]}, seed)
                        config = _config(model, "recall", recall_params, v.model_params, seed, rid,
                                         units=g["units"], batch_size=g["batch_size"], steps=g["steps"],
                                         learning_rate=g["learning_rate"], optimizer="sgd", global_clipnorm=clip,
                                         **extra_train)
                        e.runs.append(PlannedRun(
                            rid, e.key, model, v.setting, label,
                            v.initialization + (", global_clipnorm=1" if clip else ", no clipping"),
                            "recall", dict(recall_params), seed, config,
                            extra={"group": "gain sweep on recall (SGD)", "gain": gain, "clip": clip,
                                   "kernel": initializer or "default"}))
    experiments.append(e)

    # 3. Long-term dependencies: recall, adding, copy memory, temporal order; learning curves.
    s = b["long_term"]
    tasks = s["tasks"]
    e = Experiment(
        "long_term",
        "Long-term dependencies",
        "long_term",
        "Which architectures and initializations learn tasks whose answer depends on inputs far back ("
        + "; ".join(f"{t} " + ", ".join(f"{k} {v}" for k, v in p.items()) for t, p, _ in tasks)
        + "), how many steps do they need (learning curves, steps to solve), and how often over seeds?",
        settings={**_settings(s, "recall, adding, copy_memory, temporal_order", {"eval_size": eval_size}, seeds),
                  "tasks": [{"task": t, "params": p, **o} for t, p, o in tasks],
                  "solve": {t: (_copy_solve(p) if t == "copy_memory" else SOLVE[t]) for t, p, _ in tasks}},
    )
    for task, params, overrides in tasks:
        solve = _copy_solve(params) if task == "copy_memory" else SOLVE[task]
        train = {**_train(s, extra_train), **overrides}
        variants = [variant(name) for name in s["variants"]]
        e.runs += _runs(e.key, variants, task, {**params, "eval_size": eval_size}, dict(params), seeds,
                        extra={"group": task, "solve": solve}, **train)
    experiments.append(e)

    # 4. Unidirectional models on future_cloze: at the blank, answering late, and seeing the future.
    s = b["unidirectional"]
    task_params = {"length": s["length"], "distance": s["distance"], "eval_size": eval_size}
    late_params = {**task_params, "answer_delay": s["answer_delay"]}
    e = Experiment(
        "unidirectional",
        "Unidirectional against bidirectional models",
        "unidirectional",
        f"Can a model fill a blank whose answer is given only by a cue {s['distance']} steps after it "
        "(future_cloze)? Causal models (SimpleRNN, LSTM, GRU, masked attention) at the blank; the same causal "
        f"models allowed to answer {s['answer_delay']} steps after the cue (the same examples: the information "
        "delivered in time); bidirectional RNNs and attention without the causal mask at the blank.",
        settings={**_settings(s, "future_cloze", task_params, seeds), "answer_delay": s["answer_delay"],
                  "solve": SOLVE["future_cloze"]},
    )
    train = _train(s, extra_train)
    for direction, names, params, swept in (
            ("causal", _CAUSAL_UNI, task_params, {}),
            ("causal, answers late", _CAUSAL_UNI, late_params, {"late": s["answer_delay"]}),
            ("sees the future", _SEEING_UNI, task_params, {})):
        e.runs += _runs(e.key, [variant(n) for n in names], "future_cloze", params, swept, seeds,
                        extra={"direction": direction, "group": direction, "solve": SOLVE["future_cloze"],
                               "answer_delay": params.get("answer_delay")}, **train)
    experiments.append(e)

    # 5. Character-level language model on Tiny Shakespeare, beside n-gram baselines.
    s = b["char_lm"]
    lm_seeds = list(seeds) if seeds and budget == "full" else list(s.get("seeds", seeds))
    corpus = str(pathlib.Path(corpus_dir) if corpus_dir else DEFAULT_CORPUS_DIR)
    task_params = {"seq_len": s["seq_len"], "manual_dir": corpus}
    e = Experiment(
        "char_lm",
        "Real text: character-level language model on Tiny Shakespeare",
        "char_lm",
        "How low do the validation and test losses (nats and bits per character) of each causal architecture "
        "get on Tiny Shakespeare in the same number of steps, against unigram, bigram, trigram and 4-gram "
        "baselines (interpolated Kneser-Ney, fitted on the training split), and what text does each generate?",
        settings={**_settings(s, "char_lm (tiny_shakespeare)", task_params, lm_seeds),
                  "baselines": "datasets.ngram_baselines: interpolated Kneser-Ney, orders 1-4, training split"},
    )
    variants = [variant(name) for name in s["variants"]]
    e.runs = _runs(e.key, variants, "char_lm", task_params, {"seq": s["seq_len"]}, lm_seeds,
                   extra={"sample_length": s["sample_length"], "sample_prompt": SAMPLE_PROMPT},
                   **_train(s, extra_train))
    experiments.append(e)

    if budget != "full":
        full = {x.key: x for x in seed_problems("full", corpus_dir, seeds=None, param_budget=param_budget)}
        for x in experiments:
            x.omitted = _omitted(x, full[x.key])
    return experiments


def _train(s: dict, extra: dict) -> dict:
    """The training settings of a budget entry, as `_config` keywords."""
    keys = ("units", "batch_size", "steps", "epochs", "learning_rate", "validation_steps", "record_gradients",
            "through_time")
    return {**{k: s[k] for k in keys if k in s}, **extra}


def _causal_attention(variant: Variant) -> Variant:
    """Self-attention with its causal mask on (a task whose target is not the next token would let it
    attend to the whole sequence otherwise)."""
    if variant.model != "self_attention":
        return variant
    return dataclasses.replace(
        variant,
        setting="causal_mask",
        initialization=variant.initialization + ", causal mask",
        model_params={**variant.model_params, "use_causal_mask": True},
    )


def _settings(s: dict, task: str, task_params: dict, seeds, optimizer="adam") -> dict:
    out = {"task": task, "task_params": task_params, "seeds": list(seeds), "optimizer": optimizer}
    for key in ("units", "batch_size", "steps", "epochs", "learning_rate", "validation_steps"):
        if key in s:
            out[key] = s[key]
    out["step gradients recorded"] = "yes" if s.get("record_gradients", True) else "no (not plotted here)"
    out["gradient through time recorded"] = ("at the start and after every evaluation" if s.get("through_time", True)
                                             else "no")
    out["learning curve"] = f"{CURVE_POINTS} points (validation subset of 256 examples)"
    return out


def _omitted(small: Experiment, full: Experiment) -> list[str]:
    """What the full budget runs and `small` does not: variants, task values and seeds, in words."""
    notes = []
    labels_small = {r.label for r in small.runs}
    missing = sorted({r.label for r in full.runs} - labels_small)
    if missing:
        notes.append("variants: " + ", ".join(missing))
    for key in ("gap", "length", "seq_len", "delay"):
        small_values = {r.task_params.get(key) for r in small.runs} - {None}
        full_values = {r.task_params.get(key) for r in full.runs} - {None}
        if full_values - small_values:
            notes.append(f"task {key}: full runs {sorted(full_values)}, this budget {sorted(small_values)}")
    seeds_small, seeds_full = {r.seed for r in small.runs}, {r.seed for r in full.runs}
    if seeds_full - seeds_small:
        notes.append(f"seeds: full runs {sorted(seeds_full)}, this budget {sorted(seeds_small)}")
    for key in ("steps", "units", "batch_size"):
        if small.settings.get(key) != full.settings.get(key):
            notes.append(f"{key}: full {full.settings.get(key)}, this budget {small.settings.get(key)}")
    return notes


def filter_models(experiments: list[Experiment], models) -> list[Experiment]:
    """Keep only the runs of `models` (an experiment left empty is dropped)."""
    if not models:
        return experiments
    wanted = set(models)
    import zoo

    unknown = sorted(wanted - set(zoo.list_models()))
    if unknown:
        raise ValueError(f"Unknown model {unknown[0]!r} in --only-models; the zoo's models are: {', '.join(zoo.list_models())}.")
    trained = {r.model for e in experiments for r in e.runs}
    missing = sorted(wanted - trained)
    if missing:
        raise ValueError(
            f"The suite trains no {', '.join(missing)} run; --only-models can choose among: {', '.join(sorted(trained))}."
        )
    out = []
    for e in experiments:
        runs = [r for r in e.runs if r.model in wanted]
        if runs:
            out.append(dataclasses.replace(e, runs=runs))
    return out


def suite(name: str, budget: str, experiments=None, models=None, **kwargs) -> list[Experiment]:
    """A named suite at `budget`, optionally restricted to some of its experiments and models."""
    if name not in SUITES:
        raise ValueError(f"Unknown suite {name!r}; the suites are: {', '.join(SUITES)}.")
    planned = seed_problems(budget, **kwargs)
    if experiments:
        unknown = sorted(set(experiments) - {e.key for e in planned})
        if unknown:
            raise ValueError(
                f"Suite {name!r} has no experiment {', '.join(unknown)}; its experiments are: "
                f"{', '.join(e.key for e in planned)}."
            )
        planned = [e for e in planned if e.key in experiments]
    planned = filter_models(planned, models)
    if not planned:
        raise ValueError("No run is left after filtering by --only-models; name models the suite trains.")
    return planned


# ---------------------------------------------------------------------------------------------- grids
GRID_TRAINING_KEYS = ("units", "batch_size", "steps", "epochs", "learning_rate", "optimizer", "global_clipnorm",
                      "validation_steps", "param_budget", "through_time_every", "record_gradients")
# A grid validates at the end of every epoch on the whole split (validation_steps None), as `training.train`
# does; only the seed-problems suite leaves that pass to its learning curves (see `_config`).
GRID_DEFAULTS = {"units": 32, "batch_size": 32, "steps": 200, "epochs": 1, "learning_rate": 3e-3,
                 "validation_steps": None}


def grid(models, tasks, seeds=(0,), training=None, name="grid", title=None, kind="grid") -> Experiment:
    """An experiment of every model x every task x every combination of task values x every seed.

    Args:
        models: registry keys, or dicts {"model", "label"?, "model_params"?, "initialization"?}.
        tasks: task names, or dicts {"task", "params": {name: value or [values]}}; a list of values
            is swept.
        seeds: training seeds.
        training: `GRID_TRAINING_KEYS` settings shared by every run (defaults: `GRID_DEFAULTS`).
        name: experiment key (prefix of the run folders).
        title: section title of the report.
        kind: how the report shows it (a name in `training.sweep.kinds`; "grid" fits any task).
    """
    if kind not in kinds.list_kinds():
        raise ValueError(f"kind must be one of {', '.join(kinds.list_kinds())}, got {kind!r}.")
    training = {**GRID_DEFAULTS, **(training or {})}
    unknown = sorted(set(training) - set(GRID_TRAINING_KEYS))
    if unknown:
        raise ValueError(f"Unknown training setting(s) {', '.join(unknown)}; known: {', '.join(GRID_TRAINING_KEYS)}.")
    if not models or not tasks:
        raise ValueError("A grid needs at least one model and one task (--models and --tasks, or a JSON grid).")
    if not seeds:
        raise ValueError("A grid needs at least one seed.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ValueError(f"Grid name {name!r} must be letters, digits, '_' and '-'.")
    variants = [_grid_variant(m) for m in models]
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Two models of the grid share a label ({', '.join(labels)}); give each a distinct \"label\".")
    e = Experiment(name, title or f"Grid: {', '.join(labels)} on {', '.join(_task_name(t) for t in tasks)}", kind,
                   "How do these models compare on these tasks with the same data and the same number of steps?",
                   settings={"seeds": list(seeds), **training})
    for task in tasks:
        task_name, combos = _task_combinations(task)
        for params, swept in combos:
            e.runs += _runs(name, variants, task_name, params, swept, seeds, **training)
    return e


def _grid_variant(m) -> Variant:
    if isinstance(m, str):
        return default_variant(m)
    if not isinstance(m, dict) or "model" not in m:
        raise ValueError(f"A grid model must be a registry key or an object with a \"model\" key, got {m!r}.")
    unknown = sorted(set(m) - {"model", "label", "model_params", "initialization"})
    if unknown:
        raise ValueError(f"A grid model takes model, label, model_params, initialization; not {', '.join(unknown)}.")
    params = dict(m.get("model_params") or {})
    base = default_variant(m["model"])
    setting = m.get("label") or ("default" if not params else "-".join(f"{k}={v}" for k, v in sorted(params.items())))
    given = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    words = m.get("initialization") or (base.initialization + (f"; {given}" if params else ""))
    return Variant(m["model"], setting, words, params, name=m.get("label"))


def _task_name(t) -> str:
    return t if isinstance(t, str) else t.get("task", "?")


def _task_combinations(task) -> tuple[str, list[tuple[dict, dict]]]:
    """(task name, [(task params, swept values)]) with every list of values expanded."""
    if isinstance(task, str):
        return task, [({}, {})]
    if not isinstance(task, dict) or "task" not in task:
        raise ValueError(f"A grid task must be a task name or an object with a \"task\" key, got {task!r}.")
    params = task.get("params") or {}
    combos = [({}, {})]
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"Task parameter {key!r} of {task['task']!r} has an empty list of values.")
        swept = isinstance(value, list) and len(values) > 1
        combos = [({**p, key: v}, {**s, key: v} if swept else s) for p, s in combos for v in values]
    return task["task"], combos


def grid_from_json(path) -> list[Experiment]:
    """Experiments from a JSON file: one grid object, or {"experiments": [grid objects]}.

    A grid object: {"name", "title"?, "kind"?, "models": [...], "tasks": [...], "seeds": [...],
    "training": {...}} (see `grid`).
    """
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"Grid file {path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"Grid file {path} is not valid JSON ({e}).") from None
    items = data.get("experiments") if isinstance(data, dict) and "experiments" in data else [data]
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"Grid file {path}: experiment {i} must be a JSON object.")
        unknown = sorted(set(item) - {"name", "title", "kind", "models", "tasks", "seeds", "training"})
        if unknown:
            raise ValueError(f"Grid file {path}: unknown key(s) {', '.join(unknown)} in experiment {i}; "
                             "use name, title, kind, models, tasks, seeds, training.")
        out.append(grid(item.get("models"), item.get("tasks"), item.get("seeds", [0]), item.get("training"),
                        name=item.get("name", f"grid{i + 1}" if len(items) > 1 else "grid"),
                        title=item.get("title"), kind=item.get("kind", "grid")))
    names = [e.key for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"Grid file {path}: experiment names must differ, got {', '.join(names)}.")
    return out
