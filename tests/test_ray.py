"""Runs of a sweep as Ray tasks on a local Ray instance (training/sweep/ray_executor.py,
`python -m training.compare --executor ray`).

Ray is optional (requirements-ray.txt, `make ray`): without it these tests skip and say so. CI installs it.
One local instance (2 CPUs) serves the whole module: starting one takes about 15 s here.
"""

import contextlib
import io
import json

import pandas as pd
import pytest

ray = pytest.importorskip("ray", reason="Ray is optional: `make ray` installs requirements-ray.txt")

from training import compare  # noqa: E402
from training.sweep import ray_executor  # noqa: E402

GRID = ["--models", "simple_rnn,lstm", "--tasks", "recall", "--task-param", "gap=4", "--task-param", "eval_size=64",
        "--units", "8", "--batch-size", "16", "--steps", "4", "--epochs", "2", "--seeds", "0", "--quiet"]


@pytest.fixture(scope="module")
def local_ray():
    assert ray_executor.start(num_cpus=2)
    yield
    ray.shutdown()


def work(payload):
    """A stand-in for the runner's worker function (importable by the Ray workers as tests.test_ray)."""
    if payload["n"] == 3:
        raise SystemExit(1)  # the worker process dies
    return {"entry": {"status": "finished", "run_dir": None, "n": payload["n"] * 2}, "detail": ""}


def test_every_task_ends_once_and_a_dead_worker_is_a_failed_run(tmp_path, local_ray):
    finished = {}
    ray_executor.run([(i, ({"n": i},)) for i in range(4)], work, finished.__setitem__, output=tmp_path)
    assert sorted(finished) == [0, 1, 2, 3]
    assert [finished[i]["entry"]["n"] for i in range(3)] == [0, 2, 4]
    assert finished[3]["entry"]["status"] == "failed" and "WorkerCrashedError" in finished[3]["entry"]["error"]
    assert ray.is_initialized()  # an instance it did not start is left running


def test_a_run_folder_the_driver_cannot_see_is_a_failed_run(tmp_path):
    outcome = {"entry": {"status": "finished", "run_dir": "runs/a"}, "detail": ""}
    checked = ray_executor._check_visible(outcome, tmp_path, "node-2")
    assert checked["entry"]["status"] == "failed" and "every node" in checked["entry"]["error"]
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "metadata.json").write_text("{}")
    assert ray_executor._check_visible(outcome, tmp_path, "node-2") is outcome


def _numbers(folder):
    """Per run: status, test metrics and the loss/accuracy history (not the timings)."""
    sweep = json.loads((folder / "sweep.json").read_text())
    out = {}
    for entry in sweep["runs"]:
        run_dir = folder / entry["run_dir"]
        meta = json.loads((run_dir / "metadata.json").read_text())
        history = pd.read_csv(run_dir / "history.csv")
        out[entry["id"]] = (entry["status"], meta["test"], meta["parameters"],
                            history[["loss", "accuracy", "val_loss", "val_accuracy", "grad_norm"]].to_dict("list"))
    return out


def test_a_grid_through_ray_trains_the_same_numbers_as_the_local_executor(tmp_path, local_ray):
    with contextlib.redirect_stdout(io.StringIO()):
        assert compare.main([*GRID, "--output", str(tmp_path / "local")]) == 0
        assert compare.main([*GRID, "--output", str(tmp_path / "ray"), "--executor", "ray"]) == 0
    local, remote = _numbers(tmp_path / "local"), _numbers(tmp_path / "ray")
    assert len(remote) == 2 and all(status == "finished" for status, *_ in remote.values())
    assert remote == local
    assert (tmp_path / "ray" / "report" / "results.csv").is_file()
    assert list((tmp_path / "ray").glob("events.out.tfevents.*.hparams"))  # the HParams experiment


def test_without_ray_the_executor_is_refused_with_how_to_install_it(tmp_path, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    assert compare.main([*GRID, "--output", str(tmp_path / "s"), "--executor", "ray"]) == 2
    assert "make ray" in capsys.readouterr().err and not (tmp_path / "s").exists()
