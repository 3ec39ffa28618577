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
    return _tokens(run) + OVERHEAD_TOKENS


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The sweep whose runs' costs the estimates are made from: how it was measured (the command, the commit,
    the machine) and what it measured. `compare --plan` cites it (`words()`); docs/results.md and
    docs/bptt.md#the-fixed-cost-of-a-quick-sweep-run hold its table and discuss it.

    Args:
        command: the command that produced the numbers.
        commit: the commit it ran at.
        budget: the suite budget the sweep ran.
        sweep_seconds: the sweep's wall time (sweep.json's `wall_seconds`).
        workers: worker processes (`--jobs`).
        cores: CPU cores of the machine.
        machine: the machine in words.
        source: where the per-experiment medians were read: the sweep's report.
        costs: {experiment: (fixed seconds, training-step seconds)} of its median run: the fixed part
            (loading the task, building, tracing, probes, evaluating, saving) and the training steps'.
    """

    command: str
    commit: str
    budget: str
    sweep_seconds: float
    workers: int
    cores: int
    machine: str
    source: str
    costs: dict

    def words(self) -> str:
        """Where the estimate comes from, in one clause for `compare --plan`."""
        return (f"the {self.budget} sweep at commit {self.commit} (`{self.command}`, {self.workers} workers on "
                f"{self.machine}; docs/results.md)")


# Its sweep took longer than these medians give for its plan (medians lie below the mean of a skewed
# distribution, and a sweep spawns its workers): `estimate_seconds` scales by the factor that closes the gap.
MEASURED = Measurement(
    command="/usr/bin/time python -m training.compare --output /tmp/q4",
    commit="bfc4148",
    budget="quick",
    sweep_seconds=802.0,
    workers=3,
    cores=2,
    machine="an idle 2-core CPU",
    source="the medians per run of its report's \"Where the time went\" table",
    costs={
        "vanishing": (5.67, 2.45),
        "exploding": (3.83, 1.04),
        "long_term": (4.03, 4.72),
        "unidirectional": (3.67, 1.31),
        "char_lm": (24.4, 290.0),
    },
)
MEASURED_COSTS = MEASURED.costs  # experiment: (fixed seconds, training-step seconds) of its median run
MEASURED_SWEEP = (MEASURED.budget, MEASURED.sweep_seconds, MEASURED.workers, MEASURED.cores)
MEASURED_WHERE = MEASURED.words()


def _tokens(run) -> float:
    c = run.config
    try:
        task = datasets.get_task(run.task)
        length = task.sequence_length(task.resolve(run.task_params))
    except ValueError:
        length = None
    return c["epochs"] * c["steps_per_epoch"] * c["batch_size"] * (length or 100)


_REFERENCE: dict = {}


def _reference_tokens() -> dict:
    """The median training tokens of each experiment's runs in the measured budget's plan."""
    if not _REFERENCE:
        import statistics

        for e in suites.seed_problems(MEASURED_SWEEP[0]):
            _REFERENCE[e.key] = statistics.median(_tokens(r) for r in e.runs)
    return _REFERENCE


def run_seconds(run, kind: str) -> float:
    """A run's seconds from the measured costs: its experiment's fixed seconds plus the training-step seconds
    scaled by its tokens (steps x batch x length) against that experiment's median measured run. A grid or an
    experiment without a measurement takes the synthetic experiments' medians. Width and model family are not
    modelled: a wider model or an attention model costs more per token than the table says."""
    reference = _reference_tokens()
    if kind not in MEASURED_COSTS and run.task in ("char_lm", "word_lm"):
        kind = "char_lm"  # a grid's language model: the measured char-LM's corpus and vocabulary cost
    if kind in MEASURED_COSTS and kind in reference:
        fixed, steps = MEASURED_COSTS[kind]
        per_token = steps / reference[kind]
    else:
        import statistics

        synthetic = [k for k in MEASURED_COSTS if k != "char_lm" and k in reference]
        fixed = statistics.median(MEASURED_COSTS[k][0] for k in synthetic)
        per_token = statistics.median(MEASURED_COSTS[k][1] / reference[k] for k in synthetic)
    return fixed + per_token * _tokens(run)


def _makespan(seconds, jobs: int) -> float:
    """The wall time of runs taken in turn by the first free of `jobs` workers, longest first."""
    import heapq

    workers = [0.0] * max(1, jobs)
    for s in sorted(seconds, reverse=True):
        heapq.heappush(workers, heapq.heappop(workers) + s)
    return max(workers)


def estimate_seconds(experiments, jobs: int, skip=(), cores: int | None = None) -> float:
    """The sweep's wall time, estimated from the measured costs (`MEASURED_COSTS`) for `jobs` workers on
    `cores` CPU cores (this machine's by default), leaving out the run ids in `skip` (done already: --resume).

    The measured runs shared 2 cores among 3 workers, so each ran 1.5 times slower than on a core of its own;
    `jobs` workers on `cores` cores run max(1, jobs / cores) times slower. The cores' speed is the measured
    machine's."""
    budget, measured, workers, measured_cores = MEASURED_SWEEP
    cores = cores or os.cpu_count() or 1

    def span(planned, n, skip=()):
        return _makespan([run_seconds(r, e.kind) for e in planned for r in e.runs if r.id not in skip], n)

    factor = measured / span(suites.seed_problems(budget), workers)
    contention = max(1.0, jobs / cores) / max(1.0, workers / measured_cores)
    return factor * contention * span(experiments, jobs, skip)


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
