"""training.sweep.takeaways on synthetic groups: each paragraph follows the numbers (a mechanism sentence
only where the numbers show it; "beat" only when significant; degenerate runs never successes).

The tests assert properties of the sentences, not their wording: which sentence names which variant, that the
numbers given appear in it (formatted by the report's own `num` / `power_words` / `with_interval`), that a
winner is named only when the difference is significant, and that a claim is missing where the numbers do not
support it."""

import math
import re

import pytest

import zoo
from training.core.rules import SOLVED_ACCURACY
from training.sweep import experiments
from training.sweep.results import RunRow, group_rows
from training.sweep.takeaways import num, power_words, with_interval


def group(label, model, setting="default", acc=0.5, n=1000, seeds=1, init="Keras defaults", **extra):
    task_params = {"gap": extra.pop("gap", 30), "eval_size": n}
    baselines = {k[len("baseline_"):]: extra.pop(k) for k in list(extra) if k.startswith("baseline_")}
    row_fields = {k: extra.pop(k) for k in list(extra) if k.startswith(("tt_", "key_", "grad_", "theory_",
                                                                         "degenerate", "loss_still", "diverged"))}
    metric = extra.get("metric", "accuracy")
    rows = []
    for s in range(seeds):
        a = acc[s] if isinstance(acc, (list, tuple)) else acc
        rows.append(RunRow(label=label, model=model, setting=setting, initialization=init,
                           task=extra.get("task", "recall"), task_params=task_params, seed=s, metric=metric,
                           test_metric=a, n_eval=n, n_eval_tokens=n,
                           test_correct=round(a * n) if metric == "accuracy" else None,
                           chance=extra.get("chance", 0.125), status=extra.get("status", "finished"),
                           gain=extra.get("gain"), clip=extra.get("clip"), kernel=extra.get("kernel"),
                           direction=extra.get("direction"), baselines=baselines, **row_fields))
    (made,) = group_rows(rows)
    return made


def sentences(text: str) -> list[str]:
    """The sentences of a paragraph: a full stop followed by a space ends one (a decimal point never is)."""
    return [s for s in re.split(r"(?<=\.)\s+", text) if s]


def the_sentence(text: str, word: str) -> str:
    """The one sentence of `text` that contains `word`."""
    found = [s for s in sentences(text) if word in s]
    assert len(found) == 1, f"{len(found)} sentences contain {word!r} in: {text}"
    return found[0]


def without(sentence: str, *labels: str) -> str:
    """`sentence` with these labels cut out, to test that a shorter label ("lstm") is not named too."""
    for label in sorted(labels, key=len, reverse=True):
        sentence = sentence.replace(label, "")
    return sentence


def parenthesised(text: str, label: str) -> str:
    """What `text` says in parentheses right after `label` ("lstm (its forget gate ...)"), nested ones kept."""
    found = re.search(r"(?<![\w\]])" + re.escape(label) + r" \(", text)  # "lstm (", not "min_lstm ("
    assert found, f"{label!r} with parentheses is not in: {text}"
    start = found.end()
    depth = 1
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    raise AssertionError(f"no closing parenthesis after {label!r} in: {text}")


def takeaway(key, groups) -> str:
    return experiments.get(key).takeaway(groups).text


# --------------------------------------------------------------------------------------- vanishing
# (label, model, setting, test accuracy, gradient at the key at initialisation in decades)
SEPARATED = [
    [("simple_rnn", "simple_rnn", "default", 0.97, -0.3), ("simple_rnn [gain_0.5]", "simple_rnn", "gain_0.5", 0.12, -6.0),
     ("lstm", "lstm", "default", 0.13, -4.4)],
    [("lstm", "lstm", "default", 0.98, -1.2), ("gru", "gru", "default", 0.95, -0.7),
     ("simple_rnn [gain_0.5]", "simple_rnn", "gain_0.5", 0.12, -7.5)],
]


