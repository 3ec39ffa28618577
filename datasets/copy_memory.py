"""`copy_memory`: the copy memory problem of Arjovsky, Shah & Bengio (2016), "Unitary Evolution RNNs".

Ten symbols from an alphabet of eight, then T blank steps whose last one is a delimiter, then ten more
blanks during which the model must reproduce the ten symbols in order. Targets are blank everywhere
except the last ten steps (T = delay, n = num_symbols):

    inputs   a c h b ... e  _ _ ... _ :  _ _ _ ... _
    targets  _ _ _ _ ... _  _ _ ... _ _  a c h ... e
             └── n ──────┘  └─ T-1 ─┘ └┘ └──── n ──┘        length T + 2n

A memoryless model can at best predict blanks until the delimiter and then guess uniformly among the
a symbols: n·ln(a) nats over T + 2n steps, i.e. 10·ln 8 / (T + 20) with the defaults. Beating that
baseline needs a memory that survives T steps: plain RNNs stay on it, gated and unitary ones leave it.
"""

from __future__ import annotations

import math
import string

from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import register_task
from datasets.spec import PER_STEP
from datasets.synthetic import SyntheticTask, uniform_ints


@register_task("copy_memory")
class CopyMemory(SyntheticTask):
    """Reproduce n symbols after a delay of T steps; per-step classes (blank or a symbol).

    Args (task parameters):
        delay: T, the steps from the last symbol to the delimiter inclusive (the length knob).
        num_symbols: n, how many symbols to copy (10 in the paper).
        alphabet_size: a, the number of distinct symbols (8 in the paper).
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {**SyntheticTask.common_defaults, "delay": 100, "num_symbols": 10, "alphabet_size": 8}
    primary_metric = "nll"  # its baseline (Arjovsky et al., 2016) is a loss; accuracy is mostly blanks

    # vocabulary: 0 blank "_", 1..a symbols, a+1 the delimiter ":"; targets use 0..a
    def vocabulary(self, p):
        return ["_"] + list(string.ascii_lowercase[: p["alphabet_size"]]) + [":"]

    def sequence_length(self, p):
        return p["delay"] + 2 * p["num_symbols"]

    def check_task(self, p):
        if p["delay"] < 1:
            raise ValueError(f"delay of task 'copy_memory' must be at least 1 (the delimiter's step), got {p['delay']}.")
        if p["num_symbols"] < 1:
            raise ValueError(f"num_symbols of task 'copy_memory' must be at least 1, got {p['num_symbols']}.")
        if not 2 <= p["alphabet_size"] <= 26:
            raise ValueError(f"alphabet_size of task 'copy_memory' must be between 2 and 26, got {p['alphabet_size']}.")

    def log10_distinct_inputs(self, p):
        return p["num_symbols"] * math.log10(p["alphabet_size"])

    def sample_inputs(self, seed_of, n, p):
        t, m, a = p["delay"], p["num_symbols"], p["alphabet_size"]
        symbols = uniform_ints(seed_of(0), [n, m], 1, a + 1)  # (n, m)
        wait = tf.zeros([n, t - 1], tf.int32)  # (n, T-1)
        delimiter = tf.fill([n, 1], a + 1)  # (n, 1)
        recall = tf.zeros([n, m], tf.int32)  # (n, m)
        return tf.concat([symbols, wait, delimiter, recall], axis=1)  # (n, T + 2m)

    def make_targets(self, inputs, p):
        t, m = p["delay"], p["num_symbols"]
        blanks = tf.zeros_like(inputs[:, : t + m])  # (n, T + m)
        return tf.concat([blanks, inputs[:, :m]], axis=1)  # (n, T + 2m)

    def chance(self, p):
        """(loss, accuracy) of the best memoryless prediction, per step."""
        t, m, a = p["delay"], p["num_symbols"], p["alphabet_size"]
        steps = t + 2 * m
        return m * math.log(a) / steps, (t + m + m / a) / steps

    def spec(self, p):
        loss, accuracy = self.chance(p)
        return self.make_spec(
            p,
            vocabulary=self.vocabulary(p),
            output=PER_STEP,
            num_classes=p["alphabet_size"] + 1,
            causal=False,
            chance_loss=loss,
            chance_accuracy=accuracy,
            metrics=("loss", "accuracy"),
            description=f"copy {p['num_symbols']} symbols after a delay of {p['delay']} steps",
        )
