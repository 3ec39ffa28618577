"""Exploding gradients and clipping (Pascanu, Mikolov & Bengio, 2013): an IRNN on the adding problem with
Adam, with and without `global_clipnorm=1`; and with plain SGD on recall, the recurrent kernel scaled by a
gain of 1.0 / 1.5 / 2.0, with and without clipping: which runs diverge, and which only look solved.
"""

from __future__ import annotations

from training.sweep import gradient_evidence, stats
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import (PlannedRun, SOLVE, default_variant, gained_variant, make_config,
    run_id)
from training.sweep.figures import figure_list, gradient_norms, metric_bars, step_losses
from training.sweep.findings import comparison_sentences, flagged, fmt
from training.sweep.tables import (MODEL, cell, chance_column, diverged_cell, mean, percent_cell, tail_columns,
    test_column)
from training.sweep.results import ROW
from training.sweep.takeaways import Takeaway, and_list, has_learned, mean_of, num, result, with_interval

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
# What the experiment runs and compares, as data: the model on the adding problem (Adam), the models of the SGD
# gain sweep on recall, and the one comparison it makes: each setting with clipping against the same setting
# without (the same model, gain, kernel, task and group; only `clip` differs).
ADDING_MODEL = "irnn"
GAIN_SWEEP_MODELS = ("simple_rnn", "irnn")
SAME_SETTING = ("model", "gain", "kernel", "task", "group")


def clipping_pairs(groups) -> list[tuple]:
    """(without clipping, with clipping) for every setting the sweep holds both of."""
    out = []
    for g in groups:
        if g.clip:
            continue
        partner = next((c for c in groups if c.clip and all(getattr(c, k) == getattr(g, k) for k in SAME_SETTING)),
                       None)
        if partner is not None:
            out.append((g, partner))
    return out


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
        v = default_variant(ADDING_MODEL)
        label = v.label + (" clip" if clip else "")
        for seed in budget.seeds:
            runs.append(_run(v, label, clip, "adding", adding_params, {"length": a["length"]}, seed, budget,
                             {"group": "IRNN on adding (Adam)", "gain": 1.0, "kernel": "default",
                              "solve": SOLVE["adding"]},
                             units=a["units"], batch_size=a["batch_size"], steps=a["steps"],
                             learning_rate=a["learning_rate"], optimizer="adam"))
    recall_params = {"gap": g["gap"], "eval_size": budget.eval_size}
    for model in GAIN_SWEEP_MODELS:
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


# ------------------------------------------------------------------------------ how the report shows it
def findings_exploding(groups, rows) -> list[str]:
    """Divergence, spikes, clipped share and the clipping verdict, per setting of the experiment (the IRNN on
    adding with Adam and the SGD gain sweep on recall are separate settings: a run is only ever compared with
    a run of its own setting)."""
    out = []
    settings = dict.fromkeys(_setting_of(g) for g in groups)
    for setting in settings:
        mine = [g for g in groups if _setting_of(g) == setting]
        for sentence in _exploding_setting(mine):
            out.append(f"{setting}: {_lower_first(sentence)}" if len(settings) > 1 else sentence)
    return out + flagged(groups)


def _lower_first(sentence: str) -> str:
    """"Without clipping, ..." -> "without clipping, ..." after a prefix; model names stay as they are."""
    first = sentence.split(" ", 1)[0].rstrip(",")
    return sentence[0].lower() + sentence[1:] if first in ("Without", "With", "No", "Share") else sentence


def _setting_of(group) -> str:
    """The setting of an exploding-experiment group: its `group` label, else its task."""
    return group.group or group.task


