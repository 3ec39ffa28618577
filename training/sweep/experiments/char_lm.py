"""Real text: next-character prediction on Tiny Shakespeare, beside interpolated Kneser-Ney n-gram
baselines (Karpathy, 2015; Graves, 2013); the report prints the text each model generates. The parallel-scan
cells (minGRU and minLSTM: Feng et al., 2024; the LRU: Orvieto et al., 2023) run beside the LSTM and GRU at
equal parameter counts (`param_budget`).

The comparisons the report makes are declared below as data (`Comparison`); the report names no model in its
code.
"""

from __future__ import annotations

from training.sweep import gradient_evidence, stats
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SAMPLE_PROMPT, Comparison, describe, make_runs, train_settings, variant
from training.sweep.figures import figure_list, metric_bars, validation_curves
from training.sweep.findings import (chance_place, flagged, fmt, group_result, shown_words, value_of,
    verdict_sentences)
from training.sweep.tables import MODEL, PARAMETERS, baseline_of, cell, mean, metric_cell, tail_columns
from training.sweep.results import ROW
from training.sweep.takeaways import Takeaway, and_list, mean_of, num, result, with_interval

SCAN = ["min_gru", "min_lstm", "lru"]  # linear recurrences trained by a parallel scan (zoo/scan.py)
ALL = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "gru", "gru:update_bias_3", *SCAN, "self_attention"]
# Equal parameter counts (`param_budget`: each model's width is chosen to match) where the parallel-scan cells
# run: about the LSTM's count at the budget's width (with Tiny Shakespeare's 65 characters, 148,546 parameters
# at 128 units and 559,170 at 256; `zoo.fit_param_budget`). The quick budget runs the GRU alone at one width
# (no scan cell, no LSTM: a char-LM run is the longest of `make demo`, the LSTM's longer than the GRU's;
# docs/results.md#budgets has their times), in batches of 32 (issue 24: on the 2-core machine with one intra-op
# thread, a sweep worker's, 2,000 steps of 32 took 80 s of steps and reached test NLL 1.734 nats/char, 0.055
# below the 4-gram's 1.789; 1,500 steps of 64 took 110 s for 1.729, 1,000 of 128 took 170 s for 1.726, and 2,000 of
# 64 reached 1.709 at about 147 s). Its validation pass reads the same 640 examples as 10 batches of 64 did.
BUDGETS = {
    "full": dict(seq_len=100, units=256, param_budget=560_000, batch_size=64, steps=5000, epochs=20,
                 learning_rate=2e-3, validation_steps=None, sample_length=400, variants=ALL, seeds=[0, 1, 2]),
    "standard": dict(seq_len=64, units=128, param_budget=150_000, batch_size=64, steps=3000, learning_rate=3e-3,
                     validation_steps=10, sample_length=200, variants=ALL, seeds=[0]),
    "quick": dict(seq_len=64, units=128, batch_size=32, steps=2000, learning_rate=3e-3, validation_steps=20,
                  sample_length=200, variants=["gru"], seeds=[0]),
    "smoke": dict(seq_len=16, units=8, param_budget=1_700, batch_size=16, steps=3, learning_rate=3e-3,
                  validation_steps=2, sample_length=20, variants=["simple_rnn", "lstm", "gru", *SCAN], seeds=[0]),
}

# The comparisons the report makes, as data (`Comparison`: a against b on the test bits per character).
AGAINST_SIMPLE_RNN = (Comparison("lstm", "simple_rnn", "the gated cells against the tanh RNN"),
                      Comparison("gru", "simple_rnn", "the gated cells against the tanh RNN"))
SCAN_AGAINST_GATED = (Comparison("min_gru", "gru", "a parallel-scan cell against the gated cell it simplifies"),
                      Comparison("min_lstm", "lstm", "a parallel-scan cell against the gated cell it simplifies"),
                      Comparison("lru", "lstm", "the LRU against the gated cells"),
                      Comparison("lru", "gru", "the LRU against the gated cells"))


def comparisons(groups, declared, load=None) -> list[tuple[Comparison, object, stats.Verdict]]:
    """(comparison, the group of its `a`, the verdict of `stats.compare`: a against b) for each of the `declared`
    comparisons the sweep holds both sides of, in declaration order."""
    ok = [g for g in groups if result(g, load).measures]
    out = []
    for comparison in declared:
        a, b = comparison.pick(ok)
        if a is not None and b is not None:
            out.append((comparison, a, stats.compare(result(a, load), result(b, load))))
    return out