@pytest.mark.parametrize("variants", SEPARATED)
def test_vanishing_ties_the_gradient_at_the_key_to_the_outcome(variants):
    groups = [group(label, model, setting, acc=acc, key_gradient_decades=d) for label, model, setting, acc, d in variants]
    text = takeaway("vanishing", groups)
    learned = [v for v in variants if v[3] >= SOLVED_ACCURACY]
    failed = [v for v in variants if v[3] < SOLVED_ACCURACY]
    best, worst = max(variants, key=lambda v: v[4]), min(variants, key=lambda v: v[4])
    first = sentences(text)[0]  # the key gradient of the best and the worst variant, each with its number
    for label, *_, decades in (best, worst):
        assert label in first and f"{power_words(decades)} times" in first
    assert first.index(power_words(best[4])) < first.index(power_words(worst[4]))
    assert "Keras defaults" in first  # names the initialization
    assert "vanishes" in the_sentence(text, "Jacobian")  # the mechanism, since the worst is below 1e-3
    decided = the_sentence(text, "decided the outcome")
    assert "did not" not in decided
    named = decided.split("(", 1)[1].split(")", 1)[0]  # "(2: lstm and gru)"
    assert named.startswith(f"{len(learned)}:")
    assert {x.strip() for x in re.split(r",| and ", named.split(":", 1)[1])} == {v[0] for v in learned}
    assert f"at least {power_words(min(v[4] for v in learned))}" in decided
    assert f"({len(failed)})" in decided and f"at most {power_words(max(v[4] for v in failed))}" in decided


def test_vanishing_says_so_when_the_gradient_does_not_separate_winners():
    groups = [group("a", "simple_rnn", acc=0.97, key_gradient_decades=-5.0),
              group("b", "lstm", acc=0.12, key_gradient_decades=-1.0)]
    text = takeaway("vanishing", groups)
    verdict = the_sentence(text, "decide the outcome")
    assert "did not decide the outcome" in verdict
    assert power_words(-5.0) in verdict and power_words(-1.0) in verdict  # the learner's low, the loser's high
    assert verdict.index(power_words(-5.0)) < verdict.index(power_words(-1.0))


def test_vanishing_without_a_vanished_gradient_does_not_claim_one():
    groups = [group("a", "simple_rnn", acc=0.97, key_gradient_decades=-0.2),
              group("b", "lstm", acc=0.95, key_gradient_decades=-0.5)]
    text = takeaway("vanishing", groups)
    assert "vanish" not in text and "Jacobian" not in text
    assert "decided the outcome" not in text  # nobody failed: nothing to separate
    assert "(2)" in the_sentence(text, "Every variant learned")


# --------------------------------------------------------------------------------------- exploding
def test_exploding_counts_only_significant_help_and_sets_degenerate_runs_apart():
    reason = "hidden-state norm 3e14; test loss exactly 0"
    groups = [group("irnn", "irnn", metric="mse", acc=0.150, chance=1 / 6, gain=1.0, task="adding",
                    grad_norm_max=2.7e3, grad_norm_max_over_median=40.0),
              group("irnn clip", "irnn", metric="mse", acc=0.0146, chance=1 / 6, gain=1.0, clip=1.0, task="adding"),
              group("irnn [gain_2]", "irnn", "gain_2", acc=0.12, gain=2.0, diverged_step=12, status="diverged"),
              group("irnn [gain_2] clip", "irnn", "gain_2", acc=1.0, gain=2.0, clip=1.0, degenerate=True,
                    degenerate_reason=reason)]
    text = takeaway("exploding", groups)
    diverged = the_sentence(text, "diverged")  # two tasks: each label says which
    assert "1 of 2" in diverged and diverged.split(": ", 1)[1] == "irnn [gain_2] on recall."  # not its clipped twin
    largest = the_sentence(text, "largest gradient norm")
    assert "irnn on adding" in largest and num(2.7e3) in largest and f"{num(40.0)} times" in largest
    degenerate = the_sentence(text, "degenerate")
    assert "irnn [gain_2] clip on recall" in degenerate and reason in degenerate
    assert "irnn on adding" not in degenerate  # a run that is not degenerate is not called so
    # the MSE runs have no per-example data: their difference is untested, so clipping is not said to help
    assert "succeed" not in text and "significantly" not in text
    assert "rescales" in text  # what clipping does


