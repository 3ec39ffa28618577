"""The generated text of a comparison report ("What the numbers show"): one function per kind of
experiment (its module in `training.sweep.experiments` names which), each stating from the numbers of this sweep which run did
better, by how much and against which baseline. Nothing is written in advance.

A comparison is a verdict of `training.sweep.stats.compare`: "beat" only when the difference is
significant (the test and its p-value are named), "tie" otherwise; two results at chance are not ranked;
runs significantly below chance, degenerate runs and runs whose loss was still falling are flagged."""

from __future__ import annotations

import math

import numpy as np

from training.core import rules
from training.core.rules import SOLVED_ACCURACY
from training.sweep import evidence, results, stats
from training.sweep.tables import diverged_cell, group_gap, mean, number, steps_to_solve_cell



def _fmt(v, digits=3):
    return number(v, digits)


def _find(groups, model, setting="default", **match):
    for g in groups:
        if g.model == model and g.setting == setting and all(getattr(g, k) == v for k, v in match.items()):
            return g
    return None


def _result(group) -> stats.Result:
    return group.result


def _beat_sentence(a, b, where=""):
    """The verdict of "a against b" in one sentence (`training.sweep.stats.compare`), None if either is missing."""
    if a is None or b is None:
        return None
    return stats.compare(_result(a), _result(b), where.strip()).text


def _position(group):
    return stats.chance_position(_result(group))


def _value(group):
    return _result(group).summary["value"]


def _shown(group) -> str:
    return f"{group.label} ({evidence.interval_text(_result(group))})"


def flagged(groups) -> list[str]:
    """One sentence per kind of warning: degenerate, below chance, seeds that disagree, not converged."""
    out = []
    degenerate = [g for g in groups if _result(g).degenerate_reason]
    if degenerate:
        out.append("Degenerate, so not counted as solutions whatever their number: "
                   + "; ".join(f"{g.label} ({_result(g).degenerate_reason})" for g in degenerate) + ".")
    below = [g for g in groups if _result(g).measures and _position(g) == "below"]
    if below:
        out.append("Significantly worse than chance (something other than learning decides these: a collapsed or "
                   "saturated output): " + ", ".join(_shown(g) for g in below) + ".")
    mixed = [g for g in groups if _result(g).measures and _position(g) == "mixed"]
    if mixed:
        out.append("Seeds disagree (some learned, some stayed at chance): " + ", ".join(
            f"{g.label} ({', '.join(number(m.value) for m in _result(g).measures)})" for g in mixed) + ".")
    falling = [g.label for g in groups if _result(g).still_falling]
    if falling:
        out.append("Not converged in this budget (the loss was still falling at the end): " + ", ".join(falling) + ".")
    return out


def failures(groups) -> list[str]:
    out = []
    for g in groups:
        for r in g.rows:
            if r.status == "failed":
                out.append(f"{r.label} on {(r.task + ' ' + r.task_values).strip()} (seed {r.seed}) "
                           f"failed: {r.error or 'no reason recorded'}")
            elif r.status in results.NOT_RUN:
                out.append(f"{r.label} (seed {r.seed}) did not run to the end ({r.status}).")
    return out


