"""The figures of a comparison report (matplotlib, Agg backend: no display needed).

Every figure has labelled axes with units, the chance baseline of its task where one exists, and its
legend outside the data. Each function takes the sweep folder and the rows of one experiment
(`training.sweep.results`), writes one PNG and returns its path, or None when there is nothing to draw
(for example every run failed, or the gradient recorder was off).

What the figures refuse to hide (`training.sweep.axes`): a zero or a NaN on a log axis is a marker on the
axis edge, not a gap; a loss that spans 10^14 gets a log axis; an interval is drawn only where one was
measured (over seeds, or over the test examples of one run), never a zero-width bar; lines that would lie
on top of each other go into small multiples or are offset.

Colours name the architecture (in the zoo registry's order) and line styles (or markers) the
initialization, the same in every figure.
"""

from __future__ import annotations

import json
import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.lines  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import zoo  # noqa: E402
from training.core import rules  # noqa: E402
from training.sweep import axes, evidence, results, stats  # noqa: E402

STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
DPI = 100
CHANCE_STYLE = dict(color="0.3", linestyle=(0, (4, 3)), linewidth=1.2)


def base_model(model: str) -> str:
    """The architecture of a zoo model (`bidirectional_lstm` -> `lstm`), from the zoo's registry."""
    try:
        return zoo.get_model_info(model).architecture
    except ValueError:  # a model this checkout does not know
        return model


def color(model: str, i: int = 0) -> str:
    """One colour per architecture, in the order the zoo registers them; C5.. for a model it does not know."""
    architectures = zoo.architectures()
    base = base_model(model)
    return f"C{architectures.index(base) % 10}" if base in architectures else f"C{5 + i % 5}"


def _style_map(rows) -> dict:
    """A line style per initialization setting, in order of first appearance."""
    out = {}
    for row in rows:
        out.setdefault(row.setting, STYLES[len(out) % len(STYLES)])
    return out


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")  # "tight" keeps the legends placed outside the axes
    plt.close(fig)
    return path


def _chance_line(ax, value, label="chance"):
    axes.baseline(ax, value, label)


def _by_label(rows):
    """Rows grouped by variant (`results.variant_key`: seeds together, never two settings pooled), in plan
    order, under their label; a label two variants share is told apart by its task values."""
    variants = {}
    for row in rows:
        variants.setdefault(results.variant_key(row), []).append(row)
    labels = [key[0] for key in variants]
    return {(g[0].label if labels.count(g[0].label) == 1 else f"{g[0].label} ({g[0].task_values})"): g
            for g in variants.values()}


def _result(folder, rows) -> stats.Result:
    return evidence.result_of(rows[0].label, rows, results.examples_loader(folder) if folder else None)


def _interval(result: stats.Result):
    """(value, low, high) of a result; low/high None when no interval was measured."""
    s = result.summary
    shown = result
    if s["value"] is None and result.set_aside:
        shown = stats.Result(result.label, result.metric, result.set_aside, chance=result.chance)
        s = shown.summary
    return s["value"], s["low"], s["high"]


def _chance_band(ax, rows, orientation="horizontal"):
    """The 95% range a guesser scores on this test set, shaded, with the chance line."""
    chance = [r.chance for r in rows if r.chance is not None]
    if not chance or max(chance) - min(chance) > 1e-9:
        return
    value = chance[0]
    trials = {r.n_eval_tokens for r in rows if r.n_eval_tokens}
    metric = rows[0].metric
    if metric == "accuracy" and len(trials) == 1:
        low, high = stats.chance_interval(value, int(trials.pop()))
        (ax.axhspan if orientation == "horizontal" else ax.axvspan)(low, high, color="0.85", alpha=0.6, zorder=0,
                                                                     linewidth=0, label="chance range (95%)")
    if orientation == "horizontal":
        _chance_line(ax, value, "chance" if metric == "accuracy" else "baseline")
    else:
        ax.axvline(value, **CHANCE_STYLE, zorder=1, label=f"{'chance' if metric == 'accuracy' else 'baseline'} "
                                                            f"{value:.3g}")


