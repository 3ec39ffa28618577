"""What the recorded gradients say about a comparison, for any experiment's report.

Every run of a sweep records its global gradient norm at every step (`gradients.csv`) and the gradient
through time ||dL_T/dx_t|| at initialisation and after training (`gradient_through_time.npz`). This module
turns them into what a report shows beside the test metric:

    columns(groups, without) table columns: the gradient reaching the key (or the first position) at
                             initialisation and at the end, in decades relative to the last input, and the
                             largest step norm against the median one (`with_columns` puts them before a
                             table's flags; `without` leaves out those a table already shows)
    figures(folder, rows, out_dir, name, words, without)
                             the through-time profiles (init dashed, end solid) and the global step norm
                             per step (log scale, clip threshold and NaN/Inf steps marked)
    why_sentence(winner, loser)
                             one sentence on why the winner of a comparison is ahead, when the gradient
                             separates the two (`separates`); a sentence that claims nothing otherwise
    size_note(a, b)          "(17,024 vs 8,960 parameters; ...)" when the two differ in size

Every experiment module calls them from its columns, figures and findings; a comparison's sentences come
from `training.sweep.findings.comparison_sentences` (the verdict, `size_note` beside it, then `why_sentence`
when one side is ahead). The rules are here, once.

The rule for "the gradient separates them" (`separates`): the two variants' gradients at the key at
initialisation differ by at least `SEPARATING_DECADES` (a factor of 10), and, where both have several
seeds, their 95% t-intervals over the seeds do not overlap. With one seed the sentence says that there
is no interval over seeds. An explosion (`training.core.rules.exploding`) or a divergence of the loser
alone is the other reason a sentence can name.
"""

from __future__ import annotations

import math

from training.core import rules
from training.sweep import stats
from training.sweep.evidence import number
from training.sweep.results import ROW

SEPARATING_DECADES = 1.0  # gradients at the key closer than a factor of 10 are not called a reason

# Tasks whose key sits at the first position (recall: the key opens the sequence), so the gradient at the
# first position is the gradient at the key; for the others it is the gradient reaching the first position.
KEY_AT_START = ("recall",)


def where_words(task) -> str:
    """"the key" for a task whose key opens the sequence, else "the first position"."""
    return "the key" if task in KEY_AT_START else "the first position"


def _decades(group, field="key_gradient_decades") -> list[float]:
    return [v for v in group.values(field) if math.isfinite(v)]


# ------------------------------------------------------------------------------------------ table
def decades_cell(group, field) -> str:
    """The gradient in decades (log10, relative to the last input): one seed its value, several
    `mean [lowest, highest]`; "–" when the run recorded no profile."""
    vs = _decades(group, field)
    if not vs:
        return "–"
    if len(vs) == 1 or min(vs) == max(vs):
        return f"{vs[0]:+.2f}"
    return f"{sum(vs) / len(vs):+.2f} [{min(vs):+.2f}, {max(vs):+.2f}]"


def step_norm_cell(group) -> str:
    """The largest finite global step norm and how many times the median step's it was (means over the
    seeds), and the first step whose norm was NaN/Inf where one was."""
    top, ratio = group.mean("grad_norm_max"), group.mean(_ratio)
    if top is None:
        return "–"
    text = f"{number(top, 3)} ({times(math.log10(ratio))}x median)" if ratio and ratio > 0 else number(top, 3)
    steps = [r.grad_first_nonfinite_step for r in group.rows if r.grad_first_nonfinite_step is not None]
    if steps:
        text += f"; NaN/Inf from step {min(steps)}"
    return text


def _ratio(row):
    """The largest step norm over the median one (the row's field, else from the two norms)."""
    if row.grad_norm_max_over_median is not None:
        return row.grad_norm_max_over_median
    if row.grad_norm_max is not None and row.grad_norm_median:
        return row.grad_norm_max / row.grad_norm_median
    return None


GRADIENT_NOTE = ("Gradient at the key (or the first position): log10 of ||dL_T/dx_t|| there over its value at the "
                 "last input, at initialisation and after training (0 = as large as at the last input, -3 = a "
                 "thousandth of it).")
STEP_NORM_NOTE = ("Largest step norm: the largest global gradient norm before clipping, and how many times the "
                  f"median step's it was. Exploded: {rules.EXPLODING_RULE}.")
