"""Unidirectional against bidirectional models (Schuster & Paliwal, 1997) on two blanks whose answer is
given only by what follows them: `future_cloze` (a cue `distance` steps after the blank) and `mouse_cloze`
(the article's sentence, "The mouse is used to ___ for the easy use of computers", against sentences whose
later words make the animal's answer right). Causal models (SimpleRNN, LSTM, GRU, the parallel-scan
minGRU, minLSTM and LRU, attention with its causal mask) answer at the blank; the same causal models are
allowed to answer after the cue (`answer_delay`: the information delivered in time); bidirectional cells
and attention without its causal mask answer at the blank.

The comparisons the report makes are declared below as data (`Comparison`, with the directions each side
is taken from); the report names no model in its code.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from training.sweep import gradient_evidence, results, stats
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import (SOLVE, Comparison, article_answer_words, article_answers, describe,
                                                 make_runs, pick, train_settings, variant)
from training.sweep.figures import figure_list, metric_bars
from training.sweep.findings import flagged, fmt, group_result, shown_words, value_of, verdict_sentences
from training.sweep.tables import MODEL, PARAMETERS, chance_column, tail_columns, test_column
from training.sweep.takeaways import Takeaway, and_list, num, result

# The directions, in the words `results.RunRow.direction` derives from a run's config and the zoo.
CAUSAL, LATE, SEES = "causal", "causal, answers late", "sees the future"
DIRECTIONS = (CAUSAL, LATE, SEES)

RECURRENT = ["simple_rnn", "lstm", "gru"]
SCAN = ["min_gru", "min_lstm", "lru"]  # linear recurrences trained by a parallel scan (zoo/scan.py)
CAUSAL_MODELS = RECURRENT + SCAN + ["self_attention:causal_mask"]
SEEING_MODELS = [f"bidirectional_{m}" for m in RECURRENT + SCAN] + ["self_attention:unmasked"]
EVERY = {CAUSAL: CAUSAL_MODELS, LATE: CAUSAL_MODELS, SEES: SEEING_MODELS}
# The quick budget (make demo): on future_cloze three architectures of each direction (the tanh RNN, the GRU,
# attention; the LSTM is the standard budget's, for make demo's time) and one scan cell each way; on the
# article's sentence a causal GRU at the blank and after the cue, a bidirectional GRU and unmasked attention
# (the four claims of the article's example).
QUICK_FUTURE = {CAUSAL: ["simple_rnn", "gru", "self_attention:causal_mask", "min_gru"],
                LATE: ["simple_rnn", "gru", "self_attention:causal_mask"],
                SEES: ["bidirectional_simple_rnn", "bidirectional_gru", "self_attention:unmasked",
                       "bidirectional_min_gru"]}
QUICK_MOUSE = {CAUSAL: ["gru"], LATE: ["gru"], SEES: ["bidirectional_gru", "self_attention:unmasked"]}

# Every budget measures the gradient at the cue (`through_time` on: for a cloze task the gradient of the loss at
# the scored step reaching the inputs that decide the answer, `training.instruments.at_answer`; exactly 0 for a
# causal model at the blank) and records the step norms (the report's norm trace).
# (task, task parameters, variants per direction, training settings that differ from the experiment's)
FUTURE = ("future_cloze", {"length": 20, "distance": 5})
MOUSE = ("mouse_cloze", {})
BUDGETS = {
    "full": dict(answer_delay=2, units=64, batch_size=64, steps=1000, epochs=5, learning_rate=3e-3,
                 tasks=[(*FUTURE, EVERY, {}), (*MOUSE, EVERY, {})]),
    "standard": dict(answer_delay=2, units=32, batch_size=32, steps=150, learning_rate=3e-3,
                     tasks=[(*FUTURE, EVERY, {}), (*MOUSE, EVERY, {})]),
    "quick": dict(answer_delay=2, units=32, batch_size=32, steps=100, learning_rate=3e-3,
                  tasks=[(*FUTURE, QUICK_FUTURE, {}), (*MOUSE, QUICK_MOUSE, {})]),
    "smoke": dict(answer_delay=2, units=8, batch_size=16, steps=3, learning_rate=3e-3,
                  tasks=[("future_cloze", {"length": 12, "distance": 3}, QUICK_FUTURE, {}), (*MOUSE, QUICK_MOUSE, {})]),
}

# The comparisons the report makes, as data: (Comparison, the direction `a` is taken from, the direction `b`
# is taken from), on each task; made only where the sweep holds both.
READING_THE_FUTURE = tuple((Comparison(f"bidirectional_{m}", m, "at the blank: the same cell reading both ways "
                                                                "against reading left to right"), SEES, CAUSAL)
                           for m in RECURRENT + SCAN) + \
    ((Comparison("self_attention:unmasked", "self_attention:causal_mask", "at the blank: attention without and "
                                                                         "with its causal mask"), SEES, CAUSAL),)
ANSWERING_LATE = tuple((Comparison(m, m, "a causal model answering after the cue against it at the blank"), LATE,
                        CAUSAL) for m in CAUSAL_MODELS)
# Each parallel-scan cell against the gated cell it simplifies (minGRU: the GRU, minLSTM: the LSTM; the LRU
# against the GRU), where both can solve the task: causal ones answering late, and both read both ways.
_SCAN_PAIRS = (("min_gru", "gru"), ("min_lstm", "lstm"), ("lru", "gru"))
SCAN_AGAINST_GATED = tuple((Comparison(a, b, "causal, answering after the cue"), LATE, LATE)
                           for a, b in _SCAN_PAIRS) + \
    tuple((Comparison(f"bidirectional_{a}", f"bidirectional_{b}", "reading both ways, at the blank"), SEES, SEES)
          for a, b in _SCAN_PAIRS)
COMPARISONS = READING_THE_FUTURE + ANSWERING_LATE + SCAN_AGAINST_GATED


def plan(s: dict, budget):
    tasks = s["tasks"]
    words = {"future_cloze": lambda p: f"future_cloze (a cue {p['distance']} steps after the blank)",
             "mouse_cloze": lambda p: "mouse_cloze (the article's \"The mouse is used to ___ ...\")"}
    question = (
        "Can a model fill a blank whose answer is given only by words after it ("
        + " and ".join(words[t](p) for t, p, _, _ in tasks) + ")? Causal models (SimpleRNN, LSTM, GRU, the "
        "parallel-scan minGRU, minLSTM and LRU, masked attention) at the blank; the same causal models allowed to "
        f"answer {s['answer_delay']} steps after the cue (the same examples: the information delivered in time); "
        "bidirectional cells and attention without the causal mask at the blank; and what each answers to the "
        "article's own sentence.")
    settings = {**describe(s, ", ".join(t for t, _, _, _ in tasks), {"eval_size": budget.eval_size}, budget.seeds),
                "tasks": [{"task": t, "params": p, **o} for t, p, _, o in tasks], "answer_delay": s["answer_delay"],
                "solve": SOLVE["future_cloze"]}
    runs = []
    for task, params, variants, overrides in tasks:
        task_params = {**params, "eval_size": budget.eval_size}
        train = {**train_settings(s, budget.extra_train), **overrides}
        for direction in DIRECTIONS:
            late = direction == LATE
            runs += make_runs("unidirectional", [variant(n) for n in variants.get(direction, [])], task,
                              {**task_params, "answer_delay": s["answer_delay"]} if late else task_params,
                              {"late": s["answer_delay"]} if late else {}, budget.seeds,
                              extra={"direction": direction, "group": task, "solve": SOLVE["future_cloze"],
                                     "answer_delay": s["answer_delay"] if late else None}, **train)
    return question, settings, runs


# ------------------------------------------------------------------------------ the comparisons
def shown_label(group) -> str:
    """A group's name in sentences: a causal model answering after the cue is told from itself at the blank."""
    return f"{group.label} answering late" if group.direction == LATE else group.label


