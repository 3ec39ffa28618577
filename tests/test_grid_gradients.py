"""A grid's report shows each run's gradients and says why one model is ahead only when the gradient
separates them (`training.sweep.gradient_evidence`); p-values, parameter counts and the legend of
initializations as issue 22 asks. Synthetic rows, plus real run files for the figures."""

import json

import numpy as np
import pytest

from training.sweep import experiments, gradient_evidence, stats
from training.sweep.experiments import grid as grid_module
from training.sweep.results import RunRow
from training.sweep.tables import aggregate, initialization_legend, make_table


def row(label, test_metric, key=None, seed=0, n=1000, parameters=None, model=None, initialization="init", **fields):
    """A finished recall run with `n` test examples (the correct count from the accuracy) whose gradient
    at the key at initialisation was `key` decades."""
    return RunRow(experiment="grid", id=f"{label}-{seed}", label=label, model=model or label, setting="default",
                  initialization=initialization, task="recall", task_values="gap=30", task_params={"gap": 30},
                  seed=seed, status="finished", metric="accuracy", chance=0.125, test_metric=test_metric,
                  n_eval=n, n_eval_tokens=n, test_correct=round(test_metric * n), key_gradient_decades=key,
                  parameters=parameters, **fields)


def findings(rows):
    return experiments.get("grid").findings(aggregate(rows), rows)


def why(lines):
    return [s for s in lines if s and s.startswith("Why")]


def test_the_why_sentence_names_the_gradient_when_it_separates_the_models():
    rows = [row("simple_rnn", 1.0, key=-0.15), row("lstm", 0.28, key=-2.75)]
    lines = findings(rows)
    [sentence] = why(lines)
    assert "simple_rnn" in sentence.split(":")[0]  # the winner is the one explained
    assert "-0.15" in sentence and "-2.75" in sentence and "one seed each" in sentence
    assert "400 times" in sentence  # 10^(2.6)
    takeaway = experiments.get("grid").takeaway(aggregate(rows)).text
    assert "Why simple_rnn is ahead" in takeaway


def test_no_reason_is_claimed_when_the_gradients_do_not_separate():
    close = [row("bidirectional_lstm", 1.0, key=-1.55, model="bidirectional_lstm"), row("lstm", 0.25, key=-1.56)]
    lines = findings(close)
    assert not why(lines)
    assert any("does not separate them" in s for s in lines)
    assert "Why" not in experiments.get("grid").takeaway(aggregate(close)).text
    # the winner with the smaller gradient: separated, but it is no reason for the win
    backwards = [row("a", 1.0, key=-3.0), row("b", 0.3, key=-0.1)]
    lines = findings(backwards)
    assert not why(lines) and any("does not explain it" in s for s in lines)
    # several seeds whose intervals overlap are not separated even by a mean 1.2 decades apart
    spread = [row("a", 1.0, key=k, seed=s) for s, k in enumerate((-0.1, -2.5, -0.3))] + \
             [row("b", 0.3, key=k, seed=s) for s, k in enumerate((-1.0, -3.0, -2.0))]
    s = gradient_evidence.separates(*aggregate(spread))
    assert s["difference"] > 1 and not s["separated"] and "overlap" in s["evidence"]
    assert not why(findings(spread))


def test_a_tie_gets_no_reason_and_a_gradient_less_sweep_no_sentence():
    tie = [row("a", 0.50, key=-0.1), row("b", 0.51, key=-4.0)]
    lines = findings(tie)
    assert any(" tie " in s for s in lines) and not why(lines) and not any("separate" in s for s in lines)
    assert not any("separate" in (s or "") or "Why" in (s or "") for s in findings([row("a", 1.0), row("b", 0.3)]))


def test_an_exploding_loser_is_the_reason_named():
    rows = [row("gru", 0.9, key=-1.0, grad_norm_max=2.0, grad_norm_median=1.0, grad_norm_explosion_ratio=2.0),
            row("irnn", 0.3, key=-1.1, grad_norm_max=1e9, grad_norm_median=1.0, grad_norm_explosion_ratio=1e9,
                model="irnn")]
    [sentence] = why(findings(rows))
    assert sentence.startswith("Why gru is ahead: irnn had its step norm explode")
    assert "1e9 times the median of the steps before it" in sentence
    assert "gru did not" in sentence
    # the winner exploding too is no reason: then the key gradient (here 0.1 decade apart) decides, and does not
    both = [row("gru", 0.9, key=-1.0, grad_norm_max=1e9, grad_norm_median=1.0, grad_norm_explosion_ratio=1e9), rows[1]]
    assert not why(findings(both))
    # a loser that converged (largest step 1e4 x its median, but its first: nothing before it) did not explode
    converged = [rows[0], row("irnn", 0.3, key=-1.1, grad_norm_max=1.0, grad_norm_median=1e-4,
                              grad_norm_explosion_ratio=1.2, model="irnn")]
    assert not any("explode" in s for s in why(findings(converged)))


