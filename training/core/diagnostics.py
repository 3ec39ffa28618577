"""What a run measures besides its headline metric, so that a number is never read for the wrong reason.

- `evaluate_examples`: one pass over an evaluation split that keeps, per example, the summed loss of
  its scored positions, how many there are, and (classification) how many were right. The split's
  metrics follow from these sums exactly, and the report draws intervals from them
  (`test_examples.npz`, read by `training.sweep.results`).
- `LearningCurve`: validation loss and metric on a fixed subset every N steps (`curve.csv`), cheap
  enough to give a curve of ~20 points to a run of a few hundred steps.
- `NonFiniteGuard`: a run whose loss or weights become NaN/Inf is `diverged`, whether or not its
  step gradients are recorded.
- `hidden_state_norms` and `degenerate`: a ReLU network whose hidden state overflows can score a test
  loss of exactly 0 in float32 (every softmax saturated) or stop learning with a gradient of exactly 0;
  such a run's accuracy is not a learned solution and is flagged, never counted as a success.
"""

from __future__ import annotations

import hashlib
import math

import keras
import numpy as np
import tensorflow as tf

from training.core import rules

CURVE_CSV = "curve.csv"
EXAMPLES_NPZ = "test_examples.npz"


# ------------------------------------------------------------------------------------------ batches
def _parts(batch):
    """(inputs, targets, weights or None) of a dataset element."""
    if isinstance(batch, (tuple, list)):
        return batch[0], batch[1], (batch[2] if len(batch) > 2 else None)
    raise ValueError("evaluation batches must be (inputs, targets[, sample_weights]) tuples.")


