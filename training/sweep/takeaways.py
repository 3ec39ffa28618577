"""The one-paragraph takeaway that opens each experiment of a report: what happened, tied to why.

Each function (named by its experiment in `training.sweep.experiments`) takes the experiment's groups (one per
variant and task value, as `training.sweep.tables.aggregate` makes them: label, model, setting,
initialization, gain, clip, direction, task, rows ...) and returns `Takeaway(headline, text)`. Every
number in the text comes from the rows; the mechanism sentences are conditional on what the numbers show
(a sentence about vanishing is written only when some variant's gradient did vanish). Comparisons go
through `training.sweep.stats.compare`, so "beat" means a significant difference under a named test.

The mechanisms, in one line each (Bengio et al., 1994; Pascanu et al., 2013; Hochreiter & Schmidhuber,
1997; Tallec & Ollivier, 2018):
    vanishing / exploding   backpropagation through time multiplies one recurrent Jacobian per step
                            (W_h^T diag(f'(a_t))); norms below 1 shrink the product geometrically, above 1
                            grow it
    clipping                rescales the whole gradient to a maximum norm: the direction is kept, the step
                            bounded; the Jacobians are unchanged
    gates                   an LSTM's cell keeps sigma(b_f)^k of what it held k steps ago (a GRU: its
                            update gate); the bias sets the time scale
    causal mask             a causal model answers from the past only; a cue that comes later cannot help
"""

from __future__ import annotations

import dataclasses
import math

from training.core.rules import SOLVED_ACCURACY
from training.sweep import evidence, stats



@dataclasses.dataclass
class Takeaway:
    headline: str
    text: str


def result(group, load_examples=None) -> stats.Result:
    """The group's `stats.Result` (`results.VariantGroup.result`); recomputed only when a loader of
    per-example files is given."""
    if load_examples is None:
        return group.result
    return evidence.result_of(group.label, group.rows, load_examples)


def _value(group, load=None):
    return result(group, load).summary["value"]


def _mean(group, field):
    vs = [v for v in group.values(field) if math.isfinite(v)]
    return sum(vs) / len(vs) if vs else None


def _n(v, digits=3):
    return evidence.number(v, digits)


def _with_interval(group, load=None):
    return evidence.interval_text(result(group, load))


def _power(log10_value) -> str:
    """10^-4.4 as a student reads it: "4e-5"; 10^-0.3 as "0.5"."""
    value = 10 ** log10_value
    if 0.01 <= value < 100:
        text = f"{value:.2g}"
        return text if "." in text or "e" in text else text + ".0"
    return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")


def _list(items) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _gap(group):
    return group.gap


def _learned(group, load=None) -> bool | None:
    position = stats.chance_position(result(group, load))
    return None if position is None else position == "above"


# ------------------------------------------------------------------------------------ vanishing
def vanishing(groups, load=None) -> Takeaway:
    have = [g for g in groups if _mean(g, "key_gradient_decades") is not None and result(g, load).measures]
    if not have:
        return Takeaway("Vanishing gradients: no gradient-through-time records in this sweep",
                        "This sweep holds no gradient-through-time profiles, so how the gradient fell with the "
                        "lag cannot be shown; the table gives the test accuracies only.")
    gap = _gap(have[0])
    where = f", {gap} distractors before the query" if gap is not None else ""
    ordered = sorted(have, key=lambda g: _mean(g, "key_gradient_decades"))
    worst, best = ordered[0], ordered[-1]
    parts = [f"At initialisation, the gradient of the loss with respect to the key (the first input{where}) "
             f"was {_power(_mean(best, 'key_gradient_decades'))} "
             f"times its value at the last input for {best.label} ({best.initialization}) and "
             f"{_power(_mean(worst, 'key_gradient_decades'))} times for {worst.label} ({worst.initialization})."]
    if _mean(worst, "key_gradient_decades") < -3:
        parts.append("Backpropagation multiplies the gradient by one recurrent Jacobian per step; when their norms "
                     "stay below 1 the product shrinks geometrically with the gap, so the optimizer barely "
                     "sees the key: the gradient vanishes.")
    theory = [g for g in have if _mean(g, "theory_predicted_decay") is not None and _mean(g, "tt_decay_init")
              is not None]
    if theory:
        g = max(theory, key=lambda x: _mean(x, "tt_decay_init"))
        parts.append(f"Theory agrees: for {g.label} the recurrent Jacobian at initialisation predicts "
                     f"{_n(_mean(g, 'theory_predicted_decay'))} decades per step, measured "
                     f"{_n(_mean(g, 'tt_decay_init'))}.")
    learned = [g for g in have if _learned(g, load)]
    failed = [g for g in have if _learned(g, load) is False]
    if learned and failed:
        low_win = min(_mean(g, "key_gradient_decades") for g in learned)
        high_fail = max(_mean(g, "key_gradient_decades") for g in failed)
        if low_win > high_fail:
            parts.append(f"It decided the outcome: every variant that learned recall ({len(learned)}: "
                         f"{_list(g.label for g in learned)}) started with at least {_power(low_win)} times the "
                         f"last token's gradient at the key, every variant that stayed at chance ({len(failed)}) "
                         f"with at most {_power(high_fail)}.")
        else:
            parts.append(f"It did not decide the outcome alone: the {len(learned)} variants that learned started "
                         f"with as little as {_power(low_win)} at the key, while some at chance had up to "
                         f"{_power(high_fail)}.")
    elif failed and not learned:
        parts.append(f"No variant learned recall in this budget (all {len(failed)} at chance).")
    elif learned and not failed:
        parts.append(f"Every variant learned recall in this budget ({len(learned)}).")
    return Takeaway("Vanishing gradients: the gradient that reaches the key at initialisation", " ".join(parts))


