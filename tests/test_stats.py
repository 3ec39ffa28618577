"""training.sweep.stats: intervals that cover, tests that match known values, and one verdict per rule,
each on synthetic results that a wrong implementation (a relative-difference threshold, comparing runs at
chance, trusting a degenerate run, ignoring seeds) would get wrong."""

import math

import numpy as np
import pytest

from training.sweep import stats
from training.sweep.stats import Result, compare, measure


def accuracy(label, *correct, n=256, chance=0.125, **flags):
    """A variant with one seed per count of correct answers out of n (one label per example)."""
    ms = [measure("accuracy", k / n, n=n, tokens=n, correct=k) for k in correct]
    return Result(label, "accuracy", ms, chance=chance, **flags)


# ------------------------------------------------------------------------------- known values
def test_distribution_functions_match_tabulated_values():
    assert stats.t_quantile(0.975, 2) == pytest.approx(4.302653, abs=1e-5)
    assert stats.t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-5)
    assert stats.t_quantile(0.975, math.inf) == pytest.approx(1.959964, abs=1e-6)
    assert stats.t_two_sided_p(2.0, 5) == pytest.approx(0.101939, abs=1e-5)
    assert stats.betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-10)
    assert stats.fisher_exact(1, 10, 7, 10) == pytest.approx(0.019767, abs=1e-5)  # R: fisher.test
    assert stats.binomial_test(7, 20, 0.5) == pytest.approx(0.263176, abs=1e-5)    # R: binom.test
    assert stats.wilson(0, 10)[0] == 0 and stats.wilson(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)


def test_the_issue_example_is_far_below_chance():
    # unclipped simple_rnn: 3/256 correct where chance is 1/8
    assert stats.binomial_test(3, 256, 0.125) < 1e-9
    low, high = stats.chance_interval(0.125, 1000)
    assert low < 0.125 < high and high - low == pytest.approx(2 * 1.96 * math.sqrt(0.125 * 0.875 / 1000), abs=0.005)


# ---------------------------------------------------------------------------------- coverage
def test_wilson_and_exact_intervals_cover_the_true_rate():
    rng = np.random.default_rng(0)
    for p, n in ((0.125, 256), (0.5, 50), (0.97, 200)):
        ks = rng.binomial(n, p, size=2000)
        wilson = np.mean([lo <= p <= hi for lo, hi in (stats.wilson(int(k), n) for k in ks)])
        assert 0.92 <= wilson <= 0.98, (p, n, wilson)
    exact = np.mean([lo <= 0.1 <= hi for lo, hi in (stats.clopper_pearson(int(k), 20)
                                                     for k in rng.binomial(20, 0.1, size=500))])
    assert exact >= 0.95  # conservative by construction


def test_bootstrap_interval_covers_the_mean_of_a_skewed_loss():
    rng = np.random.default_rng(1)
    hits = 0
    for i in range(200):
        losses = rng.exponential(0.2, size=300)  # squared errors are skewed
        _, lo, hi = stats.bootstrap_ratio(losses, resamples=400, seed=i)
        hits += lo <= 0.2 <= hi
    assert 0.88 <= hits / 200 <= 0.99


def test_bootstrap_keeps_the_tokens_of_a_sequence_together():
    # 50 sequences of 40 tokens; each sequence has its own difficulty, so tokens are correlated:
    # the interval must be as wide as the 50 sequences allow, not as 2,000 independent tokens would
    rng = np.random.default_rng(2)
    per_sequence = rng.normal(2.0, 0.5, size=50)
    y, c = per_sequence * 40, np.full(50, 40)
    _, lo, hi = stats.bootstrap_ratio(y, c)
    assert hi - lo == pytest.approx(2 * 1.96 * 0.5 / math.sqrt(50), rel=0.2)


def test_t_interval_over_seeds_covers_and_is_never_zero_width():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(2000):
        s = stats.mean_interval(rng.normal(0.7, 0.05, size=3))
        hits += s["low"] <= 0.7 <= s["high"]
    assert 0.93 <= hits / 2000 <= 0.97
    perfect = stats.mean_interval([1.0, 1.0, 1.0], floor_se=[0.001] * 3)
    assert perfect["high"] - perfect["low"] > 0
    assert stats.mean_interval([0.5])["low"] is None  # one seed: no interval over seeds


# ---------------------------------------------------------------------------------- verdicts
def test_significant_difference_is_beat_even_when_small_in_relative_terms():
    # 99.5% vs 98.5% on 10,000 examples: 1% apart (a "within 2%" rule calls it a tie), z about 7
    v = compare(accuracy("gru", 9950, n=10_000), accuracy("lstm", 9850, n=10_000))
    assert v.kind == "beat" and v.winner == "gru" and v.test.p < 1e-6
    assert "two-proportion z-test" in v.text and "p < 1e-6" in v.text  # p ~ 1e-12, printed as a bound


def test_difference_within_noise_is_a_tie_even_when_large_in_relative_terms():
    # 0.80 vs 0.78 on 256 examples: 2.5% apart (a "within 2%" rule calls it a win), p about 0.6
    v = compare(accuracy("gru", 205), accuracy("lstm", 200))
    assert v.kind == "tie" and v.winner is None and v.test.p > 0.3
    assert "tie" in v.text and "p = " in v.text


def test_lower_is_better_for_losses():
    a = Result("a", "mse", [measure("mse", 0.02, examples={"loss": np.full(500, 0.02) + np.linspace(-0.01, 0.01, 500),
                                                          "count": np.ones(500)})], chance=1 / 6)
    b = Result("b", "mse", [measure("mse", 0.15, examples={"loss": np.full(500, 0.15) + np.linspace(-0.1, 0.1, 500),
                                                          "count": np.ones(500)})], chance=1 / 6)
    assert compare(a, b).winner == "a" and compare(b, a).winner == "a"


