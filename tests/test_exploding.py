"""The exploding experiment on made-up rows: its one declared comparison (a setting with clipping against the
same setting without, `SAME_SETTING`) pairs only runs that differ in clipping alone, and names a winner only when
the gap is significant."""

import pytest

from training.sweep import experiments
from training.sweep.experiments import exploding
from tests.test_takeaways import group


def test_clipping_pairs_only_runs_that_differ_in_clipping_alone():
    groups = [group("irnn", "irnn", gain=1.0, task="adding", metric="mse", chance=1 / 6),
              group("irnn clip", "irnn", gain=1.0, clip=1.0, task="adding", metric="mse", chance=1 / 6),
              group("irnn [gain_1]", "irnn", gain=1.0, task="recall"),  # same model and gain, another task
              group("irnn [gain_2] clip", "irnn", "gain_2", gain=2.0, clip=1.0)]  # no unclipped partner
    pairs = [(a.label, b.label) for a, b in exploding.clipping_pairs(groups)]
    assert pairs == [("irnn", "irnn clip")]


@pytest.mark.parametrize("clipped, unclipped, winner", [(0.95, 0.30, "with"), (0.30, 0.95, "without"),
                                                        (0.50, 0.51, None)])
def test_the_clipping_verdict_names_a_winner_only_when_significant(clipped, unclipped, winner):
    groups = [group("simple_rnn [gain_2]", "simple_rnn", "gain_2", acc=unclipped, gain=2.0),
              group("simple_rnn [gain_2] clip", "simple_rnn", "gain_2", acc=clipped, gain=2.0, clip=1.0)]
    (sentence,) = [s for s in experiments.get("exploding").findings(groups, []) if s.startswith("With against")]
    verdict = sentence.split(": ", 1)[1]
    if winner is None:
        assert "tie" in verdict and "beat" not in verdict
    elif winner == "with":
        assert verdict.startswith("simple_rnn [gain_2] clip (") and "beat simple_rnn [gain_2] (" in verdict
    else:
        assert verdict.startswith("simple_rnn [gain_2] (") and "beat simple_rnn [gain_2] clip (" in verdict
    text = experiments.get("exploding").takeaway(groups).text
    assert ("made training succeed" in text) == (winner == "with")
    assert ("no significant difference" in text) == (winner is None)


def test_the_plan_runs_the_declared_models():
    _, _, runs = exploding.plan(exploding.BUDGETS["smoke"], experiments._budget("smoke"))
    assert {r.model for r in runs if r.task == "adding"} == {exploding.ADDING_MODEL}
    assert {r.model for r in runs if r.task == "recall"} == set(exploding.GAIN_SWEEP_MODELS)
