"""Planning a comparison sweep: the experiments a command line asks for, checked before anything trains,
and what each run costs (for the progress display's ETA)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib

import datasets
import zoo
from training.core.build import check_causal_parameters, model_arguments
from training.core.config import RunConfig
from training.core.runs import SAVED_MODELS
from training.sweep import experiments as suites
from training.sweep.experiments.grid import grid, grid_from_json

OVERHEAD_TOKENS = 100_000  # a run's fixed cost (build, trace, save) in tokens, for the ETA


def check_plan(experiments) -> dict:
    """Refuse a request that cannot work before anything trains; returns {(task, params): reason} for
    the tasks whose data cannot be had now (their runs will be reported as failed with that reason).

    Raises:
        ValueError: one sentence naming the run and what to change.
    """
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
                check_causal_parameters(config.model, config.task, task.causal, config.model_params)
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


def run_cost(run) -> float:
    """What a run costs in tokens (steps x batch x sequence length, as its task declares the length)
    plus a fixed overhead: the weights of the progress display's ETA."""
    return _tokens(run.config) + OVERHEAD_TOKENS


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The sweep whose runs' costs the estimates are made from: how it was measured (the command, the commit,
    the machine) and what it measured, as constants: an estimate does not change when the suite's plan does.
    `compare --plan` cites it (`words()`); `python -m training.sweep.calibrate SWEEP` prints these fields
    for any finished sweep (`calibrate`); docs/results.md holds its table.

    Args:
        command: the command that produced the numbers.
        commit: the commit it ran at.
        budget: the suite budget the sweep ran.
        runs: the runs it finished.
        sweep_seconds: the sweep's wall time (sweep.json's `wall_seconds`).
        workers: worker processes (`--jobs`).
        cores: CPU cores of the machine.
        machine: the machine in words.
        costs: {experiment: (fixed seconds, training-step seconds per token)} of its runs, medians over each
            experiment's finished runs: the fixed part (loading the task, building, tracing, probes,
            evaluating, saving) and the training steps' seconds divided by the run's tokens
            (steps x batch x sequence length), each in seconds of the run's own process.
        span_factor: the sweep's wall time over the makespan its runs' estimated seconds give on its workers
            (medians lie below the mean of a skewed distribution, and a sweep spawns its workers and writes
            its report): `estimate_seconds` multiplies by it.
    """

    command: str
    commit: str
    budget: str
    runs: int
    sweep_seconds: float
    workers: int
    cores: int
    machine: str
    costs: dict
    span_factor: float

    def words(self) -> str:
        """Where the estimate comes from, in one clause for `compare --plan`."""
        return (f"the {self.budget} sweep at commit {self.commit} ({self.runs} runs finished; `{self.command}`, "
                f"{self.workers} workers on {self.machine}; docs/results.md)")


# `python -m training.sweep.calibrate saved_models/compare-seed-problems-quick-20261203-132328`: the sweep of
# `/usr/bin/time -v make demo` at 0b67f07 on the idle 2-core machine (docs/results.md#budgets has its time).
MEASURED = Measurement(
    command="/usr/bin/time -v make demo",
    commit="0b67f07",
    budget="quick",
    runs=157,
    sweep_seconds=611.3,
    workers=3,
    cores=2,
    machine="an idle 2-core CPU",
    costs={
        "vanishing": (3.938, 7.2e-06),
        "exploding": (2.067, 8.839e-06),
        "long_term": (3.886, 2.152e-05),
        "unidirectional": (4.039, 3.164e-05),
        "char_lm": (32.594, 3.141e-05),
    },
    span_factor=1.343,
)
MEASURED_COSTS = MEASURED.costs  # experiment: (fixed seconds, training-step seconds per token)
MEASURED_WHERE = MEASURED.words()


def _tokens(config: dict) -> float:
    """Training tokens of a run's config: epochs x steps x batch x the sequence length its task declares (100
    where the task cannot say)."""
    try:
        task = datasets.get_task(config["task"])
        length = task.sequence_length(task.resolve(config.get("task_params") or {}))
    except (ValueError, KeyError):
        length = None
    return config["epochs"] * config["steps_per_epoch"] * config["batch_size"] * (length or 100)


def _costs(kind: str, task: str, costs: dict) -> tuple[float, float]:
    """(fixed seconds, seconds per token) for a run of experiment `kind` on `task`: its experiment's measured
    costs; a language-model grid takes the char-LM's (its corpus and vocabulary cost), any other grid or an
    unmeasured experiment the medians of the measured synthetic experiments."""
    import statistics

    if kind not in costs and task in ("char_lm", "word_lm") and "char_lm" in costs:
        kind = "char_lm"
    if kind in costs:
        return costs[kind]
    synthetic = [v for k, v in costs.items() if k != "char_lm"]
    return statistics.median(f for f, _ in synthetic), statistics.median(t for _, t in synthetic)


def run_seconds(run, kind: str) -> float:
    """A run's seconds from the measured costs (`config_seconds`)."""
    return config_seconds(run.config, kind, MEASURED_COSTS)


def config_seconds(config: dict, kind: str, costs: dict) -> float:
    """A run's seconds from `costs`: its experiment's fixed seconds plus its tokens (steps x batch x length)
    times the seconds per token. Width and model family are not modelled: a wider model or an attention model
    costs more per token than the table says."""
    fixed, per_token = _costs(kind, config.get("task", ""), costs)
    return fixed + per_token * _tokens(config)


