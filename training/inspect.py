"""`python -m training.inspect <run>`: a run explains itself.

Reads one run folder (what `training.train` or a sweep wrote; no model is built, TensorFlow is not
imported), writes its figures into `<run>/inspect/` and prints them, then a verdict of three lines, each
by the rule the report uses (`training.core.rules`, `training.sweep.stats`):

    vanishing   how much of the last token's gradient reaches the first position, at initialisation and
                at the end (the through-time profile, `gradient_through_time.npz`); for a cloze task (the
                loss read at the blank) how much of the scored step's gradient reaches the cue, or that
                none can (metadata.json `gradient_at_cue`)
    exploding   the largest global step norm against the median one, NaN/Inf steps, divergence
                (`gradients.csv`, `gradients_summary.json`), and how often clipping changed the gradient
    learning    the test metric against the task's chance value, tested as the report tests it; solved,
                degenerate and diverged runs named

The figures:

    gradient_norms.png   global gradient norm per step before and after clipping, and per layer, on a log
                         scale; the clip threshold drawn, steps whose norm was NaN/Inf marked at the top
    through_time.png     ||dL_T/dx_t|| against the lag T - t at initialisation and at the end
    at_cue.png           a cloze task's instead: the gradient of the loss at the scored step at each input, by
                         its step relative to the blank, the cue's steps shaded
    learning_curve.png   training and validation loss against the step, with the chance line

    python -m training.inspect saved_models/lstm-recall-20261202-120000
    python -m training.inspect lstm-recall-20261202-120000 --saved-models saved_models
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import pathlib
import sys

from training.core.boundary import UsageError, command
from training.core.preflight import os_error_sentence


def _read_csv(path: pathlib.Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: _float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _read_json(path: pathlib.Path) -> dict:
    if not path.is_file():
        return {}
    with open(path, encoding="utf-8") as f:
        try:
            value = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UsageError(f"{path} is not valid JSON ({e}); restore it from a copy.") from None
    return value if isinstance(value, dict) else {}


def _number(value, digits=3) -> str:
    return "n/a" if value is None else f"{float(value):.{digits}g}"


def _shown(value, positive=False):
    """A value as a plot point: NaN (a gap) unless a finite float (and > 0 on a log axis)."""
    ok = isinstance(value, float) and math.isfinite(value) and (value > 0 or not positive)
    return value if ok else math.nan


def _finite(values) -> list[float]:
    return [v for v in values if isinstance(v, float) and math.isfinite(v)]


class RunFiles:
    """What `inspect` reads of a run folder (each file optional: a run without gradients has no figure
    of them)."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.config = _read_json(path / "config.json")
        self.metadata = _read_json(path / "metadata.json")
        self.gradients = _read_csv(path / "gradients.csv")
        self.summary = _read_json(path / "gradients_summary.json")
        self.history = _read_csv(path / "history.csv")
        self.curve = _read_csv(path / "curve.csv")
        self.profiles = None
        npz = path / "gradient_through_time.npz"
        if npz.is_file():
            import numpy as np

            with np.load(npz) as data:
                self.profiles = {key: data[key] for key in data.files}

    @property
    def chance_loss(self):
        return (self.metadata.get("chance") or {}).get("loss")

    @property
    def clip(self) -> tuple[str, float] | None:
        for key in ("global_clipnorm", "clipnorm", "clipvalue"):
            if self.config.get(key):
                return key, float(self.config[key])
        return None

    def profile_names(self) -> list[str]:
        if not self.profiles:
            return []
        fixed = {"steps", "epochs", "time", "lag"}
        return [k for k in self.profiles if k not in fixed]


# ------------------------------------------------------------------------------------------- figures
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


FEW_STEPS = 30  # up to this many recorded steps, each is marked (a line between NaN gaps can be one point)


def gradient_norm_figure(run: RunFiles, path: pathlib.Path) -> pathlib.Path | None:
    rows = run.gradients
    if not rows:
        return None
    plt = _plt()
    steps = [r["step"] for r in rows]
    fig, (ax, layers) = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    before = [r.get("grad_norm") for r in rows]
    after = [r.get("grad_norm_clipped") for r in rows]
    finite = _finite(before + after) or [1.0]
    top = max(finite) * 3
    marker = dict(marker="o", ms=3) if len(steps) <= FEW_STEPS else {}  # a lone finite step is still drawn
    ax.plot(steps, [_shown(v, True) for v in before], lw=1.2, label="before clipping", **marker)
    clip = run.clip
    if clip and any(isinstance(v, float) for v in after):
        ax.plot(steps, [_shown(v, True) for v in after], lw=1.0, ls="--",
                label="after clipping (applied)", **marker)
    if clip and clip[0] == "global_clipnorm":
        ax.axhline(clip[1], color="0.3", ls=":", lw=1, label=f"global_clipnorm = {clip[1]:g}")
    bad = [s for s, v in zip(steps, before) if math.isnan(_shown(v))]
    if bad:
        ax.plot(bad, [top] * len(bad), "X", color="crimson", ms=7, clip_on=False, label="NaN/Inf step")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("global gradient norm")
    ax.set_title("Global gradient norm per step")
    ax.legend(fontsize=8)
    for key in [k for k in rows[0] if k.startswith("grad_norm/")]:
        values = [r.get(key) for r in rows]
        layers.plot(steps, [_shown(v, True) for v in values], lw=1, label=key[len("grad_norm/"):], **marker)
    layers.set_yscale("log")
    layers.set_xlabel("training step")
    layers.set_title("Per layer (before clipping)")
    layers.legend(fontsize=8)
    return _save(fig, path)