def test_the_table_has_the_gradient_columns_and_their_note():
    rows = [row("simple_rnn", 1.0, key=-0.15, tt_log10_ratio_final=0.33, grad_norm_max=4.2, grad_norm_median=0.1),
            row("lstm", 0.28, key=-2.75, tt_log10_ratio_final=-3.36)]
    groups = aggregate(rows)
    table = make_table(experiments.get("grid").columns(groups), groups)
    assert "Gradient at key, init (decades)" in table["columns"] and table["columns"][-1] == "Flags"
    cells = dict(zip(table["columns"], table["rows"][0]))
    assert cells["Gradient at key, init (decades)"] == "-0.15" and cells["Gradient at key, end (decades)"] == "+0.33"
    assert cells["Largest step norm"] == "4.2 (42x median)"
    assert dict(zip(table["columns"], table["rows"][1]))["Largest step norm"] == "–"
    assert sum("Gradient at the key" in n for n in table["notes"]) == 1


@pytest.mark.parametrize("p, text", [(1e-6, "p = 1e-6"), (9.9e-7, "p < 1e-6"), (2e-218, "p < 1e-6"), (0.0, "p < 1e-6"),
                                     (3e-5, "p = 3e-5"), (0.04, "p = 0.04")])
def test_p_values_below_one_in_a_million_print_as_a_bound(p, text):
    assert stats.p_words(p) == text
    assert stats.Test("a test", p, 0.1).words() == f"a test, {text}"


def test_the_report_sentences_print_tiny_p_values_as_a_bound():
    lines = findings([row("simple_rnn", 1.0), row("lstm", 0.28)])  # McNemar on 1,000: p ~ 1e-218
    assert any("p < 1e-6" in s for s in lines) and not any("e-2" in s for s in lines)


def test_the_parameter_note_is_beside_the_verdict_only_when_the_counts_differ():
    differ = findings([row("bidirectional_lstm", 1.0, parameters=17024, model="bidirectional_lstm"),
                       row("lstm", 0.3, parameters=8960)])
    verdict = next(s for s in differ if " beat " in s)
    assert "(17,024 vs 8,960 parameters; `--param-budget N` compares at equal size)" in verdict
    same = findings([row("gru", 1.0, parameters=8960), row("lstm", 0.3, parameters=8960)])
    assert not any("parameters" in s for s in same)
    budget = findings([row("gru", 1.0, parameters=9012, param_budget=9000), row("lstm", 0.3, parameters=8960,
                                                                                 param_budget=9000)])
    assert any("matched to --param-budget 9,000" in s for s in budget)
    text = experiments.get("grid").takeaway(aggregate([row("gru", 1.0, parameters=9012),
                                                       row("lstm", 0.3, parameters=8960)])).text
    assert "(9,012 vs 8,960 parameters" in text


def test_the_legend_lists_each_initialization_once():
    words = "Keras defaults: one orthogonal recurrent matrix, forget-gate bias 1"
    rows = [row("lstm", 0.3, initialization=words), row("bidirectional_lstm", 1.0, initialization=words,
                                                         model="bidirectional_lstm"),
            row("simple_rnn", 0.5, initialization="orthogonal recurrent kernel"),
            row("lstm", 0.3, seed=1, initialization=words)]
    legend = initialization_legend(aggregate(rows))
    assert legend == [f"`lstm`, `bidirectional_lstm`: {words}", "`simple_rnn`: orthogonal recurrent kernel"]
    assert len(set(legend)) == len(legend) and sum(words in line for line in legend) == 1


