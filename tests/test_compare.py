"""`python -m training.compare` and `python -m training.report`: a tiny sweep end to end, failures that
do not stop the sweep, the report rebuilt from the saved runs, and the seed-problems plan."""

import json
import pathlib
import re

import pandas as pd
import pytest

from training import compare, report
from training.sweep import experiments as suites
from training.sweep.experiments.grid import grid, grid_from_json
from training.core.runs import load_run

TINY = ["--units", "8", "--batch-size", "16", "--steps", "4", "--epochs", "2"]
TASK_PARAMS = ["--task-param", "recall.gap=4", "--task-param", "adding.length=10", "--task-param", "eval_size=64"]


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory):
    """Two models x two tasks, a handful of steps, through the command line."""
    import io
    import contextlib

    folder = tmp_path_factory.mktemp("sweep") / "tiny"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = compare.main(["--models", "simple_rnn,lstm", "--tasks", "recall,adding", *TASK_PARAMS, *TINY,
                           "--output", str(folder), "--quiet"])
    assert rc == 0
    return folder, out.getvalue()


def test_tiny_sweep_writes_every_run_and_a_self_contained_report(tiny_sweep):
    folder, printed = tiny_sweep
    report_dir = folder / "report"
    assert f"report: {report_dir}" in printed

    sweep = json.loads((folder / "sweep.json").read_text())
    assert [r["status"] for r in sweep["runs"]] == ["finished"] * 4
    ids = {r["id"] for r in sweep["runs"]}
    # every run is an ordinary saved run, with the gradient instruments' files
    for entry in sweep["runs"]:
        run = load_run(folder / entry["run_dir"], load_model=False)
        assert run.metadata["status"] == "finished" and run.config.seed == 0
        assert (run.path / "gradients.csv").is_file()

    html = (report_dir / "report.html").read_text()
    for section in ("How to rerun", "1. Grid: simple_rnn, lstm on recall, adding", "Summary", "Contents",
                    "What the numbers show", "Every run", "<strong>Initializations</strong>"):
        assert section in html, section
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert len(images) >= 3 and all(src.startswith("data:image/png;base64,") for src in images)
    assert "http://" not in html and "https://" not in html  # opens offline
    pngs = sorted(report_dir.glob("*.png"))
    # every figure embedded; the summary at the top repeats each experiment's headline figure
    assert len(pngs) == len(set(images)) and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)

    results = json.loads((report_dir / "results.json").read_text())
    assert {r["id"] for r in results["runs"]} == ids
    assert results["sweep"]["command"].startswith("python -m training.compare --models simple_rnn,lstm")
    table = results["experiments"][0]["table"]
    assert table["columns"][:2] == ["Model", "Task"] and len(table["rows"]) == 4
    assert "Test [95% CI]" in table["columns"] and "Initialization" not in table["columns"]  # in a legend
    frame = pd.read_csv(report_dir / "results.csv")
    assert len(frame) == 4 and set(frame["id"]) == ids
    recall = frame[frame["task"] == "recall"]
    assert (recall["chance"] == 0.125).all() and recall["test_accuracy"].between(0, 1).all()
    adding = frame[frame["task"] == "adding"]
    assert (adding["metric"] == "mse").all() and (adding["test_mse"] > 0).all()
    assert (frame["tokens_per_second"] > 0).all() and (frame["parameters"] > 0).all()

    md = (report_dir / "report.md").read_text()
    for png in pngs:
        assert f"]({png.name})" in md


def test_report_rebuilt_from_the_folder_gives_the_same_tables(tiny_sweep, capsys):
    folder, _ = tiny_sweep
    before = json.loads((folder / "report" / "results.json").read_text())
    csv_before = (folder / "report" / "results.csv").read_text()
    md_before = (folder / "report" / "report.md").read_text()
    import shutil

    shutil.rmtree(folder / "report")
    assert report.main([str(folder)]) == 0
    assert f"report: {folder / 'report'}" in capsys.readouterr().out
    after = json.loads((folder / "report" / "results.json").read_text())
    assert [e["table"] for e in after["experiments"]] == [e["table"] for e in before["experiments"]]
    assert [e["findings"] for e in after["experiments"]] == [e["findings"] for e in before["experiments"]]
    assert (folder / "report" / "results.csv").read_text() == csv_before
    assert (folder / "report" / "report.md").read_text() == md_before