@dataclasses.dataclass(frozen=True)
class Made:
    """One declared comparison made on one task: the verdict of `stats.compare` (a against b), and the two
    groups under the names the verdict gives them (`shown_label`)."""

    comparison: Comparison
    task: str
    verdict: stats.Verdict
    a: results.VariantGroup | None = None
    b: results.VariantGroup | None = None


def shown(group, result) -> results.VariantGroup:
    """`group` under its `shown_label` (with `result`, relabelled the same): the gradient sentences name it as
    the verdict does."""
    label = shown_label(group)
    return results.VariantGroup([dataclasses.replace(r, label=label) for r in group.rows], result)


def comparisons(groups, load=None, declared=COMPARISONS) -> list[Made]:
    """Every declared comparison the sweep holds both sides of, per task, in declaration order."""
    out = []
    for task in dict.fromkeys(g.task for g in groups):
        mine = [g for g in groups if g.task == task and result(g, load).measures]
        for comparison, from_a, from_b in declared:
            a = pick([g for g in mine if g.direction == from_a], comparison.a)
            b = pick([g for g in mine if g.direction == from_b], comparison.b)
            if a is None or b is None:
                continue
            ra = dataclasses.replace(result(a, load), label=shown_label(a))
            rb = dataclasses.replace(result(b, load), label=shown_label(b))
            out.append(Made(comparison, task, stats.compare(ra, rb, f"on {task}"), shown(a, ra), shown(b, rb)))
    return out


