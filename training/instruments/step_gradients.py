"""Step gradients: the gradients the optimizer really receives in `fit`, recorded at every step.

Exploding and vanishing gradients were analysed by Bengio, Simard & Frasconi (1994, "Learning long-term
dependencies with gradient descent is difficult") and by Pascanu, Mikolov & Bengio (2013, "On the
difficulty of training recurrent neural networks"), which also introduced clipping the gradient norm.
Keras 3 has no tool that shows them: tf.keras dropped `write_grads` and the TensorBoard callback logs
weights, not gradients. `GradientRecorder` is that tool, for any compiled Keras model on the TensorFlow
backend, passed to the user's own `model.fit(callbacks=[...])`.

How it works, in three parts:

    hooks.StepHooks      at `on_train_begin`, wraps model.train_step, optimizer.apply and
                         optimizer.scale_loss on the *instances* only, and the train function is
                         re-traced; `on_train_end` removes the wrappers, so `keras.models.load_model`
                         and later `fit` calls see a plain model
    measure.step_norms   inside the traced step, the norms of the gradients optimizer.apply receives
                         (one reduction per variable, no host round trip per variable); the host reads
                         them from `logs` like any other metric
    sink.Sink            the rows to `gradients.csv` and TensorBoard, the summary to
                         `gradients_summary.json` (shared with `GradientThroughTime`)

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

What one epoch adds to the epoch's `logs` (from every step's norm, recorded or not; see
`epoch_statistics`): grad_norm_mean, grad_norm_median, grad_norm_max, grad_nonfinite_steps and, with
clipping on, grad_clipped_fraction. Keras's own epoch `grad_norm` is one step's value, not the epoch's.

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

import math
import pathlib
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.instruments.hooks import StepHooks
from training.instruments.measure import step_norms
from training.instruments.memo import memo
from training.instruments.readers import GRADIENT_SUMMARY_JSON, STEP_GRADIENTS_CSV, keep_step_gradients_before
from training.instruments.readers import STEP_GRADIENTS_TENSORBOARD as TENSORBOARD_SUBDIR
from training.instruments.sink import Sink

_NOT_SUPPORTED_OPTIMIZERS = ("LossScaleOptimizer",)


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

    Resuming: with `resume=True` the recorder continues the files in `run_dir` of a run that stopped
    (killed, interrupted) and restarts from a checkpoint: at the start of training it keeps the rows
    of `gradients.csv` before the model's current step (its optimizer's iterations), drops the rows a
    dead process recorded after its checkpoint, and appends from there, so that the CSV and the
    summary cover the whole run once. `get_state()` / `set_state()` carry the counters that the rows
    alone do not hold (steps seen, clipped steps) through the checkpoint.
    """

    def __init__(
        self,
        run_dir=None,
        every_n_steps: int = 1,
        per_variable: bool = False,
        tensorboard_dir=None,
        histogram_every_n_steps: int = 100,
        resume: bool = False,
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
        self._sink = Sink(self.run_dir, STEP_GRADIENTS_CSV, self.tensorboard_dir)
        self.csv_path = self._sink.csv_path

        self.records: list[dict[str, Any]] = []
        self.diverged = False
        self.diverged_step = None
        self.divergence_cause = None

        self._hooks = StepHooks()
        self._layer_of_variable: dict[int, str] = {}
        self._layer_order: list[str] = []
        self._variable_paths: list[str] = []  # order of the gradients in the last traced step
        self._snapshots: dict[int, tf.Variable] = {}
        self._snapshot_layers: dict[str, list[tf.Variable]] = {}
        self._step = 0
        self._epoch = 0
        self._batch_begin = 0
        self._steps_seen = 0
        self._clipped_steps = 0
        self._clipping = {}
        self._epoch_norms: list[float] = []  # every step's global norm this epoch (the console's numbers)
        self._epoch_clipped = 0
        self.resume = bool(resume)
        self._restored = None  # counters from set_state, applied when training starts
        self._kept = None  # this model's traced step with these hooks, kept for a later recorder (memo)

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
        self._hooks.uninstall()
        # A recorder whose fit() raised never reached on_train_end: take its wrappers off first.
        StepHooks.remove_stale(model)
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
        self._sink.open()
        if self.resume and self._sink.columns is None:
            self._continue_files()
        self._make_snapshots(model)
        # One traced step with the hooks per model and settings (`memo`): a recorder on a model an earlier
        # recorder has trained (a sweep worker's reused model, `training.core.reuse`) takes its trace. Not
        # with histograms: their snapshot variables belong to one recorder.
        self._kept = None if self.histogram_every_n_steps else memo(
            model, ("gradient_recorder_step", self.per_variable, tuple(sorted(self._clipping.items()))), dict)
        if self._kept and self._kept.get("variables") == [id(v) for v in model.trainable_variables]:
            model.train_function = self._kept["function"]
            self._variable_paths = list(self._kept["paths"])
            return
        self._hooks.install(model, optimizer, self._measure)
        # fit() made its train function before calling on_train_begin: make it again with the hooks.
        model.make_train_function(force=True)

    def get_state(self) -> dict:
        """The counters to store with a checkpoint (see `set_state`)."""
        return {"steps_seen": self._steps_seen, "clipped_steps": self._clipped_steps}

    def set_state(self, state: dict) -> None:
        """Counters stored with the checkpoint a resumed run starts from (before `fit`)."""
        self._restored = dict(state)

    def _continue_files(self):
        """On resume: keep the rows before the current step, and the counters up to it."""
        columns, rows = (None, []) if self.csv_path is None else keep_step_gradients_before(self.run_dir, self._step)
        self._sink.columns, self.records = columns, rows
        if self._restored is not None:
            self._steps_seen = int(self._restored["steps_seen"])
            self._clipped_steps = int(self._restored["clipped_steps"])
        else:  # exact when every step was recorded
            self._steps_seen = self._step
            self._clipped_steps = sum(1 for r in rows if r.get("grad_clipped", 0.0) > 0)

    def on_train_end(self, logs=None):
        if self._kept is not None and self._hooks._installed is not None and self._variable_paths:
            self._kept.update(function=self.model.train_function, paths=list(self._variable_paths),
                              variables=[id(v) for v in self.model.trainable_variables])
        self._hooks.uninstall()
        # The traced function holds the hooks: let the next fit() trace a plain one.
        self.model.train_function = None
        self._write_summary()
        self._sink.close()

    # ---------------------------------------------------------------- the in-graph part
    def _measure(self, optimizer, grads, variables, loss):
        """Inside the traced step: the gradients as the optimizer will use them (unscaled, clipped by its
        own code, summed over replicas), grouped by layer, measured by `step_norms`."""
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

        return step_norms(grads, clipped if clipping else None, loss, segment_ids, layer_order,
                          self._variable_paths if self.per_variable else None)

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
        self._epoch_norms, self._epoch_clipped = [], 0

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
        self._epoch_norms.append(float(logs["grad_norm"]))
        if logs.get("grad_clipped", 0.0) > 0:
            self._clipped_steps += 1
            self._epoch_clipped += 1

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
            self._sink.flush()
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
        self._sink.append_row(row)
        self._sink.queue_scalars(row)

    def _norm_keys(self, logs):
        """The per-layer (then per-variable) keys, in the order of the model's layers and variables."""
        layers = [f"grad_norm/{name}" for name in self._layer_order]
        variables = [f"grad_norm/{path}" for path in self._variable_paths]
        known = [k for k in dict.fromkeys(layers + variables) if k in logs]
        return known + sorted(k for k in logs if k.startswith("grad_norm/") and k not in known)

    def _write_histograms(self, step):
        if not self._sink.tensorboard or not self._snapshot_layers:
            return
        for layer, snapshots in self._snapshot_layers.items():
            values = np.concatenate([np.ravel(s.read_value().numpy()) for s in snapshots])
            self._sink.write_histogram(f"grad_values/{layer}", values, step)

    # ---------------------------------------------------------------- files
    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.update(self.epoch_statistics())
        self._sink.flush()

    def epoch_statistics(self) -> dict:
        """This epoch's global step norms (every step, recorded or not), for the epoch logs:

            grad_norm_mean          mean over the steps whose norm was finite
            grad_norm_max           the largest finite step norm
            grad_norm_median        the median finite step norm
            grad_nonfinite_steps    steps whose norm was NaN or Inf
            grad_clipped_fraction   the fraction of steps that clipping changed (only when clipping is on)

        `gradients.csv` holds the same per-step norms when `every_n_steps=1`.
        """
        norms = np.array(self._epoch_norms, dtype=np.float64)
        if norms.size == 0:
            return {}
        finite = norms[np.isfinite(norms)]
        stats = {"grad_nonfinite_steps": float(norms.size - finite.size)}
        if finite.size:
            stats.update(grad_norm_mean=float(finite.mean()), grad_norm_max=float(finite.max()),
                         grad_norm_median=float(np.median(finite)))
        if self._clipping:
            stats["grad_clipped_fraction"] = self._epoch_clipped / norms.size
        return stats

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
            "layers": [k[len("grad_norm/") :] for k in (self._sink.columns or []) if k.startswith("grad_norm/")],
        }

    def _write_summary(self):
        self._sink.write_json(GRADIENT_SUMMARY_JSON, self.summary())


def _finite_name(value) -> str:
    if value is None or math.isnan(value):
        return "NaN"
    return "Inf" if value > 0 else "-Inf"


