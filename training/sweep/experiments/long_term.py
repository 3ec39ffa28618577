"""Long-term dependencies: accuracy against the gap on recall, adding against its baseline, copy memory and
temporal order; learning curves and steps to solve (Hochreiter & Schmidhuber, 1997; Le, Jaitly & Hinton,
2015).
"""

from __future__ import annotations

import math

import zoo

from training.core import rules
from training.core.rules import SOLVED_ACCURACY
from training.sweep import evidence, results, stats, tables
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, Comparison, copy_solve, describe, make_runs, train_settings, variant
from training.sweep.figures import figure_list, metric_against, metric_bars, validation_curves
from training.sweep.findings import (beat_sentence, chance_place, flagged, fmt, group_result,
    shown_words, value_of)
from training.sweep.tables import group_gap, mean, metric_cell, number, steps_to_solve_cell, table_notes
from training.sweep.takeaways import Takeaway, and_list, gap_of, has_learned, num, result, with_interval


ALL = ["simple_rnn", "simple_rnn:glorot", "irnn", "lstm", "lstm:orthogonal", "lstm:glorot",
       "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:orthogonal", "gru:glorot", "gru:update_bias_3",
       "gru:chrono", "self_attention:causal_mask"]
QUICK = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:update_bias_3"]
# (task, task parameters, training settings that differ from the experiment's)
_TASKS = [("recall", {"gap": 100}, {}), ("adding", {"length": 50}, {}),
          ("copy_memory", {"delay": 10, "num_symbols": 5}, {"learning_rate": 1e-2, "units": 64, "steps": 400}),
          ("temporal_order", {"length": 60}, {"steps": 400})]
BUDGETS = {
    "full": dict(units=64, batch_size=64, learning_rate=3e-3, steps=2000, epochs=10, variants=ALL,
                 tasks=[("recall", {"gap": 50}, {}), ("recall", {"gap": 100}, {}), ("recall", {"gap": 150}, {}),
                        ("adding", {"length": 100}, {}),
                        ("copy_memory", {"delay": 20, "num_symbols": 5}, {"learning_rate": 1e-2}),
                        ("temporal_order", {"length": 100}, {})]),
    "standard": dict(units=32, batch_size=32, learning_rate=3e-3, steps=300, variants=ALL, tasks=_TASKS),
    "quick": dict(units=32, batch_size=32, learning_rate=3e-3, steps=200, record_gradients=False,
                  through_time=False, variants=QUICK, tasks=_TASKS),
    "smoke": dict(units=8, batch_size=16, learning_rate=3e-3, steps=3, variants=["simple_rnn", "lstm", "gru"],
                  tasks=[("recall", {"gap": 5}, {}), ("adding", {"length": 10}, {}),
                         ("copy_memory", {"delay": 5, "num_symbols": 5}, {}),
                         ("temporal_order", {"length": 12}, {})]),
}


# The comparisons the report makes, as data (`Comparison`: a against b on the test metric).
AT_LONGEST_GAP = (Comparison("lstm", "simple_rnn", "recall, longest gap"),
                  Comparison("gru", "simple_rnn", "recall, longest gap"),
                  Comparison("lstm:forget_bias_3", "lstm", "recall, longest gap"),
                  Comparison("lstm:chrono", "lstm", "recall, longest gap"),
                  Comparison("gru:update_bias_3", "gru", "recall, longest gap"),
                  Comparison("simple_rnn:glorot", "simple_rnn", "recall, longest gap"))
ON_OTHER_TASKS = (Comparison("lstm", "simple_rnn", "each task but recall"),)
TAKEAWAY_AT_LONGEST_GAP = (Comparison("lstm:forget_bias_3", "lstm", "the takeaway: recall, longest gap"),
                           Comparison("lstm:chrono", "lstm", "the takeaway: recall, longest gap"),
                           Comparison("gru:update_bias_3", "gru", "the takeaway: recall, longest gap"),
                           Comparison("lstm", "simple_rnn", "the takeaway: recall, longest gap"))


def _solve(task: str, params: dict) -> dict:
    return copy_solve(params) if task == "copy_memory" else SOLVE[task]


def plan(s: dict, budget):
    tasks = s["tasks"]
    question = ("Which architectures and initializations learn tasks whose answer depends on inputs far back ("
                + "; ".join(f"{t} " + ", ".join(f"{k} {v}" for k, v in p.items()) for t, p, _ in tasks)
                + "), how many steps do they need (learning curves, steps to solve), and how often over seeds?")
    settings = {**describe(s, "recall, adding, copy_memory, temporal_order", {"eval_size": budget.eval_size},
                           budget.seeds),
                "tasks": [{"task": t, "params": p, **o} for t, p, o in tasks],
                "solve": {t: _solve(t, p) for t, p, _ in tasks}}
    runs = []
    for task, params, overrides in tasks:
        train = {**train_settings(s, budget.extra_train), **overrides}
        runs += make_runs("long_term", [variant(name) for name in s["variants"]], task,
                          {**params, "eval_size": budget.eval_size}, dict(params), budget.seeds,
                          extra={"group": task, "solve": _solve(task, params)}, **train)
    return question, settings, runs