def test_results_load_into_pandas_with_typed_columns_and_the_docs_snippet_runs(tiny_sweep, capsys):
    """docs/sweeps-at-scale.md: the column types, and its three-line snippet on a real sweep."""
    folder, _ = tiny_sweep
    frame = pd.read_csv(folder / "report" / "results.csv", dtype_backend="numpy_nullable")
    for column in ("experiment", "id", "label", "model", "task", "task_values", "status", "metric", "run_dir"):
        assert frame[column].dtype == "string", column
    for column in ("seed", "steps", "batch_size", "parameters", "units"):
        assert frame[column].dtype == "Int64", column
    for column in ("test_metric", "chance", "learning_rate", "tokens_per_second", "wall_seconds", "grad_norm_max"):
        assert frame[column].dtype == "Float64", column
    rows = json.loads((folder / "report" / "results.json").read_text())["runs"]
    from_json = pd.DataFrame(rows).convert_dtypes()
    assert from_json["seed"].dtype == "Int64" and from_json["test_metric"].dtype == "Float64"

    docs = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "sweeps-at-scale.md").read_text()
    snippet = docs.split("## Results in pandas", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert len(snippet.strip().splitlines()) == 3
    exec(snippet.replace("saved_models/<sweep>", str(folder)), {})
    table = capsys.readouterr().out
    assert "simple_rnn" in table and "lstm" in table and "gap=4" in table and "length=10" in table


def test_the_sweep_writes_tensorboard_hparams_summaries(tiny_sweep):
    folder, _ = tiny_sweep
    assert len(list(folder.glob("events.out.tfevents.*.hparams"))) == 1
    assert len(list(folder.glob("runs/*/tensorboard/events.out.tfevents.*.hparams"))) == 4


def test_grid_file_with_two_workers_then_resume_trains_the_same_numbers(tmp_path, tiny_sweep, capsys):
    """--grid FILE with --jobs 2 gives the numbers of the same runs trained in one process (the tiny
    sweep's); --resume trains again only the run that did not finish and keeps the others' files."""
    folder, _ = tiny_sweep
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({
        "models": ["simple_rnn"],
        "tasks": [{"task": "recall", "params": {"gap": 4, "eval_size": 64}},
                  {"task": "adding", "params": {"length": 10, "eval_size": 64}}],
        "training": {"units": 8, "batch_size": 16, "steps": 4, "epochs": 2},
    }))
    out = tmp_path / "out"
    assert compare.main(["--grid", str(grid), "--output", str(out), "--jobs", "2", "--quiet"]) == 0

    def test_metrics(sweep_folder):
        sweep = json.loads((sweep_folder / "sweep.json").read_text())
        return {r["id"]: json.loads((sweep_folder / r["run_dir"] / "metadata.json").read_text())["test"]
                for r in sweep["runs"] if r["status"] == "finished"}

    alone, together = test_metrics(folder), test_metrics(out)
    assert len(together) == 2 and set(together) <= set(alone)
    assert all(together[k] == alone[k] for k in together)  # same config and seed: the same numbers

    sweep = json.loads((out / "sweep.json").read_text())
    kept, again = sweep["runs"]
    kept_meta = out / kept["run_dir"] / "metadata.json"
    kept_mtime = kept_meta.stat().st_mtime_ns
    again["status"] = "interrupted"
    (out / "sweep.json").write_text(json.dumps(sweep))
    import shutil

    shutil.rmtree(out / again["run_dir"])
    assert compare.main(["--grid", str(grid), "--output", str(out), "--resume", "--quiet"]) == 0
    after = json.loads((out / "sweep.json").read_text())
    assert [r["status"] for r in after["runs"]] == ["finished", "finished"]
    assert kept_meta.stat().st_mtime_ns == kept_mtime and after["runs"][0]["sweep_seconds"] == kept["sweep_seconds"]
    assert test_metrics(out) == together


SEEDS_GRID = {
    "models": ["simple_rnn"],
    "tasks": [{"task": "recall", "params": {"gap": 4, "eval_size": 64}}],
    "seeds": [0, 1, 2],
    "training": {"units": 8, "batch_size": 16, "steps": 4, "epochs": 2},
}


