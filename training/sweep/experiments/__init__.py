"""The experiments a sweep can hold, one module each, in one registry; the `seed-problems` suite is the
list of registered experiments (in registration order).

Each module (`vanishing.py`, `exploding.py`, ...) declares in one place an `Definition`: its key, title,
the question it asks, its settings per budget, the function that plans its runs from them, and how the
report shows it (summary-table columns, further tables, the sentences under "What the numbers show", the
takeaway paragraph, its figures) Adding an experiment is one module plus
its test (docs/adding.md).

    suite("seed-problems", "quick")     # [Experiment] to train, `training.sweep.runner` trains them
    get("vanishing")                    # the Definition; an old kind name (through_time) or an unknown
                                        # one (a newer sweep) gives the experiment that reads it
    list_experiments()

Budgets: "quick" (`make demo`, two CPU cores), "standard" (every variant), "full" (the real numbers,
hours), "smoke" (a pipeline check whose numbers mean nothing). What a smaller budget leaves out of `full`
is recorded in the sweep and printed in the report.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

from training.sweep.experiments._common import (DEFAULT_CORPUS_DIR, SAMPLE_PROMPT, Budget, Experiment,  # noqa: F401
                                                 PlannedRun, Variant, filter_models, omitted, variant)

SUITES = ("seed-problems",)
BUDGETS = ("quick", "standard", "full", "smoke")
# What every experiment shares at a budget; each experiment's own settings are in its module.
SUITE_BUDGETS = {
    "full": {"seeds": [0, 1, 2], "eval_size": 1000},
    # 3 workers keep 2 cores busy (docs/results.md)
    "standard": {"seeds": [0, 1, 2], "eval_size": 1000, "jobs": 3},
    # 1,000 evaluation examples: binomial SE 0.01 at chance 1/8
    "quick": {"seeds": [0, 1, 2], "eval_size": 1000, "jobs": 3},
    "smoke": {"seeds": [0], "eval_size": 64},
}


@dataclasses.dataclass(frozen=True)
class Definition:
    """An experiment: what it plans and how the report shows it.

    Args:
        key: short name: `--experiments`, the prefix of its runs' folders, the kind sweep.json names.
        title: section title.
        budgets: budget name -> this experiment's settings at that budget (sizes, steps, variants ...).
        plan: (settings, `Budget`) -> (question, settings in words, [PlannedRun]).
        columns: groups -> [(header, cell function of a group)] of the summary table.
        findings: (groups, rows) -> sentences, computed from this sweep's numbers.
        figures: (sweep folder, rows, report folder, experiment key) -> [(png path, caption)].
        takeaway: groups -> `takeaways.Takeaway` (headline, paragraph from the numbers).
        extra_tables: groups -> [(sentence introducing it, table)] shown after the summary table.
        samples: print the text each run generated (language models).
        aliases: older names of its kind that sweeps on disk carry (through_time for vanishing).
        in_suite: part of the seed-problems suite (the grid is not).
    """

    key: str
    title: str
    budgets: dict
    plan: Callable | None
    columns: Callable
    findings: Callable
    figures: Callable
    takeaway: Callable | None = None
    extra_tables: Callable = lambda groups: []
    samples: bool = False
    aliases: tuple = ()
    in_suite: bool = True

    def planned(self, budget: Budget) -> Experiment:
        question, settings, runs = self.plan(self.budgets[budget.name], budget)
        return Experiment(self.key, self.title, self.key, question, runs=runs, settings=settings)


_REGISTRY: dict[str, Definition] = {}
_ALIASES: dict[str, str] = {}
FALLBACK = "grid"  # the experiment whose report fits any task


def register(definition: Definition) -> Definition:
    if definition.key in _REGISTRY or definition.key in _ALIASES:
        raise ValueError(f"An experiment named {definition.key!r} is already registered.")
    _REGISTRY[definition.key] = definition
    for alias in definition.aliases:
        _ALIASES[alias] = definition.key
    return definition


def get(kind: str) -> Definition:
    """The experiment a sweep's `kind` names (its key or an older alias); the grid's, which fits any task,
    for a name this checkout does not know."""
    return _REGISTRY.get(_ALIASES.get(kind, kind), _REGISTRY[FALLBACK])


def known(kind: str) -> bool:
    return kind in _REGISTRY or kind in _ALIASES


def list_experiments(suite_only: bool = False) -> list[str]:
    return [k for k, d in _REGISTRY.items() if d.in_suite or not suite_only]


def default_jobs(budget: str | None) -> int:
    """Worker processes a budget uses unless --jobs says otherwise (quick, standard: 3 on the 2-core machine: a
    run's fixed cost is mostly single-threaded tracing)."""
    return int(SUITE_BUDGETS.get(budget or "", {}).get("jobs", 1))


def _budget(name: str, corpus_dir=None, seeds=None, param_budget=None) -> Budget:
    b = SUITE_BUDGETS[name]
    return Budget(name, list(seeds) if seeds else list(b["seeds"]), b["eval_size"],
                  {"param_budget": param_budget} if param_budget else {},
                  pathlib.Path(corpus_dir) if corpus_dir else DEFAULT_CORPUS_DIR)


def seed_problems(budget: str = "quick", corpus_dir=None, seeds=None, param_budget=None) -> list[Experiment]:
    """The experiments of the `seed-problems` suite at `budget`.

    Args:
        budget: "quick", "standard", "full" or "smoke".
        corpus_dir: the folder holding Tiny Shakespeare's `input.txt`, passed to `char_lm` as TFDS's
            `manual_dir`; None (the default) reads TFDS's own copy, downloading it once.
        seeds: override the budget's seeds.
        param_budget: give every model about this many parameters (its width is chosen to match).
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {', '.join(BUDGETS)}, got {budget!r}.")
    chosen = _budget(budget, corpus_dir, seeds, param_budget)
    full = _budget("full", corpus_dir, None, param_budget)
    out = []
    for key in list_experiments(suite_only=True):
        e = _REGISTRY[key].planned(chosen)
        if budget != "full":
            e.omitted = omitted(e, _REGISTRY[key].planned(full))
        out.append(e)
    return out


def suite(name: str, budget: str, experiments=None, models=None, **kwargs) -> list[Experiment]:
    """A named suite at `budget`, optionally restricted to some of its experiments and models."""
    if name not in SUITES:
        raise ValueError(f"Unknown suite {name!r}; the suites are: {', '.join(SUITES)}.")
    planned = seed_problems(budget, **kwargs)
    if experiments:
        unknown = sorted(set(experiments) - {e.key for e in planned})
        if unknown:
            raise ValueError(
                f"Suite {name!r} has no experiment {', '.join(unknown)}; its experiments are: "
                f"{', '.join(e.key for e in planned)}."
            )
        planned = [e for e in planned if e.key in experiments]
    planned = filter_models(planned, models)
    if not planned:
        raise ValueError("No run is left after filtering by --only-models; name models the suite trains.")
    return planned


# The registered experiments, in the suite's order (each module registers itself on import).
from training.sweep.experiments import vanishing, exploding, long_term, unidirectional, char_lm, grid  # noqa: E402,F401,I001

EXPERIMENT_KEYS = tuple(list_experiments(suite_only=True))
from training.sweep.experiments.grid import GRID_DEFAULTS, GRID_TRAINING_KEYS, grid_from_json  # noqa: E402,F401
