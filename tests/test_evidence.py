"""training.sweep.evidence and training.sweep.axes: rows become results with honest intervals and flags;
figures show zeros and non-finite values instead of dropping them."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from training.sweep import axes, evidence, stats  # noqa: E402
from training.sweep.results import RunRow  # noqa: E402


def row(seed=0, acc=0.5, n=1000, **extra) -> RunRow:
    base = {"seed": seed, "metric": "accuracy", "test_metric": acc, "n_eval": n, "n_eval_tokens": n,
            "test_correct": round(acc * n), "chance": 0.125, "status": "finished", "degenerate": False,
            "loss_still_falling": False}
    base.update(extra)
    return RunRow(**base)


def test_one_seed_gets_a_binomial_interval_and_says_so():
    r = evidence.result_of("lstm", [row(acc=0.137, n=256, test_correct=35)])
    text = evidence.interval_text(r)
    assert text.startswith("0.137 [0.") and "]" in text
    assert evidence.method_words([r]) == "one seed [95% Wilson interval over 256 test examples]"
    assert evidence.flags(r) == ["at chance"]


def test_seeds_give_a_t_interval_and_never_a_zero_width_one():
    r = evidence.result_of("gru", [row(s, 1.0) for s in range(3)])
    s = r.summary
    assert s["low"] < 1.0 and s["high"] > 1.0 - 1e-9 and s["high"] > s["low"]
    assert evidence.method_words([r]) == "mean over 3 seeds [95% t-interval over seeds, cut to the metric's range]"


def test_an_interval_over_seeds_stays_within_the_metric_range():
    r = evidence.result_of("irnn", [row(s, a) for s, a in enumerate((0.372, 0.866, 1.0))])  # seeds disagree
    s = r.summary
    assert 0.0 <= s["low"] < s["value"] < s["high"] == 1.0  # the t-interval alone reaches 1.8


def test_old_rows_are_unknown_not_false():
    old = RunRow(seed=0, metric="mse", test_metric=0.02, chance=1 / 6, status="finished")  # no checks recorded
    r = evidence.result_of("irnn", [old])
    assert r.degenerate is None and r.still_falling is None
    assert evidence.interval_text(r) == "0.02"  # no bracket: no interval was computable
    assert evidence.method_words([r]).startswith("one seed [no interval")
    notes = evidence.unknown_checks([r])
    assert len(notes) == 2 and all("unknown" in n for n in notes)
    assert evidence.flags(r) == []  # unknown position: no "at chance" invented


def test_degenerate_seeds_are_set_aside_with_their_reason():
    rows = [row(0, 1.0, degenerate=True, degenerate_reason="hidden-state norm 3e14"), row(1, 0.6)]
    r = evidence.result_of("irnn gain 2", rows)
    assert len(r.measures) == 1 and r.degenerate is False and "3e14" in r.degenerate_reason
    assert "some seeds degenerate" in evidence.flags(r)
    assert "(1 of 2 seeds)" in evidence.interval_text(r)
    all_bad = evidence.result_of("x", [row(0, 1.0, degenerate=True, degenerate_reason="loss exactly 0")])
    assert all_bad.degenerate is True and evidence.flags(all_bad)[0] == "degenerate"


def test_flags_below_chance_and_not_converged():
    assert "below chance" in evidence.flags(evidence.result_of("s", [row(acc=3 / 256, n=256, test_correct=3)]))
    assert "not converged" in evidence.flags(evidence.result_of("s", [row(acc=0.6, loss_still_falling=True)]))


def test_per_example_files_give_bootstrap_intervals():
    rng = np.random.default_rng(0)
    losses = rng.exponential(0.05, 500)
    r = evidence.result_of("irnn", [RunRow(seed=0, metric="mse", test_metric=losses.mean(), chance=1 / 6,
                                           examples_file="x.npz", status="finished")],
                           load_examples=lambda _: {"loss": losses, "count": np.ones(500)})
    assert r.measures[0].method == "bootstrap over 500 examples"
    assert r.summary["low"] < losses.mean() < r.summary["high"]


def test_success_rate_ignores_degenerate_runs():
    rows = [row(0, 0.99), row(1, 1.0, degenerate=True), row(2, 0.2)]
    assert evidence.success_rate(rows, 0.9) == (1, 3)


def test_log_line_marks_zeros_and_nonfinite_values():
    fig, ax = plt.subplots()
    ax.set_yscale("log")
    counts = axes.log_line(ax, [1, 2, 3, 4, 5], [1.0, 0.5, 0.0, 0.0, math.nan], color="C0", label="irnn")
    assert counts == {"zeros": 2, "nonfinite": 1}
    labels = [line.get_label() for line in ax.get_lines()]
    assert any("0 at 2 points" in x for x in labels) and any("NaN/Inf at 1 points" in x for x in labels)
    plt.close(fig)


def test_y_scale_follows_the_span():
    assert axes.y_scale([0.1, 0.5, 2.0]) == "linear"
    assert axes.y_scale([0.05, 3e14]) == "log"
    assert axes.y_scale([-1.0, 0.05, 3e14]) == "symlog"


def test_band_only_with_several_seeds():
    fig, ax = plt.subplots()
    axes.band(ax, [0, 1, 2], [[1, 2, 3]], color="C0", label="one")
    assert not ax.collections
    axes.band(ax, [0, 1, 2], [[1, 2, 3], [1.5, 2.5, 2.5], [1.2, 2.1, 3.3]], color="C1", label="three")
    assert len(ax.collections) == 1 and "mean of 3 seeds" in ax.get_lines()[-1].get_label()
    plt.close(fig)


def test_stats_is_pure():
    # the statistics run where the report runs: numpy and the standard library only
    import ast
    import pathlib

    from training.core import rules

    def imports(module):
        tree = ast.parse(pathlib.Path(module.__file__).read_text())
        found = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        return found | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    # the rules it applies are the training loop's own, from a module of the standard library only
    assert imports(stats) <= {"__future__", "dataclasses", "functools", "math", "typing", "numpy",
                              "training.core", "training.core.rules"}
    assert imports(rules) <= {"__future__", "math"}
