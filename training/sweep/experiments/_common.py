"""What the experiments share when they plan their runs: a variant (one architecture at one
initialization), a planned run (a `RunConfig` plus the labels the report groups it by), a planned
experiment (what sweep.json stores), and the helpers that turn a budget's settings into runs.

A sweep is a list of experiments; an experiment is a list of planned runs that share one task stream
(the same task parameters and seeds, hence the same examples in the same order: `datasets` makes the
training stream a pure function of the task parameters and the seed), one budget (optimizer steps,
not seconds) and, on request, one parameter count (`param_budget`).

Initialization decides many outcomes (an orthogonal recurrent kernel keeps a SimpleRNN's gradient nearly
flat at the start; a forget-gate bias of 1 makes an LSTM forget within a few steps), so the experiments
run each architecture at Keras's defaults *and* with the classic glorot-uniform recurrent kernel, and the
gated cells also with gate biases that start with long memory (forget/update bias 3, chrono
initialization of Tallec & Ollivier, 2018): `variant("lstm:chrono")`, `init_variants`.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import pathlib
import re

import zoo
from training.core.config import RunConfig
from training.core.rules import SOLVED_ACCURACY
from training.sweep.takeaways import and_list

# Tiny Shakespeare for char_lm: None is TFDS's own folder (~/tensorflow_datasets), downloaded once where there
# is a network; `--corpus-dir` (a folder holding input.txt, TFDS's manual_dir) serves a machine without one.
DEFAULT_CORPUS_DIR = None
SAMPLE_PROMPT = "ROMEO:"


@dataclasses.dataclass(frozen=True)
class Budget:
    """What every experiment of a suite shares at one budget.

    Args:
        name: "quick", "standard", "full" or "smoke".
        seeds: training seeds.
        eval_size: test and validation examples of the synthetic tasks.
        extra_train: training settings every run gets (`param_budget`).
        corpus_dir: a folder holding Tiny Shakespeare's input.txt (char_lm's TFDS manual_dir); None: TFDS's own.
        seeds_given: whether the seeds were chosen by the user (not the budget's own).
    """

    name: str
    seeds: list
    eval_size: int
    extra_train: dict
    corpus_dir: pathlib.Path | None
    seeds_given: bool = False


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
        kind: how the report reads it: the key of a registered experiment (`training.sweep.experiments`);
            a grid may borrow another experiment's report.
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
# What a variant's words need to know of a model comes from the zoo's registry (its gate bias, its
# default biases and recurrent kernel in words, its family): no model is named here.
def _info(model: str):
    """The zoo's `ModelInfo`, or None for a name the zoo does not know (refused when the plan is checked)."""
    try:
        return zoo.get_model_info(model)
    except ValueError:
        return None


def _bias_words(model: str) -> str:
    info = _info(model)
    return info.default_bias_words if info else "zero bias"


def _gate_bias(model: str):
    """The model's gate bias (`zoo.GateBias`: argument and words), None when it has none."""
    info = _info(model)
    return info.gate_bias if info else None


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
        f"classic: glorot-uniform recurrent kernel (per gate block), {_bias_words(model)}",
        {"recurrent_initializer": "glorot_uniform", **extra_params},
    )


def orthogonal_variant(model: str, **extra_params) -> Variant:
    """Each gate block its own orthogonal matrix with gain 1: against `glorot` one change (the kernel's
    distribution), against the default one change (how the orthogonal kernel is drawn)."""
    return Variant(
        model,
        "orthogonal",
        f"orthogonal recurrent kernel drawn per gate block (each block orthogonal, gain 1), "
        f"{_bias_words(model)}",
        {"recurrent_initializer": "orthogonal", **extra_params},
    )


def gate_variant(model: str, value, **extra_params) -> Variant:
    """Forget-gate (LSTM) or update-gate (GRU) bias `value`, a number or "chrono"."""
    gate = _gate_bias(model)
    if gate is None:
        raise ValueError(f"Model {model!r} has no gate bias to set.")
    argument, words = gate.argument, gate.words
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
        kernel = (_info(model).recurrent_kernel_words if _info(model) else "") or "orthogonal"
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
        return causal_attention(default_variant(model, **extra_params))
    if setting == "unmasked":
        return dataclasses.replace(default_variant(model, use_causal_mask=False, **extra_params), setting="unmasked",
                                   initialization=zoo.get_model_info(model).initialization + ", no causal mask")
    raise ValueError(f"Unknown variant {spec!r}.")


