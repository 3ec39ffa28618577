"""Unidirectional against bidirectional models on `future_cloze` (Schuster & Paliwal, 1997): causal models
at the blank, the same causal models allowed to answer a few steps after the cue, and bidirectional RNNs
and attention without its causal mask at the blank.
"""

from __future__ import annotations

import numpy as np

from training.sweep import stats
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, describe, make_runs, train_settings, variant
from training.sweep.figures import figure_list, metric_bars
from training.sweep.findings import beat_sentence, chance_place, flagged, fmt, group_result, shown_words, value_of
from training.sweep.tables import MODEL, PARAMETERS, chance_column, tail_columns, test_column
from training.sweep.takeaways import Takeaway, and_list, num, result


CAUSAL = ["simple_rnn", "lstm", "gru", "self_attention:causal_mask"]
SEEING = ["bidirectional_simple_rnn", "bidirectional_lstm", "bidirectional_gru", "self_attention:unmasked"]
BUDGETS = {
    "full": dict(length=20, distance=5, answer_delay=2, units=64, batch_size=64, steps=1000, epochs=5,
                 learning_rate=3e-3),
    "standard": dict(length=20, distance=5, answer_delay=2, units=32, batch_size=32, steps=150, learning_rate=3e-3),
    "quick": dict(length=20, distance=5, answer_delay=2, units=32, batch_size=32, steps=100, learning_rate=3e-3,
                  record_gradients=False, through_time=False),
    "smoke": dict(length=12, distance=3, answer_delay=2, units=8, batch_size=16, steps=3, learning_rate=3e-3),
}


def plan(s: dict, budget):
    question = (
        f"Can a model fill a blank whose answer is given only by a cue {s['distance']} steps after it "
        "(future_cloze)? Causal models (SimpleRNN, LSTM, GRU, masked attention) at the blank; the same causal "
        f"models allowed to answer {s['answer_delay']} steps after the cue (the same examples: the information "
        "delivered in time); bidirectional RNNs and attention without the causal mask at the blank.")
    task_params = {"length": s["length"], "distance": s["distance"], "eval_size": budget.eval_size}
    late_params = {**task_params, "answer_delay": s["answer_delay"]}
    settings = {**describe(s, "future_cloze", task_params, budget.seeds), "answer_delay": s["answer_delay"],
                "solve": SOLVE["future_cloze"]}
    train = train_settings(s, budget.extra_train)
    runs = []
    for direction, names, params, swept in (
            ("causal", CAUSAL, task_params, {}),
            ("causal, answers late", CAUSAL, late_params, {"late": s["answer_delay"]}),
            ("sees the future", SEEING, task_params, {})):
        runs += make_runs("unidirectional", [variant(n) for n in names], "future_cloze", params, swept, budget.seeds,
                          extra={"direction": direction, "group": direction, "solve": SOLVE["future_cloze"],
                                 "answer_delay": params.get("answer_delay")}, **train)
    return question, settings, runs


# ------------------------------------------------------------------------------ how the report shows it
def findings_unidirectional(groups, rows) -> list[str]:
    ok = [g for g in groups if group_result(g).measures]
    if not ok:
        return []
    chance = group_result(ok[0]).chance
    out = []
    for direction in dict.fromkeys(g.direction for g in ok):
        mine = [g for g in ok if g.direction == direction]
        accs = [value_of(g) for g in mine]
        best = mine[int(np.argmax(accs))]
        above = [g.label for g in mine if chance_place(g) == "above"]
        name = {"causal": "Causal models", "sees the future": "Models that see the future"}.get(
            direction, f"Models that are {direction}")
        text = (f"{name}: test accuracy {fmt(min(accs))} to {fmt(max(accs))} (best {shown_words(best)}), "
                f"chance {fmt(chance)}")
        if any(chance_place(g) is None for g in mine):
            out.append(text + "; whether they differ from chance cannot be tested (the sweep did not record the "
                       "size of the test set).")
        else:
            out.append(text + f"; {len(above)} of {len(mine)} significantly above chance"
                       + (f" ({', '.join(above)})." if above else "."))
    causal = [g for g in ok if g.direction == "causal"]
    seeing = [g for g in ok if g.direction == "sees the future"]
    if causal and seeing:
        a, b = max(causal, key=value_of), min(seeing, key=value_of)
        out.append("The best causal model against the weakest model that sees the future: " + beat_sentence(b, a))
    return out + flagged(groups)


