"""Benchmark: what recording the step gradients costs per training step, and what one through-time profile costs.

    python -m training.bench_gradients [--layer lstm] [--units 128] [--time 100] [--batch 32]

The same compiled model is trained with `fit` in alternation without and with `GradientRecorder`
(per-layer norms at every step; once logs only, once also writing the CSV and TensorBoard scalars), a
few steps per `fit`, several rounds. A step is the time between two `on_train_batch_begin` calls, so it
includes the traced step and every callback. The first steps of each `fit` (where the function is
traced again) are dropped; each configuration is summarised by the median over rounds of the median
step. Then one `ThroughTimeProbe` call on a probe batch is timed the same way (median of repeats).
"""

from __future__ import annotations

import argparse
import sys

from training.core import quiet
from training.core.boundary import UsageError, command
from training.core.flags import DefaultsHelpFormatter

LAYERS = ("gru", "lstm", "simple_rnn")  # training.instruments.cost.LAYERS, named here so --help needs no TensorFlow


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.bench_gradients", description=__doc__.splitlines()[0],
                                     formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--layer", choices=LAYERS, default="lstm", help="the Keras recurrent layer timed")
    parser.add_argument("--units", type=int, default=128, help="hidden size")
    parser.add_argument("--embedding-dim", type=int, default=64, help="token embedding size")
    parser.add_argument("--vocabulary", type=int, default=65, help="vocabulary size of the random tokens")
    parser.add_argument("--time", type=int, default=100, dest="time_steps", help="sequence length")
    parser.add_argument("--batch", type=int, default=32, help="batch size of the timed steps")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per fit")
    parser.add_argument("--rounds", type=int, default=5, help="fits per configuration; the median round is reported")
    parser.add_argument("--probe-batch", type=int, default=32, help="examples in the timed through-time probe batch")
    parser.add_argument("--probe-repeats", type=int, default=5,
                        help="timed through-time profiles; the median is reported")
    args = parser.parse_args(argv)
    for name in ("units", "embedding_dim", "vocabulary", "time_steps", "batch", "steps", "rounds", "probe_batch",
                 "probe_repeats"):
        if getattr(args, name) < 1:
            flag = "--time" if name == "time_steps" else "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be at least 1, got {getattr(args, name)}.")
    if args.vocabulary < 2:
        raise UsageError(f"--vocabulary must be at least 2 tokens, got {args.vocabulary}.")
    quiet.install()
    from training.instruments.cost import benchmark

    benchmark(**vars(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
