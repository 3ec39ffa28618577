"""The report's generated sentences on synthetic rows: each case is one the logic could get wrong. Rows
with `n` carry a test set of n examples (accuracy: the correct count), so comparisons can be tested."""

from training.sweep import experiments, findings
from training.sweep.results import RunRow
from training.sweep.tables import aggregate, make_table


def row(label, seed=0, status="finished", task="recall", task_values="gap=10", metric="accuracy", chance=0.25,
        n=None, **fields):
    model = fields.pop("model", label.split(" ")[0])
    if n and metric == "accuracy" and fields.get("test_metric") is not None:
        fields.update(n_eval=n, n_eval_tokens=n, test_correct=round(fields["test_metric"] * n))
    return RunRow(experiment="e", id=f"{label}-{task_values}-{seed}", label=label, model=model,
                  setting=fields.pop("setting", "default"), initialization="init", task=task, task_values=task_values,
                  task_params=fields.pop("task_params", {"gap": 10}), seed=seed, status=status,
                  error=fields.pop("error", None), metric=metric, chance=chance, **fields)


def sentences(kind, rows):
    groups = aggregate(rows)
    return experiments.get(kind).findings(groups, rows) + findings.failures(groups)


def test_grid_ranks_best_first_by_the_metric_direction_and_counts_who_beat_chance():
    rows = [row("a", test_metric=0.9, n=100), row("b", test_metric=0.3, n=100), row("c", test_metric=0.2, n=100)]
    text = sentences("grid", rows)[0]
    assert text.index("a (0.9") < text.index("b (0.3") < text.index("c (0.2")
    assert "significantly beaten by 1 of 3." in text  # 30 and 20 of 100 are not significantly off 1/4
    mse = [row(m, task="adding", task_values="length=10", metric="mse", chance=0.167, test_metric=v)
           for m, v in (("a", 0.17), ("b", 0.01))]
    text = sentences("grid", mse)[0]
    assert text.index("b (0.01)") < text.index("a (0.17)")  # lower MSE first
    assert "(2 could not be tested)" in text  # no per-example losses: no test against the baseline


def test_exploding_counts_the_settings_that_diverged_with_and_without_clipping():
    rows = [
        row("simple_rnn g1", model="simple_rnn", gain=1.0, clip=None, grad_norm_max=2.0, grad_norm_median=1.0),
        row("simple_rnn g3", model="simple_rnn", gain=3.0, clip=None, status="diverged", diverged_step=7),
        row("simple_rnn g3 clip", model="simple_rnn", gain=3.0, clip=1.0, grad_clipped_fraction=0.5),
    ]
    text = sentences("exploding", rows)
    assert "Without clipping, 1 of 2 settings diverged" in text[0] and "gain 3 (step 7)" in text[0]
    assert text[1] == "With global_clipnorm=1, none of the 1 settings diverged."
    assert "simple_rnn at gain 3 diverged without clipping and stayed finite with clipping." in text
    no_divergence = sentences("exploding", rows[:1] + rows[2:])
    assert "Without clipping, none of the 1 settings diverged." in no_divergence


def test_exploding_never_pairs_runs_of_two_settings_that_share_a_model_and_gain():
    # the IRNN at gain 1 on adding (Adam) and the IRNN at gain 1 on recall (SGD): same label words, other task
    adding = dict(model="irnn", gain=1.0, task="adding", task_values="length=50", metric="mse", chance=0.167,
                  group="IRNN on adding (Adam)", grad_norm_max=5.0, grad_norm_median=1.0)
    recall = dict(model="irnn", gain=1.0, group="gain sweep on recall (SGD)", grad_norm_max=3.0,
                  grad_norm_median=1.0)
    rows = [row("irnn", clip=None, status="diverged", diverged_step=3, **adding),
            row("irnn clip", clip=1.0, test_metric=0.01, grad_clipped_fraction=0.9, **adding),
            row("irnn", clip=None, test_metric=0.3, n=100, **recall)]  # recall: no clipped partner
    text = sentences("exploding", rows)
    assert "IRNN on adding (Adam): without clipping, 1 of 1 settings diverged" in " ".join(text)
    assert "gain sweep on recall (SGD): without clipping, none of the 1 settings diverged." in text
    assert sum("diverged without clipping and stayed finite with clipping" in t for t in text) == 1
    assert any(t.startswith("IRNN on adding (Adam): irnn at gain 1 diverged without clipping") for t in text)
    assert not any(t.startswith("gain sweep on recall (SGD): with against without clipping") for t in text)