def init_variants(model: str, level: str, sequence_length: int | None = None, **extra_params) -> list[Variant]:
    """The initializations of `model` at `level`: "default" (Keras's only), "classic" (defaults and
    glorot), "bias" (defaults and gate bias 3), "gates" (classic plus gate bias 3), "all" (classic plus
    per-gate orthogonal, bias 3 and chrono)."""
    out = [default_variant(model, **extra_params)]
    info, gated = _info(model), _gate_bias(model) is not None
    if level == "default" or (info is not None and info.family != "recurrent"):
        return out
    if level == "bias":
        return out + ([gate_variant(model, 3.0, **extra_params)] if gated else [])
    out.append(glorot_variant(model, **extra_params))
    if gated and level in ("gates", "all"):
        if level == "all":
            out.append(orthogonal_variant(model, **extra_params))
        out.append(gate_variant(model, 3.0, **extra_params))
        if level == "all":
            out.append(gate_variant(model, "chrono", **extra_params))
    return out



# Steps-to-solve thresholds (validation metric on the curve subset) and success over seeds.
SOLVE = {
    "recall": {"metric": "val_accuracy", "threshold": SOLVED_ACCURACY, "higher_is_better": True},
    "temporal_order": {"metric": "val_accuracy", "threshold": SOLVED_ACCURACY, "higher_is_better": True},
    "future_cloze": {"metric": "val_accuracy", "threshold": SOLVED_ACCURACY, "higher_is_better": True},
    "adding": {"metric": "val_loss", "threshold": 0.05, "higher_is_better": False},  # MSE; baseline 1/6
}


def copy_solve(task_params: dict) -> dict:
    """copy_memory: solved at half the memoryless baseline (n ln a / (T + 2n) nats per step)."""
    n, a, t = task_params.get("num_symbols", 10), task_params.get("alphabet_size", 8), task_params["delay"]
    return {"metric": "val_loss", "threshold": 0.5 * n * math.log(a) / (t + 2 * n), "higher_is_better": False}




@dataclasses.dataclass(frozen=True)
class Comparison:
    """One comparison an experiment's report makes, declared as data: variant `a` against variant `b`
    (each "model" or "model:setting", as the experiment plans its variants) on the test metric (a verdict
    of `stats.compare`: "beat" only when significant). Made only where the sweep holds both; the words
    are the groups' labels.

    Args:
        a, b: the two variants.
        where: where in the experiment the report compares them, in words (for the reader of the module).
    """

    a: str
    b: str
    where: str = ""

    def pick(self, groups) -> tuple:
        """(group of `a`, group of `b`) among `groups`; None for one the sweep does not hold."""
        return pick(groups, self.a), pick(groups, self.b)


def pick(groups, spec: str):
    """The group of variant `spec` ("model" or "model:setting") among `groups`, or None."""
    model, _, setting = spec.partition(":")
    return next((g for g in groups if g.model == model and g.setting == (setting or "default")), None)


CURVE_POINTS = 20  # learning-curve points per run


def run_id(experiment: str, variant_label: str, task: str, task_values: dict, seed: int) -> str:
    """A folder name: letters, digits, '.', '_' and '-' only."""
    values = "-".join(f"{k}{v:g}" if isinstance(v, (int, float)) else f"{k}{v}" for k, v in task_values.items())
    raw = "--".join(p for p in (experiment, variant_label, task + (f"-{values}" if values else ""), f"s{seed}") if p)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw.replace(" [", "-").replace("]", "")).strip("_")


def make_config(model, task, task_params, model_params, seed, run_name, *, units, batch_size, steps, epochs=1,
            learning_rate, optimizer="adam", global_clipnorm=None, validation_steps=0, param_budget=None,
            through_time_every=0, record_gradients=True, curve_every=None, theory=False, tensorboard=False,
            through_time=True, tbptt=None) -> dict:
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
        tbptt=tbptt,
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


def make_runs(experiment: str, variants, task: str, task_params: dict, swept: dict, seeds, extra=None,
          **train) -> list[PlannedRun]:
    """One run per variant x seed on `task` (with `swept` the task values shown in run names)."""
    out = []
    for v in variants:
        for seed in seeds:
            rid = run_id(experiment, v.label, task, swept, seed)
            config = make_config(v.model, task, task_params, v.model_params, seed, rid, **train)
            out.append(PlannedRun(rid, experiment, v.model, v.setting, v.label, v.initialization, task,
                                  dict(task_params), seed, config, extra=dict(extra or {})))
    return out