def test_runs_of_one_architecture_train_as_one_bundle_and_give_the_numbers_of_runs_alone(tmp_path):
    """The three seeds go to one worker, which traces once (training.core.reuse); each run's numbers are
    those of the same config trained alone in a fresh model."""
    from training.core.config import RunConfig
    from training.core.loop import train
    from training.sweep import runner

    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps({**SEEDS_GRID, "models": ["simple_rnn", "lstm"]}))
    planned = [r for e in grid_from_json(grid) for r in e.runs]
    groups = runner.bundles(planned, list(range(len(planned))))
    assert sorted(sorted(planned[i].seed for _, i in g) for g in groups) == [[0, 1, 2], [0, 1, 2]]
    assert all(len({planned[i].model for _, i in g}) == 1 for g in groups)

    grid.write_text(json.dumps(SEEDS_GRID))
    out = tmp_path / "out"
    assert compare.main(["--grid", str(grid), "--output", str(out), "--jobs", "2", "--quiet"]) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert [r["status"] for r in sweep["runs"]] == ["finished"] * 3
    # Seeds 1 and 2 adopted the model seed 0 traced: each must match the same run trained alone.
    for entry, run in list(zip(sweep["runs"], grid_from_json(grid)[0].runs))[1:]:
        swept = json.loads((out / entry["run_dir"] / "metadata.json").read_text())
        alone = train(RunConfig.from_dict(run.config), root=tmp_path / "alone", verbose=0)
        assert swept["test"] == alone["test"], run.id


def test_a_worker_that_dies_fails_the_runs_it_did_not_finish_and_the_sweep_ends(tmp_path, monkeypatch):
    """Each worker process kills itself at its 6th training step: the first run of the bundle (4 steps)
    finishes and is kept, the second dies mid-run, the third never starts; the sweep still ends, with the
    reason."""
    monkeypatch.setenv("RNN_ZOO_TEST_DIE_AT", "train_step@6")
    grid = tmp_path / "grid.json"
    grid.write_text(json.dumps(SEEDS_GRID))
    out = tmp_path / "out"
    compare.main(["--grid", str(grid), "--output", str(out), "--jobs", "2", "--quiet"])
    runs = json.loads((out / "sweep.json").read_text())["runs"]
    assert [r["status"] for r in runs] == ["finished", "failed", "failed"]
    assert all("terminated abruptly" in r["error"] for r in runs[1:])
    assert (out / runs[0]["run_dir"] / "model.keras").is_file()


def test_a_failing_run_is_reported_and_the_others_go_on(tmp_path, tiny_sweep):
    from training.train import train

    def flaky_train(config, **kwargs):
        if config.model == "lstm":
            raise RuntimeError("simulated crash inside training")
        return train(config, **kwargs)

    experiments = grid(
        ["simple_rnn", "lstm"],
        [{"task": "recall", "params": {"gap": 4, "eval_size": 64}}],
        training={"units": 8, "batch_size": 16, "steps": 4, "epochs": 2},
    )
    # a corpus that cannot be had: the run fails with the data's own reason, nothing is trained for it
    text = grid(["simple_rnn"], [{"task": "char_lm", "params": {"path": str(tmp_path / "missing.txt"),
                                                                      "seq_len": 8}}], name="text",
                       training={"units": 8, "batch_size": 16, "steps": 4, "epochs": 2})
    # Tiny Shakespeare offline without its manual_dir and with an empty TFDS cache: TFDS's own reason
    empty = tmp_path / "empty_tfds"
    empty.mkdir()
    tfds = grid(["simple_rnn"], [{"task": "char_lm", "params": {
        "manual_dir": str(tmp_path / "no_corpus"), "data_dir": str(empty), "download": False, "seq_len": 8}}],
        name="tfds", training={"units": 8, "batch_size": 16, "steps": 4, "epochs": 2})
    sweep = compare.run_sweep([experiments, text, tfds], tmp_path / "out", description={"command": "test"},
                              verbose=False, train_fn=flaky_train)
    status = {r["id"]: (r["status"], r["error"]) for r in sweep["runs"]}
    assert status["grid--simple_rnn--recall--s0"] == ("finished", None)
    assert status["grid--lstm--recall--s0"] == ("failed", "RuntimeError: simulated crash inside training")
    failed_text, reason = status["text--simple_rnn--char_lm--s0"]
    assert failed_text == "failed" and "missing.txt" in reason and "does not exist" in reason
    failed_tfds, reason = status["tfds--simple_rnn--char_lm--s0"]
    assert failed_tfds == "failed" and "manual_dir" in reason and "no_corpus" in reason
    assert (tmp_path / "out" / "logs" / "grid--lstm--recall--s0.txt").read_text().count("simulated crash") >= 1

    out = report.build_report(tmp_path / "out")
    frame = pd.read_csv(out / "results.csv")
    assert list(frame["status"]) == ["finished", "failed", "failed", "failed"]
    md = (out / "report.md").read_text()
    assert "lstm on recall gap=4 (seed 0) failed: RuntimeError: simulated crash inside training" in md
    assert "does not exist" in md

    # the same run with the same seed gives the same numbers as in the other sweep
    tiny, _ = tiny_sweep
    other = pd.read_csv(tiny / "report" / "results.csv")
    same = other[(other["model"] == "simple_rnn") & (other["task"] == "recall")].iloc[0]
    mine = frame[frame["model"] == "simple_rnn"].iloc[0]
    assert json.loads(same["task_params"]) == json.loads(mine["task_params"]) == {"gap": 4, "eval_size": 64}
    assert mine["test_accuracy"] == same["test_accuracy"] and mine["test_loss"] == same["test_loss"]