def test_exploding_counts_a_clipped_run_that_learned_against_a_degenerate_one_as_rescued():
    groups = [group("irnn", "irnn", acc=0.20, gain=1.0, task="adding", degenerate=True,
                    degenerate_reason="training loss at the end 9e8"),
              group("irnn clip", "irnn", acc=0.90, gain=1.0, clip=1.0, task="adding"),
              group("irnn", "irnn", acc=0.12, gain=1.0, task="recall"),  # another setting, same label
              group("irnn clip", "irnn", acc=0.13, gain=1.0, clip=1.0, task="recall")]
    text = takeaway("exploding", groups)
    rescued = the_sentence(text, "succeed")
    assert f"irnn clip on adding ({with_interval(groups[1])}" in rescued and "degenerate run without clipping" in rescued
    assert "recall" not in rescued  # at chance with and without clipping: no rescue
    tied = the_sentence(text, "no significant difference")
    assert "irnn on recall" in tied and "adding" not in tied
    degenerate = the_sentence(text, "is degenerate")
    assert "irnn on adding" in degenerate and "training loss at the end 9e8" in degenerate
    assert "recall" not in degenerate and "clip" not in degenerate


@pytest.mark.parametrize("clipped, unclipped, helped", [(0.90, 0.20, True), (0.50, 0.51, False)])
def test_exploding_reports_a_rescue_only_when_significant(clipped, unclipped, helped):
    groups = [group("irnn", "irnn", acc=unclipped, gain=1.5, grad_norm_max=1e6),
              group("irnn clip", "irnn", acc=clipped, gain=1.5, clip=1.0)]
    text = takeaway("exploding", groups)
    assert num(1e6) in the_sentence(text, "largest gradient norm")
    if helped:
        success = the_sentence(text, "succeed")
        winner, loser = success.split(": ", 1)[1].split(" against ")
        assert winner == f"irnn clip ({with_interval(groups[1])}"  # the clipped run first, with its interval
        assert loser.startswith(with_interval(groups[0]))
        assert "no significant difference" not in text
    else:
        assert "succeed" not in text
        assert "irnn" in the_sentence(text, "no significant difference")


# --------------------------------------------------------------------------------------- long term
def _gate_words(bias, gap):
    """The numbers the gate sentence must give for a gate bias: sigma(b), and sigma(b)^gap."""
    keep = 1 / (1 + math.exp(-bias))
    return [f"sigma({bias:g}) = {keep:.2f}", f"{keep:.2f}^{gap} = {keep ** gap:.0e}"]


@pytest.mark.parametrize("gap", [30, 60])
def test_long_term_explains_the_forget_gate_with_its_numbers(gap):
    groups = [group("lstm", "lstm", acc=0.13, gap=gap),
              group("lstm [forget_bias_3]", "lstm", "forget_bias_3", acc=0.99, gap=gap),
              group("simple_rnn", "simple_rnn", acc=0.12, gap=gap)]
    text = takeaway("long_term", groups)
    solved = the_sentence(text, "solved recall")
    assert f"({gap})" in solved and f"lstm [forget_bias_3] ({with_interval(groups[1])})" in solved
    assert "simple_rnn" not in solved and "lstm" not in without(solved, "lstm [forget_bias_3]")
    assert str(SOLVED_ACCURACY) in solved
    at_chance = the_sentence(text, "At chance there")
    assert "lstm" in without(at_chance, "simple_rnn") and "simple_rnn" in at_chance and "forget_bias" not in at_chance
    gates = the_sentence(text, "gate bias").split(": ", 1)[1].split("; ")
    default = zoo.get_model_info("lstm").gate_bias.default
    assert [g.split(" (")[0] for g in gates] == ["lstm", "lstm [forget_bias_3]"]  # no gate words for simple_rnn
    for words, bias in zip(gates, (default, 3.0)):
        assert "forget gate" in words and all(w in words for w in _gate_words(bias, gap))
    beat = the_sentence(text, " beat ")  # significant with 1,000 examples: the winner first
    winner, loser = beat.split(" beat ")
    assert winner == "lstm [forget_bias_3] (0.99)" and loser.startswith("lstm (0.13)") and f"gap {gap}" in loser


