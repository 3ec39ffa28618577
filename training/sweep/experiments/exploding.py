"""Exploding gradients and clipping (Pascanu, Mikolov & Bengio, 2013): an IRNN on the adding problem with
Adam, with and without `global_clipnorm=1`; and with plain SGD on recall, the recurrent kernel scaled by a
gain of 1.0 / 1.5 / 2.0, with and without clipping: which runs diverge, and which only look solved.
"""

from __future__ import annotations

from training.sweep import figures, findings, tables, takeaways
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, PlannedRun, default_variant, gained_variant, make_config, run_id

BUDGETS = {
    "full": dict(adding=dict(length=50, units=64, batch_size=64, steps=600, learning_rate=1e-2),
                 sgd=dict(gap=50, units=64, batch_size=64, steps=300, learning_rate=0.05,
                          gains=[1.0, 1.5, 2.0], initializers=[None, "glorot_uniform"])),
    "standard": dict(adding=dict(length=50, units=64, batch_size=32, steps=300, learning_rate=1e-2),
                     sgd=dict(gap=50, units=64, batch_size=32, steps=60, learning_rate=0.05,
                              gains=[1.0, 1.5, 2.0], initializers=[None])),
    "quick": dict(adding=dict(length=50, units=64, batch_size=32, steps=200, learning_rate=1e-2),
                  sgd=dict(gap=50, units=64, batch_size=32, steps=60, learning_rate=0.05,
                           gains=[1.0, 2.0], initializers=[None])),
    "smoke": dict(adding=dict(length=10, units=8, batch_size=16, steps=3, learning_rate=1e-2),
                  sgd=dict(gap=8, units=8, batch_size=16, steps=3, learning_rate=0.05, gains=[1.0, 2.0],
                           initializers=[None])),
}
CLIPS = (None, 1.0)  # global_clipnorm: none, and 1


def _run(v, label, clip, task, task_params, swept, seed, budget, extra, **train) -> PlannedRun:
    rid = run_id("exploding", label.replace(" clip", "-clip1"), task, swept, seed)
    config = make_config(v.model, task, task_params, v.model_params, seed, rid, global_clipnorm=clip,
                         **train, **budget.extra_train)
    return PlannedRun(rid, "exploding", v.model, v.setting, label,
                      v.initialization + (", global_clipnorm=1" if clip else ", no clipping"),
                      task, dict(task_params), seed, config, extra=extra)


def plan(s: dict, budget):
    a, g = s["adding"], s["sgd"]
    question = (
        f"Does global gradient clipping let an IRNN learn the adding problem (length {a['length']}, Adam, learning "
        f"rate {a['learning_rate']:g}) that it fails without? And with plain SGD (learning rate {g['learning_rate']:g}) "
        "on recall, how large does the gradient norm get when the recurrent kernel is scaled by a gain of "
        + ", ".join(f"{x:g}" for x in g["gains"]) + ", which runs diverge, and which only look solved (hidden-state "
        "overflow, saturated softmax, zero gradient: degenerate)?")
    settings = {"adding (Adam)": {**a, "optimizer": "adam", "clip": "none / global_clipnorm=1"},
                "recall (SGD)": {k: v for k, v in g.items() if k != "initializers"},
                "seeds": list(budget.seeds), "eval_size": budget.eval_size, "optimizer": "adam (adding), sgd (recall)",
                "steps": a["steps"], "units": a["units"], "batch_size": a["batch_size"],
                "step gradients recorded": "yes", "solve": SOLVE["adding"]}
    runs = []
    adding_params = {"length": a["length"], "eval_size": budget.eval_size}
    for clip in CLIPS:
        v = default_variant("irnn")
        label = v.label + (" clip" if clip else "")
        for seed in budget.seeds:
            runs.append(_run(v, label, clip, "adding", adding_params, {"length": a["length"]}, seed, budget,
                             {"group": "IRNN on adding (Adam)", "gain": 1.0, "kernel": "default",
                              "solve": SOLVE["adding"]},
                             units=a["units"], batch_size=a["batch_size"], steps=a["steps"],
                             learning_rate=a["learning_rate"], optimizer="adam"))
    recall_params = {"gap": g["gap"], "eval_size": budget.eval_size}
    for model in ("simple_rnn", "irnn"):
        for initializer in g["initializers"]:
            for gain in g["gains"]:
                v = gained_variant(model, gain, initializer)
                for clip in CLIPS:
                    for seed in budget.seeds:
                        runs.append(_run(v, v.label + (" clip" if clip else ""), clip, "recall", recall_params,
                                         {"gap": g["gap"]}, seed, budget,
                                         {"group": "gain sweep on recall (SGD)", "gain": gain,
                                          "kernel": initializer or "default"},
                                         units=g["units"], batch_size=g["batch_size"], steps=g["steps"],
                                         learning_rate=g["learning_rate"], optimizer="sgd"))
    return question, settings, runs


EXPERIMENT = register(Definition(
    "exploding", "Exploding gradients and clipping", BUDGETS, plan,
    columns=tables.exploding_columns, findings=findings.findings_exploding, figures=figures.exploding_figures,
    takeaway=takeaways.exploding))
