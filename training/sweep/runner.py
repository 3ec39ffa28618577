"""`python -m training.compare`: train many zoo models on the same tasks and write one report.

    python -m training.compare                            # the seed-problems suite, quick budget
    python -m training.compare --budget full --seeds 0,1,2
    python -m training.compare --experiments exploding,long_term --only-models simple_rnn,lstm
    python -m training.compare --models simple_rnn,lstm,gru --tasks recall,adding \\
        --task-param gap=10,30,100 --steps 300 --seeds 0,1 --param-budget 20000
    python -m training.compare --grid my_grid.json        # see training.suites.grid_from_json

Every model of an experiment sees the same examples in the same order (the task stream depends only
on the task parameters and the seed), for the same number of optimizer steps, and with
`--param-budget` about the same number of parameters. Each run is an ordinary saved run under
`<output>/runs/<run id>/` (reload it with `training.load_run`); the sweep's plan and the status of every
run are kept in `<output>/sweep.json`, and the report is written to `<output>/report/` (rebuild it
from the saved runs with `python -m training.report <output>`).

A run that fails (an exception, or a corpus that cannot be had offline) is recorded as failed with its
reason and the sweep goes on. Mistakes in the request itself (an unknown model, a task parameter
that does not exist, a bidirectional model on a next-token task) are refused before anything trains.
The same command with the same seeds trains the same numbers: the data streams are stateless
functions of (task parameters, seed) and `train` seeds everything and enables op determinism.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import shutil
import subprocess
import sys
import time
import traceback
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from training import suites  # noqa: E402
from training.config import OPTIMIZERS, RunConfig  # noqa: E402
from training.runs import SAVED_MODELS, write_json, write_text  # noqa: E402

SWEEP_FILE = "sweep.json"
RUNS_DIR = "runs"
LOGS_DIR = "logs"
DONE = ("finished", "diverged")  # a run in one of these states is not trained again by --resume
OVERHEAD_TOKENS = 100_000  # a run's fixed cost (build, trace, save) in tokens, for the ETA


# ------------------------------------------------------------------------------------------ checking
def check_plan(experiments) -> dict:
    """Refuse a request that cannot work before anything trains; returns {(task, params): reason} for
    the tasks whose data cannot be had now (their runs will be reported as failed with that reason).

    Raises:
        ValueError: one sentence naming the run and what to change.
    """
    import datasets
    import zoo

    from training.train import model_arguments

    seen = set()
    specs, unavailable = {}, {}
    for e in experiments:
        for r in e.runs:
            if r.id in seen:
                raise ValueError(f"Two runs of the sweep are both named {r.id!r}; give the variants distinct labels.")
            seen.add(r.id)
            where = f"run {r.id}"
            try:
                config = RunConfig.from_dict(r.config, source=where).validate()
                zoo.get_model_info(config.model)
                task = datasets.get_task(config.task)
                params = task.resolve(config.task_params)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            key = (config.task, json.dumps(params, sort_keys=True, default=str))
            if key not in specs and key not in unavailable:
                try:
                    specs[key] = datasets.get_spec(config.task, **params)
                except Exception as error:  # a corpus missing offline: the run fails, the sweep goes on
                    unavailable[key] = one_line(error)
            spec = specs.get(key)
            if spec is not None:
                try:
                    zoo.validate_arguments(config.model, model_arguments(config, spec))
                except ValueError as error:
                    raise ValueError(f"{where}: {error}") from None
    return unavailable


def one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# ------------------------------------------------------------------------------------------ progress
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


def run_cost(run) -> float:
    config = run.config
    length = run.task_params.get("gap", 0) + 2 if run.task == "recall" else (
        run.task_params.get("length") or run.task_params.get("seq_len") or 100)
    if run.task == "copy_memory":
        length = run.task_params.get("delay", 100) + 2 * run.task_params.get("num_symbols", 10)
    return config["epochs"] * config["steps_per_epoch"] * config["batch_size"] * length + OVERHEAD_TOKENS


# -------------------------------------------------------------------------------------------- sweep
def machine() -> dict:
    """The machine in words: OS, processor, CPU count."""
    cpu = platform.processor() or ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"system": f"{platform.system()} {platform.release()}", "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=pathlib.Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def default_output(name: str, budget: str | None) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return SAVED_MODELS / f"compare-{name}{'-' + budget if budget else ''}-{stamp}"


def run_sweep(experiments, output, *, description: dict, resume: bool = False, verbose: bool = True,
              train_fn=None, stream=None, jobs: int = 1) -> dict:
    """Train every planned run into `output/runs/`, keeping `output/sweep.json` up to date.

    Args:
        experiments: `training.suites.Experiment`s.
        output: the sweep folder.
        description: what goes into sweep.json besides the plan (suite, budget, command ...).
        resume: continue the sweep in `output`: runs already finished or diverged are kept.
        verbose: show the progress display.
        train_fn: `training.train.train` (tests may pass a stand-in; only with jobs=1).
        stream: where the progress goes (stderr).
        jobs: worker processes that train runs side by side (1: in this process).

    Returns:
        the sweep dict as written to sweep.json.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}.")
    if train_fn is not None and jobs > 1:
        raise ValueError("A stand-in train function works in this process only: use jobs=1.")
    output = pathlib.Path(output)
    unavailable = check_plan(experiments)
    previous, wall_before = {}, 0.0
    if resume:
        if not (output / SWEEP_FILE).is_file():
            raise ValueError(f"{output} holds no {SWEEP_FILE}; there is no sweep to resume there.")
        old = json.loads((output / SWEEP_FILE).read_text(encoding="utf-8"))
        previous = {r["id"]: r for r in old.get("runs", [])}
        wall_before = float(old.get("wall_seconds") or 0.0)
    elif output.exists() and any(output.iterdir()):
        raise ValueError(f"Output folder {output} is not empty; choose another --output or continue it with --resume.")
    (output / RUNS_DIR).mkdir(parents=True, exist_ok=True)

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
        "versions": _versions(),
        "machine": machine(),
        "git_commit": git_commit(),
        "experiments": [e.meta() for e in experiments],
        "runs": entries,
    }
    write_json(output / SWEEP_FILE, sweep)

    todo = [i for i, entry in enumerate(entries) if entry["status"] not in DONE]
    progress = Progress([run_cost(planned[i]) for i in todo], stream=stream) if verbose else None
    started = time.perf_counter()

    def finish(k, i, outcome):
        entries[i].update(outcome["entry"])
        write_json(output / SWEEP_FILE, sweep)
        if progress:
            progress.end(k, _words(planned[i]), entries[i]["status"], entries[i]["sweep_seconds"], outcome["detail"])

    try:
        if jobs <= 1:
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
        else:
            _run_parallel(planned, todo, output, unavailable, jobs, finish, progress)
    finally:
        sweep["finished"] = _now()
        sweep["wall_seconds"] = wall_before + (time.perf_counter() - started)
        write_json(output / SWEEP_FILE, sweep)
    return sweep