@pytest.mark.parametrize("lstm, simple_rnn, kind", [(0.13, 0.12, "both at chance"), (0.95, 0.955, "tie"),
                                                    (0.95, 0.50, "beat"), (0.50, 0.95, "beat")])
def test_long_term_ranks_the_lstm_against_the_tanh_rnn_only_when_significant(lstm, simple_rnn, kind):
    groups = [group("lstm", "lstm", acc=lstm, gap=30), group("simple_rnn", "simple_rnn", acc=simple_rnn, gap=30)]
    text = takeaway("long_term", groups)
    verdict = the_sentence(text, "at gap 30")  # the declared comparison, lstm against simple_rnn
    assert f"lstm ({lstm:g})" in verdict and f"simple_rnn ({simple_rnn:g})" in verdict  # each with its number
    if kind == "beat":
        winner, loser = ("lstm", "simple_rnn") if lstm > simple_rnn else ("simple_rnn", "lstm")
        assert verdict.startswith(f"{winner} (") and f" beat {loser} (" in verdict
    else:
        assert " beat " not in text  # no winner anywhere in the paragraph
        assert kind in verdict and ("not ranked" if kind == "both at chance" else "within the noise") in verdict


# The unidirectional and char-LM takeaways: tests/test_experiment_unidirectional.py, test_experiment_char_lm.py.


def test_the_gate_words_come_from_the_zoo_registry():
    gate = zoo.get_model_info("gru").gate_bias
    groups = [group("gru", "gru", acc=0.12, gap=30), group("gru [update_bias_3]", "gru", "update_bias_3", acc=0.99, gap=30)]
    text = takeaway("long_term", groups)
    for label, words, bias in zip(("gru", "gru [update_bias_3]"), the_sentence(text, "gate bias").split(": ", 1)[1]
                                  .split("; "), (gate.default, 3.0)):
        assert words.startswith(f"{label} (") and f"its {gate.gate} gate" in words
        assert all(w in words for w in _gate_words(bias, 30))


@pytest.mark.parametrize("model, setting, bias", [("min_gru", "default", 0.0), ("min_gru", "update_bias_-3", -3.0),
                                                  ("min_lstm", "default", 0.0), ("min_lstm", "forget_bias_3", 3.0),
                                                  ("lstm", "forget_bias_3", 3.0), ("gru", "update_bias_3", 3.0)])
def test_the_gate_sentence_gives_what_a_step_keeps_also_where_the_gate_is_not_it(model, setting, bias):
    """A minGRU keeps 1 - z (its update gate writes the candidate), a minLSTM the normalised forget gate
    f / (f + i): the sentence raises what the cell keeps (`zoo.GateBias.kept`) to the gap, not sigma(b)."""
    gate = zoo.get_model_info(model).gate_bias
    label = model if setting == "default" else f"{model} [{setting}]"
    groups = [group(label, model, setting, acc=0.5, gap=100), group("lstm", "lstm", acc=0.95, gap=100)]
    section = parenthesised(the_sentence(takeaway("long_term", groups), "gate bias"), label)
    keep = gate.kept(bias)
    sigma = 1 / (1 + math.exp(-bias))
    assert f"its {gate.gate} gate starts at sigma({bias:g}) = {sigma:.2f}" in section
    assert f"{keep:.2f}^100 = {keep ** 100:.0e} of the key survives" in section
    if gate.keeps:
        assert f"so a step keeps {keep:.2f} of its state ({gate.keeps})" in section
    else:
        assert "a step keeps" not in section and keep == pytest.approx(sigma)
    if model == "min_gru" and bias == -3.0:
        assert keep == pytest.approx(1 - sigma) and f"{keep:.2f}^100" != f"{sigma:.2f}^100"  # 0.95, not 0.05
