"""The results of a comparison sweep, read back from its folder: one typed row per run (`RunRow`), the
seeds of each variant together (`VariantGroup`), and the series (validation curves, step gradients,
gradient-through-time profiles) the plots need.

This module is the only reader of run folders for the report: everything else reads the rows'
attributes. What a run was (clipping, gain, recurrent kernel, direction) is derived from its saved
config; what it measured from the files its run folder holds. Everything here reads files only
(`sweep.json` and the run folders); nothing is trained or loaded into Keras, so a report can be rebuilt
at any time and gives the same tables. The fields are documented where they are defined (`RunRow`,
`VariantGroup`), and docs/results.md's schema section is generated from them (`python -m
training.sweep.schema --write`).

    sweep, rows = collect("saved_models/compare-seed-problems-quick-...")
    groups = group_rows(rows, examples_loader(folder))
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import pathlib

import numpy as np

import datasets
import zoo
from training.core import rules
from training.core.rules import LN2
from training.instruments import readers
from training.instruments.through_time import summarize_profile
from training.sweep import evidence, stats

SWEEP_FILE = "sweep.json"
METRIC_WORDS = {"accuracy": "accuracy", "mse": "MSE", "bits_per_char": "bits/char", "perplexity": "perplexity",
                "nll": "loss (nats)"}
NOT_RUN = ("pending", "interrupted", "running")


# ----------------------------------------------------------------------------- gradient instruments
def read_gradient_records(run_dir) -> dict:
    """What the gradient instruments left in a run folder, read with their own readers
    (`training.instruments.readers`), as the report needs it.

    Returns:
        {"steps": DataFrame with columns step, step_loss, grad_norm (global, before clipping),
                  grad_norm_clipped, grad_clipped, ... or None,
         "through_time": {"steps": (K,), "lag": (T,), "profiles": (K, T), "probe": name} or None}
        where `profiles[k, j]` is ||dL_T/dx_t|| at checkpoint k for the step t whose lag is `lag[j]`.
    """
    run_dir = pathlib.Path(run_dir)
    out = {"steps": None, "through_time": None}
    path = run_dir / readers.STEP_GRADIENTS_CSV
    if path.is_file() and path.stat().st_size:
        frame = readers.read_step_gradients(run_dir)
        if "step" in frame and "grad_norm" in frame:
            out["steps"] = frame
    if (run_dir / readers.THROUGH_TIME_NPZ).is_file():
        arrays = readers.read_through_time(run_dir)
        probe = next((p for p in ("embedding", "state", "state_forward") if p in arrays), None)
        if probe is not None and len(arrays.get("steps", [])):
            lag = arrays["lag"] if "lag" in arrays else np.arange(arrays[probe].shape[1] - 1, -1, -1)
            out["through_time"] = {"steps": arrays["steps"], "lag": lag, "profiles": arrays[probe], "probe": probe}
    return out


# ------------------------------------------------------------------------------------------- rows
def read_sweep(folder) -> dict:
    """sweep.json of a sweep folder, checked: a hand-edited file whose runs or experiments lack a key, or
    hold one of the wrong kind, is named in one sentence (file, entry and field)."""
    path = pathlib.Path(folder) / SWEEP_FILE
    if not path.is_file():
        raise ValueError(f"{folder} holds no {SWEEP_FILE}; point at the folder `python -m training.compare` printed.")
    try:
        sweep = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); restore it from a copy or run the sweep again.") from None
    if not isinstance(sweep, dict) or not isinstance(sweep.get("runs"), list):
        raise ValueError(
            f"{path} is not a sweep (it has no list of runs); point at the folder `python -m training.compare` printed."
        )
    for where, items, fields in (("runs", sweep["runs"], SWEEP_RUN_FIELDS),
                                 ("experiments", sweep.get("experiments", []), SWEEP_EXPERIMENT_FIELDS)):
        if not isinstance(items, list):
            raise ValueError(f"{path}: {where} must be a JSON list; restore the file from a copy.")
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValueError(f"{path}: {where}[{n}] must be a JSON object; restore the file from a copy.")
            for name, (kinds, required) in fields.items():
                if name not in item:
                    if required:
                        raise ValueError(f"{path}: {where}[{n}] lacks {name!r}; restore the file from a copy or run "
                                         "the sweep again.")
                    continue
                if not isinstance(item[name], kinds) or isinstance(item[name], bool) and bool not in kinds:
                    raise ValueError(f"{path}: {where}[{n}].{name} must be {_kind_words(kinds)}, got "
                                     f"{json.dumps(item[name], default=str)[:60]}; restore the file from a copy.")
    return sweep


# The fields of sweep.json that the report and --resume read: (JSON kinds, required).
SWEEP_RUN_FIELDS = {"id": ((str,), True), "status": ((str,), True), "experiment": ((str,), False),
                    "config": ((dict,), False), "run_dir": ((str, type(None)), False),
                    "error": ((str, type(None)), False), "seed": ((int,), False),
                    "sweep_seconds": ((int, float, type(None)), False)}
SWEEP_EXPERIMENT_FIELDS = {"key": ((str,), True), "kind": ((str,), False), "title": ((str,), False)}


def _kind_words(kinds) -> str:
    words = {str: "a string", dict: "a JSON object", int: "an integer", float: "a number", type(None): "null"}
    return " or ".join(dict.fromkeys(words[k] for k in kinds))


def _json(path):
    try:
        return json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def primary_metric(task: str) -> str:
    """The metric a task is judged by, as its registered task declares it (`Task.primary_metric`:
    bits/char for characters, perplexity for words, MSE for a regression, the loss in nats for copy
    memory); accuracy for a task this checkout does not know."""
    try:
        return datasets.get_task(task).primary_metric
    except ValueError:
        return "accuracy"


def chance_of(metric: str, chance_loss, chance_accuracy):
    if metric == "accuracy":
        return chance_accuracy
    if chance_loss is None:
        return None
    if metric == "bits_per_char":
        return chance_loss / LN2
    if metric == "perplexity":
        return math.exp(chance_loss)
    return chance_loss  # mse and nll


# Task parameters that say where data lives or how much of it is evaluated, not what was learnt: no setting
# of a run (left out of its words and of the HParams dashboard's columns).
NOT_SETTINGS = frozenset({"eval_size", "epoch_size", "manual_dir", "data_dir", "path", "vocabulary_path",
                          "download"})


def setting_words(task_params: dict) -> str:
    """The task parameters that are settings (not in NOT_SETTINGS), in words ("gap=30 keys=8"); "" if none."""
    return " ".join(f"{k}={v}" for k, v in (task_params or {}).items() if k not in NOT_SETTINGS)


def task_values(run: dict) -> str:
    """The task parameters that tell runs of one experiment apart, in words ("gap=30")."""
    return setting_words(run["task_params"])


# ------------------------------------------------------------------------------- the typed row
# Where a field comes from (the `source` of its metadata, shown in docs/results.md).
PLAN = "sweep.json (the run's entry)"
CONFIG = "the run's config (sweep.json; the same as its config.json)"
META = "metadata.json"
META_OR_SPEC = "metadata.json, else task_spec.json"
GRADIENTS = f"{readers.STEP_GRADIENTS_CSV} (step-gradient recorder)"
THROUGH_TIME = f"{readers.THROUGH_TIME_NPZ} (gradient-through-time recorder)"
REPORT = "computed by the report from the fields above"


def _field(doc: str, source: str, unit: str = "", *, always: bool = False, factory=None):
    """A documented field: what it means (`doc`), its `unit`, where it comes from (`source`); `always`:
    a column of every results.csv (the others are written when some run of the sweep recorded them)."""
    metadata = {"doc": doc, "source": source, "unit": unit, "always": always}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=None, metadata=metadata)


@dataclasses.dataclass
class RunRow:
    """One planned run of a sweep, whatever became of it: what it was (from its plan and its config), what
    it measured (from the files its run folder holds) and how far its numbers can be trusted.

    `read_run` makes it from a run's sweep.json entry and its folder; `record()` is its row of results.csv
    and of results.json's `runs`. A field a run folder does not tell (an older sweep, a run that never
    started) is None, never a guessed value. Losses are in nats, accuracies fractions of 1, times in seconds
    of the run's own process.
    """

    experiment: str = _field("key of the experiment the run belongs to (`training.sweep.experiments`)", PLAN,
                             always=True)
    id: str = _field("the run's id, also its folder name under runs/", PLAN, always=True)
    label: str = _field("the variant's name in tables and figures (model and initialization; grids: the user's)",
                        PLAN, always=True)
    model: str = _field("zoo registry key of the model", PLAN, always=True)
    setting: str = _field("short key of the initialization (default, glorot, forget_bias_3, chrono, gain_2 ...)",
                          PLAN, always=True)
    initialization: str = _field("the initialization in words", PLAN, always=True)
    task: str = _field("datasets registry key of the task", PLAN, always=True)
    task_values: str = _field("the task parameters that tell runs apart, in words (\"gap=30\"; where data lives "
                              "and evaluation sizes left out)", PLAN, always=True)
    task_params: dict = _field("every task parameter of the run (a JSON object in results.csv)", PLAN,
                               always=True)
    seed: int = _field("training seed (the task stream and the weights)", PLAN, always=True)
    gain: float = _field("the recurrent kernel's gain (`model_params.recurrent_gain`, else the builder's default "
                         "from the zoo registry), for a run of an experiment that varies it (its sweep.json entry "
                         "says so); None for the others", CONFIG, always=True)
    clip: float = _field("gradient clipping: the config's `global_clipnorm`; None without clipping", CONFIG,
                         always=True)
    kernel: str = _field("the recurrent kernel's initializer (`model_params.recurrent_initializer`), \"default\" "
                         "for the builder's own, for a run of an experiment that varies it", CONFIG, always=True)
    direction: str = _field("for a run of an experiment that compares directions: \"sees the future\" (the zoo "
                            "says the model, built with its `model_params`, reads later tokens), \"causal, answers "
                            "late\" (the task's `answer_delay` is set) or \"causal\"", CONFIG, always=True)
    group: str = _field("the sub-question a run answers inside its experiment (\"gain sweep on recall (SGD)\"); "
                        "None in older sweeps", PLAN, always=True)
    steps: int = _field("optimizer steps: epochs x steps_per_epoch", CONFIG, "steps", always=True)
    batch_size: int = _field("training batch size", CONFIG, "examples", always=True)
    optimizer: str = _field("Keras optimizer name", CONFIG, always=True)
    learning_rate: float = _field("optimizer learning rate", CONFIG, always=True)
    global_clipnorm: float = _field("the config's `global_clipnorm` as stored (None: no clipping)", CONFIG,
                                    always=True)
    param_budget: int = _field("parameter count the model's width was chosen to match; None: the same width for "
                               "every model", CONFIG, "parameters", always=True)
    status: str = _field("finished, diverged, failed, pending, interrupted or running (metadata.json's, once the "
                         "run wrote one)", "sweep.json, then metadata.json", always=True)
    error: str = _field("why a failed run failed, in one line", PLAN, always=True)
    run_dir: str = _field("the run folder, relative to the sweep folder", PLAN, always=True)
    metric: str = _field("the metric the task is judged by (`Task.primary_metric`): accuracy, mse, "
                         "bits_per_char, perplexity or nll", "datasets registry", always=True)
    parameters: int = _field("trainable and non-trainable parameters of the built model", META, "parameters")
    units: int = _field("the width the model was built with (after `param_budget`)", META)
    tokens_per_second: float = _field("training throughput", META, "tokens/s")
    wall_seconds: float = _field("the run's wall time", META, "s")
    first_step_seconds: float = _field("the first training step (tracing and compiling)", META, "s")
    steps_seconds: float = _field("every training step after the first", META, "s")
    fixed_seconds: float = _field("what a run pays however short it is (loading, building, first step, "
                                  "validation, test pass, saving)", META, "s")
    chance_loss: float = _field("the loss of a prediction that ignores the input (the task's chance baseline)",
                                META_OR_SPEC, "nats (MSE for a regression)")
    chance_accuracy: float = _field("the accuracy of guessing (the task's chance baseline)", META_OR_SPEC,
                                    "fraction")
    test: dict = _field("every test-set number the run recorded, by metric name (results.csv: `test_<name>`, "
                        "e.g. test_loss in nats, test_accuracy)", META, factory=dict)
    validation: dict = _field("the last epoch's validation numbers, by metric name (results.csv: `val_<name>`)",
                              META, factory=dict)
    diverged_step: int = _field("the step at which the loss or the gradient became NaN/Inf", META, "step")
    divergence_cause: str = _field("what became non-finite first (loss, gradient, weights)", META)
    chance: float = _field("the chance baseline in the unit of `metric` (accuracy: guessing; bits/char: the "
                           "unigram; perplexity: exp of the chance loss)", REPORT, always=True)
    test_metric: float = _field("the test value of `metric` (`test[metric]`)", REPORT, always=True)
    val_metric: float = _field("the last validation value of `metric`", REPORT, always=True)
    higher_is_better: bool = _field("whether a larger `metric` is better (`training.core.rules`)", REPORT,
                                    always=True)
    n_eval: int = _field("test examples", "metadata.json's test_examples (older runs: the task's eval_size)",
                         "examples", always=True)
    n_eval_tokens: int = _field("scored test positions (tokens; one per example for a label at the last step)",
                                "metadata.json's test_examples", "positions", always=True)
    test_correct: int = _field("correct test answers (accuracy tasks)", "test_examples.npz (older runs: "
                               "accuracy x eval_size)", "answers", always=True)
    eval_set: str = _field("how the test examples were drawn (\"same-examples\": every run of the experiment "
                           "saw the same ones, so tests can be paired)", META, always=True)
    examples_file: str = _field("the per-example test arrays (loss, count, correct), relative to the sweep "
                                "folder", "test_examples.npz", always=True)
    degenerate: bool = _field("the run's number is not a learned solution (a saturated or overflowing output, a "
                              "gradient stuck at 0: `training.core.rules`); None: unknown", "metadata.json, else "
                              "the stored numbers", always=True)
    degenerate_reason: str = _field("why it is degenerate, in words", "metadata.json, else the stored numbers",
                                    always=True)
    hidden_state_norm_max: float = _field("the largest hidden-state norm the run measured", META, always=True)
    zero_gradient_from_step: int = _field("the step from which the global gradient stayed exactly 0 to the end",
                                          f"metadata.json, else {readers.STEP_GRADIENTS_CSV}", "step", always=True)
    loss_still_falling: bool = _field("the validation loss was still falling at the end (not converged: "
                                      "`rules.still_falling`); None: the curve is too short to tell",
                                      "metadata.json, else the learning curve", always=True)
    solved: bool = _field("the validation metric reached the solve threshold", "metadata.json, else the "
                          "learning curve", always=True)
    steps_to_solve: int = _field("the first evaluated step at the solve threshold", "metadata.json, else the "
                                 "learning curve", "steps", always=True)
    solve_threshold: float = _field("the threshold `solved` is read against", "metadata.json, else "
                                    "`rules.SOLVED_ACCURACY`", always=True)
    learning_curve: str = _field("the learning-curve file (curve.csv, else history.csv), relative to the sweep "
                                 "folder", "the run folder", always=True)
    curve_points: int = _field("evaluations in the learning curve", "the learning curve", "points", always=True)
    theory_jacobian_norm: float = _field("spectral norm of the recurrent Jacobian at initialisation "
                                         "(`zoo.dynamics`)", META, always=True)
    theory_predicted_decay: float = _field("the decay of the gradient through time the theory predicts at "
                                           "initialisation: the Jacobian's spectral radius, or for a diagonal "
                                           "linear recurrence (minGRU, minLSTM, LRU) its slowest unit's "
                                           "retention", META, "decades/step", always=True)
    theory_predicted_decay_final: float = _field("the same prediction from the weights at the end of training "
                                                 "(the learned gates, the learned |lambda|; diagonal linear "
                                                 "recurrences only)", META, "decades/step")
    key_gradient_decades: float = _field("log10 of the gradient at the task's key over the gradient at the last "
                                         "input, at initialisation; for a cloze task the gradient at its cue over "
                                         "the one at the scored step's input (-inf: exactly 0, no path)",
                                         f"metadata.json, else {THROUGH_TIME}", "decades", always=True)
    key_gradient_decades_final: float = _field("the same after training", f"metadata.json, else {THROUGH_TIME}",
                                               "decades")
    grad_steps_recorded: int = _field("steps the step-gradient recorder wrote", GRADIENTS, "steps")
    grad_norm_max: float = _field("largest finite global gradient norm (before clipping)", GRADIENTS)
    grad_norm_median: float = _field("median finite global gradient norm (before clipping)", GRADIENTS)
    grad_norm_max_over_median: float = _field("`grad_norm_max` / `grad_norm_median`", GRADIENTS, "ratio")
    grad_norm_explosion_ratio: float = _field("the largest finite step norm over the median of the steps before "
                                              "it (`training.core.rules.explosion_ratio`: what decides "
                                              "\"exploded\")", GRADIENTS, "ratio")
    grad_first_nonfinite_step: int = _field("first step whose gradient norm was NaN/Inf", GRADIENTS, "step")
    grad_clipped_fraction: float = _field("share of steps whose gradient clipping scaled down", GRADIENTS,
                                          "fraction")
    grad_norm_clipped_max: float = _field("largest global gradient norm after clipping (the one applied)",
                                          GRADIENTS)
    final_step_loss: float = _field("training loss of the last recorded step", GRADIENTS, "nats (MSE)")
    tt_probe: str = _field("where ||dL_T/dx_t|| was measured: embedding, state or state_forward", THROUGH_TIME)
    tt_final_step: int = _field("training step of the last through-time profile", THROUGH_TIME, "step")
    tt_decay_init: float = _field("decay of ||dL_T/dx_t|| with the lag at initialisation", THROUGH_TIME,
                                  "decades/step")
    tt_decay_final: float = _field("the same after training (None with one profile)", THROUGH_TIME,
                                   "decades/step")
    tt_lag_1e6_init: int = _field("first lag at which the norm fell by 10^6, at initialisation (None: never)",
                                  THROUGH_TIME, "steps")
    tt_lag_1e6_final: int = _field("the same after training", THROUGH_TIME, "steps")
    tt_log10_ratio_init: float = _field("log10 of the norm at the longest lag over the norm at lag 0, at "
                                        "initialisation", THROUGH_TIME, "decades")
    tt_log10_ratio_final: float = _field("the same after training", THROUGH_TIME, "decades")
    baselines: dict = _field("counting baselines fitted on the training split, on the test split, in the unit "
                             "of `metric`, by name (bigram, trigram, 4gram; results.csv: `baseline_<name>`)",
                             "metadata.json's baselines", factory=dict)
    baselines_validation: dict = _field("the same baselines on the validation split (results.csv: "
                                        "`baseline_val_<name>`)", "metadata.json's baselines", factory=dict)
    sample: str = _field("text the model generated after training (language models)", "sample.txt")
    article_answer: str = _field("the model's answer to the article's own sentence of a cloze task made of the "
                                 "article's sentences (kerala_cloze, mouse_cloze: the first test example)",
                                 "metadata.json's article_answers")
    article_sentence: str = _field("that sentence with the model's answer written in the blank",
                                   "metadata.json's article_answers")
    article_right: str = _field("the right answer to that sentence", "metadata.json's article_answers")
    provided: frozenset = dataclasses.field(default=frozenset(), repr=False, compare=False, metadata={
        "doc": "the optional columns this run's files provided (results.csv writes a column some run has)",
        "source": "the reader", "unit": "", "always": False, "internal": True})

    def __post_init__(self):
        if self.task_params is None:
            self.task_params = {}

    # ------------------------------------------------------------------ the flat record
    def record(self) -> dict:
        """The row of results.csv and results.json: every field under its column name (`test`,
        `validation` and the baselines spread into `test_<name>` ... columns), the optional ones where this
        run's files provided them, in the column order results.csv has always had."""
        out = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("internal"):
                continue
            if f.name in _SPREAD:
                out.update({_SPREAD[f.name] + k: v for k, v in getattr(self, f.name).items()})
            elif f.metadata["always"] or f.name in self.provided:
                value = getattr(self, f.name)
                out[f.name] = json.dumps(value, sort_keys=True) if f.name == "task_params" else value
        return out

    @classmethod
    def from_record(cls, flat: dict) -> "RunRow":
        """A row from its flat record (the reader's columns; results.json's `runs`)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: {} for k in _SPREAD}
        provided = set()
        for key, value in flat.items():
            if key in names and key not in _SPREAD:
                kwargs[key] = json.loads(value) if key == "task_params" and isinstance(value, str) else value
                provided.add(key)
                continue
            for name, prefix in _SPREAD_ORDER:
                if key.startswith(prefix):
                    kwargs[name][key[len(prefix):]] = value
                    break
            else:
                raise ValueError(f"A run row has no column {key!r}.")
        return cls(**kwargs, provided=frozenset(provided))

    # ------------------------------------------------------------------ derived words
    @property
    def where(self) -> str:
        """The task and its values in words ("recall gap=30")."""
        return (self.task + " " + (self.task_values or "")).strip()

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def gap(self):
        """The recall gap of the run's task (None for a task without one)."""
        return self.task_params.get("gap")

    @property
    def diverged(self) -> bool:
        return self.status == "diverged" or self.diverged_step is not None