def test_both_at_chance_are_not_ranked():
    # the issue's example: 0.109 vs 0.137 on 256 examples, chance 0.125
    v = compare(accuracy("lstm [forget_bias_3]", 28), accuracy("lstm", 35))
    assert v.kind == "both at chance" and v.test is None
    assert "beat" not in v.text


def test_one_at_chance_one_above_is_compared():
    v = compare(accuracy("simple_rnn", 250), accuracy("lstm", 35))
    assert v.kind == "beat" and v.winner == "simple_rnn"


def test_significantly_below_chance_is_flagged_not_ranked():
    v = compare(accuracy("simple_rnn", 3), accuracy("lstm", 33))
    assert v.kind == "below chance" and "simple_rnn" in v.text and "lstm (" not in v.text.split("is significantly")[0]
    assert stats.chance_position(accuracy("x", 3)) == "below"
    assert stats.chance_position(accuracy("x", 33)) == "at"
    assert stats.chance_position(accuracy("x", 60)) == "above"


def test_a_loser_still_learning_is_not_converged():
    v = compare(accuracy("gru", 240), accuracy("lstm", 150, still_falling=True))
    assert v.kind == "not converged" and v.winner == "gru" and "still falling" in v.text
    # the winner still learning does not change the ranking
    assert compare(accuracy("gru", 240, still_falling=True), accuracy("lstm", 150)).kind == "beat"
    # unknown is not "still falling"
    assert compare(accuracy("gru", 240), accuracy("lstm", 150, still_falling=None)).kind == "beat"


def test_degenerate_run_is_never_a_success():
    perfect = accuracy("irnn gain 2 clip", 256, degenerate=True,
                       degenerate_reason="hidden-state norm 3e14; test loss exactly 0")
    v = compare(perfect, accuracy("irnn gain 1 clip", 150))
    assert v.kind == "degenerate" and v.winner is None and "3e14" in v.text
    assert compare(accuracy("a", 256, degenerate=None), accuracy("b", 150)).kind == "beat"  # unknown: compared


def test_no_finite_value_is_no_result():
    diverged = Result("irnn gain 2", "accuracy", [], chance=0.125, missing=["diverged at step 12"])
    assert compare(diverged, accuracy("lstm", 200)).kind == "no result"


def test_seeds_that_disagree_are_not_a_win():
    # one seed of three solved: pooling the 768 examples would call it a win over chance-level runs
    lucky = accuracy("simple_rnn [gain 0.8]", 248, 26, 30)
    flat = accuracy("lstm", 30, 33, 31)
    assert stats.chance_position(lucky) == "mixed"
    v = compare(lucky, flat)
    assert v.kind == "tie" and "Welch" in v.test.name


def test_seeds_that_agree_beat_with_welch():
    v = compare(accuracy("gru", 230, 235, 233), accuracy("lstm", 200, 190, 205))
    assert v.kind == "beat" and v.winner == "gru" and "over seeds" in v.test.name


def test_identical_perfect_seeds_tie():
    v = compare(accuracy("gru", 256, 256, 256), accuracy("lstm", 256, 256, 256))
    assert v.kind == "tie"


def test_paired_examples_detect_what_unpaired_cannot():
    rng = np.random.default_rng(4)
    base = rng.exponential(0.1, size=1000)  # per-example squared errors vary a lot between examples
    better = base - 0.004 + rng.normal(0, 0.002, size=1000)
    ex = lambda y: {"loss": y, "count": np.ones(1000)}  # noqa: E731
    a = Result("a", "mse", [measure("mse", better.mean(), examples=ex(better), eval_set="s")], chance=1 / 6)
    b = Result("b", "mse", [measure("mse", base.mean(), examples=ex(base), eval_set="s")], chance=1 / 6)
    v = compare(a, b)
    assert v.kind == "beat" and v.winner == "a" and "paired" in v.test.name
    b.measures[0].eval_set = "other"  # not the same examples: no pairing, the noise hides the gain
    assert compare(a, b).kind == "tie"


def test_paired_accuracies_use_mcnemar():
    rng = np.random.default_rng(5)
    a = rng.random(400) < 0.7
    b = a.copy()
    b[np.nonzero(a)[0][:25]] = False  # b is a with 25 answers wrong
    ma = measure("accuracy", a.mean(), examples={"correct": a, "count": np.ones(400), "loss": np.zeros(400)},
                 eval_set="x")
    mb = measure("accuracy", b.mean(), examples={"correct": b, "count": np.ones(400), "loss": np.zeros(400)},
                 eval_set="x")
    v = compare(Result("a", "accuracy", [ma], chance=0.125), Result("b", "accuracy", [mb], chance=0.125))
    assert "McNemar" in v.test.name and v.kind == "beat"  # 25 discordant pairs all one way: p = 2^-24
    assert v.test.p == pytest.approx(2 * 0.5 ** 25)


def test_an_old_sweep_loss_without_examples_is_untested():
    a = Result("a", "mse", [measure("mse", 0.02)], chance=1 / 6)
    b = Result("b", "mse", [measure("mse", 0.03)], chance=1 / 6)
    assert a.summary["low"] is None
    assert stats.chance_position(a) is None
    assert compare(a, b).kind == "untested"


def test_bits_per_char_interval_is_in_bits():
    rng = np.random.default_rng(6)
    nats = rng.normal(1.4, 0.3, size=200) * 100
    m = measure("bits_per_char", nats.sum() / 20_000 / math.log(2),
                examples={"loss": nats, "count": np.full(200, 100)})
    assert m.low < m.value < m.high and m.value == pytest.approx(1.4 / math.log(2), rel=0.05)
