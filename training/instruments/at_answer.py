"""The gradient at the answer's cue: how strongly the loss at the step a task scores reaches the input that
decides its answer.

`training.instruments.through_time` differentiates the loss read at the *last* step. A cloze task scores
one step in the middle (the blank, or the step a late answer is due; its sample weights say which) and
its answer is decided by an input elsewhere (future_cloze: a cue some steps after the blank; mouse_cloze:
the words after the blank). What explains who solves it is whether the loss at the scored step D has a
path back to that cue c at all:

    x_1 ... x_B(blank) ... x_c(cue) ... x_D(scored)     causal model, answering late: D after c, a path
    x_1 ... x_B = x_D ...... x_c                         causal model at the blank: c after D, no path:
                                                         d L_D / d x_c is exactly 0
    <---- both directions ---->                          bidirectional / unmasked attention: a path

Measured at the embedding output x_t (every model has an Embedding), per example i of a fixed probe batch:

    cue_i    = || d L_D / d x_t ||_2 over the cue's steps t (one step, or the norm over several)
    answer_i = || d L_D / d x_D ||_2, the input the scored step reads
    ratio    = mean_i cue_i / mean_i answer_i      (decades: log10 ratio; exactly 0 when no path exists)
    profile  = mean_i || d L_D / d x_{B_i + j} || / mean_i answer_i for every offset j from the blank B_i
               (negative: before the blank; positive: after it, where the cue is)

The loss is the task's own objective: the per-step loss weighted by the sample weights, summed, so only
the scored step counts. Gradients stay per example (the loss is a sum over examples).

Public API:
    AnswerGradient(model, loss=None): __call__(inputs, targets, weights, blank, cue) -> dict
    (`training.core.loop` records it at initialisation and after training as metadata `gradient_at_cue`
    for a task that declares `cloze_positions(inputs, params) -> (blank (n,), cue (n, T) bool)`)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from training.instruments.through_time import _check_model, _first_layer, _per_example_loss, _rescaled_norm, _split


class AnswerGradient:
    """The gradient of the loss at the scored step with respect to each embedded input; build once per
    model, call at initialisation and after training (one trace).

    Args:
        model: a built functional or Sequential keras.Model: token ids (batch, time) in, per-step outputs
            (batch, time, classes) out, with an Embedding layer.
        loss: the per-step loss (a Keras loss, name or function); None uses the model's compiled loss.
    """

    def __init__(self, model, loss=None):
        import keras

        _check_model(model)
        embedding = _first_layer(model, keras.layers.Embedding)
        if embedding is None:
            raise ValueError("The gradient at the cue is measured at the embedding; the model has no Embedding layer.")
        self._head, self._tail = _split(model, embedding, at_output=True)
        self._loss = _per_example_loss(model, loss)

        def norms(ids, targets, weights):
            x = self._head(ids)  # (batch, time, features)
            with tf.GradientTape() as tape:
                tape.watch(x)
                predictions = self._tail(x)
                if predictions.shape.rank != 3:
                    raise ValueError("The gradient at the cue needs per-step outputs (batch, time, classes).")
                values = tf.cast(self._loss(targets, predictions), tf.float32)  # (batch, time)
                objective = tf.reduce_sum(values * tf.cast(weights, tf.float32))
            return _rescaled_norm(tf.cast(tape.gradient(objective, x), tf.float32))  # (batch, time)

        self._function = tf.function(norms, reduce_retracing=True)

    def __call__(self, inputs, targets, weights, blank, cue) -> dict:
        """The measurement on one probe batch.

        Args:
            inputs, targets, weights: (n, T) token ids, per-step targets and sample weights (the scored step of
                an example is where its weight is largest).
            blank: (n,) the blank's step in each example (the offsets of `profile` count from it).
            cue: (n, T) booleans, the steps that decide each example's answer.

        Returns:
            {"ratio": mean cue norm over mean answer norm (0.0 when no gradient reaches the cue),
             "decades": log10 of it (None when it is 0), "no_path_examples": examples whose cue got exactly
             0, "examples": n, "offsets": [j ...], "profile": [value at offset j ...] (relative to the answer
             norm, like `ratio`), "cue_offsets": the offsets at which some example has its cue}
        """
        inputs, weights = np.asarray(inputs), np.asarray(weights, np.float32)
        blank, cue = np.asarray(blank, np.int64), np.asarray(cue, bool)
        if inputs.ndim != 2 or weights.shape != inputs.shape or cue.shape != inputs.shape or blank.shape != inputs.shape[:1]:
            raise ValueError(f"inputs, weights and cue must be (n, T) and blank (n,); got {inputs.shape}, "
                             f"{weights.shape}, {cue.shape} and {blank.shape}.")
        g = self._function(tf.convert_to_tensor(inputs), tf.convert_to_tensor(targets),
                           tf.convert_to_tensor(weights)).numpy().astype(np.float64)  # (n, T)
        n, t = g.shape
        rows = np.arange(n)
        answer = g[rows, np.argmax(weights, axis=1)]
        at_cue = np.sqrt(np.sum(np.where(cue, g, 0.0) ** 2, axis=1))
        scale = float(answer.mean())
        if not scale > 0:
            raise ValueError("The loss at the scored step has no gradient at its own input; is any weight non-zero?")
        ratio = float(at_cue.mean()) / scale
        offsets = np.arange(t)[None, :] - blank[:, None]  # (n, T): step minus the example's blank
        keep = sorted(set(offsets.ravel().tolist()))
        profile = [float(g[offsets == j].mean()) / scale for j in keep]
        return {"ratio": ratio, "decades": float(np.log10(ratio)) if ratio > 0 else None,
                "no_path_examples": int(np.sum(at_cue == 0.0)), "examples": int(n), "offsets": keep,
                "profile": profile, "cue_offsets": sorted(set(offsets[cue].tolist()))}