class _RowFields:
    """`ROW.<field>`: the function of a row (a `RunRow`) that reads that field, for the helpers that take a
    field of every seed (`VariantGroup.values` and `mean`, `tables.cell` ...): `mean(group, ROW.grad_norm_max)`.
    A name `RunRow` does not define fails where it is written, with the fields' names, not as an empty cell."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in _FIELD_NAMES:
            raise AttributeError(f"RunRow has no field {name!r}; its fields are: {', '.join(sorted(_FIELD_NAMES))}.")
        return operator.attrgetter(name)

    def __dir__(self):
        return sorted(_FIELD_NAMES)


ROW = _RowFields()


def field_reader(field):
    """A function of a row from `field`: a function (`ROW.name`, a lambda) as it is, a field's name through
    `ROW` (so a misspelt name fails at once)."""
    return field if callable(field) else getattr(ROW, field)


_SPREAD = {"test": "test_", "validation": "val_", "baselines": "baseline_", "baselines_validation": "baseline_val_"}
_SPREAD_ORDER = sorted(_SPREAD.items(), key=lambda item: -len(item[1]))  # baseline_val_ before baseline_
ALWAYS_COLUMNS = tuple(f.name for f in dataclasses.fields(RunRow) if f.metadata.get("always"))
_FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(RunRow) if not f.metadata.get("internal")) | {
    name for name, value in vars(RunRow).items() if isinstance(value, property)}  # where, gap, finished ...


# What tells one variant from another inside an experiment: its label and every setting of its config
# that may differ between variants (task parameters such as answer_delay, optimizer, clipping ...). The
# seeds of one variant share all of these; grouping by fewer would pool different runs.
VARIANT_FIELDS = ("label", "task", "task_params", "optimizer", "learning_rate", "global_clipnorm", "steps",
                  "batch_size", "param_budget")


def variant_key(row: RunRow) -> tuple:
    return tuple(json.dumps(row.task_params, sort_keys=True) if k == "task_params" else getattr(row, k)
                 for k in VARIANT_FIELDS)


def _model_default(model: str, argument: str):
    """A builder's default for `argument` (zoo registry), None for a model without it or one the zoo does not
    know."""
    try:
        return zoo.get_model_info(model).defaults.get(argument)
    except ValueError:
        return None


def _direction(run: dict, config: dict) -> str:
    """Whether a run's model reads the future, from its config and the zoo: "sees the future", "causal,
    answers late" (the task answers after the cue: `answer_delay`) or "causal"."""
    try:
        sees = zoo.get_model_info(run["model"]).reads_future(config.get("model_params") or {})
    except ValueError:
        sees = False
    if sees:
        return "sees the future"
    return "causal, answers late" if (run.get("task_params") or {}).get("answer_delay") is not None else "causal"


