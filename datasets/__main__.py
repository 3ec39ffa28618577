"""`python -m datasets`: the registered tasks, their output kind, length and chance baseline.

    python -m datasets                       # defaults
    python -m datasets recall gap=100        # one task with parameters

The text tasks read tiny_shakespeare through TFDS (`manual_dir` defaults to the shared copy in
../shared/corpora/tiny_shakespeare when it exists); offline without a copy, their row shows why not.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import datasets  # noqa: E402
from datasets.bench import SHARED_TINY_SHAKESPEARE  # noqa: E402


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = [a for a in argv if "=" not in a] or datasets.list_tasks()
    params = dict(a.split("=", 1) for a in argv if "=" in a)
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