def _parameter_words(groups) -> str:
    """"at about N parameters each" when the runs were sized to one parameter count, else ""."""
    budgets = {r.param_budget for g in groups for r in g.rows}
    counts = [r.parameters for g in groups for r in g.rows if r.parameters]
    if len(budgets) != 1 or None in budgets or not counts:
        return ""
    return (f" (every model sized to about {next(iter(budgets)):,} parameters: {min(counts):,} to {max(counts):,})")


def plan(s: dict, budget):
    seeds = list(budget.seeds) if budget.name == "full" else list(s.get("seeds", budget.seeds))
    task_params = {"seq_len": s["seq_len"], **({"manual_dir": str(budget.corpus_dir)} if budget.corpus_dir else {})}
    question = (
        "How low do the validation and test losses (nats and bits per character) of each causal architecture "
        "(SimpleRNN, IRNN, LSTM, GRU, the parallel-scan minGRU, minLSTM and LRU, masked attention) get on Tiny "
        "Shakespeare in the same number of steps"
        + (" at equal parameter counts" if s.get("param_budget") or budget.extra_train.get("param_budget") else "")
        + ", against unigram, bigram, trigram and 4-gram "
        "baselines (interpolated Kneser-Ney, fitted on the training split), and what text does each generate?")
    settings = {**describe(s, "char_lm (tiny_shakespeare)", task_params, seeds),
                "baselines": "datasets.ngram_baselines: interpolated Kneser-Ney, orders 1-4, training split"}
    train = {**({"param_budget": s["param_budget"]} if s.get("param_budget") else {}),
             **train_settings(s, budget.extra_train)}  # --param-budget (extra_train) wins
    if train.get("param_budget"):
        settings["param_budget"] = f"{train['param_budget']:,} parameters per model (its width chosen to match)"
    runs = make_runs("char_lm", [variant(name) for name in s["variants"]], "char_lm", task_params,
                     {"seq": s["seq_len"]}, seeds, extra={"sample_length": s["sample_length"],
                                                          "sample_prompt": SAMPLE_PROMPT}, **train)
    return question, settings, runs


# ------------------------------------------------------------------------------ how the report shows it
def findings_char_lm(groups, rows) -> list[str]:
    ok = [g for g in groups if group_result(g).measures]
    if not ok:
        return ["No character-level run finished, so there are no numbers to compare."]
    baseline = group_result(ok[0]).chance
    ordered = sorted(ok, key=value_of)
    out = ["Test bits per character, lowest first" + _parameter_words(ok) + ": "
           + ", ".join(shown_words(g) for g in ordered)
           + f"; the unigram baseline (letter frequencies alone) is {fmt(baseline)} bits/char."]
    for name in ("4gram", "trigram", "bigram"):
        value = mean(ok[0], lambda r, name=name: r.baselines.get(name))
        if value is None:
            continue
        below = [g.label for g in ok if group_result(g).summary["high"] is not None
                 and group_result(g).summary["high"] < value]
        out.append(f"Below the {name} baseline ({fmt(value)} bits/char, fitted on the training split) with their "
                   f"whole 95% interval: {', '.join(below) if below else 'none'}.")
        break
    above = [g.label for g in ok if chance_place(g) in ("at", "below")]
    if above:
        out.append(f"Not significantly below the unigram baseline: {', '.join(above)}.")
    for comparison, a, verdict in comparisons(ok, AGAINST_SIMPLE_RNN + SCAN_AGAINST_GATED):
        out += verdict_sentences(verdict, a, comparison.pick(ok)[1])
    fastest = max(ok, key=lambda g: mean(g, ROW.tokens_per_second) or 0)
    out.append(f"Fastest in tokens per second: {fastest.label} ({fmt(mean(fastest, ROW.tokens_per_second))}).")
    return out + flagged(groups)


# ------------------------------------------------------------------------------------- char LM
NGRAMS = ("unigram", "bigram", "trigram", "4gram")


