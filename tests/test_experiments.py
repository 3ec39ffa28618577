"""Every registered experiment, end to end at the smoke budget on one model (a handful of steps: its
numbers mean nothing, its pipeline does): planned, trained, reported with its table, findings, takeaway
and figures. A new experiment module is covered here as soon as it registers itself."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

import zoo
from training import compare
from training.sweep import experiments


@pytest.mark.parametrize("key", experiments.list_experiments())
def test_every_registered_experiment_runs_end_to_end_at_the_smoke_budget(key, tmp_path, tiny_shakespeare_dir):
    folder = tmp_path / key
    definition = experiments.get(key)
    assert definition.key == key
    if definition.in_suite:
        planned = experiments.suite("seed-problems", "smoke", experiments=[key], corpus_dir=tiny_shakespeare_dir)
        model = planned[0].runs[0].model  # the runs of one model keep it short
        argv = ["--budget", "smoke", "--experiments", key, "--only-models", model,
                "--corpus-dir", str(tiny_shakespeare_dir)]
    else:  # a grid: the first model of the zoo on recall
        argv = ["--models", zoo.list_models()[0], "--tasks", "recall", "--task-param", "gap=4",
                "--task-param", "eval_size=64", "--units", "8", "--batch-size", "16", "--steps", "3"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert compare.main([*argv, "--output", str(folder), "--jobs", "1", "--quiet"]) == 0
    results = json.loads((folder / "report" / "results.json").read_text())
    [experiment] = results["experiments"]
    assert experiment["kind"] == key and experiments.get(experiment["kind"]) is definition
    assert results["runs"] and all(r["status"] in ("finished", "diverged") for r in results["runs"])
    assert experiment["table"]["rows"] and experiment["findings"]
    assert definition.takeaway is None or experiment["takeaway"]["text"]
    figures = [p for p in (folder / "report").glob("*.png")]
    assert figures and all(p.read_bytes()[:4] == b"\x89PNG" for p in figures)


def test_old_kind_names_read_as_their_experiment_and_unknown_ones_as_a_grid():
    assert experiments.get("through_time").key == "vanishing"
    assert experiments.get("from_a_newer_checkout").key == "grid"
    assert experiments.known("through_time") and not experiments.known("from_a_newer_checkout")


def test_every_suite_experiment_declares_each_budget_and_plans_runs_that_validate(tmp_path):
    for key in experiments.list_experiments(suite_only=True):
        assert set(experiments.get(key).budgets) == set(experiments.BUDGETS), key
    for budget in experiments.BUDGETS:
        planned = experiments.seed_problems(budget, corpus_dir=tmp_path)
        assert [e.key for e in planned] == list(experiments.EXPERIMENT_KEYS)
        ids = [r.id for e in planned for r in e.runs]
        assert len(ids) == len(set(ids)) and all(r.id.startswith(e.key + "--") for e in planned for r in e.runs)
