"""`python -m training.bench` runs end to end on a tiny setting (the real numbers are in the README)."""

import pytest

from training import bench


def test_bench_times_both_arms_and_reports_the_ratio(capsys):
    rows = bench.bench(models=("simple_rnn",), widths=(8,), steps=bench.WARMUP_STEPS + 3, repeats=1)
    (row,) = rows
    assert row["model"] == "simple_rnn" and row["units"] == 8 and row["parameters"] > 0
    assert row["plain_tokens_per_s"] > 0 and row["zoo_tokens_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["zoo_tokens_per_s"] / row["plain_tokens_per_s"], rel=1e-9)
    assert "simple_rnn" in capsys.readouterr().out


def test_bench_refuses_too_few_steps(capsys):
    assert bench.main(["--steps", "2"]) == 2
    assert "--steps must be" in capsys.readouterr().err
