"""The figures of a comparison report (matplotlib, Agg backend: no display needed).

Every figure has labelled axes with units, a legend, and the chance baseline of its task where one
exists. Each function takes the sweep folder and the rows of one experiment (`training.sweep.results`),
writes one PNG and returns its path, or None when there is nothing to draw (for example every run
failed, or the gradient recorder was off).

Colours name the architecture (in the zoo registry's order) and line styles the initialization, the same
in every figure.
"""

from __future__ import annotations

import json
import math
import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

import zoo  # noqa: E402
from training.sweep import results  # noqa: E402

STYLES = ["-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3))]
DPI = 100


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
        out.setdefault(row["setting"], STYLES[len(out) % len(STYLES)])
    return out


def _save(fig, path) -> pathlib.Path:
    path = pathlib.Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _chance_line(ax, value, label="chance"):
    if value is None or not np.isfinite(value):
        return
    ax.axhline(value, color="0.3", linestyle=(0, (4, 3)), linewidth=1.2, label=f"{label} ({value:.3g})", zorder=1)


def _by_label(rows):
    """Rows grouped by label (seeds together), in plan order."""
    out = {}
    for row in rows:
        out.setdefault(row["label"], []).append(row)
    return out


def _mean_std(values):
    values = np.array([v for v in values if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if not values.size:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


# --------------------------------------------------------------------------------- through time
def through_time_profiles(folder, rows, path):
    """||dL_T/dx_t|| against the lag T - t, one panel per architecture: dashed at initialisation, solid
    after training (first seed of each variant)."""
    profiles = []
    for label, group in _by_label(rows).items():
        tt = results.gradient_records(folder, group[0])["through_time"]
        if tt is not None:
            profiles.append((group[0], tt))
    if not profiles:
        return None
    models = [m for m in dict.fromkeys(base_model(r["model"]) for r, _ in profiles)]
    cols = min(3, len(models))
    rows_n = math.ceil(len(models) / cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(4.2 * cols, 3.3 * rows_n), squeeze=False, sharey=True)
    for ax in axes.flat[len(models):]:
        ax.set_visible(False)
    for ax, model in zip(axes.flat, models):
        mine = [(r, tt) for r, tt in profiles if base_model(r["model"]) == model]
        for i, (row, tt) in enumerate(mine):
            c = f"C{i}"
            lag = np.asarray(tt["lag"])
            first, last = np.asarray(tt["profiles"][0], float), np.asarray(tt["profiles"][-1], float)
            name = row["setting"]
            ax.plot(lag, _positive(first), color=c, linestyle="--", linewidth=1.2, label=f"{name}, step 0")
            if len(tt["steps"]) > 1:
                ax.plot(lag, _positive(last), color=c, linestyle="-", linewidth=1.6,
                        label=f"{name}, step {int(tt['steps'][-1])}")
        ax.set_yscale("log")
        ax.set_title(model)
        ax.set_xlabel("lag T - t (steps back from the loss)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in axes[:, 0]:
        ax.set_ylabel("||dL_T / dx_t|| (embedding, log)")
    fig.suptitle("Gradient through time: dashed = initialisation, solid = after training", fontsize=10)
    return _save(fig, path)


def _positive(values):
    values = np.asarray(values, dtype=float).copy()
    values[~(values > 0)] = np.nan  # zeros and NaN cannot be drawn on a log axis
    return values


def decay_rates(rows, path):
    """Decay rate of the through-time profile (decades per step), at initialisation and after training."""
    groups = [(label, g) for label, g in _by_label(rows).items()
              if any(r.get("tt_decay_init") is not None for r in g)]
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(groups) + 2), 3.8))
    x = np.arange(len(groups))
    for offset, key, name, hatch in ((-0.2, "tt_decay_init", "at initialisation", "//"),
                                     (0.2, "tt_decay_final", "after training", None)):
        means, errs, colors = [], [], []
        for label, g in groups:
            m, s = _mean_std(r.get(key) for r in g)
            means.append(np.nan if m is None else m)
            errs.append(s or 0.0)
            colors.append(color(g[0]["model"]))
        ax.bar(x + offset, means, width=0.4, yerr=errs, color=colors, hatch=hatch, edgecolor="0.2",
               alpha=0.55 if hatch else 0.9, label=name)
    ax.axhline(0, color="0.3", linewidth=0.8)
    ax.set_xticks(x, [label for label, _ in groups], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("decay rate (decades of ||dL_T/dx_t|| per step)")
    ax.set_title("How fast the gradient falls with the lag (higher = vanishes faster)")
    ax.legend(fontsize=8)
    return _save(fig, path)


# ------------------------------------------------------------------------------------ exploding
def _exploding_panels(rows):
    models = list(dict.fromkeys(r["model"] for r in rows))
    clips = list(dict.fromkeys(r.get("clip") for r in rows))
    return models, clips


def gradient_norms(folder, rows, path):
    """Global gradient norm per step before clipping (solid) and after (dotted), log scale; a cross
    marks the step where a run diverged. Panels: architecture x clipping."""
    models, clips = _exploding_panels(rows)
    drawn = False
    fig, axes = plt.subplots(len(models), len(clips), figsize=(5 * len(clips), 3.3 * len(models)), squeeze=False,
                             sharex=True)
    for i, model in enumerate(models):
        for j, clip in enumerate(clips):
            ax = axes[i, j]
            mine = [r for r in rows if r["model"] == model and r.get("clip") == clip]
            for k, row in enumerate(_first_seed(mine)):
                steps = results.gradient_records(folder, row)["steps"]
                if steps is None:
                    continue
                drawn = True
                c = f"C{k}"
                kernel = row.get("kernel") if row.get("kernel") not in (None, "default") else ""
                name = f"{kernel} gain {row.get('gain'):g}".strip()
                s, g = steps["step"].to_numpy(), steps["grad_norm"].to_numpy(dtype=float)
                ax.plot(s, _positive(g), color=c, linewidth=1.2, marker=".", markersize=3,
                        label=f"{name}: before clipping")
                if clip and "grad_norm_clipped" in steps:
                    ax.plot(s, _positive(steps["grad_norm_clipped"].to_numpy(dtype=float)), color=c, linestyle=":",
                            linewidth=1.4, label=f"{name}: after clipping")
                if row.get("diverged_step") is not None or row.get("grad_first_nonfinite_step") is not None:
                    step = row.get("diverged_step", row.get("grad_first_nonfinite_step"))
                    finite = g[np.isfinite(g) & (g > 0)]
                    y = finite.max() if finite.size else 1.0
                    ax.plot([step], [y], marker="x", markersize=10, color=c, linestyle="none",
                            label=f"{name}: diverged at step {step}")
            if clip:
                ax.axhline(clip, color="0.3", linestyle=(0, (4, 3)), linewidth=1, label=f"clip norm {clip:g}")
            ax.set_yscale("log")
            ax.set_title(f"{model}, {'global_clipnorm=' + format(clip, 'g') if clip else 'no clipping'}", fontsize=10)
            ax.set_ylabel("global gradient norm (log)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=6.5, loc="best")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(models) - 1:
                ax.set_xlabel("training step")
    if not drawn:
        plt.close(fig)
        return None
    fig.suptitle("Exploding gradients: global norm per step (SGD)", fontsize=10)
    return _save(fig, path)


def step_losses(folder, rows, path):
    """Training loss of every step (nats), panels architecture x clipping, with the chance loss."""
    models, clips = _exploding_panels(rows)
    drawn = False
    fig, axes = plt.subplots(len(models), len(clips), figsize=(5 * len(clips), 3.1 * len(models)), squeeze=False,
                             sharex=True)
    for i, model in enumerate(models):
        for j, clip in enumerate(clips):
            ax = axes[i, j]
            mine = [r for r in rows if r["model"] == model and r.get("clip") == clip]
            for k, row in enumerate(_first_seed(mine)):
                steps = results.gradient_records(folder, row)["steps"]
                if steps is None or "step_loss" not in steps:
                    continue
                drawn = True
                name = f"gain {row.get('gain'):g}"
                ax.plot(steps["step"], steps["step_loss"], color=f"C{k}", linewidth=1.1, label=name)
            _chance_line(ax, (mine[0].get("chance_loss") if mine else None), "chance loss")
            ax.set_title(f"{model}, {'global_clipnorm=' + format(clip, 'g') if clip else 'no clipping'}", fontsize=10)
            ax.set_ylabel("training loss (nats)")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if i == len(models) - 1:
                ax.set_xlabel("training step")
    if not drawn:
        plt.close(fig)
        return None
    fig.suptitle("Loss per step (a gap in a line: the loss became NaN)", fontsize=10)
    return _save(fig, path)


def _first_seed(rows):
    seen, out = set(), []
    for r in rows:
        if r["label"] not in seen:
            seen.add(r["label"])
            out.append(r)
    return out


# ------------------------------------------------------------------------- metric against a value
def metric_against(rows, key, path, title, xlabel, log_x=False):
    """The test metric against a task parameter (`key`, e.g. gap), one line per variant, mean ± std over
    seeds, with the chance baseline."""
    def value(row):
        return json_params(row).get(key)

    rows = [r for r in rows if value(r) is not None]
    if not rows:
        return None
    metric = rows[0]["metric"]
    styles = _style_map(rows)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn = False
    for label, group in _by_label(rows).items():
        xs = sorted({value(r) for r in group})
        ms, ss = [], []
        for x in xs:
            m, s = _mean_std(r.get("test_metric") for r in group if value(r) == x)
            ms.append(np.nan if m is None else m)
            ss.append(s or 0.0)
        if np.all(np.isnan(ms)):
            continue
        drawn = True
        ax.errorbar(xs, ms, yerr=ss, marker="o", markersize=4, capsize=3, color=color(group[0]["model"]),
                    linestyle=styles[group[0]["setting"]], label=label)
    if not drawn:
        plt.close(fig)
        return None
    chance = [r.get("chance") for r in rows if r.get("chance") is not None]
    if chance and max(chance) - min(chance) < 1e-9:
        _chance_line(ax, chance[0])
    if log_x:
        ax.set_xscale("log")
    ticks = sorted({value(r) for r in rows})
    if len(ticks) <= 12:
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"test {results.METRIC_WORDS.get(metric, metric)}")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


def json_params(row) -> dict:
    import json

    return json.loads(row["task_params"])


def metric_bars(rows, path, title, group_key=None, group_names=None):
    """The test metric of every variant as bars (mean ± std over seeds) with the chance baseline;
    `group_key` (e.g. "direction") adds a hatch per group."""
    groups = [(label, g) for label, g in _by_label(rows).items()]
    if not groups or all(all(r.get("test_metric") is None for r in g) for _, g in groups):
        return None
    metric = rows[0]["metric"]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(groups) + 2.5), 4))
    x = np.arange(len(groups))
    kinds = list(dict.fromkeys(g[0].get(group_key) for _, g in groups)) if group_key else [None]
    hatches = {k: h for k, h in zip(kinds, (None, "//", "..", "xx"))}
    for i, (label, g) in enumerate(groups):
        m, s = _mean_std(r.get("test_metric") for r in g)
        kind = g[0].get(group_key) if group_key else None
        ax.bar(x[i], np.nan if m is None else m, yerr=s or 0.0, color=color(g[0]["model"]), edgecolor="0.2",
               hatch=hatches.get(kind), capsize=3,
               label=(group_names or {}).get(kind, kind) if group_key and kind not in [
                   gg[0].get(group_key) for _, gg in groups[:i]] else None)
        if m is None:
            ax.text(x[i], 0, "failed", rotation=90, ha="center", va="bottom", fontsize=8)
    chance = [r.get("chance") for r in rows if r.get("chance") is not None]
    if chance and max(chance) - min(chance) < 1e-9:
        _chance_line(ax, chance[0], "chance" if metric == "accuracy" else "baseline")
    ax.set_xticks(x, [label for label, _ in groups], rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(f"test {results.METRIC_WORDS.get(metric, metric)}")
    ax.set_title(title, fontsize=10)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


# ------------------------------------------------------------------------------ learning curves
def validation_curves(folder, rows, path, title):
    """The validation metric after every evaluation against the training step, one line per variant
    (first seed), with the chance baseline. For bits per character a second axis shows nats."""
    metric = rows[0]["metric"] if rows else None
    column = f"val_{metric}"
    styles = _style_map(rows)
    fig, ax = plt.subplots(figsize=(7.5, 4.3))
    drawn = False
    for row in _first_seed(rows):
        frame = results.history(folder, row)
        if frame is None or column not in frame or "step" not in frame:
            continue
        drawn = True
        ax.plot(frame["step"], frame[column], marker="o", markersize=3, color=color(row["model"]),
                linestyle=styles[row["setting"]], label=row["label"])
    if not drawn:
        plt.close(fig)
        return None
    chance = [r.get("chance") for r in rows if r.get("chance") is not None]
    if chance:
        _chance_line(ax, chance[0], "unigram baseline" if metric == "bits_per_char" else "chance")
    ax.set_xlabel("training step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"validation {results.METRIC_WORDS.get(metric, metric)}")
    if metric == "bits_per_char":
        secondary = ax.secondary_yaxis("right", functions=(lambda b: b * results.LN2, lambda n: n / results.LN2))
        secondary.set_ylabel("validation loss (nats/char)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, path)


# ---------------------------------------------------------------------------- the figures of a kind
# Each kind of experiment (training.sweep.kinds) names one of these:
# (folder, rows, out_dir, key) -> [(path of a PNG written to out_dir as <key>_*.png, caption)].
def _made(*pairs) -> list[tuple[pathlib.Path, str]]:
    return [(path, caption) for path, caption in pairs if path is not None]


def through_time_figures(folder, rows, out_dir, key):
    return _made(
        (through_time_profiles(folder, rows, out_dir / f"{key}_profiles.png"),
         "||dL_T/dx_t|| against the lag (log scale): dashed at initialisation, solid after training. A line "
         "that falls steeply means the loss at step T barely depends on early inputs."),
        (decay_rates(rows, out_dir / f"{key}_decay.png"),
         "Decay rate of the gradient through time (decades per step of lag), at initialisation and after "
         "training."),
        (metric_bars(rows, out_dir / f"{key}_accuracy.png", "Test accuracy on recall after training"),
         "Test accuracy after training, with the chance line."),
    )


def exploding_figures(folder, rows, out_dir, key):
    return _made(
        (gradient_norms(folder, rows, out_dir / f"{key}_norms.png"),
         "Global gradient norm at every step before clipping (solid) and after (dotted), log scale; a cross "
         "marks divergence (NaN/Inf)."),
        (step_losses(folder, rows, out_dir / f"{key}_loss.png"),
         "Training loss at every step (nats) with the chance loss."),
    )


def long_term_figures(folder, rows, out_dir, key):
    recall = [r for r in rows if r["task"] == "recall"]
    pairs = [(metric_against(recall, "gap", out_dir / f"{key}_recall_gap.png",
                             "Recall: test accuracy against the gap", "gap (distractors between key and query)",
                             log_x=True),
              "Test accuracy on recall against the gap, mean ± std over seeds, with the chance line 1/K.")]
    for task in dict.fromkeys(r["task"] for r in rows if r["task"] != "recall"):
        mine = [r for r in rows if r["task"] == task]
        pairs.append((metric_bars(mine, out_dir / f"{key}_{task}.png", f"{task} {mine[0]['task_values']}: test "
                                  f"{results.METRIC_WORDS.get(mine[0]['metric'], mine[0]['metric'])}"),
                      f"{task}: test {results.METRIC_WORDS.get(mine[0]['metric'])} of every variant with the "
                      f"baseline of a prediction that ignores the input."))
    return _made(*pairs)


def unidirectional_figures(folder, rows, out_dir, key):
    return _made(
        (metric_bars(rows, out_dir / f"{key}_accuracy.png", "future_cloze: test accuracy at the blank",
                     group_key="direction"),
         "Test accuracy at the blank; hatched bars see the future (bidirectional, unmasked attention). The "
         "dashed line is chance."),
    )


def char_lm_figures(folder, rows, out_dir, key):
    return _made(
        (validation_curves(folder, rows, out_dir / f"{key}_curves.png",
                           "Tiny Shakespeare: validation loss against steps"),
         "Validation bits per character (left) and nats per character (right) against the training step, with "
         "the unigram baseline."),
    )


def grid_figures(folder, rows, out_dir, key):
    """Per task value: validation curves and test bars; per task: the metric against every swept parameter."""
    pairs = []
    for task_key in dict.fromkeys((r["task"], r["task_values"]) for r in rows):
        mine = [r for r in rows if (r["task"], r["task_values"]) == task_key]
        name = "_".join(x for x in task_key if x).replace(" ", "_").replace("=", "")
        words = " ".join(task_key).strip()
        pairs.append((validation_curves(folder, mine, out_dir / f"{key}_{name}_curves.png",
                                        f"{words}: validation against steps"),
                      f"{words}: validation metric against the training step, with the chance line."))
        pairs.append((metric_bars(mine, out_dir / f"{key}_{name}_test.png", f"{words}: test"),
                      f"{words}: test metric of every model with the chance line."))
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        for param in _swept_params(mine):
            pairs.append((metric_against(mine, param, out_dir / f"{key}_{task}_{param}.png",
                                         f"{task}: test metric against {param}", param),
                          f"{task}: test metric against {param}, with the chance line where it does not change."))
    return _made(*pairs)


def _swept_params(rows) -> list[str]:
    params = [json.loads(r["task_params"]) for r in rows]
    keys = dict.fromkeys(k for p in params for k in p)
    return [k for k in keys if len({json.dumps(p.get(k)) for p in params}) > 1
            and all(isinstance(p.get(k), (int, float)) for p in params)]
