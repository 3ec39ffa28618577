"""The summary tables of a comparison report: runs grouped by variant (the seeds together), and the
columns each kind of experiment shows.

Every number comes with what it is worth: the primary metric as `value [95% interval]` (over seeds when
there are several, else over the test examples: `training.sweep.evidence`), other per-run numbers as
`mean [95% t-interval]` over seeds or the bare value of a single seed (never `± 0` from one run), and a
Flags column (degenerate, at or below chance, seeds that disagree, not converged). What the
initializations are is said once, in a legend under the table, not in every row."""

from __future__ import annotations

import math

import numpy as np

from training.sweep import evidence, results, stats
from training.sweep.results import ROW


def aggregate(rows, load_examples=None) -> list[results.VariantGroup]:
    """Rows grouped by variant (`results.group_rows`: the seeds of one variant together), in plan order."""
    return results.group_rows(rows, load_examples)


def values(group, field) -> list[float]:
    return group.values(field)


def mean(group, field):
    """Mean over the group's runs of the finite values of `field` (a row field's name or a function of a
    row), or None."""
    return group.mean(field)


def number(v, digits=3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, int):
        return f"{v:,}"
    v = v + 0.0  # -0.0 prints as "0"
    if abs(v) >= 1e7:
        return f"{v:.{digits}g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def cell(group, field, digits=3, scale=1.0) -> str:
    """One seed: its value. Several: `mean [lowest, highest]` over them (a descriptive column: gradient
    norms, hidden-state norms, losses and rates are heavy-tailed and positive, where a t-interval over three
    seeds reaches below 0). The test metric has its 95% interval (`metric_cell`). "NaN" when every run gave
    NaN."""
    vs = group.values(field)
    if not vs:
        return "–"
    finite = [v * scale for v in vs if math.isfinite(v)]
    if not finite:
        return "NaN"
    if len(finite) == 1 or min(finite) == max(finite):  # one seed, or the same value in every seed
        text = number(finite[0], digits)
    else:
        text = f"{number(sum(finite) / len(finite), digits)} [{number(min(finite), 2)}, {number(max(finite), 2)}]"
    if len(finite) < len(vs):
        text += f" ({len(vs) - len(finite)} NaN)"
    return text


def metric_cell(group) -> str:
    """The test metric with its 95% interval (`training.sweep.evidence.interval_text`)."""
    return evidence.interval_text(group.result)


def flags_cell(group) -> str:
    result = group.result
    words = evidence.flags(result)
    if any(r.status != "finished" for r in group.rows):
        words.insert(0, group.status)  # diverged, failed, pending ... (finished runs say nothing)
    for i, word in enumerate(words):
        if result.degenerate_reason and word in ("degenerate", "some seeds degenerate"):
            words[i] += f" ({result.degenerate_reason})"
    return "; ".join(words) or "–"


def integer_cell(group, field) -> str:
    vs = [v for v in group.values(field) if math.isfinite(v)]
    if not vs:
        return "–"
    if len(set(vs)) == 1:
        return f"{int(vs[0]):,}"
    return f"{int(np.mean(vs)):,} (mean)"


def lag_cell(group, field) -> str:
    """Lag at which the norm fell by 10^6; "never" when it never did within the sequence."""
    has = [r for r in group.rows if r.tt_decay_init is not None]
    if not has:
        return "–"
    read = results.field_reader(field)
    vs = [read(r) for r in has]
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in vs):
        return "never"
    return ", ".join("never" if v is None or (isinstance(v, float) and math.isnan(v)) else str(int(v)) for v in vs)


def tail_columns():
    return [("Flags", flags_cell)]


def metric_header(groups, prefix="Test"):
    metric = groups[0].metric if groups else "accuracy"
    return f"{prefix} {results.METRIC_WORDS.get(metric, metric)} [95% CI]"


def shared_chance(groups):
    """The chance value when every group has the same one (then it goes in the notes, not a column)."""
    values_ = {round(mean(g, ROW.chance), 12) for g in groups if mean(g, ROW.chance) is not None}
    return values_.pop() if len(values_) == 1 else None


# Each kind of experiment (a module of training.sweep.experiments) names one of these: groups -> [(header, cell of a group)].
MODEL = [("Model", lambda g: g.label)]
PARAMETERS = [("Parameters", lambda g: integer_cell(g, ROW.parameters))]


def chance_column(groups):
    return [] if shared_chance(groups) is not None else [("Chance", lambda g: cell(g, ROW.chance, 3))]


