"""A grid: every model x every task x every combination of task values x every seed, with the same data
and the same number of steps (`python -m training.compare --models ... --tasks ...` or `--grid file.json`).
Its report fits any task; a grid may borrow another experiment's report with "kind".
"""

from __future__ import annotations

import json
import pathlib
import re

from training.core.config import GRID_DEFAULTS
from training.sweep import experiments, figures, findings, tables, takeaways
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import Experiment, Variant, default_variant, make_runs

GRID_TRAINING_KEYS = ("units", "batch_size", "steps", "epochs", "learning_rate", "optimizer", "global_clipnorm",
                      "validation_steps", "param_budget", "through_time_every", "record_gradients")
# GRID_DEFAULTS (training.core.config, importable without TensorFlow for `compare --help`): a grid
# validates at the end of every epoch on the whole split (validation_steps None), as `training.train`
# does; only the seed-problems suite leaves that pass to its learning curves (see `_common.make_config`).


def grid(models, tasks, seeds=(0,), training=None, name="grid", title=None, kind="grid") -> Experiment:
    """An experiment of every model x every task x every combination of task values x every seed.

    Args:
        models: registry keys, or dicts {"model", "label"?, "model_params"?, "initialization"?}.
        tasks: task names, or dicts {"task", "params": {name: value or [values]}}; a list of values
            is swept.
        seeds: training seeds.
        training: `GRID_TRAINING_KEYS` settings shared by every run (defaults: `GRID_DEFAULTS`).
        name: experiment key (prefix of the run folders).
        title: section title of the report.
        kind: how the report shows it (a registered experiment's key; "grid" fits any task).
    """
    if not experiments.known(kind):
        raise ValueError(f"kind must be one of {', '.join(experiments.list_experiments())}, got {kind!r}.")
    if training is not None and not isinstance(training, dict):
        raise ValueError(f"A grid's training settings must be an object of {', '.join(GRID_TRAINING_KEYS)}, got {training!r}.")
    training = {**GRID_DEFAULTS, **(training or {})}
    unknown = sorted(set(training) - set(GRID_TRAINING_KEYS))
    if unknown:
        raise ValueError(f"Unknown training setting(s) {', '.join(unknown)}; known: {', '.join(GRID_TRAINING_KEYS)}.")
    if not models or not tasks:
        raise ValueError("A grid needs at least one model and one task (--models and --tasks, or a JSON grid).")
    if not seeds:
        raise ValueError("A grid needs at least one seed.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ValueError(f"Grid name {name!r} must be letters, digits, '_' and '-'.")
    variants = [_grid_variant(m) for m in models]
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise ValueError(f"Two models of the grid share a label ({', '.join(labels)}); give each a distinct \"label\".")
    e = Experiment(name, title or f"Grid: {', '.join(labels)} on {', '.join(_task_name(t) for t in tasks)}", kind,
                   "How do these models compare on these tasks with the same data and the same number of steps?",
                   settings={"seeds": list(seeds), **training})
    for task in tasks:
        task_name, combos = _task_combinations(task)
        for params, swept in combos:
            e.runs += make_runs(name, variants, task_name, params, swept, seeds, **training)
    return e


def _grid_variant(m) -> Variant:
    if isinstance(m, str):
        return default_variant(m)
    if not isinstance(m, dict) or "model" not in m:
        raise ValueError(f"A grid model must be a registry key or an object with a \"model\" key, got {m!r}.")
    unknown = sorted(set(m) - {"model", "label", "model_params", "initialization"})
    if unknown:
        raise ValueError(f"A grid model takes model, label, model_params, initialization; not {', '.join(unknown)}.")
    params = dict(m.get("model_params") or {})
    base = default_variant(m["model"])
    setting = m.get("label") or ("default" if not params else "-".join(f"{k}={v}" for k, v in sorted(params.items())))
    given = ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    words = m.get("initialization") or (base.initialization + (f"; {given}" if params else ""))
    return Variant(m["model"], setting, words, params, name=m.get("label"))


def _task_name(t) -> str:
    return t if isinstance(t, str) else t.get("task", "?")


def _task_combinations(task) -> tuple[str, list[tuple[dict, dict]]]:
    """(task name, [(task params, swept values)]) with every list of values expanded."""
    if isinstance(task, str):
        return task, [({}, {})]
    if not isinstance(task, dict) or "task" not in task:
        raise ValueError(f"A grid task must be a task name or an object with a \"task\" key, got {task!r}.")
    params = task.get("params") or {}
    if not isinstance(params, dict) or not isinstance(task["task"], str):
        raise ValueError(f"A grid task is {{\"task\": name, \"params\": {{name: value or [values]}}}}, got {task!r}.")
    combos = [({}, {})]
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ValueError(f"Task parameter {key!r} of {task['task']!r} has an empty list of values.")
        swept = isinstance(value, list) and len(values) > 1
        combos = [({**p, key: v}, {**s, key: v} if swept else s) for p, s in combos for v in values]
    return task["task"], combos


# The kind of every key of a grid object in a JSON file, checked before the grid is made.
GRID_FILE_KINDS = (("models", list, "a list of model keys or objects"), ("tasks", list, "a list of task names or objects"),
                   ("seeds", list, "a list of integers"), ("training", dict, "an object of training settings"),
                   ("name", str, "a string"), ("title", str, "a string"), ("kind", str, "a string"))


def grid_from_json(path) -> list[Experiment]:
    """Experiments from a JSON file: one grid object, or {"experiments": [grid objects]}.

    A grid object: {"name", "title"?, "kind"?, "models": [...], "tasks": [...], "seeds": [...],
    "training": {...}} (see `grid`).
    """
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"Grid file {path} does not exist.") from None
    except IsADirectoryError:
        raise ValueError(f"Grid file {path} is a folder; give the JSON file of the grid.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"Grid file {path} is not valid JSON ({e}).") from None
    items = data.get("experiments") if isinstance(data, dict) and "experiments" in data else [data]
    if not isinstance(items, list) or not items:
        raise ValueError(f"Grid file {path}: \"experiments\" must be a non-empty list of grid objects.")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"Grid file {path}: experiment {i} must be a JSON object.")
        unknown = sorted(set(item) - {"name", "title", "kind", "models", "tasks", "seeds", "training"})
        if unknown:
            raise ValueError(f"Grid file {path}: unknown key(s) {', '.join(unknown)} in experiment {i}; "
                             "use name, title, kind, models, tasks, seeds, training.")
        for key, kind, words in GRID_FILE_KINDS:
            if key in item and not (isinstance(item[key], kind) and not isinstance(item[key], bool)):
                raise ValueError(f"Grid file {path}: {key!r} of experiment {i} must be {words}, got "
                                 f"{json.dumps(item[key])[:80]}.")
        if "seeds" in item and not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in item["seeds"]):
            raise ValueError(f"Grid file {path}: 'seeds' of experiment {i} must be a list of integers >= 0.")
        out.append(grid(item.get("models"), item.get("tasks"), item.get("seeds", [0]), item.get("training"),
                        name=item.get("name", f"grid{i + 1}" if len(items) > 1 else "grid"),
                        title=item.get("title"), kind=item.get("kind", "grid")))
    names = [e.key for e in out]
    if len(set(names)) != len(names):
        raise ValueError(f"Grid file {path}: experiment names must differ, got {', '.join(names)}.")
    return out


EXPERIMENT = register(Definition(
    "grid", "Grid", {}, None, columns=tables.variant_task_columns, findings=findings.findings_grid,
    figures=figures.grid_figures, takeaway=takeaways.grid, in_suite=False))
