"""The long-term experiment on made-up rows and on its plans: the article's Kerala cloze against the number of
filler sentences (every budget, the quick budget small), the comparisons it declares (a winner named only when
the gap is significant, a tie otherwise), and each variant's answer to the article's own sentence, right or
wrong, with its seeds."""

from __future__ import annotations

import pytest

import zoo
from training.sweep import experiments, stats
from training.sweep.experiments import long_term as lt
from training.sweep.results import RunRow, group_rows

N = 1000  # test examples: a difference of 0.05 in accuracy is significant, one of 0 never is
ARTICLE = "Jane was born in Kerala. Her family moved when she was young. Jane is very fluent in {}"


def row(spec, acc, task="kerala_cloze", seed=0, article=None, chance=1 / 16, **params):
    """One finished run of variant `spec` ("model" or "model:setting") on `task` with `params`."""
    model, _, setting = spec.partition(":")
    params = params or ({"fillers": 4} if task == "kerala_cloze" else {"gap": 100})
    label = model if not setting else f"{model} [{setting}]"
    fields = {}
    if article is not None:
        fields = dict(article_answer=article, article_right="Malayalam", article_sentence=ARTICLE.format(article))
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
    scan = [r for r in quick.runs if r.config["param_budget"]]
    assert {(r.model, r.task) for r in scan} == {("min_gru", "recall")}  # one cell where a conclusion needs it


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


def test_the_quick_budget_runs_the_irnn_and_chrono_on_recall_only_and_says_so():
    [planned] = experiments.suite("seed-problems", "quick", experiments=["long_term"])
    tasks_of = lambda label: {r.task for r in planned.runs if r.label == label}  # noqa: E731
    assert tasks_of("irnn") == tasks_of("lstm [chrono]") == {"recall"}
    assert tasks_of("lstm [forget_bias_3]") >= {"recall", "adding", "copy_memory", "temporal_order"}
    notes = planned.omitted  # the report's "what this budget leaves out" (the full budget's tasks)
    for label in ("irnn", "lstm [chrono]"):
        note = next(n for n in notes if n.startswith(f"{label} on "))
        assert all(task in note for task in ("adding", "copy_memory", "temporal_order")), note
    assert not any(n.startswith("lstm [forget_bias_3] on") and "adding" in n for n in notes)
