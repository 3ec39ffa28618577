"""The long-term experiment on made-up rows and on its plans: the article's Kerala cloze against the number of
filler sentences (every budget, the quick budget small), the comparisons it declares (a winner named only when
the gap is significant, a tie otherwise), and each variant's answer to the article's own sentence, right or
wrong, with its seeds."""

from __future__ import annotations

import pytest

import zoo
from training.sweep import experiments, stats, tables
from training.sweep.experiments import long_term as lt
from training.sweep.results import RunRow, group_rows

N = 1000  # test examples: a difference of 0.05 in accuracy is significant, one of 0 never is
ARTICLE = "Jane was born in Kerala. Her family moved when she was young. Jane is very fluent in {}"


def row(spec, acc, task="kerala_cloze", seed=0, article=None, chance=1 / 16, fields=None, **params):
    """One finished run of variant `spec` ("model" or "model:setting") on `task` with `params` (and further
    `RunRow` `fields`: its gradients, parameters, run folder)."""
    model, _, setting = spec.partition(":")
    params = params or ({"fillers": 4} if task == "kerala_cloze" else {"gap": 100})
    label = model if not setting else f"{model} [{setting}]"
    fields = dict(fields or {})
    if article is not None:
        fields.update(article_answer=article, article_right="Malayalam", article_sentence=ARTICLE.format(article))
    return RunRow(experiment="long_term", id=f"{label}-{task}-{params}-{seed}", label=label, model=model,
                  setting=setting or "default", initialization="init", task=task,
                  task_values=" ".join(f"{k}={v}" for k, v in params.items()),
                  task_params={**params, "eval_size": N}, seed=seed, status="finished", metric="accuracy",
                  chance=chance, test_metric=acc, n_eval=N, n_eval_tokens=N, test_correct=round(acc * N),
                  group=task, **fields)


# ------------------------------------------------------------------------------------------ plans
@pytest.mark.parametrize("budget", experiments.BUDGETS)
def test_every_budget_plans_the_cloze_at_two_or_more_filler_counts_for_each_of_its_variants(budget):
    planned = experiments.suite("seed-problems", budget, experiments=["long_term"])[0]
    kerala = [r for r in planned.runs if r.task == "kerala_cloze"]
    counts = {r.task_params["fillers"] for r in kerala}
    assert len(counts) >= 2 and min(counts) >= 1, counts  # with 0 fillers the held-out sentences repeat
    labels = {r.label for r in kerala}
    seeds = {r.seed for r in planned.runs}
    for f in counts:  # the same variants and seeds at every count: a line against the fillers per variant
        assert {(r.label, r.seed) for r in kerala if r.task_params["fillers"] == f} == {(l, s) for l in labels
                                                                                       for s in seeds}
    assert all(r.model in zoo.list_models() and r.extra["solve"]["metric"] == "val_accuracy" for r in kerala)
    assert len({r.id for r in planned.runs}) == len(planned.runs)  # run folders never collide


def test_the_standard_budget_runs_every_architecture_on_the_cloze_and_quick_only_the_articles_four():
    standard = experiments.suite("seed-problems", "standard", experiments=["long_term"])[0]
    models = {r.model for r in standard.runs if r.task == "kerala_cloze"}
    assert {"simple_rnn", "irnn", "lstm", "gru", "self_attention"} <= models
    assert {r.task_params["fillers"] for r in standard.runs if r.task == "kerala_cloze"} == {1, 2, 4, 8}
    quick = experiments.suite("seed-problems", "quick", experiments=["long_term"])[0]
    kerala = [r for r in quick.runs if r.task == "kerala_cloze"]
    assert len({r.label for r in kerala}) == 4 and len({r.task_params["fillers"] for r in kerala}) == 2
    assert "fillers" in " ".join(quick.omitted)  # what the full budget runs and quick does not is said


# -------------------------------------------------------------------------------- comparisons
def _kerala_groups(accuracy: dict, fillers=4):
    return group_rows([row(spec, acc, fillers=fillers) for spec, acc in accuracy.items()])