def test_column(groups):
    return [(metric_header(groups), metric_cell)]


def variant_task_columns(groups) -> list[tuple[str, callable]]:
    """One row per variant and task value, each with its own metric (long_term and grids)."""
    return MODEL + [("Task", lambda g: g.where)] + PARAMETERS + [
        ("Metric", lambda g: results.METRIC_WORDS.get(g.metric, g.metric)),
        ("Test [95% CI]", metric_cell),
        ("Steps to solve", steps_to_solve_cell),
    ] + [("Chance", lambda g: cell(g, ROW.chance, 3))] + tail_columns()


def baseline_of(name):
    """A row's counting baseline `name` on the test split (a cell's field)."""
    return lambda row: row.baselines.get(name)


def power_cell(group, field):
    m = mean(group, field)
    return "–" if m is None else evidence.number(10 ** m, 2)


def steps_to_solve_cell(group) -> str:
    """Steps to reach the solve threshold on the validation set, per seed; "not in budget" when it never did,
    "–" when the curve cannot tell."""
    cells = []
    for r in group.rows:
        if r.steps_to_solve is not None:
            cells.append(f"{int(r.steps_to_solve):,}")
        elif evidence.tristate(r.solved) is False:
            cells.append("not in budget")
    return ", ".join(cells) or "–"


def percent_cell(group, field):
    m = mean(group, field)
    return "–" if m is None else f"{100 * m:.0f}%"


def diverged_cell(group):
    """The steps at which the group's runs diverged ("no" for a run that did not)."""
    steps = [r.diverged_step for r in group.rows]
    if all(s is None for s in steps):
        return "no" if any(r.status in ("finished", "diverged") for r in group.rows) else "–"
    return ", ".join("no" if s is None else str(s) for s in steps)


def make_table(columns, groups) -> dict:
    """{"columns", "rows", "align", "notes"} from `columns` = [(header, cell function[, note])]: `align` is "right"
    for the numeric columns; `notes` say how the intervals were made, the shared chance value and which
    checks this sweep could not make, then the notes the columns carry (each once)."""
    spec = [tuple(c[:2]) for c in columns]
    column_notes = list(dict.fromkeys(c[2] for c in columns if len(c) > 2 and c[2]))  # (header, cell, note)
    if any(g.group for g in groups):  # sub-questions of the experiment, in their order
        spec = [("Question", lambda g: g.group or "–")] + spec
        order = list(dict.fromkeys(g.group for g in groups))
        groups = sorted(groups, key=lambda g: order.index(g.group))
    rows = [[fn(g) for _, fn in spec] for g in groups]
    align = ["left" if h in ("Question", "Model", "Task", "Metric", "Flags", "Sees the future") else "right"
             for h, _ in spec]
    return {"columns": [h for h, _ in spec], "rows": rows, "align": align,
            "notes": table_notes(groups) + column_notes}


def table_notes(groups) -> list[str]:
    found = [g.result for g in groups]
    notes = [f"Intervals: {evidence.method_words(found)}."]
    if any(len(g.rows) > 1 for g in groups):
        notes.append("Other columns: mean [lowest, highest] over the seeds.")
    chance = shared_chance(groups)
    metric = groups[0].metric if groups else None
    if chance is not None:
        words = "chance" if metric == "accuracy" else "baseline of a prediction that ignores the input"
        notes.append(f"The {words} is {number(chance)}" + _chance_range(groups, chance) + ".")
    notes += [n[0].upper() + n[1:] + "." for n in evidence.unknown_checks(found)]
    return notes


def _chance_range(groups, chance) -> str:
    trials = {r.n_eval_tokens for g in groups for r in g.rows if r.n_eval_tokens}
    if groups and groups[0].metric == "accuracy" and len(trials) == 1:
        low, high = stats.chance_interval(chance, int(trials.pop()))
        return f" (a guesser scores {number(low)} to {number(high)} on this test set, 95% of the time)"
    return ""


def group_gap(group):
    """The recall gap of a group's runs."""
    return group.gap




def initialization_legend(groups) -> list[str]:
    """The legend under a table: each initialization once, after the labels that use it
    ("`lstm`, `bidirectional_lstm`: Keras defaults: ..."), in order of first appearance."""
    by_words: dict[str, list[str]] = {}
    for g in groups:
        labels = by_words.setdefault(g.initialization, [])
        if g.label not in labels:
            labels.append(g.label)
    return [", ".join(f"`{label}`" for label in labels) + f": {words}" for words, labels in by_words.items()]
