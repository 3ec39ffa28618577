"""The rules of `training.core.rules`, each on synthetic numbers chosen so that a different threshold
(or the producer and the report disagreeing) fails."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from training.core import rules
from training.sweep import results


def test_constants():
    assert rules.LN2 == pytest.approx(0.693147, abs=1e-6)
    assert rules.higher_is_better("accuracy") and not rules.higher_is_better("bits_per_char")
    assert not rules.higher_is_better("an unknown metric")


def test_solved_is_reaching_the_accuracy_threshold_and_the_first_such_step_is_steps_to_solve():
    just_below, at = rules.SOLVED_ACCURACY - 0.01, rules.SOLVED_ACCURACY
    assert rules.reached(at, rules.SOLVED_ACCURACY) and not rules.reached(just_below, rules.SOLVED_ACCURACY)
    assert not rules.reached(float("nan"), 0.5) and not rules.reached(None, 0.5)
    # 0.85 would be "solved" at step 100 under a threshold of 0.8; only 0.91 counts at 0.9
    assert rules.first_step_reaching([100, 200, 300], [0.85, 0.91, 0.99], rules.SOLVED_ACCURACY) == 200
    assert rules.first_step_reaching([100, 200], [0.1, 0.2], rules.SOLVED_ACCURACY) is None
    assert rules.first_step_reaching([100, 200], [0.5, 0.05], 0.1, higher_is_better=False) == 200


def test_loss_over_chance_has_one_limit():
    chance = math.log(8)
    assert rules.loss_over_chance(rules.LOSS_OVER_CHANCE_LIMIT * chance * 1.01, chance)
    assert not rules.loss_over_chance(rules.LOSS_OVER_CHANCE_LIMIT * chance * 0.99, chance)
    assert rules.loss_over_chance(float("inf"), chance) and rules.loss_over_chance(float("nan"), chance)
    assert not rules.loss_over_chance(1e9, None)  # no chance loss: no verdict


def test_hidden_overflow():
    assert rules.hidden_overflow(rules.HIDDEN_NORM_LIMIT * 2) and rules.hidden_overflow(float("nan"))
    assert not rules.hidden_overflow(rules.HIDDEN_NORM_LIMIT / 2) and not rules.hidden_overflow(None)


def test_zero_gradient_needs_the_minimum_stretch_at_the_end():
    n = rules.ZERO_GRADIENT_MIN_STEPS
    steps = list(range(1, 21))
    norms = [1.0] * (20 - n) + [0.0] * n
    assert rules.zero_gradient_from(steps, norms) == steps[20 - n]
    short = [1.0] * (21 - n) + [0.0] * (n - 1)  # one record too short
    assert rules.zero_gradient_from(steps, short) is None
    assert rules.zero_gradient_from(steps, [0.0] * 10 + [1.0] * 10) is None  # recovered
    assert rules.zero_gradient_from(steps, [0.0] * 20) == 1


def test_still_falling_on_curves():
    steps = np.arange(0, 1001, 50)
    assert rules.still_falling(steps, 2.0 * np.exp(-steps / 2000) + 0.1) is True  # cut off mid-descent
    assert rules.still_falling(steps, 2.0 * np.exp(-steps / 50) + 0.1) is False  # converged early
    rng = np.random.default_rng(7)
    assert rules.still_falling(steps, 2.08 + rng.normal(0, 0.01, len(steps))) is False  # flat at chance
    assert rules.still_falling([100, 200, 300], [3, 2, 1]) is None  # too few points to say
    # the tail drops by 5% of the total drop: falling under a 1% rule, not under the 10% one
    slow = np.r_[np.linspace(3.0, 1.0, 15), np.linspace(1.0, 0.9, 6)]
    assert rules.still_falling(steps, slow) is False
    assert rules.still_falling(steps, np.r_[np.linspace(3.0, 1.0, 15), np.linspace(1.0, 0.6, 6)]) is True


def test_the_producer_and_the_report_apply_the_same_zero_gradient_rule():
    n = rules.ZERO_GRADIENT_MIN_STEPS
    for zeros in (n - 1, n):
        norms = [1.0] * 10 + [0.0] * zeros
        frame = pd.DataFrame({"step": range(len(norms)), "grad_norm": norms})
        assert results._zero_gradient_from(frame) == rules.zero_gradient_from(range(len(norms)), norms)


def test_the_report_and_the_producer_flag_the_same_loss_as_degenerate():
    from training.core import diagnostics

    chance = math.log(8)
    for factor in (0.5 * rules.LOSS_OVER_CHANCE_LIMIT, 2 * rules.LOSS_OVER_CHANCE_LIMIT):
        loss = factor * chance
        producer = diagnostics.degenerate({"loss": 1.0}, chance, loss, None, None, 60)["flag"]
        row = results.RunRow(status="finished", test={"loss": loss}, chance_loss=chance, metric="accuracy")
        report = results._degenerate({}, row, {}).get("degenerate", False)
        assert producer == report == (factor > rules.LOSS_OVER_CHANCE_LIMIT)


# ------------------------------------------------------------------------------------------- exploding
@pytest.mark.parametrize("norms, exploded", [
    ([1, 1, 1, 1e6, 1], True),                                   # a burst after ordinary steps
    ([1e6, 1, 1, 1, 1, 1, 1], True),                             # a first step far above the next ones (gain 2)
    ([1.0] * 50 + [10 ** (k / 5) for k in range(1, 31)], True),  # growing six decades after a calm start
    ([1.0] * 20 + [1e-4] * 200 + [1e3], True),                   # converged, then a step 1e7 x what came before
    ([10 ** (-5 * i / 199) for i in range(200)], False),         # converging: 1 ... 1e-5, the first step largest
    ([1.0] * 5 + [1e-4] * 500, False),                           # converged fast: median 1e-4, max 1, no explosion
    ([1, 2, 1, 3, 1, 2] * 20, False),                            # noisy but calm
    ([1, 1, 1, 90, 1], False), ([1, 1, 1, 110, 1], True),        # the threshold: EXPLODING_RATIO x
    ([float("nan"), 1, 1, 1, 1e6], True),                        # NaN/Inf steps are left out
    ([0.0, 0.0, 0.0, 0.0, 0.0, 3.0], False),                     # zero gradients are another rule's (degenerate)
    ([5.0], False), ([], False),
])
def test_exploding_is_the_largest_step_against_the_steps_before_it(norms, exploded):
    assert rules.exploding(rules.explosion_ratio(norms)) == exploded
    # the rule's old form, the largest step against the run's median, flags the converged runs too
    finite = [v for v in norms if math.isfinite(v)]
    if len(finite) > 100 and not exploded and finite[0] == max(finite):
        assert max(finite) > rules.EXPLODING_RATIO * float(np.median(finite))


def test_the_explosion_ratio_is_against_the_median_before_the_largest_step():
    assert rules.explosion_ratio([2, 4, 6, 8, 10, 12, 900, 1]) == pytest.approx(900 / 7)  # the six before it
    assert rules.explosion_ratio([2, 4, 6, 600, 1]) == pytest.approx(600 / 3)  # too few before: 2, 4, 6 and 1
    assert rules.explosion_ratio([1, 2, 3, 600, 700, 800, 1000]) == pytest.approx(1000 / 301.5)  # all six before it
    assert rules.explosion_ratio([600, 2, 2, 2, 2, 2, 1]) == pytest.approx(300)  # the first 5 others
    assert rules.exploding(float("inf")) and not rules.exploding(float("nan")) and not rules.exploding(None)


def test_the_report_reads_the_explosion_ratio_from_the_step_norms():
    steps = pd.DataFrame({"step": range(6), "grad_norm": [1.0, 1.0, 1.0, 1e6, 1.0, float("nan")]})
    out = results._gradient_columns({"steps": steps, "through_time": None})
    assert out["grad_norm_explosion_ratio"] == pytest.approx(1e6)
    converged = pd.DataFrame({"step": range(300), "grad_norm": [10 ** (-5 * i / 299) for i in range(300)]})
    out = results._gradient_columns({"steps": converged, "through_time": None})
    assert out["grad_norm_max_over_median"] > rules.EXPLODING_RATIO  # the old rule's flag
    assert not rules.exploding(out["grad_norm_explosion_ratio"])
