"""`python -m training.sweep.calibrate SWEEP`: what a finished sweep measured, in the fields of
`training.sweep.plan.Measurement` (per experiment the median fixed seconds and training-step seconds per token
of its finished runs, and the factor between the sweep's wall time and the makespan those give), printed as
JSON. `plan.MEASURED` holds its output for the timed `make demo` sweep the estimates of `compare --plan` are
made from (docs/results.md#budgets). Its `--help` answers without importing TensorFlow."""

from __future__ import annotations

import argparse
import json

from training.core import quiet
from training.core.boundary import UsageError, command


@command
def main(argv=None) -> int:
    """`python -m training.sweep.calibrate SWEEP`: the measured costs of a finished sweep."""
    parser = argparse.ArgumentParser(prog="python -m training.sweep.calibrate",
                                     description="Print what a finished sweep measured (per experiment the median "
                                                 "fixed seconds and step seconds per token, and the span factor), "
                                                 "the fields of training.sweep.plan.MEASURED.")
    parser.add_argument("sweep", metavar="SWEEP", help="a finished sweep folder (its sweep.json and run folders)")
    args = parser.parse_args(argv)
    quiet.install()  # TensorFlow's C++ start-up lines held back, as by every command
    from training.sweep.plan import calibrate  # the planner's imports (the zoo, TensorFlow) after --help

    try:
        fields = calibrate(args.sweep)
    except ValueError as error:
        raise UsageError(str(error)) from None
    print(json.dumps(fields, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