# ------------------------------------------------------------------------------ how the report shows it
_NAMES = {CAUSAL: "Causal models at the blank", LATE: "The same causal models answering after the cue",
          SEES: "Models that see the future"}


def _direction_summary(mine, load) -> str:
    """One direction's accuracies and how many are above, at or below chance, in words."""
    values = [value_of(g, load) for g in mine]
    positions = [stats.chance_position(result(g, load)) for g in mine]
    best = mine[int(np.argmax(values))]
    if len(mine) == 1:
        text = f"test accuracy {num(values[0])} ({shown_label(best)})"
    elif num(min(values)) == num(max(values)):
        text = f"test accuracy {num(values[0])} (each of {and_list(shown_label(g) for g in mine)})"
    else:
        text = f"test accuracy {num(min(values))} to {num(max(values))} (best {shown_label(best)})"
    if None in positions:
        return text + "; whether that differs from chance cannot be tested (the sweep did not record the test size)"
    counts = [f"{sum(p == 'above' for p in positions)} of {len(mine)} significantly above chance",
              f"{sum(p == 'at' for p in positions)} at chance"]
    counts += [f"{sum(p == x for p in positions)} {words}" for x, words in
               (("below", "significantly below chance"), ("mixed", "with seeds that disagree"))
               if any(p == x for p in positions)]
    above = [shown_label(g) for g, p in zip(mine, positions) if p == "above"]
    return text + ", " + and_list(counts) + (f" (above: {', '.join(above)})" if above else "")


def _by_task(groups, load=None):
    ok = [g for g in groups if result(g, load).measures]
    for task in dict.fromkeys(g.task for g in ok):
        yield task, [g for g in ok if g.task == task]


def findings_unidirectional(groups, rows) -> list[str]:
    out = []
    for task, mine in _by_task(groups):
        chance = group_result(mine[0]).chance
        for direction in DIRECTIONS:
            these = [g for g in mine if g.direction == direction]
            if these:
                out.append(f"{task}, {_NAMES[direction].lower()}: {_direction_summary(these, None)}; chance "
                           f"{fmt(chance)}.")
    # Where the gradient gives no reason the design does (what a side has read when it answers): no sentence
    # saying that the sweep cannot tell why, only one that names a reason.
    out += [s for made in comparisons(groups) for s in verdict_sentences(made.verdict, made.a, made.b,
                                                                         reasons_only=True)]
    for g, answers in article_answers(groups):
        out.append(f"{shown_label(g)} on the article's sentence ({g.task}): {article_answer_words(answers)}.")
    return out + flagged(groups)


