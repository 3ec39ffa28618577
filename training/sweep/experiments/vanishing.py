"""Vanishing gradients through time: ||dL_T/dx_t|| against the lag T - t, at initialisation and after
training, and whether the model then learns recall (Bengio, Simard & Frasconi, 1994; Hochreiter, 1991).

A tanh RNN whose orthogonal recurrent kernel is scaled by a gain, gated cells whose recurrent kernel or
gate bias is changed one at a time, and the parallel-scan cells (minGRU, minLSTM: Feng et al., 2024; the
LRU: Orvieto et al., 2023) at the LSTM's parameter count. The theory column is the recurrent Jacobian's
spectral radius; for the scan cells, diagonal linear recurrences, the retention of their slowest unit (the
gate 1 - z, f', or max|lambda|), at initialisation and again from the learned weights at the end.
"""

from __future__ import annotations

import math

import numpy as np

from training.core import rules
from training.sweep import gradient_evidence
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SOLVE, Comparison, describe, make_runs, train_settings, variant
from training.sweep.figures import decay_rates, figure_list, key_gradient_against_accuracy, through_time_profiles
from training.sweep.findings import chance_place, find_group, flagged, fmt, group_result, shown_words, value_of
from training.sweep.tables import (MODEL, PARAMETERS, cell, chance_column, lag_cell, mean, power_cell,
    tail_columns, test_column)
from training.sweep.results import ROW
from training.sweep.takeaways import Takeaway, and_list, gap_of, has_learned, mean_of, num, power_words, result


ALL = ["simple_rnn:gain_0.5", "simple_rnn:gain_0.8", "simple_rnn", "simple_rnn:gain_1.5",
       "simple_rnn:glorot", "irnn", "irnn:glorot",
       "lstm", "lstm:orthogonal", "lstm:glorot", "lstm:forget_bias_3", "lstm:chrono",
       "gru", "gru:orthogonal", "gru:glorot", "gru:update_bias_3", "gru:chrono", "self_attention",
       "min_gru", "min_lstm", "lru"]
# The quick budget leaves out minLSTM: its gate is initialised like minGRU's and it measured the same decay
# (0.301 decades/step against minGRU's 0.301 at gap 50, seed 0, `training.train --theory --through-time`);
# and, for `make demo`'s time (issue 24), the gated cells' Glorot, forget-bias-3 and chrono variants and the
# orthogonal GRU: the quick conclusions rest on the default against the orthogonal LSTM and the default against
# the update-bias-3 GRU (tests/test_quick_conclusions.py); the long-term experiment runs the gate biases at gap 100.
QUICK = [v for v in ALL if v not in ("simple_rnn:glorot", "irnn:glorot", "self_attention", "min_lstm",
                                     "lstm:glorot", "lstm:forget_bias_3", "lstm:chrono", "gru:glorot",
                                     "gru:orthogonal", "gru:chrono")]
# The parallel-scan cells train at the LSTM's parameter count at the budget's width (`param_budget`: their
# own width chosen to match; recall has 18 tokens and 8 classes): 34,696 at 64 units, 9,160 at 32, 760 at
# 8 (`zoo.build_model("lstm", ...).count_params()`; tests/test_experiment_vanishing.py checks them).
SCAN = ("min_gru", "min_lstm", "lru")
BUDGETS = {
    "full": dict(gap=100, units=64, scan_param_budget=34_696, batch_size=64, steps=1000, epochs=5,
                 learning_rate=3e-3, variants=ALL),
    "standard": dict(gap=50, units=32, scan_param_budget=9_160, batch_size=32, steps=300, learning_rate=3e-3,
                     variants=ALL),
    "quick": dict(gap=50, units=32, scan_param_budget=9_160, batch_size=32, steps=200, learning_rate=3e-3,
                  variants=QUICK),
    "smoke": dict(gap=8, units=8, scan_param_budget=760, batch_size=16, steps=3, learning_rate=3e-3,
                  variants=["simple_rnn:gain_0.5", "simple_rnn", "irnn", "lstm", "lstm:orthogonal", "gru",
                            "self_attention", "min_gru", "lru"]),
}

