"""`python -m training.bench` runs end to end on a tiny setting (the real numbers are in the README)."""

import json
import math
import sys
import time

import pytest

from training import bench
from training.core import bench as library


def test_bench_times_both_arms_and_writes_the_rows(tmp_path, capsys):
    path = tmp_path / "bench.json"
    steps = str(library.WARMUP_STEPS + 3)
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


def test_paired_times_rotate_the_order_and_measure_each_arm_by_itself():
    calls = []

    def arm(name, seconds):
        def run():
            calls.append(name)
            time.sleep(seconds)
            return seconds
        return run

    times = library.paired_times({"slow": arm("slow", 0.004), "fast": arm("fast", 0.002)}, repeats=4)
    assert calls == ["slow", "fast", "fast", "slow", "slow", "fast", "fast", "slow"]
    assert times == {"slow": [0.004] * 4, "fast": [0.002] * 4}
    assert library.speedup(times, "slow", "fast") == pytest.approx(2.0)


def test_bptt_bench_times_the_keras_and_the_written_out_layers_on_the_same_model(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as on a machine without PyTorch
    messages = []
    (row,) = library.bench_bptt(models=("gru",), widths=(8,), steps=library.WARMUP_STEPS + 2, repeats=1,
                              peer="pytorch", report=messages.append)
    assert row["layer_classes"] == {"keras": "keras.GRU", "bptt": "zoo.GRU"}  # each arm runs what it says
    assert row["keras_ms_per_step"] > 0 and row["bptt_ms_per_step"] > 0 and row["bptt_speedup"] > 0
    assert row["keras_cpu_ms_per_step"] > 0 and row["bptt_cpu_speedup"] > 0
    assert "pytorch_ms_per_step" not in row and "peer skipped" in messages[0]


def test_bptt_bench_runs_the_pytorch_peer_when_it_is_importable():
    pytest.importorskip("torch")
    (row,) = library.bench_bptt(models=("lstm",), widths=(8,), steps=library.WARMUP_STEPS + 2, repeats=1,
                              peer="pytorch", report=lambda line: None)
    assert row["pytorch_ms_per_step"] > 0 and row["pytorch_speedup"] > 0
    assert row["pytorch_no_onednn_ms_per_step"] > 0 and row["pytorch_no_onednn_speedup"] > 0


def test_bench_command_refuses_a_peer_without_bptt_and_non_recurrent_models(capsys):
    from training import bench as command

    assert command.main(["--peer", "pytorch"]) == 2
    assert command.main(["--bptt", "--models", "self_attention"]) == 2
    assert "--bptt times" in capsys.readouterr().err


def test_every_option_of_the_bench_states_its_default(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    text = capsys.readouterr().out
    options = text[text.index("options:"):]
    entries = [e for e in options.split("\n  --")[1:]]  # one entry per option after -h
    assert {e.split()[0] for e in entries} >= {"models", "units", "steps", "repeats", "bptt", "lengths", "batch",
                                                "peer", "json"}
    for entry in entries:
        assert "default" in " ".join(entry.split()), entry


@pytest.mark.parametrize("argv, words", [
    (["--lengths", "8,x"], "comma-separated whole numbers"),
    (["--lengths", "0,8"], "positive sequence lengths"),
    (["--lengths", "8", "--bptt"], "two different benchmarks"),
    (["--lengths", "8", "--units", "4", "8"], "one width"),
    (["--lengths", "8", "--models", "gru"], "not gru"),
    (["--lengths", "8", "--models", "no_recurrence", "gru_bptt", "lstm"], "(and no_recurrence), not lstm"),
    (["--lengths", "8", "--batch", "0"], "--batch must be"),
    (["--batch", "4"], "add --lengths"),
])
def test_the_length_sweep_refuses_bad_arguments_in_one_sentence(argv, words, capsys):
    assert bench.main(argv) == 2
    assert words in capsys.readouterr().err


def test_the_growth_exponent_reads_linear_and_quadratic_growth():
    rows = [{"time": t, "a_ms_per_step": 3.0 * t, "b_ms_per_step": 0.01 * t * t} for t in (10, 100, 1000)]
    assert library.growth_exponent(rows, "a") == pytest.approx(1.0)
    assert library.growth_exponent(rows, "b") == pytest.approx(2.0)


@pytest.mark.slow
def test_the_length_sweep_times_every_arm_at_every_length_and_prints_its_table(tmp_path, capsys):
    path = tmp_path / "lengths.json"
    assert bench.main(["--lengths", "8,16", "--units", "4", "--batch", "2", "--steps", "1", "--repeats", "1",
                       "--json", str(path)]) == 0
    rows = json.loads(path.read_text())
    arms = list(library.LENGTH_ARMS)
    assert [r["time"] for r in rows] == [8, 16] and all(r["batch"] == 2 and r["units"] == 4 for r in rows)
    for row in rows:
        assert sorted(row["parameters"]) == sorted(arms) and min(row["parameters"].values()) > 0
        assert all(row[f"{arm}_ms_per_step"] > 0 for arm in arms)
        assert row[f"{library.LENGTH_BASELINE}_speedup"] == 1.0  # the baseline against itself, pair by pair
        assert all(math.isfinite(row[f"{arm}_speedup"]) and row[f"{arm}_speedup"] > 0 for arm in arms)
    out = capsys.readouterr().out.splitlines()
    header = library.length_header(arms)
    assert header in out and all(f"{arm} ms" in header for arm in arms)
    assert all(f"/{arm}" in header for arm in arms if arm != library.LENGTH_BASELINE)
    table = out[out.index(header) + 1: out.index(header) + 3]  # one line per length, in order
    assert table == [library.format_length_row(row, arms) for row in rows]
    assert any(line.startswith("growth with T") and "min_gru p = " in line for line in out)
    assert not any("goal" in line for line in out)  # said only when T = 1000 was measured


def test_the_length_sweep_says_whether_the_goal_is_met_at_t_1000(capsys, monkeypatch):
    from training import bench as command

    def fake(lengths, arms, batch, units, steps, repeats):
        return [{"time": t, **{f"{a}_ms_per_step": 1.0 for a in arms},
                 **{f"{a}_speedup": (4.0 if a == "min_gru" else 1.0) for a in arms}} for t in lengths]

    monkeypatch.setattr(library, "bench_lengths", fake)
    assert command.main(["--lengths", "100,1000", "--models", "min_gru", "gru_bptt"]) == 0
    out = capsys.readouterr().out
    assert "min_gru at T = 1000: 4.00x faster than gru_bptt (goal >= 5.0x: not met)" in out
