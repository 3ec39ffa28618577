"""Training the runs of a comparison sweep into its folder, one after the other or in worker processes.

Every model of an experiment sees the same examples in the same order (the task stream depends only
on the task parameters and the seed), for the same number of optimizer steps, and with
`--param-budget` about the same number of parameters. Each run is an ordinary saved run under
`<output>/runs/<run id>/` (reload it with `training.load_run`); the sweep's plan and the status of every
run are kept in `<output>/sweep.json`.

A run that fails (an exception, or a corpus that cannot be had offline) is recorded as failed with its
reason and the sweep goes on. The same plan with the same seeds trains the same numbers: the data
streams are stateless functions of (task parameters, seed) and `train` seeds everything and enables op
determinism.
"""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import shutil
import sys
import threading
import time
import traceback
import warnings

from training.core.config import RunConfig
from training.core import preflight
from training.core.runs import remove_staging_leftovers, write_json, write_text
from training.core.versions import git_commit, machine, versions
from training.sweep.experiments import PlannedRun
from training.sweep.plan import check_plan, one_line, run_cost
from training.sweep.results import SWEEP_FILE, read_sweep, setting_words

RUNS_DIR = "runs"
LOGS_DIR = "logs"
DONE = ("finished", "diverged")  # a run in one of these states is not trained again by --resume


class Progress:
    """One display for the whole sweep: runs done, the current run's step, elapsed time and ETA.

    On a terminal one line is rewritten in place; otherwise one line is printed per finished run.
    The ETA weighs every run by its tokens (steps x batch x length) plus a fixed overhead.
    """

    def __init__(self, costs: list[float], stream=None):
        self.costs = costs
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.done_cost = 0.0
        self.done = 0
        self.failed = 0
        self.current = None
        self._last = 0.0

    def eta(self, partial: float = 0.0) -> float | None:
        done = self.done_cost + partial
        if done <= 0:
            return None
        remaining = sum(self.costs) - done
        return (time.perf_counter() - self.start) * remaining / done

    def line(self, text: str, partial: float = 0.0) -> str:
        eta = self.eta(partial)
        total = len(self.costs)
        failed = f", {self.failed} failed" if self.failed else ""
        return (f"[{self.done}/{total} runs{failed}] {_clock(time.perf_counter() - self.start)} elapsed, "
                f"ETA {_clock(eta) if eta is not None else '?'} | {text}")

    def begin(self, index: int, label: str):
        self.current = (index, label)
        self._show(self.line(f"{label} ..."), force=True)

    def step(self, step: int, total_steps: int):
        if not self.tty or self.current is None:
            return
        index, label = self.current
        partial = self.costs[index] * step / max(total_steps, 1)
        self._show(self.line(f"{label} step {step}/{total_steps}", partial))

    def end(self, index: int, label: str, status: str, seconds: float, detail: str = ""):
        self.done += 1
        self.done_cost += self.costs[index]
        self.failed += status == "failed"
        took = f" in {seconds:.1f} s" if seconds is not None else ""
        text = self.line(f"{label}: {status}{took}{(' (' + detail + ')') if detail else ''}")
        if self.tty:
            self._show(text, force=True)
            self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
        self.current = None

    def _show(self, text: str, force=False):
        if not self.tty:
            return
        now = time.perf_counter()
        if force or now - self._last > 0.5:
            width = shutil.get_terminal_size((120, 20)).columns - 1
            self.stream.write("\r" + text[:width].ljust(width))
            self.stream.flush()
            self._last = now