def findings_through_time(groups, rows) -> list[str]:
    have = [g for g in groups if mean(g, "tt_decay_init") is not None]
    out = []
    if not have:
        return ["No gradient-through-time records were found in these runs (the recorder was off or absent), "
                "so no decay rates can be reported; the table shows test accuracies only."]
    probe = next((r.tt_probe for r in rows if r.tt_probe), "embedding")
    out.append(f"Decay rates are minus the slope of log10 ||dL_T/dx_t|| (probe: {probe}) against the lag, "
               "in decades per step: 1 means the gradient shrinks tenfold per step back in time, 0 flat, "
               "negative growing.")
    fastest = max(have, key=lambda g: mean(g, "tt_decay_init"))
    slowest = min(have, key=lambda g: mean(g, "tt_decay_init"))
    out.append(f"At initialisation the gradient fell fastest for {fastest.label} "
               f"({_fmt(mean(fastest, 'tt_decay_init'))} decades/step; "
               f"{_lag_words(fastest, 'tt_lag_1e6_init')}) and slowest for {slowest.label} "
               f"({_fmt(mean(slowest, 'tt_decay_init'))} decades/step).")
    for model in dict.fromkeys(g.model for g in have):
        d, c = _find(have, model, "default"), _find(have, model, "glorot")
        if d and c:
            a, b = mean(c, "tt_decay_init"), mean(d, "tt_decay_init")
            out.append(f"{model}: with the glorot-uniform recurrent kernel the gradient fell "
                       f"{'faster' if a > b else 'slower' if a < b else 'as fast'} at initialisation than with "
                       f"Keras's default ({_fmt(a)} vs {_fmt(b)} decades/step).")
    s, l = _find(have, "simple_rnn"), _find(have, "lstm")
    if s and l:
        a, b = mean(l, "tt_decay_init"), mean(s, "tt_decay_init")
        how = "faster" if a > b else "slower" if a < b else "as fast"
        out.append(f"With Keras's defaults the LSTM's gradient fell {how} "
                   f"than the SimpleRNN's at initialisation ({_fmt(a)} vs {_fmt(b)} decades/step).")
    trained = [g for g in have if mean(g, "tt_decay_final") is not None]
    if trained:
        change = max(trained, key=lambda g: abs(mean(g, "tt_decay_final") - mean(g, "tt_decay_init")))
        step = int(mean(change, "tt_final_step") or 0)
        out.append(f"After training ({step} steps) the decay rate changed most for {change.label}: from "
                   f"{_fmt(mean(change, 'tt_decay_init'))} to {_fmt(mean(change, 'tt_decay_final'))} decades/step.")
    out += _accuracy_summary(groups)
    return out + flagged(groups)


def _lag_words(group, field):
    vs = [v for v in group.values(field) if not math.isnan(v)]
    if vs:
        return f"it fell by 10^6 within {int(np.mean(vs))} steps"
    return "it did not fall by 10^6 within the sequence"