TABLE_NOTE = GRADIENT_NOTE + " " + STEP_NORM_NOTE
COLUMN_KEYS = ("init", "end", "step norm")  # what `columns(groups, without=...)` can leave out


def columns(groups, without=()) -> list[tuple[str, callable]]:
    """The gradient columns of a summary table: (header, cell of a group[, the note under the table]).

    Args:
        groups: the table's groups (their tasks say "key" or "first position").
        without: columns the table already shows an equivalent of, left out: "init" (the gradient at the key at
            initialisation), "end" (after training), "step norm" (the largest step norm against the median's).

    A column no group has a value for (a budget that did not record it: the quick budget's step norms) is
    left out too; the experiment's Setup says what was recorded.
    """
    unknown = sorted(set(without) - set(COLUMN_KEYS))
    if unknown:
        raise ValueError(f"Unknown gradient column(s) {', '.join(unknown)}; known: {', '.join(COLUMN_KEYS)}.")
    tasks = {g.task for g in groups}
    where = "key" if tasks and tasks <= set(KEY_AT_START) else "key / first position" if tasks & set(KEY_AT_START) \
        else "first position"
    made = {
        "init": (f"Gradient at {where}, init (decades)", lambda g: decades_cell(g, ROW.key_gradient_decades)),
        "end": (f"Gradient at {where}, end (decades)", lambda g: decades_cell(g, ROW.tt_log10_ratio_final)),
        "step norm": ("Largest step norm", step_norm_cell),
    }
    kept = [k for k in COLUMN_KEYS if k not in without and any(made[k][1](g) != "–" for g in groups)]
    note = " ".join(n for n, shown in ((GRADIENT_NOTE, {"init", "end"} & set(kept)), (STEP_NORM_NOTE,
                                                                                      "step norm" in kept)) if shown)
    out = [made[k] for k in kept]
    return [out[0] + (note,)] + out[1:] if out else []


def with_columns(table_columns, groups, without=()) -> list[tuple]:
    """An experiment's summary-table columns with the gradient `columns` (less those in `without`) inserted
    before the last, the flags, when the table ends with them (else after it)."""
    added = columns(groups, without)
    if table_columns and table_columns[-1][0] == "Flags":
        return list(table_columns[:-1]) + added + list(table_columns[-1:])
    return list(table_columns) + added


# ---------------------------------------------------------------------------------------- figures
FIGURE_KEYS = ("through_time", "grad_norms")  # what `figures(..., without=...)` can leave out


def figures(folder, rows, out_dir, name, words, without=()) -> list[tuple]:
    """[(path, caption)] of the through-time profiles and the step-norm trace of `rows` (one task value),
    written as `<out_dir>/<name>_through_time.png` and `<name>_grad_norms.png`; a figure whose data no run
    recorded is left out, and so is one the report already draws (`without`: "through_time", "grad_norms")."""
    from training.sweep import figures as fig

    unknown = sorted(set(without) - set(FIGURE_KEYS))
    if unknown:
        raise ValueError(f"Unknown gradient figure(s) {', '.join(unknown)}; known: {', '.join(FIGURE_KEYS)}.")
    key = " The key is the first position: the longest lag." if rows and rows[0].task in KEY_AT_START else ""
    pairs = []
    if "through_time" not in without:
        pairs.append((fig.through_time_profiles(folder, rows, out_dir / f"{name}_through_time.png"),
                      f"{words}: gradient through time, ||dL_T/dx_t|| against the lag relative to its value at the "
                      "last input (dashed at initialisation, solid after training; first seed of each variant)."
                      f"{key}"))
    if "grad_norms" not in without:
        pairs.append((fig.gradient_norm_traces(folder, rows, out_dir / f"{name}_grad_norms.png",
                                               f"{words}: global gradient norm per step"),
                      f"{words}: global gradient norm at every training step before clipping (log scale; dotted "
                      "after clipping, the clip threshold dashed, NaN/Inf steps marked on the top edge; first seed "
                      "of each variant)."))
    return [(p, c) for p, c in pairs if p is not None]


