"""`python -m datasets`: the registered tasks, their output kind, length and chance baseline.

    python -m datasets                       # defaults
    python -m datasets recall gap=100        # one task with parameters

The text tasks read tiny_shakespeare through TFDS (`manual_dir` defaults to the shared copy in
../shared/corpora/tiny_shakespeare when it exists); offline without a copy, their row shows why not.
"""

from __future__ import annotations

import argparse
import sys

import datasets
from datasets.bench import SHARED_TINY_SHAKESPEARE


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
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    items = build_parser().parse_args(argv).items
    names = [a for a in items if "=" not in a] or datasets.list_tasks()
    params = dict(a.split("=", 1) for a in items if "=" in a)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