def _clock(seconds: float) -> str:
    seconds = int(round(max(seconds, 0)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _step_callback(progress: Progress, total_steps: int):
    import keras

    class StepProgress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.steps = 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            progress.step(self.steps, total_steps)

    return StepProgress()


EXECUTORS = ("local", "processes", "ray")


def run_sweep(experiments, output, *, description: dict, resume: bool = False, verbose: bool = True,
              train_fn=None, stream=None, jobs: int = 1, executor: str | None = None,
              address: str | None = None, unavailable: dict | None = None) -> dict:
    """Train every planned run into `output/runs/`, keeping `output/sweep.json` up to date.

    Args:
        experiments: `training.sweep.experiments.Experiment`s.
        output: the sweep folder.
        description: what goes into sweep.json besides the plan (suite, budget, command ...).
        resume: continue the sweep in `output`: runs already finished or diverged are kept.
        verbose: show the progress display.
        train_fn: `training.core.loop.train` (tests may pass a stand-in; only with jobs=1).
        stream: where the progress goes (stderr).
        jobs: worker processes that train runs side by side (1: in this process); with the ray
            executor, the CPUs of the local Ray instance (1: all of them).
        executor: how the runs are trained: "local" (one after the other in this process),
            "processes" (`jobs` worker processes), "ray" (Ray tasks, `training.sweep.ray_executor`);
            default: local for jobs=1, else processes.
        address: the Ray cluster to use (ray executor only); None starts a local instance.
        unavailable: what `training.sweep.plan.check_plan(experiments)` returned, when the caller has checked
            the plan already (None: checked here).

    Returns:
        the sweep dict as written to sweep.json.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}.")
    executor = executor or ("local" if jobs <= 1 else "processes")
    if executor not in EXECUTORS:
        raise ValueError(f"Unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}.")
    if train_fn is not None and executor != "local":
        raise ValueError("A stand-in train function works in this process only: use the local executor, jobs=1.")
    if address and executor != "ray":
        raise ValueError("--address names a Ray cluster: use it with --executor ray.")
    if executor == "ray":
        from training.sweep import ray_executor

        ray_executor.require_ray()
    output = pathlib.Path(output)
    workers = []
    try:
        return _run_sweep(experiments, output, description, resume, verbose, train_fn, stream, jobs, executor,
                          address, unavailable, workers)
    finally:
        for each in workers:
            each.close()


def _run_sweep(experiments, output, description, resume, verbose, train_fn, stream, jobs, executor, address,
               unavailable, workers: list) -> dict:
    if unavailable is None:
        unavailable = check_plan(experiments)
    previous, wall_before = {}, 0.0
    if resume:
        if not (output / SWEEP_FILE).is_file():
            raise ValueError(f"{output} holds no {SWEEP_FILE}; there is no sweep to resume there.")
        old = read_sweep(output)  # every run entry checked: a hand-edited sweep.json is named, not a KeyError
        previous = {r["id"]: r for r in old["runs"]}
        wall_before = float(old.get("wall_seconds") or 0.0)
    elif output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file, not a folder; give a folder for the sweep.")
    elif output.exists() and any(output.iterdir()):
        raise ValueError(f"Output folder {output} is not empty; choose another --output or continue it with --resume.")
    preflight.check_folder(output, "the --output folder", flag="--output")
    preflight.check_free_space(output, preflight.SMALL_FILES_BYTES * 2, what="the start of the sweep", flag="--output")
    remove_staging_leftovers(output)
    (output / RUNS_DIR).mkdir(parents=True, exist_ok=True)
    if executor == "processes":  # started now, they import TensorFlow while this process prepares the sweep
        workers.append(_Workers(jobs))

    planned = [r for e in experiments for r in e.runs]
    entries = []
    for r in planned:
        entry = {**r.to_dict(), "status": "pending", "error": None, "run_dir": None, "sweep_seconds": None}
        old = previous.get(r.id)
        if old and old.get("status") in DONE and old.get("config") == entry["config"] and \
                (output / (old.get("run_dir") or "-") / "model.keras").is_file():
            entry.update({k: old[k] for k in ("status", "error", "run_dir", "sweep_seconds", "sample") if k in old})
        entries.append(entry)
    sweep = {
        **description,
        "created": (old_created(output) if resume else None) or _now(),
        "finished": None,
        "versions": versions(),
        "machine": machine(),
        "git_commit": git_commit(),
        "executor": executor,
        "jobs": jobs,
        "intra_op_threads": worker_threads(jobs) if executor == "processes" else None,  # None: TensorFlow's default
        "experiments": [e.meta() for e in experiments],
        "runs": entries,
    }
    write_json(output / SWEEP_FILE, sweep)
    board = _Board(output, entries, stream)

    todo = [i for i, entry in enumerate(entries) if entry["status"] not in DONE]
    progress = Progress([run_cost(planned[i]) for i in todo], stream=stream) if verbose else None
    started = time.perf_counter()

    def finish(k, i, outcome):
        entries[i].update(outcome["entry"])
        write_json(output / SWEEP_FILE, sweep)
        board.run(entries[i])
        if progress:
            progress.end(k, _words(planned[i]), entries[i]["status"], entries[i]["sweep_seconds"], outcome["detail"])

    try:
        if executor == "local":
            for k, i in enumerate(todo):
                run = planned[i]
                if progress:
                    progress.begin(k, _words(run))
                steps = run.config["epochs"] * run.config["steps_per_epoch"]
                callbacks = [_step_callback(progress, steps)] if progress else []
                try:
                    outcome = execute_run(run, output, unavailable, callbacks=callbacks, train_fn=train_fn)
                except KeyboardInterrupt:
                    entries[i].update(status="interrupted", error="stopped by the user")
                    raise
                finish(k, i, outcome)
        elif executor == "processes":
            _run_parallel(planned, todo, output, unavailable, workers[0], finish, progress)
        else:
            _run_ray(planned, todo, output, unavailable, jobs, finish, progress, address)
    finally:
        sweep["finished"] = _now()
        sweep["wall_seconds"] = wall_before + (time.perf_counter() - started)
        write_json(output / SWEEP_FILE, sweep)
        board.sweep()
    return sweep


class _Board:
    """The sweep's TensorBoard HParams summaries (`training.sweep.hparams`), kept up to date as runs
    end. TensorBoard is a convenience here: a problem writing them is said once and never fails a run."""

    def __init__(self, output, entries, stream=None):
        from training.sweep import hparams

        self.hparams, self.output, self.stream = hparams, output, stream or sys.stderr
        self.broken = False
        self.kinds = self._try(hparams.columns, entries)
        self._try(hparams.write_experiment, output, entries, self.kinds)

    def run(self, entry):
        if self.kinds is not None:
            self._try(self.hparams.write_run, self.output, entry, self.kinds)

    def sweep(self):
        self._try(self.hparams.write_sweep, self.output)

    def _try(self, fn, *args):
        if self.broken:
            return None
        try:
            return fn(*args)
        except Exception as error:  # noqa: BLE001 - never let the dashboard's files stop a sweep
            self.broken = True
            print(f"warning: TensorBoard HParams summaries not written ({one_line(error)})", file=self.stream)
            return None


def _words(run) -> str:
    return f"{run.experiment}: {run.label} on {_task_words(run)} seed {run.seed}"


def execute_run(run, output, unavailable=None, callbacks=(), train_fn=None) -> dict:
    """Train one planned run into `output/runs/`; any failure becomes its result.

    Returns:
        {"entry": the fields of its sweep.json entry (status, error, run_dir, sample, sweep_seconds),
         "detail": a few words for the progress display}.
    """
    import tensorflow as tf

    from training.core.loop import train

    output = pathlib.Path(output)
    extra = {"traced_models": _traced_models(), "eval_data": _eval_splits()} if train_fn in (None, train) else {}
    train_fn = train_fn or train
    runs_dir = output / RUNS_DIR
    entry = {"status": "failed", "error": None, "run_dir": None}
    detail = ""
    t0 = time.perf_counter()
    key = (run.task, json.dumps(_resolved(run), sort_keys=True, default=str))
    try:
        if unavailable and key in unavailable:
            raise RuntimeError(unavailable[key])
        _clear_old_attempt(output, run.id)
        _fresh_session()  # a long sweep must not accumulate the graphs of earlier runs
        tf.get_logger().setLevel("ERROR")  # retracing notices of the probes, once per run
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ran out of data.*")
            warnings.filterwarnings("ignore", message=".*probe 'state' is not available.*")
            result = train_fn(RunConfig.from_dict(run.config), root=runs_dir, verbose=0, callbacks=list(callbacks),
                              **extra)
        entry["status"] = result["status"]
        entry["run_dir"] = str(pathlib.Path(result["run_dir"]).relative_to(output)) if result.get("run_dir") else None
        if run.extra.get("solve") and result.get("run_dir"):
            _record_solve(pathlib.Path(result["run_dir"]), run.extra["solve"])
        if result.get("divergence"):
            detail = f"diverged at step {result['divergence'].get('step')}"
        if run.extra.get("sample_length") and result.get("run_dir") and result["status"] == "finished":
            entry["sample"] = write_sample(result["run_dir"], run.extra.get("sample_prompt", ""),
                                           run.extra["sample_length"], run.seed)
        test = result.get("test") or {}
        detail = detail or ", ".join(f"test {k} {v:.3g}" for k, v in test.items()
                                     if k in ("accuracy", "bits_per_char", "mse"))
    except Exception as error:  # any failure of one run is its result; the others go on
        entry["status"], entry["error"] = "failed", one_line(error)
        folder = runs_dir / run.id
        entry["run_dir"] = str(folder.relative_to(output)) if folder.is_dir() else None
        log = output / LOGS_DIR / f"{run.id}.txt"
        log.parent.mkdir(exist_ok=True)
        log.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
        detail = entry["error"][:160]
    entry["sweep_seconds"] = time.perf_counter() - t0
    return {"entry": entry, "detail": detail}


_FROZEN = False


def _fresh_session() -> None:
    """Keras's global state reset and the garbage of the runs before collected. The objects alive before this
    process's first run (the modules of TensorFlow and Keras: most of what the process holds) are then moved
    out of the collector's sight (`gc.freeze`), so that each later collection looks only at what the runs
    made: a third of a second less per run on the 2-core machine, the same objects freed."""
    global _FROZEN
    import gc

    import keras

    keras.backend.clear_session(free_memory=False)
    gc.collect()
    if not _FROZEN:
        gc.freeze()
        _FROZEN = True


_TRACED = None
_EVAL_SPLITS = None


def _traced_models():
    """This process's traced models (`training.core.reuse`): a run of an architecture an earlier run of the
    worker has trained skips Keras's tracing and XLA's compiling (the numbers are the same)."""
    global _TRACED
    if _TRACED is None:
        from training.core.reuse import TracedModels

        _TRACED = TracedModels()
    return _TRACED


def _eval_splits():
    """This process's validation and test sets (`training.core.reuse.EvalSplits`): a run of a task an earlier
    run of the worker has evaluated on reads the same examples without building their pipelines again."""
    global _EVAL_SPLITS
    if _EVAL_SPLITS is None:
        from training.core.reuse import EvalSplits

        _EVAL_SPLITS = EvalSplits()
    return _EVAL_SPLITS


def _record_solve(run_dir: pathlib.Path, solve: dict) -> None:
    """The step at which the run's learning curve first reached the experiment's threshold, into its
    metadata.json (`solve`; step null = not within the budget)."""
    from training.core import diagnostics
    from training.core.runs import read_json

    path = run_dir / "metadata.json"
    if path.is_file():
        write_json(path, {**read_json(path), "solve": diagnostics.solve_record(run_dir, solve)})


_RESULTS = None  # a worker process's queue back to the sweep (set by _start_worker)


def _start_worker(results, parent: int | None = None, threads: int | None = None):
    global _RESULTS
    _RESULTS = results
    if threads:
        set_threads(threads)
    if parent is not None:
        watch_parent(parent)


def worker_threads(jobs: int, cores: int | None = None) -> int:
    """TensorFlow's intra-op threads for each of `jobs` worker processes on `cores` CPU cores (this machine's by
    default): the cores shared out, one each when there are as many workers as cores or more. TensorFlow's
    default, a pool of one thread per core in every process, has three workers on two cores run six threads
    that wait for each other inside every op (Keras's LSTM step measured 77-86 ms with one thread against
    ~120 ms with the default, issue 24)."""
    cores = cores or os.cpu_count() or 1
    return max(1, cores // max(1, jobs))


def set_threads(intra_op: int) -> None:
    """This process's TensorFlow intra-op threads; before TensorFlow runs its first op (a worker's initializer),
    after which TensorFlow refuses the change."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(int(intra_op))


