"""`python -m training.evaluate <run>`: re-evaluate a saved run on its task's test split, using only
what the run folder holds (model, config, task spec with vocabulary), and print the same metrics the
run recorded when it finished."""

from __future__ import annotations

import argparse
import sys

from training.core import quiet


# The library this command used to import at the top, still importable from here, now on first use so
# that `--help` needs no TensorFlow.
_LIBRARY = {"evaluate_run": "training.core.loop"}


def __getattr__(name):
    if name in _LIBRARY:
        import importlib

        return getattr(importlib.import_module(_LIBRARY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    p.add_argument("run", help="run name under saved_models/ or a path to a run folder")
    p.add_argument("--split", default="test", choices=("validation", "test"),
                   help="the split to evaluate on (default: test)")
    p.add_argument("--saved-models", dest="root", help="where runs are saved (default: saved_models/)")
    args = p.parse_args(argv)
    quiet.install()
    from training.core.loop import evaluate_run

    try:
        metrics, run = evaluate_run(args.run, args.root, args.split)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    recorded = run.metadata.get("test", {}) if args.split == "test" else {}
    print(f"{run.path.name}: {run.config.model} on {run.config.task}, {args.split} split")
    if run.note:
        print(f"  note: {run.note}")
        recorded = {}  # the recorded metrics belong to another model
    for name, value in metrics.items():
        before = f"   (recorded: {recorded[name]:.6g})" if name in recorded else ""
        print(f"  {name:<16} {value:.6g}{before}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