def what_it_was(run: dict) -> dict:
    """What a sweep.json run entry was beyond its config's plain settings: {"gain", "kernel", "direction",
    "group"}, each derived from the entry's config (`RunRow`'s fields of the same names), None where the
    run's experiment does not vary it. The one place that reads the entry's `extra` (which of them the plan
    varies, and the sub-question `group` it answers) for the report and the HParams dashboard alike."""
    return {**_what_it_was(run, run.get("config") or {}), "group": (run.get("extra") or {}).get("group")}


def _what_it_was(run: dict, config: dict) -> dict:
    """gain, kernel and direction, derived from the run's config. They are filled for the runs of an
    experiment that varies them (the plan names them in the entry's `extra`); the value is the config's.
    Sweeps from before a setting was in the config give the value their plan stored."""
    extra = run.get("extra") or {}
    params = config.get("model_params") or {}
    out = {"gain": None, "kernel": None, "direction": None}
    if "gain" in extra:
        gain = params.get("recurrent_gain", _model_default(run["model"], "recurrent_gain"))
        out["gain"] = float(gain) if isinstance(gain, (int, float)) and not isinstance(gain, bool) else extra["gain"]
    if "kernel" in extra:
        out["kernel"] = params.get("recurrent_initializer") or "default"
    if "direction" in extra:
        out["direction"] = _direction(run, config)
    return out


