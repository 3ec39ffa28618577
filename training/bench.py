"""`python -m training.bench`: the speed of the zoo's training step against plain Keras.

For SimpleRNN, LSTM, GRU and self-attention at 128 and 256 units on the char-LM shapes (batch 64,
sequence 100, 65 characters), it times the zoo's training step with all step-gradient recording on
(`GradientRecorder`: global norm before and after clipping and the norm of every layer, every step)
next to plain `model.fit` of the same Keras model with no callbacks. Both arms are measured alternately
in one process, each repeat a fresh `fit` of `--steps` steps whose first steps (tracing) are dropped; the
table shows the median tokens per second of each arm and the median over repeats of the paired ratio
zoo / plain (>= 0.95 is the target).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import tensorflow as tf

from training.core.bench import BATCH, HEADER, TIME, VOCAB, WARMUP_STEPS, bench


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["simple_rnn", "lstm", "gru", "self_attention"])
    p.add_argument("--units", nargs="+", type=int, default=[128, 256])
    p.add_argument("--steps", type=int, default=40, help="steps per timed fit (the first 3 are dropped)")
    p.add_argument("--repeats", type=int, default=7, help="timed fits per arm; the median is reported")
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args(argv)
    if args.steps <= WARMUP_STEPS + 1 or args.repeats < 1:
        print(f"error: --steps must be > {WARMUP_STEPS + 1} and --repeats >= 1.", file=sys.stderr)
        return 2
    print(f"batch {BATCH}, sequence {TIME}, vocabulary {VOCAB}; {tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()} threads; "
          f"median of {args.repeats} alternating repeats of {args.steps} steps; zoo/plain: median of paired ratios")
    print(HEADER)
    rows = bench(args.models, args.units, args.steps, args.repeats)
    worst = min(r["ratio"] for r in rows)
    print(f"slowest zoo/plain ratio: {worst:.3f} (target >= 0.95)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