def _accuracy_summary(groups) -> list[str]:
    ok = [g for g in groups if _result(g).measures and g.metric == "accuracy"]
    if not ok:
        return []
    chance = _result(ok[0]).chance
    best = max(ok, key=_value)
    at = [g.label for g in ok if _position(g) == "at"]
    text = (f"Test accuracy: best {_shown(best)}, chance {_fmt(chance)}; {len(at)} of {len(ok)} variants are at "
            "chance (not significantly different from it, exact binomial test)")
    return [text + (f": {', '.join(at)}." if at else ".")]


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
    with_grads = [g for g in groups if mean(g, "grad_norm_median") is not None or
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
    spikes = [g for g in with_grads if mean(g, "grad_norm_max") is not None]
    for model in dict.fromkeys(g.model for g in spikes):
        mine = [g for g in spikes if g.model == model and not g.clip]
        if not mine:
            continue
        parts = []
        for g in mine:
            if _isdiverged_cell(g):  # a median over the few steps before NaN says nothing
                parts.append(f"gain {g.gain:g}: diverged at step {diverged_cell(g)}, largest finite norm "
                             f"{_fmt(mean(g, 'grad_norm_max'))}")
            else:
                parts.append(f"gain {g.gain:g}: max {_fmt(mean(g, 'grad_norm_max'))}, "
                             f"{_fmt(mean(g, 'grad_norm_max_over_median'))}x its median")
        text = f"{model} without clipping — " + "; ".join(parts) + "."
        finite = [g for g in mine if not _isdiverged_cell(g) and mean(g, "grad_norm_max_over_median") is not None]
        if len(finite) > 1:
            top = max(finite, key=lambda g: mean(g, "grad_norm_max_over_median"))
            text += (" Among the runs that stayed finite, the largest spike relative to the median was at gain "
                     f"{top.gain:g}.")
        out.append(text)
    clipped = [g for g in groups if g.clip and mean(g, "grad_clipped_fraction") is not None]
    if clipped:
        for clip in dict.fromkeys(g.clip for g in clipped):
            parts = ", ".join(f"{g.model} gain {g.gain:g}: {100 * mean(g, 'grad_clipped_fraction'):.0f}%"
                              for g in clipped if g.clip == clip)
            out.append(f"Share of steps whose gradient global_clipnorm={clip:g} scaled down — {parts}.")
    for model in dict.fromkeys(g.model for g in groups):
        for gain in dict.fromkeys(g.gain for g in groups if g.model == model):
            a = _first(groups, model=model, gain=gain, clip=None)
            b = next((g for g in groups if g.model == model and g.gain == gain and g.clip), None)
            if a and b and _isdiverged_cell(a) and not _isdiverged_cell(b):
                out.append(f"{model} at gain {gain:g} diverged without clipping and stayed finite with clipping.")
            if a and b:
                out.append("With against without clipping: " + _beat_sentence(b, a))
    return out


def _first(groups, **match):
    return next((g for g in groups if all((getattr(g, k) or None) == (v or None) for k, v in match.items())), None)


def _isdiverged_cell(group):
    return any(r.status == "diverged" or r.diverged_step is not None for r in group.rows)


def findings_long_term(groups, rows) -> list[str]:
    out = []
    recall = [g for g in groups if g.task == "recall" and _result(g).measures]
    if recall:
        chance = _result(recall[0]).chance
        out.append(f"Recall: \"solved\" below means test accuracy of at least {SOLVED_ACCURACY} and significantly "
                   f"above chance ({_fmt(chance)}); with several seeds, the share of seeds that did.")
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
        best = max(at, key=_value)
        n_at = sum(_position(g) == "at" for g in at)
        out.append(f"At the longest gap ({longest}) the best was {_shown(best)}; {n_at} of {len(at)} variants were "
                   "at chance.")
        for a_model, a_set, b_model, b_set in (("lstm", "default", "simple_rnn", "default"),
                                               ("gru", "default", "simple_rnn", "default"),
                                               ("lstm", "forget_bias_3", "lstm", "default"),
                                               ("lstm", "chrono", "lstm", "default"),
                                               ("gru", "update_bias_3", "gru", "default"),
                                               ("simple_rnn", "glorot", "simple_rnn", "default")):
            a = next((g for g in at if g.model == a_model and g.setting == a_set), None)
            b = next((g for g in at if g.model == b_model and g.setting == b_set), None)
            sentence = _beat_sentence(a, b, f"at gap {longest}")
            if sentence:
                out.append(sentence)
        timed = [g for g in recall if any(r.steps_to_solve is not None for r in g.rows)]
        if timed:
            out.append(f"Steps until the validation accuracy first reached {SOLVED_ACCURACY}: " + "; ".join(
                f"{g.label} gap {group_gap(g)}: {steps_to_solve_cell(g)}" for g in timed) + ".")
    for task in dict.fromkeys(g.task for g in groups if g.task != "recall"):
        mine = [g for g in groups if g.task == task and _result(g).measures]
        if not mine:
            continue
        metric = mine[0].metric
        baseline = _result(mine[0]).chance
        higher = rules.higher_is_better(metric)
        ordered = sorted(mine, key=_value, reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        ranking = ", ".join(_shown(g) for g in ordered)
        out.append(f"{task} {mine[0].task_values}: test {words} (baseline of a prediction that ignores the input "
                   f"{_fmt(baseline)}) — {ranking}.")
        better = [g.label for g in mine if _position(g) == "above"]
        unknown = [g.label for g in mine if _position(g) is None]
        if unknown and not better:
            out.append(f"Whether they beat the baseline cannot be tested: this sweep stored no per-example {words}.")
        else:
            out.append(f"Significantly better than the baseline: {', '.join(better) if better else 'none'}.")
        s, l = _find(mine, "simple_rnn"), _find(mine, "lstm")
        sentence = _beat_sentence(l, s, f"on {task}")
        if sentence:
            out.append(sentence)
    return out + flagged(groups)


def _solved(group) -> bool:
    value = _value(group)
    return value is not None and value >= SOLVED_ACCURACY and _position(group) in ("above", None)


def findings_unidirectional(groups, rows) -> list[str]:
    ok = [g for g in groups if _result(g).measures]
    if not ok:
        return []
    chance = _result(ok[0]).chance
    out = []
    for direction in dict.fromkeys(g.direction for g in ok):
        mine = [g for g in ok if g.direction == direction]
        accs = [_value(g) for g in mine]
        best = mine[int(np.argmax(accs))]
        above = [g.label for g in mine if _position(g) == "above"]
        name = {"causal": "Causal models", "sees the future": "Models that see the future"}.get(
            direction, f"Models that are {direction}")
        text = (f"{name}: test accuracy {_fmt(min(accs))} to {_fmt(max(accs))} (best {_shown(best)}), "
                f"chance {_fmt(chance)}")
        if any(_position(g) is None for g in mine):
            out.append(text + "; whether they differ from chance cannot be tested (the sweep did not record the "
                       "size of the test set).")
        else:
            out.append(text + f"; {len(above)} of {len(mine)} significantly above chance"
                       + (f" ({', '.join(above)})." if above else "."))
    causal = [g for g in ok if g.direction == "causal"]
    seeing = [g for g in ok if g.direction == "sees the future"]
    if causal and seeing:
        a, b = max(causal, key=_value), min(seeing, key=_value)
        out.append("The best causal model against the weakest model that sees the future: " + _beat_sentence(b, a))
    return out + flagged(groups)


def findings_char_lm(groups, rows) -> list[str]:
    ok = [g for g in groups if _result(g).measures]
    if not ok:
        return ["No character-level run finished, so there are no numbers to compare."]
    baseline = _result(ok[0]).chance
    ordered = sorted(ok, key=_value)
    out = ["Test bits per character, lowest first: " + ", ".join(_shown(g) for g in ordered)
           + f"; the unigram baseline (letter frequencies alone) is {_fmt(baseline)} bits/char."]
    for name in ("4gram", "trigram", "bigram"):
        value = mean(ok[0], lambda r, name=name: r.baselines.get(name))
        if value is None:
            continue
        below = [g.label for g in ok if _result(g).summary["high"] is not None
                 and _result(g).summary["high"] < value]
        out.append(f"Below the {name} baseline ({_fmt(value)} bits/char, fitted on the training split) with their "
                   f"whole 95% interval: {', '.join(below) if below else 'none'}.")
        break
    above = [g.label for g in ok if _position(g) in ("at", "below")]
    if above:
        out.append(f"Not significantly below the unigram baseline: {', '.join(above)}.")
    s, l, gr = _find(ok, "simple_rnn"), _find(ok, "lstm"), _find(ok, "gru")
    for a in (l, gr):
        sentence = _beat_sentence(a, s)
        if sentence:
            out.append(sentence)
    fastest = max(ok, key=lambda g: mean(g, "tokens_per_second") or 0)
    out.append(f"Fastest in tokens per second: {fastest.label} ({_fmt(mean(fastest, 'tokens_per_second'))}).")
    return out + flagged(groups)


def findings_grid(groups, rows) -> list[str]:
    out = []
    for key in dict.fromkeys((g.task, g.task_values) for g in groups):
        mine = [g for g in groups if (g.task, g.task_values) == key and _result(g).measures]
        if not mine:
            continue
        metric = mine[0].metric
        higher = rules.higher_is_better(metric)
        chance = _result(mine[0]).chance
        ordered = sorted(mine, key=_value, reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        beat = [g.label for g in mine if _position(g) == "above"]
        untested = sum(_position(g) is None for g in mine)
        where = (key[0] + " " + key[1]).strip()
        text = f"{where}: test {words}, best first — " + ", ".join(_shown(g) for g in ordered)
        if chance is not None:
            text += f"; chance {_fmt(chance)}, significantly beaten by {len(beat)} of {len(mine)}"
            text += f" ({untested} could not be tested)." if untested else "."
        out.append(text)
        if len(ordered) > 1:
            out.append(_beat_sentence(ordered[0], ordered[1], f"on {where}"))
    return out + flagged(groups)