PARENT_CHECK_SECONDS = 0.5


def watch_parent(parent: int, every: float = PARENT_CHECK_SECONDS) -> threading.Thread:
    """End this worker process as soon as the sweep's process `parent` is gone.

    A parent killed with SIGKILL cannot stop its workers, and a worker left behind would go on training,
    holding its run's lock, through the next `--resume`. Its parent pid changes when the parent dies (the
    orphan is adopted by init or a subreaper); the worker then exits at once, as if killed there: the run
    it was training resumes from its last checkpoint. Checked every `every` seconds by a daemon thread."""

    def watch():
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(EXIT_ORPHANED)

    thread = threading.Thread(target=watch, name="rnn-zoo-parent-watch", daemon=True)
    thread.start()
    return thread


EXIT_ORPHANED = 3  # a worker's exit status when its sweep process died


def _worker(run_dict, output, unavailable):
    run = PlannedRun(**run_dict)
    return execute_run(run, output, dict((tuple(k), v) for k, v in unavailable))


def _bundle_worker(bundle, output, unavailable):
    """Train a bundle of runs [(k, i, run dict)] one after the other, each outcome sent back as it ends."""
    unavailable = dict((tuple(k), v) for k, v in unavailable)
    for k, i, run_dict in bundle:
        outcome = execute_run(PlannedRun(**run_dict), output, unavailable)
        _RESULTS.put((k, i, outcome))


