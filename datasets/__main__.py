"""`python -m datasets`: the registered tasks, their output kind, length and chance baseline.

    python -m datasets                       # defaults
    python -m datasets recall gap=100        # one task with parameters
    python -m datasets kerala_cloze fillers=2 --samples 3   # and its first 3 test examples, answered

The text tasks read tiny_shakespeare through TFDS (`manual_dir` defaults to the shared copy in
../shared/corpora/tiny_shakespeare when it exists); offline without a copy, their row shows why not.
"""

from __future__ import annotations

import argparse
import sys

import datasets
from datasets.bench import SHARED_TINY_SHAKESPEARE
from training.core.boundary import command


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m datasets",
        description="The registered tasks: output kind, sequence length T, vocabulary, classes and the chance "
                    "baseline (loss in nats and accuracy) at the given parameters.",
        epilog="example: python -m datasets recall gap=100",
    )
    p.add_argument("items", nargs="*", metavar="TASK | KEY=VALUE",
                   help="tasks to describe (default: every registered task), and task parameters KEY=VALUE "
                        "given to each of them (default: each task's own)")
    p.add_argument("--samples", type=int, default=0, metavar="N",
                   help="also print each task's first N test examples, answered (default: 0)")
    return p


@command
def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    samples = args.samples
    names = [a for a in args.items if "=" not in a] or datasets.list_tasks()
    params = dict(a.split("=", 1) for a in args.items if "=" in a)
    print(f"{'task':<15} {'output':<11} {'T':>5} {'vocab':>6} {'classes':>7} {'chance loss':>12} {'chance acc':>10}  params")
    for name in names:
        given = dict(params)
        if name in ("char_lm", "word_lm") and "manual_dir" not in given and (SHARED_TINY_SHAKESPEARE / "input.txt").is_file():
            given["manual_dir"] = str(SHARED_TINY_SHAKESPEARE)
        try:
            spec = datasets.get_spec(name, **given)
        except ValueError as error:
            print(f"{name:<15} {error}")
            continue
        accuracy = "-" if spec.chance_accuracy is None else f"{spec.chance_accuracy:.4f}"
        shown = {k: v for k, v in spec.params.items() if v is not None and k not in ("data_dir", "manual_dir")}
        print(
            f"{name:<15} {spec.output:<11} {spec.sequence_length:>5} {spec.vocabulary_size:>6} {spec.num_classes:>7} "
            f"{spec.chance_loss:>12.4f} {accuracy:>10}  {shown}"
        )
        if samples > 0:
            _print_samples(name, given, spec, samples)
    return 0


def _print_samples(name, params, spec, n) -> None:
    """The first `n` test examples: the sentence with its answer filled in where the task has answer words,
    else the input tokens and the targets."""
    import numpy as np

    params = {k: v for k, v in params.items() if k in datasets.task_defaults(name)}
    ds, _ = datasets.load_task(name, "test", n, **({"eval_size": n} if "eval_size" in datasets.task_defaults(name) else {}), **params)
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
