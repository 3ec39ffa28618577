"""Real text: next-character prediction on Tiny Shakespeare, beside interpolated Kneser-Ney n-gram
baselines (Karpathy, 2015; Graves, 2013); the report prints the text each model generates.
"""

from __future__ import annotations

from training.sweep import figures, findings, tables, takeaways
from training.sweep.experiments import Definition, register
from training.sweep.experiments._common import SAMPLE_PROMPT, describe, make_runs, train_settings, variant

ALL = ["simple_rnn", "irnn", "lstm", "lstm:forget_bias_3", "gru", "gru:update_bias_3", "self_attention"]
BUDGETS = {
    "full": dict(seq_len=100, units=256, batch_size=64, steps=5000, epochs=20, learning_rate=2e-3,
                 validation_steps=None, sample_length=400, variants=ALL, seeds=[0, 1, 2]),
    "standard": dict(seq_len=64, units=128, batch_size=64, steps=3000, learning_rate=3e-3, validation_steps=10,
                     sample_length=200, variants=ALL, seeds=[0]),
    "quick": dict(seq_len=64, units=128, batch_size=64, steps=2000, learning_rate=3e-3, validation_steps=10,
                  sample_length=200, record_gradients=False, through_time=False, variants=["lstm", "gru"], seeds=[0]),
    "smoke": dict(seq_len=16, units=8, batch_size=16, steps=3, learning_rate=3e-3, validation_steps=2,
                  sample_length=20, variants=["simple_rnn", "lstm", "gru"], seeds=[0]),
}


def plan(s: dict, budget):
    seeds = list(budget.seeds) if budget.name == "full" else list(s.get("seeds", budget.seeds))
    task_params = {"seq_len": s["seq_len"], **({"manual_dir": str(budget.corpus_dir)} if budget.corpus_dir else {})}
    question = (
        "How low do the validation and test losses (nats and bits per character) of each causal architecture "
        "get on Tiny Shakespeare in the same number of steps, against unigram, bigram, trigram and 4-gram "
        "baselines (interpolated Kneser-Ney, fitted on the training split), and what text does each generate?")
    settings = {**describe(s, "char_lm (tiny_shakespeare)", task_params, seeds),
                "baselines": "datasets.ngram_baselines: interpolated Kneser-Ney, orders 1-4, training split"}
    runs = make_runs("char_lm", [variant(name) for name in s["variants"]], "char_lm", task_params,
                     {"seq": s["seq_len"]}, seeds, extra={"sample_length": s["sample_length"],
                                                          "sample_prompt": SAMPLE_PROMPT},
                     **train_settings(s, budget.extra_train))
    return question, settings, runs


EXPERIMENT = register(Definition(
    "char_lm", "Real text: character-level language model on Tiny Shakespeare", BUDGETS, plan,
    columns=tables.char_lm_columns, findings=findings.findings_char_lm, figures=figures.char_lm_figures,
    samples=True, takeaway=takeaways.char_lm))