def read_run(folder: pathlib.Path, run: dict) -> RunRow:
    """The typed row of one planned run (whatever became of it), read from its sweep.json entry `run` and its
    folder under `folder`: what it was from the entry and its config, what it measured from metadata.json
    (else task_spec.json), then what the recorders' files and the stored numbers add."""
    config = run["config"]
    metric = primary_metric(run["task"])
    row = RunRow(
        experiment=run["experiment"], id=run["id"], label=run["label"], model=run["model"], setting=run["setting"],
        initialization=run["initialization"], task=run["task"], task_values=task_values(run),
        task_params=json.loads(json.dumps(run["task_params"], sort_keys=True)), seed=run["seed"],
        **what_it_was(run),
        clip=config.get("global_clipnorm"),  # derived from the config, never from a copy beside it
        steps=config["epochs"] * config["steps_per_epoch"], batch_size=config["batch_size"],
        optimizer=config["optimizer"], learning_rate=config["learning_rate"],
        global_clipnorm=config.get("global_clipnorm"), param_budget=config.get("param_budget"),
        status=run.get("status", "pending"), error=run.get("error"), run_dir=run.get("run_dir"), metric=metric,
        higher_is_better=rules.higher_is_better(metric),
    )
    run_dir = folder / run["run_dir"] if run.get("run_dir") else None
    meta = _json(run_dir / "metadata.json") if run_dir else None
    spec = _json(run_dir / "task_spec.json") if run_dir else None
    found = {}  # the optional fields this run's files gave (results.csv has a column some run gave)
    if meta:
        if row.status != "failed" and meta.get("status") and meta["status"] != "running":
            row.status = meta["status"]
        seconds = meta.get("seconds") or {}  # where the run's time went (training.core.loop.PhaseClock)
        chance = meta.get("chance") or {}
        found.update(parameters=meta.get("parameters"), units=meta.get("units"),
                     tokens_per_second=meta.get("tokens_per_second"), wall_seconds=meta.get("wall_seconds"),
                     first_step_seconds=seconds.get("first_step"), steps_seconds=seconds.get("steps"),
                     fixed_seconds=seconds.get("fixed"), chance_loss=chance.get("loss"),
                     chance_accuracy=chance.get("accuracy"))
        row.test = {key: _float(value) for key, value in (meta.get("test") or {}).items()}
        row.validation = {key[len("val_"):]: _float(value) for key, value in (meta.get("final_epoch") or {}).items()
                          if key.startswith("val_")}
        if meta.get("divergence"):
            found.update(diverged_step=meta["divergence"].get("step"), divergence_cause=meta["divergence"].get("cause"))
        article = (meta.get("article_answers") or [None])[0]
        if isinstance(article, dict):
            found.update(article_answer=article.get("answer"), article_sentence=article.get("sentence"),
                         article_right=article.get("right"))
    elif spec:
        found.update(chance_loss=spec.get("chance_loss"), chance_accuracy=spec.get("chance_accuracy"))
    if run_dir and run_dir.is_dir():
        records = read_gradient_records(run_dir)
        found.update(_gradient_columns(records))
        sample = run_dir / "sample.txt"
        if sample.is_file():
            found["sample"] = sample.read_text(encoding="utf-8")
    for name, value in found.items():
        setattr(row, name, value)
    row.provided = frozenset(found)
    row.chance = chance_of(metric, row.chance_loss, row.chance_accuracy)
    row.test_metric, row.val_metric = row.test.get(metric), row.validation.get(metric)
    if run_dir and run_dir.is_dir():  # what the stored numbers show, read from the fields above
        measured = _statistics_columns(run_dir, meta or {}, spec or {}, row, records)
        row.baselines, row.baselines_validation = measured.pop("baselines"), measured.pop("baselines_validation")
        for name, value in measured.items():
            setattr(row, name, value)
        for name in ("theory_predicted_decay_final", "key_gradient_decades_final"):  # optional: runs that took it
            if getattr(row, name) is not None:
                row.provided = row.provided | {name}
    return row


