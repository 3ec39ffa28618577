"""The exploding experiment on made-up rows: its one declared comparison (a setting with clipping against the
same setting without, `SAME_SETTING`) pairs only runs that differ in clipping alone, and names a winner only when
the gap is significant."""

import pytest

from training.sweep import experiments
from training.sweep.experiments import exploding
from training.sweep.results import RunRow
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


# ------------------------------------------------------------------------------------- gradients
def _clipping_groups(unclipped_max, clipped_max=2.0, acc=(0.30, 0.95)):
    # step norms of about 1 before the largest: the explosion ratio (rules.explosion_ratio) is the largest norm
    return [group("irnn [gain_2]", "irnn", "gain_2", acc=acc[0], gain=2.0, grad_norm_max=unclipped_max,
                  grad_norm_median=1.0, grad_norm_explosion_ratio=unclipped_max, key_gradient_decades=-1.0,
                  tt_log10_ratio_final=-0.5),
            group("irnn [gain_2] clip", "irnn", "gain_2", acc=acc[1], gain=2.0, clip=1.0, grad_norm_max=clipped_max,
                  grad_norm_median=1.0, grad_norm_explosion_ratio=clipped_max, key_gradient_decades=-1.0,
                  tt_log10_ratio_final=-0.5)]


def test_a_clipped_winner_whose_unclipped_partner_exploded_is_explained_by_the_explosion():
    lines = experiments.get("exploding").findings(_clipping_groups(1e9), [])
    verdict = next(s for s in lines if s.startswith("With against"))
    assert "irnn [gain_2] clip (0.95) beat irnn [gain_2]" in verdict
    why = lines[lines.index(verdict) + 1]
    assert why.startswith("Why irnn [gain_2] clip is ahead: irnn [gain_2] had its step norm explode")
    assert "1e9 times the median of the steps before it" in why and "irnn [gain_2] clip did not" in why
    # no explosion: the same weights at initialisation, so the same gradient there, and no sentence about it
    lines = experiments.get("exploding").findings(_clipping_groups(3.0), [])
    assert any(s.startswith("With against without clipping: irnn [gain_2] clip (0.95) beat") for s in lines)
    assert not any(s.startswith(("Why", "The gradient")) for s in lines)
    # a tie: no gradient sentence
    lines = experiments.get("exploding").findings(_clipping_groups(1e9, acc=(0.5, 0.5)), [])
    assert not any(s.startswith(("Why", "The gradient")) for s in lines)


def test_the_table_adds_the_gradient_at_the_key_but_not_a_second_step_norm_column():
    from training.sweep.tables import make_table

    groups = _clipping_groups(1e9)
    table = make_table(exploding.exploding_columns(groups), groups)
    columns = table["columns"]
    assert "Gradient at key, init (decades)" in columns and "Gradient at key, end (decades)" in columns
    assert "Max ‖g‖" in columns and "Largest step norm" not in columns  # Max ‖g‖ and Max / median are it
    assert dict(zip(columns, table["rows"][0]))["Gradient at key, init (decades)"] == "-1.00"
    assert not any("Largest step norm:" in n for n in table["notes"])


def test_the_figures_add_one_through_time_profile_per_setting_and_no_second_norm_trace(tmp_path):
    from tests.test_grid_gradients import _run_folder

    rows = []
    for task, setting in (("adding", "IRNN on adding (Adam)"), ("recall", "gain sweep on recall (SGD)")):
        for clip in (None, 1.0):
            name = f"{task}-{clip}"
            rows.append(RunRow(experiment="exploding", id=name, label="irnn" + (" clip" if clip else ""),
                               model="irnn", setting="default", initialization="init", task=task,
                               task_values="", task_params={}, seed=0, status="finished", metric="accuracy",
                               test_metric=0.5, clip=clip, group=setting,
                               run_dir=_run_folder(tmp_path, name, -1.0, [1.0, 1e6] * 6)))
    out = tmp_path / "report"
    out.mkdir()
    made = exploding.exploding_figures(tmp_path, rows, out, "exploding")
    names = [p.name for p, _ in made]
    assert names[0] == "exploding_norms.png"  # its own norm trace, the summary's figure, stays first
    assert "exploding_adding_through_time.png" in names and "exploding_recall_through_time.png" in names
    assert not any(n.endswith("_grad_norms.png") for n in names)
    captions = dict((p.name, c) for p, c in made)
    assert captions["exploding_adding_through_time.png"].startswith("IRNN on adding (Adam):")
