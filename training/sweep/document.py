"""The report of a comparison sweep, written to `<sweep>/report/` from `sweep.json` and the saved runs
(`build_report`; `python -m training.report` and `python -m training.compare` call it):

    report.md      the report (tables, figures by relative path, generated text)
    report.html    the same Markdown rendered (`training.sweep.markdown`), self-contained: the figures are
                   embedded, it opens offline
    *.png          the figures
    results.csv    one row per run (pandas.read_csv reads it)
    results.json   the sweep's description, every experiment's takeaway, tables and text, every run's row

A student reads it top down: the summary (one takeaway per experiment with its headline figure), then
each experiment (takeaway, figures, the table with every number's 95% interval and flags, a legend of
the initializations, the verdicts of the comparisons, then its setup), and only at the end how to rerun
it and the list of runs.
"""

from __future__ import annotations

import base64
import html
import math
import pathlib
import re
import statistics

from training.core import preflight
from training.core.runs import remove_staging_leftovers, staged_folder, write_json, write_text
from training.sweep import evidence, markdown, results
from training.sweep.findings import failures
from training.sweep import experiments as registered
from training.sweep.tables import aggregate, initialization_legend, make_table, number

REPORT_DIR = "report"
REPORT_BYTES = 50 << 20  # room a report needs at most: its figures, the HTML that embeds them, the tables


CSV_COLUMNS_FIRST = ("experiment", "id", "label", "model", "setting", "task", "task_values", "seed", "status",
                     "error", "parameters", "metric", "test_metric", "chance", "tokens_per_second", "wall_seconds")

HOW_TO_READ = (
    "**How to read the numbers.** A number in brackets is its 95% interval: over the seeds when a variant ran "
    "with several (a t-interval), else over the test examples of its one run (Wilson for an accuracy, a "
    "bootstrap over examples for a loss). A variant *beat* another only when the difference is significant "
    "(p < 0.05, the test is named); otherwise they *tie*. Two results *at chance* (not significantly "
    "different from guessing) are not ranked; a result *below chance*, a *degenerate* run (saturated or "
    "overflowing: its number is not a learned solution) and a run *not converged* (its loss still falling at "
    "the end) are flagged in the tables and the text. *unknown* means the sweep did not record it."
)


class Document:
    """A report as Markdown blocks; `html()` renders the same Markdown (`training.sweep.markdown`), so the
    two files say the same. Level-2 headings open the sections that `html()` wraps in `<section>` and that
    `contents()` lists."""

    def __init__(self):
        self.blocks: list[str] = []

    def heading(self, level, text):
        self.blocks.append("#" * level + " " + text)

    def para(self, text):
        self.blocks.append(text)

    def quote(self, text):
        self.blocks.append("> " + text.replace("\n", "\n> "))

    def bullets(self, items):
        items = [str(i).replace("\n", " ") for i in items]
        if items:
            self.blocks.append("\n".join(f"- {item}" for item in items))

    def table(self, table):
        cols, rows = table["columns"], table["rows"]
        align = table.get("align") or ["left"] * len(cols)
        lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |",
                 "|" + "|".join("---:" if a == "right" else "---" for a in align) + "|"]
        lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
        self.blocks.append("\n".join(lines))

    def figure(self, path, caption):
        self.blocks.append(f"![{_md_text(caption)}]({pathlib.Path(path).name})\n\n*{_md_text(caption)}*")

    def pre(self, title, text):
        self.blocks.append(f"**{title}**\n\n```text\n{text}\n```")

    def placeholder(self) -> int:
        """A block to fill later (the table of contents, once every heading is known)."""
        self.blocks.append("")
        return len(self.blocks) - 1

    def contents(self) -> str:
        """A Markdown list of links to the level-2 headings, with the anchors `markdown.render` gives them."""
        _, headings = markdown.render(self.markdown())
        return "\n".join(f"- [{title}](#{anchor})" for level, anchor, title in headings
                         if level == 2 and anchor != "contents")

    def markdown(self) -> str:
        return "\n\n".join(b for b in self.blocks if b) + "\n"

    def html(self, title, image_dir) -> str:
        image_dir = pathlib.Path(image_dir)

        def embed(src):
            path = image_dir / src
            if path.is_file():
                return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
            return src

        body, _ = markdown.render(self.markdown(), image_source=embed)
        parts = []
        for chunk in re.split(r'(?m)^(?=<h2 id=")', body):  # level-2 headings only ever start a top-level line
            found = re.match(r'<h2 id="([^"]+)"', chunk)
            parts.append(f'<section id="section-{found.group(1)}">{chunk}</section>' if found else chunk)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>\n"
            + "\n".join(parts) + "\n</main></body></html>\n"
        )


_CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#1d1d1f;"
    "line-height:1.5;background:#fff}main{max-width:1180px;margin:0 auto;padding:1.5em 1.5em 4em}"
    "h1{font-size:1.7em;margin:0.3em 0 0.4em}h2{font-size:1.35em;border-bottom:1px solid #ddd;"
    "padding-bottom:0.2em;margin-top:2.2em}h3{font-size:1.08em;margin-top:1.6em}"
    "p,li{max-width:60em}blockquote{margin:1em 0;padding:0.6em 1em;background:#f4f7fb;border-left:4px solid "
    "#4a7bbd;border-radius:3px}blockquote p{margin:0.3em 0}"
    ".table-wrap{overflow-x:auto;margin:0.8em 0}table{border-collapse:collapse;font-size:0.84em}"
    "th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:left;vertical-align:top}"
    "th{background:#f2f2f2;position:sticky;top:0;font-weight:600;min-width:4em}td.num{text-align:right;"
    "white-space:nowrap;font-variant-numeric:tabular-nums}th.num{text-align:right}"
    "td:first-child{white-space:nowrap}tbody tr:nth-child(even){background:#fafafa}"
    "figure{margin:1.2em 0;text-align:center}figure img{max-width:100%;border:1px solid #eee}"
    "figcaption{font-size:0.88em;color:#444;max-width:60em;margin:0.4em 0 0;text-align:left}"
    "pre{background:#f6f6f6;padding:0.7em;white-space:pre-wrap;font-size:0.85em}"
    "code{background:#f1f1f1;padding:0 3px;border-radius:2px;font-size:0.92em}"
    "section#section-contents ul{columns:2;max-width:60em}a{color:#2557a7}"
)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_text(value) -> str:
    """Text that is not Markdown (a caption written with *, [ or _ literally) for a Markdown line."""
    return str(value).replace("\n", " ").replace("[", "(").replace("]", ")")


# ------------------------------------------------------------------------------------------ build
def build_report(folder) -> pathlib.Path:
    """Write `<folder>/report/` from `<folder>/sweep.json` and the saved runs; returns the report folder."""
    folder = pathlib.Path(folder)
    results.read_sweep(folder)  # a folder that is not a sweep, or a hand-edited sweep.json: said at once
    # Written as `train` writes: the folder checked first, the report built beside the old one and swapped in
    # whole (a kill, a full disk or a read-only remount mid-way leaves the previous report as it was).
    preflight.check_folder(folder, "the sweep folder")
    preflight.check_free_space(folder, REPORT_BYTES, what="the report", flag=None)
    remove_staging_leftovers(folder)
    sweep, rows = results.collect(folder)
    with staged_folder(folder / REPORT_DIR) as out_dir:
        _build(folder, out_dir, sweep, rows)
    return folder / REPORT_DIR