# ------------------------------------------------------------------------------- figures from files
def _run_folder(folder, name, key_decades, norms):
    """A run folder with the gradient files the instruments write: gradients.csv and the through-time
    profiles (init and end), as `training.instruments.readers` reads them."""
    run = folder / "runs" / name
    run.mkdir(parents=True)
    lines = ["step,step_loss,grad_norm,grad_norm_clipped,grad_clipped"]
    lines += [f"{i},{1.0 / (i + 1)},{v},{v},0" for i, v in enumerate(norms)]
    (run / "gradients.csv").write_text("\n".join(lines) + "\n")
    t = 32
    lag = np.arange(t - 1, -1, -1)
    init = 10.0 ** (key_decades * lag / (t - 1))  # position 0 (lag t-1) at 10^key of the last input
    np.savez(run / "gradient_through_time.npz", steps=np.array([0, 200]), lag=lag,
             embedding=np.stack([init, init ** 1.2]))
    return f"runs/{name}"


def test_the_grid_figures_include_the_through_time_profile_and_the_norm_trace(tmp_path):
    norms = [1.0, 2.0, float("nan"), 0.5] + [0.3] * 20
    rows = [row("simple_rnn", 1.0, key=-0.15, run_dir=_run_folder(tmp_path, "a", -0.15, [1.0] * 24)),
            row("lstm", 0.3, key=-2.75, run_dir=_run_folder(tmp_path, "b", -2.75, norms))]
    out = tmp_path / "report"
    out.mkdir()
    made = grid_module.grid_figures(tmp_path, rows, out, "grid")
    names = [p.name for p, _ in made]
    assert "grid_recall_gap30_through_time.png" in names and "grid_recall_gap30_grad_norms.png" in names
    for path, caption in made:
        assert path.is_file() and path.stat().st_size > 5000 and caption
    # without gradient files the two figures are left out, not drawn empty
    bare = [row("x", 1.0, run_dir="runs/none"), row("y", 0.3, run_dir="runs/none2")]
    names = [p.name for p, _ in grid_module.grid_figures(tmp_path, bare, out, "bare")]
    assert not any("through_time" in n or "grad_norms" in n for n in names)


def test_results_json_of_the_report_is_unchanged_in_shape():
    # the grid's columns stay a list of (header, cell[, note]) that make_table accepts with the others
    rows = [row("a", 0.9, key=-0.1)]
    groups = aggregate(rows)
    table = make_table(grid_module.grid_columns(groups), groups)
    json.dumps(table)
    assert len(table["columns"]) == len(table["rows"][0]) == len(table["align"])


def test_several_seeds_with_apart_intervals_are_a_reason_stated_with_them():
    rows = [row("a", 1.0, key=k, seed=s) for s, k in enumerate((-0.1, -0.2, -0.15))] + \
           [row("b", 0.3, key=k, seed=s) for s, k in enumerate((-2.6, -2.8, -2.7))]
    [sentence] = why(findings(rows))
    assert "3 and 3 seeds, 95% intervals [" in sentence and "overlap" not in sentence


def test_two_models_of_one_architecture_get_two_line_styles_in_the_norm_trace(tmp_path, monkeypatch):
    from training.sweep import figures

    rows = [row("lstm", 0.3, run_dir=_run_folder(tmp_path, "a", -1.5, [0.2] * 10)),
            row("bidirectional_lstm", 1.0, model="bidirectional_lstm",
                run_dir=_run_folder(tmp_path, "b", -1.5, [0.5] * 10))]
    drawn = {}

    def keep(fig, path):
        drawn.update({line.get_label(): (line.get_color(), line.get_linestyle()) for line in fig.axes[0].get_lines()})
        return path

    monkeypatch.setattr(figures, "_save", keep)
    figures.gradient_norm_traces(tmp_path, rows, tmp_path / "x.png", "t")
    assert drawn["lstm"][0] == drawn["bidirectional_lstm"][0]  # one architecture, one colour
    assert drawn["lstm"][1] != drawn["bidirectional_lstm"][1]  # told apart by the line style


