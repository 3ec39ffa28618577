"""Long-term dependencies: accuracy against the gap on recall, adding against its baseline, copy memory and
temporal order; learning curves and steps to solve (Hochreiter & Schmidhuber, 1997; Le, Jaitly & Hinton,
2015).
"""

from __future__ import annotations

from training.sweep import figures, findings, tables, takeaways
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, copy_solve, describe, make_runs, train_settings, variant

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


EXPERIMENT = register(Definition(
    "long_term", "Long-term dependencies", BUDGETS, plan,
    columns=tables.variant_task_columns, findings=findings.findings_long_term, figures=figures.long_term_figures,
    extra_tables=tables.recall_gap_tables, takeaway=takeaways.long_term))
