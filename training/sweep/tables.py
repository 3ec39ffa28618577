"""The summary tables of a comparison report: runs grouped by variant (the seeds together), cells of
`mean ± std`, and the columns each kind of experiment shows."""

from __future__ import annotations

import json
import math

import numpy as np

from training.sweep import results


def aggregate(rows, keys=("label", "task", "task_values")) -> list[dict]:
    """Rows grouped by `keys` (the seeds of one variant together), in plan order.

    Each group: the words of its first row, `n` runs, `seeds`, `status` ("2 finished, 1 diverged"),
    `errors`, and for every numeric field `values[field]` = the list over the group's runs.
    """
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row.get(k) for k in keys)
        g = groups.setdefault(key, {**{k: row.get(k) for k in ("label", "model", "setting", "initialization",
                                                                   "task", "task_values", "metric", "gain", "clip",
                                                                   "kernel", "direction", "experiment")},
                                    "rows": [], "seeds": []})
        g["rows"].append(row)
        g["seeds"].append(row["seed"])
    for g in groups.values():
        statuses = [r["status"] for r in g["rows"]]
        g["n"] = len(statuses)
        g["status"] = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses)) if len(statuses) > 1 \
            else statuses[0]
        g["errors"] = sorted({r["error"] for r in g["rows"] if r.get("error")})
    return list(groups.values())


def values(group, field) -> list[float]:
    out = []
    for row in group["rows"]:
        v = row.get(field)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v is not None:
            out.append(float(v))
    return out


def mean(group, field):
    """Mean over the group's runs of the finite values of `field`, or None."""
    vs = [v for v in values(group, field) if math.isfinite(v)]
    return float(np.mean(vs)) if vs else None