def _words(run) -> str:
    return f"{run.experiment}: {run.label} on {_task_words(run)} seed {run.seed}"


def execute_run(run, output, unavailable=None, callbacks=(), train_fn=None) -> dict:
    """Train one planned run into `output/runs/`; any failure becomes its result.

    Returns:
        {"entry": the fields of its sweep.json entry (status, error, run_dir, sample, sweep_seconds),
         "detail": a few words for the progress display}.
    """
    import keras
    import tensorflow as tf

    from training.train import train

    output = pathlib.Path(output)
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
        keras.backend.clear_session()  # a long sweep must not accumulate the graphs of earlier runs
        tf.get_logger().setLevel("ERROR")  # retracing notices of the probes, once per run
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ran out of data.*")
            warnings.filterwarnings("ignore", message=".*probe 'state' is not available.*")
            result = train_fn(RunConfig.from_dict(run.config), root=runs_dir, verbose=0, callbacks=list(callbacks))
        entry["status"] = result["status"]
        entry["run_dir"] = str(pathlib.Path(result["run_dir"]).relative_to(output)) if result.get("run_dir") else None
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


def _worker_init():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _worker(run_dict, output, unavailable):
    run = suites.PlannedRun(**run_dict)
    return execute_run(run, output, dict((tuple(k), v) for k, v in unavailable))


