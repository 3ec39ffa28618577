"""`python -m datasets`: a fast, TensorFlow-free listing and help, one sentence and exit 2 for a request it
cannot understand, one sentence per text task it cannot build (offline: within seconds), no start-up lines."""

import itertools
import os
import subprocess
import sys
import time

import pytest

import datasets
from datasets import __main__ as command
from tests.conftest import REPO_ROOT
from tests.test_startup import NOISE

# No network: a proxy that refuses every connection at once (urllib honours these variables), as on a
# machine without internet; the corpus probe then fails immediately instead of waiting for a timeout.
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "no_proxy": "", "NO_PROXY": ""}


def _python_m_datasets(*args, env=None):
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environ.update(PYTHONPATH=str(REPO_ROOT), **(env or {}))
    return subprocess.run([sys.executable, "-X", "importtime", "-m", "datasets", *args], capture_output=True,
                          text=True, env=environ, cwd=REPO_ROOT, timeout=300)


def _imported(stderr: str) -> set:
    """The modules `-X importtime` reports as imported."""
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.splitlines() if line.startswith("import time:")}


def test_help_lists_every_task_parameter_with_its_default_without_tensorflow():
    out = _python_m_datasets("--help")
    assert out.returncode == 0, out.stderr
    imported = _imported(out.stderr)
    assert "datasets.recall" in imported and "tensorflow" not in imported and "keras" not in imported
    text = out.stdout
    for name in datasets.list_tasks():
        lines = text[text.index(f"\n  {name} ") + 1:].splitlines()
        row = " ".join([lines[0], *itertools.takewhile(lambda line: line.startswith(" " * 18), lines[1:])])
        for key, default in datasets.task_defaults(name).items():
            assert f"{key}={default}" in " ".join(row.split()), (name, key, row)


def test_listing_synthetic_tasks_needs_no_tensorflow():
    out = _python_m_datasets("recall", "adding", "gap=7")
    assert out.returncode == 0, out.stderr
    assert "tensorflow" not in _imported(out.stderr)
    rows = out.stdout.splitlines()
    assert [r.split()[0] for r in rows] == ["task", "recall", "adding"]
    assert rows[1].split()[2] == str(datasets.get_spec("recall", gap=7).sequence_length)  # gap reached recall only


@pytest.mark.parametrize("argv, fragment", [
    (["nosuch"], "unknown task 'nosuch'; known tasks are: adding"),
    (["recall", "gap=abc"], "parameter 'gap' of task 'recall' must be int, got 'abc'"),
    (["recall", "gapp=3"], "task 'recall' has no parameter 'gapp'; its parameters are:"),
    (["recall", "adding", "gapp=3"], "no task among recall, adding has a parameter 'gapp'"),
    (["recall", "adding.length=5"], "is for task 'adding', which is not among the tasks asked for"),
    (["recall", "gap=-1"], "gap of task 'recall' must be 0 or more"),
    (["recall", "--samples", "-1"], "--samples must be 0 or more"),
])
def test_a_request_it_cannot_understand_is_one_sentence_and_exit_2(capsys, argv, fragment):
    assert command.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "", "no table row for a refused request"
    assert captured.err.startswith("error: ") and fragment in captured.err and captured.err.count("\n") == 1


def test_a_parameter_goes_to_the_listed_tasks_that_have_it():
    names, params = command.parse_items(["recall", "copy_memory", "eval_size=64", "recall.gap=9"])
    assert names == ["recall", "copy_memory"]
    assert params == {"recall": {"eval_size": "64", "gap": "9"}, "copy_memory": {"eval_size": "64"}}
    assert command.parse_items([])[0] == datasets.list_tasks()


def test_offline_a_text_task_without_a_corpus_is_one_sentence_within_seconds(capsys, monkeypatch, tmp_path):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    empty = tmp_path / "tfds"
    empty.mkdir()
    datasets.get_spec("recall")  # not timed: the process's TensorFlow and TFDS imports
    start = time.perf_counter()
    code = command.main(["char_lm", "recall", f"data_dir={empty}"])
    seconds = time.perf_counter() - start
    out = capsys.readouterr().out.splitlines()
    assert code == 1, "a task named on the command line that cannot be built exits 1"
    row = next(r for r in out if r.startswith("char_lm"))
    assert "cannot be built:" in row and "manual_dir=FOLDER" in row and "no network" in row, row
    assert any(r.startswith("recall ") and "last_class" in r for r in out), "the other rows still print"
    assert seconds < 30, f"offline, the corpus check took {seconds:.0f} s"
    assert not list(empty.rglob("dataset_info.json")), "nothing is prepared"


def test_python_m_datasets_prints_no_start_up_lines_offline():
    """The whole command in its own process, TensorFlow's lines at their default level: the text task's
    sentence on stdout, nothing of absl or CUDA on stderr, exit 1."""
    out = subprocess.run([sys.executable, "-m", "datasets", "char_lm", "manual_dir=no_such_folder"],
                         capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
                         env={**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"},
                              "PYTHONPATH": str(REPO_ROOT), **OFFLINE})
    assert out.returncode == 1
    assert "cannot be built: manual_dir 'no_such_folder'" in out.stdout
    assert not [n for n in NOISE if n in out.stderr], out.stderr


def test_docs_tasks_md_shows_what_python_m_datasets_prints(capsys):
    """The sample output in docs/tasks.md is the command's: every synthetic task's row as printed now (the
    text tasks' rows need the corpus; regenerate the block with `python -m datasets`)."""
    text = (REPO_ROOT / "docs" / "tasks.md").read_text(encoding="utf-8")
    block = text[text.index("`python -m datasets` prints every task"):].split("```\n", 2)[1]
    documented = {line.split()[0]: line for line in block.splitlines()}
    synthetic = [n for n in datasets.list_tasks() if n not in ("char_lm", "word_lm")]
    assert command.main(synthetic) == 0
    printed = capsys.readouterr().out.splitlines()
    assert set(documented) == {"task", *datasets.list_tasks()}, "every task has its row in docs/tasks.md"
    for line in printed:
        assert documented[line.split()[0]] == line, f"docs/tasks.md is out of date: run `python -m datasets`\n{line}"