# Which section of the table a variant is shown in. The tanh RNN at its default or a scaled gain forms the
# gain sweep; its other settings, the IRNN and attention are references.
GAIN_SWEEP = "tanh gain sweep"
SECTIONS = {"lstm": "gated cells: one change at a time", "gru": "gated cells: one change at a time",
            **{m: "parallel-scan cells (diagonal linear recurrences)" for m in SCAN}}
REFERENCES = "references"

# The comparisons the report makes, as data: a against b on the measured decay at initialisation.
DECAY_AT_INIT = (Comparison("lstm", "simple_rnn", "decay at initialisation, Keras's defaults"),
                 Comparison("min_gru", "gru", "decay at initialisation, Keras's defaults and the scan cell's"),
                 Comparison("lru", "lstm", "decay at initialisation, Keras's defaults and the LRU's ring"))
# A kernel change against the default of the same model, for every model the sweep holds both of.
KERNEL_CHANGE = "glorot"

# Theory and measurement "agree" when they predict the gradient that reaches the key within a factor of 10:
# the two decay rates, times the lags from the query back to the key, differ by at most one decade.
AGREE_WITHIN_DECADES = 1.0


def _group(v) -> str:
    if v.model == "simple_rnn" and (v.setting.startswith("gain") or v.setting == "default"):
        return GAIN_SWEEP
    return SECTIONS.get(v.model, REFERENCES)


def plan(s: dict, budget):
    question = (
        f"How much gradient reaches the key of recall (gap {s['gap']}) at initialisation, how fast does "
        "||dL_T/dx_t|| fall with the lag (measured, and predicted by the recurrent Jacobian's spectral radius), "
        "and does the model then learn the task? A tanh RNN whose orthogonal recurrent kernel is scaled by a "
        "gain, and gated cells whose recurrent kernel or gate bias is changed one at a time.")
    task_params = {"gap": s["gap"], "eval_size": budget.eval_size}
    settings = {**describe(s, "recall", task_params, budget.seeds), "solve": SOLVE["recall"],
                "theory": "zoo.dynamics: per-step recurrent Jacobian at initialisation"}
    train = train_settings(s, budget.extra_train)
    if s.get("scan_param_budget") and not train.get("param_budget"):
        settings["scan_param_budget"] = (f"{s['scan_param_budget']:,} parameters for each parallel-scan cell (the "
                                         f"LSTM's count at {s['units']} units; its width chosen to match)")
    runs = []
    for v in [variant(name) for name in s["variants"]]:
        gain = float(v.model_params.get("recurrent_gain", 1.0))
        mine = dict(train)
        if v.model in SCAN and s.get("scan_param_budget") and not mine.get("param_budget"):
            mine["param_budget"] = s["scan_param_budget"]  # a suite-wide --param-budget wins
        runs += make_runs("vanishing", [v], "recall", task_params, {"gap": s["gap"]}, budget.seeds,
                          extra={"group": _group(v), "gain": gain, "solve": SOLVE["recall"]},
                          theory=True, **mine)
    return question, settings, runs