def test_mistakes_in_the_request_are_refused_before_training(tmp_path, capsys):
    out = tmp_path / "never"
    assert compare.main(["--models", "simple_rnn,nope", "--tasks", "recall", "--output", str(out)]) == 2
    assert "Unknown model 'nope'" in capsys.readouterr().err
    assert compare.main(["--models", "lstm", "--tasks", "recall", "--task-param", "gapp=3", "--output", str(out)]) == 2
    assert "no parameter 'gapp'" in capsys.readouterr().err
    assert compare.main(["--models", "lstm", "--tasks", "recall", "--task-param", "adding.length=3",
                         "--output", str(out)]) == 2
    assert "not in --tasks" in capsys.readouterr().err
    assert compare.main(["--steps", "10"]) == 2
    assert "define a grid" in capsys.readouterr().err
    assert compare.main(["--experiments", "nope"]) == 2
    assert "has no experiment nope" in capsys.readouterr().err
    assert not out.exists()


def test_seed_problems_names_every_initialization_and_passes_the_corpus(tmp_path):
    full = {e.key: e for e in suites.seed_problems("full", corpus_dir=tmp_path)}
    quick = {e.key: e for e in suites.seed_problems("quick", corpus_dir=tmp_path)}
    assert list(full) == list(suites.EXPERIMENT_KEYS) == list(quick)
    for budget in (full, quick):
        for e in budget.values():
            ids = [r.id for r in e.runs]
            assert len(ids) == len(set(ids)) and e.question
            assert all(r.initialization for r in e.runs)
            # every model trained on one task of an experiment gets the same steps, batch and data stream
            groups = {}
            for r in e.runs:
                key = (r.task, json.dumps({k: v for k, v in r.task_params.items() if k != "answer_delay"},
                                          sort_keys=True))
                groups.setdefault(key, set()).add((r.config["epochs"] * r.config["steps_per_epoch"],
                                                   r.config["batch_size"]))
            assert all(len(budgets) == 1 for budgets in groups.values()), groups
    settings = {(r.model, r.setting) for r in full["vanishing"].runs}
    for model in ("simple_rnn", "irnn", "lstm", "gru"):
        assert (model, "default") in settings and (model, "glorot") in settings
    assert {("lstm", "forget_bias_3"), ("lstm", "chrono"), ("gru", "update_bias_3"), ("gru", "chrono")} <= settings
    assert {("lstm", "orthogonal"), ("gru", "orthogonal")} <= settings  # per gate block: one change vs glorot
    assert {("simple_rnn", "gain_0.5"), ("simple_rnn", "gain_0.8"), ("simple_rnn", "gain_1.5")} <= settings
    assert all(r.config["theory"] and r.config["curve_every"] > 0 for r in quick["vanishing"].runs)
    sgd = [r for r in full["exploding"].runs if r.task == "recall"]
    gains = {(r.model, r.extra["gain"], r.config["global_clipnorm"]) for r in sgd}
    assert gains == {(m, g, c) for m in ("simple_rnn", "irnn") for g in (1.0, 1.5, 2.0) for c in (None, 1.0)}
    assert all(r.config["optimizer"] == "sgd" for r in sgd)
    adding = [r for r in quick["exploding"].runs if r.task == "adding"]
    assert {(r.model, r.config["optimizer"], r.config["global_clipnorm"]) for r in adding} == {
        ("irnn", "adam", None), ("irnn", "adam", 1.0)}  # clipping makes this one succeed
    # make demo's time: quick runs recall and copy memory (and the cloze); the full budget every task
    assert {r.task for r in quick["long_term"].runs} == {"recall", "copy_memory", "kerala_cloze"}
    assert {r.task for r in full["long_term"].runs} == {"recall", "adding", "copy_memory", "temporal_order", "kerala_cloze"}
    assert {"lstm [forget_bias_3]", "lstm [chrono]", "gru [update_bias_3]"} <= {r.label for r in quick["long_term"].runs}
    assert {r.seed for e in quick.values() if e.key != "char_lm" for r in e.runs} == {0, 1, 2}
    assert all(r.task_params.get("eval_size", 1000) >= 1000 for e in quick.values() for r in e.runs)
    assert all(r.config["units"] >= 128 for r in quick["char_lm"].runs)
    assert max(r.task_params["gap"] for r in quick["long_term"].runs if r.task == "recall") >= 100
    directions = {r.extra["direction"] for r in quick["unidirectional"].runs}
    assert directions == {"causal", "causal, answers late", "sees the future"}
    late = [r for r in quick["unidirectional"].runs if r.extra["direction"] == "causal, answers late"]
    assert all(r.task_params["answer_delay"] > 0 for r in late)
    assert all(r.task_params["manual_dir"] == str(tmp_path) for r in quick["char_lm"].runs)
    assert all(r.extra["sample_length"] > 0 for r in quick["char_lm"].runs)
    assert all(e.omitted for e in quick.values())  # the quick budget says what it left out
    assert all(r.config["validation_steps"] is None
               for r in grid(["lstm"], ["recall"]).runs)  # a grid validates as training.train does
    # the suite's synthetic runs leave out Keras's epoch-end validation pass (their learning curve measures validation,
    # and every one has a curve); the char-LM keeps its pass for the validation column of its table
    for budget in (full, quick):
        for e in budget.values():
            for r in e.runs:
                if r.task == "char_lm":
                    assert r.config["validation_steps"] != 0
                else:
                    assert r.config["validation_steps"] == 0 and r.config["curve_every"] > 0, r.id
    # every synthetic run of the quick plan is a valid request; a missing corpus only marks its runs
    unavailable = compare.check_plan(list(quick.values()))
    assert all(task == "char_lm" for task, _ in unavailable)