# The columns that say how far a number can be trusted; None (an empty
# cell) when a run folder does not tell, never a guessed False.
STATISTICS_COLUMNS = ("n_eval", "n_eval_tokens", "test_correct", "eval_set", "examples_file", "degenerate",
                      "degenerate_reason", "hidden_state_norm_max", "zero_gradient_from_step", "loss_still_falling",
                      "solved", "steps_to_solve", "solve_threshold", "learning_curve", "curve_points",
                      "theory_jacobian_norm", "theory_predicted_decay", "key_gradient_decades")
TEST_EXAMPLES_NPZ = "test_examples.npz"


def _statistics_columns(run_dir: pathlib.Path, meta: dict, spec: dict, row: RunRow, records: dict) -> dict:
    """The fields that say how far the run's number can be trusted (`STATISTICS_COLUMNS`, None where its
    files do not tell) and its counting baselines, from its files and the fields `row` already holds."""
    out = dict.fromkeys(STATISTICS_COLUMNS)
    metric = row.metric
    examples = meta.get("test_examples") or {}
    if examples:
        out["n_eval"], out["n_eval_tokens"] = examples.get("n"), examples.get("tokens")
        out["eval_set"] = examples.get("eval_set")
        name = examples.get("file") or TEST_EXAMPLES_NPZ
        if (run_dir / name).is_file():
            out["examples_file"] = str(pathlib.PurePosixPath(row.run_dir) / name)
            if metric == "accuracy":
                arrays = read_test_examples(run_dir / name)
                if "correct" in arrays:
                    out["test_correct"] = int(np.asarray(arrays["correct"]).sum())
    elif spec.get("output") == "last_class" and row.test.get("accuracy") is not None:
        # one label per example and Keras's accuracy is correct/count over the whole test set: the count
        # of an older run is exact
        n = (spec.get("params") or {}).get("eval_size")
        if isinstance(n, int) and n > 0:
            out["n_eval"] = out["n_eval_tokens"] = n
            out["test_correct"] = int(round(row.test["accuracy"] * n))
    baselines = meta.get("baselines") or {}
    out["baselines"], out["baselines_validation"] = {}, {}
    for into, found in ((out["baselines"], baselines),
                        (out["baselines_validation"], baselines.get("validation") or {})):
        for name, nats in found.items():
            if isinstance(nats, (int, float)) and not isinstance(nats, bool) and metric != "accuracy":
                into[name] = chance_of(metric, float(nats), None)
    at_key = meta.get("gradient_at_key") or {}
    at_cue = meta.get("gradient_at_cue") or {}
    if at_key:
        out["key_gradient_decades"] = _float(at_key.get("decades"))
    elif at_cue:
        out["key_gradient_decades"] = _cue_decades(at_cue, "")
    else:
        out["key_gradient_decades"] = row.tt_log10_ratio_init
    out["key_gradient_decades_final"] = (_cue_decades(at_cue, "_final") if at_cue
                                         else row.tt_log10_ratio_final)
    hidden = meta.get("hidden_state_norm")
    if isinstance(hidden, dict):
        out["hidden_state_norm_max"] = _float(hidden.get("max"))
    theory = meta.get("theory") or {}
    out["theory_jacobian_norm"] = _float(theory.get("jacobian_spectral_norm"))
    out["theory_predicted_decay"] = _float(theory.get("predicted_decay"))
    final_theory = meta.get("theory_final") or {}
    if final_theory:
        out["theory_predicted_decay_final"] = _float(final_theory.get("predicted_decay"))
    out["zero_gradient_from_step"] = meta.get("zero_gradient_from_step") if "zero_gradient_from_step" in meta \
        else _zero_gradient_from(records["steps"])
    out.update(_degenerate(meta, row, out))
    out.update(_curve_columns(run_dir, meta, row, records))
    return out


