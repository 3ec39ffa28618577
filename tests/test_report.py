"""`python -m training.report` on a sweep written before the statistics schema (tests/data/sweep_f3a0922:
nine runs of the smoke budget at commit f3a0922, model files left out): it rebuilds, shows what it cannot
know as unknown instead of inventing it, and the page is real HTML (rendered Markdown, contents, summary
first, figures embedded, offline)."""

import json
import re
import shutil

import pandas as pd
import pytest

from training import report
from training.sweep import markdown, screenshots

OLD = __import__("pathlib").Path(__file__).parent / "data" / "sweep_f3a0922"


@pytest.fixture(scope="module")
def old_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("old") / "sweep"
    shutil.copytree(OLD, folder)
    assert report.main([str(folder)]) == 0
    return folder / "report"


def test_old_sweep_rebuilds_with_unknown_fields(old_report):
    frame = pd.read_csv(old_report / "results.csv")
    assert len(frame) == 9
    finished = frame[frame["status"] == "finished"]
    # never recorded by that code: empty, not False
    assert finished["degenerate"].isna().all() and finished["loss_still_falling"].isna().all()
    assert finished["examples_file"].isna().all()
    # one label per example: the count of correct answers is exact from accuracy x eval_size
    recall = finished[finished["task"] == "recall"]
    assert (recall["n_eval"] == 64).all()
    assert (recall["test_correct"] == (recall["test_accuracy"] * 64).round()).all()
    # a regression and a per-step task: no test size recorded, so no interval
    assert finished[finished["task"] != "recall"]["test_correct"].isna().all()

    md = (old_report / "report.md").read_text()
    assert "is unknown: this sweep did not record it" in md
    assert "± 0" not in md and "mean ± std" not in md
    # an accuracy gets its binomial interval, a loss without per-example data none
    assert re.search(r"\| 0\.\d+ \[0\.\d+, 0\.\d+\] \|", md)
    assert "cannot be tested" in md
    assert "did not record where their time went" in md  # never invented for an old sweep


def test_old_sweep_page_is_rendered_markdown(old_report):
    html = (old_report / "report.html").read_text()
    assert "*Question:*" not in html and "<em>Question:</em>" in html
    assert "**" not in html.split("<pre>")[0]
    assert '<section id="section-contents">' in html and 'href="#summary-what-this-sweep-shows"' in html
    # the summary and its figures come before the setup details
    setup = html.index('<h2 id="how-to-rerun">')
    assert html.index('<h2 id="summary-what-this-sweep-shows">') < html.index("<img") < setup
    images = re.findall(r'<img [^>]*src="([^"]+)"', html)
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert "http://" not in html and "https://" not in html
    # every internal link points at an anchor that exists
    ids = set(re.findall(r' id="([^"]+)"', html))
    assert {h[1:] for h in re.findall(r'href="(#[^"]+)"', html)} <= ids


def test_tables_carry_intervals_flags_and_a_legend(old_report):
    results = json.loads((old_report / "results.json").read_text())
    vanishing = next(e for e in results["experiments"] if e["key"] == "vanishing")
    table = vanishing["table"]
    assert "Initialization" not in table["columns"] and "Flags" in table["columns"]
    assert any("95% CI" in c for c in table["columns"])
    assert any("Wilson interval over 64 test examples" in n for n in table["notes"])
    assert vanishing["takeaway"]["text"].startswith("At initialisation")
    md = (old_report / "report.md").read_text()
    assert "**Initializations**" in md and "- `lstm`: Keras defaults" in md


def test_markdown_and_html_have_the_same_headings(old_report):
    md = (old_report / "report.md").read_text()
    _, headings = markdown.render(md)
    html = (old_report / "report.html").read_text()
    for level, anchor, title in headings:
        assert f'<h{level} id="{anchor}">' in html


@pytest.mark.slow
@pytest.mark.skipif(screenshots.browser() is None, reason="no Chromium on PATH")
def test_screenshots_of_the_top_and_every_section(old_report, tmp_path):
    shots = screenshots.take(old_report / "report.html", tmp_path)
    names = [p.name for p in shots]
    assert names[0] == "top.png" and any("summary" in n for n in names) and any("every-run" in n for n in names)
    assert all(p.read_bytes()[:4] == b"\x89PNG" and p.stat().st_size > 5000 for p in shots)


def test_timing_table_splits_training_steps_from_the_fixed_cost_per_experiment():
    from training.sweep.document import timing_table

    from training.sweep.results import RunRow

    rows = [RunRow(experiment="a", wall_seconds=w, steps_seconds=st, first_step_seconds=1.0, fixed_seconds=w - st)
            for w, st in ((10.0, 6.0), (12.0, 6.0), (20.0, 8.0))]
    rows += [RunRow(experiment="b", wall_seconds=100.0, steps_seconds=90.0, first_step_seconds=2.0,
                    fixed_seconds=10.0), RunRow(experiment="b")]
    table = timing_table(rows)
    a, b, total = table["rows"]
    assert a[:7] == ["a", "3", "42", "12", "6", "1", "6"]  # medians; fixed 4, 6, 12
    assert a[7] == "52%"  # 22 of 42 s
    assert b[:2] == ["b", "1"] and b[7] == "10%"  # the run without a clock is left out, not counted as 0
    assert total[0] == "all" and total[2] == "142" and total[7] == "23%"  # 32 of 142 s
    assert timing_table([RunRow(experiment="a", wall_seconds=3.0)]) is None
