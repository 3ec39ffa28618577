"""Step gradients: the gradients the optimizer really receives in `fit`, recorded at every step.

Exploding and vanishing gradients were analysed by Bengio, Simard & Frasconi (1994, "Learning long-term
dependencies with gradient descent is difficult") and by Pascanu, Mikolov & Bengio (2013, "On the
difficulty of training recurrent neural networks"), which also introduced clipping the gradient norm.
Keras 3 has no tool that shows them: tf.keras dropped `write_grads` and the TensorBoard callback logs
weights, not gradients. `GradientRecorder` is that tool, for any compiled Keras model on the TensorFlow
backend, passed to the user's own `model.fit(callbacks=[...])`.

How it sees the real gradients: at `on_train_begin` it wraps, on the *instances* only (the classes and
the saved model are untouched),

    model.train_step         -> calls the model's own train_step, then adds the measurements to its logs
    optimizer.apply          -> measures the gradients it receives, then applies them as before
    optimizer.scale_loss     -> notes the loss of the step (Keras's default train_step calls it)

and re-traces the train function. The norms are computed inside the traced step (one reduction per
variable, no host round trip per variable); the host reads them from `logs` like any other metric.
`on_train_end` removes the wrappers, so `keras.models.load_model` and later `fit` calls see a plain model.

What one step records (keys of the Keras `logs`, columns of `gradients.csv`, TensorBoard tags):

    step_loss            loss of this batch (the objective the gradient is of; true loss under
                         MirroredStrategy, not the per-replica share); Keras's `loss` is the epoch mean
    grad_norm            global L2 norm of the received gradient, before clipping
    grad_norm_clipped    global norm of the gradient the optimizer applies (after `clipnorm`,
                         `global_clipnorm` or `clipvalue`, computed by the optimizer's own clipping code)
    grad_clipped         1.0 when clipping changed the gradient (any variable's norm fell by > 1e-6)
    grad_norm/<layer>    norm of the received gradient of each top-level layer
    grad_norm/<var path> the same per variable, with `per_variable=True`
    grad_nonfinite_index -1, or the index of the first variable whose gradient holds a NaN or an Inf
                         (logs only)

Norms are of the dense gradient: an Embedding's `IndexedSlices` gradient has its repeated token ids
merged first. Under `tf.distribute.MirroredStrategy` the norms are of the gradient summed over replicas
(what the optimizer adds up), computed from an all-reduce of the per-replica gradients. Squares are summed
in float64, so a norm too large for a float32 sum of squares (>~1e19) is still measured, never
mistaken for an infinite one.

Divergence: the first step whose loss or gradient is NaN/Inf is recorded with its cause, training stops
(`model.stop_training = True`) and the callback reports `diverged`, `diverged_step` and
`divergence_cause`. Diverging is a result of the run, not a crash. The weights after that step may be
non-finite.

Steps are counted like `optimizer.iterations`: row `step = s` holds the gradient computed on the weights
after `s` updates (0 for the first batch of a fresh optimizer), the same clock as
`training.instruments.through_time.GradientThroughTime`.

Public API:
    GradientRecorder(run_dir=None, every_n_steps=1, per_variable=False, tensorboard_dir=None,
                     histogram_every_n_steps=100)
    read_step_gradients(run_dir) -> pandas.DataFrame        (in `training.instruments.readers`)
    read_gradient_summary(run_dir) -> dict
    STEP_GRADIENTS_CSV, GRADIENT_SUMMARY_JSON: the file names written in the run folder.

Limits (each refused with a ValueError before the first step): the TensorFlow backend only;
`LossScaleOptimizer` and `gradient_accumulation_steps` are not supported; a custom `train_step` must
call `optimizer.apply`/`apply_gradients` exactly once. With `steps_per_execution = k > 1` only the last
step of every k is visible to callbacks; rows and divergence are then reported at that granularity.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import threading
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.instruments.readers import GRADIENT_SUMMARY_JSON, STEP_GRADIENTS_CSV
from training.instruments.readers import STEP_GRADIENTS_TENSORBOARD as TENSORBOARD_SUBDIR

# A step counts as clipped when clipping lowered some variable's gradient norm by more than this
# relative amount. Global clipping multiplies by c * min(1/N, 1/c), which is 1 - 6e-8 rather than
# exactly 1 when N <= c: that rounding is not a clip.
_CLIP_RTOL = 1e-6

_NOT_SUPPORTED_OPTIMIZERS = ("LossScaleOptimizer",)
_TENSORBOARD_BATCH = 200  # rows buffered before one batched TensorBoard write


# --------------------------------------------------------------------------------------------------
# In-graph measurements
# --------------------------------------------------------------------------------------------------
def _dense_values(gradient):
    """The dense gradient, whose squares sum to its squared norm.

    An `IndexedSlices` gradient (Embedding) lists one row per occurrence of a token id; the dense
    gradient adds the rows of repeated ids. `tf.convert_to_tensor` builds it exactly as Keras's
    optimizers do when they densify it (Adam does), so TensorFlow's graph optimizer computes it once
    for both: recording then costs ~0 % of a SimpleRNN step instead of ~5 %.
    """
    return tf.convert_to_tensor(gradient)


def _norms(gradients, segment_ids, num_segments):
    """Per-variable (V,), per-segment (S,) and global () L2 norms of a list of gradients (float32).

    Squares are summed in float64, so a float32 gradient's norm never overflows (its squares could:
    a norm above ~1e19 would turn into Inf and look like divergence), and NaN/Inf gradients still give
    NaN/Inf norms. One branch-free pass: a `tf.cond` to a rescaled slow path cost ~2 % of a step.
    """
    squares = tf.stack(
        [tf.reduce_sum(tf.square(tf.cast(_dense_values(g), tf.float64))) for g in gradients]
    )  # (V,)
    per_segment = tf.math.unsorted_segment_sum(squares, tf.constant(segment_ids, tf.int32), num_segments)
    norms = (tf.sqrt(squares), tf.sqrt(per_segment), tf.sqrt(tf.reduce_sum(squares)))
    return tuple(tf.cast(n, tf.float32) for n in norms)


def _first_true_index(flags):
    """Index of the first True in a boolean vector, or -1."""
    first = tf.argmax(tf.cast(flags, tf.int32), output_type=tf.int32)
    return tf.where(tf.reduce_any(flags), first, -1)


class _StepCapture(threading.local):
    """What the optimizer hooks see during one trace of the train step (one per replica thread)."""

    def __init__(self):
        self.active = False
        self.loss = None
        self.result = None


# --------------------------------------------------------------------------------------------------
# The callback
# --------------------------------------------------------------------------------------------------
class GradientRecorder(keras.callbacks.Callback):
    """Records the norms of the gradients the optimizer receives and applies at every training step.

    Args:
        run_dir: folder for `gradients.csv` (one row per recorded step) and `gradients_summary.json`;
            None keeps the rows in memory only (`records`).
        every_n_steps: record every n-th step (steps 0, n, 2n, ...). The norms are computed in the
            step anyway and are in the Keras logs at every step; divergence is checked at every step
            and its step is always recorded.
        per_variable: also record the norm of every variable's gradient, not only per layer.
        tensorboard_dir: where to write TensorBoard events with the real step numbers. None writes to
            `run_dir/tensorboard/gradients` when `run_dir` is given; False writes none.
        histogram_every_n_steps: every this many steps, also write a histogram of each layer's gradient
            values to TensorBoard (0: never). Costs a copy of the gradients on those steps only.

    Attributes:
        records: list of dicts, one per recorded step (the CSV rows).
        diverged: True once a loss or gradient became NaN/Inf.
        diverged_step: the step at which that happened, or None.
        divergence_cause: one sentence naming the loss or the variable, or None.
        csv_path: path of the CSV file, or None.
    """

    def __init__(
        self,
        run_dir=None,
        every_n_steps: int = 1,
        per_variable: bool = False,
        tensorboard_dir=None,
        histogram_every_n_steps: int = 100,
    ):
        super().__init__()
        if not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"every_n_steps must be a positive integer, got {every_n_steps!r}.")
        if not isinstance(histogram_every_n_steps, int) or histogram_every_n_steps < 0:
            raise ValueError(
                f"histogram_every_n_steps must be 0 (never) or a positive integer, got {histogram_every_n_steps!r}."
            )
        self.run_dir = pathlib.Path(run_dir) if run_dir is not None else None
        self.every_n_steps = every_n_steps
        self.per_variable = bool(per_variable)
        if tensorboard_dir is None and self.run_dir is not None:
            tensorboard_dir = self.run_dir / TENSORBOARD_SUBDIR
        self.tensorboard_dir = pathlib.Path(tensorboard_dir) if tensorboard_dir else None
        self.histogram_every_n_steps = histogram_every_n_steps if self.tensorboard_dir else 0
        self.csv_path = self.run_dir / STEP_GRADIENTS_CSV if self.run_dir is not None else None

        self.records: list[dict[str, Any]] = []
        self.diverged = False
        self.diverged_step = None
        self.divergence_cause = None

        self._capture = _StepCapture()
        self._installed = None  # what to restore at on_train_end
        self._layer_of_variable: dict[int, str] = {}
        self._layer_order: list[str] = []
        self._variable_paths: list[str] = []  # order of the gradients in the last traced step
        self._snapshots: dict[int, tf.Variable] = {}
        self._snapshot_layers: dict[str, list[tf.Variable]] = {}
        self._writer = None
        self._pending: list[dict] = []  # rows not yet written to TensorBoard
        self._scalar_writer = None
        self._scalar_tags: list[str] = []
        self._csv_file = None
        self._csv_writer = None
        self._columns = None
        self._step = 0
        self._epoch = 0
        self._batch_begin = 0
        self._steps_seen = 0
        self._clipped_steps = 0
        self._clipping = {}

    # ---------------------------------------------------------------- setup and teardown
    def _check_supported(self, model):
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"GradientRecorder needs the TensorFlow backend (KERAS_BACKEND=tensorflow), not "
                f"{keras.backend.backend()!r}."
            )
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            raise ValueError(
                "GradientRecorder needs a compiled model: call model.compile(optimizer=..., loss=...) first."
            )
        if type(optimizer).__name__ in _NOT_SUPPORTED_OPTIMIZERS:
            raise ValueError(
                f"GradientRecorder does not support {type(optimizer).__name__}: its gradients are scaled and "
                "applied inside a conditional; compile with the inner optimizer (and loss_scale_factor) instead."
            )
        if getattr(optimizer, "gradient_accumulation_steps", None):
            raise ValueError(
                "GradientRecorder does not support gradient_accumulation_steps: the optimizer would apply an "
                "accumulated gradient on some steps only; compile without it."
            )
        clips = {k: getattr(optimizer, k, None) for k in ("clipnorm", "global_clipnorm", "clipvalue")}
        if any(clips.values()) and not hasattr(optimizer, "_clip_gradients"):
            raise ValueError(
                "This optimizer clips gradients but has no `_clip_gradients` method (Keras 3 API), so the "
                "applied gradient cannot be measured; use a keras.optimizers optimizer."
            )
        self._clipping = {k: float(v) for k, v in clips.items() if v}

    def on_train_begin(self, logs=None):
        model = self.model
        self._check_supported(model)
        self._uninstall()
        # A recorder whose fit() raised never reached on_train_end: take its wrappers off first.
        stale = getattr(model.__dict__.get("train_step"), "gradient_recorder", None)
        if stale is not None:
            stale._uninstall()
        optimizer = model.optimizer

        # Which top-level layer owns each trainable variable (the per-layer grouping).
        self._layer_of_variable = {}
        self._layer_order = []
        for layer in model.layers:
            for variable in layer.trainable_variables:
                if id(variable) not in self._layer_of_variable:
                    self._layer_of_variable[id(variable)] = layer.name
                    if layer.name not in self._layer_order:
                        self._layer_order.append(layer.name)

        self._step = int(optimizer.iterations.numpy())
        self._make_outputs()
        self._make_snapshots(model)
        self._install(model, optimizer)
        # fit() made its train function before calling on_train_begin: make it again with the hooks.
        model.make_train_function(force=True)

    def on_train_end(self, logs=None):
        self._uninstall()
        # The traced function holds the hooks: let the next fit() trace a plain one.
        self.model.train_function = None
        self._write_summary()
        self._close_outputs()

    def _install(self, model, optimizer):
        recorder = self
        capture = self._capture
        original_train_step = model.train_step
        original_apply = optimizer.apply
        original_scale_loss = optimizer.scale_loss
        had = {
            "train_step": "train_step" in model.__dict__,
            "apply": "apply" in optimizer.__dict__,
            "scale_loss": "scale_loss" in optimizer.__dict__,
        }

        def train_step(data):
            capture.active, capture.loss, capture.result = True, None, None
            try:
                outputs = original_train_step(data)
            finally:
                capture.active = False
            if capture.result is None:
                raise ValueError(
                    "GradientRecorder saw no call to optimizer.apply/apply_gradients in train_step: a custom "
                    "train_step must apply its gradients through model.optimizer."
                )
            if not isinstance(outputs, dict):
                raise ValueError("GradientRecorder needs train_step to return a dict of logs.")
            outputs = dict(outputs)
            outputs.update(capture.result)
            return outputs

        def apply(grads, trainable_variables=None):
            if capture.active:
                if capture.result is not None:
                    raise ValueError(
                        "GradientRecorder supports one optimizer.apply call per train_step; this step calls it "
                        "more than once."
                    )
                variables = trainable_variables
                if variables is None:
                    variables = optimizer._trainable_variables
                capture.result = recorder._measure(optimizer, list(grads), list(variables), capture.loss)
            return original_apply(grads, trainable_variables)

        def scale_loss(loss):
            if capture.active and capture.loss is None:
                capture.loss = loss
            return original_scale_loss(loss)

        train_step.gradient_recorder = self
        model.train_step = train_step
        optimizer.apply = apply
        optimizer.scale_loss = scale_loss
        self._installed = (model, optimizer, original_train_step, original_apply, original_scale_loss, had)

    def _uninstall(self):
        if self._installed is None:
            return
        model, optimizer, train_step, apply, scale_loss, had = self._installed
        for owner, name, original in (
            (model, "train_step", train_step),
            (optimizer, "apply", apply),
            (optimizer, "scale_loss", scale_loss),
        ):
            if had[name]:
                setattr(owner, name, original)
            elif name in owner.__dict__:
                delattr(owner, name)
        self._installed = None

    # ---------------------------------------------------------------- the in-graph part
    def _measure(self, optimizer, grads, variables, loss):
        """Builds, inside the traced step, the scalars one step records (see the module docstring)."""
        pairs = [
            (g, v)
            for g, v in zip(grads, variables)
            if g is not None and not getattr(v, "overwrite_with_gradient", False)
        ]
        if not pairs:
            raise ValueError("GradientRecorder: the optimizer received no gradient at all.")
        grads = [g for g, _ in pairs]
        variables = [v for _, v in pairs]
        # The same unscaling the optimizer does before clipping.
        if getattr(optimizer, "loss_scale_factor", None) is not None:
            grads = [g / optimizer.loss_scale_factor for g in grads]

        self._variable_paths = [getattr(v, "path", None) or v.name for v in variables]
        layer_names = [
            self._layer_of_variable.get(id(v), path.split("/")[0]) for v, path in zip(variables, self._variable_paths)
        ]
        layer_order = [n for n in self._layer_order if n in layer_names] + [
            n for n in dict.fromkeys(layer_names) if n not in self._layer_order
        ]
        segment_ids = [layer_order.index(n) for n in layer_names]

        if self.histogram_every_n_steps:
            self._snapshot(optimizer, grads, variables)

        clipping = bool(self._clipping)
        clipped = optimizer._clip_gradients(list(grads)) if clipping else []
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            # Each replica holds the gradient of its share of the loss (Keras divides the loss by the
            # number of replicas); the optimizer sums them. Clipping happens per replica, before that sum.
            bundle = {"grads": grads, "clipped": clipped}
            if loss is not None:
                bundle["loss"] = loss
            bundle = replica.all_reduce(tf.distribute.ReduceOp.SUM, bundle)
            grads, clipped, loss = bundle["grads"], bundle["clipped"], bundle.get("loss")

        var_norms, layer_norms, global_norm = _norms(grads, segment_ids, len(layer_order))
        if clipping:
            var_clipped, _, global_clipped = _norms(clipped, segment_ids, len(layer_order))
            was_clipped = tf.reduce_any(var_clipped < var_norms * (1.0 - _CLIP_RTOL))
        else:
            global_clipped, was_clipped = global_norm, tf.constant(False)

        out = {
            "grad_norm": global_norm,
            "grad_norm_clipped": global_clipped,
            "grad_clipped": tf.cast(was_clipped, tf.float32),
            "grad_nonfinite_index": tf.cast(_first_true_index(~tf.math.is_finite(var_norms)), tf.float32),
        }
        if loss is not None:
            out["step_loss"] = tf.cast(loss, tf.float32)
        for i, name in enumerate(layer_order):
            out[f"grad_norm/{name}"] = layer_norms[i]
        if self.per_variable:
            for i, path in enumerate(self._variable_paths):
                out[f"grad_norm/{path}"] = var_norms[i]
        return out

    def _make_snapshots(self, model):
        """Variables that receive a copy of the gradients on histogram steps (outside the model)."""
        self._snapshots, self._snapshot_layers = {}, {}
        if not self.histogram_every_n_steps:
            return
        with model.distribute_strategy.scope():
            for layer in model.layers:
                for variable in layer.trainable_variables:
                    if id(variable) in self._snapshots:
                        continue
                    # ON_READ + SUM: each replica writes its own gradient, reading gives their sum.
                    snapshot = tf.Variable(
                        tf.zeros(variable.shape, tf.float32),
                        trainable=False,
                        synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.SUM,
                        name="gradient_snapshot",
                    )
                    self._snapshots[id(variable)] = snapshot
                    self._snapshot_layers.setdefault(layer.name, []).append(snapshot)

    def _snapshot(self, optimizer, grads, variables):
        targets = [(self._snapshots[id(v)], g) for g, v in zip(grads, variables) if id(v) in self._snapshots]
        if not targets:
            return

        def copy():
            for snapshot, g in targets:
                snapshot.assign(tf.cast(tf.convert_to_tensor(g), tf.float32))
            return tf.constant(True)

        due = tf.equal(optimizer.iterations % self.histogram_every_n_steps, 0)
        tf.cond(due, copy, lambda: tf.constant(False))

    # ---------------------------------------------------------------- the host part
    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_begin = batch

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        executed = max(1, batch - self._batch_begin + 1)  # > 1 with steps_per_execution
        first, step = self._step, self._step + executed - 1
        self._step += executed
        self._steps_seen += executed
        if "grad_norm" not in logs:
            return
        if logs.get("grad_clipped", 0.0) > 0:
            self._clipped_steps += 1

        cause = None if self.diverged else self._divergence(logs)
        if cause is not None:
            self.diverged, self.diverged_step, self.divergence_cause = True, step, cause
            self.model.stop_training = True
        due = (step // self.every_n_steps) > ((first - 1) // self.every_n_steps) if first > 0 else True
        if due or cause is not None:
            self._record(step, logs)
        if self.histogram_every_n_steps:
            h = self.histogram_every_n_steps
            if (step // h) > ((first - 1) // h) if first > 0 else True:
                self._write_histograms(step - step % h)
        if cause is not None:
            self._flush()
            self._write_summary()

    def _divergence(self, logs):
        loss_key = "step_loss" if "step_loss" in logs else "loss"
        loss = logs.get(loss_key)
        if loss is not None and not math.isfinite(loss):
            return f"the loss became {_finite_name(loss)}"
        index = int(logs.get("grad_nonfinite_index", -1))
        if index >= 0:
            path = self._variable_paths[index] if index < len(self._variable_paths) else f"#{index}"
            layer = path.split("/")[0]
            layer_norm = logs.get(f"grad_norm/{layer}", logs.get("grad_norm"))
            return f"the gradient of variable {path!r} became {_finite_name(layer_norm)}"
        if not math.isfinite(logs["grad_norm"]):
            return f"the gradient norm became {_finite_name(logs['grad_norm'])}"
        if not math.isfinite(logs["grad_norm_clipped"]):
            return (
                "the optimizer's clipping turned a finite gradient (global norm "
                f"{logs['grad_norm']:.3g}) into {_finite_name(logs['grad_norm_clipped'])}"
            )
        return None

    def _record(self, step, logs):
        row = {"step": step, "epoch": self._epoch}
        for key in ("step_loss", "grad_norm", "grad_norm_clipped", "grad_clipped"):
            if key in logs:
                row[key] = float(logs[key])
        for key in self._norm_keys(logs):
            row[key] = float(logs[key])
        self.records.append(row)
        self._write_row(row)
        if self._writer is not None:
            self._pending.append(row)
            if len(self._pending) >= _TENSORBOARD_BATCH:
                self._write_scalars()

    def _norm_keys(self, logs):
        """The per-layer (then per-variable) keys, in the order of the model's layers and variables."""
        layers = [f"grad_norm/{name}" for name in self._layer_order]
        variables = [f"grad_norm/{path}" for path in self._variable_paths]
        known = [k for k in dict.fromkeys(layers + variables) if k in logs]
        return known + sorted(k for k in logs if k.startswith("grad_norm/") and k not in known)

    def _write_histograms(self, step):
        if self._writer is None or not self._snapshot_layers:
            return
        with self._writer.as_default():
            for layer, snapshots in self._snapshot_layers.items():
                values = np.concatenate([np.ravel(s.read_value().numpy()) for s in snapshots])
                tf.summary.histogram(f"grad_values/{layer}", values, step=step)

    # ---------------------------------------------------------------- files
    def _make_outputs(self):
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.tensorboard_dir is not None and self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.tensorboard_dir))

    def _write_row(self, row):
        if self.csv_path is None:
            return
        if self._csv_writer is None:
            # A later fit() with the same recorder appends to the file it started.
            first = self._columns is None
            if first:
                self._columns = list(row)
            self._csv_file = open(self.csv_path, "w" if first else "a", newline="", encoding="utf-8")
            self._csv_writer = csv.DictWriter(self._csv_file, fieldnames=self._columns, extrasaction="ignore")
            if first:
                self._csv_writer.writeheader()
        self._csv_writer.writerow(row)

    def _write_scalars(self):
        """Writes the pending rows to TensorBoard in one call, each value at its own step."""
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

    def _flush(self):
        if self._csv_file is not None:
            self._csv_file.flush()
        if self._writer is not None:
            self._write_scalars()
            self._writer.flush()

    def on_epoch_end(self, epoch, logs=None):
        self._flush()

    def _close_outputs(self):
        self._flush()
        if self._csv_file is not None:
            self._csv_file.close()
            self._csv_file, self._csv_writer = None, None
        if self._writer is not None:
            self._writer.close()
            self._writer, self._scalar_writer = None, None

    def summary(self) -> dict:
        """What `gradients_summary.json` holds: divergence, clipping settings and a few statistics."""
        norms = np.array([r["grad_norm"] for r in self.records], dtype=np.float64)
        finite = norms[np.isfinite(norms)]
        return {
            "diverged": self.diverged,
            "diverged_step": self.diverged_step,
            "divergence_cause": self.divergence_cause,
            "steps_seen": self._steps_seen,
            "rows": len(self.records),
            "every_n_steps": self.every_n_steps,
            "clipping": self._clipping,
            "clipped_fraction": (self._clipped_steps / self._steps_seen) if self._steps_seen else None,
            "grad_norm_median": float(np.median(finite)) if finite.size else None,
            "grad_norm_max": float(np.max(finite)) if finite.size else None,
            "layers": [k[len("grad_norm/") :] for k in (self._columns or []) if k.startswith("grad_norm/")],
        }

    def _write_summary(self):
        if self.run_dir is None:
            return
        with open(self.run_dir / GRADIENT_SUMMARY_JSON, "w", encoding="utf-8") as f:
            json.dump(self.summary(), f, indent=1)


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

    # Traced once per recorder by design (it is bound to that recorder's writer): with many recorders in
    # one process, TensorFlow's "frequent retracing" warning would be a false alarm.
    write._omit_frequent_tracing_warning = True
    return write


def _finite_name(value) -> str:
    if value is None or math.isnan(value):
        return "NaN"
    return "Inf" if value > 0 else "-Inf"