def _run_parallel(planned, todo, output, unavailable, jobs, finish, progress):
    """`jobs` worker processes, each training one run at a time (most of a short run's time is
    single-threaded tracing, so two workers on two cores nearly halve a quick sweep). Every run seeds
    itself, so its numbers do not depend on which worker trained it or on `jobs`."""
    import concurrent.futures
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # TensorFlow must not be forked
    pending = [(k, i) for k, i in enumerate(todo)]
    shared = [(list(k), v) for k, v in unavailable.items()]
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init) as pool:
        futures = {}
        for k, i in pending:
            futures[pool.submit(_worker, planned[i].to_dict(), str(output), shared)] = (k, i)
        if progress:
            progress.begin(0, f"{len(pending)} runs on {jobs} worker processes")
        try:
            for future in concurrent.futures.as_completed(futures):
                k, i = futures[future]
                try:
                    outcome = future.result()
                except Exception as error:  # the worker process itself died
                    outcome = {"entry": {"status": "failed", "error": one_line(error), "sweep_seconds": None},
                               "detail": one_line(error)[:160]}
                finish(k, i, outcome)
        except KeyboardInterrupt:
            for future in futures:
                future.cancel()
            raise


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
    values = {k: v for k, v in run.task_params.items() if k not in ("eval_size", "epoch_size", "manual_dir")}
    return run.task + (" " + " ".join(f"{k}={v}" for k, v in values.items()) if values else "")


def write_sample(run_dir, prompt: str, length: int, seed: int) -> str:
    """Generate `length` characters from a language-model run and save them as `sample.txt`."""
    from training.generate import generate
    from training.runs import load_run

    run = load_run(run_dir)
    text = generate(run, prompt, length=length, temperature=0.8, seed=seed)
    write_text(pathlib.Path(run_dir) / "sample.txt", text)
    return text


def _versions() -> dict:
    from training.train import versions

    return versions()


def _now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


# ------------------------------------------------------------------------------------ command line
def _csv_list(kind):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        try:
            return [kind(t) for t in items]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a comma-separated list of {kind.__name__}, got {text!r}") from None

    return parse