def bundle_key(run) -> str:
    """Runs that share everything but their seed, their initialisation and their name: one architecture,
    one data shape and one optimizer, so one traced model serves them all (`training.core.reuse`)."""
    config = {k: v for k, v in run.config.items() if k not in ("seed", "model_params", "run_name")}
    return json.dumps([run.experiment, run.model, config], sort_keys=True, default=str)


def bundles(planned, todo) -> list[list[tuple[int, int]]]:
    """The runs `todo` (indices into `planned`) as [(k, i)] bundles of `bundle_key`, the most costly first."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for k, i in enumerate(todo):
        groups.setdefault(bundle_key(planned[i]), []).append((k, i))
    return sorted(groups.values(), key=lambda g: -sum(run_cost(planned[i]) for _, i in g))


class _Workers:
    """The sweep's `jobs` worker processes, started at once: each spawns and imports TensorFlow (seconds of
    CPU) while the sweep's own process checks the plan and writes its first files. Spawned, never forked
    (TensorFlow must not be forked); each sets its threads (`worker_threads`) before its first op and watches
    this process (`watch_parent`)."""

    def __init__(self, jobs: int):
        import concurrent.futures
        import multiprocessing

        self.jobs = jobs
        context = multiprocessing.get_context("spawn")
        self.results = context.Queue()
        self.pool = concurrent.futures.ProcessPoolExecutor(
            jobs, mp_context=context, initializer=_start_worker,
            initargs=(self.results, os.getpid(), worker_threads(jobs)))
        for _ in range(jobs):  # the pool spawns a process per task submitted while none is idle
            self.pool.submit(os.getpid)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _run_parallel(planned, todo, output, unavailable, workers, finish, progress):
    """`jobs` worker processes (most of a short run's time is single-threaded tracing, so more workers than
    cores keep the cores busy). Runs that share an architecture go to one worker as a bundle, so that its
    traced model serves all of them (`training.core.reuse`); the most costly bundles first (char_lm), so
    that no worker starts one when the others are done. Every run seeds itself, so its numbers do not
    depend on which worker trained it, on the bundles or on `jobs`."""
    import concurrent.futures
    import queue

    jobs, pool, results = workers.jobs, workers.pool, workers.results
    shared = [(list(k), v) for k, v in unavailable.items()]
    reported = set()

    def report(k, i, outcome):
        if i not in reported:
            reported.add(i)
            finish(k, i, outcome)

    def drain(wait_seconds=0.0):
        """What the workers have sent; waits up to `wait_seconds` for the first item."""
        while True:
            try:
                report(*(results.get(timeout=wait_seconds) if wait_seconds else results.get_nowait()))
            except queue.Empty:
                return
            wait_seconds = 0.0

    def failed(error):
        return {"entry": {"status": "failed", "error": one_line(error), "sweep_seconds": None},
                "detail": one_line(error)[:160]}

    futures = {}
    for bundle in bundles(planned, todo):
        items = [(k, i, planned[i].to_dict()) for k, i in bundle]
        futures[pool.submit(_bundle_worker, items, str(output), shared)] = bundle
    if progress:
        progress.begin(0, f"{len(todo)} runs on {jobs} worker processes")
    try:
        pending = set(futures)
        dead = {}
        while pending:
            done, pending = concurrent.futures.wait(pending, timeout=0.5,
                                                    return_when=concurrent.futures.FIRST_COMPLETED)
            drain()
            dead.update((f, f.exception()) for f in done if f.exception() is not None)  # a worker process died
        # Every outcome a worker sent arrives, if late; the runs of a dead worker it never sent are failed.
        expected = {i for f in futures if f not in dead for _, i in futures[f]}
        while not expected <= reported:
            try:
                report(*results.get(timeout=60))
            except queue.Empty:
                break
        drain()
        for future, error in dead.items():
            for k, i in futures[future]:
                report(k, i, failed(error))
        for future in futures:
            for k, i in futures[future]:
                report(k, i, failed(RuntimeError("its worker process sent no result")))
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        raise


def _run_ray(planned, todo, output, unavailable, jobs, finish, progress, address):
    """Every run as a Ray task (`training.sweep.ray_executor`): the same run function as the processes
    (`execute_run`), so the same numbers; the folder is passed as an absolute path, the one every node sees."""
    from training.sweep import ray_executor

    shared = [(list(k), v) for k, v in unavailable.items()]
    where = str(pathlib.Path(output).resolve())
    items = [((k, i), (planned[i].to_dict(), where, shared)) for k, i in enumerate(todo)]
    ray_executor.run(items, _worker, lambda key, outcome: finish(*key, outcome), output=output, address=address,
                     num_cpus=jobs if jobs > 1 else None, progress=progress)


def old_created(output) -> str | None:
    try:
        return json.loads((pathlib.Path(output) / SWEEP_FILE).read_text(encoding="utf-8")).get("created")
    except (OSError, json.JSONDecodeError):
        return None


def _clear_old_attempt(output: pathlib.Path, run_id: str) -> None:
    """Remove what an earlier, unfinished attempt of this run left in the sweep's own runs folder."""
    folder = output / RUNS_DIR / run_id
    if folder.is_dir():
        shutil.rmtree(folder)


def _resolved(run) -> dict:
    import datasets

    return datasets.get_task(run.task).resolve(run.task_params)


def _task_words(run) -> str:
    values = setting_words(run.task_params)  # the one rule of which task values name a run (results.NOT_SETTINGS)
    return run.task + (" " + values if values else "")


def write_sample(run_dir, prompt: str, length: int, seed: int) -> str:
    """Generate `length` characters from a language-model run and save them as `sample.txt`."""
    from training.core.generation import generate
    from training.core.runs import load_run

    run = load_run(run_dir)
    text = generate(run, prompt, length=length, temperature=0.8, seed=seed)
    write_text(pathlib.Path(run_dir) / "sample.txt", text)
    return text


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
