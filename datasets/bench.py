"""Benchmark: does every pipeline deliver batches at least 10x faster than an LSTM(128) trains on them?

    python -m datasets.bench                       # every task, batch 64, default parameters
    python -m datasets.bench --tasks recall char_lm --batch-size 32

For each task it measures (1) how many training batches per second the tf.data pipeline delivers on
its own, and (2) how many training steps per second a plain Keras LSTM(128) model (Embedding(64) ->
LSTM(128) -> Dense, built here from Keras layers, not from `zoo`) takes on batches of the same shape,
fed from memory so that the pipeline does not slow it down. The ratio must be at least 10: then the
input pipeline costs the training loop under a tenth of its time. The text tasks read tiny_shakespeare
through TFDS; `--manual-dir` defaults to ../shared/corpora/tiny_shakespeare when that copy exists.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import datasets  # noqa: E402
from training.core.boundary import UsageError, command  # noqa: E402  (standard library only)
from datasets.spec import LAST_CLASS, LAST_VALUE, PER_STEP  # noqa: E402

SHARED_TINY_SHAKESPEARE = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "tiny_shakespeare"
REQUIRED_RATIO = 10.0


def lstm_model(spec) -> keras.Model:
    """Embedding -> LSTM(128) -> Dense, with the output the task asks for."""
    inputs = keras.Input((spec.sequence_length,), dtype="int32")
    x = keras.layers.Embedding(spec.vocabulary_size, 64)(inputs)  # (batch, time, 64)
    x = keras.layers.LSTM(128, return_sequences=spec.output == PER_STEP)(x)  # (batch[, time], 128)
    outputs = keras.layers.Dense(spec.num_classes)(x)  # (batch[, time], classes)
    model = keras.Model(inputs, outputs)
    if spec.output == LAST_VALUE:
        model.compile(optimizer="adam", loss="mse")
    else:
        assert spec.output in (PER_STEP, LAST_CLASS)
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def pipeline_rate(ds, batches: int) -> float:
    """Batches per second the dataset delivers, after a short warm-up."""
    iterator = iter(ds)
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches / (time.perf_counter() - start)


def training_rate(spec, batch, steps: int) -> float:
    """Training steps per second of an LSTM(128) on one batch held in memory."""
    model = lstm_model(spec)
    x, y = batch[0], batch[1]
    weights = batch[2] if len(batch) > 2 else None
    for _ in range(3):  # tracing and the first steps
        model.train_on_batch(x, y, sample_weight=weights)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y, sample_weight=weights)
    return steps / (time.perf_counter() - start)


def run(tasks, batch_size=64, batches=200, steps=20, text_params=None, out=sys.stdout) -> list[dict]:
    """Measures every task in `tasks`; prints a table and returns its rows."""
    rows = []
    header = f"{'task':<15} {'T':>5} {'build s':>8} {'pipeline batch/s':>17} {'LSTM(128) step/s':>17} {'ratio':>7}  >=10x"
    print(f"batch size {batch_size}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}", file=out)
    print(header, file=out)
    print("-" * len(header), file=out)
    for name in tasks:
        params = dict(text_params or {}) if name in ("char_lm", "word_lm") else {}
        start = time.perf_counter()
        ds, spec = datasets.load_task(name, "train", batch_size, seed=0, **params)
        first = next(iter(ds))
        build = time.perf_counter() - start
        delivered = pipeline_rate(ds, batches)
        trained = training_rate(spec, [np.asarray(t) for t in first], steps)
        ratio = delivered / trained
        row = {
            "task": name,
            "sequence_length": spec.sequence_length,
            "build_s": build,
            "pipeline_batches_per_s": delivered,
            "lstm_steps_per_s": trained,
            "ratio": ratio,
            "ok": ratio >= REQUIRED_RATIO,
        }
        rows.append(row)
        print(
            f"{name:<15} {spec.sequence_length:>5} {build:>8.2f} {delivered:>17.1f} {trained:>17.2f} {ratio:>7.1f}  "
            f"{'yes' if row['ok'] else 'NO'}",
            file=out,
        )
        keras.backend.clear_session()
    return rows


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasets.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=datasets.list_tasks(), help="tasks to measure (default: all)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size of the pipelines and the LSTM (default: 64)")
    parser.add_argument("--batches", type=int, default=200, help="batches drawn to time a pipeline (default: 200)")
    parser.add_argument("--steps", type=int, default=20, help="training steps to time the LSTM (default: 20)")
    parser.add_argument("--data-dir", default=None, help="TFDS data_dir for the text tasks (TFDS's default when absent)")
    parser.add_argument(
        "--manual-dir",
        default=str(SHARED_TINY_SHAKESPEARE) if (SHARED_TINY_SHAKESPEARE / "input.txt").is_file() else None,
        help="folder holding tiny_shakespeare's input.txt (default: ../shared/corpora/tiny_shakespeare beside the "
             "checkout when it holds input.txt, else none)",
    )
    args = parser.parse_args(argv)
    unknown = [t for t in args.tasks if t not in datasets.list_tasks()]
    if unknown:
        raise UsageError(f"Unknown task(s) {', '.join(unknown)} in --tasks; known: {', '.join(datasets.list_tasks())}.")
    for name in ("batch_size", "batches", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}.")
    text_params = {"data_dir": args.data_dir, "manual_dir": args.manual_dir}
    rows = run(args.tasks, args.batch_size, args.batches, args.steps, text_params)
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
