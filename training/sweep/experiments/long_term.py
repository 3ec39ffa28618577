"""Long-term dependencies: accuracy against the gap on recall and on the article's own long-dependency
cloze (`kerala_cloze`: "Jane was born in Kerala. <filler sentences> Jane is very fluent in ___", accuracy
against the number of filler sentences), adding against its baseline, copy memory and temporal order;
learning curves and steps to solve (Hochreiter & Schmidhuber, 1997; Le, Jaitly & Hinton, 2015). The report
prints what every variant answers to the article's own sentence at the most filler sentences.

The comparisons the report makes are declared below as data (`Comparison`); the report names no model in its
code.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math

import zoo

from training.core import rules
from training.core.rules import SOLVED_ACCURACY
from training.sweep import evidence, gradient_evidence, results, stats, tables
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import (SOLVE, Comparison, article_answer_words, article_answers, copy_solve,
                                                 default_variant, describe, make_runs, pick, train_settings, variant)
from training.sweep.figures import figure_list, metric_against, metric_bars, validation_curves
from training.sweep.findings import (chance_place, comparison_sentences, flagged, fmt, group_result,
    shown_words, value_of, verdict_sentences)
from training.sweep.tables import group_gap, mean, metric_cell, number, steps_to_solve_cell, table_notes
from training.sweep.results import ROW
from training.sweep.takeaways import Takeaway, and_list, gap_of, has_learned, num, result, with_interval


ALL = ["simple_rnn", "simple_rnn:glorot", "irnn", "lstm", "lstm:orthogonal", "lstm:glorot",
       "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:orthogonal", "gru:glorot", "gru:update_bias_3",
       "gru:chrono", "self_attention:causal_mask"]
QUICK = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:update_bias_3"]
# For `make demo`'s time (issue 24) the quick budget runs recall and copy memory only (adding and temporal order
# are the standard budget's; the exploding experiment runs the IRNN, on adding and recall), the chrono LSTM on
# recall only and the GRU with update bias 3 not on copy memory (`task_variants`): its conclusions are the gate
# biases' on recall and the tanh RNN's against the forget-bias-3 LSTM's on copy memory
# (tests/test_quick_conclusions.py).
QUICK_OTHER_TASKS = ["simple_rnn", "lstm", "lstm:forget_bias_3", "gru"]
# The article's cloze (kerala_cloze): every architecture (SimpleRNN, IRNN, LSTM, GRU, masked attention) at
# Keras's defaults and the gated cells with the long-memory gate biases, against the number of filler sentences;
# the quick budget the four architectures of the article's argument at two filler counts. One filler sentence at
# least: with none there are only 384 distinct sentences (about 19 in each held-out split), so 1,000 test
# examples would repeat them and the intervals, which count examples, would be too narrow.
KERALA = "kerala_cloze"
KERALA_ALL = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "lstm:chrono", "gru", "gru:update_bias_3",
              "self_attention:causal_mask"]
KERALA_QUICK = ["simple_rnn", "lstm", "gru", "self_attention:causal_mask"]
# The parallel-scan cells (zoo/scan.py: minGRU and minLSTM, Feng et al., 2024; the LRU, Orvieto et al., 2023) on
# recall, adding, copy memory and temporal order, each sized to the LSTM's parameter count on that task at the
# budget's width (`param_budget`; the LSTM's own run is then exactly that size), beside a GRU sized the same way
# ("gru [matched]": the default GRU has about 3/4 of the LSTM's parameters). The quick budget runs none here (its
# minGRU and LRU run in the vanishing experiment), for make demo's time.
SCAN = ["min_gru", "min_lstm", "lru"]
MATCHED = "matched"  # the setting of the GRU sized to the LSTM's parameter count
# (task, task parameters, training settings that differ from the experiment's)
_TASKS = [("recall", {"gap": 100}, {}), ("adding", {"length": 50}, {}),
          ("copy_memory", {"delay": 10, "num_symbols": 5}, {"learning_rate": 1e-2, "units": 64, "steps": 400}),
          ("temporal_order", {"length": 60}, {"steps": 400})]
# Every budget records the gradient through time (at initialisation and at the end) on every task: the report's
# gradient at the key then says why the long-memory gate biases solve gap 100 and the defaults do not; and the
# step norms (the report's norm trace; in the quick budget about 0.1-0.3 s of CPU per run, issue 22).
_QUICK_TASKS = [t for t in _TASKS if t[0] in ("recall", "copy_memory")]
BUDGETS = {
    "full": dict(units=64, batch_size=64, learning_rate=3e-3, steps=2000, epochs=10, variants=ALL,
                 tasks=[("recall", {"gap": 50}, {}), ("recall", {"gap": 100}, {}), ("recall", {"gap": 150}, {}),
                        ("adding", {"length": 100}, {}),
                        ("copy_memory", {"delay": 20, "num_symbols": 5}, {"learning_rate": 1e-2}),
                        ("temporal_order", {"length": 100}, {})],
                 kerala=dict(fillers=[1, 2, 4, 8, 16], variants=ALL), scan=dict(variants=SCAN, matched=["gru"])),
    "standard": dict(units=32, batch_size=32, learning_rate=3e-3, steps=300, variants=ALL, tasks=_TASKS,
                     kerala=dict(fillers=[1, 2, 4, 8], variants=KERALA_ALL),
                     scan=dict(variants=SCAN, matched=["gru"])),
    "quick": dict(units=32, batch_size=32, learning_rate=3e-3, steps=200, variants=QUICK, tasks=_QUICK_TASKS,
                  task_variants={"recall": [v for v in QUICK if v != "irnn"], "copy_memory": QUICK_OTHER_TASKS},
                  kerala=dict(fillers=[1, 4], variants=KERALA_QUICK)),  # no scan cell: the vanishing experiment's
    "smoke": dict(units=8, batch_size=16, learning_rate=3e-3, steps=3, variants=["simple_rnn", "lstm", "gru"],
                  tasks=[("recall", {"gap": 5}, {}), ("adding", {"length": 10}, {}),
                         ("copy_memory", {"delay": 5, "num_symbols": 5}, {}),
                         ("temporal_order", {"length": 12}, {})],
                  kerala=dict(fillers=[1, 2], variants=["simple_rnn", "lstm", "gru"]),
                  scan=dict(variants=["min_gru"], matched=["gru"], tasks=["recall"])),
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
# On the article's cloze at the most filler sentences: the article's claim (a gated cell or attention carries
# "Kerala" across the fillers where the tanh RNN loses it), and the long-memory gate biases.
AT_MOST_FILLERS = (Comparison("lstm", "simple_rnn", "kerala_cloze, most filler sentences"),
                   Comparison("gru", "simple_rnn", "kerala_cloze, most filler sentences"),
                   Comparison("self_attention:causal_mask", "simple_rnn", "kerala_cloze, most filler sentences"),
                   Comparison("self_attention:causal_mask", "lstm", "kerala_cloze, most filler sentences"),
                   Comparison("lstm:forget_bias_3", "lstm", "kerala_cloze, most filler sentences"),
                   Comparison("gru:update_bias_3", "gru", "kerala_cloze, most filler sentences"))


# Each parallel-scan cell against the gated cells at the same parameter count, on each task it runs.
SCAN_AGAINST_GATED = (Comparison("min_gru", "gru:matched", "a parallel-scan cell against the gated cell it simplifies"),
                      Comparison("min_lstm", "lstm", "a parallel-scan cell against the gated cell it simplifies"),
                      Comparison("min_gru", "lstm", "a parallel-scan cell against the LSTM of its size"),
                      Comparison("lru", "lstm", "the LRU against the gated cells"),
                      Comparison("lru", "gru:matched", "the LRU against the gated cells"))


def matched_variant(model: str):
    """`model` at Keras's defaults, its width chosen to match the LSTM's parameter count (`param_budget`)."""
    v = default_variant(model)
    return dataclasses.replace(v, setting=MATCHED, initialization=v.initialization + "; width chosen to match "
                                                                                      "the LSTM's parameter count")


@functools.lru_cache(maxsize=None)
def _lstm_parameters(task: str, params_json: str, units: int) -> int:
    """The parameter count of the zoo's LSTM at `units` on `task` (built once per task and width)."""
    import datasets

    spec = datasets.get_spec(task, **json.loads(params_json))
    return zoo.build_model("lstm", units=units, **spec.model_kwargs()).count_params()