@pytest.mark.slow
def test_smoke_budget_of_the_seed_problems_suite_reports_all_five_experiments(tmp_path, tiny_shakespeare_dir):
    """Every experiment kind end to end on tiny models (45 runs of 3 steps: about three minutes)."""
    folder = tmp_path / "smoke"
    assert compare.main(["--budget", "smoke", "--corpus-dir", str(tiny_shakespeare_dir), "--output", str(folder),
                         "--quiet"]) == 0
    results = json.loads((folder / "report" / "results.json").read_text())
    assert [e["key"] for e in results["experiments"]] == list(suites.EXPERIMENT_KEYS)
    assert all(r["status"] == "finished" for r in results["runs"])
    names = {p.name for p in (folder / "report").glob("*.png")}
    for expected in ("vanishing_profiles.png", "vanishing_decay.png", "exploding_norms.png", "exploding_loss.png",
                     "long_term_recall_gap.png", "long_term_adding.png", "unidirectional_accuracy.png",
                     "char_lm_curves.png"):
        assert expected in names, expected
    by_key = {e["key"]: e for e in results["experiments"]}
    assert any("decades/step" in f for f in by_key["vanishing"]["findings"])
    # the exploding findings count the settings that diverged, as the runs' statuses say
    # within each of its settings (IRNN on adding, the gain sweep on recall): never pooled across the two
    runs = [r for r in results["runs"] if r["experiment"] == "exploding"]
    settings = list(dict.fromkeys(r.get("group") or r["task"] for r in runs))
    assert len(settings) == 2, settings
    for setting in settings:
        for clip, words in ((None, "without clipping"), (1.0, "with global_clipnorm=1")):
            mine = {}  # label -> whether any of its seeds diverged
            for r in runs:
                if (r.get("group") or r["task"]) == setting and (r.get("clip") or None) == clip:
                    mine[r["label"]] = mine.get(r["label"], False) or r["status"] == "diverged"
            diverged = sum(mine.values())
            expected = (f"{setting}: {words}, {diverged} of {len(mine)} settings diverged" if diverged
                        else f"{setting}: {words}, none of the {len(mine)} settings diverged.")
            assert any(f.startswith(expected) for f in by_key["exploding"]["findings"]), expected
    runs = [r for r in results["runs"] if r["experiment"] == "char_lm"]
    assert all(r["sample"].startswith(suites.SAMPLE_PROMPT) for r in runs)
    assert all(r["tt_decay_init"] is not None for r in results["runs"] if r["experiment"] == "vanishing")
