"""Drawing helpers the report's figures share, each fixing a way a plot can mislead:

    log_line      a series on a log axis whose zeros and NaN/Inf are drawn as labelled markers at the axis
                  edge instead of silently dropping off (a zero gradient is a finding, not a gap)
    y_scale       linear, log or symlog from the values' span (a loss that reaches 1e14 on a linear axis
                  flattens every other curve to 0)
    band          mean over seeds with a shaded 95% t-interval; one seed is drawn as a line, no band
    baseline      a dashed horizontal reference (chance, n-gram) labelled at its right end
    dodge         small horizontal offsets for series that share x values, so equal values stay visible
    legend_outside  the legend right of the axes, never over the data
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import transforms

from training.sweep import stats

ZERO_MARK = dict(marker="v", markersize=6, linestyle="none", clip_on=False)
NONFINITE_MARK = dict(marker="X", markersize=7, linestyle="none", clip_on=False)


def y_scale(values, decades: float = 3.0) -> str:
    """"log" when the positive finite values span more than `decades` decades and none is negative,
    "symlog" when they span that much and some are negative, else "linear"."""
    v = np.asarray([x for x in np.ravel(values) if x is not None], float)
    v = v[np.isfinite(v)]
    positive = v[v > 0]
    if positive.size < 2 or positive.max() / positive.min() < 10 ** decades:
        return "linear"
    return "symlog" if (v < 0).any() else "log"


def log_line(ax, x, y, *, color, label=None, where="the bottom edge", **kwargs) -> dict:
    """Plot `y` against `x` on a log y axis (the caller sets it): positive finite values as a line,
    exact zeros as ▼ markers on the bottom edge, NaN/Inf as ✕ markers on the top edge, each with a legend
    entry that counts them. Returns {"zeros": count, "nonfinite": count}."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    good = np.isfinite(y) & (y > 0)
    shown = np.where(good, y, np.nan)
    ax.plot(x, shown, color=color, label=label, **kwargs)
    edge = transforms.blended_transform_factory(ax.transData, ax.transAxes)
    zeros = np.isfinite(y) & (y <= 0)
    bad = ~np.isfinite(y)
    if zeros.any():
        ax.plot(x[zeros], np.zeros(zeros.sum()), transform=edge, color=color, **ZERO_MARK,
                label=f"{label + ': ' if label else ''}0 at {zeros.sum()} points (▼ on {where})")
    if bad.any():
        ax.plot(x[bad], np.ones(bad.sum()), transform=edge, color=color, **NONFINITE_MARK,
                label=f"{label + ': ' if label else ''}NaN/Inf at {bad.sum()} points (✕ on the top edge)")
    return {"zeros": int(zeros.sum()), "nonfinite": int(bad.sum())}


def set_y_scale(ax, values, linthresh=None) -> str:
    """Apply `y_scale(values)` to `ax`; symlog's linear range is the smallest positive magnitude."""
    scale = y_scale(values)
    if scale == "symlog":
        v = np.abs(np.asarray([x for x in np.ravel(values) if x is not None], float))
        v = v[np.isfinite(v) & (v > 0)]
        ax.set_yscale("symlog", linthresh=linthresh or float(v.min()))
    elif scale == "log":
        ax.set_yscale("log")
    return scale


def band(ax, x, runs, *, color, label=None, linestyle="-", marker=None, **kwargs) -> None:
    """Mean over seeds (rows of `runs`, NaN where a seed has no value) with its 95% t-interval shaded;
    with one seed a plain line: no band pretends to know a spread it did not measure."""
    runs = np.atleast_2d(np.asarray(runs, float))
    x = np.asarray(x, float)
    counts = np.isfinite(runs).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(counts > 0, np.nansum(runs, axis=0) / np.maximum(counts, 1), np.nan)
    seeds = runs.shape[0]
    name = label if seeds == 1 or label is None else f"{label} (mean of {seeds} seeds, 95% band)"
    ax.plot(x, mean, color=color, label=name, linestyle=linestyle, marker=marker, **kwargs)
    if seeds > 1:
        low, high = np.full_like(mean, np.nan), np.full_like(mean, np.nan)
        for j in range(runs.shape[1]):
            column = runs[:, j][np.isfinite(runs[:, j])]
            if column.size > 1:
                s = stats.mean_interval(column)
                low[j], high[j] = s["low"], s["high"]
        ax.fill_between(x, low, high, color=color, alpha=0.18, linewidth=0)


def baseline(ax, value, label, color="0.35", linestyle=(0, (4, 3))) -> None:
    """A horizontal reference line labelled at its right end (outside the data, beside the axes)."""
    if value is None or not math.isfinite(value):
        return
    ax.axhline(value, color=color, linestyle=linestyle, linewidth=1.1, zorder=1)
    edge = transforms.blended_transform_factory(ax.transAxes, ax.transData)
    ax.text(1.01, value, f"{label} {value:.3g}", transform=edge, fontsize=7, color=color, va="center", ha="left",
            clip_on=False)


def dodge(index: int, count: int, width: float = 0.06) -> float:
    """A multiplicative x offset for series `index` of `count` on a log x axis (additive on linear: pass
    the spacing as `width`), centred on zero, so series with equal values do not hide each other."""
    return (index - (count - 1) / 2) * width


def legend_outside(ax, **kwargs) -> None:
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7, frameon=False,
                  **kwargs)
