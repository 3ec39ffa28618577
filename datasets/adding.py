"""`adding`: the adding problem (Hochreiter & Schmidhuber 1997), in the form of Le, Jaitly & Hinton (2015).

Every step carries a value in [0, 1] and a marker; exactly two steps are marked, one in each half of
the sequence, and the target, read at the last step, is the sum of the two marked values. The zoo's
models read token ids, so each (value, marker) step is one token: the value is quantized to one of
L levels, the centres (b + 0.5) / L of L equal bins, and the token is 1 + b + L·marker:

    tokens   3  7  14  2 ...  9  18  5      (L = 10: 14 is level 3 marked, 18 is level 7 marked)
    marked         ^               ^
             └── first half ──┘└── second ──┘      target = 0.35 + 0.75 = 1.1

Predicting the mean sum (1.0) whatever the input gives the baseline MSE, the variance of the sum of
two independent quantized values: 2 · (L² − 1) / (12 L²) = (L² − 1) / (6 L²), which tends to the
1/6 of the continuous problem (0.165 for L = 10).
"""

from __future__ import annotations

import math

from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import register_task
from datasets.spec import LAST_VALUE
from datasets.synthetic import SyntheticTask, uniform_ints


@register_task("adding")
class Adding(SyntheticTask):
    """Sum of the two marked values; one number at the last step (regression, MSE).

    Args (task parameters):
        length: T, the number of steps (the length knob); the first mark is in steps
            [0, T//2), the second in [T//2, T).
        levels: L, the number of quantization levels of a value.
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {**SyntheticTask.common_defaults, "length": 100, "levels": 10}
    primary_metric = "mse"

    def vocabulary(self, p):
        levels = p["levels"]
        centres = [f"{(b + 0.5) / levels:.3g}" for b in range(levels)]
        return ["<pad>"] + centres + [f"[{c}]" for c in centres]

    def sequence_length(self, p):
        return p["length"]

    def check_task(self, p):
        if p["length"] < 2:
            raise ValueError(f"length of task 'adding' must be at least 2 (one mark in each half), got {p['length']}.")
        if p["levels"] < 2:
            raise ValueError(f"levels of task 'adding' must be at least 2, got {p['levels']}.")

    def log10_distinct_inputs(self, p):
        t = p["length"]
        return t * math.log10(p["levels"]) + math.log10(t // 2) + math.log10(t - t // 2)

    def sample_inputs(self, seed_of, n, p):
        t, levels = p["length"], p["levels"]
        bins = uniform_ints(seed_of(0), [n, t], 0, levels)  # (n, T) quantized values
        first = uniform_ints(seed_of(1), [n], 0, t // 2)  # (n,) mark in the first half
        second = uniform_ints(seed_of(2), [n], t // 2, t)  # (n,) mark in the second half
        marked = tf.one_hot(first, t, dtype=tf.int32) + tf.one_hot(second, t, dtype=tf.int32)  # (n, T)
        return 1 + bins + levels * marked

    def make_targets(self, inputs, p):
        levels = p["levels"]
        bins = (inputs - 1) % levels  # (n, T)
        marked = tf.cast((inputs - 1) // levels, tf.float32)  # (n, T) 0 or 1
        centres = (tf.cast(bins, tf.float32) + 0.5) / levels
        return tf.reduce_sum(centres * marked, axis=1, keepdims=True)  # (n, 1)

    def chance_mse(self, p) -> float:
        levels = p["levels"]
        return (levels**2 - 1) / (6 * levels**2)

    def spec(self, p):
        return self.make_spec(
            p,
            vocabulary=self.vocabulary(p),
            output=LAST_VALUE,
            num_classes=1,
            causal=False,
            chance_loss=self.chance_mse(p),
            chance_accuracy=None,
            metrics=("loss", "mse"),
            description=f"add the two marked values of a {p['length']}-step sequence",
        )