def number(v, digits=3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if isinstance(v, int):
        return f"{v:,}"
    if abs(v) >= 1e7:
        return f"{v:.{digits}g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def cell(group, field, digits=3, scale=1.0) -> str:
    """`mean ± std` over seeds (std only when there is more than one run), "NaN" when every run gave NaN."""
    vs = values(group, field)
    if not vs:
        return "–"
    finite = [v * scale for v in vs if math.isfinite(v)]
    if not finite:
        return "NaN"
    m = float(np.mean(finite))
    text = number(m, digits)
    if len(finite) > 1:
        text += f" ± {number(float(np.std(finite, ddof=1)), 2)}"
    if len(finite) < len(vs):
        text += f" ({len(vs) - len(finite)} NaN)"
    return text


def integer_cell(group, field) -> str:
    vs = [v for v in values(group, field) if math.isfinite(v)]
    if not vs:
        return "–"
    if len(set(vs)) == 1:
        return f"{int(vs[0]):,}"
    return f"{int(np.mean(vs)):,} (mean)"


def lag_cell(group, field) -> str:
    """Lag at which the norm fell by 10^6; "never" when it never did within the sequence."""
    has = [r for r in group["rows"] if r.get("tt_decay_init") is not None]
    if not has:
        return "–"
    vs = [r.get(field) for r in has]
    if all(v is None or (isinstance(v, float) and math.isnan(v)) for v in vs):
        return "never"
    return ", ".join("never" if v is None or (isinstance(v, float) and math.isnan(v)) else str(int(v)) for v in vs)


def _common_tail():
    return [
        ("Tokens/s", lambda g: cell(g, "tokens_per_second", 3)),
        ("Wall (s)", lambda g: cell(g, "wall_seconds", 3)),
        ("Status", lambda g: g["status"]),
    ]


def _metric_header(groups, prefix="Test"):
    metric = groups[0]["metric"] if groups else "accuracy"
    return f"{prefix} {results.METRIC_WORDS.get(metric, metric)}"


# Each kind of experiment (training.sweep.kinds) names one of these: groups -> [(header, cell of a group)].
_MODEL = [("Model", lambda g: g["label"])]
_PARAMETERS = [("Parameters", lambda g: integer_cell(g, "parameters"))]
_INITIALIZATION = [("Initialization", lambda g: g["initialization"])]
_CHANCE = [("Chance", lambda g: cell(g, "chance", 3))]


def _test(groups):
    return [(_metric_header(groups), lambda g: cell(g, "test_metric", 3))]


def through_time_columns(groups) -> list[tuple[str, callable]]:
    return _MODEL + _INITIALIZATION + _PARAMETERS + [
        ("Decay at init (decades/step)", lambda g: cell(g, "tt_decay_init", 3)),
        ("Decay after training", lambda g: cell(g, "tt_decay_final", 3)),
        ("Lag to 1e-6 at init", lambda g: lag_cell(g, "tt_lag_1e6_init")),
        ("Lag to 1e-6 after", lambda g: lag_cell(g, "tt_lag_1e6_final")),
    ] + _test(groups) + _CHANCE + _common_tail()


def exploding_columns(groups) -> list[tuple[str, callable]]:
    return [
        ("Model", lambda g: g["model"]),
        ("Recurrent kernel", lambda g: g["initialization"].split(",")[0]),
        ("Clipping", lambda g: f"global_clipnorm={g['clip']:g}" if g.get("clip") else "none"),
    ] + _PARAMETERS + [
        ("Max ‖g‖", lambda g: cell(g, "grad_norm_max", 3)),
        ("Median ‖g‖", lambda g: cell(g, "grad_norm_median", 3)),
        ("Max / median", lambda g: cell(g, "grad_norm_max_over_median", 3)),
        ("Max ‖g‖ applied", lambda g: cell(g, "grad_norm_clipped_max", 3)),
        ("Steps clipped", lambda g: _percent(g, "grad_clipped_fraction")),
        ("Diverged at step", lambda g: diverged_cell(g)),
        ("Last step loss", lambda g: cell(g, "final_step_loss", 3)),
        ("Test accuracy", lambda g: cell(g, "test_accuracy", 3)),
    ] + _CHANCE + _common_tail()


def unidirectional_columns(groups) -> list[tuple[str, callable]]:
    return _MODEL + [("Sees the future", lambda g: "yes" if g.get("direction") == "sees the future" else "no")] \
        + _INITIALIZATION + _PARAMETERS + _test(groups) + _CHANCE + _common_tail()


def char_lm_columns(groups) -> list[tuple[str, callable]]:
    return _MODEL + _INITIALIZATION + _PARAMETERS + [
        ("Validation bits/char (last)", lambda g: cell(g, "val_bits_per_char", 3)),
        ("Test nats/char", lambda g: cell(g, "test_nll", 3)),
        ("Test bits/char", lambda g: cell(g, "test_bits_per_char", 3)),
        ("Unigram baseline bits/char", lambda g: cell(g, "chance", 3)),
    ] + _common_tail()


def variant_task_columns(groups) -> list[tuple[str, callable]]:
    """One row per variant and task value, each with its own metric (long_term and grids)."""
    return _MODEL + _INITIALIZATION + [("Task", lambda g: (g["task"] + " " + g["task_values"]).strip())] \
        + _PARAMETERS + [
            ("Metric", lambda g: results.METRIC_WORDS.get(g["metric"], g["metric"])),
            ("Test", lambda g: cell(g, "test_metric", 3)),
        ] + _CHANCE + _common_tail()


def _percent(group, field):
    m = mean(group, field)
    return "–" if m is None else f"{100 * m:.0f}%"


def diverged_cell(group):
    """The steps at which the group's runs diverged ("no" for a run that did not)."""
    steps = [r.get("diverged_step") for r in group["rows"]]
    if all(s is None for s in steps):
        return "no" if any(r["status"] in ("finished", "diverged") for r in group["rows"]) else "–"
    return ", ".join("no" if s is None else str(s) for s in steps)


def make_table(columns, groups) -> dict:
    """{"columns": headers, "rows": one list of cells per group} from `columns` = [(header, cell function)]."""
    return {"columns": [h for h, _ in columns], "rows": [[fn(g) for _, fn in columns] for g in groups]}


def group_gap(group):
    """The recall gap of a group's runs."""
    return json.loads(group["rows"][0]["task_params"]).get("gap")


def recall_gap_tables(groups) -> list[tuple[str, dict]]:
    """The long-term experiment's second table, with its introduction (none with fewer than two gaps)."""
    table = recall_gap_table(groups)
    return [("Recall test accuracy by gap (mean ± std over seeds):", table)] if table else []


def recall_gap_table(groups) -> dict | None:
    """Recall test accuracy by gap, one row per variant (None with fewer than two gaps)."""
    recall = [g for g in groups if g["task"] == "recall"]
    gaps = sorted({group_gap(g) for g in recall})
    if len(gaps) < 2:
        return None
    labels = list(dict.fromkeys(g["label"] for g in recall))
    rows = []
    for label in labels:
        row = [label]
        for gap in gaps:
            g = next((x for x in recall if x["label"] == label and group_gap(x) == gap), None)
            row.append(cell(g, "test_metric", 3) if g else "–")
        rows.append(row)
    chance = next((mean(g, "chance") for g in recall if mean(g, "chance") is not None), None)
    rows.append(["chance"] + [number(chance)] * len(gaps))
    return {"columns": ["Model"] + [f"gap {gap}" for gap in gaps], "rows": rows}