def lstm_parameters(task: str, params: dict, units: int) -> int:
    return _lstm_parameters(task, json.dumps(params, sort_keys=True), units)


def _solve(task: str, params: dict) -> dict:
    if task == KERALA:
        return SOLVE["recall"]  # a label at the last step: solved at the same accuracy
    return copy_solve(params) if task == "copy_memory" else SOLVE[task]


def _kerala_tasks(s: dict) -> list:
    """The budget's kerala_cloze entries, as (task, parameters, overrides) like its other tasks."""
    k = s.get("kerala")
    return [(KERALA, {"fillers": f}, {}) for f in k["fillers"]] if k else []


def plan(s: dict, budget):
    tasks = s["tasks"]
    kerala = _kerala_tasks(s)
    question = ("Which architectures and initializations learn tasks whose answer depends on inputs far back ("
                + "; ".join(f"{t} " + ", ".join(f"{k} {v}" for k, v in p.items()) for t, p, _ in tasks)
                + (f"; the article's cloze, kerala_cloze, with {', '.join(str(p['fillers']) for _, p, _ in kerala)} "
                   "filler sentences between the place and the blank" if kerala else "")
                + "), how many steps do they need (learning curves, steps to solve), how often over seeds, and what "
                  "does each answer to the article's own sentence?")
    settings = {**describe(s, "recall, adding, copy_memory, temporal_order" + (", kerala_cloze" if kerala else ""),
                           {"eval_size": budget.eval_size}, budget.seeds),
                "tasks": [{"task": t, "params": p, **o} for t, p, o in tasks + kerala],
                "solve": {t: _solve(t, p) for t, p, _ in tasks + kerala}}
    runs = []
    for task, params, overrides in tasks:
        train = {**train_settings(s, budget.extra_train), **overrides}
        names = s.get("task_variants", {}).get(task, s["variants"])  # a budget may run fewer on some tasks
        runs += make_runs("long_term", [variant(name) for name in names], task,
                          {**params, "eval_size": budget.eval_size}, dict(params), budget.seeds,
                          extra={"group": task, "solve": _solve(task, params)}, **train)
    scan = s.get("scan")
    for task, params, overrides in tasks if scan else []:
        if task not in scan.get("tasks", [task]):
            continue
        train = {**train_settings(s, budget.extra_train), **overrides}
        task_params = {**params, "eval_size": budget.eval_size}
        train.setdefault("param_budget", lstm_parameters(task, task_params, train["units"]))  # --param-budget wins
        chosen = [variant(name) for name in scan["variants"]] + [matched_variant(m) for m in scan.get("matched", [])]
        runs += make_runs("long_term", chosen, task, task_params, dict(params), budget.seeds,
                          extra={"group": task, "solve": _solve(task, params)}, **train)
    for task, params, overrides in kerala:
        train = {**train_settings(s, budget.extra_train), **overrides}
        runs += make_runs("long_term", [variant(name) for name in s["kerala"]["variants"]], task,
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
            out += comparison_sentences(*comparison.pick(at), f"at gap {longest}")
        timed = [g for g in recall if any(r.steps_to_solve is not None for r in g.rows)]
        if timed:
            out.append(f"Steps until the validation accuracy first reached {SOLVED_ACCURACY}: " + "; ".join(
                f"{g.label} gap {group_gap(g)}: {steps_to_solve_cell(g)}" for g in timed) + ".")
    out += findings_kerala(groups)
    for comparison, a, verdict in scan_comparisons(groups):
        b = pick([g for g in groups if (g.task, g.task_values) == (a.task, a.task_values)], comparison.b)
        out += verdict_sentences(verdict, a, b)
    for task in dict.fromkeys(g.task for g in groups if g.task not in DISTANCE_TASKS):
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
            out += comparison_sentences(*comparison.pick(mine), f"on {task}")
    return out + flagged(groups)


def _solved(group) -> bool:
    value = value_of(group)
    return value is not None and value >= SOLVED_ACCURACY and chance_place(group) in ("above", None)


# ------------------------------------------------------------------------------------ long term
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def _gate_bias(group):
    """(`zoo.GateBias`, its starting bias) of a gated cell at a fixed bias, from the zoo registry (the
    builder's default, or the value the variant's setting names); None otherwise (no gate, chrono)."""
    try:
        gate = zoo.get_model_info(group.model).gate_bias
    except ValueError:
        return None
    if gate is None:
        return None
    if group.setting == "default":
        return gate, float(gate.default)
    prefix = gate.argument + "_"
    if group.setting.startswith(prefix):
        try:
            return gate, float(group.setting[len(prefix):])
        except ValueError:
            return None
    return None


def gate_words(label: str, gate, bias: float, gap: int) -> str:
    """`lstm (its forget gate starts at sigma(1) = 0.73, and 0.73^30 = 8e-05 of the key survives the gap)`: the
    fraction of its state a cell keeps per step at its starting bias, as the zoo declares it (`GateBias.kept`;
    for minGRU 1 - the update gate, for minLSTM the normalised forget gate), raised to the gap."""
    keep = gate.kept(bias)
    words = f"its {gate.gate} gate starts at sigma({bias:g}) = {_sigmoid(bias):.2f}"
    if gate.keeps:  # the gate is not what a step keeps
        words += f", so a step keeps {keep:.2f} of its state ({gate.keeps})"
    return f"{label} ({words}, and {keep:.2f}^{gap} = {keep ** gap:.0e} of the key survives the gap)"


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
            words = [gate_words(g.label, *_gate_bias(g), longest) for g in gated]
            parts.append("A gated cell keeps a fraction of its memory per step set by its gate bias: "
                         + "; ".join(words) + ".")
        for comparison in TAKEAWAY_AT_LONGEST_GAP:
            a, b = comparison.pick(at)
            if a and b:
                parts += verdict_sentences(stats.compare(result(a, load), result(b, load), f"at gap {longest}"), a, b,
                                           reasons_only=True)
    parts += _kerala_takeaway(groups, load)
    parts += _scan_takeaway(groups, load)
    others = [g for g in groups if g.task not in DISTANCE_TASKS and result(g, load).measures]
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
    kerala = [r for r in rows if r.task == KERALA]
    if kerala:
        pairs.append(_kerala_figure(folder, kerala, out_dir, key))
    for task in dict.fromkeys(r.task for r in rows if r.task not in DISTANCE_TASKS):
        mine = [r for r in rows if r.task == task]
        words = results.METRIC_WORDS.get(mine[0].metric, mine[0].metric)
        pairs.append((metric_bars(mine, out_dir / f"{key}_{task}.png", f"{task} {mine[0].task_values}: test {words}",
                                  folder=folder),
                      f"{task}: test {words} of every variant with its 95% interval (where the runs stored "
                      "per-example losses), and the baseline of a prediction that ignores the input."))
    pairs.append((validation_curves(folder, recall, out_dir / f"{key}_recall_curves.png",
                                    "Recall: validation accuracy against the training step"),
                  "Learning curves on recall (validation accuracy at every evaluation), with the chance line."))
    for task in dict.fromkeys(r.task for r in rows):  # one pair per task, where its comparisons are made
        mine = compared_rows(rows, task)
        words = " ".join(x for x in (task, mine[0].task_values) if x)
        pairs += gradient_evidence.figures(folder, mine, out_dir, f"{key}_{task}", words)
    return figure_list(*pairs)


def compared_rows(rows, task) -> list:
    """The rows of `task` at the task value the findings compare the variants at: recall's longest gap, the
    cloze's most filler sentences, else the last task value the sweep planned."""
    mine = [r for r in rows if r.task == task]
    if task in DISTANCE_TASKS:
        knob = "gap" if task == "recall" else "fillers"
        far = max(r.task_params.get(knob) or 0 for r in mine)
        return [r for r in mine if (r.task_params.get(knob) or 0) == far]
    last = list(dict.fromkeys(r.task_values for r in mine))[-1]
    return [r for r in mine if r.task_values == last]


def long_term_columns(groups) -> list[tuple]:
    """The columns of any task (`tables.variant_task_columns`) with the gradient columns before the flags."""
    return gradient_evidence.with_columns(tables.variant_task_columns(groups), groups)


def recall_gap_tables(groups) -> list[tuple[str, dict]]:
    """The long-term experiment's further tables, with their introductions: recall by gap (none with fewer
    than two gaps), kerala_cloze by filler sentences, and the article's sentence as each variant answered it."""
    table = recall_gap_table(groups)
    out = [("Recall test accuracy by gap [95% interval]:", table)] if table else []
    kerala = kerala_fillers_table(groups)
    if kerala:
        out.append(("kerala_cloze (the article's sentences) test accuracy by the number of filler sentences "
                    "[95% interval]:", kerala))
    return out + article_tables(groups)


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
    chance = next((mean(g, ROW.chance) for g in recall if mean(g, ROW.chance) is not None), None)
    rows.append(["chance"] + [number(chance)] * len(gaps))
    return {"columns": ["Model"] + [f"gap {gap}" for gap in gaps], "rows": rows,
            "align": ["left"] + ["right"] * len(gaps), "notes": table_notes(recall)}


EXPERIMENT = register(Definition(
    "long_term", "Long-term dependencies", BUDGETS, plan,
    columns=long_term_columns, findings=findings_long_term, figures=long_term_figures,
    extra_tables=recall_gap_tables, takeaway=takeaway))


# ------------------------------------------------------------------------------ the article's cloze
# kerala_cloze's knob is the number of filler sentences; recall's the gap. Both are read as "how far back".
DISTANCE_TASKS = ("recall", KERALA)


def fillers_of(group):
    """The number of filler sentences of a kerala_cloze group (None for another task)."""
    return group.task_params.get("fillers") if group.task == KERALA else None


def _kerala_groups(groups, load=None) -> list:
    return [g for g in groups if g.task == KERALA and result(g, load).measures]


def _most_fillers(groups) -> tuple:
    """(the largest filler count of the cloze groups, the groups at it)."""
    most = max(fillers_of(g) for g in groups)
    return most, [g for g in groups if fillers_of(g) == most]


def _is_right(answers) -> bool:
    """Whether the answer most of a variant's seeds gave (the first) is the right one."""
    answer, _, right, _ = answers[0]
    return answer == right


def findings_kerala(groups) -> list[str]:
    mine = _kerala_groups(groups)
    if not mine:
        return []
    chance = group_result(mine[0]).chance
    counts = sorted({fillers_of(g) for g in mine})
    out = [f"kerala_cloze (\"<name> was born in <place>. <filler sentences> <name> is very fluent in ___\", the "
           f"answer the place's language): test accuracy against the number of filler sentences ({', '.join(map(str, counts))}), "
           f"chance {fmt(chance)} — " + "; ".join(
               f"{label}: " + ", ".join(f"{fillers_of(g)} {fmt(value_of(g))}" for g in mine if g.label == label)
               for label in dict.fromkeys(g.label for g in mine)) + "."]
    parts = []
    for label in dict.fromkeys(g.label for g in mine):
        theirs = [g for g in mine if g.label == label]
        solved = [fillers_of(g) for g in theirs if _solved(g)]
        part = f"{label}: {max(solved) if solved else 'none'}"
        if max(len(g.rows) for g in theirs) > 1:
            part += " (seeds solved: " + ", ".join(
                f"{fillers_of(g)} fillers {evidence.success_rate(g.rows, SOLVED_ACCURACY)[0]}/{len(g.rows)}"
                for g in theirs) + ")"
        parts.append(part)
    out.append(f"Most filler sentences across which each solved it (accuracy at least {SOLVED_ACCURACY} and "
               "significantly above chance) — " + "; ".join(parts) + ".")
    most, at = _most_fillers(mine)
    best = max(at, key=value_of)
    n_at = sum(chance_place(g) == "at" for g in at)
    out.append(f"At {most} filler sentences the best was {shown_words(best)}; {n_at} of {len(at)} variants were at "
               "chance.")
    for comparison in AT_MOST_FILLERS:
        out += comparison_sentences(*comparison.pick(at), f"at {most} filler sentences")
    for g, answers in article_answers(at):
        out.append(f"{g.label} on the article's own sentence at {most} filler sentences: "
                   f"{article_answer_words(answers)}.")
    return out


def _kerala_takeaway(groups, load=None) -> list[str]:
    mine = _kerala_groups(groups, load)
    if not mine:
        return []
    most, at = _most_fillers(mine)
    fewest = min(fillers_of(g) for g in mine)
    solved = [g for g in at if (value_of(g, load) or 0) >= SOLVED_ACCURACY and has_learned(g, load)]
    parts = [(f"On the article's cloze with {most} filler sentences between the place and the blank, "
              + (f"{and_list(f'{g.label} ({with_interval(g, load)})' for g in solved)} named the language "
                 f"(accuracy at least {SOLVED_ACCURACY})." if solved else "no variant solved it."))]
    chance = [g.label for g in at if g not in solved and stats.chance_position(result(g, load)) == "at"]
    if chance:
        parts.append(f"At chance there (1 in {round(1 / result(at[0], load).chance)}): {and_list(chance)}.")
    if fewest < most:
        falls = []
        for g in at:
            first = next((x for x in mine if x.label == g.label and fillers_of(x) == fewest), None)
            if first is not None:
                falls.append(f"{g.label} {num(value_of(first, load))} to {num(value_of(g, load))}")
        if falls:
            parts.append(f"From {fewest} to {most} filler sentences: {'; '.join(falls)}.")
    for comparison in AT_MOST_FILLERS[:3]:
        a, b = comparison.pick(at)
        if a and b:
            parts += verdict_sentences(stats.compare(result(a, load), result(b, load), f"at {most} filler sentences"),
                                       a, b, reasons_only=True)
    answered = article_answers(at)
    if answered:
        right = [g.label for g, answers in answered if _is_right(answers)]
        wrong = [g.label for g, answers in answered if not _is_right(answers)]
        parts.append(f"Asked the article's own sentence at {most} filler sentences ({answered[0][1][0][2]} is "
                     "right), " + "; ".join(x for x in (f"{and_list(right)} answered it right" if right else "",
                                                        f"{and_list(wrong)} answered it wrong" if wrong else "") if x)
                     + " (the answer most of its seeds gave; one sentence is one guess, the accuracies are the "
                       "evidence).")
    return parts


def kerala_fillers_table(groups) -> dict | None:
    """kerala_cloze test accuracy by the number of filler sentences, one row per variant (None without it)."""
    mine = [g for g in groups if g.task == KERALA]
    if not mine:
        return None
    counts = sorted({fillers_of(g) for g in mine})
    rows = []
    for label in dict.fromkeys(g.label for g in mine):
        row = [label]
        for f in counts:
            g = next((x for x in mine if x.label == label and fillers_of(x) == f), None)
            row.append(metric_cell(g) if g else "–")
        rows.append(row)
    chance = next((mean(g, ROW.chance) for g in mine if mean(g, ROW.chance) is not None), None)
    rows.append(["chance"] + [number(chance)] * len(counts))
    return {"columns": ["Model"] + [f"{f} filler{'s' if f != 1 else ''}" for f in counts], "rows": rows,
            "align": ["left"] + ["right"] * len(counts), "notes": table_notes(mine)}


def article_tables(groups) -> list[tuple[str, dict]]:
    """The article's own sentence at the most filler sentences as each variant answered it, with the seeds
    (none when no run recorded an answer)."""
    mine = [g for g in groups if g.task == KERALA]
    answered = article_answers(_most_fillers(mine)[1]) if mine else []
    if not answered:
        return []
    most = _most_fillers(mine)[0]
    rows = [[g.label, "right" if _is_right(answers) else "wrong", article_answer_words(answers)]
            for g, answers in answered]
    table = {"columns": ["Model", "Most seeds", "The article's sentence, as the model filled it"], "rows": rows,
             "align": ["left", "left", "left"],
             "notes": ["One sentence is one guess; the test accuracy above says how often a model is right."]}
    return [(f"The article's own sentence with {most} filler sentences, answered by every variant (each seed's "
             "answer is recorded by its run):", table)]


def _kerala_figure(folder, rows, out_dir, key):
    counts = {r.task_params.get("fillers") for r in rows}
    path = out_dir / f"{key}_kerala_fillers.png"
    if len(counts) == 1:
        return (metric_bars(rows, path, f"kerala_cloze, {next(iter(counts))} filler sentences: test accuracy",
                            folder=folder),
                "Test accuracy on the article's cloze of every variant with its 95% interval; the grey band is the "
                "range a guesser scores.")
    return (metric_against(rows, "fillers", path, "kerala_cloze: test accuracy against the filler sentences",
                           "filler sentences between the place and the blank", folder=folder),
            "Test accuracy on the article's cloze (\"Jane was born in Kerala. ... Jane is very fluent in ___\") "
            "against the number of filler sentences, one panel per architecture, with 95% intervals (over seeds, "
            "or over the test set with one seed); the grey band is the range a guesser scores.")


# ------------------------------------------------------------------------------ the parallel-scan cells
def scan_comparisons(groups, load=None, declared=SCAN_AGAINST_GATED) -> list[tuple]:
    """(comparison, the group of its `a`, the verdict of `stats.compare`: a against b) for each declared
    comparison the sweep holds both sides of on one task at the same task values, in task then declaration
    order."""
    ok = [g for g in groups if result(g, load).measures]
    out = []
    for where in dict.fromkeys((g.task, g.task_values) for g in ok):
        mine = [g for g in ok if (g.task, g.task_values) == where]
        for comparison in declared:
            a, b = comparison.pick(mine)
            if a is not None and b is not None:
                out.append((comparison, a, stats.compare(result(a, load), result(b, load),
                                                         f"on {' '.join(x for x in where if x)}")))
    return out


def _scan_takeaway(groups, load=None) -> list[str]:
    made = scan_comparisons(groups, load)
    if not made:
        return []
    budgets = sorted({r.param_budget for _, a, _ in made for r in a.rows if r.param_budget})
    size = (f" (each sized to the LSTM's parameter count on its task: {', '.join(f'{b:,}' for b in budgets)})"
            if budgets else "")
    won = list(dict.fromkeys(a.label for _, a, v in made if v.winner == a.label))
    lost = list(dict.fromkeys(a.label for _, a, v in made if v.loser == a.label))
    parts = [f"The parallel-scan cells against the gated cells{size}: " + " ".join(v.text for _, _, v in made)]
    if lost:
        parts.append(f"Where they lose ({and_list(lost)}{' on some tasks' if set(lost) & set(won) else ''}), a "
                     "recurrence linear in its hidden state (its gates read only the input) cannot decide from what "
                     "it holds whether to keep it, the price of a training step that runs in parallel over time.")
    if won:
        parts.append(f"Significantly better than a gated cell of their size somewhere: {and_list(won)}.")
    if not won and not lost:
        parts.append("No difference between them was significant.")
    return parts
