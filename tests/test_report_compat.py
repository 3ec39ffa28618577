"""A sweep folder written before the layout change still rebuilds with `python -m training.report`.

tests/data/sweep-before-layout.tar.gz is `python -m training.compare --budget smoke` run at commit f3a0922
(before training/ was regrouped), stopped after 38 of its 45 runs, with the model files, checkpoints and
TensorBoard logs left out (the report reads none of them) and its report built by that commit.
"""

import json
import pathlib
import tarfile

import pandas as pd

from training import report

DATA = pathlib.Path(__file__).resolve().parent / "data"


def test_a_sweep_written_before_the_layout_rebuilds_with_the_same_rows(tmp_path, capsys):
    with tarfile.open(DATA / "sweep-before-layout.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "sweep-before-layout"
    old_rows = pd.read_csv(folder / "report" / "results.csv")
    old = json.loads((folder / "report" / "results.json").read_text())

    assert report.main([str(folder)]) == 0
    assert f"report: {folder / 'report'}" in capsys.readouterr().out
    rows = pd.read_csv(folder / "report" / "results.csv")
    assert list(rows["id"]) == list(old_rows["id"])
    assert set(old_rows.columns) <= set(rows.columns)
    pd.testing.assert_frame_equal(rows[old_rows.columns], old_rows)  # every file is read as before
    md = (folder / "report" / "report.md").read_text()
    for experiment in old["experiments"]:
        assert experiment["title"] in md
    assert len(list((folder / "report").glob("*.png"))) >= 8
