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
from training.instruments import readers
from training.instruments.through_time import summarize_profile

LN2 = math.log(2.0)
SWEEP_FILE = "sweep.json"
HIGHER_IS_BETTER = {"accuracy": True, "mse": False, "bits_per_char": False, "perplexity": False, "nll": False}
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
    path = pathlib.Path(folder) / SWEEP_FILE
    if not path.is_file():
        raise ValueError(f"{folder} holds no {SWEEP_FILE}; point at the folder `python -m training.compare` printed.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from None


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
        "clip": extra.get("clip"),
        "kernel": extra.get("kernel"),
        "direction": extra.get("direction"),
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
    if run_dir and run_dir.is_dir():
        row.update(_gradient_columns(read_gradient_records(run_dir)))
        sample = run_dir / "sample.txt"
        if sample.is_file():
            row["sample"] = sample.read_text(encoding="utf-8")
    return row


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
    import pandas as pd

    if not row.get("run_dir"):
        return None
    path = pathlib.Path(folder) / row["run_dir"] / "history.csv"
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else None


def gradient_records(folder, row) -> dict:
    if not row.get("run_dir"):
        return {"steps": None, "through_time": None}
    return read_gradient_records(pathlib.Path(folder) / row["run_dir"])
