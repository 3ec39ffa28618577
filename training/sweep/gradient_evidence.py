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
# Cloze tasks (one scored step; `training.instruments.at_answer`): the gradient of the loss at the scored step
# reaching the inputs that decide the answer, in the words of each task. Exactly 0 (-inf decades) is no path.
AT_CUE = {"future_cloze": "the cue", "mouse_cloze": "the words after the blank"}


def where_words(task) -> str:
    """"the key" for a task whose key opens the sequence, "the cue" (or its task's words) for a cloze task, else
    "the first position"."""
    return "the key" if task in KEY_AT_START else AT_CUE.get(task, "the first position")


def _short_where(task) -> str:
    return "key" if task in KEY_AT_START else "cue" if task in AT_CUE else "first position"


def _decades(group, field="key_gradient_decades") -> list[float]:
    """The seeds' values in decades: finite, or -inf where the gradient was exactly 0 (no path)."""
    return [v for v in group.values(field) if math.isfinite(v) or v == -math.inf]


def _no_path(values) -> bool:
    return bool(values) and all(v == -math.inf for v in values)


# ------------------------------------------------------------------------------------------ table
def decades_cell(group, field) -> str:
    """The gradient in decades (log10, relative to the last input): one seed its value, several
    `mean [lowest, highest]`; "–" when the run recorded no profile."""
    vs = _decades(group, field)
    if not vs:
        return "–"
    if _no_path(vs):
        return "0: no path"
    none = len([v for v in vs if v == -math.inf])
    vs = [v for v in vs if v != -math.inf]
    cell = (f"{vs[0]:+.2f}" if len(vs) == 1 or min(vs) == max(vs)
            else f"{sum(vs) / len(vs):+.2f} [{min(vs):+.2f}, {max(vs):+.2f}]")
    return cell + (f"; 0 in {none} of {none + len(vs)} seeds" if none else "")


def _final(row):
    """The gradient at the key after training: the row's field, else (a row of a sweep read before it had the
    field) the through-time profile's ratio at the end."""
    return row.key_gradient_decades_final if row.key_gradient_decades_final is not None else row.tt_log10_ratio_final


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
CUE_NOTE = ("Gradient at the cue (a cloze task): log10 of the gradient of the loss at the scored step (the blank, or "
            "the step a late answer is due) at the inputs that decide the answer, over its value at the scored "
            "step's own input; \"0: no path\" where it is exactly zero: the cue comes after the scored step and the "
            "model reads left to right.")
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
    order = ("key", "cue", "first position")
    where = " / ".join(w for w in order if w in {_short_where(t) for t in tasks}) or "first position"
    made = {
        "init": (f"Gradient at {where}, init (decades)", lambda g: decades_cell(g, ROW.key_gradient_decades)),
        "end": (f"Gradient at {where}, end (decades)", lambda g: decades_cell(g, _final)),
        "step norm": ("Largest step norm", step_norm_cell),
    }
    kept = [k for k in COLUMN_KEYS if k not in without and any(made[k][1](g) != "–" for g in groups)]
    gradient_notes = ((GRADIENT_NOTE, any(t not in AT_CUE for t in tasks)), (CUE_NOTE, bool(tasks & set(AT_CUE))))
    note = " ".join(n for n, shown in [*((n, w and {"init", "end"} & set(kept)) for n, w in gradient_notes),
                                       (STEP_NORM_NOTE, "step norm" in kept)] if shown)
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
    if "through_time" not in without and rows and rows[0].task in AT_CUE:  # the loss is read at the blank
        pairs.append((fig.cue_profiles(folder, rows, out_dir / f"{name}_at_cue.png"),
                      f"{words}: the gradient of the loss at the scored step (the blank, or the step a late answer "
                      f"is due) at every input, by its step relative to the blank, over its value at the scored "
                      f"step's own input ({where_words(rows[0].task)}: what decides the answer). ▼ on the bottom edge: "
                      "exactly 0, no path back from the loss (dashed at initialisation, solid after training; first "
                      "seed of each variant)."))
    elif "through_time" not in without:
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
    if _no_path(va) or _no_path(vb) or -math.inf in va + vb:
        return _separates_no_path(a, b, va, vb)
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


def _separates_no_path(a, b, va, vb) -> dict:
    """`separates` where a gradient was exactly 0 in some seed: separated when one side is 0 in every seed and
    the other in none (the one has a path to the cue, the other none at all)."""
    def mean(vs):
        return -math.inf if -math.inf in vs else sum(vs) / len(vs)

    ma, mb = mean(va), mean(vb)
    clean = (_no_path(va) and -math.inf not in vb) or (_no_path(vb) and -math.inf not in va)
    n = len(vb if _no_path(vb) else va)
    evidence = (("in its only seed" if n == 1 else f"in all its {n} seeds") if clean
                else "exactly 0 in some seeds only")
    difference = math.inf if ma > mb else -math.inf if mb > ma else 0.0
    return {"a": ma, "b": mb, "difference": difference, "separated": clean, "evidence": evidence}


def _decades_words(value: float) -> str:
    return "exactly 0" if value == -math.inf else f"{value:+.2f} decades"


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
    loser_words = "exactly 0" if s["b"] == -math.inf else f"{s['b']:+.2f}"
    values = f"{_decades_words(s['a'])} for {winner.label} against {loser_words} for {loser.label} ({s['evidence']})"
    if s["separated"] and s["difference"] == math.inf:
        return (f"Why {winner.label} is ahead: at initialisation the gradient reaching {where} was {values}: the "
                f"loss at {loser.label}'s scored step has no path back to {where}, so no training step can teach "
                f"it to use {where}; {winner.label}'s loss reaches it from the first step.")
    if s["separated"] and s["difference"] == -math.inf:
        return (f"The gradient does not explain it: at initialisation the gradient reaching {where} was {values}: "
                f"{winner.label} is ahead without a path to {where}.")
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