def _key_values(text: str):
    """KEY=V1,V2,... -> (key, value or list of values)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,VALUE...], got {text!r}")
    key, raw = text.split("=", 1)
    values = []
    for part in raw.split(","):
        try:
            values.append(json.loads(part))
        except json.JSONDecodeError:
            values.append(part)
    return key.strip(), values if len(values) > 1 else values[0]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.compare",
        description="Train zoo models side by side on the same tasks and write a report (plots, tables, "
                    "results.json/csv). Without --models/--tasks/--grid it runs the seed-problems suite.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    g = p.add_argument_group("suite")
    g.add_argument("--suite", default="seed-problems", choices=suites.SUITES)
    g.add_argument("--budget", default="quick", choices=suites.BUDGETS,
                   help="quick: ~10 minutes on 2 CPU cores; full: the real numbers; smoke: a pipeline check")
    g.add_argument("--experiments", type=_csv_list(str), help="only these experiments of the suite "
                   f"({', '.join(suites.EXPERIMENT_KEYS)})")
    g.add_argument("--only-models", type=_csv_list(str), dest="only_models", help="only the runs of these models")
    g.add_argument("--corpus-dir", dest="corpus_dir", default=str(suites.DEFAULT_CORPUS_DIR),
                   help="folder with Tiny Shakespeare's input.txt (TFDS manual_dir of char_lm)")
    g = p.add_argument_group("grid (instead of a suite)")
    g.add_argument("--grid", help="JSON file of one grid or {\"experiments\": [grids]}")
    g.add_argument("--models", type=_csv_list(str), help="zoo models, comma-separated")
    g.add_argument("--tasks", type=_csv_list(str), help="tasks, comma-separated")
    g.add_argument("--task-param", type=_key_values, action="append", dest="task_params", metavar="KEY=V1,V2",
                   help="task parameter for every task of the grid, or TASK.KEY=... for one task; several values "
                   "are swept (repeatable)")
    g.add_argument("--model-param", type=_key_values, action="append", dest="model_params", metavar="KEY=VALUE",
                   help="builder argument for every model of the grid (repeatable)")
    g.add_argument("--steps", type=int, help="optimizer steps per run")
    g.add_argument("--epochs", type=int, help="evaluations per run (steps must be a multiple)")
    g.add_argument("--units", type=int)
    g.add_argument("--batch-size", type=int, dest="batch_size")
    g.add_argument("--learning-rate", type=float, dest="learning_rate")
    g.add_argument("--optimizer", choices=OPTIMIZERS)
    g.add_argument("--global-clipnorm", type=float, dest="global_clipnorm")
    g = p.add_argument_group("both")
    g.add_argument("--seeds", type=_csv_list(int), help="training seeds (default: the budget's, or 0 for a grid)")
    g.add_argument("--param-budget", type=int, dest="param_budget",
                   help="give every model about this many parameters (its width is chosen to match)")
    g.add_argument("--output", help="sweep folder (default: saved_models/compare-<name>-<budget>-<time>)")
    g.add_argument("--resume", action="store_true", help="continue the sweep in --output, keeping finished runs")
    g.add_argument("--plan", action="store_true", help="print the planned runs and exit without training")
    g.add_argument("--jobs", type=int, default=1,
                   help="worker processes training runs side by side (2 nearly halves a quick sweep on 2 cores; "
                        "the numbers do not change)")
    g.add_argument("--quiet", action="store_true", help="no progress display")
    return p


def plan_from_args(args) -> tuple[list, dict]:
    """The experiments and the sweep description the arguments ask for."""
    grid_flags = [f for f in ("models", "tasks", "task_params", "model_params", "steps", "epochs", "units",
                              "batch_size", "learning_rate", "optimizer", "global_clipnorm") if getattr(args, f)]
    if args.grid and (args.models or args.tasks):
        raise ValueError("Give either --grid FILE or --models/--tasks, not both.")
    if args.grid or args.models or args.tasks:
        if args.experiments or args.only_models:
            raise ValueError("--experiments and --only-models choose parts of a suite; a grid names its own models.")
        if args.grid:
            if grid_flags:
                raise ValueError(f"Put the grid's settings in {args.grid}, not in flags ({', '.join(grid_flags)}).")
            experiments = suites.grid_from_json(args.grid)
            if args.seeds:
                for e in experiments:
                    e.runs = [r for r in e.runs if r.seed in args.seeds]
            name = pathlib.Path(args.grid).stem
        else:
            if not (args.models and args.tasks):
                raise ValueError("A grid from flags needs both --models and --tasks.")
            training = {k: getattr(args, k) for k in ("steps", "epochs", "units", "batch_size", "learning_rate",
                                                        "optimizer", "global_clipnorm") if getattr(args, k) is not None}
            if args.param_budget:
                training["param_budget"] = args.param_budget
            shared, per_task = {}, {t: {} for t in args.tasks}
            for key, value in args.task_params or []:
                task, _, name = key.rpartition(".")
                if task and task not in per_task:
                    raise ValueError(f"--task-param {key}=... names task {task!r}, which is not in --tasks.")
                (per_task[task] if task else shared)[name] = value
            model_params = dict(args.model_params or [])
            models = [{"model": m, "model_params": model_params} if model_params else m for m in args.models]
            tasks = [{"task": t, "params": {**shared, **per_task[t]}} for t in args.tasks]
            experiments = [suites.grid(models, tasks, args.seeds or [0], training)]
            name = "grid"
        description = {"suite": None, "budget": None, "name": name}
    else:
        if grid_flags:
            raise ValueError(f"{', '.join('--' + f.replace('_', '-') for f in grid_flags)} define a grid: give "
                             "--models and --tasks too, or leave them out to run the suite.")
        experiments = suites.suite(args.suite, args.budget, experiments=args.experiments, models=args.only_models,
                                   corpus_dir=args.corpus_dir, seeds=args.seeds, param_budget=args.param_budget)
        name = args.suite
        description = {"suite": args.suite, "budget": args.budget, "name": name}
    seeds = sorted({r.seed for e in experiments for r in e.runs})
    description.update(seeds=seeds, param_budget=args.param_budget)
    return experiments, description


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        experiments, description = plan_from_args(args)
        description["command"] = "python -m training.compare" + (" " + shlex.join(argv) if argv else "")
        if args.plan:
            for e in experiments:
                print(f"{e.key}: {e.title} ({len(e.runs)} runs)")
                for r in e.runs:
                    print(f"  {r.id}")
                for note in e.omitted:
                    print(f"  [left out by this budget] {note}")
            return 0
        output = (pathlib.Path(args.output) if args.output
                  else default_output(description["name"], description["budget"]))
        sweep = run_sweep(experiments, output, description=description, resume=args.resume, verbose=not args.quiet,
                          jobs=args.jobs)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        from training.report import build_report

        if (output / SWEEP_FILE).is_file():
            again = description["command"] + ("" if "--output" in argv else f" --output {output}")
            print(f"\ninterrupted; the report covers the runs done so far: {build_report(output)}\n"
                  f"continue with: {again} --resume", file=sys.stderr)
        return 130
    from training.report import build_report

    report_dir = build_report(output)
    statuses = [r["status"] for r in sweep["runs"]]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    print(f"{len(statuses)} runs ({counts}) in {sweep['wall_seconds']:.0f} s")
    print(f"report: {report_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