# ------------------------------------------------------------------------------ how the report shows it
def findings_through_time(groups, rows) -> list[str]:
    have = [g for g in groups if mean(g, ROW.tt_decay_init) is not None]
    out = []
    if not have:
        return ["No gradient-through-time records were found in these runs (the recorder was off or absent), "
                "so no decay rates can be reported; the table shows test accuracies only."]
    probe = next((r.tt_probe for r in rows if r.tt_probe), "embedding")
    out.append(f"Decay rates are minus the slope of log10 ||dL_T/dx_t|| (probe: {probe}) against the lag, "
               "in decades per step: 1 means the gradient shrinks tenfold per step back in time, 0 flat, "
               "negative growing.")
    fastest = max(have, key=lambda g: mean(g, ROW.tt_decay_init))
    slowest = min(have, key=lambda g: mean(g, ROW.tt_decay_init))
    out.append(f"At initialisation the gradient fell fastest for {fastest.label} "
               f"({fmt(mean(fastest, ROW.tt_decay_init))} decades/step; "
               f"{_lag_words(fastest, ROW.tt_lag_1e6_init)}) and slowest for {slowest.label} "
               f"({fmt(mean(slowest, ROW.tt_decay_init))} decades/step).")
    for model in dict.fromkeys(g.model for g in have):
        d, c = find_group(have, model, "default"), find_group(have, model, KERNEL_CHANGE)
        if d and c:
            a, b = mean(c, ROW.tt_decay_init), mean(d, ROW.tt_decay_init)
            out.append(f"{d.label}: with the glorot-uniform recurrent kernel the gradient fell "
                       f"{_faster(a, b)} at initialisation than with the default ({fmt(a)} vs {fmt(b)} "
                       "decades/step).")
    for comparison in DECAY_AT_INIT:
        a, b = comparison.pick(have)
        if a and b:
            x, y = mean(a, ROW.tt_decay_init), mean(b, ROW.tt_decay_init)
            out.append(f"At initialisation the {a.label}'s gradient fell {_faster(x, y)} than the {b.label}'s "
                       f"({fmt(x)} vs {fmt(y)} decades/step).")
    out += theory_sentences(have)
    trained = [g for g in have if mean(g, ROW.tt_decay_final) is not None]
    if trained:
        change = max(trained, key=lambda g: abs(mean(g, ROW.tt_decay_final) - mean(g, ROW.tt_decay_init)))
        step = int(mean(change, ROW.tt_final_step) or 0)
        out.append(f"After training ({step} steps) the decay rate changed most for {change.label}: from "
                   f"{fmt(mean(change, ROW.tt_decay_init))} to {fmt(mean(change, ROW.tt_decay_final))} decades/step.")
    out += _accuracy_summary(groups)
    return out + flagged(groups)


def _faster(a, b) -> str:
    return "faster" if a > b else "slower" if a < b else "as fast"


def lags_to_key(group) -> int | None:
    """The lags from the query back to the key (the sequence length minus one), None if unknown."""
    gap = gap_of(group)
    return int(gap) + 1 if gap is not None else None


def agreement(predicted, measured, lags) -> bool | None:
    """Whether a predicted and a measured decay rate (decades/step) agree: their difference, over the `lags`
    from the query back to the key, at most `AGREE_WITHIN_DECADES` (the gradient at the key predicted
    within a factor of 10). None when a number is missing."""
    if predicted is None or measured is None or not lags:
        return None
    return abs(predicted - measured) * lags <= AGREE_WITHIN_DECADES


def theory_sentences(groups) -> list[str]:
    """One sentence per variant with a theory: predicted against measured decay at initialisation, and
    after training where the prediction was taken again (the scan cells' learned retention); "agree" only
    within `AGREE_WITHIN_DECADES` over the lags to the key, else how far apart."""
    out = []
    for g in groups:
        lags = lags_to_key(g)
        parts = []
        for when, predicted, measured in (
                ("at initialisation", mean(g, ROW.theory_predicted_decay), mean(g, ROW.tt_decay_init)),
                ("after training", mean(g, ROW.theory_predicted_decay_final), mean(g, ROW.tt_decay_final))):
            verdict = agreement(predicted, measured, lags)
            if verdict is None:
                continue
            gap_words = (f"{fmt(abs(predicted - measured) * lags)} decades apart over the {lags} lags to the key")
            parts.append(f"{when} predicted {fmt(predicted)}, measured {fmt(measured)} decades/step "
                         f"({'agree: ' if verdict else 'disagree: '}{gap_words})")
        if parts:
            out.append(f"Theory against measurement for {g.label}: " + "; ".join(parts) + ".")
    if out:
        out.insert(0, f"\"Agree\" below means the predicted and measured rates put the gradient at the key within a "
                      f"factor of 10 of each other (their difference times the lags, at most "
                      f"{fmt(AGREE_WITHIN_DECADES)} decade). The prediction is the per-step Jacobian's spectral "
                      "radius; for a parallel-scan cell (a diagonal linear recurrence) the retention of its "
                      "slowest unit (the log-mean of 1 - z for minGRU, of f' for minLSTM, -log10 max|lambda| for "
                      "the LRU).")
    return out


