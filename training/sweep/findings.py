"""What the generated text of a comparison report ("What the numbers show") shares: each experiment's
module (`training.sweep.experiments.<key>`) writes its own sentences with these helpers, stating from the
numbers of this sweep which run did better, by how much and against which baseline. Nothing is written
in advance.

A comparison is a verdict of `training.sweep.stats.compare`: "beat" only when the difference is
significant (the test and its p-value are named), "tie" otherwise; two results at chance are not ranked;
runs significantly below chance, degenerate runs and runs whose loss was still falling are flagged."""

from __future__ import annotations

from training.sweep import evidence, gradient_evidence, results, stats
from training.sweep.tables import number


def fmt(v, digits=3):
    return number(v, digits)


def find_group(groups, model, setting="default", **match):
    for g in groups:
        if g.model == model and g.setting == setting and all(getattr(g, k) == v for k, v in match.items()):
            return g
    return None


def group_result(group) -> stats.Result:
    return group.result


def beat_sentence(a, b, where=""):
    """The verdict of "a against b" in one sentence (`training.sweep.stats.compare`), None if either is missing."""
    if a is None or b is None:
        return None
    return stats.compare(group_result(a), group_result(b), where.strip()).text


def verdict_sentences(verdict, a, b, reasons_only=False) -> list[str]:
    """A verdict of `a` against `b` (`stats.compare`; its winner named by label) as the report says it: its
    sentence with the parameter counts beside it when they differ (`gradient_evidence.size_note`), then, when
    one side is ahead, what the two sides' gradients say about why (`gradient_evidence.why_sentence`; with
    `reasons_only`, as a takeaway says it, only a sentence that names a reason)."""
    note = gradient_evidence.size_note(a, b)
    out = [verdict.text.rstrip(".") + f" {note}." if note else verdict.text]
    if verdict.winner is not None:
        winner, loser = (a, b) if verdict.winner == a.label else (b, a)
        why = gradient_evidence.why_sentence(winner, loser)
        if why and (why.startswith("Why") or not reasons_only):
            out.append(why)
    return out


def comparison_sentences(a, b, where="", reasons_only=False) -> list[str]:
    """`beat_sentence` with what `verdict_sentences` adds: [] if either side is missing."""
    if a is None or b is None:
        return []
    return verdict_sentences(stats.compare(group_result(a), group_result(b), where.strip()), a, b, reasons_only)


def chance_place(group):
    return stats.chance_position(group_result(group))


def value_of(group, load=None):
    """The group's test metric (the mean over its counted seeds); recomputed with a loader of per-example
    files when one is given."""
    result = group.result if load is None else evidence.result_of(group.label, group.rows, load)
    return result.summary["value"]


def shown_words(group) -> str:
    return f"{group.label} ({evidence.interval_text(group_result(group))})"


def _name(group, among) -> str:
    """The group's label, with its task and task values where several of `among` share the label (a grid over
    gap=4,8: "lstm on recall gap=8", not "lstm" twice)."""
    if sum(g.label == group.label for g in among) < 2:
        return group.label
    return f"{group.label} on {(group.task + ' ' + group.rows[0].task_values).strip()}"


def flagged(groups) -> list[str]:
    """One sentence per kind of warning: degenerate, below chance, seeds that disagree, not converged."""
    out = []
    degenerate = [g for g in groups if group_result(g).degenerate_reason]
    if degenerate:
        out.append("Degenerate, so not counted as solutions whatever their number: "
                   + "; ".join(f"{_name(g, degenerate)} ({group_result(g).degenerate_reason})" for g in degenerate)
                   + ".")
    below = [g for g in groups if group_result(g).measures and chance_place(g) == "below"]
    if below:
        out.append("Significantly worse than chance (something other than learning decides these: a collapsed or "
                   "saturated output): " + ", ".join(
                       f"{_name(g, below)} ({evidence.interval_text(group_result(g))})" for g in below) + ".")
    mixed = [g for g in groups if group_result(g).measures and chance_place(g) == "mixed"]
    if mixed:
        out.append("Seeds disagree (some learned, some stayed at chance): " + ", ".join(
            f"{_name(g, mixed)} ({', '.join(number(m.value) for m in group_result(g).measures)})" for g in mixed) + ".")
    falling = [_name(g, [h for h in groups if group_result(h).still_falling])
               for g in groups if group_result(g).still_falling]
    if falling:
        out.append("Not converged in this budget (the loss was still falling at the end): " + ", ".join(falling) + ".")
    return out


def failures(groups) -> list[str]:
    out = []
    for g in groups:
        for r in g.rows:
            if r.status == "failed":
                out.append(f"{r.label} on {(r.task + ' ' + r.task_values).strip()} (seed {r.seed}) "
                           f"failed: {r.error or 'no reason recorded'}")
            elif r.status in results.NOT_RUN:
                out.append(f"{r.label} (seed {r.seed}) did not run to the end ({r.status}).")
    return out