def _exploding_setting(groups) -> list[str]:
    with_grads = [g for g in groups if mean(g, ROW.grad_norm_median) is not None or
                  any(r.grad_steps_recorded for r in g.rows)]
    out = []
    if not with_grads:
        out.append("No step-gradient records were found in these runs (the recorder was off or absent), so norms "
                   "cannot be reported; divergence is read from the runs' status.")
    for clip in sorted({g.clip or None for g in groups}, key=lambda c: (c is not None, c or 0)):
        mine = [g for g in groups if (g.clip or None) == clip]
        if not mine:
            continue
        diverged = [g for g in mine if _isdiverged_cell(g)]
        words = "without clipping" if clip is None else f"with global_clipnorm={clip:g}"
        if diverged:
            details = ", ".join(f"{g.model} gain {g.gain:g} (step {diverged_cell(g)})" for g in diverged)
            out.append(f"{words.capitalize()}, {len(diverged)} of {len(mine)} settings diverged (loss or gradient "
                       f"NaN/Inf): {details}.")
        else:
            out.append(f"{words.capitalize()}, none of the {len(mine)} settings diverged.")
    spikes = [g for g in with_grads if mean(g, ROW.grad_norm_max) is not None]
    for model in dict.fromkeys(g.model for g in spikes):
        mine = [g for g in spikes if g.model == model and not g.clip]
        if not mine:
            continue
        parts = []
        for g in mine:
            if _isdiverged_cell(g):  # a median over the few steps before NaN says nothing
                parts.append(f"gain {g.gain:g}: diverged at step {diverged_cell(g)}, largest finite norm "
                             f"{fmt(mean(g, ROW.grad_norm_max))}")
            else:
                parts.append(f"gain {g.gain:g}: max {fmt(mean(g, ROW.grad_norm_max))}, "
                             f"{fmt(mean(g, ROW.grad_norm_max_over_median))}x its median")
        text = f"{model} without clipping — " + "; ".join(parts) + "."
        finite = [g for g in mine if not _isdiverged_cell(g) and mean(g, ROW.grad_norm_max_over_median) is not None]
        if len(finite) > 1:
            top = max(finite, key=lambda g: mean(g, ROW.grad_norm_max_over_median))
            text += (" Among the runs that stayed finite, the largest spike relative to the median was at gain "
                     f"{top.gain:g}.")
        out.append(text)
    clipped = [g for g in groups if g.clip and mean(g, ROW.grad_clipped_fraction) is not None]
    if clipped:
        for clip in dict.fromkeys(g.clip for g in clipped):
            parts = ", ".join(f"{g.model} gain {g.gain:g}: {100 * mean(g, ROW.grad_clipped_fraction):.0f}%"
                              for g in clipped if g.clip == clip)
            out.append(f"Share of steps whose gradient global_clipnorm={clip:g} scaled down — {parts}.")
    for a, b in clipping_pairs(groups):
        if _isdiverged_cell(a) and not _isdiverged_cell(b):
            out.append(f"{a.model} at gain {a.gain:g} diverged without clipping and stayed finite with clipping.")
        # The two differ in clipping alone and start from the same weights, so their gradients at initialisation
        # are the same: only a reason (the unclipped step norm exploding) is worth a sentence.
        verdict, *why = comparison_sentences(b, a, reasons_only=True)
        out += ["With against without clipping: " + verdict, *why]
    return out


def _isdiverged_cell(group):
    return any(r.status == "diverged" or r.diverged_step is not None for r in group.rows)


# ------------------------------------------------------------------------------------ exploding
def takeaway(groups, load=None) -> Takeaway:
    parts = []
    several = len({g.task for g in groups}) > 1  # IRNN on adding and the gain sweep on recall

    def name(g):  # the same label ("irnn") can be in both settings: say which
        return f"{g.label} on {g.task}" if several else g.label

    unclipped = [g for g in groups if not g.clip]
    diverged = [g for g in unclipped if _diverged(g)]
    finite = [g for g in unclipped if not _diverged(g) and mean_of(g, ROW.grad_norm_max) is not None]
    if diverged:
        parts.append(f"Without clipping {len(diverged)} of {len(unclipped)} settings diverged (loss or weights "
                     f"NaN/Inf): {and_list(name(g) for g in diverged)}.")
    if finite:
        top = max(finite, key=lambda g: mean_of(g, ROW.grad_norm_max))
        ratio = mean_of(top, ROW.grad_norm_max_over_median)
        parts.append(f"The largest gradient norm of a run that stayed finite was {num(mean_of(top, ROW.grad_norm_max))} "
                     f"({name(top)}: {top.initialization})"
                     + (f", {num(ratio)} times its median step." if ratio else "."))
    if diverged or finite:
        parts.append("A recurrent gain above 1 makes the products of recurrent Jacobians grow with the lag, so "
                     "single steps can be enormous. Clipping rescales the whole gradient to a maximum norm: it "
                     "keeps its direction and bounds the step, but leaves the Jacobians as they are.")
    helped, tied, other = [], [], []
    for g, partner in clipping_pairs(groups):
        v = stats.compare(result(partner, load), result(g, load))
        rescued = (v.kind == "degenerate" and result(g, load).degenerate and not result(partner, load).degenerate
                   and has_learned(partner, load))  # unclipped: no solution at all; clipped: a learned one
        if rescued:
            helped.append(f"{name(partner)} ({with_interval(partner, load)}, significantly better than the "
                          f"baseline, against a degenerate run without clipping)")
        elif v.kind == "beat" and v.winner == partner.label:
            helped.append(f"{name(partner)} ({with_interval(partner, load)} against {with_interval(g, load)})")
        elif v.kind in ("tie", "both at chance"):
            tied.append(name(g))
        else:
            other.append(v.text)
    if helped:
        parts.append(f"Clipping made training succeed where it significantly beat the same setting without it: "
                     f"{and_list(helped)}.")
    if tied:
        parts.append(f"It made no significant difference for {and_list(tied)}.")
    degenerate = [g for g in groups if result(g, load).degenerate or result(g, load).degenerate_reason]
    if degenerate:
        parts.append("Not successes, whatever their accuracy: " + "; ".join(
            f"{name(g)} is degenerate ({result(g, load).degenerate_reason})" for g in degenerate) + ".")
    if not parts:
        parts.append("No run of this experiment recorded gradients or finished, so there is nothing to report.")
    return Takeaway("Exploding gradients: what clipping does and does not fix", " ".join(parts))