# ------------------------------------------------------------------------------------ exploding
def exploding(groups, load=None) -> Takeaway:
    parts = []
    several = len({g.task for g in groups}) > 1  # IRNN on adding and the gain sweep on recall

    def name(g):  # the same label ("irnn") can be in both settings: say which
        return f"{g.label} on {g.task}" if several else g.label

    unclipped = [g for g in groups if not g.clip]
    diverged = [g for g in unclipped if _diverged(g)]
    finite = [g for g in unclipped if not _diverged(g) and _mean(g, "grad_norm_max") is not None]
    if diverged:
        parts.append(f"Without clipping {len(diverged)} of {len(unclipped)} settings diverged (loss or weights "
                     f"NaN/Inf): {_list(name(g) for g in diverged)}.")
    if finite:
        top = max(finite, key=lambda g: _mean(g, "grad_norm_max"))
        ratio = _mean(top, "grad_norm_max_over_median")
        parts.append(f"The largest gradient norm of a run that stayed finite was {_n(_mean(top, 'grad_norm_max'))} "
                     f"({name(top)}: {top.initialization})"
                     + (f", {_n(ratio)} times its median step." if ratio else "."))
    if diverged or finite:
        parts.append("A recurrent gain above 1 makes the products of recurrent Jacobians grow with the lag, so "
                     "single steps can be enormous. Clipping rescales the whole gradient to a maximum norm: it "
                     "keeps its direction and bounds the step, but leaves the Jacobians as they are.")
    helped, tied, other = [], [], []
    for g in unclipped:
        same = ("model", "gain", "kernel", "task", "group")
        partner = next((c for c in groups if c.clip and all(getattr(c, k) == getattr(g, k) for k in same)), None)
        if partner is None:
            continue
        v = stats.compare(result(partner, load), result(g, load))
        rescued = (v.kind == "degenerate" and result(g, load).degenerate and not result(partner, load).degenerate
                   and _learned(partner, load))  # unclipped: no solution at all; clipped: a learned one
        if rescued:
            helped.append(f"{name(partner)} ({_with_interval(partner, load)}, significantly better than the "
                          f"baseline, against a degenerate run without clipping)")
        elif v.kind == "beat" and v.winner == partner.label:
            helped.append(f"{name(partner)} ({_with_interval(partner, load)} against {_with_interval(g, load)})")
        elif v.kind in ("tie", "both at chance"):
            tied.append(name(g))
        else:
            other.append(v.text)
    if helped:
        parts.append(f"Clipping made training succeed where it significantly beat the same setting without it: "
                     f"{_list(helped)}.")
    if tied:
        parts.append(f"It made no significant difference for {_list(tied)}.")
    degenerate = [g for g in groups if result(g, load).degenerate or result(g, load).degenerate_reason]
    if degenerate:
        parts.append("Not successes, whatever their accuracy: " + "; ".join(
            f"{name(g)} is degenerate ({result(g, load).degenerate_reason})" for g in degenerate) + ".")
    if not parts:
        parts.append("No run of this experiment recorded gradients or finished, so there is nothing to report.")
    return Takeaway("Exploding gradients: what clipping does and does not fix", " ".join(parts))


