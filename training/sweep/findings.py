"""The generated text of a comparison report ("What the numbers show"): one function per kind of
experiment (`training.sweep.kinds` names which), each stating from the numbers of this sweep which run did better, by how much and against
which baseline. Nothing is written in advance."""

from __future__ import annotations

import math

import numpy as np

from training.sweep import results
from training.sweep.tables import diverged_cell, group_gap, mean, number

SOLVED_ACCURACY = 0.9  # "solved" in the long-term experiment: test accuracy at least this


NEAR_CHANCE = 0.05  # "at chance": within this of the chance accuracy


CLOSE = 0.02  # two results within 2% of each other are reported as neither beating the other



def _fmt(v, digits=3):
    return number(v, digits)


def _find(groups, model, setting="default", **match):
    for g in groups:
        if g["model"] == model and g["setting"] == setting and all(g.get(k) == v for k, v in match.items()):
            return g
    return None


def _beat_sentence(a, b, field, higher_better, what, where=""):
    """'A (x) beat B (y)' / 'A (x) did not beat B (y)', from the means of `field`."""
    if a is None or b is None:
        return None
    va, vb = mean(a, field), mean(b, field)
    if va is None or vb is None:
        return None
    better = va > vb if higher_better else va < vb
    if abs(va - vb) <= CLOSE * max(abs(va), abs(vb)):
        return (f"{a['label']} ({what} {_fmt(va)}) and {b['label']} ({_fmt(vb)}) were within {100 * CLOSE:.0f}% of "
                f"each other{where}: neither clearly beat the other.")
    verb = "beat" if better else "did not beat"
    return f"{a['label']} ({what} {_fmt(va)}) {verb} {b['label']} ({_fmt(vb)}){where}."


def failures(groups) -> list[str]:
    out = []
    for g in groups:
        for r in g["rows"]:
            if r["status"] == "failed":
                out.append(f"{r['label']} on {(r['task'] + ' ' + r['task_values']).strip()} (seed {r['seed']}) "
                           f"failed: {r.get('error') or 'no reason recorded'}")
            elif r["status"] in results.NOT_RUN:
                out.append(f"{r['label']} (seed {r['seed']}) did not run to the end ({r['status']}).")
    return out


def findings_through_time(groups, rows) -> list[str]:
    have = [g for g in groups if mean(g, "tt_decay_init") is not None]
    out = []
    if not have:
        return ["No gradient-through-time records were found in these runs (the recorder was off or absent), "
                "so no decay rates can be reported; the table shows test accuracies only."]
    probe = next((r.get("tt_probe") for r in rows if r.get("tt_probe")), "embedding")
    out.append(f"Decay rates are minus the slope of log10 ||dL_T/dx_t|| (probe: {probe}) against the lag, "
               "in decades per step: 1 means the gradient shrinks tenfold per step back in time, 0 flat, "
               "negative growing.")
    fastest = max(have, key=lambda g: mean(g, "tt_decay_init"))
    slowest = min(have, key=lambda g: mean(g, "tt_decay_init"))
    out.append(f"At initialisation the gradient fell fastest for {fastest['label']} "
               f"({_fmt(mean(fastest, 'tt_decay_init'))} decades/step; "
               f"{_lag_words(fastest, 'tt_lag_1e6_init')}) and slowest for {slowest['label']} "
               f"({_fmt(mean(slowest, 'tt_decay_init'))} decades/step).")
    for model in dict.fromkeys(g["model"] for g in have):
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
        out.append(f"After training ({step} steps) the decay rate changed most for {change['label']}: from "
                   f"{_fmt(mean(change, 'tt_decay_init'))} to {_fmt(mean(change, 'tt_decay_final'))} decades/step.")
    out += _accuracy_summary(groups)
    return out