def _example_sums(outputs, targets, weights, output_kind: str):
    """Per-example (loss sum, scored positions, correct) of one batch, as float64 / int64 numpy."""
    y = np.asarray(targets)
    out = np.asarray(outputs, np.float64)
    if output_kind == "last_value":
        err = (out.reshape(len(y), -1)[:, 0] - y.reshape(len(y), -1)[:, 0]) ** 2
        return err, np.ones(len(y), np.int64), None
    # log-softmax in float64: exact enough to keep a saturated softmax's loss at its true (tiny) value
    shifted = out - out.max(axis=-1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    y = y.astype(np.int64)
    nll = -np.take_along_axis(log_p, y[..., None], axis=-1)[..., 0]  # (B,) or (B, T)
    right = (out.argmax(axis=-1) == y).astype(np.int64)
    if nll.ndim == 1:
        return nll, np.ones(len(y), np.int64), right
    mask = np.ones_like(nll) if weights is None else (np.asarray(weights) > 0).astype(np.float64)
    return (nll * mask).sum(axis=1), mask.sum(axis=1).astype(np.int64), (right * mask).sum(axis=1).astype(np.int64)


def forward_function(model):
    """`model(x, training=False)` traced once for any batch size: the first call fixes the input's dtype and
    every dimension but the batch (the curve's batches of 256 and a test set's last, smaller batch share
    one trace instead of two). One per model (`training.instruments.memo`): a run that trains a reused
    model reuses its trace too."""
    from training.instruments.memo import memo

    return memo(model, "forward", lambda: _forward_function(model))


def _forward_function(model):
    traced = None

    def forward(x):
        nonlocal traced
        x = tf.convert_to_tensor(x)
        if traced is None:
            spec = tf.TensorSpec([None, *x.shape[1:]], x.dtype)
            traced = tf.function(lambda inputs: model(inputs, training=False), input_signature=[spec])
        if x.shape[1:] != traced.input_signature[0].shape[1:]:  # another length: trace for it too
            return model(x, training=False)
        return traced(x)

    return forward


def layer_output_function(model, layer):
    """`layer`'s output for token ids (batch, time) in, traced once for any batch size like `forward_function`;
    one per model and layer (`training.instruments.memo`), so a run that trains a reused model reuses it."""
    from training.instruments.memo import memo

    return memo(model, ("layer_output", layer.name),
                lambda: _forward_function(keras.Model(model.inputs, layer.output)))


def evaluate_examples(model, dataset, output_kind: str, max_batches: int | None = None, predict=None) -> dict:
    """Per-example sums over `dataset` and the split's metrics from them.

    Args:
        model: a Keras model (token ids in; logits or a value out).
        dataset: batches of (inputs, targets[, sample_weights]); positions with weight 0 are not scored.
        output_kind: "per_step", "last_class" or "last_value" (the task spec's `output`).
        max_batches: stop after this many batches.
        predict: a traced forward function to reuse (`LearningCurve.predict_function()`).

    Returns:
        {"loss": (n,) float64 summed loss per example (nats, or squared error), "count": (n,) int64 scored
        positions, "correct": (n,) int64 or None, "metrics": {"loss", "nll" or "mse", "accuracy"?},
        "eval_set": sha1 of the inputs (equal for runs scored on the same examples in the same order)}
    """
    predict = predict or forward_function(model)
    losses, counts, rights = [], [], []
    digest = hashlib.sha1()
    for i, batch in enumerate(dataset):
        if max_batches is not None and i >= max_batches:
            break
        x, y, w = _parts(batch)
        digest.update(np.ascontiguousarray(np.asarray(x, np.int32)).tobytes())
        loss, count, right = _example_sums(predict(x), y, w, output_kind)
        losses.append(loss)
        counts.append(count)
        if right is not None:
            rights.append(right)
    loss = np.concatenate(losses) if losses else np.zeros([0])
    count = np.concatenate(counts) if counts else np.zeros([0], np.int64)
    correct = np.concatenate(rights) if rights else None
    total = max(int(count.sum()), 1)
    mean = float(loss.sum() / total)
    metrics = {"loss": mean}
    if output_kind == "last_value":
        metrics["mse"] = mean
    else:
        metrics["nll"] = mean
        metrics["accuracy"] = float(correct.sum() / total)
    return {"loss": loss, "count": count, "correct": correct, "metrics": metrics, "eval_set": digest.hexdigest()}


def blank_answers(predict, spec, batch, n: int | None = None) -> list[tuple[str, str, str]]:
    """A cloze task's answers (a spec with `answers` and a blank): the first `n` examples of `batch`
    (inputs, targets[, sample_weights]), each as `(the sentence with the model's answer in the blank, the
    model's word, the right word)`; [] for other tasks.

    The answering step is the weighted step of a sample-weighted per-step task, else the blank of a
    per-step task, else the last step (`last_class`).

    Args:
        predict: the model's forward pass (a model, or `forward_function(model)`): token ids -> logits.
        spec: the task's `TaskSpec`.
        batch: one batch of the task's dataset.
        n: how many examples (None: the whole batch).
    """
    if getattr(spec, "answers", None) is None or getattr(spec, "blank_token_id", None) is None:
        return []
    x, y, w = (np.asarray(part) if part is not None else None for part in _parts(batch))
    x, y = x[:n], y[:n]
    logits = np.asarray(predict(x))
    out = []
    for i in range(len(x)):
        if logits.ndim == 3:  # per_step: the scored step
            step = int(np.argmax(w[i] > 0)) if w is not None else int(np.argmax(x[i] == spec.blank_token_id))
            guess, right = int(np.argmax(logits[i, step])), int(y[i, step])
        else:
            guess, right = int(np.argmax(logits[i])), int(y[i])
        out.append((spec.fill_blank(x[i], guess), spec.answer_word(guess), spec.answer_word(right)))
    return out


def article_answers(predict, spec, test_ds, forced: int) -> list[dict] | None:
    """The model's answers to the sentences a cloze task puts at the head of its test split (the article's
    own: `TemplateTask.forced_test`), for metadata.json's `article_answers`: one {"sentence": the sentence
    with the model's answer in the blank, "answer": its word, "right": the right word} per sentence, the
    article's own first; None for a task with no such sentence or no blank.

    Args:
        predict: the model's forward pass.
        spec: the task's `TaskSpec`.
        test_ds: the test split, batched.
        forced: how many sentences the task forces into the test split.
    """
    if forced <= 0:
        return None
    batch = next(iter(test_ds.take(1)))
    lines = blank_answers(predict, spec, batch, forced)
    return [{"sentence": text, "answer": guess, "right": right} for text, guess, right in lines] or None


def write_examples(path, result: dict) -> dict:
    """`test_examples.npz` from `evaluate_examples`; returns the metadata entry that names it."""
    arrays = {"loss": result["loss"], "count": result["count"]}
    if result["correct"] is not None:
        arrays["correct"] = result["correct"]
    np.savez(path, **arrays)
    return {"file": EXAMPLES_NPZ, "n": int(len(result["loss"])), "tokens": int(result["count"].sum()),
            "eval_set": result["eval_set"]}


# --------------------------------------------------------------------------------- learning curve
class LearningCurve(keras.callbacks.Callback):
    """Validation loss and metric on a fixed subset of the validation split, before training and every
    `every` steps (and at the last step), kept in `rows` ({"step", "val_loss", "val_<metric>", "loss"}:
    `loss` is the mean training loss of the steps since the previous point, present only when the
    step losses are recorded (`step_loss` in the batch logs, from GradientRecorder)).

    Args:
        batches: a list of validation batches (inputs, targets[, weights]), materialised once.
        output_kind: the task spec's `output`.
        every: steps between points.
        total_steps: the run's last step (always a point).
    """

    def __init__(self, batches, output_kind: str, every: int, total_steps: int):
        super().__init__()
        self.batches = list(batches)
        self.output_kind = output_kind
        self.every = max(int(every), 1)
        self.total_steps = int(total_steps)
        self.rows: list[dict] = []
        self._step = 0
        self._train_losses: list[float] = []
        self._predict = None

    def predict_function(self):
        """The traced forward pass the curve uses (shared with the test evaluation: one trace less)."""
        if self._predict is None:
            self._predict = forward_function(self.model)
        return self._predict

    def _point(self):
        self.predict_function()
        losses, counts, rights = [], [], []
        for batch in self.batches:
            x, y, w = _parts(batch)
            loss, count, right = _example_sums(self._predict(x), y, w, self.output_kind)
            losses.append(loss.sum())
            counts.append(count.sum())
            if right is not None:
                rights.append(right.sum())
        total = max(float(sum(counts)), 1.0)
        row = {"step": self._step, "val_loss": float(sum(losses) / total)}
        if rights:
            row["val_accuracy"] = float(sum(rights) / total)
        if self._train_losses:
            row["loss"] = float(np.mean(self._train_losses))
            self._train_losses = []
        self.rows.append(row)

    def on_train_begin(self, logs=None):
        self._step = int(self.model.optimizer.iterations.numpy())
        if self._step == 0:
            self._point()

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        loss = (logs or {}).get("step_loss")  # this step's loss (GradientRecorder); Keras's "loss" is an epoch mean
        if loss is not None:
            self._train_losses.append(float(loss))
        if self._step % self.every == 0 or self._step == self.total_steps:
            self._point()


def curve_batches(dataset, examples: int, batch_size: int) -> list:
    """The first `examples` examples of an evaluation dataset as a few large batches (fixed, so every
    point of every run's curve is measured on the same examples)."""
    return [tuple(t.numpy() for t in b) for b in dataset.unbatch().batch(max(batch_size, 256)).take(
        -(-examples // max(batch_size, 256)))] if examples > 0 else []


# ------------------------------------------------------------------------------------- divergence
class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN/Inf and, at the end, checks that every
    weight is finite: `diverged`, `diverged_step`, `divergence_cause`."""

    def __init__(self):
        super().__init__()
        self.diverged = False
        self.diverged_step = None
        self.divergence_cause = None
        self._step = 0

    def on_train_begin(self, logs=None):
        self._step = int(self.model.optimizer.iterations.numpy())

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)) and not self.diverged:
            self.diverged, self.diverged_step = True, self._step
            self.divergence_cause = f"training loss {float(loss)} at step {self._step}"
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.diverged:
            return
        for weight in self.model.weights:
            if not np.all(np.isfinite(np.asarray(weight))):
                self.diverged, self.diverged_step = True, self._step
                self.divergence_cause = f"weight {weight.path} not finite after step {self._step}"
                return


# ----------------------------------------------------------------------------- hidden state, verdict
def hidden_state_norms(model, inputs) -> dict | None:
    """Largest and median L2 norm of the first recurrent layer's output (every step it returns, every
    example of `inputs`); None for a model without a recurrent layer."""
    layer = next((l for l in model.layers if isinstance(l, (keras.layers.RNN, keras.layers.Bidirectional))), None)
    if layer is None:
        return None
    states = np.asarray(layer_output_function(model, layer)(np.asarray(inputs)), np.float64)
    norms = np.linalg.norm(states.reshape(-1, states.shape[-1]), axis=-1)
    finite = norms[np.isfinite(norms)]
    return {
        "max": float(norms.max()) if np.all(np.isfinite(norms)) else float("inf"),
        "median": float(np.median(finite)) if finite.size else float("nan"),
        "where": f"output of {layer.name} on {len(inputs)} test examples after training",
    }


def degenerate(test: dict | None, chance_loss: float | None, last_train_loss: float | None,
               hidden: dict | None, zero_from: int | None, total_steps: int) -> dict:
    """Whether the run's number is not a learned solution, with the reasons in words and numbers.

    The rules of `training.core.rules`: a hidden-state norm over its limit; a test loss of exactly 0 (a
    saturated float32 softmax); a global gradient of exactly 0 from some step to the end (`zero_from`,
    from `rules.zero_gradient_from`); a training loss at the end (`training.core.loop.final_training_loss`:
    the last steps, not a one-epoch run's epoch mean) over the limit times the chance loss.
    """
    reasons = []
    if hidden and rules.hidden_overflow(hidden["max"]):
        reasons.append(f"hidden-state norm {hidden['max']:.3g} (limit {rules.HIDDEN_NORM_LIMIT:.0e})")
    if test and test.get("loss") == 0.0:
        reasons.append("test loss exactly 0 (saturated softmax)")
    if zero_from is not None and zero_from < total_steps:
        reasons.append(f"gradient exactly 0 from step {zero_from}")
    if rules.loss_over_chance(last_train_loss, chance_loss):
        reasons.append(f"training loss at the end {last_train_loss:.3g} (chance {chance_loss:.3g})")
    return {"flag": bool(reasons), "reason": "; ".join(reasons)}


def still_falling(steps, losses) -> dict | None:
    """`rules.still_falling` as metadata.json's `convergence` record (None: too few points)."""
    falling = rules.still_falling(steps, losses)
    if falling is None:
        return None
    return {"still_falling": falling, "rule": rules.STILL_FALLING_RULE}


def read_curve(run_dir) -> list[dict]:
    """The rows of a run's curve.csv (floats; `step` an int); [] when it has none."""
    import csv
    import pathlib

    path = pathlib.Path(run_dir) / CURVE_CSV
    if not path.is_file():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        rows = [{k: (float(v) if v not in ("", None) else None) for k, v in row.items()} for row in csv.DictReader(f)]
    for row in rows:
        row["step"] = int(row["step"])
    return rows


def solve_record(run_dir, solve: dict) -> dict:
    """metadata.json's `solve`: {"metric", "threshold", "higher_is_better", "step"} from the run's curve."""
    rows = read_curve(run_dir)
    step = rules.first_step_reaching([r["step"] for r in rows], [r.get(solve["metric"]) for r in rows],
                                     solve["threshold"], solve.get("higher_is_better", True)) if rows else None
    return {**solve, "step": step, "curve_points": len(rows)}
