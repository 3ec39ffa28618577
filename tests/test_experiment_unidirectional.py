"""The unidirectional experiment on made-up rows and on its plans: the runs it plans per budget (future_cloze
and the article's mouse cloze, the parallel-scan cells both ways), the comparisons it declares (a winner
named only when the gap is significant, a tie otherwise), the takeaway's mechanism sentences only where
the numbers show them, and each variant's answer to the article's sentence."""

from __future__ import annotations

import json

import pytest

import zoo
from training.sweep import experiments, results
from training.sweep.experiments import unidirectional as uni
from training.sweep.results import RunRow, group_rows

N = 1000  # test examples: a difference of 0.05 in accuracy is significant, one of 0 never is
CHANCE = {"future_cloze": 0.25, "mouse_cloze": 0.5}


def row(spec, direction, acc, task="mouse_cloze", seed=0, article=None, **fields):
    """One finished run of variant `spec` ("model" or "model:setting") answering `direction` (further `RunRow`
    `fields`: its gradients, parameters)."""
    model, _, setting = spec.partition(":")
    params = {"eval_size": N, **({"answer_delay": 2} if direction == uni.LATE else {})}
    label = model if not setting else f"{model} [{setting}]"
    if article is not None:
        fields.update(article_answer=article, article_right="click",
                      article_sentence=f"The mouse is used to {article} for the easy use of computers")
    return RunRow(experiment="unidirectional", id=f"{label}-{task}-{direction}-{seed}", label=label, model=model,
                  setting=setting or "default", initialization="init", task=task,
                  task_values=" ".join(f"{k}={v}" for k, v in params.items() if k != "eval_size"), task_params=params,
                  seed=seed, status="finished", metric="accuracy", chance=CHANCE[task], test_metric=acc, n_eval=N,
                  n_eval_tokens=N, test_correct=round(acc * N), direction=direction, group=task, **fields)


def groups_of(accuracy: dict, task="mouse_cloze"):
    """{(spec, direction): accuracy} -> groups."""
    return group_rows([row(spec, d, acc, task) for (spec, d), acc in accuracy.items()])


# ------------------------------------------------------------------------------------------ plans
def test_every_budget_plans_both_tasks_each_direction_with_the_right_models():
    for budget in experiments.BUDGETS:
        planned = experiments.suite("seed-problems", budget, experiments=["unidirectional"])[0]
        tasks = {r.task for r in planned.runs}
        assert tasks == {"future_cloze", "mouse_cloze"}, budget
        for r in planned.runs:
            assert r.model in zoo.list_models()
            sees = zoo.get_model_info(r.model).reads_future(r.config["model_params"])
            assert sees == (r.extra["direction"] == uni.SEES), r.id  # the plan's words agree with the zoo
            late = r.config["task_params"].get("answer_delay") is not None
            assert late == (r.extra["direction"] == uni.LATE), r.id
        for task in tasks:  # each task: a causal model at the blank, one answering late, one that sees the future
            assert {r.extra["direction"] for r in planned.runs if r.task == task} == set(uni.DIRECTIONS), (budget, task)


def test_the_standard_budget_runs_every_scan_cell_causal_late_and_bidirectional_on_both_tasks():
    planned = experiments.suite("seed-problems", "standard", experiments=["unidirectional"])[0]
    for task in ("future_cloze", "mouse_cloze"):
        for cell in uni.SCAN:
            have = {r.extra["direction"] for r in planned.runs if r.task == task and r.model == cell}
            assert have == {uni.CAUSAL, uni.LATE}, (task, cell)
            assert any(r.model == f"bidirectional_{cell}" for r in planned.runs if r.task == task)