def test_a_tiny_real_grid_report_shows_the_gradients(tmp_path):
    import contextlib
    import io

    from training import compare

    folder = tmp_path / "g"
    argv = ["--models", "simple_rnn,lstm", "--tasks", "recall", "--task-param", "gap=4", "--task-param",
            "eval_size=64", "--units", "8", "--batch-size", "16", "--steps", "3"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert compare.main([*argv, "--output", str(folder), "--jobs", "1", "--quiet"]) == 0
    report = folder / "report"
    md = (report / "report.md").read_text()
    assert "| Gradient at key, init (decades) |" in md and "Largest step norm" in md
    for name in ("grid_recall_gap4_through_time.png", "grid_recall_gap4_grad_norms.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG" and f"]({name})" in md
    table = json.loads((report / "results.json").read_text())["experiments"][0]["table"]
    column = table["columns"].index("Gradient at key, init (decades)")
    assert all(r[column] not in ("–", "") for r in table["rows"])  # every run recorded its profile
    legend = md.split("**Initializations**")[1].split("###")[0]
    lines = [line for line in legend.splitlines() if line.startswith("- ")]
    assert len(lines) == len(set(lines)) == 2


def test_a_table_or_report_that_shows_one_already_leaves_that_gradient_column_or_figure_out(tmp_path):
    groups = aggregate([row("a", 0.9, key=-0.1, tt_log10_ratio_final=0.1, grad_norm_max=2.0, grad_norm_median=1.0),
                        row("b", 0.3)])
    headers = [c[0] for c in gradient_evidence.columns(groups, without=("init", "step norm"))]
    assert headers == ["Gradient at key, end (decades)"]
    [only] = gradient_evidence.columns(groups, without=("init", "step norm"))
    assert "Largest step norm" not in only[2] and only[2].startswith("Gradient at the key")  # its note, once
    assert gradient_evidence.columns(groups, without=gradient_evidence.COLUMN_KEYS) == []
    with pytest.raises(ValueError, match="Unknown gradient column.*known: init, end, step norm"):
        gradient_evidence.columns(groups, without=("start",))
    with pytest.raises(ValueError, match="Unknown gradient figure"):
        gradient_evidence.figures(tmp_path, [], tmp_path, "x", "x", without=("norms",))
    flags = [("Model", str), ("Flags", str)]
    assert [c[0] for c in gradient_evidence.with_columns(flags, groups)][-1] == "Flags"
    assert [c[0] for c in gradient_evidence.with_columns(flags[:1], groups)][-1] == "Largest step norm"
    # a column no run has a value for (a budget that did not record it) is not shown as a column of dashes
    unrecorded = aggregate([row("a", 0.9, key=-0.1), row("b", 0.3, key=-2.0)])
    assert [c[0] for c in gradient_evidence.columns(unrecorded)] == ["Gradient at key, init (decades)"]
    assert gradient_evidence.columns(aggregate([row("a", 0.9)])) == []


def test_the_metric_figure_names_two_models_of_one_architecture_apart(tmp_path, monkeypatch):
    """A grid of lstm and bidirectional_lstm draws both in the lstm panel of the metric-against-gap figure:
    with the same initialization their legend must not say "default" twice (the label tells them apart),
    while one model's two initializations are still named by the initialization."""
    from training.sweep import figures

    def at(label, gap, model=None, setting="default"):
        r = row(label, 0.5, model=model, seed=0)
        r.task_params, r.task_values, r.setting = {"gap": gap}, f"gap={gap}", setting
        return r

    legends, lines = [], []

    def keep(fig, path):
        legends.append([t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()
                        if not t.get_text().startswith("chance")])
        lines.append([len(c.lines[0].get_xdata()) for ax in fig.axes for c in ax.containers])  # errorbar series
        return path

    monkeypatch.setattr(figures, "_save", keep)
    rows = [at("lstm", g) for g in (10, 30)] + [at("bidirectional_lstm", g, "bidirectional_lstm") for g in (10, 30)]
    figures.metric_against(rows, "gap", tmp_path / "a.png", "t", "gap")
    assert legends[-1] == ["lstm", "bidirectional_lstm"], legends[-1]
    assert lines[-1] == [2, 2], lines[-1]  # each line goes through both gaps
    rows = [at("lstm", g) for g in (10, 30)] + [at("lstm [chrono]", g, "lstm", "chrono") for g in (10, 30)]
    figures.metric_against(rows, "gap", tmp_path / "b.png", "t", "gap")
    assert legends[-1] == ["default", "chrono"], legends[-1]


def test_a_warning_names_which_task_value_of_a_shared_label():
    """Flags of one model at two gaps name the gap ("lstm on recall gap=8"), not "lstm, lstm"; a label met
    once stays bare."""
    from training.sweep.findings import flagged

    def at(label, gap, **fields):
        r = row(label, 0.5, **fields)
        r.task_params, r.task_values = {"gap": gap}, f"gap={gap}"
        return r

    rows = [at("lstm", 4, loss_still_falling=True), at("lstm", 8, loss_still_falling=True),
            at("gru", 4, loss_still_falling=True), at("gru", 8, loss_still_falling=False)]
    [sentence] = [s for s in flagged(aggregate(rows)) if s.startswith("Not converged")]
    assert sentence.endswith(": lstm on recall gap=4, lstm on recall gap=8, gru."), sentence