def test_each_declared_comparison_at_the_most_fillers_names_the_winner_only_when_significant():
    accuracy = {"simple_rnn": 0.30, "lstm": 0.88, "gru": 0.86, "self_attention:causal_mask": 0.89,
                "lstm:forget_bias_3": 0.95, "gru:update_bias_3": 0.86}
    groups = group_rows([row(spec, 0.99, fillers=1) for spec in accuracy]
                        + [row(spec, acc, fillers=8) for spec, acc in accuracy.items()])
    text = lt.findings_long_term(groups, [r for g in groups for r in g.rows])
    at = [g for g in groups if g.task_params["fillers"] == 8]
    made = 0
    for comparison in lt.AT_MOST_FILLERS:
        a, b = comparison.pick(at)
        verdict = stats.compare(a.result, b.result, "at 8 filler sentences")
        va, vb = accuracy[comparison.a], accuracy[comparison.b]
        if abs(va - vb) >= 0.05:
            assert verdict.kind == "beat" and verdict.winner == (a if va > vb else b).label
        else:
            assert verdict.kind == "tie" and verdict.winner is None
        assert verdict.text in text  # the findings make every declared comparison, at the most fillers only
        made += 1
    assert made == len(lt.AT_MOST_FILLERS)
    assert not any("at 1 filler sentences" in t for t in text)


def test_the_cloze_is_read_against_its_fillers_not_as_a_task_with_a_baseline():
    groups = group_rows([row("lstm", a, fillers=f) for f, a in ((1, 0.99), (4, 0.9), (8, 0.2))]
                        + [row("simple_rnn", a, fillers=f) for f, a in ((1, 0.95), (4, 0.3), (8, 0.07))])
    text = lt.findings_long_term(groups, [r for g in groups for r in g.rows])
    assert any("— lstm: 4; simple_rnn: 1." in t for t in text)  # most fillers solved, per variant
    assert any(t.startswith("At 8 filler sentences the best was lstm (0.2") and "1 of 2 variants were at chance"
               in t for t in text)
    assert not any("a prediction that ignores the input" in t for t in text)
    [(_, table)] = [t for t in lt.recall_gap_tables(groups) if "filler" in t[0]]
    assert table["columns"] == ["Model", "1 filler", "4 fillers", "8 fillers"]
    assert [r[0] for r in table["rows"]] == ["lstm", "simple_rnn", "chance"]
    take = experiments.get("long_term").takeaway(groups).text
    assert "with 8 filler sentences" in take and "no variant solved it" in take
    assert "From 1 to 8 filler sentences: lstm 0.99 to 0.2; simple_rnn 0.95 to 0.07." in take
    assert "At chance there (1 in 16): simple_rnn." in take
    assert "lstm (0.2) beat simple_rnn (0.07) at 8 filler sentences" in take


# ------------------------------------------------------------------------------- the article's sentence
def test_every_variant_shows_its_answer_to_the_article_sentence_right_or_wrong_with_its_seeds():
    rows = [row("lstm", 0.9, seed=s, article=a, fillers=8) for s, a in enumerate(("Malayalam", "Tamil", "Malayalam"))]
    rows += [row("simple_rnn", 0.1, seed=s, article=a, fillers=8) for s, a in enumerate(("Tamil", "Greek", "Tamil"))]
    rows += [row("gru", 0.9, seed=s, article="Malayalam", fillers=1) for s in range(3)]  # not the most fillers
    rows += [row("gru", 0.9, seed=0, fillers=8)]  # recorded no answer (an older run): left out
    groups = group_rows(rows)
    text = lt.findings_long_term(groups, rows)
    lines = {t.split(" on the article's own sentence")[0]: t for t in text if "on the article's own sentence" in t}
    assert set(lines) == {"lstm", "simple_rnn"}  # each variant that answered, at the most filler sentences only
    assert f'"{ARTICLE.format("Malayalam")}" (right; seeds 0 and 2)' in lines["lstm"]
    assert f'"{ARTICLE.format("Tamil")}" (wrong, Malayalam is right; seed 1)' in lines["lstm"]
    assert f'"{ARTICLE.format("Tamil")}" (wrong, Malayalam is right; seeds 0 and 2)' in lines["simple_rnn"]
    assert "(right" not in lines["simple_rnn"]
    assert all("at 8 filler sentences" in t for t in lines.values())
    [(intro, table)] = lt.article_tables(groups)
    assert "8 filler sentences" in intro
    assert [r[:2] for r in table["rows"]] == [["lstm", "right"], ["simple_rnn", "wrong"]]
    take = experiments.get("long_term").takeaway(groups).text
    assert "(Malayalam is right), lstm answered it right; simple_rnn answered it wrong" in take
    assert lt.article_tables(group_rows([row("gru", 0.9)])) == []


