"""Reading back what the gradient instruments write into a run folder; the one place that knows the
file names and their layout. Plain files, no Keras: a report can read a run without building a model.

    gradients.csv                one row per recorded step (`GradientRecorder`)
    gradients_summary.json       divergence, clipping settings, a few statistics (`GradientRecorder`)
    gradient_through_time.npz    the (checkpoints x time) profile matrices (`GradientThroughTime`)
    gradient_through_time.csv    one summary row per checkpoint and profile (`GradientThroughTime`)
"""

from __future__ import annotations

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