def _makespan(seconds, jobs: int) -> float:
    """The wall time of runs taken in turn by the first free of `jobs` workers, longest first."""
    import heapq

    workers = [0.0] * max(1, jobs)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(workers, heapq.heappop(workers) + s)
    return max(workers)


def _contention(jobs: int, cores: int) -> float:
    """How much slower each of `jobs` workers runs on `cores` cores than on a core of its own."""
    return max(1.0, jobs / max(1, cores))


def estimate_seconds(experiments, jobs: int, skip=(), cores: int | None = None) -> float:
    """The sweep's wall time, estimated from the measured costs (`MEASURED`) for `jobs` workers on `cores` CPU
    cores (this machine's by default), leaving out the run ids in `skip` (done already: --resume).

    The measured runs' seconds are those of its workers sharing its cores (3 on 2: each 1.5 times slower than
    on a core of its own); `jobs` workers on `cores` cores run max(1, jobs / cores) times slower. The cores'
    speed is the measured machine's."""
    cores = cores or os.cpu_count() or 1
    seconds = [run_seconds(r, e.kind) for e in experiments for r in e.runs if r.id not in skip]
    contention = _contention(jobs, cores) / _contention(MEASURED.workers, MEASURED.cores)
    return MEASURED.span_factor * contention * _makespan(seconds, jobs)


def calibrate(folder) -> dict:
    """The fields of a `Measurement` from a finished sweep folder: per experiment the medians of its finished
    runs' fixed seconds and training-step seconds per token, and the factor between the sweep's wall time and
    the makespan those give for its runs on its workers (`python -m training.sweep.calibrate` prints it)."""
    import statistics

    from training.sweep import results

    sweep, rows = results.collect(folder)
    configs = {r["id"]: r.get("config") or {} for r in sweep["runs"]}
    timed = [r for r in rows if r.status == "finished" and r.fixed_seconds is not None and r.steps_seconds is not None
             and configs.get(r.id)]
    if not timed or not sweep.get("wall_seconds"):
        raise ValueError(f"{folder}: no finished run recorded its phases, or sweep.json has no wall_seconds; "
                         "calibrate from a sweep that ran to its end.")
    costs = {}
    for experiment in dict.fromkeys(r.experiment for r in timed):
        mine = [r for r in timed if r.experiment == experiment]
        costs[experiment] = (round(statistics.median(r.fixed_seconds for r in mine), 3),
                             float(f"{statistics.median(r.steps_seconds / _tokens(configs[r.id]) for r in mine):.4g}"))
    seconds = [config_seconds(configs[r.id], r.experiment, costs) for r in timed]
    jobs = int(sweep.get("jobs") or 1)
    return {"budget": sweep.get("budget"), "runs": len(timed), "sweep_seconds": round(float(sweep["wall_seconds"]), 1),
            "workers": jobs, "costs": costs,
            "span_factor": round(float(sweep["wall_seconds"]) / _makespan(seconds, jobs), 3)}


def duration(seconds: float) -> str:
    """`seconds` in words: 45 s, 14 min, 2 h 10 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60:02d} min"


def corpus_problems(unavailable: dict, experiments) -> list[str]:
    """One sentence per task whose data cannot be had now (from `check_plan`), naming its runs and how to give
    a local copy."""
    sentences = []
    for (task, _), reason in unavailable.items():
        runs = [r.id for e in experiments for r in e.runs if r.task == task]
        because = reason.split(": ", 1)[-1].rstrip(".")  # datasets' own sentence, without its exception's name
        sentences.append(
            f"the data of {task} cannot be had for {len(runs)} run{'s' if len(runs) != 1 else ''} ({runs[0]}"
            f"{', ...' if len(runs) > 1 else ''}): {because}; to compare, give that folder as --corpus-dir FOLDER "
            f"(the suite) or --task-param manual_dir=FOLDER (a grid), or leave {task} out.")
    return sentences


def default_output(name: str, budget: str | None) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return SAVED_MODELS / f"compare-{name}{'-' + budget if budget else ''}-{stamp}"


def plan_from_args(args) -> tuple[list, dict]:
    """The experiments and the sweep description the arguments ask for."""
    grid_flags = [f for f in ("models", "tasks", "task_params", "model_params", "steps", "epochs", "units",
                              "batch_size", "learning_rate", "optimizer", "global_clipnorm", "tbptt")
                  if getattr(args, f, None)]
    if args.grid and (args.models or args.tasks):
        raise ValueError("Give either --grid FILE or --models/--tasks, not both.")
    if args.grid or args.models or args.tasks:
        if args.experiments or args.only_models:
            raise ValueError("--experiments and --only-models choose parts of a suite; a grid names its own models.")
        if args.grid:
            if grid_flags:
                raise ValueError(f"Put the grid's settings in {args.grid}, not in flags ({', '.join(grid_flags)}).")
            experiments = grid_from_json(args.grid)
            if args.seeds:
                for e in experiments:
                    e.runs = [r for r in e.runs if r.seed in args.seeds]
            name = pathlib.Path(args.grid).stem
        else:
            if not (args.models and args.tasks):
                raise ValueError("A grid from flags needs both --models and --tasks.")
            training = {k: getattr(args, k) for k in ("steps", "epochs", "units", "batch_size", "learning_rate",
                                                        "optimizer", "global_clipnorm", "tbptt")
                        if getattr(args, k, None) is not None}
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
            experiments = [grid(models, tasks, args.seeds or [0], training)]
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