def read_test_examples(path) -> dict:
    """The per-example evaluation a run stored (`loss`, `count`, `correct` arrays), {} when unreadable."""
    try:
        with np.load(path) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError):
        return {}


def _zero_gradient_from(steps):
    """`rules.zero_gradient_from` over a run's gradients.csv; None (unknown) without records."""
    if steps is None or not len(steps):
        return None
    return rules.zero_gradient_from(steps["step"], steps["grad_norm"].to_numpy(dtype=float))


_TOPICS = ("test loss exactly 0", "saturated softmax", "gradient exactly 0", "hidden-state norm")


def _degenerate(meta: dict, row: RunRow, found: dict) -> dict:
    """The producer's flag, or what the stored numbers show by themselves: a test loss of exactly 0, a
    saturated softmax, a gradient stuck at 0 (`found`: the fields read so far). Without a flag and without
    such evidence: unknown."""
    reasons = []
    flag = meta.get("degenerate")
    if isinstance(flag, dict) and flag.get("flag"):
        reasons.append(str(flag.get("reason") or "flagged by the run"))
    loss, chance_loss = row.test.get("loss"), row.chance_loss
    if row.status == "finished" and loss == 0.0:
        reasons.append("test loss exactly 0 in float32 (saturated outputs)")
    elif row.metric == "accuracy" and rules.loss_over_chance(loss, chance_loss):
        reasons.append(f"saturated softmax: test loss {loss:.3g} nats, {loss / chance_loss:.0f}x the chance loss")
    if found.get("zero_gradient_from_step") is not None:
        reasons.append(f"gradient exactly 0 from step {found['zero_gradient_from_step']}")
    if rules.hidden_overflow(found.get("hidden_state_norm_max")):
        reasons.append(f"hidden-state norm {found['hidden_state_norm_max']:.1e}")
    if reasons:  # the producer's reasons first; the report's own only where they add a new kind of evidence
        producer = flag.get("reason") if isinstance(flag, dict) else None
        kept = reasons[:1] if reasons[0] == str(producer) else []
        for reason in reasons[len(kept):]:
            topic = next((t for t in _TOPICS if t in reason), reason)
            if not any(topic in k for k in kept):
                kept.append(reason)
        return {"degenerate": True, "degenerate_reason": "; ".join(kept)}
    if isinstance(flag, dict) and "flag" in flag:
        return {"degenerate": False, "degenerate_reason": None}
    return {}