def _diverged(group) -> bool:
    return any(r.status == "diverged" or r.diverged_step is not None for r in group.rows)


# ------------------------------------------------------------------------------------ long term
def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


_GATE_BIAS = {("lstm", "default"): ("forget", 1.0), ("lstm", "forget_bias_3"): ("forget", 3.0),
              ("gru", "default"): ("update", 0.0), ("gru", "update_bias_3"): ("update", 3.0)}


def long_term(groups, load=None) -> Takeaway:
    parts = []
    recall = [g for g in groups if g.task == "recall" and result(g, load).measures]
    if recall:
        longest = max(_gap(g) or 0 for g in recall)
        at = [g for g in recall if _gap(g) == longest]
        solved = [g for g in at if (_value(g, load) or 0) >= SOLVED_ACCURACY and _learned(g, load)]
        unsolved = [g for g in at if g not in solved]
        if solved:
            named = _list(f"{g.label} ({_with_interval(g, load)})" for g in solved)
            parts.append(f"At the longest gap ({longest}) {named} solved recall (accuracy at least {SOLVED_ACCURACY}).")
        else:
            parts.append(f"No variant solved recall at the longest gap ({longest}).")
        chance = [g.label for g in unsolved if stats.chance_position(result(g, load)) == "at"]
        if chance:
            parts.append(f"At chance there: {_list(chance)}.")
        gated = [g for g in at if (g.model, g.setting) in _GATE_BIAS]
        if gated:
            words = []
            for g in gated:
                gate, bias = _GATE_BIAS[(g.model, g.setting)]
                keep = _sigmoid(bias)
                words.append(f"{g.label} (its {gate} gate starts at sigma({bias:g}) = {keep:.2f}, and "
                             f"{keep:.2f}^{longest} = {keep ** longest:.0e} of the key survives the gap)")
            parts.append("A gated cell keeps a fraction of its memory per step set by its gate bias: "
                         + "; ".join(words) + ".")
        pairs = [("lstm", "forget_bias_3", "lstm", "default"), ("lstm", "chrono", "lstm", "default"),
                 ("gru", "update_bias_3", "gru", "default"), ("lstm", "default", "simple_rnn", "default")]
        for a_model, a_set, b_model, b_set in pairs:
            a = next((g for g in at if g.model == a_model and g.setting == a_set), None)
            b = next((g for g in at if g.model == b_model and g.setting == b_set), None)
            if a and b:
                parts.append(stats.compare(result(a, load), result(b, load), f"at gap {longest}").text)
    others = [g for g in groups if g.task != "recall" and result(g, load).measures]
    for task in dict.fromkeys(g.task for g in others):
        mine = [g for g in others if g.task == task]
        beat = [g.label for g in mine if stats.chance_position(result(g, load)) == "above"]
        baseline = result(mine[0], load).chance
        parts.append(f"On {task} {len(beat)} of {len(mine)} variants did significantly better than the baseline of "
                     f"a prediction that ignores the input ({_n(baseline)})" + (f": {_list(beat)}." if beat else "."))
    if not parts:
        parts.append("No run of this experiment finished.")
    return Takeaway("Long-term dependencies: gate biases set the memory's time scale", " ".join(parts))


