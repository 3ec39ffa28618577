"""The report of a comparison sweep, written to `<sweep>/report/` from `sweep.json` and the saved runs
(`build_report`; `python -m training.report` and `python -m training.compare` call it):

    report.md      the report (tables, figures by relative path, generated text)
    report.html    the same, self-contained: the figures are embedded, it opens offline
    *.png          the figures
    results.csv    one row per run (pandas.read_csv reads it)
    results.json   the sweep's description, every experiment's summary table and text, every run's row
"""

from __future__ import annotations

import base64
import html
import math
import pathlib
import shutil

from training.core.runs import write_json, write_text
from training.sweep import results
from training.sweep.findings import failures
from training.sweep.kinds import get_kind
from training.sweep.tables import aggregate, make_table, number

REPORT_DIR = "report"


CSV_COLUMNS_FIRST = ("experiment", "id", "label", "model", "setting", "task", "task_values", "seed", "status",
                     "error", "parameters", "metric", "test_metric", "chance", "tokens_per_second", "wall_seconds")



class Document:
    """Blocks rendered both as Markdown and as HTML, so the two reports say the same."""

    def __init__(self):
        self.blocks = []

    def heading(self, level, text, anchor=None):
        self.blocks.append(("h", level, text, anchor))

    def para(self, text):
        self.blocks.append(("p", text))

    def bullets(self, items):
        if items:
            self.blocks.append(("ul", list(items)))

    def table(self, table):
        self.blocks.append(("table", table["columns"], table["rows"]))

    def figure(self, path, caption):
        self.blocks.append(("img", pathlib.Path(path), caption))

    def pre(self, title, text):
        self.blocks.append(("pre", title, text))

    def markdown(self) -> str:
        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out.append("#" * block[1] + " " + block[2])
            elif kind == "p":
                out.append(block[1])
            elif kind == "ul":
                out.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "table":
                cols, rows = block[1], block[2]
                lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("\n".join(lines))
            elif kind == "img":
                out.append(f"![{block[2]}]({block[1].name})\n\n*{block[2]}*")
            elif kind == "pre":
                out.append(f"**{block[1]}**\n\n```text\n{block[2]}\n```")
        return "\n\n".join(out) + "\n"

    def html(self, title) -> str:
        body = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                anchor = f' id="{html.escape(block[3])}"' if block[3] else ""
                body.append(f"<h{block[1]}{anchor}>{_inline_html(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline_html(block[1])}</p>")
            elif kind == "ul":
                body.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in block[1]) + "</ul>")
            elif kind == "table":
                head = "".join(f"<th>{html.escape(str(c))}</th>" for c in block[1])
                rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                               for row in block[2])
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "img":
                data = base64.b64encode(block[1].read_bytes()).decode("ascii")
                body.append(f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
            elif kind == "pre":
                body.append(f"<p><strong>{html.escape(block[1])}</strong></p><pre>{html.escape(block[2])}</pre>")
        return (
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n"
        )


_CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;"
    "padding:0 1em;line-height:1.45;color:#222}table{border-collapse:collapse;margin:1em 0;font-size:0.85em}"
    "th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "figure{margin:1.2em 0}img{max-width:100%;border:1px solid #eee}figcaption{font-size:0.85em;color:#555}"
    "pre{background:#f7f7f7;padding:0.7em;white-space:pre-wrap;font-size:0.85em}code{background:#f3f3f3;"
    "padding:0 3px}h2{border-bottom:1px solid #ddd;padding-bottom:0.2em;margin-top:2em}"
)


def _md_cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    parts = str(text).split("`")
    return "".join(html.escape(p) if i % 2 == 0 else f"<code>{html.escape(p)}</code>" for i, p in enumerate(parts))


def build_report(folder) -> pathlib.Path:
    """Write `<folder>/report/` from `<folder>/sweep.json` and the saved runs; returns the report folder."""
    folder = pathlib.Path(folder)
    sweep, rows = results.collect(folder)
    out_dir = folder / REPORT_DIR
    if out_dir.exists():
        shutil.rmtree(out_dir)  # the report is generated: rebuilt whole, never patched
    out_dir.mkdir(parents=True)

    title = _title(sweep)
    doc = Document()
    doc.heading(1, title)
    statuses = [r["status"] for r in rows]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
    doc.para(f"{len(rows)} runs ({counts}). Every run of an experiment saw the same examples in the same order "
             "and trained for the same number of optimizer steps; each is a saved run under `runs/` that "
             "`training.load_run` reloads.")
    doc.heading(2, "How to rerun", "rerun")
    doc.bullets(_setup_lines(sweep, folder))

    experiments_out = []
    for number_, meta in enumerate(sweep.get("experiments", []), start=1):
        mine = [r for r in rows if r["experiment"] == meta["key"]]
        groups = aggregate(mine)
        kind = get_kind(meta["kind"])
        table = make_table(kind.columns(groups), groups)
        findings = kind.findings(groups, mine) + failures(groups)
        doc.heading(2, f"{number_}. {meta['title']}", meta["key"])
        doc.para(f"*Question:* {meta['question']}")
        doc.bullets(_settings_lines(meta))
        doc.heading(3, "Initializations")
        doc.bullets(f"`{label}`: {init}" for label, init in dict.fromkeys((g["label"], g["initialization"])
                                                                           for g in groups))
        doc.heading(3, "Summary")
        doc.table(table)
        extra_tables = []
        for intro, extra in kind.extra_tables(groups):
            doc.para(intro)
            doc.table(extra)
            extra_tables.append(extra)
        for path, caption in kind.figures(folder, mine, out_dir, meta["key"]):
            doc.figure(path, caption)
        doc.heading(3, "What the numbers show")
        doc.bullets(findings)
        if kind.samples:
            for g in groups:
                sample = next((r.get("sample") for r in g["rows"] if r.get("sample")), None)
                if sample:
                    doc.pre(f"{g['label']} (seed {g['seeds'][0]}, temperature 0.8)", sample)
        experiments_out.append({**meta, "table": table, "extra_tables": extra_tables, "findings": findings})

    doc.heading(2, "Every run", "runs")
    doc.table({"columns": ["Run", "Experiment", "Status", "Folder or reason"],
               "rows": [[r["id"], r["experiment"], r["status"],
                         r.get("error") or r.get("run_dir") or "–"] for r in rows]})

    write_text(out_dir / "report.md", doc.markdown())
    write_text(out_dir / "report.html", doc.html(title))
    _write_results(out_dir, sweep, rows, experiments_out)
    return out_dir


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

    frame = pd.DataFrame(rows)
    first = [c for c in CSV_COLUMNS_FIRST if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    csv_path = out_dir / "results.csv"
    frame.to_csv(csv_path, index=False)
    description = {k: v for k, v in sweep.items() if k not in ("runs", "experiments")}
    write_json(out_dir / "results.json", {
        "sweep": description,
        "experiments": experiments,
        "runs": [_clean(r) for r in rows],
    })


def _clean(row) -> dict:
    out = {}
    for k, v in row.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None if math.isnan(v) else ("inf" if v > 0 else "-inf")
        out[k] = v
    return out
