"""The char-LM experiment on made-up rows and on its plans: the parallel-scan cells beside the LSTM and GRU at
equal parameter counts (standard and full), the quick budget's one GRU, and the comparisons it declares (a
winner named only when the gap is significant, a tie otherwise; where the new cells lose, the takeaway
says so)."""

from __future__ import annotations

import pytest

from training.sweep import experiments
from training.sweep.experiments import char_lm
from training.sweep.results import RunRow, group_rows

UNIGRAM = 4.7  # bits/char


def rows_of(bits: dict, parameters: dict | None = None, param_budget=150_000, keys: dict | None = None):
    """{spec: [bits per character per seed]} -> rows of finished char-LM runs (`keys`: {spec: the gradient at
    the first position at initialisation, decades}, the same for every seed)."""
    out = []
    for spec, values in bits.items():
        model, _, setting = spec.partition(":")
        label = model if not setting else f"{model} [{setting}]"
        for seed, v in enumerate(values):
            out.append(RunRow(experiment="char_lm", id=f"{label}-{seed}", label=label, model=model,
                              setting=setting or "default", initialization="init", task="char_lm",
                              task_values="seq_len=64", task_params={"seq_len": 64}, seed=seed, status="finished",
                              metric="bits_per_char", chance=UNIGRAM, test_metric=v, param_budget=param_budget,
                              parameters=(parameters or {}).get(spec), baselines={"4gram": 2.65},
                              key_gradient_decades=(keys or {}).get(spec)))
    return out


def test_standard_and_full_run_the_scan_cells_beside_lstm_and_gru_at_one_parameter_count(tmp_path):
    for budget in ("standard", "full", "smoke"):
        [planned] = experiments.suite("seed-problems", budget, experiments=["char_lm"], corpus_dir=tmp_path)
        models = {r.model for r in planned.runs}
        assert set(char_lm.SCAN) <= models and {"lstm", "gru"} <= models, budget
        budgets = {r.config["param_budget"] for r in planned.runs}
        assert len(budgets) == 1 and None not in budgets, budget  # every model sized to the same count
        assert str(next(iter(budgets))).replace("_", "") in planned.settings["param_budget"].replace(",", "")
    # --param-budget, given for the whole suite, wins over the experiment's own
    [planned] = experiments.suite("seed-problems", "standard", experiments=["char_lm"], corpus_dir=tmp_path,
                                  param_budget=50_000)
    assert {r.config["param_budget"] for r in planned.runs} == {50_000}


def test_the_quick_budget_runs_the_gru_alone_at_one_width(tmp_path):
    [planned] = experiments.suite("seed-problems", "quick", experiments=["char_lm"], corpus_dir=tmp_path)
    assert [r.model for r in planned.runs] == ["gru"]
    assert all(r.config["param_budget"] is None and r.config["units"] == 128 for r in planned.runs)
    omitted = next(note for note in planned.omitted if note.startswith("variants:"))  # said in the report
    assert "min_gru" in omitted and "lstm" in omitted


@pytest.mark.parametrize("seeds", [1, 3])
def test_each_declared_comparison_names_the_winner_only_when_the_gap_is_significant(seeds):
    mean = {"simple_rnn": 2.40, "lstm": 1.90, "gru": 1.92, "min_gru": 2.10, "min_lstm": 1.905, "lru": 1.91}
    spread = (0.0, 0.01, -0.01)[:seeds]
    bits = {m: [v + d for d in spread] for m, v in mean.items()}
    groups = group_rows(rows_of(bits))
    made = char_lm.comparisons(groups, char_lm.AGAINST_SIMPLE_RNN + char_lm.SCAN_AGAINST_GATED)
    assert {(c.a, c.b) for c, _, _ in made} == {(c.a, c.b) for c in char_lm.AGAINST_SIMPLE_RNN
                                                + char_lm.SCAN_AGAINST_GATED}
    text = char_lm.findings_char_lm(groups, [r for g in groups for r in g.rows])
    for c, a, verdict in made:
        if seeds == 1:  # one seed and no per-example file: the difference cannot be tested, so nobody wins
            assert verdict.kind == "untested" and verdict.winner is None
        elif abs(mean[c.a] - mean[c.b]) >= 0.05:
            assert verdict.kind == "beat"
            assert verdict.winner == (c.a if mean[c.a] < mean[c.b] else c.b)  # fewer bits per character wins
        else:
            assert verdict.kind == "tie" and verdict.winner is None
        assert verdict.text in text


def test_the_takeaway_says_where_a_scan_cell_loses_and_not_when_it_ties():
    seeds = (0.0, 0.01, -0.01)
    losing = group_rows(rows_of({"lstm": [1.9 + d for d in seeds], "min_lstm": [2.2 + d for d in seeds]},
                                parameters={"lstm": 148_546, "min_lstm": 149_000}))
    text = char_lm.takeaway(losing).text
    assert "lstm (1.9) beat min_lstm (2.2)" in text and "Where they lose (min_lstm)" in text
    assert "150,000 parameters: 148,546 to 149,000" in text  # the parameter count the comparison was made at
    tying = group_rows(rows_of({"lstm": [1.9 + d for d in seeds], "min_lstm": [1.9 - d for d in seeds]}))
    text = char_lm.takeaway(tying).text
    assert "tie" in text and "Where they lose" not in text
    # without a scan cell in the sweep (the quick budget) there is no sentence about them
    assert "parallel-scan" not in char_lm.takeaway(group_rows(rows_of({"lstm": [1.9], "gru": [1.95]}))).text


