"""Planning a comparison sweep: the experiments a command line asks for, checked before anything trains,
and what each run costs (for the progress display's ETA)."""

from __future__ import annotations

import datetime
import json
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
    config = run.config
    try:
        task = datasets.get_task(run.task)
        length = task.sequence_length(task.resolve(run.task_params))
    except ValueError:
        length = None
    return config["epochs"] * config["steps_per_epoch"] * config["batch_size"] * (length or 100) + OVERHEAD_TOKENS


def default_output(name: str, budget: str | None) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return SAVED_MODELS / f"compare-{name}{'-' + budget if budget else ''}-{stamp}"


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
            experiments = grid_from_json(args.grid)
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