def test_the_quick_budget_adds_only_a_few_runs_and_keeps_the_runs_it_had():
    quick = experiments.suite("seed-problems", "quick", experiments=["unidirectional"])[0]
    seeds = len({r.seed for r in quick.runs})
    mouse = [r for r in quick.runs if r.task == "mouse_cloze"]
    assert len({(r.label, r.extra["direction"]) for r in mouse}) <= 4 and len(mouse) == 4 * seeds
    future = [r for r in quick.runs if r.task == "future_cloze"]
    # the runs it keeps: three architectures each way, same ids (a sweep resumed across the change finds them);
    # the LSTM is the standard budget's (make demo's time)
    assert not any(r.model in ("lstm", "bidirectional_lstm") for r in future)
    for spec in ("simple_rnn", "gru", "self_attention-causal_mask"):
        assert f"unidirectional--{spec}--future_cloze--s0" in {r.id for r in future}
        assert f"unidirectional--{spec}--future_cloze-late2--s0" in {r.id for r in future}
    assert sum(r.model in uni.SCAN or r.model.replace("bidirectional_", "") in uni.SCAN for r in future) == 2 * seeds


# -------------------------------------------------------------------------------- comparisons
@pytest.mark.parametrize("task", ["future_cloze", "mouse_cloze"])
def test_each_declared_comparison_names_the_winner_only_when_the_gap_is_significant(task):
    chance = CHANCE[task]
    accuracy = {("gru", uni.CAUSAL): chance, ("gru", uni.LATE): 0.99, ("bidirectional_gru", uni.SEES): 0.99,
                ("min_gru", uni.CAUSAL): chance, ("min_gru", uni.LATE): 0.90,  # loses to the GRU
                ("bidirectional_min_gru", uni.SEES): 0.99,  # ties with the bidirectional GRU
                ("lru", uni.LATE): 0.99, ("bidirectional_lru", uni.SEES): 0.93,
                ("self_attention:causal_mask", uni.CAUSAL): chance, ("self_attention:unmasked", uni.SEES): 0.99}
    groups = groups_of(accuracy, task)
    made = uni.comparisons(groups)
    text = uni.findings_unidirectional(groups, [r for g in groups for r in g.rows])
    pairs = {(m.comparison.a, m.comparison.b) for m in made}
    assert ("bidirectional_min_gru", "min_gru") in pairs and ("min_gru", "gru") in pairs
    assert ("lru", "gru") in pairs and ("self_attention:unmasked", "self_attention:causal_mask") in pairs
    for m in made:
        (_, from_a, from_b), = [d for d in uni.COMPARISONS if d[0] == m.comparison]
        va, vb = accuracy[(m.comparison.a, from_a)], accuracy[(m.comparison.b, from_b)]
        if abs(va - vb) >= 0.05:
            assert m.verdict.kind == "beat"
            winner = (m.comparison.a, from_a) if va > vb else (m.comparison.b, from_b)
            assert m.verdict.winner == uni.shown_label(next(g for g in groups if (g.model, g.direction) ==
                                                          (winner[0].partition(":")[0], winner[1])))
        else:
            assert m.verdict.kind in ("tie", "both at chance") and m.verdict.winner is None
        assert m.verdict.text in text  # the findings make every declared comparison the sweep holds
    # the same cell answering late is told apart from itself at the blank in every sentence
    late = next(m for m in made if m.comparison.a == "gru" and m.comparison.b == "gru")
    assert late.verdict.winner == "gru answering late" and late.verdict.loser == "gru"


def test_a_comparison_needs_both_sides_in_their_own_directions():
    # a causal GRU at the blank and a bidirectional min_gru: no declared pair holds both
    groups = groups_of({("gru", uni.CAUSAL): 0.5, ("bidirectional_min_gru", uni.SEES): 0.99})
    assert uni.comparisons(groups) == []
    # the GRU answering late is never taken as the GRU at the blank
    groups = groups_of({("gru", uni.LATE): 0.99, ("bidirectional_gru", uni.SEES): 0.99})
    assert uni.comparisons(groups) == []


