"""Benchmark: does every pipeline deliver batches at least 10x faster than an LSTM(128) trains on them?

    python -m datasets.bench                       # every task, batch 64, default parameters
    python -m datasets.bench --tasks recall char_lm --batch-size 32
    python -m datasets.bench --tasks char_lm --manual-dir corpora/tiny_shakespeare   # offline: a local copy

For each task it measures (1) how many training batches per second the tf.data pipeline delivers on
its own, and (2) how many training steps per second a plain Keras LSTM(128) model (Embedding(64) ->
LSTM(128) -> Dense, built here from Keras layers, not from `zoo`) takes on batches of the same shape,
fed from memory so that the pipeline does not slow it down. The ratio must be at least 10: then the
input pipeline costs the training loop under a tenth of its time. The text tasks read tiny_shakespeare
from TFDS's own folder (`~/tensorflow_datasets`, downloaded once), as `python -m datasets` does;
offline, `--manual-dir FOLDER` gives a folder holding its `input.txt`. A task whose data cannot be had
gets a row saying so in one sentence and the others are measured (exit 1).

`--help` and a wrong flag answer without TensorFlow: Keras and TensorFlow are imported when the first
task is measured (`datasets/lazy.py`), after the command's start-up filter is installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import datasets
from datasets.lazy import LazyModule, tf
from datasets.spec import LAST_CLASS, LAST_VALUE, PER_STEP
import training.core.quiet as quiet  # the commands' start-up filter and error boundary: standard library only
from training.core.boundary import UsageError, command

keras = LazyModule("keras")
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


def run(tasks, batch_size=64, batches=200, steps=20, text_params=None, out=None) -> list[dict]:
    """Measures every task in `tasks`; prints a table (to `out`, default stdout) and returns its rows (a task
    whose data cannot be had: {"task", "error", "ok": False})."""
    out = sys.stdout if out is None else out
    rows = []
    header = f"{'task':<15} {'T':>5} {'build s':>8} {'pipeline batch/s':>17} {'LSTM(128) step/s':>17} {'ratio':>7}  >=10x"
    print(f"batch size {batch_size}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}", file=out)
    print(header, file=out)
    print("-" * len(header), file=out)
    for name in tasks:
        params = dict(text_params or {}) if name in ("char_lm", "word_lm") else {}
        start = time.perf_counter()
        try:
            ds, spec = datasets.load_task(name, "train", batch_size, seed=0, **params)
            first = next(iter(ds))
        except (ValueError, OSError) as error:  # a corpus that cannot be had: its sentence, the rest goes on
            words = " ".join(str(error).split()).replace("as manual_dir=FOLDER", "as --manual-dir FOLDER")  # our flag
            rows.append({"task": name, "error": words, "ok": False})
            print(f"{name:<15} cannot be built: {rows[-1]['error']}", file=out, flush=True)
            continue
        build = time.perf_counter() - start
        delivered = pipeline_rate(ds, batches)
        trained = training_rate(spec, [t.numpy() for t in first], steps)
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
            file=out, flush=True,
        )
        keras.backend.clear_session()
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The flags; standard library only, so `--help` needs no TensorFlow."""
    p = argparse.ArgumentParser(prog="python -m datasets.bench", description=__doc__.split("\n")[0])
    p.add_argument("--tasks", nargs="+", default=None, metavar="TASK",
                   help="tasks to measure (default: every registered task)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of the pipelines and the LSTM (default: 64)")
    p.add_argument("--batches", type=int, default=200, help="batches drawn to time a pipeline (default: 200)")
    p.add_argument("--steps", type=int, default=20, help="training steps to time the LSTM (default: 20)")
    p.add_argument("--data-dir", default=None,
                   help="TFDS data_dir for the text tasks (default: TFDS's own, ~/tensorflow_datasets)")
    p.add_argument("--manual-dir", default=None,
                   help="folder holding tiny_shakespeare's input.txt, for a machine without a network (TFDS "
                        "manual_dir of the text tasks; default: none, TFDS downloads its copy once)")
    return p


@command
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    tasks = args.tasks or datasets.list_tasks()
    unknown = [t for t in tasks if t not in datasets.list_tasks()]
    if unknown:
        raise UsageError(f"Unknown task(s) {', '.join(unknown)} in --tasks; known: {', '.join(datasets.list_tasks())}.")
    for name in ("batch_size", "batches", "steps"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}.")
    for name in ("data_dir", "manual_dir"):
        if getattr(args, name) is not None and not getattr(args, name).strip():
            raise UsageError(f"--{name.replace('_', '-')} needs a folder, got an empty string.")
    quiet.install()  # TensorFlow's start-up lines held back, before the first task imports it
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    text_params = {k: v for k, v in (("data_dir", args.data_dir), ("manual_dir", args.manual_dir)) if v is not None}
    rows = run(tasks, args.batch_size, args.batches, args.steps, text_params)
    return 0 if all(row["ok"] for row in rows) else 1

if __name__ == "__main__":
    sys.exit(main())