def train_settings(s: dict, extra: dict) -> dict:
    """The training settings of a budget entry, as `make_config` keywords."""
    keys = ("units", "batch_size", "steps", "epochs", "learning_rate", "validation_steps", "record_gradients",
            "through_time")
    return {**{k: s[k] for k in keys if k in s}, **extra}


def causal_attention(variant: Variant) -> Variant:
    """Self-attention with its causal mask on (a task whose target is not the next token would let it
    attend to the whole sequence otherwise)."""
    info = _info(variant.model)
    if info is None or "use_causal_mask" not in info.own_parameters:  # only attention has a mask to set
        return variant
    return dataclasses.replace(
        variant,
        setting="causal_mask",
        initialization=variant.initialization + ", causal mask",
        model_params={**variant.model_params, "use_causal_mask": True},
    )


def describe(s: dict, task: str, task_params: dict, seeds, optimizer="adam") -> dict:
    out = {"task": task, "task_params": task_params, "seeds": list(seeds), "optimizer": optimizer}
    for key in ("units", "batch_size", "steps", "epochs", "learning_rate", "validation_steps"):
        if key in s:
            out[key] = s[key]
    out["step gradients recorded"] = "yes" if s.get("record_gradients", True) else "no (not plotted here)"
    out["gradient through time recorded"] = ("at the start and after every evaluation" if s.get("through_time", True)
                                             else "no")
    out["learning curve"] = f"{CURVE_POINTS} points (validation subset of 256 examples)"
    return out


def omitted(small: Experiment, full: Experiment) -> list[str]:
    """What the full budget runs and `small` does not: variants, task values and seeds, in words."""
    notes = []
    labels_small = {r.label for r in small.runs}
    missing = sorted({r.label for r in full.runs} - labels_small)
    if missing:
        notes.append("variants: " + ", ".join(missing))
    for label in sorted(labels_small):  # a variant this budget runs on fewer tasks
        fewer = sorted({r.task for r in full.runs if r.label == label} - {r.task for r in small.runs if r.label == label})
        if fewer:
            notes.append(f"{label} on {', '.join(fewer)}")
    for key in ("gap", "length", "seq_len", "delay", "fillers"):
        small_values = {r.task_params.get(key) for r in small.runs} - {None}
        full_values = {r.task_params.get(key) for r in full.runs} - {None}
        if full_values - small_values:
            notes.append(f"task {key}: full runs {sorted(full_values)}, this budget {sorted(small_values)}")
        for label in sorted(labels_small):  # a value this budget runs, but not for this variant
            mine = {r.task_params.get(key) for r in small.runs if r.label == label} - {None}
            fewer = sorted((small_values - mine) & {r.task_params.get(key) for r in full.runs if r.label == label})
            if mine and fewer:
                notes.append(f"{label} not at {key} {', '.join(str(v) for v in fewer)}")
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


# ------------------------------------------------------------------ the article's own sentence
def article_answers(groups) -> list[tuple]:
    """Per variant of a cloze made of the article's sentences: (group, [(answer, sentence, right, seeds)]), the
    answers its seeds gave to the article's own sentence (`RunRow.article_answer`, recorded by each run), the
    most frequent first, with the seeds that gave each. Variants whose runs recorded none are left out. Shared
    by every experiment that trains such a cloze (long_term's kerala_cloze, unidirectional's mouse_cloze)."""
    out = []
    for g in groups:
        by_answer: dict[tuple, list] = collections.defaultdict(list)
        for r in sorted(g.rows, key=lambda r: r.seed):
            if r.article_sentence:
                by_answer[(r.article_answer, r.article_sentence, r.article_right)].append(r.seed)
        if by_answer:
            ranked = sorted(by_answer.items(), key=lambda item: (-len(item[1]), item[1][0]))
            out.append((g, [(a, sentence, right, seeds) for (a, sentence, right), seeds in ranked]))
    return out


def seed_words(seeds) -> str:
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {and_list(str(s) for s in seeds)}"


def article_answer_words(answers) -> str:
    """`"Jane ... fluent in Malayalam" (right; seeds 0 and 2); "... Tamil" (wrong, Malayalam is right; seed 1)`."""
    parts = []
    for answer, sentence, right, seeds in answers:
        mark = "right" if answer == right else f"wrong, {right} is right"
        parts.append(f"\"{sentence}\" ({mark}; {seed_words(seeds)})")
    return "; ".join(parts)