# ------------------------------------------------------------------------------ the parallel-scan cells
def test_the_scan_cells_run_at_the_lstms_parameter_count_beside_a_gru_of_that_size():
    standard = experiments.suite("seed-problems", "standard", experiments=["long_term"])[0]
    for task in ("recall", "adding", "copy_memory", "temporal_order"):
        mine = [r for r in standard.runs if r.task == task]
        lstm = next(r for r in mine if r.label == "lstm")
        budgets = {r.config["param_budget"] for r in mine if r.model in lt.SCAN or r.label == "gru [matched]"}
        assert budgets == {lt.lstm_parameters(task, lstm.task_params, lstm.config["units"])}, task
        assert {r.model for r in mine if r.config["param_budget"]} == {*lt.SCAN, "gru"}
        assert all(r.config["param_budget"] is None for r in mine if r.model not in lt.SCAN and r.setting != "matched")
    quick = experiments.suite("seed-problems", "quick", experiments=["long_term"])[0]
    assert not [r for r in quick.runs if r.config["param_budget"] or r.model in lt.SCAN]  # make demo's time:
    vanishing = experiments.suite("seed-problems", "quick", experiments=["vanishing"])[0]  # its scan cells run there
    assert {"min_gru", "lru"} <= {r.model for r in vanishing.runs}


def test_each_scan_comparison_names_the_winner_only_when_significant_and_says_where_they_lose():
    accuracy = {"lstm": 0.95, "gru:matched": 0.60, "min_gru": 0.60, "min_lstm": 0.40, "lru": 0.96}
    rows = [row(spec, acc, task="recall", chance=1 / 8, gap=100) for spec, acc in accuracy.items()]
    rows += [row("min_gru", 0.9, task="recall", chance=1 / 8, gap=50)]  # no partner at gap 50: no comparison
    groups = group_rows(rows)
    made = lt.scan_comparisons(groups)
    assert len(made) == len(lt.SCAN_AGAINST_GATED)
    text = lt.findings_long_term(groups, rows)
    for comparison, a, verdict in made:
        va, vb = accuracy[comparison.a], accuracy[comparison.b]
        if abs(va - vb) >= 0.05:
            assert verdict.kind == "beat" and verdict.winner == (a.label if va > vb else comparison.pick(groups)[1].label)
        else:
            assert verdict.kind == "tie" and verdict.winner is None
        assert verdict.text in text
    take = experiments.get("long_term").takeaway(groups).text
    lose = take.split("Where they lose (")[1].split(")")[0]
    assert set(lose.split(" and ")) == {"min_gru", "min_lstm"}  # each cell that lost a comparison, lru not
    assert "lru" in take.split("Significantly better")[1]
    tie = group_rows([row("min_gru", 0.9, task="recall", chance=1 / 8, gap=100),
                      row("lstm", 0.9, task="recall", chance=1 / 8, gap=100)])
    assert "No difference between them was significant." in experiments.get("long_term").takeaway(tie).text


def test_the_quick_budget_runs_recall_and_copy_memory_the_irnn_and_chrono_on_recall_only_and_says_so():
    [planned] = experiments.suite("seed-problems", "quick", experiments=["long_term"])
    tasks_of = lambda label: {r.task for r in planned.runs if r.label == label}  # noqa: E731
    assert {r.task for r in planned.runs} == {"recall", "copy_memory", lt.KERALA}
    assert tasks_of("lstm [chrono]") == {"recall"} and not tasks_of("irnn")  # the exploding experiment's IRNN
    assert tasks_of("lstm [forget_bias_3]") == {"recall", "copy_memory"}  # (kerala_cloze runs the defaults)
    notes = planned.omitted  # the report's "what this budget leaves out" (the full budget's tasks)
    for label in ("gru [update_bias_3]", "lstm [chrono]"):
        note = next(n for n in notes if n.startswith(f"{label} on "))
        assert "copy_memory" in note, note
    for label in ("simple_rnn", "lstm [forget_bias_3]"):  # the tasks the quick budget leaves out, named
        note = next(n for n in notes if n.startswith(f"{label} on "))
        assert "adding" in note and "temporal_order" in note, note
    # the gradient at the key (the report's reason for the gate biases) and the step norms: on every task
    assert all(r.config["through_time"] and r.config["record_gradients"] for r in planned.runs)
    assert {"recall", "copy_memory", "kerala_cloze"} <= {r.task for r in planned.runs}