def test_runs_at_one_width_are_not_described_as_equal_in_parameters():
    groups = group_rows(rows_of({"lstm": [1.9], "gru": [1.95]}, parameters={"lstm": 148_546, "gru": 116_034},
                                param_budget=None))
    text = " ".join(char_lm.findings_char_lm(groups, [r for g in groups for r in g.rows]))
    assert "sized to about" not in text and "sized to about" not in char_lm.takeaway(groups).text


def test_a_model_counts_as_below_a_baseline_only_with_its_whole_interval_below():
    seeds = (0.0, 0.02, -0.02)
    groups = group_rows(rows_of({"lstm": [2.3 + d for d in seeds],  # interval well below the 4-gram's 2.65
                                 "gru": [2.64 + d for d in seeds],  # its mean below, its interval not
                                 "simple_rnn": [2.9 + d for d in seeds]}))
    text = char_lm.takeaway(groups).text
    assert "4gram 2.65" in text and "1 of 3 models were below the 4gram (their whole 95% interval): lstm." in text
    one_seed = group_rows(rows_of({"lstm": [2.3], "gru": [2.64]}))  # no interval: none can be counted below
    assert "0 of 2 models were below the 4gram" in char_lm.takeaway(one_seed).text


# ------------------------------------------------------------------------------------- gradients
def test_a_comparison_the_gradient_separates_says_why_and_one_it_does_not_claims_no_reason():
    seeds = (0.0, 0.01, -0.01)
    bits = {"lstm": [1.9 + d for d in seeds], "gru": [1.95 + d for d in seeds], "simple_rnn": [2.4 + d for d in seeds]}
    groups = group_rows(rows_of(bits, parameters={"lstm": 148_546, "gru": 149_001, "simple_rnn": 150_100},
                                keys={"lstm": -0.4, "gru": -2.1, "simple_rnn": -3.0}))
    lines = char_lm.findings_char_lm(groups, [r for g in groups for r in g.rows])
    lstm = next(s for s in lines if s.startswith("lstm (1.9) beat simple_rnn"))
    assert "(148,546 vs 150,100 parameters; matched to --param-budget 150,000 as closely as whole widths allow)" in lstm
    after = lines[lines.index(lstm) + 1]
    assert after.startswith("Why lstm is ahead: at initialisation the gradient reaching the first position was -0.40 "
                            "decades for lstm against -3.00 for simple_rnn")
    gru = next(s for s in lines if s.startswith("gru (1.95) beat simple_rnn"))
    assert lines[lines.index(gru) + 1].startswith("The gradient at the first position does not separate them")
    assert sum(s.startswith("Why") for s in lines) == 1


def test_the_table_and_the_figures_show_the_gradients(tmp_path):
    from tests.test_grid_gradients import _run_folder
    from training.sweep.tables import make_table

    rows = rows_of({"lstm": [1.9], "gru": [1.95]}, keys={"lstm": -0.4, "gru": -2.1})
    for r in rows:
        r.run_dir = _run_folder(tmp_path, r.label, r.key_gradient_decades, [1.0] * 12)
        r.tt_log10_ratio_final, r.grad_norm_max, r.grad_norm_median = -0.1, 3.0, 1.0
    groups = group_rows(rows)
    table = make_table(char_lm.char_lm_columns(groups), groups)
    cells = dict(zip(table["columns"], table["rows"][0]))
    assert cells["Gradient at first position, init (decades)"] == "-0.40"
    assert cells["Gradient at first position, end (decades)"] == "-0.10"
    assert cells["Largest step norm"] == "3 (3x median)"
    out = tmp_path / "report"
    out.mkdir()
    names = [p.name for p, _ in char_lm.char_lm_figures(tmp_path, rows, out, "char_lm")]
    # after the experiment's own (the first is the summary's), one pair
    assert names[-2:] == ["char_lm_through_time.png", "char_lm_grad_norms.png"] and len(names) > 2


def test_the_takeaway_gives_the_gradient_reason_and_the_sizes_beside_its_verdict():
    seeds = (0.0, 0.01, -0.01)
    groups = group_rows(rows_of({"lstm": [1.9 + d for d in seeds], "simple_rnn": [2.4 + d for d in seeds]},
                                parameters={"lstm": 148_546, "simple_rnn": 150_100},
                                keys={"lstm": -0.4, "simple_rnn": -3.0}))
    text = char_lm.takeaway(groups).text
    assert "(148,546 vs 150,100 parameters; matched to --param-budget 150,000" in text
    assert "Why lstm is ahead: at initialisation the gradient reaching the first position was -0.40" in text
    close = group_rows(rows_of({"lstm": [1.9 + d for d in seeds], "simple_rnn": [2.4 + d for d in seeds]},
                               keys={"lstm": -0.4, "simple_rnn": -0.9}))
    assert "Why" not in char_lm.takeaway(close).text