def _build(folder, out_dir, sweep, rows) -> None:
    load = results.examples_loader(folder)

    experiments = []
    for number_, meta in enumerate(sweep.get("experiments", []), start=1):
        mine = [r for r in rows if r.experiment == meta["key"]]
        groups = aggregate(mine, load_examples=load)
        kind = registered.get(meta["kind"])
        experiments.append({
            "number": number_, "meta": meta, "rows": mine, "groups": groups, "kind": kind,
            "takeaway": kind.takeaway(groups) if kind.takeaway and mine else None,
            "figures": kind.figures(folder, mine, out_dir, meta["key"]),
        })

    title = _title(sweep)
    doc = Document()
    doc.heading(1, title)
    statuses = [r.status for r in rows]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    seeds = sweep.get("seeds") or sorted({r.seed for r in rows})
    doc.para(f"{len(rows)} runs ({counts}), {len(seeds)} seed{'s' if len(seeds) != 1 else ''} per variant. Every "
             "run of an experiment saw the same examples in the same order and trained for the same number of "
             "optimizer steps; each is a saved run under `runs/` that `training.load_run` reloads.")
    doc.para(HOW_TO_READ)
    doc.heading(2, "Contents")
    contents = doc.placeholder()

    with_takeaway = [e for e in experiments if e["takeaway"]]
    if with_takeaway:
        doc.heading(2, "Summary: what this sweep shows")
        for e in with_takeaway:
            doc.heading(3, f"{e['number']}. {e['takeaway'].headline}")
            doc.para(e["takeaway"].text)
            if e["figures"]:
                doc.figure(*e["figures"][0])
            doc.para(f"Details: [{e['number']}. {e['meta']['title']}](#{_anchor(e['number'], e['meta']['title'])}).")

    experiments_out = []
    for e in experiments:
        meta, groups, mine, kind = e["meta"], e["groups"], e["rows"], e["kind"]
        table = make_table(kind.columns(groups), groups)
        findings = kind.findings(groups, mine) + failures(groups)
        doc.heading(2, f"{e['number']}. {meta['title']}")
        if e["takeaway"]:
            doc.quote(f"**Takeaway.** {e['takeaway'].text}")
        doc.para(f"*Question:* {meta['question']}")
        for path, caption in e["figures"]:
            doc.figure(path, caption)
        doc.heading(3, "Results")
        doc.table(table)
        doc.bullets(table["notes"])
        doc.para("**Initializations** (the labels above):")
        doc.bullets(initialization_legend(groups))
        extra_tables = []
        for intro, extra in kind.extra_tables(groups):
            doc.para(intro)
            doc.table(extra)
            extra_tables.append(extra)
        doc.heading(3, "What the numbers show")
        doc.bullets(findings)
        if kind.samples:
            for g in groups:
                sample = next((r.sample for r in g.rows if r.sample), None)
                if sample:
                    doc.pre(f"{g.label} (seed {g.seeds[0]}, temperature 0.8)", sample)
        doc.heading(3, "Setup")
        doc.bullets(_settings_lines(meta))
        experiments_out.append({**meta, "takeaway": e["takeaway"] and vars(e["takeaway"]), "table": table,
                                "extra_tables": extra_tables, "findings": findings})

    doc.heading(2, "Where the time went")
    time_table = timing_table(rows)
    if time_table is None:
        doc.para("The runs of this sweep did not record where their time went (sweeps before the per-phase "
                 "clock): unknown.")
    else:
        doc.para("Per run, the time spent in training steps against the fixed cost a run pays however short it is "
                 "(loading the task, building, the first step's tracing and compiling, validation, the test "
                 "pass, saving). Medians over each experiment's finished runs, in seconds of each run's own "
                 f"process; {_jobs_words(sweep)}.")
        doc.table(time_table)
    doc.heading(2, "How to rerun")
    doc.bullets(_setup_lines(sweep, folder))
    doc.heading(2, "Every run")
    doc.table({"columns": ["Run", "Experiment", "Status", "Tokens/s", "Wall (s)", "Folder or reason"],
               "align": ["left", "left", "left", "right", "right", "left"],
               "rows": [[r.id, r.experiment, r.status, number(r.tokens_per_second),
                         number(r.wall_seconds), r.error or r.run_dir or "–"] for r in rows]})
    doc.blocks[contents] = doc.contents()

    write_text(out_dir / "report.md", doc.markdown())
    write_text(out_dir / "report.html", doc.html(title, out_dir))
    _write_results(out_dir, sweep, rows, experiments_out)


