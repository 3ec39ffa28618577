"""`python -m datasets`: the registered tasks, their output kind, length and chance baseline.

    python -m datasets                       # defaults
    python -m datasets recall gap=100        # one task with parameters
    python -m datasets kerala_cloze fillers=2 --samples 3   # and its first 3 test examples, answered

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
    argv = list(sys.argv[1:] if argv is None else argv)
    samples = 0
    if "--samples" in argv:
        at = argv.index("--samples")
        try:
            samples = int(argv[at + 1])
            del argv[at : at + 2]
        except (IndexError, ValueError):
            print("--samples needs a number of examples, e.g. --samples 3.", file=sys.stderr)
            return 2
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
