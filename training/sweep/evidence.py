"""From result rows to the statistics of `training.sweep.stats`: what each variant's number is worth.

A row (`training.sweep.results.RunRow`) carries a run's test metric
and what its interval needs: the number of test examples and correct answers for an accuracy, a file
of per-example losses for MSE and nats. `result_of` gathers the seeds of one variant into a
`stats.Result` (degenerate and unfinished seeds set aside, with their reasons), `interval_text` writes
it for a table, `method_words` says in words how the interval was made, and `flags` lists what a
reader must know before trusting the number. A field an old sweep lacks stays unknown: it is never
read as "no".
"""

from __future__ import annotations

import dataclasses
import math

from training.sweep import stats

UNKNOWN = "unknown"


def _finite(v):
    if isinstance(v, bool) or v is None:
        return None
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(v):
    v = _finite(v)
    return None if v is None else int(round(v))


def tristate(v) -> bool | None:
    """True, False or None (unknown) from a row field that may be a bool, 0/1, "True"/"False" or empty."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, str):
        low = v.strip().lower()
        return True if low in ("true", "1", "yes") else False if low in ("false", "0", "no") else None
    return bool(v)


def measure_row(row, load_examples=None) -> stats.Measure:
    """One run's test metric and its sampling error. `load_examples(row)` returns the per-example arrays
    of `test_examples.npz` (or None); without them an accuracy still gets its binomial interval from
    `test_correct` and `n_eval_tokens`."""
    examples = load_examples(row) if load_examples and row.examples_file else None
    return stats.measure(row.metric or "accuracy", row.test_metric, n=_int(row.n_eval),
                         tokens=_int(row.n_eval_tokens) or _int(row.n_eval),
                         correct=_int(row.test_correct), examples=examples, eval_set=row.eval_set or None)


def _reasons_text(reasons: list, seeds: int) -> str | None:
    """One seed's reasons in full, the count of the others ("seed 0: ...; seeds 1, 2 too"): the reasons of
    several seeds repeated in full made one sentence of a report ten lines long."""
    if not reasons:
        return None
    if seeds == 1:
        return reasons[0][1]
    seed, text = reasons[0]
    others = [str(s) for s, _ in reasons[1:]]
    more = f"; degenerate too: seed{'s' if len(others) > 1 else ''} {', '.join(others)}" if others else ""
    return f"{len(reasons)} of {seeds} seeds, seed {seed}: {text}{more}"


def result_of(label: str, rows: list, load_examples=None) -> stats.Result:
    """The seeds of one variant (their `results.RunRow`s) as a `stats.Result`."""
    metric = rows[0].metric or "accuracy"
    measures, missing, reasons, set_aside = [], [], [], []
    degenerate_flags = [tristate(r.degenerate) for r in rows]
    falling = []
    for row, degenerate in zip(rows, degenerate_flags):
        if degenerate:
            reasons.append((row.seed, row.degenerate_reason or "flagged degenerate"))
            m = measure_row(row, load_examples)
            if m.value is not None:
                set_aside.append(m)
            continue
        m = measure_row(row, load_examples)
        if m.value is None:
            missing.append(f"seed {row.seed}: {row.status or 'no test value'}")
            continue
        measures.append(m)
        falling.append(tristate(row.loss_still_falling))
    if any(degenerate_flags):
        degenerate = not measures  # some seeds degenerate: the others are still a result, and flagged
    elif all(f is False for f in degenerate_flags):
        degenerate = False
    else:
        degenerate = None
    still = True if any(f for f in falling) else (False if falling and all(f is False for f in falling) else None)
    chance = next((_finite(r.chance) for r in rows if _finite(r.chance) is not None), None)
    result = stats.Result(label, metric, measures, chance=chance, degenerate=degenerate,
                          degenerate_reason=_reasons_text(reasons, len(rows)), still_falling=still, missing=missing,
                          seeds=len(rows), set_aside=set_aside)
    return result


def number(v, digits=3) -> str:
    if v is None:
        return "–"
    if abs(v) >= 1e5 or (v != 0 and abs(v) < 1e-3):
        return f"{v:.{max(digits - 1, 1)}e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"


def interval_text(result: stats.Result, digits=3) -> str:
    """"0.137 [0.098, 0.18]": the value (mean over seeds, or the single run's) and its 95% interval; the
    bracket is left out when no interval can be computed, never drawn as zero width."""
    if not result.measures and result.set_aside:  # every seed degenerate: its number, marked
        shown = dataclasses.replace(result, measures=result.set_aside, set_aside=[])
        return interval_text(shown, digits) + " (degenerate)"
    s = result.summary
    if s["value"] is None:
        return "–"
    text = number(s["value"], digits)
    if s["low"] is not None and s["high"] is not None:
        text += f" [{number(s['low'], 2)}, {number(s['high'], 2)}]"
    if len(result.measures) < result.seeds:
        text += f" ({len(result.measures)} of {result.seeds} seeds)"
    return text


def method_words(results: list[stats.Result]) -> str:
    """How the intervals of a table were made, for its heading: "mean over 3 seeds [95% t-interval]",
    "one seed [95% Wilson interval over 1,000 test examples]" ..."""
    seeds = sorted({len(r.measures) for r in results if r.measures})
    if not seeds:
        return "no finished runs"
    if seeds[-1] > 1:
        n = f"{seeds[0]}" if len(seeds) == 1 else f"{seeds[0]}–{seeds[-1]}"
        return f"mean over {n} seeds [95% t-interval over seeds, cut to the metric's range]"
    methods = sorted({m.method for r in results for m in r.measures if m.method})
    sizes = sorted({m.tokens or m.n for r in results for m in r.measures if (m.tokens or m.n)})
    if not methods:
        return "one seed [no interval: the sweep stored no per-example evaluation data]"
    words = " / ".join("bootstrap" if m.startswith("bootstrap") else m.replace("wilson", "Wilson") for m in methods)
    over = f" over {sizes[0]:,} test examples" if len(sizes) == 1 else " over the test set"
    return f"one seed [95% {words} interval{over}]"


def flags(result: stats.Result) -> list[str]:
    """What a reader must know before trusting the number, in short words for a table's "Flags" column."""
    out = []
    if result.degenerate:
        out.append("degenerate")
    elif result.degenerate_reason:
        out.append("some seeds degenerate")
    if result.missing and not result.measures:
        out.append("no result")
    shown = result if result.measures else dataclasses.replace(result, measures=result.set_aside)
    position = stats.chance_position(shown) if shown.measures else None
    if position == "at":
        out.append("at chance")
    elif position == "below":
        out.append("below chance")
    elif position == "mixed":
        out.append("seeds disagree")
    if result.still_falling:
        out.append("not converged")
    return out


def unknown_checks(results: list[stats.Result]) -> list[str]:
    """The checks this table could not make for any of its results (an older sweep): said once under the
    table instead of "unknown" in every row."""
    out = []
    kept = [r for r in results if r.measures]
    if kept and all(r.degenerate is None for r in kept):
        out.append("whether a run is degenerate (saturated or overflowing) is unknown: this sweep did not record it")
    if kept and all(r.still_falling is None for r in kept):
        out.append("whether a loss was still falling at the end is unknown: the learning curves are too short")
    return out


def success_rate(rows: list, threshold: float, higher_is_better=True) -> tuple[int, int]:
    """(seeds that reached `threshold` on the test set and are not degenerate, seeds)."""
    ok = 0
    for r in rows:
        v = _finite(r.test_metric)
        if v is None or tristate(r.degenerate):
            continue
        ok += v >= threshold if higher_is_better else v <= threshold
    return ok, len(rows)
