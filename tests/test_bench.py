"""`python -m training.bench` runs end to end on a tiny setting (the real numbers are in the README)."""

import json
import math

from training import bench


def test_bench_times_both_arms_and_writes_the_rows(tmp_path, capsys):
    path = tmp_path / "bench.json"
    steps = str(bench.WARMUP_STEPS + 3)
    assert bench.main(["--models", "simple_rnn", "--units", "8", "--steps", steps, "--repeats", "2",
                       "--json", str(path)]) == 0
    (row,) = json.loads(path.read_text())
    assert row["model"] == "simple_rnn" and row["units"] == 8 and row["parameters"] > 0
    assert row["plain_tokens_per_s"] > 0 and row["zoo_tokens_per_s"] > 0
    # both arms trained the same model on the same batches: a ratio far from 1 means one arm timed
    # something else (a step without the recorder's hooks, or tracing)
    assert math.isfinite(row["ratio"]) and 0.2 < row["ratio"] < 5
    out = capsys.readouterr().out
    assert "simple_rnn" in out and f"slowest zoo/plain ratio: {row['ratio']:.3f}" in out


def test_bench_refuses_too_few_steps(capsys):
    assert bench.main(["--steps", "2"]) == 2
    assert "--steps must be" in capsys.readouterr().err
