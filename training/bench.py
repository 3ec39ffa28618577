"""`python -m training.bench`: the speed of the zoo's training step against plain Keras.

For SimpleRNN, LSTM, GRU and self-attention at 128 and 256 units on the char-LM shapes (batch 64,
sequence 100, 65 characters), it times the zoo's training step with all step-gradient recording on
(`GradientRecorder`: global norm before and after clipping and the norm of every layer, every step)
next to plain `model.fit` of the same Keras model with no callbacks. Both arms are measured alternately
in one process, each repeat a fresh `fit` of `--steps` steps whose first steps (tracing) are dropped; the
table shows the median tokens per second of each arm and the median over repeats of the paired ratio
zoo / plain (>= 0.95 is the target).

`--bptt` times instead the zoo's recurrent layers with backpropagation through time written out
(`zoo.bptt`) against Keras's own on the same model (Embedding 65 -> 64, the recurrent layer, Dense 65;
Adam), at 128, 256 and 512 units by default: the arms alternate within each repeat and the speedup is
the median over repeats of the paired ratio Keras time / written-out time. `--peer pytorch` adds the
same model in PyTorch (when `torch` is importable; it is not a requirement) and its ratio to Keras, twice:
as installed (its CPU LSTM then runs oneDNN's fused LSTM kernel) and with oneDNN turned off (PyTorch's own
kernels).

`--lengths 100,300,1000,3000` times instead one training step (forward, gradient, Adam update, compiled as
training compiles it) of the same char-LM at each sequence length T, batch 16 and 256 units by default,
for the parallel-scan cells (min_gru, min_lstm, lru) and the sequential ones (gru_bptt, lstm_bptt: the
written-out zoo.bptt layers; gru_keras, lstm_keras: Keras's): all arms alternate within each repeat at a
length, and each ratio is the median over repeats of the paired ratio gru_bptt time / arm time. The last
lines fit how each arm's time grows with T (time ~ T^p) and say whether minGRU is >= 5x the written-out GRU
at T = 1000 (issue 23's goal).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from training.core import quiet
from training.core.boundary import UsageError, command
from training.core.preflight import check_output_file


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+",
                   help="zoo models timed (default: simple_rnn lstm gru self_attention; --bptt: lstm gru simple_rnn; "
                        "--lengths: the arms min_gru min_lstm lru gru_bptt lstm_bptt gru_keras lstm_keras; also possible: "
                        "no_recurrence, the model without its recurrent layer)")
    p.add_argument("--units", nargs="+", type=int,
                   help="widths timed (default: 128 256; --bptt: 128 256 512; --lengths: one width, 256)")
    p.add_argument("--steps", type=int,
                   help="steps per timed fit, the first 3 dropped (default: 40; --bptt: 20); --lengths: timed steps "
                        "per arm and repeat, after one untimed step per length (default: 3)")
    p.add_argument("--repeats", type=int,
                   help="timed fits per arm; the median is reported (default: 7; --bptt: 5; --lengths: 3)")
    p.add_argument("--bptt", action="store_true",
                   help="time zoo.bptt's written-out recurrent layers against Keras's (default: off)")
    p.add_argument("--lengths",
                   help="comma-separated sequence lengths: time the parallel-scan cells against the sequential ones "
                        "at each (e.g. 100,300,1000,3000; default: off)")
    p.add_argument("--batch", type=int, help="with --lengths: sequences per batch (default: 16)")
    p.add_argument("--peer", choices=["pytorch"],
                   help="with --bptt: also the same model in PyTorch, if importable (with and without oneDNN); default: none")
    p.add_argument("--json", help="also write the rows to this JSON file (default: none)")
    args = p.parse_args(argv)
    for name in ("steps", "repeats"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    bad_units = [u for u in args.units or [] if u < 1]
    if bad_units:
        raise UsageError(f"--units must be positive widths, got {', '.join(map(str, bad_units))}.")
    if args.peer and not args.bptt:
        raise UsageError("--peer compares the --bptt model; add --bptt.")
    if args.batch is not None and args.lengths is None:
        raise UsageError("--batch sets the batch of the --lengths sweep; add --lengths.")
    if args.lengths is not None:
        lengths = _parse_lengths(args.lengths, args)
        if args.json is not None:
            check_output_file(args.json, "--json")
        quiet.install()
        rows = _lengths(lengths, args.models, args.units[0] if args.units else 256,
                        args.batch if args.batch is not None else 16,
                        args.steps if args.steps is not None else 3, args.repeats if args.repeats is not None else 3)
        if args.json:
            from training.core.runs import write_text

            write_text(args.json, json.dumps(rows, indent=1))
        return 0
    steps = args.steps if args.steps is not None else (20 if args.bptt else 40)
    repeats = args.repeats if args.repeats is not None else (5 if args.bptt else 7)
    if args.json is not None:
        check_output_file(args.json, "--json")
    quiet.install()
    from training.core.bench import BPTT_MODELS, WARMUP_STEPS

    if steps <= WARMUP_STEPS + 1:
        raise UsageError(f"--steps must be more than {WARMUP_STEPS + 1} (the first {WARMUP_STEPS} steps of every "
                         f"timed fit are tracing and are dropped), got {steps}.")
    unknown = sorted(set(args.models or []) - set(BPTT_MODELS)) if args.bptt else []
    if unknown:
        raise UsageError(f"--bptt times {', '.join(BPTT_MODELS)}, not {', '.join(unknown)}.")
    if not args.bptt and args.models:
        import zoo

        unknown = sorted(set(args.models) - set(zoo.list_models()))
        if unknown:
            raise UsageError(f"Unknown model(s) {', '.join(unknown)} in --models; known: {', '.join(zoo.list_models())}.")
    if args.bptt:
        rows = _bptt(args.models or list(BPTT_MODELS), args.units or [128, 256, 512], steps, repeats, args.peer)
    else:
        rows = _table(args.models or ["simple_rnn", "lstm", "gru", "self_attention"], args.units or [128, 256],
                      steps, repeats)
    if args.json:
        from training.core.runs import write_text

        write_text(args.json, json.dumps(rows, indent=1))
    return 0


# the arms of --lengths, written here too so that --help and the checks of the arguments need no TensorFlow
_LENGTH_ARMS = ("min_gru", "min_lstm", "lru", "gru_bptt", "lstm_bptt", "gru_keras", "lstm_keras")
_FLOOR_ARM = "no_recurrence"  # only when named in --models: the model without its recurrent layer


def _parse_lengths(text, args):
    """The checks of --lengths and the options it takes, before TensorFlow is imported."""
    if args.bptt:
        raise UsageError("--lengths and --bptt are two different benchmarks; give one of them.")
    try:
        lengths = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(f"--lengths takes comma-separated whole numbers such as 100,300,1000,3000, got {text!r}.") from None
    if not lengths or min(lengths) < 1:
        raise UsageError(f"--lengths takes positive sequence lengths such as 100,300,1000,3000, got {text!r}.")
    if args.units and len(args.units) > 1:
        raise UsageError(f"--lengths times one width; give one --units, got {' '.join(map(str, args.units))}.")
    if args.batch is not None and args.batch < 1:
        raise UsageError(f"--batch must be a positive integer, got {args.batch}.")
    unknown = sorted(set(args.models or []) - set(_LENGTH_ARMS) - {_FLOOR_ARM})
    if unknown:
        raise UsageError(f"--lengths times the arms {', '.join(_LENGTH_ARMS)} (and {_FLOOR_ARM}), "
                         f"not {', '.join(unknown)}.")
    return lengths


def _lengths(lengths, arms, units, batch, steps, repeats):
    from training.core.bench import (EMBEDDING_DIM, FLOOR_ARM, LENGTH_ARMS, LENGTH_BASELINE, LENGTH_GOAL, VOCAB,
                                     bench_lengths, growth_exponent, length_header)

    import tensorflow as tf

    assert tuple(LENGTH_ARMS) == _LENGTH_ARMS and FLOOR_ARM == _FLOOR_ARM
    # every arm at every length is a model of its own with its own traced step, which TensorFlow's
    # "triggered tf.function retracing" warning mistakes for retracing
    tf.get_logger().setLevel("ERROR")
    arms = [a for a in (*_LENGTH_ARMS, _FLOOR_ARM) if a in arms] if arms else list(_LENGTH_ARMS)
    print(f"training step (forward, gradient, Adam) of a char-LM: Embedding {VOCAB} -> {EMBEDDING_DIM}, one recurrent "
          f"layer of {units} units, per-step Dense {VOCAB}; batch {batch}; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start; ms: median of {repeats} rotating repeats of the median of "
          f"{steps} steps; /x: median of paired ratios {LENGTH_BASELINE} time / x time (> 1: x is faster)")
    print(length_header(arms))
    rows = bench_lengths(lengths, arms, batch, units, steps, repeats)
    print(f"load average at the end {os.getloadavg()[0]:.1f} (a shared machine slows the arms of a round alike, "
          f"but noisily: repeat when it is high)")
    if len(rows) > 1:
        print("growth with T (time ~ T^p, fitted over the lengths): "
              + ", ".join(f"{arm} p = {growth_exponent(rows, arm):.2f}" for arm in arms))
    arm, length, goal = LENGTH_GOAL
    at = [r for r in rows if r["time"] == length]
    if at and arm in arms and LENGTH_BASELINE in arms:
        ratio = at[0][f"{arm}_speedup"]
        print(f"{arm} at T = {length}: {ratio:.2f}x faster than {LENGTH_BASELINE} (goal >= {goal}x: "
              f"{'met' if ratio >= goal else 'not met'})")
    return rows


def _bptt(models, units, steps, repeats, peer):
    from training.core.bench import BATCH, BPTT_HEADER, BPTT_TARGETS, TIME, VOCAB, bench_bptt

    print(f"batch {BATCH}, sequence {TIME}, vocabulary {VOCAB}, embedding 64; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f} at the start; median of {repeats} rotating repeats of {steps} steps; "
          f"x/keras: median of paired ratios Keras time / x time (> 1: faster than Keras), wall time and, "
          f"(cpu), this process's CPU time")
    print(BPTT_HEADER)
    rows = bench_bptt(models, units, steps, repeats, peer)
    print(f"load average at the end {os.getloadavg()[0]:.1f} (a shared machine slows both arms of a pair alike, "
          f"but noisily: repeat when it is high)")
    for r in rows:
        target = BPTT_TARGETS[r["model"]]
        print(f"{r['model']} {r['units']}: written-out {r['bptt_speedup']:.2f}x Keras in wall time (target >= "
              f"{target}x: {'met' if r['bptt_speedup'] >= target else 'not met'}), {r['bptt_cpu_speedup']:.2f}x in CPU time")
    return rows


def _table(models, units, steps, repeats):
    import tensorflow as tf

    from training.core.bench import BATCH, HEADER, TIME, VOCAB, bench

    print(f"batch {BATCH}, sequence {TIME}, vocabulary {VOCAB}; {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} threads; "
          f"median of {repeats} alternating repeats of {steps} steps; zoo/plain: median of paired ratios")
    print(HEADER)
    rows = bench(models, units, steps, repeats)
    worst = min(r["ratio"] for r in rows)
    print(f"slowest zoo/plain ratio: {worst:.3f} (target >= 0.95)")
    return rows


if __name__ == "__main__":
    sys.exit(main())
