"""The report side of the run folders' statistics (training.sweep.results) on folders written by hand
(no training): per-example files become intervals and paired tests, learning curves become "not converged" and steps to solve, a
producer's degenerate flag keeps a perfect score out of the ranking."""

import dataclasses
import json

import numpy as np
import pytest

from training.sweep import document, results

N = 1000


def _run(folder, rid, label, correct, *, degenerate=False, curve=None, status="finished"):
    run_dir = folder / "runs" / rid
    run_dir.mkdir(parents=True)
    correct = np.asarray(correct, np.int64)
    loss = np.where(correct == 1, 0.1, 3.0)
    np.savez(run_dir / "test_examples.npz", loss=loss, count=np.ones(N, np.int64), correct=correct)
    steps = np.arange(0, 501, 25)
    curve = curve if curve is not None else 2.08 * np.exp(-steps / 40) + 0.05
    acc = np.clip(1.0 - curve / 2.08, 0.125, 1.0)
    lines = ["step,val_loss,val_accuracy"] + [f"{s},{v},{a}" for s, v, a in zip(steps, curve, acc)]
    (run_dir / "curve.csv").write_text("\n".join(lines) + "\n")
    meta = {"status": status, "parameters": 1000, "chance": {"loss": 2.079, "accuracy": 0.125},
            "test": {"accuracy": float(correct.mean()), "loss": float(loss.mean())},
            "test_examples": {"file": "test_examples.npz", "n": N, "tokens": N, "eval_set": "same-examples"},
            "degenerate": {"flag": degenerate, "reason": "hidden-state norm 3.1e14; test loss exactly 0" if degenerate
                           else ""},
            "learning_curve": {"file": "curve.csv", "points": len(steps)}}
    (run_dir / "metadata.json").write_text(json.dumps(meta))
    (run_dir / "task_spec.json").write_text(json.dumps({"output": "last_class", "metrics": ["loss", "accuracy"],
                                                        "params": {"gap": 30, "eval_size": N}}))
    config = {"epochs": 1, "steps_per_epoch": 500, "batch_size": 32, "optimizer": "adam", "learning_rate": 3e-3}
    return {"experiment": "grid", "id": rid, "label": label, "model": label.split()[0], "setting": "default",
            "initialization": f"{label} init", "task": "recall", "task_params": {"gap": 30, "eval_size": N},
            "seed": 0, "config": config, "status": status, "run_dir": f"runs/{rid}", "extra": {}}


@pytest.fixture()
def sweep(tmp_path):
    rng = np.random.default_rng(0)
    base = (rng.random(N) < 0.85).astype(np.int64)  # lstm: 85% right
    better = base.copy()
    better[np.nonzero(base == 0)[0][:40]] = 1  # gru: the same examples, 40 more right
    still = 2.08 - 0.003 * np.arange(0, 501, 25)  # still falling at the end
    runs = [_run(tmp_path, "gru", "gru", better), _run(tmp_path, "lstm", "lstm", base, curve=still),
            _run(tmp_path, "irnn", "irnn", np.ones(N), degenerate=True)]
    (tmp_path / "sweep.json").write_text(json.dumps({
        "name": "grid", "seeds": [0], "experiments": [{"key": "grid", "title": "Grid", "kind": "grid",
                                                       "question": "Which model recalls?", "settings": {}}],
        "runs": runs}))
    return tmp_path


def test_rows_follow_the_schema(sweep):
    _, rows = results.collect(sweep)
    assert all(isinstance(r, results.RunRow) for r in rows)
    by = {r.id: r for r in rows}
    assert by["gru"].test_correct == int(by["gru"].test["accuracy"] * N)
    assert by["gru"].n_eval == N and by["gru"].eval_set == "same-examples"
    assert by["gru"].examples_file == "runs/gru/test_examples.npz"
    assert by["gru"].degenerate is False and by["irnn"].degenerate is True
    assert "3.1e14" in by["irnn"].degenerate_reason
    assert by["gru"].loss_still_falling is False and by["lstm"].loss_still_falling is True
    assert by["gru"].curve_points == 21 and by["gru"].learning_curve == "runs/gru/curve.csv"
    assert by["gru"].solved is True and by["gru"].steps_to_solve == 125
    assert by["lstm"].solved is False and by["lstm"].steps_to_solve is None
    # the flat record is results.csv's row: the test numbers spread into test_<name> columns, and back
    record = by["gru"].record()
    assert record["test_accuracy"] == by["gru"].test["accuracy"] and record["task_params"] == '{"eval_size": 1000, "gap": 30}'
    assert results.RunRow.from_record(record) == by["gru"]


