"""`temporal_order`: the temporal order problem (Hochreiter & Schmidhuber 1997; Pascanu, Mikolov & Bengio 2013).

A long sequence of noise symbols holds two relevant symbols, each X or Y: one early (between 10% and
20% of the length) and one in the middle (between 50% and 60%). The class, read at the last step, is
their order: XX, XY, YX or YY. The sequence opens with B and closes with E:

    B  c a d X b ... a  c Y d ... b  E        ->  class XY
       └ 10%..20% ┘^     └ 50%..60%┘^

Nothing in the noise helps, so the best input-blind guess costs ln 4 nats (accuracy 1/4). A model
must keep the first symbol across at least 30% of the sequence and the second across the last 40%.
"""

from __future__ import annotations

import math
import string

from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import register_task
from datasets.spec import LAST_CLASS
from datasets.synthetic import SyntheticTask, uniform_ints

BEGIN, END, X, Y, NOISE = 1, 2, 3, 4, 5
CLASSES = ("XX", "XY", "YX", "YY")


@register_task("temporal_order")
class TemporalOrder(SyntheticTask):
    """The order of two relevant symbols hidden in noise; 4 classes at the last step.

    Args (task parameters):
        length: T, the number of steps (the length knob; at least 10).
        num_noise: size of the noise alphabet (4 in the original).
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {**SyntheticTask.common_defaults, "length": 100, "num_noise": 4}

    def vocabulary(self, p):
        return ["<pad>", "B", "E", "X", "Y"] + list(string.ascii_lowercase[: p["num_noise"]])

    def windows(self, p):
        """Inclusive position ranges of the first and the second relevant symbol."""
        t = p["length"]
        first = (max(1, t // 10), max(1, t // 5))
        second = (t // 2, max(t // 2, (6 * t) // 10))
        return first, second

    def sequence_length(self, p):
        return p["length"]

    def check_task(self, p):
        if p["length"] < 10:
            raise ValueError(f"length of task 'temporal_order' must be at least 10, got {p['length']}.")
        if not 1 <= p["num_noise"] <= 26:
            raise ValueError(f"num_noise of task 'temporal_order' must be between 1 and 26, got {p['num_noise']}.")

    def log10_distinct_inputs(self, p):
        (a, b), (c, d) = self.windows(p)
        positions = (b - a + 1) * (d - c + 1)
        return math.log10(4 * positions) + (p["length"] - 4) * math.log10(p["num_noise"])

    def sample_inputs(self, seed_of, n, p):
        t = p["length"]
        (a, b), (c, d) = self.windows(p)
        x = uniform_ints(seed_of(0), [n, t], NOISE, NOISE + p["num_noise"])  # (n, T) noise
        first = uniform_ints(seed_of(1), [n], a, b + 1)  # (n,)
        second = uniform_ints(seed_of(2), [n], c, d + 1)  # (n,)
        symbols = uniform_ints(seed_of(3), [n, 2], X, Y + 1)  # (n, 2) X or Y
        steps = tf.range(t)[tf.newaxis, :]  # (1, T)
        x = tf.where(steps == first[:, tf.newaxis], symbols[:, :1], x)
        x = tf.where(steps == second[:, tf.newaxis], symbols[:, 1:], x)
        x = tf.where(steps == 0, BEGIN, x)
        return tf.where(steps == t - 1, END, x)  # (n, T)

    def make_targets(self, inputs, p):
        relevant = (inputs == X) | (inputs == Y)  # (n, T), two True per row
        first = tf.argmax(tf.cast(relevant, tf.int32), axis=1)  # (n,)
        last = p["length"] - 1 - tf.argmax(tf.cast(relevant[:, ::-1], tf.int32), axis=1)  # (n,)
        is_y = tf.cast(inputs == Y, tf.int32)
        first_y = tf.gather(is_y, first, batch_dims=1)
        last_y = tf.gather(is_y, last, batch_dims=1)
        return 2 * first_y + last_y  # (n,) index into CLASSES

    def spec(self, p):
        return self.make_spec(
            p,
            vocabulary=self.vocabulary(p),
            output=LAST_CLASS,
            num_classes=len(CLASSES),
            causal=False,
            chance_loss=math.log(len(CLASSES)),
            chance_accuracy=1.0 / len(CLASSES),
            metrics=("loss", "accuracy"),
            description=f"tell the order of two symbols hidden in {p['length']} steps of noise",
        )