def _curve_columns(run_dir: pathlib.Path, meta: dict, row: RunRow, records: dict) -> dict:
    from training.sweep import stats

    out = {}
    curve = meta.get("learning_curve") or {}
    name = curve.get("file") if isinstance(curve, dict) else None
    path = run_dir / name if name and (run_dir / name).is_file() else run_dir / "history.csv"
    frame = _read_csv(path)
    if frame is not None:
        out["learning_curve"] = str(pathlib.PurePosixPath(row.run_dir) / path.name)
        out["curve_points"] = int(len(frame))
    convergence = meta.get("convergence")
    if isinstance(convergence, dict) and "still_falling" in convergence:
        out["loss_still_falling"] = bool(convergence["still_falling"])
    else:
        steps, losses = _loss_curve(frame, records["steps"])
        if steps is not None:
            out["loss_still_falling"] = rules.still_falling(steps, losses)
    solve = meta.get("solve")
    if isinstance(solve, dict) and "threshold" in solve:
        out["solve_threshold"], out["steps_to_solve"] = solve["threshold"], solve.get("step")
        out["solved"] = solve.get("step") is not None
    elif row.metric == "accuracy" and frame is not None and "val_accuracy" in frame and len(frame) >= 2:
        out["solve_threshold"] = rules.SOLVED_ACCURACY
        out["steps_to_solve"] = rules.first_step_reaching(frame["step"], frame["val_accuracy"], rules.SOLVED_ACCURACY)
        out["solved"] = out["steps_to_solve"] is not None
    return out


def _loss_curve(frame, steps_frame):
    """The loss curve the convergence check reads: the validation loss when evaluated at least 4 times,
    else the training loss of every recorded step averaged over 20 bins."""
    if frame is not None and "val_loss" in frame and "step" in frame and frame["val_loss"].notna().sum() >= 4:
        return frame["step"].to_numpy(float), frame["val_loss"].to_numpy(float)
    if steps_frame is not None and "step_loss" in steps_frame and len(steps_frame) >= 40:
        s = steps_frame["step"].to_numpy(float)
        v = steps_frame["step_loss"].to_numpy(float)
        bins = np.array_split(np.arange(len(s)), 20)
        return np.array([s[b].mean() for b in bins]), np.array([np.nanmean(v[b]) for b in bins])
    return None, None


def _read_csv(path):
    import pandas as pd

    try:
        return pd.read_csv(path) if path.is_file() and path.stat().st_size else None
    except (OSError, ValueError):
        return None


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _gradient_columns(records: dict) -> dict:
    out = {}
    steps = records["steps"]
    if steps is not None and len(steps):
        norms = steps["grad_norm"].to_numpy(dtype=float)
        finite = norms[np.isfinite(norms)]
        out["grad_steps_recorded"] = int(len(steps))
        if finite.size:
            median = float(np.median(finite))
            out["grad_norm_max"] = float(finite.max())
            out["grad_norm_median"] = median
            out["grad_norm_max_over_median"] = float(finite.max() / median) if median > 0 else None
            out["grad_norm_explosion_ratio"] = rules.explosion_ratio(norms.tolist())
        bad = np.nonzero(~np.isfinite(norms))[0]
        out["grad_first_nonfinite_step"] = int(steps["step"].iloc[bad[0]]) if bad.size else None
        if "grad_clipped" in steps:
            out["grad_clipped_fraction"] = float(np.nanmean(steps["grad_clipped"].to_numpy(dtype=float)))
        if "grad_norm_clipped" in steps:
            clipped = steps["grad_norm_clipped"].to_numpy(dtype=float)
            clipped = clipped[np.isfinite(clipped)]
            out["grad_norm_clipped_max"] = float(clipped.max()) if clipped.size else None
        if "step_loss" in steps:
            losses = steps["step_loss"].to_numpy(dtype=float)
            out["final_step_loss"] = float(losses[-1])
    tt = records["through_time"]
    if tt is not None:
        first, last = summarize_profile(tt["profiles"][0]), summarize_profile(tt["profiles"][-1])
        out.update(
            tt_probe=tt["probe"],
            tt_final_step=int(tt["steps"][-1]),
            tt_decay_init=first["decay_decades_per_step"],
            tt_decay_final=last["decay_decades_per_step"] if len(tt["steps"]) > 1 else None,
            tt_lag_1e6_init=first["lag_1e6"],
            tt_lag_1e6_final=last["lag_1e6"] if len(tt["steps"]) > 1 else None,
            tt_log10_ratio_init=first["log10_ratio"],
            tt_log10_ratio_final=last["log10_ratio"] if len(tt["steps"]) > 1 else None,
        )
    return out


def _cue_decades(at_cue: dict, when: str) -> float | None:
    """Decades of metadata `gradient_at_cue` at initialisation (`when` "") or after training ("_final"): -inf
    where its ratio is exactly 0 (no path from the scored step back to the cue), None where not measured."""
    ratio = _float(at_cue.get("ratio" + when))
    if ratio is None:
        return None
    return -math.inf if ratio == 0 else math.log10(ratio)


def collect(folder) -> tuple[dict, list[RunRow]]:
    """The sweep description and one typed row per planned run, in plan order."""
    folder = pathlib.Path(folder)
    sweep = read_sweep(folder)
    return sweep, [read_run(folder, run) for run in sweep.get("runs", [])]


