"""`python -m training.through_time`: the gradient through time of Keras's recurrent layers at
initialisation (random tokens, a last-step label), one line per layer and probe; see
`training.instruments.through_time` for what is measured."""

from __future__ import annotations

import argparse
import sys

from training.core import quiet
from training.core.boundary import UsageError, command
from training.core.flags import DefaultsHelpFormatter


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.through_time",
        description="Gradient through time of Keras's recurrent layers at initialisation (random tokens).",
        formatter_class=DefaultsHelpFormatter,
    )
    parser.add_argument("--units", type=int, default=128, help="hidden size of every layer")
    parser.add_argument("--time", type=int, default=100, help="sequence length (the longest lag measured is time - 1)")
    parser.add_argument("--embedding-dim", type=int, default=64, help="token embedding size")
    parser.add_argument("--batch", type=int, default=32, help="examples in the probe batch")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the random tokens")
    args = parser.parse_args(argv)
    for name, flag, least in (("units", "--units", 1), ("time", "--time", 2), ("embedding_dim", "--embedding-dim", 1),
                              ("batch", "--batch", 1)):
        if getattr(args, name) < least:
            raise UsageError(f"{flag} must be at least {least}, got {getattr(args, name)}"
                             + (" (a profile needs two steps to measure a lag)." if name == "time" else "."))
    if args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}.")
    quiet.install()
    import numpy as np

    from training.instruments.through_time import initial_profiles

    rows = initial_profiles(args.units, args.time, args.embedding_dim, batch=args.batch, seed=args.seed)
    lag = min(50, args.time - 1)
    print(f"units {args.units}, time {args.time}, probe batch {args.batch}, seed {args.seed}; lag 0 = last step")
    fall_header = f"log10 fall@{lag}"
    print(f"{'layer':46s} {'probe':10s} {'decades/step':>12s} {'x per step':>10s} {fall_header:>15s} {'lag 1e6':>8s}")
    for name, probe, summary, profile in rows:
        by_lag = np.asarray(profile)[::-1]
        fall = np.log10(by_lag[lag] / by_lag[0]) if by_lag[0] > 0 and by_lag[lag] > 0 else float("-inf")
        factor = 10 ** (-summary["decay_decades_per_step"])
        lag_fall = "never" if summary["lag_1e6"] is None else str(summary["lag_1e6"])
        decay = summary["decay_decades_per_step"]
        print(f"{name:46s} {probe:10s} {decay:12.4f} {factor:10.3f} {fall:15.2f} {lag_fall:>8s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