def takeaway(groups, load=None) -> Takeaway:
    tasks = list(_by_task(groups, load))
    if not tasks:
        return Takeaway("Unidirectional models: no finished runs", "No run of this experiment finished.")
    parts, clean = [], []
    for task, mine in tasks:
        by_direction = {d: [g for g in mine if g.direction == d] for d in DIRECTIONS}
        parts.append(f"On {task}: " + "; ".join(f"{_NAMES[d].lower()}: {_direction_summary(these, load)}"
                                               for d, these in by_direction.items() if these) + ".")
        position = {id(g): stats.chance_position(result(g, load)) for g in mine}
        causal, seeing, late = by_direction[CAUSAL], by_direction[SEES], by_direction[LATE]
        if causal and seeing and not any(position[id(g)] == "above" for g in causal) and \
                all(position[id(g)] == "above" for g in seeing):
            clean.append(task)
            if len(clean) == 1:
                parts.append("The answer depends on words after the blank; a causal model (a left-to-right "
                             "recurrence, a parallel scan over the past, or attention with a causal mask) must answer "
                             "before it has read them, so it can only guess, while a model that reads the whole "
                             "sequence sees them.")
            else:
                parts.append(f"As on {and_list(clean[:-1])}, no causal model at the blank beat chance and every "
                             "model that sees the future did.")
        good = [shown_label(g) for g in late if position[id(g)] == "above"]
        if good:
            parts.append(f"Allowed to answer after the cue, {and_list(good)} learned it too: what stops a causal "
                         "model is when it must answer, not what it can learn.")
    scan = comparisons(groups, load, SCAN_AGAINST_GATED)
    if scan:
        wins = [m for m in scan if m.verdict.kind == "beat"]
        parts.append("The parallel-scan cells against the gated cells they simplify: " + " ".join(
            m.verdict.text for m in scan) + (" No difference between them was significant." if not wins else ""))
    answered = article_answers(groups)
    if answered:
        right = [shown_label(g) for g, answers in answered if answers[0][0] == answers[0][2]]
        wrong = [shown_label(g) for g, answers in answered if answers[0][0] != answers[0][2]]
        first = answered[0][1][0]
        parts.append(f"Asked the article's own sentence ({first[2]} is right), "
                     + "; ".join(x for x in (f"{and_list(right)} answered it right" if right else "",
                                             f"{and_list(wrong)} answered it wrong" if wrong else "") if x)
                     + " (the answer most of its seeds gave; one sentence is one guess, the accuracies above are "
                       "the evidence).")
    return Takeaway("Unidirectional models: a causal model cannot use what it has not read", " ".join(parts))


def unidirectional_figures(folder, rows, out_dir, key):
    titles = {"future_cloze": ("accuracy", "future_cloze: test accuracy at the blank"),
              "mouse_cloze": ("mouse_accuracy", "mouse_cloze (the article's sentence): test accuracy")}
    pairs = []
    for task in dict.fromkeys(r.task for r in rows):
        name, title = titles.get(task, (f"{task}_accuracy", f"{task}: test accuracy"))
        pairs.append((metric_bars([r for r in rows if r.task == task], out_dir / f"{key}_{name}.png", title,
                                  group_key="direction", folder=folder),
                      f"{task}: test accuracy at the answering step (the blank; for a causal model answering late, "
                      "after the cue) with its 95% interval; the marker shape says whether the model sees the future "
                      "(bidirectional, unmasked attention) or answers late. The grey band is the range a guesser "
                      "scores."))
    for task in dict.fromkeys(r.task for r in rows):  # every direction of a task in one pair
        pairs += gradient_evidence.figures(folder, [r for r in rows if r.task == task], out_dir, f"{key}_{task}", task)
    return figure_list(*pairs)


def _sees(group) -> str:
    if group.direction == SEES:
        return "yes"
    delay = group.task_params.get("answer_delay")
    return f"no (answers {delay} steps after the cue)" if delay is not None else "no"


def unidirectional_columns(groups) -> list[tuple[str, callable]]:
    return gradient_evidence.with_columns(MODEL + [("Sees the future", _sees)] + PARAMETERS + test_column(groups)
                                          + chance_column(groups) + tail_columns(), groups)


def article_tables(groups) -> list[tuple[str, dict]]:
    """The article's sentence as each variant answered it (none when no run recorded an answer)."""
    answered = article_answers(groups)
    if not answered:
        return []
    rows = [[g.label, _sees(g), article_answer_words(answers)] for g, answers in answered]
    table = {"columns": ["Model", "Sees the future", "The article's sentence, as the model filled it"],
             "rows": rows, "align": ["left", "left", "left"],
             "notes": ["One sentence is one guess; the test accuracy above says how often a model is right."]}
    return [("The article's own sentence, answered by every variant (each seed's answer is recorded by its run):",
             table)]


EXPERIMENT = register(Definition(
    "unidirectional", "Unidirectional against bidirectional models", BUDGETS, plan,
    columns=unidirectional_columns, findings=findings_unidirectional, extra_tables=article_tables,
    figures=unidirectional_figures, takeaway=takeaway))