# ------------------------------------------------------------------------------- unidirectional
def takeaway(groups, load=None) -> Takeaway:
    ok = [g for g in groups if result(g, load).measures]
    if not ok:
        return Takeaway("Unidirectional models: no finished runs", "No run of this experiment finished.")
    parts = []
    by_direction = {}
    for g in ok:
        by_direction.setdefault(g.direction or "unknown", []).append(g)
    for direction, mine in by_direction.items():
        values = [value_of(g, load) for g in mine]
        positions = [stats.chance_position(result(g, load)) for g in mine]
        name = {"causal": "Causal models answering at the blank", "sees the future": "Models that see the future",
                "causal, answers late": "The same causal models answering after the cue"}.get(
            direction, f"Models that are {direction}")
        text = f"{name}: test accuracy {num(min(values))} to {num(max(values))}"
        if None in positions:
            text += " (whether that differs from chance cannot be tested: the sweep did not record the test size)."
        else:
            counts = [f"{sum(p == 'above' for p in positions)} of {len(mine)} significantly above chance",
                      f"{sum(p == 'at' for p in positions)} at chance"]
            counts += [f"{sum(p == x for p in positions)} {words}" for x, words in
                       (("below", "significantly below chance"), ("mixed", "with seeds that disagree"))
                       if any(p == x for p in positions)]
            text += ", " + and_list(counts) + "."
        parts.append(text)
    causal = by_direction.get("causal", [])
    seeing = by_direction.get("sees the future", [])
    if causal and seeing and not any(stats.chance_position(result(g, load)) == "above" for g in causal) and \
            all(stats.chance_position(result(g, load)) == "above" for g in seeing):
        parts.append("The answer depends on a cue that comes after the blank; a causal model (a left-to-right "
                     "recurrence or attention with a causal mask) must answer before it has read the cue, so it "
                     "can only guess, while a model that reads the whole sequence sees it.")
    late = [d for d in by_direction if d not in ("causal", "sees the future", "unknown")]
    for direction in late:
        good = [g.label for g in by_direction[direction] if stats.chance_position(result(g, load)) == "above"]
        if good:
            parts.append(f"Allowed to answer after the cue ({direction}), {and_list(good)} learned it too: what stops a "
                         "causal model is when it must answer, not what it can learn.")
    return Takeaway("Unidirectional models: a causal model cannot use what it has not read", " ".join(parts))


def unidirectional_figures(folder, rows, out_dir, key):
    return figure_list(
        (metric_bars(rows, out_dir / f"{key}_accuracy.png", "future_cloze: test accuracy at the blank",
                     group_key="direction", folder=folder),
         "Test accuracy at the blank with its 95% interval; the marker shape says whether the model sees the "
         "future (bidirectional, unmasked attention). The grey band is the range a guesser scores."),
    )


def unidirectional_columns(groups) -> list[tuple[str, callable]]:
    return MODEL + [("Sees the future", lambda g: "yes" if g.direction == "sees the future" else "no")] \
        + PARAMETERS + test_column(groups) + chance_column(groups) + tail_columns()


EXPERIMENT = register(Definition(
    "unidirectional", "Unidirectional against bidirectional models", BUDGETS, plan,
    columns=unidirectional_columns, findings=findings_unidirectional,
    figures=unidirectional_figures, takeaway=takeaway))
