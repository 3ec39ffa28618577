"""`python -m training.report <sweep folder>`: the report of a comparison sweep, built from its saved runs.

    python -m training.report saved_models/compare-seed-problems-quick-20261125-180000

`python -m training.compare` calls the same `build_report` when its sweep ends; running it again later
rebuilds the report from `sweep.json` and the run folders without training anything and gives the same
tables. It writes `<sweep>/report/`:

    report.md      the report (tables, figures by relative path, generated text)
    report.html    the same, self-contained: the figures are embedded, it opens offline
    *.png          the figures
    results.csv    one row per run (pandas.read_csv reads it)
    results.json   the sweep's description, every experiment's summary table and text, every run's row

Every paragraph under "What the numbers show" is generated from the numbers of this sweep: it states
which run did better, by how much and against which baseline; nothing in it is written in advance.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import os
import pathlib
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from training import results  # noqa: E402
from training.runs import write_json, write_text  # noqa: E402

REPORT_DIR = "report"
SOLVED_ACCURACY = 0.9  # "solved" in the long-term experiment: test accuracy at least this
NEAR_CHANCE = 0.05  # "at chance": within this of the chance accuracy
CLOSE = 0.02  # two results within 2% of each other are reported as neither beating the other
CSV_COLUMNS_FIRST = ("experiment", "id", "label", "model", "setting", "task", "task_values", "seed", "status",
                     "error", "parameters", "metric", "test_metric", "chance", "tokens_per_second", "wall_seconds")


# ------------------------------------------------------------------------------------ aggregation
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


# ------------------------------------------------------------------------------------ table specs
def _common_tail():
    return [
        ("Tokens/s", lambda g: cell(g, "tokens_per_second", 3)),
        ("Wall (s)", lambda g: cell(g, "wall_seconds", 3)),
        ("Status", lambda g: g["status"]),
    ]


def _metric_header(groups, prefix="Test"):
    metric = groups[0]["metric"] if groups else "accuracy"
    return f"{prefix} {results.METRIC_WORDS.get(metric, metric)}"


def table_spec(kind: str, groups) -> list[tuple[str, callable]]:
    model = [("Model", lambda g: g["label"])]
    params = [("Parameters", lambda g: integer_cell(g, "parameters"))]
    init = [("Initialization", lambda g: g["initialization"])]
    chance = [("Chance", lambda g: cell(g, "chance", 3))]
    test = [(_metric_header(groups), lambda g: cell(g, "test_metric", 3))]
    if kind == "through_time":
        return model + init + params + [
            ("Decay at init (decades/step)", lambda g: cell(g, "tt_decay_init", 3)),
            ("Decay after training", lambda g: cell(g, "tt_decay_final", 3)),
            ("Lag to 1e-6 at init", lambda g: lag_cell(g, "tt_lag_1e6_init")),
            ("Lag to 1e-6 after", lambda g: lag_cell(g, "tt_lag_1e6_final")),
        ] + test + chance + _common_tail()
    if kind == "exploding":
        return [
            ("Model", lambda g: g["model"]),
            ("Recurrent kernel", lambda g: g["initialization"].split(",")[0]),
            ("Clipping", lambda g: f"global_clipnorm={g['clip']:g}" if g.get("clip") else "none"),
        ] + params + [
            ("Max ‖g‖", lambda g: cell(g, "grad_norm_max", 3)),
            ("Median ‖g‖", lambda g: cell(g, "grad_norm_median", 3)),
            ("Max / median", lambda g: cell(g, "grad_norm_max_over_median", 3)),
            ("Max ‖g‖ applied", lambda g: cell(g, "grad_norm_clipped_max", 3)),
            ("Steps clipped", lambda g: _percent(g, "grad_clipped_fraction")),
            ("Diverged at step", lambda g: _diverged(g)),
            ("Last step loss", lambda g: cell(g, "final_step_loss", 3)),
            ("Test accuracy", lambda g: cell(g, "test_accuracy", 3)),
        ] + chance + _common_tail()
    if kind == "unidirectional":
        return model + [("Sees the future", lambda g: "yes" if g.get("direction") == "sees the future" else "no")] \
            + init + params + test + chance + _common_tail()
    if kind == "char_lm":
        return model + init + params + [
            ("Validation bits/char (last)", lambda g: cell(g, "val_bits_per_char", 3)),
            ("Test nats/char", lambda g: cell(g, "test_nll", 3)),
            ("Test bits/char", lambda g: cell(g, "test_bits_per_char", 3)),
            ("Unigram baseline bits/char", lambda g: cell(g, "chance", 3)),
        ] + _common_tail()
    # long_term and grid: one row per variant and task value
    return model + init + [("Task", lambda g: (g["task"] + " " + g["task_values"]).strip())] + params + [
        ("Metric", lambda g: results.METRIC_WORDS.get(g["metric"], g["metric"])),
        ("Test", lambda g: cell(g, "test_metric", 3)),
    ] + chance + _common_tail()


def _percent(group, field):
    m = mean(group, field)
    return "–" if m is None else f"{100 * m:.0f}%"


def _diverged(group):
    steps = [r.get("diverged_step") for r in group["rows"]]
    if all(s is None for s in steps):
        return "no" if any(r["status"] in ("finished", "diverged") for r in group["rows"]) else "–"
    return ", ".join("no" if s is None else str(s) for s in steps)


def make_table(kind, groups) -> dict:
    spec = table_spec(kind, groups)
    return {"columns": [h for h, _ in spec], "rows": [[fn(g) for _, fn in spec] for g in groups]}


# ------------------------------------------------------------------------------------- findings
def _fmt(v, digits=3):
    return number(v, digits)


def _find(groups, model, setting="default", **match):
    for g in groups:
        if g["model"] == model and g["setting"] == setting and all(g.get(k) == v for k, v in match.items()):
            return g
    return None


def _beat_sentence(a, b, field, higher_better, what, where=""):
    """'A (x) beat B (y)' / 'A (x) did not beat B (y)', from the means of `field`."""
    if a is None or b is None:
        return None
    va, vb = mean(a, field), mean(b, field)
    if va is None or vb is None:
        return None
    better = va > vb if higher_better else va < vb
    if abs(va - vb) <= CLOSE * max(abs(va), abs(vb)):
        return (f"{a['label']} ({what} {_fmt(va)}) and {b['label']} ({_fmt(vb)}) were within {100 * CLOSE:.0f}% of "
                f"each other{where}: neither clearly beat the other.")
    verb = "beat" if better else "did not beat"
    return f"{a['label']} ({what} {_fmt(va)}) {verb} {b['label']} ({_fmt(vb)}){where}."


def _failures(groups) -> list[str]:
    out = []
    for g in groups:
        for r in g["rows"]:
            if r["status"] == "failed":
                out.append(f"{r['label']} on {(r['task'] + ' ' + r['task_values']).strip()} (seed {r['seed']}) "
                           f"failed: {r.get('error') or 'no reason recorded'}")
            elif r["status"] in results.NOT_RUN:
                out.append(f"{r['label']} (seed {r['seed']}) did not run to the end ({r['status']}).")
    return out


def findings_through_time(groups, rows) -> list[str]:
    have = [g for g in groups if mean(g, "tt_decay_init") is not None]
    out = []
    if not have:
        return ["No gradient-through-time records were found in these runs (the recorder was off or absent), "
                "so no decay rates can be reported; the table shows test accuracies only."]
    probe = next((r.get("tt_probe") for r in rows if r.get("tt_probe")), "embedding")
    out.append(f"Decay rates are minus the slope of log10 ||dL_T/dx_t|| (probe: {probe}) against the lag, "
               "in decades per step: 1 means the gradient shrinks tenfold per step back in time, 0 flat, "
               "negative growing.")
    fastest = max(have, key=lambda g: mean(g, "tt_decay_init"))
    slowest = min(have, key=lambda g: mean(g, "tt_decay_init"))
    out.append(f"At initialisation the gradient fell fastest for {fastest['label']} "
               f"({_fmt(mean(fastest, 'tt_decay_init'))} decades/step; "
               f"{_lag_words(fastest, 'tt_lag_1e6_init')}) and slowest for {slowest['label']} "
               f"({_fmt(mean(slowest, 'tt_decay_init'))} decades/step).")
    for model in ("simple_rnn", "irnn", "lstm", "gru"):
        d, c = _find(have, model, "default"), _find(have, model, "glorot")
        if d and c:
            a, b = mean(c, "tt_decay_init"), mean(d, "tt_decay_init")
            out.append(f"{model}: with the glorot-uniform recurrent kernel the gradient fell "
                       f"{'faster' if a > b else 'slower' if a < b else 'as fast'} at initialisation than with "
                       f"Keras's default ({_fmt(a)} vs {_fmt(b)} decades/step).")
    s, l = _find(have, "simple_rnn"), _find(have, "lstm")
    if s and l:
        a, b = mean(l, "tt_decay_init"), mean(s, "tt_decay_init")
        how = "faster" if a > b else "slower" if a < b else "as fast"
        out.append(f"With Keras's defaults the LSTM's gradient fell {how} "
                   f"than the SimpleRNN's at initialisation ({_fmt(a)} vs {_fmt(b)} decades/step).")
    trained = [g for g in have if mean(g, "tt_decay_final") is not None]
    if trained:
        change = max(trained, key=lambda g: abs(mean(g, "tt_decay_final") - mean(g, "tt_decay_init")))
        step = int(mean(change, "tt_final_step") or 0)
        out.append(f"After training ({step} steps) the decay rate changed most for {change['label']}: from "
                   f"{_fmt(mean(change, 'tt_decay_init'))} to {_fmt(mean(change, 'tt_decay_final'))} decades/step.")
    out += _accuracy_summary(groups)
    return out


def _lag_words(group, field):
    vs = [r.get(field) for r in group["rows"] if r.get(field) is not None and not
          (isinstance(r.get(field), float) and math.isnan(r.get(field)))]
    if vs:
        return f"it fell by 10^6 within {int(np.mean(vs))} steps"
    return "it did not fall by 10^6 within the sequence"


def _accuracy_summary(groups) -> list[str]:
    ok = [g for g in groups if mean(g, "test_metric") is not None and g["metric"] == "accuracy"]
    if not ok:
        return []
    chance = mean(ok[0], "chance")
    best = max(ok, key=lambda g: mean(g, "test_metric"))
    near = [g["label"] for g in ok if chance is not None and mean(g, "test_metric") <= chance + NEAR_CHANCE]
    text = (f"Test accuracy: best {best['label']} ({_fmt(mean(best, 'test_metric'))}), chance {_fmt(chance)}; "
            f"{len(near)} of {len(ok)} variants stayed within {NEAR_CHANCE} of chance")
    return [text + (f" ({', '.join(near)})." if near else ".")]


def findings_exploding(groups, rows) -> list[str]:
    with_grads = [g for g in groups if mean(g, "grad_norm_median") is not None or
                  any(r.get("grad_steps_recorded") for r in g["rows"])]
    out = []
    if not with_grads:
        out.append("No step-gradient records were found in these runs (the recorder was off or absent), so norms "
                   "cannot be reported; divergence is read from the runs' status.")
    for clip in (None, 1.0):
        mine = [g for g in groups if (g.get("clip") or None) == clip]
        if not mine:
            continue
        diverged = [g for g in mine if any(r["status"] == "diverged" or r.get("diverged_step") is not None
                                            for r in g["rows"])]
        words = "without clipping" if clip is None else f"with global_clipnorm={clip:g}"
        if diverged:
            details = ", ".join(f"{g['model']} gain {g['gain']:g} (step {_diverged(g)})" for g in diverged)
            out.append(f"{words.capitalize()}, {len(diverged)} of {len(mine)} settings diverged (loss or gradient "
                       f"NaN/Inf): {details}.")
        else:
            out.append(f"{words.capitalize()}, none of the {len(mine)} settings diverged.")
    spikes = [g for g in with_grads if mean(g, "grad_norm_max") is not None]
    for model in dict.fromkeys(g["model"] for g in spikes):
        mine = [g for g in spikes if g["model"] == model and not g.get("clip")]
        if not mine:
            continue
        parts = []
        for g in mine:
            if _is_diverged(g):  # a median over the few steps before NaN says nothing
                parts.append(f"gain {g['gain']:g}: diverged at step {_diverged(g)}, largest finite norm "
                             f"{_fmt(mean(g, 'grad_norm_max'))}")
            else:
                parts.append(f"gain {g['gain']:g}: max {_fmt(mean(g, 'grad_norm_max'))}, "
                             f"{_fmt(mean(g, 'grad_norm_max_over_median'))}x its median")
        text = f"{model} without clipping — " + "; ".join(parts) + "."
        finite = [g for g in mine if not _is_diverged(g) and mean(g, "grad_norm_max_over_median") is not None]
        if len(finite) > 1:
            top = max(finite, key=lambda g: mean(g, "grad_norm_max_over_median"))
            text += (" Among the runs that stayed finite, the largest spike relative to the median was at gain "
                     f"{top['gain']:g}.")
        out.append(text)
    clipped = [g for g in groups if g.get("clip") and mean(g, "grad_clipped_fraction") is not None]
    if clipped:
        parts = ", ".join(f"{g['model']} gain {g['gain']:g}: {100 * mean(g, 'grad_clipped_fraction'):.0f}%"
                          for g in clipped)
        out.append(f"Share of steps whose gradient global_clipnorm=1 scaled down — {parts}.")
    for model in dict.fromkeys(g["model"] for g in groups):
        for gain in dict.fromkeys(g["gain"] for g in groups if g["model"] == model):
            a = _first(groups, model=model, gain=gain, clip=None)
            b = next((g for g in groups if g["model"] == model and g["gain"] == gain and g.get("clip")), None)
            if a and b and _is_diverged(a) and not _is_diverged(b):
                out.append(f"{model} at gain {gain:g} diverged without clipping and stayed finite with clipping.")
    return out


def _first(groups, **match):
    return next((g for g in groups if all((g.get(k) or None) == (v or None) for k, v in match.items())), None)


def _is_diverged(group):
    return any(r["status"] == "diverged" or r.get("diverged_step") is not None for r in group["rows"])


def findings_long_term(groups, rows) -> list[str]:
    out = []
    recall = [g for g in groups if g["task"] == "recall" and mean(g, "test_metric") is not None]
    if recall:
        chance = mean(recall[0], "chance")
        out.append(f"Recall: \"solved\" below means test accuracy of at least {SOLVED_ACCURACY} (chance is "
                   f"{_fmt(chance)}).")
        gaps = sorted({_gap(g) for g in recall})
        parts = []
        for label in dict.fromkeys(g["label"] for g in recall):
            solved = [_gap(g) for g in recall if g["label"] == label and mean(g, "test_metric") >= SOLVED_ACCURACY]
            parts.append(f"{label}: {max(solved) if solved else 'none'}")
        out.append("Largest gap solved — " + "; ".join(parts) + ".")
        longest = gaps[-1]
        at = [g for g in recall if _gap(g) == longest]
        best = max(at, key=lambda g: mean(g, "test_metric"))
        out.append(f"At the longest gap ({longest}) the best was {best['label']} ({_fmt(mean(best, 'test_metric'))}); "
                   f"{sum(mean(g, 'test_metric') <= chance + NEAR_CHANCE for g in at)} of {len(at)} variants "
                   f"stayed within {NEAR_CHANCE} of chance.")
        for a_model, a_set, b_model, b_set in (("lstm", "default", "simple_rnn", "default"),
                                               ("gru", "default", "simple_rnn", "default"),
                                               ("lstm", "forget_bias_3", "lstm", "default"),
                                               ("simple_rnn", "glorot", "simple_rnn", "default")):
            a = next((g for g in at if g["model"] == a_model and g["setting"] == a_set), None)
            b = next((g for g in at if g["model"] == b_model and g["setting"] == b_set), None)
            sentence = _beat_sentence(a, b, "test_metric", True, "accuracy", f" at gap {longest}")
            if sentence:
                out.append(sentence)
    for task in dict.fromkeys(g["task"] for g in groups if g["task"] != "recall"):
        mine = [g for g in groups if g["task"] == task and mean(g, "test_metric") is not None]
        if not mine:
            continue
        metric = mine[0]["metric"]
        baseline = mean(mine[0], "chance")
        higher = results.HIGHER_IS_BETTER.get(metric, False)
        ordered = sorted(mine, key=lambda g: mean(g, "test_metric"), reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        ranking = ", ".join(f"{g['label']} {_fmt(mean(g, 'test_metric'))}" for g in ordered)
        out.append(f"{task} {mine[0]['task_values']}: test {words} (baseline {_fmt(baseline)}) — {ranking}.")
        if baseline:
            below = [g["label"] for g in mine if mean(g, "test_metric") < 0.5 * baseline] if not higher else []
            near = [g["label"] for g in mine if mean(g, "test_metric") >= 0.9 * baseline] if not higher else []
            if not higher:
                out.append(f"Below half the baseline: {', '.join(below) if below else 'none'}; within 10% of it or "
                           f"above: {', '.join(near) if near else 'none'}.")
        s, l = _find(mine, "simple_rnn"), _find(mine, "lstm")
        sentence = _beat_sentence(l, s, "test_metric", higher, words, f" on {task}")
        if sentence:
            out.append(sentence)
    return out


def _gap(group):
    return json.loads(group["rows"][0]["task_params"]).get("gap")


def findings_unidirectional(groups, rows) -> list[str]:
    ok = [g for g in groups if mean(g, "test_metric") is not None]
    if not ok:
        return []
    chance = mean(ok[0], "chance")
    out = []
    for direction in ("causal", "sees the future"):
        mine = [g for g in ok if g.get("direction") == direction]
        if not mine:
            continue
        accs = [mean(g, "test_metric") for g in mine]
        best = mine[int(np.argmax(accs))]
        above = [g["label"] for g in mine if mean(g, "test_metric") > chance + NEAR_CHANCE]
        out.append(f"{'Causal models' if direction == 'causal' else 'Models that see the future'}: test accuracy "
                   f"{_fmt(min(accs))} to {_fmt(max(accs))} (best {best['label']}), chance {_fmt(chance)}; "
                   f"{len(above)} of {len(mine)} more than {NEAR_CHANCE} above chance"
                   + (f" ({', '.join(above)})." if above else "."))
    causal = [mean(g, "test_metric") for g in ok if g.get("direction") == "causal"]
    seeing = [mean(g, "test_metric") for g in ok if g.get("direction") == "sees the future"]
    if causal and seeing:
        gap = min(seeing) - max(causal)
        if gap > 0:
            out.append(f"Every model that sees the future scored above every causal model (the lowest by "
                       f"{_fmt(gap)}).")
        else:
            out.append("The two groups overlap: some causal model scored at least as high as some model that sees "
                       "the future.")
    return out


def findings_char_lm(groups, rows) -> list[str]:
    ok = [g for g in groups if mean(g, "test_bits_per_char") is not None]
    if not ok:
        return ["No character-level run finished, so there are no numbers to compare."]
    baseline = mean(ok[0], "chance")
    ordered = sorted(ok, key=lambda g: mean(g, "test_bits_per_char"))
    out = [f"Test bits per character, lowest first: "
           + ", ".join(f"{g['label']} {_fmt(mean(g, 'test_bits_per_char'))}" for g in ordered)
           + f"; the unigram baseline (letter frequencies alone) is {_fmt(baseline)} bits/char."]
    above = [g["label"] for g in ok if baseline is not None and mean(g, "test_bits_per_char") >= baseline]
    if above:
        out.append(f"Not below the unigram baseline: {', '.join(above)}.")
    s, l, gr = _find(ok, "simple_rnn"), _find(ok, "lstm"), _find(ok, "gru")
    for a in (l, gr):
        sentence = _beat_sentence(a, s, "test_bits_per_char", False, "bits/char")
        if sentence:
            out.append(sentence)
    fastest = max(ok, key=lambda g: mean(g, "tokens_per_second") or 0)
    out.append(f"Fastest in tokens per second: {fastest['label']} ({_fmt(mean(fastest, 'tokens_per_second'))}).")
    return out


def findings_grid(groups, rows) -> list[str]:
    out = []
    for key in dict.fromkeys((g["task"], g["task_values"]) for g in groups):
        mine = [g for g in groups if (g["task"], g["task_values"]) == key and mean(g, "test_metric") is not None]
        if not mine:
            continue
        metric = mine[0]["metric"]
        higher = results.HIGHER_IS_BETTER.get(metric, False)
        chance = mean(mine[0], "chance")
        ordered = sorted(mine, key=lambda g: mean(g, "test_metric"), reverse=higher)
        words = results.METRIC_WORDS.get(metric, metric)
        beat = [g["label"] for g in mine if chance is not None and
                (mean(g, "test_metric") > chance if higher else mean(g, "test_metric") < chance)]
        out.append(f"{(key[0] + ' ' + key[1]).strip()}: test {words}, best first — "
                   + ", ".join(f"{g['label']} {_fmt(mean(g, 'test_metric'))}" for g in ordered)
                   + (f"; chance {_fmt(chance)}, beaten by {len(beat)} of {len(mine)}." if chance is not None else "."))
    return out


FINDINGS = {
    "through_time": findings_through_time,
    "exploding": findings_exploding,
    "long_term": findings_long_term,
    "unidirectional": findings_unidirectional,
    "char_lm": findings_char_lm,
    "grid": findings_grid,
}


# ---------------------------------------------------------------------------------------- figures
def figures(kind, folder, rows, out_dir, key) -> list[tuple[pathlib.Path, str]]:
    from training import plots

    made = []

    def add(path, caption):
        if path is not None:
            made.append((path, caption))

    if kind == "through_time":
        add(plots.through_time_profiles(folder, rows, out_dir / f"{key}_profiles.png"),
            "||dL_T/dx_t|| against the lag (log scale): dashed at initialisation, solid after training. A line "
            "that falls steeply means the loss at step T barely depends on early inputs.")
        add(plots.decay_rates(rows, out_dir / f"{key}_decay.png"),
            "Decay rate of the gradient through time (decades per step of lag), at initialisation and after "
            "training.")
        add(plots.metric_bars(rows, out_dir / f"{key}_accuracy.png", "Test accuracy on recall after training"),
            "Test accuracy after training, with the chance line.")
    elif kind == "exploding":
        add(plots.gradient_norms(folder, rows, out_dir / f"{key}_norms.png"),
            "Global gradient norm at every step before clipping (solid) and after (dotted), log scale; a cross "
            "marks divergence (NaN/Inf).")
        add(plots.step_losses(folder, rows, out_dir / f"{key}_loss.png"),
            "Training loss at every step (nats) with the chance loss.")
    elif kind == "long_term":
        recall = [r for r in rows if r["task"] == "recall"]
        add(plots.metric_against(recall, "gap", out_dir / f"{key}_recall_gap.png",
                                 "Recall: test accuracy against the gap", "gap (distractors between key and query)",
                                 log_x=True),
            "Test accuracy on recall against the gap, mean ± std over seeds, with the chance line 1/K.")
        for task in dict.fromkeys(r["task"] for r in rows if r["task"] != "recall"):
            mine = [r for r in rows if r["task"] == task]
            add(plots.metric_bars(mine, out_dir / f"{key}_{task}.png", f"{task} {mine[0]['task_values']}: test "
                                  f"{results.METRIC_WORDS.get(mine[0]['metric'], mine[0]['metric'])}"),
                f"{task}: test {results.METRIC_WORDS.get(mine[0]['metric'])} of every variant with the baseline of "
                f"a prediction that ignores the input.")
    elif kind == "unidirectional":
        add(plots.metric_bars(rows, out_dir / f"{key}_accuracy.png", "future_cloze: test accuracy at the blank",
                              group_key="direction"),
            "Test accuracy at the blank; hatched bars see the future (bidirectional, unmasked attention). The "
            "dashed line is chance.")
    elif kind == "char_lm":
        add(plots.validation_curves(folder, rows, out_dir / f"{key}_curves.png",
                                    "Tiny Shakespeare: validation loss against steps"),
            "Validation bits per character (left) and nats per character (right) against the training step, with "
            "the unigram baseline.")
    else:
        for task_key in dict.fromkeys((r["task"], r["task_values"]) for r in rows):
            mine = [r for r in rows if (r["task"], r["task_values"]) == task_key]
            name = "_".join(x for x in task_key if x).replace(" ", "_").replace("=", "")
            add(plots.validation_curves(folder, mine, out_dir / f"{key}_{name}_curves.png",
                                        f"{' '.join(task_key).strip()}: validation against steps"),
                f"{' '.join(task_key).strip()}: validation metric against the training step, with the chance line.")
            add(plots.metric_bars(mine, out_dir / f"{key}_{name}_test.png", f"{' '.join(task_key).strip()}: test"),
                f"{' '.join(task_key).strip()}: test metric of every model with the chance line.")
        for task in dict.fromkeys(r["task"] for r in rows):
            mine = [r for r in rows if r["task"] == task]
            swept = _swept_params(mine)
            for param in swept:
                add(plots.metric_against(mine, param, out_dir / f"{key}_{task}_{param}.png",
                                         f"{task}: test metric against {param}", param),
                    f"{task}: test metric against {param}, with the chance line where it does not change.")
    return made


def _swept_params(rows) -> list[str]:
    params = [json.loads(r["task_params"]) for r in rows]
    keys = dict.fromkeys(k for p in params for k in p)
    return [k for k in keys if len({json.dumps(p.get(k)) for p in params}) > 1
            and all(isinstance(p.get(k), (int, float)) for p in params)]


# --------------------------------------------------------------------------------------- document
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


# ------------------------------------------------------------------------------------------ build
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
        table = make_table(meta["kind"], groups)
        findings = FINDINGS.get(meta["kind"], findings_grid)(groups, mine) + _failures(groups)
        doc.heading(2, f"{number_}. {meta['title']}", meta["key"])
        doc.para(f"*Question:* {meta['question']}")
        doc.bullets(_settings_lines(meta))
        doc.heading(3, "Initializations")
        doc.bullets(f"`{label}`: {init}" for label, init in dict.fromkeys((g["label"], g["initialization"])
                                                                           for g in groups))
        doc.heading(3, "Summary")
        doc.table(table)
        extra_tables = []
        if meta["kind"] == "long_term":
            pivot = _gap_pivot(groups)
            if pivot:
                doc.para("Recall test accuracy by gap (mean ± std over seeds):")
                doc.table(pivot)
                extra_tables.append(pivot)
        for path, caption in figures(meta["kind"], folder, mine, out_dir, meta["key"]):
            doc.figure(path, caption)
        doc.heading(3, "What the numbers show")
        doc.bullets(findings)
        if meta["kind"] == "char_lm":
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


def _gap_pivot(groups) -> dict | None:
    recall = [g for g in groups if g["task"] == "recall"]
    gaps = sorted({_gap(g) for g in recall})
    if len(gaps) < 2:
        return None
    labels = list(dict.fromkeys(g["label"] for g in recall))
    rows = []
    for label in labels:
        row = [label]
        for gap in gaps:
            g = next((x for x in recall if x["label"] == label and _gap(x) == gap), None)
            row.append(cell(g, "test_metric", 3) if g else "–")
        rows.append(row)
    chance = next((mean(g, "chance") for g in recall if mean(g, "chance") is not None), None)
    rows.append(["chance"] + [number(chance)] * len(gaps))
    return {"columns": ["Model"] + [f"gap {gap}" for gap in gaps], "rows": rows}


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


# ------------------------------------------------------------------------------------ command line
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.report",
                                description="Rebuild the report of a comparison sweep from its saved runs.")
    p.add_argument("folder", help="the sweep folder that `python -m training.compare` printed (or its report/)")
    args = p.parse_args(argv)
    folder = pathlib.Path(args.folder)
    if folder.name == REPORT_DIR and not (folder / results.SWEEP_FILE).is_file():
        folder = folder.parent
    try:
        out = build_report(folder)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"report: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
