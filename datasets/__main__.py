"""`python -m datasets`: the registered tasks, their output kind, length and chance baseline.

    python -m datasets                       # every task at its defaults
    python -m datasets recall gap=100        # one task with parameters
    python -m datasets recall adding length=50 recall.gap=20   # KEY=VALUE goes to the tasks that have KEY
    python -m datasets kerala_cloze fillers=2 --samples 3   # and its first 3 test examples, answered
    python -m datasets char_lm manual_dir=corpora/tiny_shakespeare   # a local copy of TFDS's files

The text tasks read TFDS's `tiny_shakespeare` from TFDS's own folder (`~/tensorflow_datasets`): TFDS
downloads it once where there is a network. Offline, pass a folder holding its `input.txt` as
`manual_dir=FOLDER` (or any UTF-8 text as `path=FILE`); without one, their row says so in one sentence
within seconds. An unknown task or a bad parameter is refused in one sentence, before any row (exit 2);
a task named on the command line that cannot be built exits 1.

The listing and `--help` need no TensorFlow (the task modules import it when a pipeline is built,
`datasets/lazy.py`); only the text tasks' rows (their vocabulary comes from the corpus) and `--samples`
import it, with TensorFlow's start-up lines held back as every command of the project does.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

import datasets
from training.core.boundary import command

_ROW = "{:<15} {:<11} {:>5} {:>6} {:>7} {:>12} {:>10}  {}"


def _task_parameters(width: int = 100) -> str:
    """Every task with its parameters and their defaults, for the help's epilog (no TensorFlow needed)."""
    lines = ["tasks and their parameters (KEY=default):"]
    for name in datasets.list_tasks():
        params = " ".join(f"{k}={v}" for k, v in datasets.task_defaults(name).items())
        lines += textwrap.wrap(params, width, initial_indent=f"  {name:<15} ", subsequent_indent=" " * 18)
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m datasets",
        description="The registered tasks: output kind, sequence length T, vocabulary, classes and the chance\n"
                    "baseline (loss in nats and accuracy) at the given parameters.",
        epilog=_task_parameters() + "\n\n"
               "The text tasks (char_lm, word_lm) read TFDS's tiny_shakespeare from ~/tensorflow_datasets, "
               "downloaded once;\noffline, pass a folder holding its input.txt as manual_dir=FOLDER, or a UTF-8 "
               "text as path=FILE.\nAn unknown task or parameter exits 2; a named task that cannot be built "
               "exits 1.\n\nexample: python -m datasets recall gap=100 --samples 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("items", nargs="*", metavar="TASK | KEY=VALUE | TASK.KEY=VALUE",
                   help="tasks to describe (default: every registered task); KEY=VALUE sets parameter KEY of every "
                        "listed task that has it, TASK.KEY=VALUE of one task (default: each task's own, below)")
    p.add_argument("--samples", type=int, default=0, metavar="N",
                   help="also print each task's first N test examples, answered (default: 0)")
    return p


def parse_items(items) -> tuple[list[str], dict[str, dict]]:
    """The tasks asked for and each one's parameters, checked without building anything.

    Raises:
        ValueError: one sentence for an unknown task, a parameter no listed task has, or a bad value.
    """
    names, shared, own = [], {}, {}
    for item in items:
        if "=" not in item:
            datasets.get_task(item)  # an unknown name: one sentence with the known ones
            if item not in names:
                names.append(item)
            continue
        key, value = item.split("=", 1)
        task, _, key = key.strip().rpartition(".")
        if not key:
            raise ValueError(f"{item!r} names no parameter; write KEY=VALUE or TASK.KEY=VALUE.")
        if task:
            datasets.get_task(task)
            own.setdefault(task, {})[key] = value
        else:
            shared[key] = value
    names = names or datasets.list_tasks()
    for task, given in own.items():
        if task not in names:
            raise ValueError(f"{task}.{next(iter(given))}=... is for task {task!r}, which is not among the tasks "
                             f"asked for ({', '.join(names)}); name it too.")
    for key in shared:
        if not any(key in datasets.task_defaults(n) for n in names):
            if len(names) == 1:
                raise ValueError(f"task {names[0]!r} has no parameter {key!r}; its parameters are: "
                                 f"{', '.join(datasets.task_defaults(names[0]))}.")
            among = "" if names == datasets.list_tasks() else f" among {', '.join(names)}"
            raise ValueError(f"no task{among} has a parameter {key!r}; `python -m datasets --help` lists every "
                             "task's parameters.")
    params = {}
    for name in names:
        defaults = datasets.task_defaults(name)
        given = {**{k: v for k, v in shared.items() if k in defaults}, **own.get(name, {})}
        datasets.get_task(name).resolve(given)  # a bad value (gap=abc): one sentence, before any row
        params[name] = given
    return names, params


@command
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    try:
        import training.core.quiet as quiet  # the project's filter of TensorFlow's start-up lines (standard library)
    except ImportError:  # this package used without the rest of rnn-zoo: TensorFlow's lines pass
        quiet = None
    if quiet is not None:
        quiet.install()
    if args.samples < 0:
        print(f"error: --samples must be 0 or more, got {args.samples}.", file=sys.stderr)
        return 2
    try:
        names, params = parse_items(args.items)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    named = any("=" not in a for a in args.items)
    failed = 0
    print(_ROW.format("task", "output", "T", "vocab", "classes", "chance loss", "chance acc", "params"))
    for name in names:
        try:
            spec = datasets.get_spec(name, **params[name])
            accuracy = "-" if spec.chance_accuracy is None else f"{spec.chance_accuracy:.4f}"
            shown = {k: v for k, v in spec.params.items() if v is not None and k not in ("data_dir", "manual_dir")}
            print(_ROW.format(name, spec.output, spec.sequence_length, spec.vocabulary_size, spec.num_classes,
                              f"{spec.chance_loss:.4f}", accuracy, shown), flush=True)
            if args.samples > 0:
                _print_samples(name, params[name], spec, args.samples)
        except (ValueError, OSError) as error:  # a corpus that cannot be had: its one sentence, the rest goes on
            failed += 1
            print(f"{name:<15} cannot be built: {' '.join(str(error).split())}", flush=True)
    return 1 if failed and named else 0


def _print_samples(name, params, spec, n) -> None:
    """The first `n` test examples: the sentence with its answer filled in where the task has answer words,
    else the input tokens and the targets."""
    import numpy as np

    sized = {"eval_size": n} if "eval_size" in datasets.task_defaults(name) and "eval_size" not in params else {}
    ds, _ = datasets.load_task(name, "test", n, **sized, **params)
    batch = [t.numpy() for t in next(iter(ds))]
    for i in range(min(n, len(batch[0]))):
        x, y = batch[0][i], batch[1][i]
        if spec.answers is not None:
            answer = int(y) if y.ndim == 0 else int(y[np.argmax(batch[2][i] > 0)])
            print(f"  {spec.decode(x)}  ->  {spec.answers[answer]}")
        else:
            print(f"  {spec.decode(x)}  ->  {np.array2string(np.asarray(y), threshold=20)}")


if __name__ == "__main__":
    sys.exit(main())
