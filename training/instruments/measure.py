"""The measurements of one training step: pure TensorFlow functions of the gradients, traced inside the
step (one reduction per variable, no host round trip per variable).

    step_norms(gradients, clipped, loss, segment_ids, segment_names, variable_paths) -> {key: scalar}

gives the keys `GradientRecorder` adds to the Keras logs (see `training.instruments.step_gradients`).
"""

from __future__ import annotations

import tensorflow as tf

# A step counts as clipped when clipping lowered some variable's gradient norm by more than this
# relative amount. Global clipping multiplies by c * min(1/N, 1/c), which is 1 - 6e-8 rather than
# exactly 1 when N <= c: that rounding is not a clip.
CLIP_RTOL = 1e-6


def dense_values(gradient):
    """The dense gradient, whose squares sum to its squared norm.

    An `IndexedSlices` gradient (Embedding) lists one row per occurrence of a token id; the dense
    gradient adds the rows of repeated ids. `tf.convert_to_tensor` builds it exactly as Keras's
    optimizers do when they densify it (Adam does), so TensorFlow's graph optimizer computes it once
    for both: recording then costs ~0 % of a SimpleRNN step instead of ~5 %.
    """
    return tf.convert_to_tensor(gradient)


def norms(gradients, segment_ids, num_segments):
    """Per-variable (V,), per-segment (S,) and global () L2 norms of a list of gradients (float32).

    Squares are summed in float64, so a float32 gradient's norm never overflows (its squares could:
    a norm above ~1e19 would turn into Inf and look like divergence), and NaN/Inf gradients still give
    NaN/Inf norms. One branch-free pass: a `tf.cond` to a rescaled slow path cost ~2 % of a step.
    """
    squares = tf.stack(
        [tf.reduce_sum(tf.square(tf.cast(dense_values(g), tf.float64))) for g in gradients]
    )  # (V,)
    per_segment = tf.math.unsorted_segment_sum(squares, tf.constant(segment_ids, tf.int32), num_segments)
    result = (tf.sqrt(squares), tf.sqrt(per_segment), tf.sqrt(tf.reduce_sum(squares)))
    return tuple(tf.cast(n, tf.float32) for n in result)


def first_true_index(flags):
    """Index of the first True in a boolean vector, or -1."""
    first = tf.argmax(tf.cast(flags, tf.int32), output_type=tf.int32)
    return tf.where(tf.reduce_any(flags), first, -1)


def step_norms(gradients, clipped, loss, segment_ids, segment_names, variable_paths=None) -> dict:
    """The scalars one step records.

    Args:
        gradients: the gradients the optimizer receives, one per variable (summed over replicas).
        clipped: the same after the optimizer's own clipping, or None when it does not clip.
        loss: the loss of the step, or None.
        segment_ids: for each variable, the index of its layer in `segment_names`.
        segment_names: the layers, in order.
        variable_paths: the variables' paths, to record every variable's norm too (None: per layer only).

    Returns:
        {"grad_norm", "grad_norm_clipped", "grad_clipped", "grad_nonfinite_index", ["step_loss"],
         "grad_norm/<layer>" ..., ["grad_norm/<variable path>" ...]}: float32 scalars.
    """
    var_norms, layer_norms, global_norm = norms(gradients, segment_ids, len(segment_names))
    if clipped is not None:
        var_clipped, _, global_clipped = norms(clipped, segment_ids, len(segment_names))
        was_clipped = tf.reduce_any(var_clipped < var_norms * (1.0 - CLIP_RTOL))
    else:
        global_clipped, was_clipped = global_norm, tf.constant(False)

    out = {
        "grad_norm": global_norm,
        "grad_norm_clipped": global_clipped,
        "grad_clipped": tf.cast(was_clipped, tf.float32),
        "grad_nonfinite_index": tf.cast(first_true_index(~tf.math.is_finite(var_norms)), tf.float32),
    }
    if loss is not None:
        out["step_loss"] = tf.cast(loss, tf.float32)
    for i, name in enumerate(segment_names):
        out[f"grad_norm/{name}"] = layer_norms[i]
    for i, path in enumerate(variable_paths or ()):
        out[f"grad_norm/{path}"] = var_norms[i]
    return out