# --------------------------------------------------------------------------- a variant's seeds
@dataclasses.dataclass
class VariantGroup:
    """The seeds of one variant of an experiment (`VARIANT_FIELDS` equal: never two settings pooled): its
    rows and the statistics of its test metric. What the variant was (label, model, setting,
    initialization, task, gain, clip ...) is its rows' and read through the same names.

    `group_rows` makes them from a sweep's rows, in plan order.
    """

    rows: list = dataclasses.field(metadata={"doc": "the `RunRow` of every seed, in plan order",
                                             "source": "the sweep's rows", "unit": "", "always": True})
    result: stats.Result = dataclasses.field(metadata={
        "doc": "the test metric over the seeds with its 95% interval, chance position and flags "
               "(`training.sweep.evidence.result_of`: degenerate and unfinished seeds set aside, with reasons)",
        "source": REPORT, "unit": "", "always": True})

    # what the variant was: its first row's words (the rows share them)
    label = property(lambda self: self.rows[0].label)
    model = property(lambda self: self.rows[0].model)
    setting = property(lambda self: self.rows[0].setting)
    initialization = property(lambda self: self.rows[0].initialization)
    experiment = property(lambda self: self.rows[0].experiment)
    task = property(lambda self: self.rows[0].task)
    task_values = property(lambda self: self.rows[0].task_values)
    task_params = property(lambda self: self.rows[0].task_params)
    where = property(lambda self: self.rows[0].where)
    gap = property(lambda self: self.rows[0].gap)
    metric = property(lambda self: self.rows[0].metric)
    gain = property(lambda self: self.rows[0].gain)
    clip = property(lambda self: self.rows[0].clip)
    kernel = property(lambda self: self.rows[0].kernel)
    direction = property(lambda self: self.rows[0].direction)
    group = property(lambda self: self.rows[0].group)

    @property
    def seeds(self) -> list:
        """The seeds of its runs, in plan order."""
        return [r.seed for r in self.rows]

    @property
    def n(self) -> int:
        """Its runs (finished or not)."""
        return len(self.rows)

    @property
    def status(self) -> str:
        """"finished", or the count of each status over the seeds ("2 finished, 1 diverged")."""
        statuses = [r.status for r in self.rows]
        if len(statuses) == 1:
            return statuses[0]
        return ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))

    @property
    def errors(self) -> list:
        """The distinct reasons its failed runs gave."""
        return sorted({r.error for r in self.rows if r.error})

    @property
    def diverged(self) -> bool:
        """Some seed diverged (its status, or a step at which it became NaN/Inf)."""
        return any(r.diverged for r in self.rows)

    # the statistics of the test metric
    @property
    def measured(self) -> bool:
        """Some seed has a test value that counts (finished, not degenerate)."""
        return bool(self.result.measures)

    @property
    def value(self):
        """The test metric: the mean over the counted seeds (None without one)."""
        return self.result.summary["value"]

    @property
    def interval(self) -> tuple:
        """(low, high) of the 95% interval of `value`; None where none could be computed."""
        s = self.result.summary
        return s["low"], s["high"]

    @property
    def chance(self):
        """The chance baseline in the unit of its metric (the first run that has one)."""
        return self.result.chance

    @property
    def position(self) -> str | None:
        """Against chance: "above" (significantly better), "at", "below", "mixed" (seeds disagree) or None
        (cannot be tested): `stats.chance_position`."""
        return stats.chance_position(self.result)

    def successes(self, threshold: float) -> tuple[int, int]:
        """(seeds whose test metric reached `threshold` and are not degenerate, seeds)."""
        return evidence.success_rate(self.rows, threshold, self.result.higher_is_better)

    def values(self, field) -> list[float]:
        """The numbers of a row field over the seeds (`field`: `ROW.name` or any function of a row; a field's
        name is read through `ROW`); None, booleans and words left out."""
        get = field_reader(field)
        out = []
        for row in self.rows:
            v = get(row)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                out.append(float(v))
        return out

    def mean(self, field):
        """Mean over the seeds of the finite values of `field`, or None."""
        vs = [v for v in self.values(field) if math.isfinite(v)]
        return float(np.mean(vs)) if vs else None


def group_rows(rows, load_examples=None) -> list[VariantGroup]:
    """`rows` grouped by variant (`variant_key`: the seeds of one variant together), in plan order, each with
    its `stats.Result` (per-example files through `load_examples`, `examples_loader(folder)`)."""
    by_key: dict[tuple, list] = {}
    for row in rows:
        by_key.setdefault(variant_key(row), []).append(row)
    return [VariantGroup(mine, evidence.result_of(mine[0].label, mine, load_examples)) for mine in by_key.values()]


# ------------------------------------------------------------------------------------------ series
def history(folder, row: RunRow) -> "object | None":
    """The run's history.csv (one row per evaluation) as a DataFrame, or None."""
    if not row.run_dir:
        return None
    return _read_csv(pathlib.Path(folder) / row.run_dir / "history.csv")


def learning_curve(folder, row: RunRow) -> "object | None":
    """The densest learning curve the run stored (`learning_curve` of its metadata, else history.csv):
    a DataFrame with `step` and the validation columns, or None."""
    if not row.learning_curve:
        return history(folder, row)
    return _read_csv(pathlib.Path(folder) / row.learning_curve)


def examples_loader(folder):
    """`load(row)` -> the row's per-example test arrays (or None), for `training.sweep.evidence`."""
    folder = pathlib.Path(folder)

    def load(row: RunRow):
        if not row.examples_file:
            return None
        return read_test_examples(folder / row.examples_file) or None

    return load


def run_metadata(folder, row: RunRow) -> dict | None:
    """The run's metadata.json, or None where the run wrote none (or it cannot be read)."""
    return _json(pathlib.Path(folder) / row.run_dir / "metadata.json") if row.run_dir else None


def gradient_records(folder, row: RunRow) -> dict:
    if not row.run_dir:
        return {"steps": None, "through_time": None}
    return read_gradient_records(pathlib.Path(folder) / row.run_dir)