# ------------------------------------------------------------------------------------- gradients
def recall_rows(keys: dict, accuracy: dict, gap=100, seeds=1, **fields):
    """Recall runs at `gap`: {spec: gradient at the key at initialisation (decades)}, {spec: accuracy}."""
    return [row(spec, accuracy[spec], task="recall", chance=1 / 8, seed=s, gap=gap,
                fields={"key_gradient_decades": keys[spec] - 0.05 * s, **fields.get(spec, {})})
            for spec in keys for s in range(seeds)]


def why(lines):
    return [s for s in lines if s.startswith("Why")]


def test_a_winner_whose_gradient_at_the_key_is_three_decades_above_the_losers_is_explained_by_it():
    rows = recall_rows({"lstm": -0.5, "simple_rnn": -3.5}, {"lstm": 0.95, "simple_rnn": 0.13})
    groups = group_rows(rows)
    lines = lt.findings_long_term(groups, rows)
    [sentence] = why(lines)
    assert sentence.startswith("Why lstm is ahead: at initialisation the gradient reaching the key was -0.50 "
                               "decades for lstm against -3.50 for simple_rnn")
    assert "1,000 times more strongly" in sentence
    verdict = next(s for s in lines if s.startswith("lstm (0.95) beat simple_rnn"))
    assert lines.index(sentence) == lines.index(verdict) + 1  # right after the verdict it explains
    # the same with three seeds each: the intervals over the seeds are named
    rows = recall_rows({"lstm": -0.5, "simple_rnn": -3.5}, {"lstm": 0.95, "simple_rnn": 0.13}, seeds=3)
    [sentence] = why(lt.findings_long_term(group_rows(rows), rows))
    assert "3 and 3 seeds, 95% intervals" in sentence


def test_gradients_within_one_decade_give_no_reason():
    rows = recall_rows({"lstm": -1.0, "simple_rnn": -1.6}, {"lstm": 0.95, "simple_rnn": 0.13})
    lines = lt.findings_long_term(group_rows(rows), rows)
    assert not why(lines)
    assert any(s.startswith("The gradient at the key does not separate them") for s in lines)
    # a tie is explained by nothing, and runs without profiles get no gradient sentence at all
    tie = recall_rows({"lstm": -0.5, "simple_rnn": -3.5}, {"lstm": 0.5, "simple_rnn": 0.5})
    assert not any("gradient" in s.lower() for s in lt.findings_long_term(group_rows(tie), tie) if "tie" not in s)
    bare = [row("lstm", 0.95, task="recall", chance=1 / 8, gap=100), row("simple_rnn", 0.13, task="recall",
                                                                         chance=1 / 8, gap=100)]
    assert not any("gradient" in s for s in lt.findings_long_term(group_rows(bare), bare))


