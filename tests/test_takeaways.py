"""training.sweep.takeaways on synthetic groups: each paragraph follows the numbers (a mechanism sentence
only where the numbers show it; "beat" only when significant; degenerate runs never successes)."""

from training.sweep import experiments
from training.sweep.results import RunRow, group_rows


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


def test_vanishing_ties_the_gradient_at_the_key_to_the_outcome():
    groups = [group("simple_rnn", "simple_rnn", acc=0.97, key_gradient_decades=-0.3),
              group("simple_rnn [gain_0.5]", "simple_rnn", "gain_0.5", acc=0.12, key_gradient_decades=-6.0),
              group("lstm", "lstm", acc=0.13, key_gradient_decades=-4.4)]
    t = experiments.get("vanishing").takeaway(groups)
    assert "vanishes" in t.text and "It decided the outcome" in t.text
    assert "1e-6" in t.text and "simple_rnn [gain_0.5]" in t.text  # names the worst and its number
    assert "Keras defaults" in t.text  # names the initialization


def test_vanishing_says_so_when_the_gradient_does_not_separate_winners():
    groups = [group("a", "simple_rnn", acc=0.97, key_gradient_decades=-5.0),
              group("b", "lstm", acc=0.12, key_gradient_decades=-1.0)]
    t = experiments.get("vanishing").takeaway(groups)
    assert "did not decide the outcome alone" in t.text


def test_vanishing_without_a_vanished_gradient_does_not_claim_one():
    groups = [group("a", "simple_rnn", acc=0.97, key_gradient_decades=-0.2),
              group("b", "lstm", acc=0.95, key_gradient_decades=-0.5)]
    assert "vanishes" not in experiments.get("vanishing").takeaway(groups).text


def test_exploding_counts_only_significant_help_and_sets_degenerate_runs_apart():
    groups = [group("irnn", "irnn", metric="mse", acc=0.150, chance=1 / 6, gain=1.0, task="adding",
                    grad_norm_max=2.7e3, grad_norm_max_over_median=40.0),
              group("irnn clip", "irnn", metric="mse", acc=0.0146, chance=1 / 6, gain=1.0, clip=1.0, task="adding"),
              group("irnn [gain_2]", "irnn", "gain_2", acc=0.12, gain=2.0, diverged_step=12, status="diverged"),
              group("irnn [gain_2] clip", "irnn", "gain_2", acc=1.0, gain=2.0, clip=1.0, degenerate=True,
                    degenerate_reason="hidden-state norm 3e14; test loss exactly 0")]
    # the MSE runs have no per-example data: their difference is untested, so not "helped"
    t = experiments.get("exploding").takeaway(groups)
    assert "diverged" in t.text and "irnn [gain_2]" in t.text
    assert "degenerate (hidden-state norm 3e14" in t.text
    assert "made training succeed" not in t.text  # nothing was shown significant
    assert "rescales" in t.text


def test_exploding_counts_a_clipped_run_that_learned_against_a_degenerate_one_as_rescued():
    groups = [group("irnn", "irnn", acc=0.20, gain=1.0, task="adding", degenerate=True,
                    degenerate_reason="training loss at the end 9e8"),
              group("irnn clip", "irnn", acc=0.90, gain=1.0, clip=1.0, task="adding"),
              group("irnn", "irnn", acc=0.12, gain=1.0, task="recall"),  # another setting, same label
              group("irnn clip", "irnn", acc=0.13, gain=1.0, clip=1.0, task="recall")]
    t = experiments.get("exploding").takeaway(groups)
    assert "irnn clip on adding (0.9 [" in t.text and "against a degenerate run without clipping" in t.text
    assert "irnn on adding is degenerate" in t.text and "irnn clip on recall" not in t.text.split("succeed")[1][:80]


def test_exploding_reports_a_significant_rescue():
    groups = [group("irnn", "irnn", acc=0.20, gain=1.5, grad_norm_max=1e6),
              group("irnn clip", "irnn", acc=0.90, gain=1.5, clip=1.0)]
    t = experiments.get("exploding").takeaway(groups)
    assert "made training succeed" in t.text and "irnn clip (0.9 [" in t.text


def test_long_term_explains_the_forget_gate_with_its_numbers():
    groups = [group("lstm", "lstm", acc=0.13, gap=30), group("lstm [forget_bias_3]", "lstm", "forget_bias_3",
                                                              acc=0.99, gap=30),
              group("simple_rnn", "simple_rnn", acc=0.12, gap=30)]
    t = experiments.get("long_term").takeaway(groups)
    assert "sigma(1) = 0.73" in t.text and "0.73^30" in t.text and "sigma(3) = 0.95" in t.text
    assert "lstm [forget_bias_3] (0.99 [" in t.text and "solved recall" in t.text
    assert "beat lstm" in t.text  # significant with 1,000 examples
    assert "both at chance" in t.text  # lstm vs simple_rnn: no ranking


# The unidirectional and char-LM takeaways: tests/test_experiment_unidirectional.py, test_experiment_char_lm.py.


def test_the_gate_words_come_from_the_zoo_registry():
    import math

    import zoo

    gate = zoo.get_model_info("gru").gate_bias
    groups = [group("gru", "gru", acc=0.12, gap=30), group("gru [update_bias_3]", "gru", "update_bias_3", acc=0.99, gap=30)]
    text = experiments.get("long_term").takeaway(groups).text
    for bias in (gate.default, 3.0):
        keep = 1 / (1 + math.exp(-bias))
        assert f"its {gate.gate} gate starts at sigma({bias:g}) = {keep:.2f}" in text
        assert f"{keep:.2f}^30 = {keep ** 30:.0e}" in text
