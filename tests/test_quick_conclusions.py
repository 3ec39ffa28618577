"""The quick budget (`make demo`) reaches the qualitative conclusions of the suite's design measurements.

Slow: it trains the whole quick suite once (`make demo`'s time: docs/results.md#budgets). Set
RNN_ZOO_QUICK_SWEEP to the folder of a finished quick sweep to check that one instead of training;
`python tests/test_quick_conclusions.py <sweep folder>` prints every check for any sweep of this suite.

Each check is a statement about result rows (one per run: sweep.json entry + metadata.json) that the
design measurements support; a quick budget that no longer shows it has lost an experiment's point. The
standard budget showed the 14 checks it had then (its sweep at f78749b; at c4f863b, with 2,000 char-LM steps, its
forget-bias-3 LSTM stayed above the 4-gram: 1.820 against 1.789 nats/char). A degenerate run never counts
as a success.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def load_rows(sweep_dir) -> list[dict]:
    """sweep.json runs joined with their metadata.json."""
    sweep_dir = pathlib.Path(sweep_dir)
    sweep = json.loads((sweep_dir / "sweep.json").read_text(encoding="utf-8"))
    rows = []
    for entry in sweep["runs"]:
        meta = {}
        if entry.get("run_dir") and (sweep_dir / entry["run_dir"] / "metadata.json").is_file():
            meta = json.loads((sweep_dir / entry["run_dir"] / "metadata.json").read_text(encoding="utf-8"))
        rows.append({**entry, "meta": meta})
    return rows


def _test(row, key):
    return ((row["meta"].get("test") or {}).get(key)) if row["status"] == "finished" else None


def _success(row, key="accuracy", threshold=0.9):
    """Finished, not degenerate, and at or above `threshold` (or at or below for MSE/nats)."""
    value = _test(row, key)
    if value is None or (row["meta"].get("degenerate") or {}).get("flag"):
        return False
    return value >= threshold if key == "accuracy" else value <= threshold


def _at_chance(row, chance, n):
    """Accuracy inside chance +- 3 binomial standard errors (n evaluation examples)."""
    value = _test(row, "accuracy")
    return value is not None and abs(value - chance) <= 3 * math.sqrt(chance * (1 - chance) / n)


def _select(rows, experiment, label=None, task=None, **extra):
    out = [r for r in rows if r["experiment"] == experiment and (label is None or r["label"] == label)
           and (task is None or r["task"] == task) and all(r["extra"].get(k) == v for k, v in extra.items())]
    assert out, f"no runs for {experiment} {label} {task} {extra}"
    return out


def conclusions(rows) -> list[tuple[str, bool]]:
    """(statement, holds) for every qualitative conclusion of the suite."""
    checks = []

    def check(text, ok):
        checks.append((text, bool(ok)))

    # vanishing (recall gap 50, 8 keys: chance 1/8)
    n = 1000
    v = lambda label: _select(rows, "vanishing", label)  # noqa: E731
    check("tanh RNN gain 0.5 stays at chance in every seed", all(_at_chance(r, 1 / 8, n) for r in v("simple_rnn [gain_0.5]")))
    check("tanh RNN gain 1 (orthogonal) solves recall in every seed", all(_success(r) for r in v("simple_rnn")))
    check("default LSTM stays at chance; per-gate orthogonal LSTM (one change) solves, every seed",
          all(_at_chance(r, 1 / 8, n) for r in v("lstm")) and all(_success(r) for r in v("lstm [orthogonal]")))
    check("default GRU stays at chance; update bias 3 solves, every seed",
          all(_at_chance(r, 1 / 8, n) for r in v("gru")) and all(_success(r) for r in v("gru [update_bias_3]")))
    # A gradient that reaches the key is necessary, not sufficient: the ReLU IRNN's is flat at initialisation
    # (about -0.3 decades) but its training is unstable at this learning rate (one seed degenerate, one at 0.37
    # in the quick run at 0237de6+), so the sufficiency half is stated for the tanh and gated cells.
    runs = _select(rows, "vanishing")
    key = [(r["meta"].get("gradient_at_key") or {}).get("decades") for r in runs]
    solved = [_success(r) for r in runs]
    check("every tanh or gated run whose key gradient at init is >= -1.5 decades solves; no run <= -6 decades does",
          all(s for r, k, s in zip(runs, key, solved) if k is not None and k >= -1.5 and r["model"] != "irnn")
          and not any(s for k, s in zip(key, solved) if k is not None and k <= -6))
    errors = [abs(r["meta"]["theory"]["predicted_decay"] - r["meta"]["gradient_at_key"]["decay_decades_per_step"])
              for g in ("simple_rnn [gain_0.5]", "simple_rnn [gain_0.8]", "simple_rnn") for r in v(g)
              if r["meta"].get("theory") and r["meta"].get("gradient_at_key")]
    check("theory (spectral radius) predicts the tanh RNN's measured decay within 0.03 decades/step",
          errors and max(errors) < 0.03)
    # The parallel-scan cells (diagonal linear recurrences): the theory is the slowest unit's retention; it
    # puts the gradient at the key within a factor of 10 of the measured one (vanishing.AGREE_WITHIN_DECADES
    # over the 51 lags of gap 50); minGRU at the gate 1 - z = 0.5 vanishes like a tanh RNN at gain 0.5, the
    # LRU's ring keeps the key's gradient and solves (`python -m training.compare --budget quick --experiments
    # vanishing --only-models min_gru,lru`, commit 1190246: minGRU 0.298 predicted, 0.301 measured, test
    # accuracy 0.13/0.135/0.124; LRU 0.0009 predicted, 0.014 measured, accuracy 1/1/1).
    scan = [r for r in runs if r["model"] in ("min_gru", "min_lstm", "lru") and r["meta"].get("theory")
            and r["meta"].get("gradient_at_key")]
    lags = [int(r["config"]["task_params"]["gap"]) + 1 for r in scan]
    check("the scan cells' theory (slowest unit's retention) predicts the gradient at the key within a factor "
          "of 10; minGRU stays at chance and the LRU solves, every seed",
          scan and all(abs(r["meta"]["theory"]["predicted_decay"]
                           - r["meta"]["gradient_at_key"]["decay_decades_per_step"]) * n_lags <= 1.0
                       for r, n_lags in zip(scan, lags))
          and all(_at_chance(r, 1 / 8, n) for r in v("min_gru")) and all(_success(r) for r in v("lru")))
    # exploding
    plain = _select(rows, "exploding", "irnn", "adding")
    clipped = _select(rows, "exploding", "irnn clip", "adding")
    check("IRNN on adding: no seed learns without clipping (MSE >= 0.1); every seed does with clipping (<= 0.05)",
          all((_test(r, "mse") or 0) >= 0.1 for r in plain if r["status"] == "finished")
          and all(_success(r, "mse", 0.05) for r in clipped))
    check("no degenerate run counts as solved anywhere",
          not any((r["meta"].get("degenerate") or {}).get("flag") and _success(r) for r in rows))
    # long_term
    lt = lambda label, task: _select(rows, "long_term", label, task)  # noqa: E731
    # forget bias 3 is at the edge at gap 100 in 200 steps (1 of 3 seeds in the quick run at 0237de6+: sigma(3)^100
    # = 8e-3 of the key survives); chrono's biases reach the gap's time scale
    check("recall gap 100: chrono LSTM and update bias 3 GRU solve in every seed, the default LSTM and GRU in none",
          all(_success(r) for r in lt("lstm [chrono]", "recall") + lt("gru [update_bias_3]", "recall"))
          and not any(_success(r) for r in lt("gru", "recall") + lt("lstm", "recall")))
    copy = _select(rows, "long_term", task="copy_memory")
    chance_copy = copy[0]["meta"]["chance"]["loss"]
    check("copy memory: the tanh RNN stays at the memoryless baseline; the forget-bias-3 LSTM goes below 70% of it",
          all((_test(r, "loss") or 0) >= 0.9 * chance_copy for r in lt("simple_rnn", "copy_memory"))
          and all(_success(r, "loss", 0.7 * chance_copy) for r in lt("lstm [forget_bias_3]", "copy_memory")))
    # unidirectional: future_cloze (4 answers: chance 1/4; minGRU among the causal models, its bidirectional
    # variant among those that see the future) and the article's mouse cloze (2 answers: chance 1/2)
    for task, chance in (("future_cloze", 1 / 4), ("mouse_cloze", 1 / 2)):
        u = lambda direction: _select(rows, "unidirectional", task=task, direction=direction)  # noqa: E731
        check(f"{task}: causal models at the blank stay at chance", all(_at_chance(r, chance, n) for r in u("causal")))
        check(f"{task}: the same causal models answering late solve it",
              all(_success(r) for r in u("causal, answers late")))
        check(f"{task}: models that see the future solve it", all(_success(r) for r in u("sees the future")))
    # char_lm
    lm = [r for r in _select(rows, "char_lm") if r["model"] in ("lstm", "gru")]
    check("every gated model beats the Kneser-Ney 4-gram on the test split",
          all((_test(r, "nll") or math.inf) < (r["meta"].get("baselines") or {}).get("4gram", -math.inf) for r in lm))
    return checks


@pytest.mark.slow
def test_quick_budget_reaches_the_conclusions_of_the_standard_budget(tmp_path):
    sweep = os.environ.get("RNN_ZOO_QUICK_SWEEP")
    if not sweep:
        sweep = tmp_path / "quick"
        subprocess.run([sys.executable, "-m", "training.compare", "--budget", "quick", "--output", str(sweep),
                        "--quiet"], cwd=ROOT, check=True, timeout=3600)
    failed = [text for text, ok in conclusions(load_rows(sweep)) if not ok]
    assert not failed, "quick budget lost these conclusions:\n" + "\n".join(failed)


def main(argv=None) -> int:
    """python tests/test_quick_conclusions.py <sweep folder>: print every check, ok or FAIL."""
    import argparse

    p = argparse.ArgumentParser(prog="python tests/test_quick_conclusions.py",
                                description="Print every qualitative check of a quick sweep, ok or FAIL.")
    p.add_argument("sweep", help="the folder of a quick sweep (what `make demo` printed, above its report/)")
    args = p.parse_args(argv)
    if not (pathlib.Path(args.sweep) / "sweep.json").is_file():
        print(f"error: {args.sweep} holds no sweep.json; pass the folder `make demo` printed.", file=sys.stderr)
        return 2
    for text, ok in conclusions(load_rows(args.sweep)):
        print("ok  " if ok else "FAIL", text)
    return 0


def test_the_printing_command_answers_help_and_a_wrong_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0 and "usage: python tests/test_quick_conclusions.py" in capsys.readouterr().out
    assert main([str(tmp_path)]) == 2 and "holds no sweep.json" in capsys.readouterr().err


if __name__ == "__main__":
    sys.exit(main())
