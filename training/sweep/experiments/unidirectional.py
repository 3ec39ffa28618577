"""Unidirectional against bidirectional models on `future_cloze` (Schuster & Paliwal, 1997): causal models
at the blank, the same causal models allowed to answer a few steps after the cue, and bidirectional RNNs
and attention without its causal mask at the blank.
"""

from __future__ import annotations

from training.sweep import figures, findings, tables, takeaways
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, describe, make_runs, train_settings, variant

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


EXPERIMENT = register(Definition(
    "unidirectional", "Unidirectional against bidirectional models", BUDGETS, plan,
    columns=tables.unidirectional_columns, findings=findings.findings_unidirectional,
    figures=figures.unidirectional_figures, takeaway=takeaways.unidirectional))