# -------------------------------------------------------------------------------------- sentences
def separates(a, b) -> dict | None:
    """Whether the gradient at the key at initialisation separates groups `a` and `b` (see the module's
    rule): {"a", "b" (means in decades), "difference", "separated", "evidence" (words)}; None when either
    has no measured profile."""
    va, vb = _decades(a), _decades(b)
    if not va or not vb:
        return None
    ma, mb = sum(va) / len(va), sum(vb) / len(vb)
    apart = abs(ma - mb) >= SEPARATING_DECADES
    if len(va) > 1 and len(vb) > 1:
        ia, ib = stats.mean_interval(va), stats.mean_interval(vb)
        overlap = ia["low"] <= ib["high"] and ib["low"] <= ia["high"]
        evidence = (f"{len(va)} and {len(vb)} seeds, 95% intervals [{ia['low']:+.2f}, {ia['high']:+.2f}] and "
                    f"[{ib['low']:+.2f}, {ib['high']:+.2f}]" + (", which overlap" if overlap else ""))
        apart = apart and not overlap
    else:
        evidence = ("one seed each: no interval over seeds" if len(va) == len(vb) == 1 else
                    f"{len(va)} and {len(vb)} seeds: no interval over the seeds of a one-seed side")
    return {"a": ma, "b": mb, "difference": ma - mb, "separated": apart, "evidence": evidence}


def times(decades: float) -> str:
    """10^2.6 as "400", 10^0.3 as "2", 10^7.2 as "2e7": a ratio to two significant digits at most."""
    value = 10 ** decades
    if value >= 1e6:
        return f"{value:.0e}".replace("e+0", "e").replace("e+", "e")
    return f"{float(f'{value:.2g}'):,.0f}" if value >= 10 else f"{value:.2g}"


def _exploded(group) -> str | None:
    """Words for a group whose step norm exploded or diverged, else None."""
    for r in group.rows:
        if r.diverged:
            step = r.diverged_step if r.diverged_step is not None else r.grad_first_nonfinite_step
            return "diverged" + (f" at step {step}" if step is not None else "") + f" (seed {r.seed})"
        if rules.exploding(r.grad_norm_explosion_ratio):
            return (f"had its step norm explode (largest {number(r.grad_norm_max, 2)}, "
                    f"{times(math.log10(r.grad_norm_explosion_ratio))} times {rules.REFERENCE_WORDS}; "
                    f"seed {r.seed})")
    return None


def why_sentence(winner, loser) -> str | None:
    """Why `winner` is ahead of `loser` (two groups a comparison ranked), from their gradients: the
    gradient at the key at initialisation when it separates them in the winner's favour, or the loser's
    step norm exploding while the winner's did not. When the gradients do not separate them, a sentence
    that says so and claims no reason; None when neither recorded gradients."""
    lost, won = _exploded(loser), _exploded(winner)
    if lost and not won:
        return f"Why {winner.label} is ahead: {loser.label} {lost}, and {winner.label} did not."
    s = separates(winner, loser)
    if s is None:
        return None
    where = where_words(winner.task)
    values = f"{s['a']:+.2f} decades for {winner.label} against {s['b']:+.2f} for {loser.label} ({s['evidence']})"
    if s["separated"] and s["difference"] > 0:
        return (f"Why {winner.label} is ahead: at initialisation the gradient reaching {where} was {values}: "
                f"from the first step the error at the answer reached {where} about {times(s['difference'])} "
                f"times more strongly in {winner.label} than in {loser.label}.")
    if s["separated"]:
        return (f"The gradient does not explain it: at initialisation the gradient reaching {where} was "
                f"{values}, larger for {loser.label}.")
    return (f"The gradient at {where} does not separate them: at initialisation it was {values}, and separating "
            f"takes at least {SEPARATING_DECADES:g} decade between them with non-overlapping intervals over seeds, "
            f"so this sweep does not say why {winner.label} is ahead.")


def size_note(a, b) -> str:
    """"(17,024 vs 8,960 parameters; `--param-budget N` compares at equal size)" when groups `a` and `b`
    differ in parameter count, "" when they do not or a count is unknown; a sweep that set a budget says
    the counts are as close as the widths allow."""
    pa, pb = a.mean("parameters"), b.mean("parameters")
    if pa is None or pb is None or round(pa) == round(pb):
        return ""
    budget = a.rows[0].param_budget or b.rows[0].param_budget
    tail = (f"matched to --param-budget {budget:,} as closely as whole widths allow" if budget else
            "`--param-budget N` compares at equal size")
    return f"({int(round(pa)):,} vs {int(round(pb)):,} parameters; {tail})"