def test_the_cloze_and_the_other_tasks_get_the_why_sentence_and_the_parameter_counts_too():
    keys = {"lstm": {"key_gradient_decades": -0.2, "parameters": 9_160},
            "simple_rnn": {"key_gradient_decades": -4.0, "parameters": 2_504}}
    rows = [row("lstm", 0.9, fields=keys["lstm"]), row("simple_rnn", 0.07, fields=keys["simple_rnn"])]
    lines = lt.findings_long_term(group_rows(rows), rows)
    verdict = next(s for s in lines if " beat " in s and "at 4 filler sentences" in s)
    assert "(9,160 vs 2,504 parameters; `--param-budget N` compares at equal size)" in verdict
    [sentence] = why(lines)
    assert "the gradient reaching the first position was -0.20" in sentence  # the cloze has no key at the start
    # adding (a loss; three seeds: a t-test over them): the lower MSE wins, and the gradient says why
    adding = [row(spec, mse + d, task="adding", chance=1 / 6, seed=s, length=50,
                  fields={**keys[spec], "key_gradient_decades": keys[spec]["key_gradient_decades"] + d})
              for spec, mse in (("lstm", 0.01), ("simple_rnn", 0.17)) for s, d in enumerate((0.0, 0.002, -0.002))]
    for r in adding:
        r.metric = "mse"
    lines = lt.findings_long_term(group_rows(adding), adding)
    assert any(s.startswith("lstm (0.01) beat simple_rnn (0.17) on adding") for s in lines)
    [sentence] = why(lines)
    assert sentence.startswith("Why lstm is ahead: at initialisation the gradient reaching the first position")


def test_the_table_shows_each_runs_gradient_at_the_key_at_init_and_at_the_end_and_its_largest_step_norm():
    rows = recall_rows({"lstm": -0.5, "simple_rnn": -3.5}, {"lstm": 0.95, "simple_rnn": 0.13},
                       lstm={"tt_log10_ratio_final": 0.2, "grad_norm_max": 3.0, "grad_norm_median": 0.5})
    groups = group_rows(rows)
    table = tables.make_table(experiments.get("long_term").columns(groups), groups)
    cells = {r[table["columns"].index("Model")]: dict(zip(table["columns"], r)) for r in table["rows"]}
    assert cells["lstm"]["Gradient at key, init (decades)"] == "-0.50"
    assert cells["lstm"]["Gradient at key, end (decades)"] == "+0.20"
    assert cells["lstm"]["Largest step norm"] == "3 (6x median)"
    assert cells["simple_rnn"]["Gradient at key, end (decades)"] == "–"
    assert table["columns"][-1] == "Flags" and len(set(table["columns"])) == len(table["columns"])
    assert any(n.startswith("Gradient at the key") for n in table["notes"])


def test_one_through_time_and_one_norm_figure_per_task_at_the_value_it_is_compared_at(tmp_path):
    from tests.test_grid_gradients import _run_folder

    rows = []
    for gap in (50, 100):
        rows += recall_rows({"lstm": -0.5, "simple_rnn": -3.5}, {"lstm": 0.95, "simple_rnn": 0.13}, gap=gap,
                            lstm={"run_dir": _run_folder(tmp_path, f"l{gap}", -0.5, [1.0] * 12)},
                            simple_rnn={"run_dir": _run_folder(tmp_path, f"s{gap}", -3.5, [2.0] * 12)})
    rows += [row("lstm", 0.9, fields={"run_dir": _run_folder(tmp_path, "k", -0.2, [1.0] * 12)})]
    out = tmp_path / "report"
    out.mkdir()
    made = lt.long_term_figures(tmp_path, rows, out, "long_term")
    names = [p.name for p, _ in made]
    assert names.count("long_term_recall_through_time.png") == 1 and "long_term_recall_grad_norms.png" in names
    assert "long_term_kerala_cloze_through_time.png" in names and "long_term_kerala_cloze_grad_norms.png" in names
    assert names[0] == "long_term_recall_gap.png"  # the summary's figure is still the first
    caption = dict((p.name, c) for p, c in made)["long_term_recall_through_time.png"]
    assert caption.startswith("recall gap=100:")  # drawn at the longest gap, where the comparisons are made
    assert {r.task_params["gap"] for r in lt.compared_rows(rows, "recall")} == {100}


def test_the_takeaway_names_the_gradient_only_where_it_gives_the_reason():
    apart = recall_rows({"lstm": -0.5, "simple_rnn": -3.5}, {"lstm": 0.95, "simple_rnn": 0.13})
    text = experiments.get("long_term").takeaway(group_rows(apart)).text
    assert "Why lstm is ahead: at initialisation the gradient reaching the key was -0.50" in text
    close = recall_rows({"lstm": -1.0, "simple_rnn": -1.6}, {"lstm": 0.95, "simple_rnn": 0.13})
    text = experiments.get("long_term").takeaway(group_rows(close)).text
    assert "beat simple_rnn" in text and "Why" not in text and "separate" not in text