# -------------------------------------------------------------------------------------- takeaway
def test_the_mechanism_sentence_only_when_no_causal_model_beats_chance_and_every_seeing_one_does():
    clean = {("gru", uni.CAUSAL): 0.5, ("bidirectional_gru", uni.SEES): 0.99,
             ("self_attention:unmasked", uni.SEES): 0.98}
    mechanism = "can only guess"
    assert mechanism in uni.takeaway(groups_of(clean)).text
    assert mechanism not in uni.takeaway(groups_of({**clean, ("gru", uni.CAUSAL): 0.7})).text
    assert mechanism not in uni.takeaway(groups_of({**clean, ("bidirectional_gru", uni.SEES): 0.5})).text
    # seeds that disagree (one a little above chance by luck), none above: still the clean split
    noisy = group_rows([row("gru", uni.CAUSAL, a, seed=s) for s, a in enumerate((0.56, 0.5, 0.49))]
                       + [row("bidirectional_gru", uni.SEES, 0.99)])
    assert mechanism in uni.takeaway(noisy).text


def test_answering_late_is_credited_only_to_the_late_models_above_chance():
    groups = groups_of({("gru", uni.CAUSAL): 0.5, ("gru", uni.LATE): 0.99, ("lstm", uni.LATE): 0.5,
                        ("bidirectional_gru", uni.SEES): 0.99})
    text = uni.takeaway(groups).text
    credit = next(s for s in text.split(". ") if "Allowed to answer after the cue" in s)
    assert "gru answering late" in credit and "lstm" not in credit
    no_late = uni.takeaway(groups_of({("gru", uni.LATE): 0.5, ("gru", uni.CAUSAL): 0.5})).text
    assert "Allowed to answer after the cue" not in no_late


def test_each_task_is_summarised_against_its_own_chance():
    rows = [row("gru", uni.CAUSAL, 0.25, "future_cloze"), row("gru", uni.CAUSAL, 0.5, "mouse_cloze"),
            row("bidirectional_gru", uni.SEES, 0.99, "future_cloze"), row("bidirectional_gru", uni.SEES, 0.99)]
    groups = group_rows(rows)
    text = uni.takeaway(groups).text
    assert "On future_cloze:" in text and "On mouse_cloze:" in text
    # both causal GRUs sit at their task's chance (1/4 and 1/2), so neither is "above"
    assert text.count("0 of 1 significantly above chance") == 2


def test_the_scan_cells_lose_or_tie_in_words_from_the_verdicts():
    groups = groups_of({("min_gru", uni.LATE): 0.80, ("gru", uni.LATE): 0.99,
                        ("bidirectional_min_gru", uni.SEES): 0.99, ("bidirectional_gru", uni.SEES): 0.99})
    text = uni.takeaway(groups).text
    assert "gru answering late (0.99) beat min_gru answering late (0.8)" in text
    assert "bidirectional_min_gru (0.99) and bidirectional_gru (0.99) tie" in text


# ------------------------------------------------------------------------------- the article's sentence
def test_every_variant_shows_its_answer_to_the_article_sentence_with_its_seeds():
    rows = [row("gru", uni.CAUSAL, 0.5, seed=s, article=a) for s, a in enumerate(("click", "search", "click"))]
    rows += [row("bidirectional_gru", uni.SEES, 0.99, seed=s, article="click") for s in range(3)]
    rows += [row("lstm", uni.CAUSAL, 0.5)]  # recorded no answer (an older run): left out
    groups = group_rows(rows)
    answered = dict((g.label, answers) for g, answers in uni.article_answers(groups))
    assert set(answered) == {"gru", "bidirectional_gru"}
    assert [(a, seeds) for a, _, _, seeds in answered["gru"]] == [("click", [0, 2]), ("search", [1])]  # most first
    words = uni.article_answer_words(answered["gru"])  # the words long_term's kerala_cloze uses (_common)
    assert '"The mouse is used to click for the easy use of computers" (right; seeds 0 and 2)' in words
    assert "search for the easy use of computers\" (wrong, click is right; seed 1)" in words
    [(intro, table)] = uni.article_tables(groups)
    assert [r[0] for r in table["rows"]] == ["gru", "bidirectional_gru"] and len(table["columns"]) == 3
    findings = uni.findings_unidirectional(groups, rows)
    assert any(s.startswith("bidirectional_gru on the article's sentence") and "(right; seeds 0, 1 and 2)" in s
               for s in findings)
    assert uni.article_tables(group_rows([row("lstm", uni.CAUSAL, 0.5)])) == []