def through_time_figure(run: RunFiles, path: pathlib.Path) -> pathlib.Path | None:
    names = run.profile_names()
    if not names:
        return None
    plt = _plt()
    p = run.profiles
    lag = p["lag"]
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    last = len(p["steps"]) - 1
    for name in names:
        for index, when, style in ((0, "at initialisation", "--"), (last, "at the end", "-")):
            if index == 0 and last == 0 and style == "-":
                continue
            ax.plot(lag, [v if v > 0 else math.nan for v in p[name][index]], ls=style,
                    label=f"{name}, {when} (step {int(p['steps'][index])})")
    ax.set_yscale("log")
    ax.set_xlabel("lag T - t (steps back from the last token)")
    ax.set_ylabel("||dL_T / dx_t||")
    ax.set_title("Gradient through time")
    ax.legend(fontsize=8)
    return _save(fig, path)


def cue_figure(run: RunFiles, path: pathlib.Path) -> pathlib.Path | None:
    cue = run.metadata.get("gradient_at_cue") or {}
    if not cue.get("offsets"):
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for key, when, style in (("profile", "at initialisation", "--"), ("profile_final", "at the end", "-")):
        if cue.get(key):
            ax.plot(cue["offsets"], [v if v > 0 else math.nan for v in cue[key]], ls=style, label=when)
            zeros = [j for j, v in zip(cue["offsets"], cue[key]) if v == 0]
            if zeros:
                ax.plot(zeros, [0.0] * len(zeros), "v", clip_on=False, transform=ax.get_xaxis_transform(),
                        label=f"exactly 0 {when}: no path back ({len(zeros)} steps)")
    if cue.get("cue_offsets"):
        ax.axvspan(min(cue["cue_offsets"]) - 0.5, max(cue["cue_offsets"]) + 0.5, color="0.85", label="the cue")
    ax.axvline(0, color="0.5", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("input step minus the blank's step")
    ax.set_ylabel("||dL/dx_t|| / at the scored step's input")
    ax.set_title("Gradient of the loss at the scored step")
    ax.legend(fontsize=8)
    return _save(fig, path)


WIDE_LOSSES = 100.0  # losses spanning more than this factor are drawn on a log scale


def learning_curve_figure(run: RunFiles, path: pathlib.Path) -> pathlib.Path | None:
    if not run.history and not run.curve:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    if run.gradients and "step_loss" in run.gradients[0]:
        ax.plot([r["step"] for r in run.gradients], [r["step_loss"] for r in run.gradients], lw=0.8, alpha=0.6,
                label="training loss (each step)")
    elif run.history:
        ax.plot([r["step"] for r in run.history], [r.get("loss") for r in run.history], "o-", label="training loss")
    if run.curve:
        ax.plot([r["step"] for r in run.curve], [r.get("val_loss") for r in run.curve], "o-", ms=3,
                label="validation loss (curve.csv)")
    elif run.history and "val_loss" in run.history[0]:
        ax.plot([r["step"] for r in run.history], [r["val_loss"] for r in run.history], "o-", label="validation loss")
    if run.chance_loss:
        ax.axhline(run.chance_loss, color="0.3", ls=(0, (4, 3)), lw=1.2, label=f"chance {run.chance_loss:.3g}")
    drawn = _finite([float(y) for line in ax.get_lines() for y in line.get_ydata()])
    if drawn and min(drawn) > 0 and max(drawn) > WIDE_LOSSES * min(drawn):
        ax.set_yscale("log")  # an exploding step's loss (1e11) would flatten the rest of the curve onto 0
        ax.set_ylabel("loss (log scale)")
    else:
        ax.set_ylabel("loss")
    ax.set_xlabel("training step")
    ax.set_title("Learning curve")
    ax.legend(fontsize=8)
    return _save(fig, path)


def _save(fig, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _plt().close(fig)
    return path


# ------------------------------------------------------------------------------------------- verdict
def verdict(run: RunFiles) -> list[str]:
    """Three lines: vanishing, exploding (with how often clipping changed the gradient), learning; each
    says its rule, which is the report's (`training.core.rules`, `training.sweep.stats.chance_position`)."""
    return [_vanishing_line(run), _gradient_line(run), _learning_line(run)]


def _vanishing_line(run: RunFiles) -> str:
    from training.core.rules import VANISHED_DECADES, vanished

    cue = run.metadata.get("gradient_at_cue")
    if cue:
        return _cue_line(cue)
    names = run.profile_names()
    if not names:
        return "vanishing: not measured (the run recorded no through-time profile)"
    name = "embedding" if "embedding" in names else names[0]
    matrix = run.profiles[name]

    def ratio(index):  # log10 of the first position's gradient over the last token's; None: 0 or NaN there
        first, last = float(matrix[index][0]), float(matrix[index][-1])
        return math.log10(first / last) if first > 0 and last > 0 and math.isfinite(first / last) else None

    start = ratio(0)
    measured = [(i, ratio(i)) for i in range(len(matrix)) if ratio(i) is not None]
    rule = f"{name}; vanished means under 10^{VANISHED_DECADES:.0f} at the end"
    if not measured:
        return f"vanishing: not measurable: the profile holds 0 or NaN at every checkpoint ({rule})"
    index, end = measured[-1]
    if index == len(matrix) - 1:
        when = "at the end"
    else:  # a diverged run's last profile is NaN: judge the last one that was measured
        when = f"at step {int(run.profiles['steps'][index])}, the last finite profile"
    words = "VANISHED" if vanished(end) else "no"
    at_start = "n/a" if start is None else f"10^{start:.1f}"
    return (f"vanishing: {words}: the first position gets {at_start} of the last token's gradient at "
            f"initialisation, 10^{end:.1f} {when} ({rule})")


def _cue_line(cue: dict) -> str:
    """A cloze task's first verdict line: the gradient reaching the cue from the loss at the scored step."""
    from training.core.rules import VANISHED_DECADES, vanished

    def power(ratio):
        return "exactly 0" if ratio == 0 else f"10^{math.log10(ratio):.1f}"

    rule = f"embedding; vanished means under 10^{VANISHED_DECADES:.0f} at the end"
    start, end = cue.get("ratio"), cue.get("ratio_final")
    if start is None:
        return "vanishing: not measured (the run recorded no gradient at the cue)"
    if end is None:
        end_words, judged = "not measured at the end (the run did not finish)", start
    else:
        end_words, judged = f"{power(end)} at the end", end
    if judged == 0:
        return (f"vanishing: NO PATH: the cue gets exactly 0 of the scored step's gradient ({power(start)} at "
                "initialisation): it comes after the step the loss reads and the model reads left to right")
    words = "VANISHED" if vanished(math.log10(judged)) else "no"
    return (f"vanishing: {words}: the cue gets {power(start)} of the scored step's gradient at initialisation, "
            f"{end_words} ({rule})")


def _gradient_line(run: RunFiles) -> str:
    """The largest step norm against the median (exploded?), NaN/Inf steps, divergence, and clipping."""
    from training.core.rules import EXPLODING_RATIO, REFERENCE_WORDS, exploding, explosion_ratio

    norms = [r.get("grad_norm") for r in run.gradients]
    if norms:
        finite = sorted(_finite(norms))
        nonfinite = len(norms) - len(finite)
        if finite:
            top = max(finite)
            at = next(r["step"] for r in run.gradients if r.get("grad_norm") == top)
            ratio = explosion_ratio(_finite(norms))  # in step order
            words = "EXPLODED" if exploding(ratio) else "no"
            text = (f"exploding: {words}: largest step norm {_number(top)} (step {int(at)})"
                    + (f", {_number(ratio)}x {REFERENCE_WORDS}" if ratio is not None else "")
                    + f"; exploded means over {EXPLODING_RATIO:g}x")
        else:
            text = "exploding: every recorded step norm was NaN/Inf"
        if nonfinite:
            text += f"; NaN/Inf in {nonfinite} recorded step{'s' if nonfinite > 1 else ''}"
        if run.summary.get("diverged"):
            text += f"; DIVERGED at step {run.summary.get('diverged_step')}: {run.summary.get('divergence_cause')}"
    else:
        text = "exploding: not measured (the run recorded no step gradients)"
    clip = run.clip
    if clip is None:
        return text + "; clipping off"
    fraction = run.summary.get("clipped_fraction")
    return (text + f"; {clip[0]}={clip[1]:g} changed the gradient in "
            f"{'n/a' if fraction is None else f'{100 * fraction:.0f}%'} of steps")


def _metric(task: str) -> str:
    """The metric the report judges the task by (the registered task's `primary_metric`; accuracy for a task
    this checkout does not know, as `training.sweep.results.primary_metric`). `import datasets` imports no
    TensorFlow."""
    import datasets

    try:
        return datasets.get_task(task).primary_metric
    except ValueError:
        return "accuracy"


def _on_metric_scale(metric: str, chance: dict):
    """The chance value in the metric's own unit (bits/char, perplexity ...), None when unknown."""
    from training.core.rules import LN2

    if metric == "accuracy":
        return chance.get("accuracy")
    loss = chance.get("loss")
    if loss is None:
        return None
    return loss / LN2 if metric == "bits_per_char" else math.exp(loss) if metric == "perplexity" else loss


def _test_examples(run: RunFiles):
    name = (run.metadata.get("test_examples") or {}).get("file") or "test_examples.npz"
    if not (run.path / name).is_file():
        return None
    import numpy as np

    try:
        with np.load(run.path / name) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError):
        return None


def _learning_line(run: RunFiles) -> str:
    """Above chance by the report's test (`stats.chance_position`: the exact binomial test of an accuracy,
    else z on the run's standard error, 5% level), solved where the report says so, degenerate as the
    training loop flagged it."""
    from training.core import rules
    from training.sweep import stats

    meta = run.metadata
    status = meta.get("status", "unknown")
    test = meta.get("test") if isinstance(meta.get("test"), dict) else None
    if status == "diverged" or test is None:
        return f"learning: no test result (status {status})"
    metric = _metric(run.config.get("task") or meta.get("task") or "")
    value = test.get(metric)
    chance = _on_metric_scale(metric, meta.get("chance") or {})
    degenerate = meta.get("degenerate") if isinstance(meta.get("degenerate"), dict) else {}
    shown = f"test {metric} {_number(value)} against chance {_number(chance)}"
    if degenerate.get("flag"):
        return f"learning: DEGENERATE: {degenerate.get('reason')} ({shown})"
    if not isinstance(value, (int, float)) or chance is None:
        return f"learning: {shown} (no chance line for this task)"
    examples = meta.get("test_examples") or {}
    tokens = examples.get("tokens") or examples.get("n")
    # Keras's accuracy is correct / scored positions over the whole test split: the count is exact (the
    # report's `results._statistics_columns` takes it so for a run without its per-example file)
    correct = round(value * tokens) if metric == "accuracy" and isinstance(tokens, int) and tokens > 0 else None
    measure = stats.measure(metric, value, n=examples.get("n"), tokens=tokens, correct=correct,
                            examples=_test_examples(run))
    position = stats.chance_position(stats.Result(str(run.path.name), metric, [measure], chance=chance))
    words = {"above": "yes", "at": "NO", "below": "NO (worse than chance)"}.get(position, "unknown")
    rule = ("learned means better than chance at the 5% level, as the report tests it" if position else
            "the run stored no per-example results to test it against chance")
    solved = ""
    if metric == "accuracy" and rules.reached(value, rules.SOLVED_ACCURACY):
        solved = f"; solved (accuracy >= {rules.SOLVED_ACCURACY:g})"
    return f"learning: {words}: {shown}{solved} ({rule})"


# ------------------------------------------------------------------------------------------- command
def inspect_run(path: pathlib.Path) -> tuple[list[pathlib.Path], list[str]]:
    """Write the run's figures into `<run>/inspect/`; return them and the verdict lines."""
    run = RunFiles(path)
    out = path / "inspect"
    out.mkdir(exist_ok=True)
    made = [gradient_norm_figure(run, out / "gradient_norms.png"),
            through_time_figure(run, out / "through_time.png"),
            cue_figure(run, out / "at_cue.png"),
            learning_curve_figure(run, out / "learning_curve.png")]
    return [m for m in made if m is not None], verdict(run)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.inspect", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("run", help="a run folder, or its name under --saved-models")
    p.add_argument("--saved-models", default="saved_models", help="where run names are looked up")
    return p


@command
def main(argv=None) -> int:
    args = parser().parse_args(argv)
    path = pathlib.Path(args.run)
    if not path.is_dir():
        path = pathlib.Path(args.saved_models) / args.run
    if not (path / "config.json").is_file():
        print(f"error: {args.run!r} is not a run folder (no config.json there or under {args.saved_models}/); "
              "pass the folder `training.train` printed.", file=sys.stderr)
        return 2
    try:
        figures, lines = inspect_run(path)
    except OSError as error:
        raise UsageError(os_error_sentence(error, f"cannot inspect {path}")) from None
    print(f"Figures of {path}:")
    for figure in figures:
        print(f"  {figure}")
    for line in lines:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
