"""The pipeline benchmark: every pipeline must feed an LSTM(128) at least 10x faster than it trains."""

import io
import pathlib

import pytest

from datasets import bench
from datasets.bench import REQUIRED_RATIO


@pytest.mark.slow
def test_synthetic_pipelines_are_ten_times_faster_than_an_lstm_trains():
    out = io.StringIO()
    rows = bench.run(["recall", "future_cloze"], batch_size=64, batches=50, steps=5, out=out)
    assert [row["task"] for row in rows] == ["recall", "future_cloze"]
    for row in rows:
        assert row["ratio"] >= REQUIRED_RATIO, out.getvalue()
    assert "pipeline batch/s" in out.getvalue()


@pytest.mark.slow
def test_char_lm_pipeline_is_ten_times_faster_than_an_lstm_trains(tiny_shakespeare_dir, tmp_path):
    params = {"data_dir": str(tmp_path), "manual_dir": str(tiny_shakespeare_dir)}
    rows = bench.run(["char_lm"], batch_size=64, batches=50, steps=5, text_params=params, out=io.StringIO())
    assert rows[0]["ratio"] >= REQUIRED_RATIO


# The one exception (tests/test_layout.py): the package's two commands share every command's error boundary
# and start-up filter, standard-library modules that import nothing of the project.
COMMANDS = ("__main__.py", "bench.py")
COMMAND_MODULES = ("training.core.boundary", "training.core.quiet")


def test_datasets_never_imports_zoo_or_training():
    root = pathlib.Path(bench.__file__).parent
    for module in root.glob("*.py"):
        for line in module.read_text(encoding="utf-8").splitlines():
            words = line.split()
            if words[:1] in (["import"], ["from"]) and len(words) > 1:
                if module.name in COMMANDS and words[1] in COMMAND_MODULES:
                    continue  # the commands' error boundary and start-up filter (standard library only)
                assert words[1].split(".")[0] not in ("zoo", "training"), f"{module.name}: {line.strip()}"
