"""The results of a comparison sweep, read back from its folder: one flat row per run, and the series
(validation curves, step gradients, gradient-through-time profiles) the plots need.

Everything here reads files only (`sweep.json` and the run folders); nothing is trained or loaded into
Keras, so a report can be rebuilt at any time and gives the same tables.

    sweep, rows = collect("saved_models/compare-seed-problems-quick-...")
"""

from __future__ import annotations

import json
import math
import pathlib

import numpy as np

import datasets
from training.core import rules
from training.core.rules import LN2
from training.instruments import readers
from training.instruments.through_time import summarize_profile

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


# What tells one variant from another inside an experiment: its label and every setting of its config
# that may differ between variants (task parameters such as answer_delay, optimizer, clipping ...). The
# seeds of one variant share all of these; grouping by fewer would pool different runs.
VARIANT_FIELDS = ("label", "task", "task_params", "optimizer", "learning_rate", "global_clipnorm", "steps",
                  "batch_size", "param_budget")


def variant_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in VARIANT_FIELDS)


def task_values(run: dict) -> str:
    """The task parameters that tell runs of one experiment apart, in words ("gap=30")."""
    skip = {"eval_size", "epoch_size", "manual_dir", "data_dir", "path", "vocabulary_path", "download"}
    return " ".join(f"{k}={v}" for k, v in run["task_params"].items() if k not in skip)


def run_row(folder: pathlib.Path, run: dict) -> dict:
    """One flat row of numbers and words for a planned run (whatever became of it)."""
    config = run["config"]
    extra = run.get("extra") or {}
    row = {
        "experiment": run["experiment"],
        "id": run["id"],
        "label": run["label"],
        "model": run["model"],
        "setting": run["setting"],
        "initialization": run["initialization"],
        "task": run["task"],
        "task_values": task_values(run),
        "task_params": json.dumps(run["task_params"], sort_keys=True),
        "seed": run["seed"],
        "gain": extra.get("gain"),
        "clip": config.get("global_clipnorm"),  # derived from the config, never from a copy beside it
        "kernel": extra.get("kernel"),
        "direction": extra.get("direction"),
        "group": extra.get("group"),  # the sub-question a run answers inside its experiment (newer sweeps)
        "steps": config["epochs"] * config["steps_per_epoch"],
        "batch_size": config["batch_size"],
        "optimizer": config["optimizer"],
        "learning_rate": config["learning_rate"],
        "global_clipnorm": config.get("global_clipnorm"),
        "param_budget": config.get("param_budget"),
        "status": run.get("status", "pending"),
        "error": run.get("error"),
        "run_dir": run.get("run_dir"),
    }
    run_dir = folder / run["run_dir"] if run.get("run_dir") else None
    meta = _json(run_dir / "metadata.json") if run_dir else None
    spec = _json(run_dir / "task_spec.json") if run_dir else None
    metric = primary_metric(run["task"])
    row["metric"] = metric
    if meta:
        if row["status"] not in ("failed",) and meta.get("status") and meta["status"] != "running":
            row["status"] = meta["status"]
        row["parameters"] = meta.get("parameters")
        row["units"] = meta.get("units")
        row["tokens_per_second"] = meta.get("tokens_per_second")
        row["wall_seconds"] = meta.get("wall_seconds")
        seconds = meta.get("seconds") or {}  # where the run's time went (training.core.loop.PhaseClock)
        for phase in ("first_step", "steps", "fixed"):
            row[f"{phase}_seconds"] = seconds.get(phase)
        chance = meta.get("chance") or {}
        row["chance_loss"], row["chance_accuracy"] = chance.get("loss"), chance.get("accuracy")
        for key, value in (meta.get("test") or {}).items():
            row[f"test_{key}"] = _float(value)
        for key, value in (meta.get("final_epoch") or {}).items():
            if key.startswith("val_"):
                row[key] = _float(value)
        if meta.get("divergence"):
            row["diverged_step"] = meta["divergence"].get("step")
            row["divergence_cause"] = meta["divergence"].get("cause")
    elif spec:
        row["chance_loss"], row["chance_accuracy"] = spec.get("chance_loss"), spec.get("chance_accuracy")
    row["chance"] = chance_of(metric, row.get("chance_loss"), row.get("chance_accuracy"))
    row["test_metric"] = row.get(f"test_{metric}")
    row["val_metric"] = row.get(f"val_{metric}")
    row["higher_is_better"] = rules.higher_is_better(metric)
    row.update({key: None for key in STATISTICS_COLUMNS})
    if run_dir and run_dir.is_dir():
        records = read_gradient_records(run_dir)
        row.update(_gradient_columns(records))
        row.update(_statistics_columns(run_dir, meta or {}, spec or {}, row, records))
        sample = run_dir / "sample.txt"
        if sample.is_file():
            row["sample"] = sample.read_text(encoding="utf-8")
    return row


# The columns that say how far a number can be trusted; None (an empty
# cell) when a run folder does not tell, never a guessed False.
STATISTICS_COLUMNS = ("n_eval", "n_eval_tokens", "test_correct", "eval_set", "examples_file", "degenerate",
                      "degenerate_reason", "hidden_state_norm_max", "zero_gradient_from_step", "loss_still_falling",
                      "solved", "steps_to_solve", "solve_threshold", "learning_curve", "curve_points",
                      "theory_jacobian_norm", "theory_predicted_decay", "key_gradient_decades")