# --------------------------------------------------------------------------------- through time
def through_time_profiles(folder, rows, path):
    """||dL_T/dx_t|| relative to its value at lag 0 against the lag T - t, one panel per architecture:
    dashed at initialisation, solid after training (first seed of each variant). Zeros and NaN are
    marked on the axis edges."""
    profiles = []
    for label, group in _by_label(rows).items():
        tt = results.gradient_records(folder, group[0])["through_time"]
        if tt is not None:
            profiles.append((group[0], tt, label))
    if not profiles:
        return None
    models = [m for m in dict.fromkeys(base_model(r.model) for r, _, _ in profiles)]
    cols = min(3, len(models))
    rows_n = math.ceil(len(models) / cols)
    fig, grid = plt.subplots(rows_n, cols, figsize=(4.6 * cols, 3.9 * rows_n), squeeze=False, sharey=True)
    for ax in grid.flat[len(models):]:
        ax.set_visible(False)
    for ax, model in zip(grid.flat, models):
        mine = [(r, tt, label) for r, tt, label in profiles if base_model(r.model) == model]
        # the initialization names a line unless two in the panel share one (lstm and bidirectional_lstm)
        by_setting = len({r.setting for r, _, _ in mine}) == len(mine)
        ax.set_yscale("log")
        for i, (row, tt, label) in enumerate(mine):
            c = f"C{i}"
            lag = np.asarray(tt["lag"])
            order = np.argsort(lag)
            for k, style, when in ((0, "--", "init"), (-1, "-", f"step {int(tt['steps'][-1])}")):
                if k == -1 and len(tt["steps"]) < 2:
                    continue
                profile = np.asarray(tt["profiles"][k], float)[order]
                reference = profile[0] if np.isfinite(profile[0]) and profile[0] > 0 else np.nan
                axes.log_line(ax, lag[order], profile / reference, color=c, linestyle=style,
                              linewidth=1.2 if k == 0 else 1.7,
                              label=f"{row.setting if by_setting else label}, {when}")
        ax.axhline(1.0, color="0.6", linewidth=0.8, zorder=0)
        ax.set_title(model)
        ax.set_xlabel("lag T - t (steps back from the loss)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    for ax in grid[:, 0]:
        ax.set_ylabel("||dL_T/dx_t|| / value at lag 0 (log)")
    fig.suptitle("Gradient through time relative to the last input: dashed = initialisation, solid = after "
                 "training", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def cue_profiles(folder, rows, path):
    """A cloze task's gradient at the answer (`training.instruments.at_answer`): the gradient of the loss at
    the scored step at each input, by its offset from the blank, relative to the scored step's own input; one
    panel per direction (causal at the blank, answering late, seeing the future) where rows have one, one line
    per variant (first seed): dashed at initialisation, solid after training. Exact zeros (no path back) are
    marked on the bottom edge. None when no run measured it."""
    measured = []
    for label, group in _by_label(rows).items():
        row = group[0]
        cue = (results.run_metadata(folder, row) or {}).get("gradient_at_cue")
        if cue and cue.get("offsets"):
            measured.append((row, cue, label))
    if not measured:
        return None
    panels = list(dict.fromkeys(getattr(r, "direction", None) or "" for r, _, _ in measured))
    fig, grid = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.0), squeeze=False, sharey=True)
    for ax, panel in zip(grid.flat, panels):
        ax.set_yscale("log")
        mine = [m for m in measured if (getattr(m[0], "direction", None) or "") == panel]
        for i, (row, cue, _) in enumerate(mine):  # one direction per panel: the label names the variant
            final = bool(cue.get("profile_final"))
            for key, style in (("profile", "--"), ("profile_final", "-")):
                if cue.get(key):  # the line that is drawn last names the variant in the legend
                    axes.log_line(ax, cue["offsets"], cue[key], color=f"C{i}", linestyle=style,
                                  linewidth=1.2 if key == "profile" else 1.7,
                                  label=row.label if (key == "profile_final") == final else None)
        ax.axvline(0, color="0.5", linewidth=0.8, linestyle=":", zorder=0)
        cues = sorted({j for _, cue, _ in mine for j in cue.get("cue_offsets") or []})
        if cues:
            ax.axvspan(min(cues) - 0.5, max(cues) + 0.5, color="0.85", zorder=0,
                       label="the cue" if len(cues) == 1 else "the words after the blank")
        ax.set_title(panel or "every run", fontsize=10)
        ax.set_xlabel("input step minus the blank's step")
        ax.grid(True, which="major", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        kept = [(h, label) for h, label in zip(handles, labels) if " points (" not in label]  # zeros: one entry
        if len(kept) < len(labels):
            kept.append((matplotlib.lines.Line2D([], [], color="0.4", linestyle="none", **{
                k: v for k, v in axes.ZERO_MARK.items() if k not in ("linestyle", "clip_on")}),
                "exactly 0: no path back (bottom edge)"))
        ax.legend(*zip(*kept), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    grid[0, 0].set_ylabel("||dL/dx_t|| at the scored step / at its input (log)")
    fig.suptitle("Gradient of the loss at the scored step, by input step relative to the blank: dashed = "
                 "initialisation, solid = after training", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def decay_rates(rows, path):
    """Decay rate of the through-time profile (decades per step): at initialisation, after training and,
    where the run stored it, the theory's prediction from the recurrent Jacobian at initialisation (and,
    for a diagonal linear recurrence, from its learned retention at the end). With one seed a point, with
    several the mean and its 95% t-interval."""
    groups = [(label, g) for label, g in _by_label(rows).items()
              if any(r.tt_decay_init is not None for r in g)]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.38 * len(groups) + 1.2)))
    y = np.arange(len(groups))[::-1]
    for offset, key, name, marker in ((0.15, "tt_decay_init", "measured at initialisation", "o"),
                                      (-0.15, "tt_decay_final", "measured after training", "s"),
                                      (0.0, "theory_predicted_decay", "predicted at initialisation (Jacobian)", "x"),
                                      (-0.3, "theory_predicted_decay_final",
                                       "predicted after training (learned gates or |lambda|)", "+")):
        shown = False
        for yi, (label, g) in zip(y, groups):
            vs = [float(v) for v in (getattr(r, key) for r in g) if isinstance(v, (int, float)) and math.isfinite(v)]
            if not vs:
                continue
            s = stats.mean_interval(vs)
            err = None if s["low"] is None else [[s["mean"] - s["low"]], [s["high"] - s["mean"]]]
            ax.errorbar(s["mean"], yi + offset, xerr=err, marker=marker, color=color(g[0].model),
                        markerfacecolor="white" if marker == "s" else None, linestyle="none", capsize=3,
                        markersize=7 if marker in "x+" else 6, label=None if shown else name)
            shown = True
    ax.axvline(0, color="0.3", linewidth=0.8)
    ax.set_yticks(y, [label for label, _ in groups], fontsize=8)
    ax.set_xlabel("decay rate (decades of ||dL_T/dx_t|| per step of lag; higher = vanishes faster)")
    seeds = max(len(g) for _, g in groups)
    ax.set_title("How fast the gradient falls with the lag" + (f" (mean and 95% CI over {seeds} seeds)"
                                                               if seeds > 1 else " (one seed)"), fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    axes.legend_outside(ax)
    return _save(fig, path)


def key_gradient_against_accuracy(folder, rows, path):
    """The headline of the vanishing experiment: the gradient reaching the key at initialisation
    (relative to the last input, log) against the final test accuracy, one point per variant with its 95%
    interval, the chance range shaded."""
    points = []
    for label, g in _by_label(rows).items():
        x = [r.key_gradient_decades for r in g if isinstance(r.key_gradient_decades, (int, float))
             and math.isfinite(r.key_gradient_decades)]
        if not x:
            continue
        value, low, high = _interval(_result(folder, g))
        if value is None:
            continue
        points.append((label, g[0], float(np.mean(x)), value, low, high))
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.6))
    _chance_band(ax, rows)
    settings = {}
    for label, row, x, value, low, high in points:
        marker = settings.setdefault(row.setting, MARKERS[len(settings) % len(MARKERS)])
        err = None if low is None else [[value - low], [high - value]]
        ax.errorbar(10 ** x, value, yerr=err, marker=marker, markersize=7, color=color(row.model), capsize=3,
                    linestyle="none", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("gradient reaching the key at initialisation, relative to the last input (log)")
    ax.set_ylabel("test accuracy after training")
    seeds = max(len(g) for g in _by_label(rows).values())
    ax.set_title("Does the gradient at the start decide the outcome? "
                 + ("(95% CI over seeds)" if seeds > 1 else "(95% Wilson interval over the test set)"), fontsize=10)
    ax.grid(True, alpha=0.3)
    axes.legend_outside(ax)
    return _save(fig, path)


# ------------------------------------------------------------------------------------ exploding
def _exploding_panels(rows):
    """Panel rows (setting, model) and columns (clip): the IRNN on adding and the IRNN of the gain sweep on
    recall share a model and a label, never a panel."""
    models = list(dict.fromkeys((_setting(r), r.model) for r in rows))
    clips = list(dict.fromkeys(r.clip for r in rows))
    return models, clips


def _setting(row) -> str:
    return row.group or row.task


def _panel_title(setting, model, clip, several) -> str:
    clipping = "global_clipnorm=" + format(clip, "g") if clip else "no clipping"
    return f"{setting}: {model}, {clipping}" if several else f"{model}, {clipping}"


def _run_name(row) -> str:
    kernel = row.kernel if row.kernel not in (None, "default") else ""
    gain = row.gain
    return f"{kernel} gain {gain:g}".strip() if gain is not None else row.label


def gradient_norms(folder, rows, path):
    """Global gradient norm per step before clipping (solid) and after (dotted), log scale, panels
    architecture x clipping. Steps whose norm was exactly 0 (▼) or NaN/Inf (✕) are marked on the axis
    edges; a cross marks the step where a run diverged."""
    models, clips = _exploding_panels(rows)
    several = len({setting for setting, _ in models}) > 1
    drawn = False
    fig, grid = plt.subplots(len(models), len(clips), figsize=(5.6 * len(clips), 3.4 * len(models)), squeeze=False)
    for i, (setting, model) in enumerate(models):
        for j, clip in enumerate(clips):
            ax = grid[i, j]
            ax.set_yscale("log")
            mine = [r for r in rows if (_setting(r), r.model) == (setting, model) and r.clip == clip]
            for k, row in enumerate(_first_seed(mine)):
                steps = results.gradient_records(folder, row)["steps"]
                if steps is None:
                    continue
                drawn = True
                c = f"C{k}"
                name = _run_name(row)
                s, g = steps["step"].to_numpy(), steps["grad_norm"].to_numpy(dtype=float)
                axes.log_line(ax, s, g, color=c, linewidth=1.2, label=f"{name}: before clipping")
                if clip and "grad_norm_clipped" in steps:
                    ax.plot(s, axes_positive(steps["grad_norm_clipped"].to_numpy(dtype=float)), color=c,
                            linestyle=":", linewidth=1.4, label=f"{name}: after clipping")
                step = row.diverged_step if row.diverged_step is not None else row.grad_first_nonfinite_step
                if step is not None:
                    finite = g[np.isfinite(g) & (g > 0)]
                    ax.plot([step], [finite.max() if finite.size else 1.0], marker="x", markersize=10, color=c,
                            linestyle="none", label=f"{name}: diverged at step {step}")
            if clip:
                ax.axhline(clip, color="0.3", linestyle=(0, (4, 3)), linewidth=1, label=f"clip norm {clip:g}")
            ax.set_title(_panel_title(setting, model, clip, several), fontsize=10)
            ax.set_ylabel("global gradient norm (log)")
            ax.grid(True, alpha=0.3)
            axes.legend_outside(ax)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
            ax.set_xlabel("training step")
    if not drawn:
        plt.close(fig)
        return None
    fig.suptitle("Exploding gradients: global norm per step", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def axes_positive(values):
    values = np.asarray(values, dtype=float).copy()
    values[~(values > 0)] = np.nan
    return values


def step_losses(folder, rows, path):
    """Training loss of every step, panels architecture x clipping, with the chance loss. The axis is
    logarithmic when the losses span more than three decades (an overflowing run reaches 1e14), and a
    loss of exactly 0 or NaN is marked on the axis edge."""
    models, clips = _exploding_panels(rows)
    series = {}
    for row in _first_seed(rows):
        steps = results.gradient_records(folder, row)["steps"]
        if steps is not None and "step_loss" in steps:
            series[row.id] = (steps["step"].to_numpy(), steps["step_loss"].to_numpy(dtype=float))
    if not series:
        return None
    every = np.concatenate([v for _, v in series.values()])
    several = len({setting for setting, _ in models}) > 1
    fig, grid = plt.subplots(len(models), len(clips), figsize=(5.6 * len(clips), 3.3 * len(models)), squeeze=False,
                             sharey=True)
    scale = axes.y_scale(every)
    for i, (setting, model) in enumerate(models):
        for j, clip in enumerate(clips):
            ax = grid[i, j]
            if scale != "linear":
                axes.set_y_scale(ax, every)
            mine = [r for r in rows if (_setting(r), r.model) == (setting, model) and r.clip == clip]
            for k, row in enumerate(_first_seed(mine)):
                if row.id not in series:
                    continue
                s, v = series[row.id]
                if scale == "linear":
                    ax.plot(s, v, color=f"C{k}", linewidth=1.1, label=_run_name(row))
                else:
                    axes.log_line(ax, s, v, color=f"C{k}", linewidth=1.1, label=_run_name(row))
            _chance_line(ax, mine[0].chance_loss if mine else None, "chance loss")
            ax.set_title(_panel_title(setting, model, clip, several), fontsize=10)
            ax.set_ylabel("training loss" + (" (log)" if scale != "linear" else ""))
            ax.grid(True, alpha=0.3)
            axes.legend_outside(ax)
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
            ax.set_xlabel("training step")
    fig.suptitle("Loss per step" + (" (log axis: the losses span more than three decades)" if scale != "linear"
                                    else ""), fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def _first_seed(rows):
    """The first seed of every variant (a label within its setting: the same label can be in two)."""
    seen, out = set(), []
    for r in rows:
        key = (_setting(r), r.label)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


# ------------------------------------------------------------------------- metric against a value
def _across(rows, key) -> list[list]:
    """Rows grouped by variant (`results.VARIANT_FIELDS`) but for the task parameter `key`, in plan order:
    one group per line across the values of `key` (grouped by `_by_label`, each value of `key` would be a
    variant of its own: one point per line, and the legend naming each setting once per value)."""
    variants = {}
    for row in rows:
        fields = [json.dumps({k: v for k, v in row.task_params.items() if k != key}, sort_keys=True)
                  if name == "task_params" else getattr(row, name) for name in results.VARIANT_FIELDS]
        variants.setdefault(tuple(fields), []).append(row)
    return list(variants.values())


def _line_names(groups) -> list[str]:
    """What names each line of a panel in its legend: the initialization setting, unless two lines share one
    (lstm and bidirectional_lstm, both default), then the label; the label's task values where even that
    is shared."""
    settings = [g[0].setting for g in groups]
    if len(set(settings)) == len(settings):
        return settings
    labels = [g[0].label for g in groups]
    return [g[0].label if labels.count(g[0].label) == 1 else f"{g[0].label} ({g[0].task_values})" for g in groups]


def metric_against(rows, key, path, title, xlabel, log_x=False, folder=None):
    """The test metric against a task parameter (`key`, e.g. gap), one panel per architecture (lines
    that reach the same value would hide each other in one panel), one line per initialization, each
    point with its 95% interval (over seeds, or over the test set of one run), and the chance range."""
    def value(row):
        return row.task_params.get(key)

    rows = [r for r in rows if value(r) is not None]
    if not rows:
        return None
    metric = rows[0].metric
    models = list(dict.fromkeys(base_model(r.model) for r in rows))
    styles = _style_map(rows)
    cols = min(3, len(models))
    n_rows = math.ceil(len(models) / cols)
    fig, grid = plt.subplots(n_rows, cols, figsize=(4.4 * cols, 3.3 * n_rows), squeeze=False, sharey=True,
                             sharex=True)
    for ax in grid.flat[len(models):]:
        ax.set_visible(False)
    drawn = False
    ticks = sorted({value(r) for r in rows})
    for ax, model in zip(grid.flat, models):
        mine = [r for r in rows if base_model(r.model) == model]
        _chance_band(ax, rows)
        groups = _across(mine, key)
        names = _line_names(groups)
        for i, group in enumerate(groups):
            xs = sorted({value(r) for r in group})
            points = []
            for x in xs:
                v, low, high = _interval(_result(folder, [r for r in group if value(r) == x]))
                if v is not None:
                    points.append((x, v, low, high))
            if not points:
                continue
            drawn = True
            shift = axes.dodge(i, len(groups), 0.05)
            px = [p[0] * (10 ** shift) if log_x else p[0] + shift * (ticks[-1] - ticks[0] or 1) for p in points]
            err = np.array([[p[1] - p[2] if p[2] is not None else 0 for p in points],
                            [p[3] - p[1] if p[3] is not None else 0 for p in points]])
            ax.errorbar(px, [p[1] for p in points], yerr=err if any(p[2] is not None for p in points) else None,
                        marker=MARKERS[i % len(MARKERS)], markersize=5, capsize=3, color=f"C{i}",
                        linestyle=styles[group[0].setting], label=names[i])
        if log_x:
            ax.set_xscale("log")
        if len(ticks) <= 12:
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.minorticks_off()
        ax.set_title(model, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    if not drawn:
        plt.close(fig)
        return None
    for ax in grid[-1, :]:
        ax.set_xlabel(xlabel)
    for ax in grid[:, 0]:
        ax.set_ylabel(f"test {results.METRIC_WORDS.get(metric, metric)}")
    fig.suptitle(title + " (95% intervals; grey: the range a guesser scores)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def metric_bars(rows, path, title, group_key=None, group_names=None, folder=None):
    """The test metric of every variant as a point with its 95% interval (no bar: a bar's length from 0
    means nothing for a loss), the chance line and range. `group_key` (e.g. "direction") gives each group
    its own marker. Degenerate runs are drawn hollow and labelled; runs without a value say so."""
    groups = list(_by_label(rows).items())
    if not groups or all(all(r.test_metric is None for r in g) for _, g in groups):
        return None
    metric = rows[0].metric
    fig, ax = plt.subplots(figsize=(8, max(2.6, 0.36 * len(groups) + 1.3)))
    _chance_band(ax, rows, orientation="vertical")
    kinds = list(dict.fromkeys(getattr(g[0], group_key) for _, g in groups)) if group_key else [None]
    markers = {k: m for k, m in zip(kinds, MARKERS)}
    y = np.arange(len(groups))[::-1]
    labelled = set()
    finite = [r.test_metric for r in rows if isinstance(r.test_metric, (int, float))
              and math.isfinite(r.test_metric)]
    left = min(finite) if finite else 0.0
    for yi, (label, g) in zip(y, groups):
        result = _result(folder, g)
        v, low, high = _interval(result)
        kind = getattr(g[0], group_key) if group_key else None
        name = (group_names or {}).get(kind, kind) if group_key and kind not in labelled else None
        labelled.add(kind)
        if v is None:
            ax.text(left, yi, "  no result (" + ", ".join(sorted({r.status for r in g})) + ")", va="center",
                    fontsize=8, color="0.4")
            continue
        err = None if low is None else [[v - low], [high - v]]
        hollow = bool(result.degenerate or (not result.measures and result.set_aside))
        ax.errorbar(v, yi, xerr=err, marker=markers[kind], markersize=7, capsize=3, linestyle="none",
                    color=color(g[0].model), markerfacecolor="white" if hollow else None, label=name)
        if hollow:
            ax.annotate("degenerate", (v, yi), xytext=(6, 6), textcoords="offset points", fontsize=7, color="0.3")
    ax.set_yticks(y, [label for label, _ in groups], fontsize=8)
    ax.set_xlabel(f"test {results.METRIC_WORDS.get(metric, metric)}")
    seeds = max(len(g) for _, g in groups)
    measured = any(_interval(_result(folder, g))[1] is not None for _, g in groups)
    ax.set_title(title + (" (no interval: the runs stored no per-example data)" if not measured else
                          f" (mean, 95% CI over {seeds} seeds)" if seeds > 1 else " (95% interval over the test set)"),
                 fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    axes.legend_outside(ax)
    return _save(fig, path)


# ------------------------------------------------------------------------------ learning curves
def validation_curves(folder, rows, path, title):
    """The validation metric at every evaluation against the training step, one line per variant (the
    mean over seeds with its 95% band when there are several), with the chance or unigram baseline and,
    for text, the n-gram baselines the runs stored. With few evaluations the points are marked and the
    title says how many."""
    metric = rows[0].metric if rows else None
    styles = _style_map(rows)
    fig, ax = plt.subplots(figsize=(8.5, 4.6))
    drawn, points = False, []
    for label, group in _by_label(rows).items():
        curves = []
        for row in group:
            frame = _validation_column(results.learning_curve(folder, row), metric)
            if frame is not None:
                curves.append(frame)
        if not curves:
            continue
        drawn = True
        steps = sorted(set().union(*(set(c["step"]) for c in curves)))
        matrix = np.full((len(curves), len(steps)), np.nan)
        for i, c in enumerate(curves):
            index = {s: k for k, s in enumerate(steps)}
            for s, v in zip(c["step"], c["value"]):
                matrix[i, index[s]] = v
        points.append(len(steps))
        axes.band(ax, steps, matrix, color=color(group[0].model), label=label,
                  linestyle=styles[group[0].setting], marker="o" if len(steps) <= 12 else None, markersize=3)
    if not drawn:
        plt.close(fig)
        return None
    chance = [r.chance for r in rows if r.chance is not None]
    if chance:
        _chance_line(ax, chance[0], "unigram" if metric == "bits_per_char" else "chance")
    for name in ("bigram", "trigram", "4gram"):
        # the curves are validation numbers: the baselines scored on the validation split where stored
        values_ = [r.baselines_validation.get(name, r.baselines.get(name)) for r in rows]
        values_ = [v for v in values_ if isinstance(v, (int, float)) and math.isfinite(v)]
        if values_:
            axes.baseline(ax, values_[0], name, color="0.55", linestyle=":")
    ax.set_xlabel("training step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"validation {results.METRIC_WORDS.get(metric, metric)}")
    if metric == "bits_per_char":
        secondary = ax.secondary_yaxis(-0.14, functions=(lambda b: b * rules.LN2, lambda n: n / rules.LN2))
        secondary.set_ylabel("nats/char")
    few = min(points)
    ax.set_title(title + (f" (only {few} evaluations per run)" if few < 8 else ""), fontsize=10)
    ax.grid(True, alpha=0.3)
    axes.legend_outside(ax)
    return _save(fig, path)


def _validation_column(frame, metric):
    """{step, value} of the validation metric in a learning curve: `val_<metric>`, else the validation loss
    in the metric's unit (curve.csv stores `val_loss`: nats, or the MSE of a regression); None if absent."""
    if frame is None or "step" not in frame:
        return None
    column = f"val_{metric}"
    if column in frame:
        values = frame[column]
    elif "val_loss" in frame and metric in ("mse", "nll", "bits_per_char"):
        values = frame["val_loss"] / (rules.LN2 if metric == "bits_per_char" else 1.0)
    else:
        return None
    out = frame[["step"]].assign(value=values).dropna()
    return out if len(out) else None


# ---------------------------------------------------------------------------- the figures of a kind
# Each kind of experiment (a module of training.sweep.experiments) names one of these:
# (folder, rows, out_dir, key) -> [(path of a PNG written to out_dir as <key>_*.png, caption)]; the first is the
# experiment's headline figure (the report's summary shows it).
def figure_list(*pairs) -> list[tuple[pathlib.Path, str]]:
    return [(path, caption) for path, caption in pairs if path is not None]




# ------------------------------------------------------------------------------ step norms, any experiment
def gradient_norm_traces(folder, rows, path, title):
    """The global gradient norm at every step, one line per variant (its first seed; colour the architecture,
    line style the initialization), before clipping solid and after clipping dotted, on a log scale: the
    clip threshold dashed, a step norm of 0 or NaN/Inf marked on the axis edge, a divergence crossed. None
    when no run recorded its step gradients."""
    styles = _style_map(rows)
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    ax.set_yscale("log")
    drawn, used = False, set()
    for label, group in _by_label(rows).items():
        row = group[0]
        steps = results.gradient_records(folder, row)["steps"]
        if steps is None:
            continue
        drawn = True
        c, style = color(row.model), styles[row.setting]
        for _ in STYLES:  # one architecture, two models (lstm, bidirectional_lstm): the next free style
            if (c, str(style)) not in used:
                break
            style = STYLES[(STYLES.index(style) + 1) % len(STYLES)]
        used.add((c, str(style)))
        s, g = steps["step"].to_numpy(), steps["grad_norm"].to_numpy(dtype=float)
        axes.log_line(ax, s, g, color=c, linestyle=style, linewidth=1.1, label=label)
        if row.clip and "grad_norm_clipped" in steps:
            ax.plot(s, axes_positive(steps["grad_norm_clipped"].to_numpy(dtype=float)), color=c, linestyle=":",
                    linewidth=1.3, label=f"{label}: after clipping")
        step = row.diverged_step if row.diverged_step is not None else row.grad_first_nonfinite_step
        if step is not None:
            finite = g[np.isfinite(g) & (g > 0)]
            ax.plot([step], [finite.max() if finite.size else 1.0], marker="x", markersize=10, color=c,
                    linestyle="none", label=f"{label}: diverged at step {step}")
    if not drawn:
        plt.close(fig)
        return None
    for clip in sorted({r.clip for r in rows if r.clip}):
        ax.axhline(clip, color="0.3", linestyle=(0, (4, 3)), linewidth=1, label=f"clip norm {clip:g}")
    ax.set_xlabel("training step")
    ax.set_ylabel("global gradient norm, before clipping (log)")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    axes.legend_outside(ax)
    return _save(fig, path)