def test_the_reader_takes_the_answer_from_the_run_folder(tmp_path):
    run_dir = tmp_path / "runs" / "r"
    run_dir.mkdir(parents=True)
    answers = [{"sentence": "The mouse is used to search for the easy use of computers", "answer": "search",
                "right": "click"},
               {"sentence": "The mouse is used to search for cheese in the kitchen", "answer": "search",
                "right": "search"}]
    (run_dir / "metadata.json").write_text(json.dumps({"status": "finished", "article_answers": answers}))
    entry = {"experiment": "unidirectional", "id": "r", "label": "gru", "model": "gru", "setting": "default",
             "initialization": "init", "task": "mouse_cloze", "task_params": {}, "seed": 0, "status": "finished",
             "run_dir": "runs/r", "config": {"epochs": 1, "steps_per_epoch": 3, "batch_size": 4,
                                             "optimizer": "adam", "learning_rate": 0.01, "model_params": {}}}
    r = results.read_run(tmp_path, entry)
    assert (r.article_answer, r.article_right) == ("search", "click")  # the article's own sentence: the first
    assert r.article_sentence == answers[0]["sentence"] and "article_answer" in r.record()


def test_the_mechanism_is_explained_once_however_many_tasks_show_it():
    rows = [row("gru", uni.CAUSAL, chance, task) for task, chance in CHANCE.items()]
    rows += [row("bidirectional_gru", uni.SEES, 0.99, task) for task in CHANCE]
    text = uni.takeaway(group_rows(rows)).text
    assert text.count("can only guess") == 1 and "As on future_cloze, no causal model" in text


# ------------------------------------------------------------------------------------- gradients
NO_PATH = float("-inf")  # the gradient at the cue of a causal model at the blank: exactly 0


def test_a_winner_whose_gradient_at_the_cue_is_decades_above_is_explained_under_its_shown_name():
    rows = [row("gru", uni.CAUSAL, 0.5, task="future_cloze", key_gradient_decades=-3.2, parameters=9_000),
            row("gru", uni.LATE, 0.99, task="future_cloze", key_gradient_decades=-0.2, parameters=9_000),
            row("bidirectional_gru", uni.SEES, 0.99, task="future_cloze", key_gradient_decades=-2.9,
                parameters=18_000)]
    groups = group_rows(rows)
    lines = uni.findings_unidirectional(groups, rows)
    why = [s for s in lines if s.startswith("Why")]
    assert ("Why gru answering late is ahead: at initialisation the gradient reaching the cue was "
            "-0.20 decades for gru answering late against -3.20 for gru (one seed each") in why[0]
    assert len(why) == 1  # the bidirectional GRU's -2.9 is within one decade of the causal GRU's -3.2
    assert not any(s.startswith("The gradient") for s in lines)  # the design says why it is ahead, not the gradient
    verdict = next(s for s in lines if s.startswith("bidirectional_gru (0.99) beat gru"))
    assert "(18,000 vs 9,000 parameters; `--param-budget N` compares at equal size)" in verdict
    late = next(s for s in lines if s.startswith("gru answering late (0.99) beat gru"))
    assert "parameters" not in late  # the same model: the same size


def test_a_causal_model_with_no_path_to_the_cue_is_the_reason_named():
    """Exactly 0 at the cue in every seed (no path back from the blank) against a finite gradient: the
    reason, said as 'no path', never as a ratio of infinity."""
    rows = [row("gru", uni.CAUSAL, 0.5, seed=s, key_gradient_decades=NO_PATH) for s in range(3)]
    rows += [row("bidirectional_gru", uni.SEES, 0.99, seed=s, key_gradient_decades=-1.1 - 0.1 * s) for s in range(3)]
    lines = uni.findings_unidirectional(group_rows(rows), rows)
    [why] = [s for s in lines if s.startswith("Why")]
    assert why.startswith("Why bidirectional_gru is ahead: at initialisation the gradient reaching the words after "
                          "the blank was -1.20 decades for bidirectional_gru against exactly 0 for gru")
    assert "no path" in why and "inf" not in why
    # a model with a path in one seed only is no clean case: not a reason
    mixed = rows[:2] + [row("gru", uni.CAUSAL, 0.5, seed=2, key_gradient_decades=-5.0)] + rows[3:]
    assert not [s for s in uni.findings_unidirectional(group_rows(mixed), mixed) if s.startswith("Why")]


