"""The pipeline benchmark: every pipeline must feed an LSTM(128) at least 10x faster than it trains."""

import io
import os
import pathlib
import subprocess
import sys

import pytest

from datasets import bench
from datasets.bench import REQUIRED_RATIO
from tests.conftest import REPO_ROOT


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


def test_help_answers_without_importing_tensorflow():
    code = ("import sys\nfrom datasets import bench\ntry:\n    bench.main(['--help'])\nexcept SystemExit as e:\n"
            "    print('exit', e.code)\nprint('tensorflow' in sys.modules, 'keras' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m datasets.bench") and "--manual-dir" in done.stdout
    assert done.stdout.strip().splitlines()[-2:] == ["exit 0", "False False"], done.stdout


def test_text_tasks_read_tfds_own_folder_and_a_missing_corpus_is_a_row(monkeypatch, capsys):
    """Without --manual-dir no manual_dir reaches the task (TFDS's own copy, as `python -m datasets`; not a
    folder beside the checkout); a corpus that cannot be had is one row, the other tasks are measured, exit 1."""
    asked = {}

    def load_task(name, split, batch_size, **params):
        asked[name] = params
        raise ValueError("TFDS dataset 'tiny_shakespeare' cannot be downloaded; pass it as manual_dir=FOLDER.")

    monkeypatch.setattr(bench.datasets, "load_task", load_task)
    assert bench.build_parser().parse_args([]).manual_dir is None
    assert bench.main(["--tasks", "char_lm", "word_lm", "--batches", "1", "--steps", "1"]) == 1
    assert asked == {"char_lm": {"seed": 0}, "word_lm": {"seed": 0}}
    out = capsys.readouterr().out
    assert out.count("cannot be built") == 2 and "--manual-dir FOLDER" in out and "manual_dir=" not in out, out
    bench.main(["--tasks", "char_lm", "--manual-dir", "/corpora/ts", "--data-dir", "/tfds"])
    assert asked["char_lm"] == {"seed": 0, "manual_dir": "/corpora/ts", "data_dir": "/tfds"}