# ------------------------------------------------------------------------------ how the report shows it
def findings_long_term(groups, rows) -> list[str]:
    out = []
    recall = [g for g in groups if g.task == "recall" and group_result(g).measures]
    if recall:
        chance = group_result(recall[0]).chance
        out.append(f"Recall: \"solved\" below means test accuracy of at least {SOLVED_ACCURACY} and significantly "
                   f"above chance ({fmt(chance)}); with several seeds, the share of seeds that did.")
        gaps = sorted({group_gap(g) for g in recall})
        parts = []
        for label in dict.fromkeys(g.label for g in recall):
            mine = [g for g in recall if g.label == label]
            solved = [group_gap(g) for g in mine if _solved(g)]
            part = f"{label}: {max(solved) if solved else 'none'}"
            if max(len(g.rows) for g in mine) > 1:
                rates = [f"gap {group_gap(g)} {evidence.success_rate(g.rows, SOLVED_ACCURACY)[0]}/{len(g.rows)}"
                         for g in mine]
                part += f" (seeds solved: {', '.join(rates)})"
            parts.append(part)
        out.append("Largest gap solved — " + "; ".join(parts) + ".")
        longest = gaps[-1]
        at = [g for g in recall if group_gap(g) == longest]
        best = max(at, key=value_of)
        n_at = sum(chance_place(g) == "at" for g in at)
        out.append(f"At the longest gap ({longest}) the best was {shown_words(best)}; {n_at} of {len(at)} variants were "
                   "at chance.")
        for comparison in AT_LONGEST_GAP:
            sentence = beat_sentence(*comparison.pick(at), f"at gap {longest}")
            if sentence:
                out.append(sentence)
        timed = [g for g in recall if any(r.steps_to_solve is not None for r in g.rows)]
        if timed:
            out.append(f"Steps until the validation accuracy first reached {SOLVED_ACCURACY}: " + "; ".join(
                f"{g.label} gap {group_gap(g)}: {steps_to_solve_cell(g)}" for g in timed) + ".")
    for task in dict.fromkeys(g.task for g in groups if g.task != "recall"):
        mine = [g for g in groups if g.task == task and group_result(g).measures]
        if not mine:
            continue
        metric = mine[0].metric
        baseline = group_result(mine[0]).chance
        higher = rules.higher_is_better(metric)
        ordered = sorted(mine, key=value_of, reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        ranking = ", ".join(shown_words(g) for g in ordered)
        out.append(f"{task} {mine[0].task_values}: test {words} (baseline of a prediction that ignores the input "
                   f"{fmt(baseline)}) — {ranking}.")
        better = [g.label for g in mine if chance_place(g) == "above"]
        unknown = [g.label for g in mine if chance_place(g) is None]
        if unknown and not better:
            out.append(f"Whether they beat the baseline cannot be tested: this sweep stored no per-example {words}.")
        else:
            out.append(f"Significantly better than the baseline: {', '.join(better) if better else 'none'}.")
        for comparison in ON_OTHER_TASKS:
            sentence = beat_sentence(*comparison.pick(mine), f"on {task}")
            if sentence:
                out.append(sentence)
    return out + flagged(groups)


def _solved(group) -> bool:
    value = value_of(group)
    return value is not None and value >= SOLVED_ACCURACY and chance_place(group) in ("above", None)


# ------------------------------------------------------------------------------------ long term
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _gate_bias(group):
    """(gate, its starting bias) of a gated cell at a fixed bias, from the zoo registry (`GateBias`: the
    builder's default, or the value the variant's setting names); None otherwise (no gate, chrono)."""
    try:
        gate = zoo.get_model_info(group.model).gate_bias
    except ValueError:
        return None
    if gate is None:
        return None
    if group.setting == "default":
        return gate.gate, float(gate.default)
    prefix = gate.argument + "_"
    if group.setting.startswith(prefix):
        try:
            return gate.gate, float(group.setting[len(prefix):])
        except ValueError:
            return None
    return None


def takeaway(groups, load=None) -> Takeaway:
    parts = []
    recall = [g for g in groups if g.task == "recall" and result(g, load).measures]
    if recall:
        longest = max(gap_of(g) or 0 for g in recall)
        at = [g for g in recall if gap_of(g) == longest]
        solved = [g for g in at if (value_of(g, load) or 0) >= SOLVED_ACCURACY and has_learned(g, load)]
        unsolved = [g for g in at if g not in solved]
        if solved:
            named = and_list(f"{g.label} ({with_interval(g, load)})" for g in solved)
            parts.append(f"At the longest gap ({longest}) {named} solved recall (accuracy at least {SOLVED_ACCURACY}).")
        else:
            parts.append(f"No variant solved recall at the longest gap ({longest}).")
        chance = [g.label for g in unsolved if stats.chance_position(result(g, load)) == "at"]
        if chance:
            parts.append(f"At chance there: {and_list(chance)}.")
        gated = [g for g in at if _gate_bias(g)]
        if gated:
            words = []
            for g in gated:
                gate, bias = _gate_bias(g)
                keep = _sigmoid(bias)
                words.append(f"{g.label} (its {gate} gate starts at sigma({bias:g}) = {keep:.2f}, and "
                             f"{keep:.2f}^{longest} = {keep ** longest:.0e} of the key survives the gap)")
            parts.append("A gated cell keeps a fraction of its memory per step set by its gate bias: "
                         + "; ".join(words) + ".")
        for comparison in TAKEAWAY_AT_LONGEST_GAP:
            a, b = comparison.pick(at)
            if a and b:
                parts.append(stats.compare(result(a, load), result(b, load), f"at gap {longest}").text)
    others = [g for g in groups if g.task != "recall" and result(g, load).measures]
    for task in dict.fromkeys(g.task for g in others):
        mine = [g for g in others if g.task == task]
        beat = [g.label for g in mine if stats.chance_position(result(g, load)) == "above"]
        baseline = result(mine[0], load).chance
        parts.append(f"On {task} {len(beat)} of {len(mine)} variants did significantly better than the baseline of "
                     f"a prediction that ignores the input ({num(baseline)})" + (f": {and_list(beat)}." if beat else "."))
    if not parts:
        parts.append("No run of this experiment finished.")
    return Takeaway("Long-term dependencies: gate biases set the memory's time scale", " ".join(parts))


def long_term_figures(folder, rows, out_dir, key):
    recall = [r for r in rows if r.task == "recall"]
    gaps = {r.task_values for r in recall}
    if len(gaps) == 1:  # one gap (the quick budget): a point per variant, not a line against the gap
        pairs = [(metric_bars(recall, out_dir / f"{key}_recall_gap.png", f"Recall {next(iter(gaps))}: test accuracy",
                              folder=folder),
                  "Test accuracy on recall of every variant with its 95% interval (over seeds, or over the test set "
                  "with one seed); the grey band is the range a guesser scores.")]
    else:
        pairs = [(metric_against(recall, "gap", out_dir / f"{key}_recall_gap.png",
                                 "Recall: test accuracy against the gap", "gap (distractors between key and query)",
                                 log_x=True, folder=folder),
                  "Test accuracy on recall against the gap, one panel per architecture, with 95% intervals (over "
                  "seeds, or over the test set with one seed); the grey band is the range a guesser scores.")]
    for task in dict.fromkeys(r.task for r in rows if r.task != "recall"):
        mine = [r for r in rows if r.task == task]
        words = results.METRIC_WORDS.get(mine[0].metric, mine[0].metric)
        pairs.append((metric_bars(mine, out_dir / f"{key}_{task}.png", f"{task} {mine[0].task_values}: test {words}",
                                  folder=folder),
                      f"{task}: test {words} of every variant with its 95% interval (where the runs stored "
                      "per-example losses), and the baseline of a prediction that ignores the input."))
    pairs.append((validation_curves(folder, recall, out_dir / f"{key}_recall_curves.png",
                                    "Recall: validation accuracy against the training step"),
                  "Learning curves on recall (validation accuracy at every evaluation), with the chance line."))
    return figure_list(*pairs)


def recall_gap_tables(groups) -> list[tuple[str, dict]]:
    """The long-term experiment's second table, with its introduction (none with fewer than two gaps)."""
    table = recall_gap_table(groups)
    return [("Recall test accuracy by gap [95% interval]:", table)] if table else []


def recall_gap_table(groups) -> dict | None:
    """Recall test accuracy by gap, one row per variant (None with fewer than two gaps)."""
    recall = [g for g in groups if g.task == "recall"]
    gaps = sorted({group_gap(g) for g in recall})
    if len(gaps) < 2:
        return None
    labels = list(dict.fromkeys(g.label for g in recall))
    rows = []
    for label in labels:
        row = [label]
        for gap in gaps:
            g = next((x for x in recall if x.label == label and x.gap == gap), None)
            row.append(metric_cell(g) if g else "–")
        rows.append(row)
    chance = next((mean(g, "chance") for g in recall if mean(g, "chance") is not None), None)
    rows.append(["chance"] + [number(chance)] * len(gaps))
    return {"columns": ["Model"] + [f"gap {gap}" for gap in gaps], "rows": rows,
            "align": ["left"] + ["right"] * len(gaps), "notes": table_notes(recall)}


EXPERIMENT = register(Definition(
    "long_term", "Long-term dependencies", BUDGETS, plan,
    columns=tables.variant_task_columns, findings=findings_long_term, figures=long_term_figures,
    extra_tables=recall_gap_tables, takeaway=takeaway))