def timing_table(rows) -> dict | None:
    """Per experiment: runs, median wall, training steps, first step and fixed seconds per run, and the
    fixed share of all run time; None when no run recorded its phases."""
    timed = [r for r in rows if r.fixed_seconds is not None and r.wall_seconds is not None]
    if not timed:
        return None

    def median(vs):
        vs = [v for v in vs if v is not None]
        return statistics.median(vs) if vs else None

    out = []
    for experiment in dict.fromkeys(r.experiment for r in timed):
        mine = [r for r in timed if r.experiment == experiment]
        wall = sum(r.wall_seconds for r in mine)
        fixed = sum(r.fixed_seconds for r in mine)
        out.append([experiment, str(len(mine)), number(wall, 4), number(median(r.wall_seconds for r in mine)),
                    number(median(r.steps_seconds for r in mine)),
                    number(median(r.first_step_seconds for r in mine)),
                    number(median(r.fixed_seconds for r in mine)), f"{100 * fixed / wall:.0f}%" if wall else "–"])
    wall = sum(r.wall_seconds for r in timed)
    fixed = sum(r.fixed_seconds for r in timed)
    out.append(["all", str(len(timed)), number(wall, 4), "", "", "", "", f"{100 * fixed / wall:.0f}%" if wall else "–"])
    return {"columns": ["Experiment", "Runs", "Run time, all runs (s)", "Run (s)", "Training steps (s)",
                        "First step (s)", "Fixed (s)", "Fixed share"],
            "align": ["left"] + ["right"] * 7, "rows": out}


def _jobs_words(sweep) -> str:
    jobs = sweep.get("jobs")
    wall = sweep.get("wall_seconds")
    text = (f"{jobs} worker process{'es' if jobs > 1 else ''}" if jobs else "the sweep's worker processes")
    threads = sweep.get("intra_op_threads")
    text += f" ({threads} TensorFlow intra-op thread{'s' if threads != 1 else ''} each)" if threads else ""
    return text + (f" ran them in {number(wall, 4)} s of sweep wall time" if wall else "")


def _anchor(number_, title) -> str:
    return markdown.slug(f"{number_}. {title}")


def _title(sweep) -> str:
    if sweep.get("suite"):
        return f"rnn-zoo comparison: {sweep['suite']} ({sweep.get('budget')} budget)"
    return f"rnn-zoo comparison: {sweep.get('name', 'grid')}"


def _setup_lines(sweep, folder) -> list[str]:
    versions = sweep.get("versions") or {}
    machine = sweep.get("machine") or {}
    lines = [
        f"Command: `{sweep.get('command')}`",
        (f"Suite: {sweep['suite']}; budget: {sweep.get('budget')}; " if sweep.get("suite") else
         f"Grid: {sweep.get('name')}; ")
        + f"seeds: {', '.join(map(str, sweep.get('seeds') or []))}; parameter budget: "
        f"{sweep.get('param_budget') or 'none (same width for every model)'}",
        f"Started {sweep.get('created')}, ended {sweep.get('finished')}; sweep wall time "
        f"{number(sweep.get('wall_seconds'), 4)} s",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("machine", "devices") and v),
        f"Machine: {machine.get('system')}, {machine.get('cpu')}, {machine.get('cpu_count')} CPUs"
        + (f"; devices {', '.join(versions.get('devices') or [])}" if versions.get("devices") else ""),
        f"Code: git commit {sweep.get('git_commit') or 'unknown'}",
        f"Sweep folder: `{folder}`; rebuild this report with `python -m training.report {folder}`",
    ]
    return lines


def _settings_lines(meta) -> list[str]:
    s = dict(meta.get("settings") or {})
    lines = []
    task = s.pop("task", None)
    params = s.pop("task_params", None)
    if task:
        shown = {k: v for k, v in (params or {}).items() if k not in ("manual_dir",)}
        lines.append(f"Task: {task} " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        if params and params.get("manual_dir"):
            lines.append(f"Corpus folder (TFDS manual_dir): `{params['manual_dir']}`")
    lines.append("Training: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in s.items() if v is not None))
    for note in meta.get("omitted") or []:
        lines.append(f"Left out by this budget (the full budget runs it): {note}")
    return lines


def _write_results(out_dir, sweep, rows, experiments) -> None:
    import pandas as pd

    records = [r.record() for r in rows]  # results.RunRow: the columns results.csv has always had
    frame = pd.DataFrame(records)
    first = [c for c in CSV_COLUMNS_FIRST if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    csv_path = out_dir / "results.csv"
    frame.to_csv(csv_path, index=False)
    description = {k: v for k, v in sweep.items() if k not in ("runs", "experiments")}
    write_json(out_dir / "results.json", {
        "sweep": description,
        "experiments": experiments,
        "runs": [_clean(r) for r in records],
    })


def _clean(row) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        out[k] = v
    return out