def _lag_words(group, field):
    vs = [v for v in group.values(field) if not math.isnan(v)]
    if vs:
        return f"it fell by 10^6 within {int(np.mean(vs))} steps"
    return "it did not fall by 10^6 within the sequence"


def _accuracy_summary(groups) -> list[str]:
    ok = [g for g in groups if group_result(g).measures and g.metric == "accuracy"]
    if not ok:
        return []
    chance = group_result(ok[0]).chance
    best = max(ok, key=value_of)
    at = [g.label for g in ok if chance_place(g) == "at"]
    text = (f"Test accuracy: best {shown_words(best)}, chance {fmt(chance)}; {len(at)} of {len(ok)} variants are at "
            "chance (not significantly different from it, exact binomial test)")
    return [text + (f": {', '.join(at)}." if at else ".")]


# ------------------------------------------------------------------------------------ vanishing
def takeaway(groups, load=None) -> Takeaway:
    have = [g for g in groups if mean_of(g, ROW.key_gradient_decades) is not None and result(g, load).measures]
    if not have:
        return Takeaway("Vanishing gradients: no gradient-through-time records in this sweep",
                        "This sweep holds no gradient-through-time profiles, so how the gradient fell with the "
                        "lag cannot be shown; the table gives the test accuracies only.")
    gap = gap_of(have[0])
    where = f", {gap} distractors before the query" if gap is not None else ""
    ordered = sorted(have, key=lambda g: mean_of(g, ROW.key_gradient_decades))
    worst, best = ordered[0], ordered[-1]
    parts = [f"At initialisation, the gradient of the loss with respect to the key (the first input{where}) "
             f"was {power_words(mean_of(best, ROW.key_gradient_decades))} "
             f"times its value at the last input for {best.label} ({best.initialization}) and "
             f"{power_words(mean_of(worst, ROW.key_gradient_decades))} times for {worst.label} ({worst.initialization})."]
    if rules.vanished(mean_of(worst, ROW.key_gradient_decades)):  # the rule inspect reads too
        parts.append("Backpropagation multiplies the gradient by one recurrent Jacobian per step; when their norms "
                     "stay below 1 the product shrinks geometrically with the gap, so the optimizer barely "
                     "sees the key: the gradient vanishes.")
    theory = [g for g in have if mean_of(g, ROW.theory_predicted_decay) is not None and mean_of(g, ROW.tt_decay_init)
              is not None]
    if theory:
        verdicts = [(g, agreement(mean_of(g, ROW.theory_predicted_decay), mean_of(g, ROW.tt_decay_init), lags_to_key(g)))
                    for g in theory]
        agreed = [g for g, v in verdicts if v]
        apart = [g for g, v in verdicts if v is False]
        g = max(theory, key=lambda x: mean_of(x, ROW.tt_decay_init))
        sentence = (f"Theory {'agrees' if g in agreed else 'does not agree'} for the fastest decay: for {g.label} "
                    f"the theory at initialisation predicts {num(mean_of(g, ROW.theory_predicted_decay))} decades "
                    f"per step, measured {num(mean_of(g, ROW.tt_decay_init))}")
        sentence += (f"; within a factor of 10 at the key for {len(agreed)} of {len(verdicts)} variants"
                     + (f" (not for {and_list(x.label for x in apart)})" if apart else "") + ".")
        parts.append(sentence)
        scan = [x for x in theory if x.model in SCAN]
        if scan:
            parts.append("For the parallel-scan cells the rate is set by their parametrisation, not hoped for: "
                         + "; ".join(f"{x.label} retains {num(10 ** -mean_of(x, ROW.theory_predicted_decay))} of its "
                                     f"slowest unit per step ({num(mean_of(x, ROW.theory_predicted_decay))} decades, "
                                     f"measured {num(mean_of(x, ROW.tt_decay_init))})" for x in scan) + ".")
    learned = [g for g in have if has_learned(g, load)]
    failed = [g for g in have if has_learned(g, load) is False]
    if learned and failed:
        low_win = min(mean_of(g, ROW.key_gradient_decades) for g in learned)
        high_fail = max(mean_of(g, ROW.key_gradient_decades) for g in failed)
        if low_win > high_fail:
            parts.append(f"It decided the outcome: every variant that learned recall ({len(learned)}: "
                         f"{and_list(g.label for g in learned)}) started with at least {power_words(low_win)} times the "
                         f"last token's gradient at the key, every variant that stayed at chance ({len(failed)}) "
                         f"with at most {power_words(high_fail)}.")
        else:
            parts.append(f"It did not decide the outcome alone: the {len(learned)} variants that learned started "
                         f"with as little as {power_words(low_win)} at the key, while some at chance had up to "
                         f"{power_words(high_fail)}.")
    elif failed and not learned:
        parts.append(f"No variant learned recall in this budget (all {len(failed)} at chance).")
    elif learned and not failed:
        parts.append(f"Every variant learned recall in this budget ({len(learned)}).")
    return Takeaway("Vanishing gradients: the gradient that reaches the key at initialisation", " ".join(parts))