def _lag_words(group, field):
    vs = [r.get(field) for r in group["rows"] if r.get(field) is not None and not
          (isinstance(r.get(field), float) and math.isnan(r.get(field)))]
    if vs:
        return f"it fell by 10^6 within {int(np.mean(vs))} steps"
    return "it did not fall by 10^6 within the sequence"


def _accuracy_summary(groups) -> list[str]:
    ok = [g for g in groups if mean(g, "test_metric") is not None and g["metric"] == "accuracy"]
    if not ok:
        return []
    chance = mean(ok[0], "chance")
    best = max(ok, key=lambda g: mean(g, "test_metric"))
    near = [g["label"] for g in ok if chance is not None and mean(g, "test_metric") <= chance + NEAR_CHANCE]
    text = (f"Test accuracy: best {best['label']} ({_fmt(mean(best, 'test_metric'))}), chance {_fmt(chance)}; "
            f"{len(near)} of {len(ok)} variants stayed within {NEAR_CHANCE} of chance")
    return [text + (f" ({', '.join(near)})." if near else ".")]


def findings_exploding(groups, rows) -> list[str]:
    with_grads = [g for g in groups if mean(g, "grad_norm_median") is not None or
                  any(r.get("grad_steps_recorded") for r in g["rows"])]
    out = []
    if not with_grads:
        out.append("No step-gradient records were found in these runs (the recorder was off or absent), so norms "
                   "cannot be reported; divergence is read from the runs' status.")
    for clip in (None, 1.0):
        mine = [g for g in groups if (g.get("clip") or None) == clip]
        if not mine:
            continue
        diverged = [g for g in mine if any(r["status"] == "diverged" or r.get("diverged_step") is not None
                                            for r in g["rows"])]
        words = "without clipping" if clip is None else f"with global_clipnorm={clip:g}"
        if diverged:
            details = ", ".join(f"{g['model']} gain {g['gain']:g} (step {diverged_cell(g)})" for g in diverged)
            out.append(f"{words.capitalize()}, {len(diverged)} of {len(mine)} settings diverged (loss or gradient "
                       f"NaN/Inf): {details}.")
        else:
            out.append(f"{words.capitalize()}, none of the {len(mine)} settings diverged.")
    spikes = [g for g in with_grads if mean(g, "grad_norm_max") is not None]
    for model in dict.fromkeys(g["model"] for g in spikes):
        mine = [g for g in spikes if g["model"] == model and not g.get("clip")]
        if not mine:
            continue
        parts = []
        for g in mine:
            if _isdiverged_cell(g):  # a median over the few steps before NaN says nothing
                parts.append(f"gain {g['gain']:g}: diverged at step {diverged_cell(g)}, largest finite norm "
                             f"{_fmt(mean(g, 'grad_norm_max'))}")
            else:
                parts.append(f"gain {g['gain']:g}: max {_fmt(mean(g, 'grad_norm_max'))}, "
                             f"{_fmt(mean(g, 'grad_norm_max_over_median'))}x its median")
        text = f"{model} without clipping — " + "; ".join(parts) + "."
        finite = [g for g in mine if not _isdiverged_cell(g) and mean(g, "grad_norm_max_over_median") is not None]
        if len(finite) > 1:
            top = max(finite, key=lambda g: mean(g, "grad_norm_max_over_median"))
            text += (" Among the runs that stayed finite, the largest spike relative to the median was at gain "
                     f"{top['gain']:g}.")
        out.append(text)
    clipped = [g for g in groups if g.get("clip") and mean(g, "grad_clipped_fraction") is not None]
    if clipped:
        parts = ", ".join(f"{g['model']} gain {g['gain']:g}: {100 * mean(g, 'grad_clipped_fraction'):.0f}%"
                          for g in clipped)
        out.append(f"Share of steps whose gradient global_clipnorm=1 scaled down — {parts}.")
    for model in dict.fromkeys(g["model"] for g in groups):
        for gain in dict.fromkeys(g["gain"] for g in groups if g["model"] == model):
            a = _first(groups, model=model, gain=gain, clip=None)
            b = next((g for g in groups if g["model"] == model and g["gain"] == gain and g.get("clip")), None)
            if a and b and _isdiverged_cell(a) and not _isdiverged_cell(b):
                out.append(f"{model} at gain {gain:g} diverged without clipping and stayed finite with clipping.")
    return out


