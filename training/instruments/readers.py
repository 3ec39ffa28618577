"""Reading back what the gradient instruments write into a run folder; the one place that knows the
file names and their layout. Plain files, no Keras: a report can read a run without building a model.

    gradients.csv                one row per recorded step (`GradientRecorder`)
    gradients_summary.json       divergence, clipping settings, a few statistics (`GradientRecorder`)
    gradient_through_time.npz    the (checkpoints x time) profile matrices (`GradientThroughTime`)
    gradient_through_time.csv    one summary row per checkpoint and profile (`GradientThroughTime`)
"""

from __future__ import annotations

import csv
import json
import os
import pathlib

import numpy as np

STEP_GRADIENTS_CSV = "gradients.csv"
GRADIENT_SUMMARY_JSON = "gradients_summary.json"
THROUGH_TIME_NPZ = "gradient_through_time.npz"
THROUGH_TIME_CSV = "gradient_through_time.csv"
STEP_GRADIENTS_TENSORBOARD = os.path.join("tensorboard", "gradients")
THROUGH_TIME_TENSORBOARD = os.path.join("tensorboard", "through_time")


def read_step_gradients(run_dir):
    """The step-gradient rows of a run folder as a pandas DataFrame (one row per recorded step)."""
    import pandas as pd

    return pd.read_csv(pathlib.Path(run_dir) / STEP_GRADIENTS_CSV)


def read_gradient_summary(run_dir) -> dict:
    """The divergence flag, its cause and the clipping statistics of a run folder."""
    with open(pathlib.Path(run_dir) / GRADIENT_SUMMARY_JSON, encoding="utf-8") as f:
        return json.load(f)


def read_through_time(run_dir) -> dict[str, np.ndarray]:
    """The matrices of a run folder: steps (K,), epochs (K,), time (T,), lag (T,), one (K, T) per profile."""
    with np.load(pathlib.Path(run_dir) / THROUGH_TIME_NPZ) as data:
        return {key: data[key] for key in data.files}


# ------------------------------------------------------------------ continuing the files after a resume


def replace_file(path, write) -> None:
    """`write(temporary_path)`, then rename it onto `path`: a process killed at any moment leaves the
    old file or the new one, never half of one."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".tmp-{path.name}.{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def keep_step_gradients_before(run_dir, step: int) -> tuple[list[str] | None, list[dict]]:
    """Keep the rows of gradients.csv before `step` (drop those a killed process recorded after the
    checkpoint it resumes from), rewritten in place; returns (columns, kept rows with numbers)."""
    path = pathlib.Path(run_dir) / STEP_GRADIENTS_CSV
    if not path.is_file():
        return None, []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        columns = next(reader, None)
        lines = list(reader)
    if not columns:
        return None, []
    kept = []
    for line in lines:  # a line cut by the kill has too few fields or no number
        try:
            if len(line) == len(columns) and int(line[0]) < step:
                kept.append(line)
        except ValueError:
            continue

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(columns)
            writer.writerows(kept)

    replace_file(path, write)
    rows = [{k: (int(v) if k in ("step", "epoch") else float(v) if v != "" else float("nan")) for k, v in zip(columns, line)}
            for line in kept]
    return columns, rows


def keep_through_time_until(run_dir, step: int) -> dict[str, np.ndarray] | None:
    """The through-time matrices of rows taken at or before `step` (with the weights of the checkpoint
    a resume starts from, or earlier), or None when there is no file."""
    path = pathlib.Path(run_dir) / THROUGH_TIME_NPZ
    if not path.is_file():
        return None
    try:
        matrices = read_through_time(run_dir)
    except (OSError, ValueError, EOFError):
        return None  # cut by a kill before it was written whole (older runs): the profiles start again
    keep = matrices["steps"] <= step
    return {k: (v[keep] if v.ndim >= 1 and len(v) == len(keep) and k not in ("time", "lag") else v)
            for k, v in matrices.items()}