def test_report_pairs_the_shared_examples_and_sets_degenerate_runs_apart(sweep):
    out = document.build_report(sweep)
    report = json.loads((out / "results.json").read_text())
    experiment = report["experiments"][0]
    text = " ".join(experiment["findings"])
    # 40 discordant examples, all one way: McNemar on the shared test set, not a two-proportion test
    assert "gru (0.888" in text and "beat lstm" in text and "McNemar" in text
    assert "Not converged in this budget" in text and "lstm" in text
    assert "Degenerate, so not counted" in text and "irnn" in text
    flags = {row[0]: row[-1] for row in experiment["table"]["rows"]}
    assert flags["irnn"].startswith("degenerate (hidden-state norm 3.1e14")
    assert "not converged" in flags["lstm"] and flags["gru"] == "–"
    notes = " ".join(experiment["table"]["notes"])
    assert "unknown" not in notes  # everything was recorded
    assert "Steps to solve" in experiment["table"]["columns"]
    md = (out / "report.md").read_text()
    assert "the best was gru" in md  # the grid's takeaway; the degenerate irnn (1.0) is not "best"


def test_a_hand_edited_bare_degenerate_flag_still_reads():
    """metadata.json's "degenerate" is the producer's dict; a bare `true` (edited by hand) must not break
    the report: the stored numbers still give the reason."""
    row = results.RunRow(status="finished", test={"loss": 0.0}, chance_loss=2.3, metric="accuracy")
    got = results._degenerate({"degenerate": True}, row, {})
    assert got == {"degenerate": True, "degenerate_reason": "test loss exactly 0 in float32 (saturated outputs)"}
    row.test["loss"] = 1.0
    assert results._degenerate({"degenerate": True}, row, {}) == {}


def test_the_schema_in_the_docs_is_the_one_the_dataclasses_define():
    from training.sweep import schema

    section = schema.section(schema.DOC.read_text(encoding="utf-8"))
    assert section is not None, f"docs/results.md lost its schema markers; put them back and run `{schema.COMMAND}`"
    assert section == schema.render(), f"docs/results.md's schema is out of date: run `{schema.COMMAND}`"


def test_every_field_says_what_it_is_and_where_it_comes_from():
    import dataclasses

    for f in dataclasses.fields(results.RunRow) + dataclasses.fields(results.VariantGroup):
        assert len(f.metadata.get("doc", "")) > 10 and f.metadata.get("source"), f.name
    # a column results.csv has always had is a field: a typo in a reader fails at once, not as an empty cell
    row = results.RunRow(test={"loss": 0.5}, baselines={"bigram": 3.1}, baselines_validation={"bigram": 3.2})
    record = row.record()
    assert set(results.ALWAYS_COLUMNS) <= set(record) and "parameters" not in record  # not recorded: no column
    assert record["test_loss"] == 0.5 and record["baseline_bigram"] == 3.1 and record["baseline_val_bigram"] == 3.2
    assert results.RunRow.from_record(record) == row
    with pytest.raises(ValueError, match="no column 'tset_loss'"):
        results.RunRow.from_record({**record, "tset_loss": 1.0})


def test_row_fields_are_named_as_attributes_and_a_misspelt_one_fails_where_it_is_written():
    from training.sweep import tables
    from training.sweep.results import ROW

    rows = [results.RunRow(label="lstm", task="recall", metric="accuracy", status="finished", seed=seed,
                           grad_norm_max=norm, test={"accuracy": 0.5}) for seed, norm in ((0, 2.0), (1, 4.0))]
    (group,) = results.group_rows(rows)
    assert group.mean(ROW.grad_norm_max) == tables.mean(group, ROW.grad_norm_max) == 3.0
    assert tables.values(group, ROW.seed) == [0.0, 1.0] and tables.cell(group, ROW.grad_norm_max) == "3 [2, 4]"
    assert group.mean(lambda r: r.test["accuracy"]) == 0.5 and ROW.where(rows[0]) == "recall"
    assert group.mean("grad_norm_max") == 3.0  # a field's name still reads, through ROW
    for misspelt in (lambda: ROW.grad_nrom_max, lambda: group.mean("grad_nrom_max")):
        with pytest.raises(AttributeError, match="RunRow has no field 'grad_nrom_max'"):
            misspelt()


def test_the_progress_line_and_the_row_name_a_run_by_the_same_task_values():
    """One rule (results.NOT_SETTINGS) decides which task values name a run: the sweep's progress line and the
    report's task_values leave out where data lives and how much is evaluated, and keep every setting."""
    from training.sweep import runner
    from training.sweep.experiments import PlannedRun

    params = {"gap": 30, "keys": 8, **{key: f"v_{key}" for key in sorted(results.NOT_SETTINGS)}}
    run = PlannedRun(id="r", experiment="grid", model="lstm", setting="default", label="lstm", initialization="",
                     task="recall", task_params=params, seed=0, config={})
    assert results.task_values({"task_params": params}) == "gap=30 keys=8"
    assert runner._words(run) == "grid: lstm on recall gap=30 keys=8 seed 0"
    only_data = {key: 1 for key in results.NOT_SETTINGS}
    assert results.setting_words(only_data) == ""
    assert runner._task_words(dataclasses.replace(run, task_params=only_data)) == "recall"