def through_time_figures(folder, rows, out_dir, key):
    """The key gradient against accuracy, the through-time profiles, the decay rates, and the step-norm trace
    (`gradient_evidence.figures`; its through-time figure is the profiles drawn here)."""
    words = " ".join(x for x in (rows[0].task, rows[0].task_values) if x) if rows else "recall"
    return figure_list(
        (key_gradient_against_accuracy(folder, rows, out_dir / f"{key}_key_gradient.png"),
         "Each point is one variant: how much of the gradient reached the key at initialisation (relative to "
         "the last input, log axis) against its test accuracy after training, with its 95% interval; the grey "
         "band is the range a guesser scores."),
        (through_time_profiles(folder, rows, out_dir / f"{key}_profiles.png"),
         "||dL_T/dx_t|| divided by its value at lag 0, against the lag (log axis): dashed at initialisation, "
         "solid after training. A line that falls steeply means the loss at step T barely depends on early "
         "inputs; a triangle on the bottom edge marks an exact zero."),
        (decay_rates(rows, out_dir / f"{key}_decay.png"),
         "Decay rate of the gradient through time (decades per step of lag): measured at initialisation "
         "(filled), after training (hollow) and, where stored, predicted from the recurrent Jacobian (cross; for a "
         "parallel-scan cell its slowest unit's retention, again from the learned weights at the end: plus)."),
        *gradient_evidence.figures(folder, rows, out_dir, key, words, without=("through_time",)),
    )


def through_time_columns(groups) -> list[tuple[str, callable]]:
    """Decay rates, theory, the key gradient at initialisation (as a ratio: "Key gradient at init") and,
    from `gradient_evidence`, the key gradient at the end and the largest step norm."""
    return gradient_evidence.with_columns(MODEL + PARAMETERS + [
        ("Decay at init (decades/step)", lambda g: cell(g, ROW.tt_decay_init, 3)),
        ("Theory at init", lambda g: cell(g, ROW.theory_predicted_decay, 3)),
        ("Decay after training", lambda g: cell(g, ROW.tt_decay_final, 3)),
    ] + ([("Theory after training", lambda g: cell(g, ROW.theory_predicted_decay_final, 3))]
         if any(mean(g, ROW.theory_predicted_decay_final) is not None for g in groups) else []) + [
        ("Key gradient at init", lambda g: power_cell(g, ROW.key_gradient_decades)),
        ("Lag to 1e-6 at init", lambda g: lag_cell(g, ROW.tt_lag_1e6_init)),
    ] + test_column(groups) + chance_column(groups) + tail_columns(), groups, without=("init",))


EXPERIMENT = register(Definition(
    "vanishing", "Vanishing gradients through time", BUDGETS, plan,
    columns=through_time_columns, findings=findings_through_time,
    figures=through_time_figures, takeaway=takeaway,
    aliases=("through_time",)))