def _first(groups, **match):
    return next((g for g in groups if all((g.get(k) or None) == (v or None) for k, v in match.items())), None)


def _isdiverged_cell(group):
    return any(r["status"] == "diverged" or r.get("diverged_step") is not None for r in group["rows"])


def findings_long_term(groups, rows) -> list[str]:
    out = []
    recall = [g for g in groups if g["task"] == "recall" and mean(g, "test_metric") is not None]
    if recall:
        chance = mean(recall[0], "chance")
        out.append(f"Recall: \"solved\" below means test accuracy of at least {SOLVED_ACCURACY} (chance is "
                   f"{_fmt(chance)}).")
        gaps = sorted({group_gap(g) for g in recall})
        parts = []
        for label in dict.fromkeys(g["label"] for g in recall):
            solved = [group_gap(g) for g in recall if g["label"] == label and mean(g, "test_metric") >= SOLVED_ACCURACY]
            parts.append(f"{label}: {max(solved) if solved else 'none'}")
        out.append("Largest gap solved — " + "; ".join(parts) + ".")
        longest = gaps[-1]
        at = [g for g in recall if group_gap(g) == longest]
        best = max(at, key=lambda g: mean(g, "test_metric"))
        out.append(f"At the longest gap ({longest}) the best was {best['label']} ({_fmt(mean(best, 'test_metric'))}); "
                   f"{sum(mean(g, 'test_metric') <= chance + NEAR_CHANCE for g in at)} of {len(at)} variants "
                   f"stayed within {NEAR_CHANCE} of chance.")
        for a_model, a_set, b_model, b_set in (("lstm", "default", "simple_rnn", "default"),
                                               ("gru", "default", "simple_rnn", "default"),
                                               ("lstm", "forget_bias_3", "lstm", "default"),
                                               ("simple_rnn", "glorot", "simple_rnn", "default")):
            a = next((g for g in at if g["model"] == a_model and g["setting"] == a_set), None)
            b = next((g for g in at if g["model"] == b_model and g["setting"] == b_set), None)
            sentence = _beat_sentence(a, b, "test_metric", True, "accuracy", f" at gap {longest}")
            if sentence:
                out.append(sentence)
    for task in dict.fromkeys(g["task"] for g in groups if g["task"] != "recall"):
        mine = [g for g in groups if g["task"] == task and mean(g, "test_metric") is not None]
        if not mine:
            continue
        metric = mine[0]["metric"]
        baseline = mean(mine[0], "chance")
        higher = results.HIGHER_IS_BETTER.get(metric, False)
        ordered = sorted(mine, key=lambda g: mean(g, "test_metric"), reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        ranking = ", ".join(f"{g['label']} {_fmt(mean(g, 'test_metric'))}" for g in ordered)
        out.append(f"{task} {mine[0]['task_values']}: test {words} (baseline {_fmt(baseline)}) — {ranking}.")
        if baseline:
            below = [g["label"] for g in mine if mean(g, "test_metric") < 0.5 * baseline] if not higher else []
            near = [g["label"] for g in mine if mean(g, "test_metric") >= 0.9 * baseline] if not higher else []
            if not higher:
                out.append(f"Below half the baseline: {', '.join(below) if below else 'none'}; within 10% of it or "
                           f"above: {', '.join(near) if near else 'none'}.")
        s, l = _find(mine, "simple_rnn"), _find(mine, "lstm")
        sentence = _beat_sentence(l, s, "test_metric", higher, words, f" on {task}")
        if sentence:
            out.append(sentence)
    return out


def findings_unidirectional(groups, rows) -> list[str]:
    ok = [g for g in groups if mean(g, "test_metric") is not None]
    if not ok:
        return []
    chance = mean(ok[0], "chance")
    out = []
    for direction in ("causal", "sees the future"):
        mine = [g for g in ok if g.get("direction") == direction]
        if not mine:
            continue
        accs = [mean(g, "test_metric") for g in mine]
        best = mine[int(np.argmax(accs))]
        above = [g["label"] for g in mine if mean(g, "test_metric") > chance + NEAR_CHANCE]
        out.append(f"{'Causal models' if direction == 'causal' else 'Models that see the future'}: test accuracy "
                   f"{_fmt(min(accs))} to {_fmt(max(accs))} (best {best['label']}), chance {_fmt(chance)}; "
                   f"{len(above)} of {len(mine)} more than {NEAR_CHANCE} above chance"
                   + (f" ({', '.join(above)})." if above else "."))
    causal = [mean(g, "test_metric") for g in ok if g.get("direction") == "causal"]
    seeing = [mean(g, "test_metric") for g in ok if g.get("direction") == "sees the future"]
    if causal and seeing:
        gap = min(seeing) - max(causal)
        if gap > 0:
            out.append(f"Every model that sees the future scored above every causal model (the lowest by "
                       f"{_fmt(gap)}).")
        else:
            out.append("The two groups overlap: some causal model scored at least as high as some model that sees "
                       "the future.")
    return out


def findings_char_lm(groups, rows) -> list[str]:
    ok = [g for g in groups if mean(g, "test_bits_per_char") is not None]
    if not ok:
        return ["No character-level run finished, so there are no numbers to compare."]
    baseline = mean(ok[0], "chance")
    ordered = sorted(ok, key=lambda g: mean(g, "test_bits_per_char"))
    out = ["Test bits per character, lowest first: "
           + ", ".join(f"{g['label']} {_fmt(mean(g, 'test_bits_per_char'))}" for g in ordered)
           + f"; the unigram baseline (letter frequencies alone) is {_fmt(baseline)} bits/char."]
    above = [g["label"] for g in ok if baseline is not None and mean(g, "test_bits_per_char") >= baseline]
    if above:
        out.append(f"Not below the unigram baseline: {', '.join(above)}.")
    s, l, gr = _find(ok, "simple_rnn"), _find(ok, "lstm"), _find(ok, "gru")
    for a in (l, gr):
        sentence = _beat_sentence(a, s, "test_bits_per_char", False, "bits/char")
        if sentence:
            out.append(sentence)
    fastest = max(ok, key=lambda g: mean(g, "tokens_per_second") or 0)
    out.append(f"Fastest in tokens per second: {fastest['label']} ({_fmt(mean(fastest, 'tokens_per_second'))}).")
    return out


def findings_grid(groups, rows) -> list[str]:
    out = []
    for key in dict.fromkeys((g["task"], g["task_values"]) for g in groups):
        mine = [g for g in groups if (g["task"], g["task_values"]) == key and mean(g, "test_metric") is not None]
        if not mine:
            continue
        metric = mine[0]["metric"]
        higher = results.HIGHER_IS_BETTER.get(metric, False)
        chance = mean(mine[0], "chance")
        ordered = sorted(mine, key=lambda g: mean(g, "test_metric"), reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        beat = [g["label"] for g in mine if chance is not None and
                (mean(g, "test_metric") > chance if higher else mean(g, "test_metric") < chance)]
        out.append(f"{(key[0] + ' ' + key[1]).strip()}: test {words}, best first — "
                   + ", ".join(f"{g['label']} {_fmt(mean(g, 'test_metric'))}" for g in ordered)
                   + (f"; chance {_fmt(chance)}, beaten by {len(beat)} of {len(mine)}." if chance is not None else "."))
    return out