def _diverged(group) -> bool:
    return any(r.status == "diverged" or r.diverged_step is not None for r in group.rows)


def exploding_figures(folder, rows, out_dir, key):
    """Step norms, step losses and the test metric of every run, then per setting (the IRNN on adding, the
    SGD gain sweep on recall) the gradient through time (`gradient_evidence.figures`; its norm trace is the
    first figure here)."""
    through_time = []
    for setting in dict.fromkeys(r.group or r.task for r in rows):
        mine = [r for r in rows if (r.group or r.task) == setting]
        name = "_".join(dict.fromkeys(r.task for r in mine))
        through_time += gradient_evidence.figures(folder, mine, out_dir, f"{key}_{name}", setting,
                                                  without=("grad_norms",))
    return figure_list(
        (gradient_norms(folder, rows, out_dir / f"{key}_norms.png"),
         "Global gradient norm at every step before clipping (solid) and after (dotted), log axis; triangles on "
         "the bottom edge mark steps whose gradient was exactly 0, crosses on the top edge NaN/Inf, a large "
         "cross the step where a run diverged."),
        (step_losses(folder, rows, out_dir / f"{key}_loss.png"),
         "Training loss at every step with the chance loss; a log axis when the losses span more than three "
         "decades."),
        (metric_bars(rows, out_dir / f"{key}_test.png", "Test metric after training", folder=folder),
         "Test metric of every setting with its 95% interval; hollow markers are degenerate runs (their number "
         "is not a learned solution)."),
        *through_time,
    )


def exploding_columns(groups) -> list[tuple[str, callable]]:
    """Step norms, clipping and divergence, then the gradient at the key (or first position) at
    initialisation and at the end (`gradient_evidence`; its largest step norm is "Max ‖g‖" and "Max / median")."""
    return gradient_evidence.with_columns(MODEL + [
        ("Max ‖g‖", lambda g: cell(g, ROW.grad_norm_max, 3)),
        ("Max / median", lambda g: cell(g, ROW.grad_norm_max_over_median, 3)),
        ("Max ‖g‖ applied", lambda g: cell(g, ROW.grad_norm_clipped_max, 3)),
        ("Steps clipped", lambda g: percent_cell(g, ROW.grad_clipped_fraction)),
        ("Diverged at step", lambda g: diverged_cell(g)),
        ("Hidden-state norm", lambda g: cell(g, ROW.hidden_state_norm_max, 2)),
        ("Last step loss", lambda g: cell(g, ROW.final_step_loss, 3)),
    ] + test_column(groups) + chance_column(groups) + tail_columns(), groups, without=("step norm",))


EXPERIMENT = register(Definition(
    "exploding", "Exploding gradients and clipping", BUDGETS, plan,
    columns=exploding_columns, findings=findings_exploding, figures=exploding_figures,
    takeaway=takeaway))