def test_the_gradient_cells_say_no_path_for_an_exact_zero():
    from training.sweep import gradient_evidence
    from training.sweep.results import ROW

    [none] = group_rows([row("gru", uni.CAUSAL, 0.5, seed=s, key_gradient_decades=NO_PATH) for s in range(2)])
    assert gradient_evidence.decades_cell(none, ROW.key_gradient_decades) == "0: no path"
    [some] = group_rows([row("gru", uni.CAUSAL, 0.5, seed=0, key_gradient_decades=NO_PATH),
                         row("gru", uni.CAUSAL, 0.5, seed=1, key_gradient_decades=-2.0)])
    assert gradient_evidence.decades_cell(some, ROW.key_gradient_decades) == "-2.00; 0 in 1 of 2 seeds"


def _cue_run_folder(folder, name, init, final, cue_offsets=(3,)):
    run = folder / "runs" / name
    run.mkdir(parents=True)
    offsets = list(range(-4, 6))
    (run / "metadata.json").write_text(json.dumps({"gradient_at_cue": {
        "offsets": offsets, "profile": init, "profile_final": final, "cue_offsets": list(cue_offsets),
        "ratio": init[offsets.index(cue_offsets[0])], "ratio_final": final[offsets.index(cue_offsets[0])]}}))
    (run / "gradients.csv").write_text("step,step_loss,grad_norm\n" + "".join(f"{i},1.0,{1 + i % 3}\n" for i in range(9)))
    return f"runs/{name}"


def test_the_table_and_figures_show_the_gradients_at_the_cue_once_per_task(tmp_path):
    from training.sweep.tables import make_table

    rows = []
    causal = [0.1, 0.2, 0.4, 0.7, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]  # nothing after the blank: no path
    sees = [0.1, 0.2, 0.4, 0.7, 1.0, 0.7, 0.4, 0.2, 0.1, 0.05]
    for task in ("future_cloze", "mouse_cloze"):
        for spec, direction, key, profile in (("gru", uni.CAUSAL, NO_PATH, causal),
                                              ("bidirectional_gru", uni.SEES, -0.5, sees)):
            rows.append(row(spec, direction, 0.9, task=task, key_gradient_decades=key, key_gradient_decades_final=key,
                            grad_norm_max=2.0, grad_norm_median=1.0,
                            run_dir=_cue_run_folder(tmp_path, f"{task}-{spec}", profile, profile)))
    groups = group_rows(rows)
    table = make_table(uni.unidirectional_columns(groups), groups)
    assert {"Gradient at cue, init (decades)", "Gradient at cue, end (decades)",
            "Largest step norm"} <= set(table["columns"])
    assert table["columns"][-1] == "Flags"
    column = table["columns"].index("Gradient at cue, init (decades)")
    cells = [r[column] for r in table["rows"]]
    assert cells.count("0: no path") == 2 and cells.count("-0.50") == 2
    out = tmp_path / "report"
    out.mkdir()
    made = uni.unidirectional_figures(tmp_path, rows, out, "unidirectional")
    names = [p.name for p, _ in made]
    assert names[0] == "unidirectional_accuracy.png"
    for task in ("future_cloze", "mouse_cloze"):
        assert names.count(f"unidirectional_{task}_at_cue.png") == 1  # the loss is read at the blank, not at T
        assert names.count(f"unidirectional_{task}_through_time.png") == 0
        assert names.count(f"unidirectional_{task}_grad_norms.png") == 1
    caption = dict((p.name, c) for p, c in made)["unidirectional_mouse_cloze_at_cue.png"]
    assert "the words after the blank" in caption and "exactly 0" in caption
