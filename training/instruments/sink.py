"""Where the gradient instruments' records go: one `Sink` per instrument and run folder.

    rows      appended to a CSV file as they come (`append_row`); a later `fit` with the same
              instrument appends to the file it started
    scalars   TensorBoard scalars at their real training steps: queued and written in batches
              (`queue_scalars`, one traced call per batch) or at once (`write_scalars`, for rare rows)
    files     a JSON summary, a whole CSV table or a NumPy archive, rewritten in place

`GradientRecorder` and `GradientThroughTime` both write through it; `readers` reads the files back.
"""

from __future__ import annotations

import csv
import json
import pathlib

import numpy as np
import tensorflow as tf

TENSORBOARD_BATCH = 200  # queued rows written to TensorBoard in one call


class Sink:
    """The CSV file, TensorBoard writer and other files of one instrument.

    Args:
        run_dir: folder of the files; None writes no file (TensorBoard may still be written).
        csv_name: file name of the appended rows inside `run_dir` (None: no rows file).
        tensorboard_dir: TensorBoard folder, or None for none.
    """

    def __init__(self, run_dir=None, csv_name=None, tensorboard_dir=None):
        self.run_dir = pathlib.Path(run_dir) if run_dir is not None else None
        self.csv_path = self.run_dir / csv_name if self.run_dir is not None and csv_name else None
        self.tensorboard_dir = pathlib.Path(tensorboard_dir) if tensorboard_dir else None
        self.columns: list[str] | None = None  # of the CSV rows: fixed by the first row
        self._csv_file = None
        self._csv_writer = None
        self._writer = None
        self._pending: list[dict] = []  # rows not yet written to TensorBoard
        self._scalar_writer = None
        self._scalar_tags: list[str] = []

    @property
    def tensorboard(self) -> bool:
        """True while a TensorBoard writer is open."""
        return self._writer is not None

    def open(self) -> None:
        """Creates the run folder and the TensorBoard writer (again after `close`)."""
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.tensorboard_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.tensorboard_dir))

    # ------------------------------------------------------------------ rows
    def append_row(self, row: dict) -> None:
        """One row of the CSV file; its columns are those of the first row ever written."""
        if self.csv_path is None:
            return
        if self._csv_writer is None:
            first = self.columns is None
            if first:
                self.columns = list(row)
            self._csv_file = open(self.csv_path, "w" if first else "a", newline="", encoding="utf-8")
            self._csv_writer = csv.DictWriter(self._csv_file, fieldnames=self.columns, extrasaction="ignore")
            if first:
                self._csv_writer.writeheader()
        self._csv_writer.writerow(row)

    # ------------------------------------------------------------------ TensorBoard
    def queue_scalars(self, row: dict) -> None:
        """Every value of `row` but `step` and `epoch` as a scalar at `row["step"]`, written in batches."""
        if self._writer is None:
            return
        self._pending.append(row)
        if len(self._pending) >= TENSORBOARD_BATCH:
            self._write_pending()

    def write_scalars(self, step: int, values: dict) -> None:
        """`values` as scalars at `step`, now (for rows that come rarely)."""
        if self._writer is None:
            return
        with self._writer.as_default():
            for tag, value in values.items():
                tf.summary.scalar(tag, value, step=step)
        self._writer.flush()

    def write_histogram(self, tag: str, values, step: int) -> None:
        if self._writer is None:
            return
        with self._writer.as_default():
            tf.summary.histogram(tag, values, step=step)

    def _write_pending(self) -> None:
        if not self._pending:
            return
        if self._scalar_writer is None:
            self._scalar_tags = [k for k in self._pending[0] if k not in ("step", "epoch")]
            self._scalar_writer = _batched_scalar_writer(self._scalar_tags)
        steps = np.array([row["step"] for row in self._pending], dtype=np.int64)
        values = np.array(
            [[row.get(tag, np.nan) for tag in self._scalar_tags] for row in self._pending], dtype=np.float32
        )
        with self._writer.as_default():
            self._scalar_writer(steps, values)
        self._pending = []

    # ------------------------------------------------------------------ whole files
    def write_json(self, name: str, data: dict) -> None:
        if self.run_dir is not None:
            with open(self.run_dir / name, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1)

    def write_table(self, name: str, fields: list[str], rows) -> None:
        """A whole CSV file of `rows` (dicts) with columns `fields`."""
        if self.run_dir is not None:
            with open(self.run_dir / name, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)

    def write_arrays(self, name: str, arrays: dict) -> None:
        if self.run_dir is not None:
            np.savez(self.run_dir / name, **arrays)

    # ------------------------------------------------------------------ lifetime
    def flush(self) -> None:
        if self._csv_file is not None:
            self._csv_file.flush()
        if self._writer is not None:
            self._write_pending()
            self._writer.flush()

    def close(self) -> None:
        self.flush()
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file, self._csv_writer = None, None
        if self._writer is not None:
            self._writer.close()
            self._writer, self._scalar_writer = None, None


def _batched_scalar_writer(tags):
    """A traced function writing rows of scalars, `values[i, j]` as `tags[j]` at step `steps[i]`.

    Steps and values are tensor arguments, so nothing is frozen at trace time (a `tf.summary` call
    traced inside Keras's train step would keep the step it was traced with). One call writes many rows:
    an eager `tf.summary.scalar` per value and step would cost more than the step itself on small models.
    """

    from tensorboard.plugins.scalar import metadata as scalar_metadata

    metadata = scalar_metadata.create_summary_metadata(display_name=None, description=None)

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.int64), tf.TensorSpec([None, len(tags)], tf.float32)],
        autograph=False,
    )
    def write(steps, values):
        def body(i):
            # tf.summary.write, not tf.summary.scalar: the latter would prefix the tags with "while/".
            written = [
                tf.summary.write(tag, values[i, j], step=steps[i], metadata=metadata) for j, tag in enumerate(tags)
            ]
            with tf.control_dependencies(written):  # keeps the writes inside the loop
                return i + 1

        tf.while_loop(lambda i: i < tf.shape(steps)[0], body, [tf.constant(0)])
        return tf.constant(True)

    # Traced once per sink by design (it is bound to that sink's writer): with many recorders in one
    # process, TensorFlow's "frequent retracing" warning would be a false alarm.
    write._omit_frequent_tracing_warning = True
    return write