def takeaway(groups, load=None) -> Takeaway:
    ok = [g for g in groups if result(g, load).measures]
    if not ok:
        return Takeaway("Character-level language model: no finished runs",
                        "No character-level run finished, so there are no numbers to compare.")
    ordered = sorted(ok, key=lambda g: value_of(g, load))
    best = ordered[0]
    parts = [f"The best model was {best.label} ({best.initialization}) with {with_interval(best, load)} "
             f"bits per character on the test split{_parameter_words(ok)}."]
    baselines = {name: mean_of(best, lambda r, name=name: r.baselines.get(name)) for name in NGRAMS}
    baselines = {k: v for k, v in baselines.items() if v is not None}
    if baselines:
        parts.append("Counting baselines fitted on the training split: "
                     + ", ".join(f"{k} {num(v)}" for k, v in baselines.items()) + " bits/char.")
        strongest = min(baselines, key=baselines.get)
        beaten = [g for g in ok if result(g, load).summary["high"] is not None
                  and result(g, load).summary["high"] < baselines[strongest]]
        parts.append(f"{len(beaten)} of {len(ok)} models were below the {strongest} (their whole 95% interval"
                     f"){': ' + and_list(g.label for g in beaten) if beaten else ''}.")
    else:
        unigram = result(best, load).chance
        if unigram is not None:
            parts.append(f"The unigram baseline (letter frequencies alone) is {num(unigram)} bits/char; this sweep "
                         "holds no bigram or longer baselines.")
    if len(ordered) > 1:
        parts += verdict_sentences(stats.compare(result(best, load), result(ordered[1], load)), best, ordered[1],
                                   reasons_only=True)
    scan = comparisons(ok, SCAN_AGAINST_GATED, load)
    if scan:
        lost = [a.label for _, a, v in scan if v.loser == a.label]
        won = [a.label for _, a, v in scan if v.winner == a.label]
        parts.append("The parallel-scan cells against the gated cells: "
                     + " ".join(v.text for _, _, v in scan)
                     + (f" Where they lose ({and_list(dict.fromkeys(lost))}), a recurrence that is linear in its "
                        "hidden state (its gates, where it has any, read only the input) gives up the hidden state's "
                        "say in what is kept, for a training step that runs in parallel over time."
                        if lost and not won else ""))
    unfinished = [g.label for g in ok if result(g, load).still_falling]
    if unfinished:
        parts.append(f"Still improving when training stopped: {and_list(unfinished)}; more steps would lower them.")
    return Takeaway("Real text: how far below the counting baselines a recurrent model gets", " ".join(parts))


def char_lm_figures(folder, rows, out_dir, key):
    return figure_list(
        (validation_curves(folder, rows, out_dir / f"{key}_curves.png",
                           "Tiny Shakespeare: validation loss against steps"),
         "Validation bits per character against the training step (nats per character on the left axis), with "
         "the unigram and, where stored, the n-gram baselines fitted on the training split."),
        (metric_bars(rows, out_dir / f"{key}_test.png", "Tiny Shakespeare: test bits per character", folder=folder),
         "Test bits per character of every model with its 95% interval (where the runs stored per-example "
         "losses)."),
        *gradient_evidence.figures(folder, rows, out_dir, key, "Tiny Shakespeare"),
    )


def char_lm_columns(groups) -> list[tuple[str, callable]]:
    baselines = [name for name in ("bigram", "trigram", "4gram") if any(g.mean(baseline_of(name)) is not None
                                                                        for g in groups)]
    return gradient_evidence.with_columns(MODEL + PARAMETERS + [
        ("Validation bits/char (last)", lambda g: cell(g, lambda r: r.validation.get("bits_per_char"), 3)),
        ("Test bits/char [95% CI]", metric_cell),
        ("Test nats/char", lambda g: cell(g, lambda r: r.test.get("nll"), 3)),
    ] + [(f"{name} bits/char", lambda g, name=name: cell(g, baseline_of(name), 3)) for name in baselines]
        + [("Unigram bits/char", lambda g: cell(g, ROW.chance, 3))] + tail_columns(), groups)


EXPERIMENT = register(Definition(
    "char_lm", "Real text: character-level language model on Tiny Shakespeare", BUDGETS, plan,
    columns=char_lm_columns, findings=findings_char_lm, figures=char_lm_figures,
    samples=True, takeaway=takeaway))
