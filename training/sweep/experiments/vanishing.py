"""Vanishing gradients through time: ||dL_T/dx_t|| against the lag T - t, at initialisation and after
training, and whether the model then learns recall (Bengio, Simard & Frasconi, 1994; Hochreiter, 1991).

A tanh RNN whose orthogonal recurrent kernel is scaled by a gain, and gated cells whose recurrent kernel
or gate bias is changed one at a time; the theory column is the recurrent Jacobian's spectral radius.
"""

from __future__ import annotations

from training.sweep import figures, findings, tables, takeaways
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, describe, make_runs, train_settings, variant

ALL = ["simple_rnn:gain_0.5", "simple_rnn:gain_0.8", "simple_rnn", "simple_rnn:gain_1.5",
       "simple_rnn:glorot", "irnn", "irnn:glorot",
       "lstm", "lstm:orthogonal", "lstm:glorot", "lstm:forget_bias_3", "lstm:chrono",
       "gru", "gru:orthogonal", "gru:glorot", "gru:update_bias_3", "gru:chrono", "self_attention"]
QUICK = [v for v in ALL if v not in ("simple_rnn:glorot", "irnn:glorot", "self_attention")]
BUDGETS = {
    "full": dict(gap=100, units=64, batch_size=64, steps=1000, epochs=5, learning_rate=3e-3, variants=ALL),
    "standard": dict(gap=50, units=32, batch_size=32, steps=300, learning_rate=3e-3, variants=ALL),
    "quick": dict(gap=50, units=32, batch_size=32, steps=200, learning_rate=3e-3, record_gradients=False,
                  variants=QUICK),
    "smoke": dict(gap=8, units=8, batch_size=16, steps=3, learning_rate=3e-3,
                  variants=["simple_rnn:gain_0.5", "simple_rnn", "irnn", "lstm", "lstm:orthogonal", "gru",
                            "self_attention"]),
}


def _group(v) -> str:
    if v.model == "simple_rnn" and (v.setting.startswith("gain") or v.setting == "default"):
        return "tanh gain sweep"
    return "gated cells: one change at a time" if v.model in ("lstm", "gru") else "references"


def plan(s: dict, budget):
    question = (
        f"How much gradient reaches the key of recall (gap {s['gap']}) at initialisation, how fast does "
        "||dL_T/dx_t|| fall with the lag (measured, and predicted by the recurrent Jacobian's spectral radius), "
        "and does the model then learn the task? A tanh RNN whose orthogonal recurrent kernel is scaled by a "
        "gain, and gated cells whose recurrent kernel or gate bias is changed one at a time.")
    task_params = {"gap": s["gap"], "eval_size": budget.eval_size}
    settings = {**describe(s, "recall", task_params, budget.seeds), "solve": SOLVE["recall"],
                "theory": "zoo.dynamics: per-step recurrent Jacobian at initialisation"}
    runs = []
    for v in [variant(name) for name in s["variants"]]:
        gain = float(v.model_params.get("recurrent_gain", 1.0))
        runs += make_runs("vanishing", [v], "recall", task_params, {"gap": s["gap"]}, budget.seeds,
                          extra={"group": _group(v), "gain": gain, "solve": SOLVE["recall"]},
                          theory=True, **train_settings(s, budget.extra_train))
    return question, settings, runs


EXPERIMENT = register(Definition(
    "vanishing", "Vanishing gradients through time", BUDGETS, plan,
    columns=tables.through_time_columns, findings=findings.findings_through_time,
    figures=figures.through_time_figures, takeaway=takeaways.vanishing,
    aliases=("through_time",)))
