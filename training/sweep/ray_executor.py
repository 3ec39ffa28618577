"""Run the planned runs of a sweep as Ray tasks: `python -m training.compare --executor ray`.

    python -m training.compare --executor ray                          # a local Ray instance
    python -m training.compare --executor ray --address auto           # the cluster `ray start` joined
    python -m training.compare --executor ray --address ray://head:10001 --output /shared/sweeps/s1

Each run is one task (one CPU) that calls the same function the local executors call, so a run
trains the same numbers wherever it lands: it seeds itself and enables op determinism, and its data
stream depends only on the task parameters and the seed. The driver keeps the plan, sweep.json and the
progress display; a task only trains into `<output>/runs/<id>/` and returns what sweep.json records.

On a cluster of several machines every node must be able to
- import the project: the checkout is shipped as the job's `working_dir` (Ray uploads it once,
  leaving out what .gitignore names, and unpacks it on each node as the task's working folder);
- write the results folder: `--output` must be a path on storage every node mounts at the same path
  (NFS, a cloud file system). A run whose folder the driver cannot see is reported as failed with
  that reason instead of silently missing;
- run TensorFlow: the same requirements installed in each node's Python.

Ray is optional (requirements-ray.txt, `make ray`); nothing else in the project imports it.
"""

from __future__ import annotations

import os
import pathlib
import socket
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# what a local instance needs on a small machine: no dashboard, no usage report, a small object store
# (a task's arguments and result are a few kilobytes), workers' output kept out of the sweep's display
LOCAL_OBJECT_STORE_BYTES = 100 * 1024**2
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}


def require_ray():
    """The `ray` module, or a ValueError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: `make ray` (or pip install -r requirements-ray.txt).") from None
    return ray


def start(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to the Ray cluster at `address`, or start a local instance when there is none.

    Returns:
        True when this call started Ray (the caller shuts it down), False when it was running already.
    """
    ray = require_ray()
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    common = dict(log_to_driver=False, logging_level="ERROR", configure_logging=True)
    if address:
        # the code travels as the job's working_dir; the results folder must already be shared
        ray.init(address=address, runtime_env={"working_dir": str(REPO_ROOT), "env_vars": dict(WORKER_ENV)},
                 **common)
    else:
        path = os.environ.get("PYTHONPATH")
        env = {**WORKER_ENV, "PYTHONPATH": str(REPO_ROOT) + (os.pathsep + path if path else "")}
        ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False,
                 object_store_memory=LOCAL_OBJECT_STORE_BYTES, runtime_env={"env_vars": env}, **common)
    return True


def _task(work, args):
    """What one Ray task runs: `work(*args)` and the node it ran on."""
    return work(*args), socket.gethostname()


def run(items, work, finish, *, output, address=None, num_cpus=None, progress=None):
    """Run `work(*args)` for every `(key, args)` of `items` as a Ray task; `finish(key, outcome)` is
    called in this process as each one ends, in the order they end.

    Args:
        items: [(key, args)]: `args` must pickle (plain dicts and strings).
        work: a module-level function importable on the workers (the runner's worker function);
            returns {"entry": {...sweep.json fields...}, "detail": words}.
        finish: called with (key, outcome) for every item, also for a task whose worker died.
        output: the sweep folder, for the check that a finished run's folder is visible here.
        address: a Ray address (`auto`, `ray://host:10001`, `host:6379`); None starts a local instance.
        num_cpus: CPUs of the local instance (runs side by side); ignored with an address.
        progress: the sweep's progress display, told how many runs are under way.

    A KeyboardInterrupt cancels the tasks not finished yet and is raised again; a Ray instance that
    this call started is shut down in every case.
    """
    ray = require_ray()
    started = start(address, num_cpus)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(_task)
        refs = {remote.remote(work, args): key for key, args in items}
        if progress:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            progress.begin(0, f"{len(refs)} runs as Ray tasks on {cpus} CPUs")
        waiting = list(refs)
        try:
            while waiting:
                done, waiting = ray.wait(waiting, num_returns=1)
                ref = done[0]
                try:
                    outcome, node = ray.get(ref)
                    outcome = _check_visible(outcome, output, node)
                except Exception as error:  # the worker died (out of memory, a lost node ...)
                    outcome = failed(error)
                finish(refs[ref], outcome)
        except KeyboardInterrupt:
            for ref in waiting:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started:
            ray.shutdown()


def failed(error: BaseException) -> dict:
    text = " ".join(str(error).split()) or type(error).__name__
    text = f"{type(error).__name__}: {text}"
    return {"entry": {"status": "failed", "error": text[:2000], "sweep_seconds": None}, "detail": text[:160]}


def _check_visible(outcome: dict, output, node: str) -> dict:
    """A run that ended with a folder the driver cannot see was written to storage this machine does
    not share: report it as failed, with the reason."""
    run_dir = outcome.get("entry", {}).get("run_dir")
    if not run_dir or outcome["entry"].get("status") == "failed":
        return outcome
    if (pathlib.Path(output) / run_dir / "metadata.json").is_file():
        return outcome
    reason = (f"the run ended on node {node}, but {pathlib.Path(output) / run_dir} is not visible on this machine: "
              "--output must be on storage that every node of the Ray cluster mounts at the same path")
    return {"entry": {**outcome["entry"], "status": "failed", "error": reason}, "detail": reason[:160]}


if __name__ == "__main__":  # pragma: no cover - `python -m training.sweep.ray_executor`: is Ray here?
    started = start()
    import ray

    print(f"Ray {ray.__version__}: {ray.cluster_resources()}", file=sys.stderr)
    if started:
        ray.shutdown()
