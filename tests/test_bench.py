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