TEST_EXAMPLES_NPZ = "test_examples.npz"


def _statistics_columns(run_dir: pathlib.Path, meta: dict, spec: dict, row: dict, records: dict) -> dict:
    out = {}
    metric = row["metric"]
    examples = meta.get("test_examples") or {}
    if examples:
        out["n_eval"], out["n_eval_tokens"] = examples.get("n"), examples.get("tokens")
        out["eval_set"] = examples.get("eval_set")
        name = examples.get("file") or TEST_EXAMPLES_NPZ
        if (run_dir / name).is_file():
            out["examples_file"] = str(pathlib.PurePosixPath(row["run_dir"]) / name)
            if metric == "accuracy":
                arrays = read_test_examples(run_dir / name)
                if "correct" in arrays:
                    out["test_correct"] = int(np.asarray(arrays["correct"]).sum())
    elif spec.get("output") == "last_class" and row.get("test_accuracy") is not None:
        # one label per example and Keras's accuracy is correct/count over the whole test set: the count
        # of an older run is exact
        n = (spec.get("params") or {}).get("eval_size")
        if isinstance(n, int) and n > 0:
            out["n_eval"] = out["n_eval_tokens"] = n
            out["test_correct"] = int(round(row["test_accuracy"] * n))
    baselines = meta.get("baselines") or {}
    for prefix, found in (("baseline_", baselines), ("baseline_val_", baselines.get("validation") or {})):
        for name, nats in found.items():
            if isinstance(nats, (int, float)) and not isinstance(nats, bool) and metric != "accuracy":
                out[f"{prefix}{name}"] = chance_of(metric, float(nats), None)
    at_key = meta.get("gradient_at_key") or {}
    out["key_gradient_decades"] = _float(at_key.get("decades")) if at_key else row.get("tt_log10_ratio_init")
    hidden = meta.get("hidden_state_norm")
    if isinstance(hidden, dict):
        out["hidden_state_norm_max"] = _float(hidden.get("max"))
    theory = meta.get("theory") or {}
    out["theory_jacobian_norm"] = _float(theory.get("jacobian_spectral_norm"))
    out["theory_predicted_decay"] = _float(theory.get("predicted_decay"))
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


def _degenerate(meta: dict, row: dict, found: dict) -> dict:
    """The producer's flag, or what the stored numbers show by themselves: a test loss of exactly 0, a
    saturated softmax, a gradient stuck at 0. Without a flag and without such evidence: unknown."""
    reasons = []
    flag = meta.get("degenerate")
    if isinstance(flag, dict) and flag.get("flag"):
        reasons.append(str(flag.get("reason") or "flagged by the run"))
    loss, chance_loss = row.get("test_loss"), row.get("chance_loss")
    if row.get("status") == "finished" and loss == 0.0:
        reasons.append("test loss exactly 0 in float32 (saturated outputs)")
    elif row["metric"] == "accuracy" and rules.loss_over_chance(loss, chance_loss):
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


def _curve_columns(run_dir: pathlib.Path, meta: dict, row: dict, records: dict) -> dict:
    from training.sweep import stats

    out = {}
    curve = meta.get("learning_curve") or {}
    name = curve.get("file") if isinstance(curve, dict) else None
    path = run_dir / name if name and (run_dir / name).is_file() else run_dir / "history.csv"
    frame = _read_csv(path)
    if frame is not None:
        out["learning_curve"] = str(pathlib.PurePosixPath(row["run_dir"]) / path.name)
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
    elif row["metric"] == "accuracy" and frame is not None and "val_accuracy" in frame and len(frame) >= 2:
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


def collect(folder) -> tuple[dict, list[dict]]:
    """The sweep description and one row per planned run, in plan order."""
    folder = pathlib.Path(folder)
    sweep = read_sweep(folder)
    return sweep, [run_row(folder, run) for run in sweep.get("runs", [])]


# ------------------------------------------------------------------------------------------ series
def history(folder, row) -> "object | None":
    """The run's history.csv (one row per evaluation) as a DataFrame, or None."""
    if not row.get("run_dir"):
        return None
    return _read_csv(pathlib.Path(folder) / row["run_dir"] / "history.csv")


def learning_curve(folder, row) -> "object | None":
    """The densest learning curve the run stored (`learning_curve` of its metadata, else history.csv):
    a DataFrame with `step` and the validation columns, or None."""
    if not row.get("learning_curve"):
        return history(folder, row)
    return _read_csv(pathlib.Path(folder) / row["learning_curve"])


def examples_loader(folder):
    """`load(row)` -> the row's per-example test arrays (or None), for `training.sweep.evidence`."""
    folder = pathlib.Path(folder)

    def load(row):
        if not row.get("examples_file"):
            return None
        return read_test_examples(folder / row["examples_file"]) or None

    return load


def gradient_records(folder, row) -> dict:
    if not row.get("run_dir"):
        return {"steps": None, "through_time": None}
    return read_gradient_records(pathlib.Path(folder) / row["run_dir"])