def test_long_term_names_the_largest_gap_each_variant_solved():
    rows = [row("lstm", task_values=f"gap={g}", task_params={"gap": g}, test_metric=acc, n=100)
            for g, acc in ((5, 1.0), (10, 0.95), (20, 0.4))]
    rows += [row("simple_rnn", task_values=f"gap={g}", task_params={"gap": g}, test_metric=acc, n=100)
             for g, acc in ((5, 0.92), (10, 0.3), (20, 0.26))]
    text = sentences("long_term", rows)
    assert "Largest gap solved — lstm: 10; simple_rnn: 5." in text
    assert any(t.startswith("At the longest gap (20) the best was lstm (0.4 [") and "1 of 2 variants were at chance"
               in t for t in text)
    assert any(t.startswith("lstm (0.4) beat simple_rnn (0.26) at gap 20") and "two-proportion z-test" in t
               for t in text)


def test_a_small_difference_on_a_small_test_set_is_a_tie_and_two_results_at_chance_are_not_ranked():
    rows = [row("lstm", test_metric=0.50, n=200), row("simple_rnn", test_metric=0.55, n=200)]
    text = sentences("long_term", rows)
    assert any("tie at gap 10" in t and "within the noise" in t for t in text)
    at_chance = [row("lstm", test_metric=0.24, n=200), row("simple_rnn", test_metric=0.27, n=200)]
    text = sentences("long_term", at_chance)
    assert any("both at chance" in t for t in text) and not any(" beat " in t for t in text)


def test_failed_and_unfinished_runs_are_reported_with_their_reason():
    rows = [row("a", test_metric=0.9), row("b", status="failed", error="RuntimeError: no corpus"),
            row("c", status="interrupted")]
    text = sentences("grid", rows)
    assert "b on recall gap=10 (seed 0) failed: RuntimeError: no corpus" in text
    assert "c (seed 0) did not run to the end (interrupted)." in text


def test_an_unknown_kind_is_shown_as_a_grid():
    rows = [row("a", test_metric=0.9)]
    groups = aggregate(rows)
    assert experiments.get("from_a_newer_checkout") is experiments.get("grid")
    table = make_table(experiments.get("from_a_newer_checkout").columns(groups), groups)
    assert table["columns"][0] == "Model" and table["rows"][0][0] == "a"


# ----------------------------------------------------------------- properties, on typed rows
def _groups(rows):
    return aggregate(rows)


def test_each_declared_comparison_names_the_better_variant_as_ahead():
    from training.sweep import stats
    from training.sweep.experiments import long_term

    accuracy = {"lstm": 0.9, "simple_rnn": 0.3, "gru": 0.5, "lstm:forget_bias_3": 0.97, "lstm:chrono": 0.6,
                "gru:update_bias_3": 0.95, "simple_rnn:glorot": 0.31}
    rows = []
    for spec, acc in accuracy.items():
        model, _, setting = spec.partition(":")
        label = model if not setting else f"{model} [{setting}]"
        rows.append(row(label, model=model, setting=setting or "default", test_metric=acc, n=1000,
                        task_values="gap=20", task_params={"gap": 20}))
    groups = _groups(rows)
    text = sentences("long_term", rows)
    for comparison in long_term.AT_LONGEST_GAP:
        a, b = comparison.pick(groups)
        verdict = stats.compare(a.result, b.result, "at gap 20")
        better = a if accuracy[comparison.a] > accuracy[comparison.b] else b
        if abs(accuracy[comparison.a] - accuracy[comparison.b]) >= 0.05:  # 1,000 examples: significant
            assert verdict.kind == "beat" and verdict.winner == better.label
        else:
            assert verdict.kind in ("tie", "both at chance")
        assert verdict.text in text  # the findings make every declared comparison


def test_solved_needs_the_rules_threshold_and_an_accuracy_above_chance():
    from training.core import rules
    from training.sweep.experiments import long_term

    just_below, just_above = rules.SOLVED_ACCURACY - 0.01, rules.SOLVED_ACCURACY + 0.01
    groups = _groups([row("a", test_metric=just_below, n=1000), row("b", test_metric=just_above, n=1000),
                      row("c", test_metric=just_above)])  # c: no test size, position unknown: still counted
    solved = {g.label: long_term._solved(g) for g in groups}
    assert solved == {"a": False, "b": True, "c": True}


def test_a_variant_group_holds_its_seeds_interval_and_position():
    rows = [row("lstm", seed=s, test_metric=v, n=1000) for s, v in enumerate((0.8, 0.85, 0.9))]
    rows.append(row("lstm", seed=0, test_metric=0.3, n=1000, task_values="gap=30", task_params={"gap": 30}))
    first, other = _groups(rows)  # the gap tells the variants apart: never pooled
    assert first.seeds == [0, 1, 2] and other.seeds == [0] and other.gap == 30
    low, high = first.interval
    assert 0.0 <= low < first.value == 0.85 < high <= 1.0  # a t-interval over seeds, cut to [0, 1]
    assert first.position == "above" and other.position == "above" and first.successes(0.84) == (2, 3)