# ------------------------------------------------------------------------------- unidirectional
def unidirectional(groups, load=None) -> Takeaway:
    ok = [g for g in groups if result(g, load).measures]
    if not ok:
        return Takeaway("Unidirectional models: no finished runs", "No run of this experiment finished.")
    parts = []
    by_direction = {}
    for g in ok:
        by_direction.setdefault(g.direction or "unknown", []).append(g)
    for direction, mine in by_direction.items():
        values = [_value(g, load) for g in mine]
        positions = [stats.chance_position(result(g, load)) for g in mine]
        name = {"causal": "Causal models answering at the blank", "sees the future": "Models that see the future",
                "causal, answers late": "The same causal models answering after the cue"}.get(
            direction, f"Models that are {direction}")
        text = f"{name}: test accuracy {_n(min(values))} to {_n(max(values))}"
        if None in positions:
            text += " (whether that differs from chance cannot be tested: the sweep did not record the test size)."
        else:
            counts = [f"{sum(p == 'above' for p in positions)} of {len(mine)} significantly above chance",
                      f"{sum(p == 'at' for p in positions)} at chance"]
            counts += [f"{sum(p == x for p in positions)} {words}" for x, words in
                       (("below", "significantly below chance"), ("mixed", "with seeds that disagree"))
                       if any(p == x for p in positions)]
            text += ", " + _list(counts) + "."
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
            parts.append(f"Allowed to answer after the cue ({direction}), {_list(good)} learned it too: what stops a "
                         "causal model is when it must answer, not what it can learn.")
    return Takeaway("Unidirectional models: a causal model cannot use what it has not read", " ".join(parts))


# ------------------------------------------------------------------------------------- char LM
NGRAMS = ("unigram", "bigram", "trigram", "4gram")


def char_lm(groups, load=None) -> Takeaway:
    ok = [g for g in groups if result(g, load).measures]
    if not ok:
        return Takeaway("Character-level language model: no finished runs",
                        "No character-level run finished, so there are no numbers to compare.")
    ordered = sorted(ok, key=lambda g: _value(g, load))
    best = ordered[0]
    parts = [f"The best model was {best.label} ({best.initialization}) with {_with_interval(best, load)} "
             f"bits per character on the test split."]
    baselines = {name: _mean(best, lambda r, name=name: r.baselines.get(name)) for name in NGRAMS}
    baselines = {k: v for k, v in baselines.items() if v is not None}
    if baselines:
        parts.append("Counting baselines fitted on the training split: "
                     + ", ".join(f"{k} {_n(v)}" for k, v in baselines.items()) + " bits/char.")
        strongest = min(baselines, key=baselines.get)
        beaten = [g for g in ok if result(g, load).summary["high"] is not None
                  and result(g, load).summary["high"] < baselines[strongest]]
        parts.append(f"{len(beaten)} of {len(ok)} models were below the {strongest} (their whole 95% interval"
                     f"){': ' + _list(g.label for g in beaten) if beaten else ''}.")
    else:
        unigram = result(best, load).chance
        if unigram is not None:
            parts.append(f"The unigram baseline (letter frequencies alone) is {_n(unigram)} bits/char; this sweep "
                         "holds no bigram or longer baselines.")
    if len(ordered) > 1:
        parts.append(stats.compare(result(best, load), result(ordered[1], load)).text)
    unfinished = [g.label for g in ok if result(g, load).still_falling]
    if unfinished:
        parts.append(f"Still improving when training stopped: {_list(unfinished)}; more steps would lower them.")
    return Takeaway("Real text: how far below the counting baselines a recurrent model gets", " ".join(parts))


# ---------------------------------------------------------------------------------------- grids
def grid(groups, load=None) -> Takeaway:
    """A grid of models x tasks: per task, the best model and whether it is significantly ahead."""
    parts = []
    for key in dict.fromkeys((g.task, g.task_values or "") for g in groups):
        mine = [g for g in groups if (g.task, g.task_values or "") == key and result(g, load).measures]
        if not mine:
            continue
        where = " ".join(k for k in key if k)
        higher = result(mine[0], load).higher_is_better
        ordered = sorted(mine, key=lambda g: _value(g, load), reverse=higher)
        best = ordered[0]
        text = f"On {where} the best was {best.label} ({_with_interval(best, load)})"
        if len(ordered) > 1:
            verdict = stats.compare(result(best, load), result(ordered[1], load))
            if verdict.kind == "beat":
                text += f", significantly ahead of {ordered[1].label} ({verdict.test.words()})"
            elif verdict.kind == "both at chance":
                text += ", but it and the next are both at chance"
            else:
                text += f"; against {ordered[1].label}: {verdict.kind}"
        positions = [stats.chance_position(result(g, load)) for g in mine]
        if None not in positions:
            text += f"; {positions.count('above')} of {len(mine)} models did significantly better than chance"
        parts.append(text + ".")
    return Takeaway("Grid: which model did best on each task", " ".join(parts) or "No run of this grid finished.")


