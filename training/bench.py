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
                   help="zoo models timed (default: simple_rnn lstm gru self_attention; --bptt: lstm gru simple_rnn)")
    p.add_argument("--units", nargs="+", type=int, help="widths timed (default: 128 256; --bptt: 128 256 512)")
    p.add_argument("--steps", type=int, help="steps per timed fit, the first 3 dropped (default 40; --bptt: 20)")
    p.add_argument("--repeats", type=int, help="timed fits per arm; the median is reported (default 7; --bptt: 5)")
    p.add_argument("--bptt", action="store_true",
                   help="time zoo.bptt's written-out recurrent layers against Keras's (default: off)")
    p.add_argument("--peer", choices=["pytorch"],
                   help="with --bptt: also the same model in PyTorch, if importable (with and without oneDNN); default: none")
    p.add_argument("--json", help="also write the rows to this JSON file (default: none)")
    args = p.parse_args(argv)
    for name in ("steps", "repeats"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name} must be a positive integer, got {getattr(args, name)}.")
    steps = args.steps if args.steps is not None else (20 if args.bptt else 40)
    repeats = args.repeats if args.repeats is not None else (5 if args.bptt else 7)
    bad_units = [u for u in args.units or [] if u < 1]
    if bad_units:
        raise UsageError(f"--units must be positive widths, got {', '.join(map(str, bad_units))}.")
    if args.peer and not args.bptt:
        raise UsageError("--peer compares the --bptt model; add --bptt.")
    if args.json:
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
