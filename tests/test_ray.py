"""Runs of a sweep as Ray tasks on a local Ray instance (training/sweep/ray_executor.py).

Ray is optional (requirements-ray.txt, `make ray`): without it these tests skip and say so. CI installs it.
"""

import pytest

ray = pytest.importorskip("ray", reason="Ray is optional: `make ray` installs requirements-ray.txt")

from training.sweep import ray_executor  # noqa: E402


def work(payload):
    """A stand-in for the runner's worker function (importable by the Ray workers as tests.test_ray)."""
    if payload["n"] == 3:
        raise SystemExit(1)  # the worker process dies
    return {"entry": {"status": "finished", "run_dir": None, "n": payload["n"] * 2}, "detail": ""}


def test_every_task_is_finished_once_and_a_dead_worker_is_a_failed_run(tmp_path):
    finished = {}
    ray_executor.run([(i, ({"n": i},)) for i in range(4)], work, finished.__setitem__, output=tmp_path, num_cpus=2)
    assert sorted(finished) == [0, 1, 2, 3]
    assert [finished[i]["entry"]["n"] for i in range(3)] == [0, 2, 4]
    assert finished[3]["entry"]["status"] == "failed" and "WorkerCrashedError" in finished[3]["entry"]["error"]
    assert not ray.is_initialized()  # the local instance it started is shut down


def test_a_run_folder_the_driver_cannot_see_is_a_failed_run(tmp_path):
    outcome = {"entry": {"status": "finished", "run_dir": "runs/a"}, "detail": ""}
    checked = ray_executor._check_visible(outcome, tmp_path, "node-2")
    assert checked["entry"]["status"] == "failed" and "every node" in checked["entry"]["error"]
    (tmp_path / "runs" / "a").mkdir(parents=True)
    (tmp_path / "runs" / "a" / "metadata.json").write_text("{}")
    assert ray_executor._check_visible(outcome, tmp_path, "node-2") is outcome
