"""`python -m training.evaluate <run>`: re-evaluate a saved run on its task's test split, using only
what the run folder holds (model, config, task spec with vocabulary), and print the same metrics the
run recorded when it finished."""

from __future__ import annotations

import argparse
import sys

from training.core import quiet
from training.core.boundary import UsageError, command


# The library this command used to import at the top, still importable from here, now on first use so
# that `--help` needs no TensorFlow.
_LIBRARY = {"evaluate_run": "training.core.loop"}


def __getattr__(name):
    if name in _LIBRARY:
        import importlib

        return getattr(importlib.import_module(_LIBRARY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__)
    p.add_argument("run", help="run name under saved_models/ or a path to a run folder")
    p.add_argument("--split", default="test", choices=("validation", "test"),
                   help="the split to evaluate on (default: test)")
    p.add_argument("--saved-models", dest="root", help="where runs are saved (default: saved_models/)")
    args = p.parse_args(argv)
    check_run_arguments(args)
    quiet.install()
    from training.core.loop import evaluate_run

    metrics, run = evaluate_run(args.run, args.root, args.split)
    recorded = (run.metadata.get("test") or {}) if args.split == "test" else {}
    print(f"{run.path.name}: {run.config.model} on {run.config.task}, {args.split} split")
    if run.status == "diverged":
        d = run.metadata.get("divergence") or {}
        print(f"  note: Run {run.path.name} diverged at step {d.get('step', run.step)} ({d.get('cause', 'non-finite')}): "
              "its saved weights are not finite, so its metrics are NaN; it recorded no test metrics.")
    if run.note:
        print(f"  note: {run.note}")
        recorded = {}  # the recorded metrics belong to another model
    for name, value in metrics.items():
        before = f"   (recorded: {recorded[name]:.6g})" if name in recorded else ""
        print(f"  {name:<16} {value:.6g}{before}")
    print_filled_blanks(run)
    return 0


def check_run_arguments(args) -> None:
    """The run and --saved-models of evaluate and generate, before TensorFlow."""
    if not args.run.strip():
        raise UsageError("Give a run name or a run folder, not an empty string.")
    if args.root is not None and not args.root.strip():
        raise UsageError("--saved-models needs a folder, got an empty string; leave the flag out for the default.")


def filled_blanks(model, spec, task_params: dict, n: int = 4) -> list[tuple[str, str, str]]:
    """Cloze tasks (a spec with `answers` and a blank): the first `n` test examples, each as
    `(the sentence with the model's answer in the blank, the model's word, the right word)`; [] for
    other tasks (`training.core.diagnostics.blank_answers`, which a run also uses to record its answers to
    the article's sentences)."""
    import datasets
    from training.core.diagnostics import blank_answers

    if getattr(spec, "answers", None) is None or getattr(spec, "blank_token_id", None) is None:
        return []
    ds, _ = datasets.load_task(spec.name, "test", n, **task_params)
    return blank_answers(lambda x: model.predict(x, verbose=0), spec, next(iter(ds.take(1))), n)


def print_filled_blanks(run) -> None:
    """Prints `filled_blanks` of a loaded run (nothing for tasks without a blank)."""
    lines = filled_blanks(run.model, run.spec, run.config.task_params)
    if lines:
        print("  the model's answers (first test examples):")
    for text, guess, right in lines:
        print(f"    {text}" + ("" if guess == right else f"   (wrong; right: {right})"))


if __name__ == "__main__":
    sys.exit(main())
