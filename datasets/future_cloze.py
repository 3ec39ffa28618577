"""`future_cloze`: a blank whose answer is given only by a cue that comes after it.

The seed example "The mouse is used to ___ for the easy use of computers": the word in the blank
(click, point...) follows from "easy use of computers", which comes later. Here filler tokens
surround one blank "_"; `distance` steps after it comes one of K cue tokens, and the answer at the
blank is the answer bound to that cue. Nothing before the blank carries information:

    inputs   w3 w0 w5  _  w1 w6 w2 w4 c2  w0 w7
    targets   .  .  .  a2  .  .  .  .  .   .  .      (only the blank counts: sample weights)
                      └──── distance ────┘

The loss and the metrics count the blank only. A causal model (SimpleRNN, LSTM, GRU, masked
attention) must answer before it has read the cue, so it sits at the chance baseline ln K; a
bidirectional RNN or attention without the causal mask reads the cue and solves it. This is the
limit of unidirectional models that motivates bidirectional ones (Schuster & Paliwal 1997).

Sample weights: T at the blank and 0 elsewhere. Keras's default loss reduction
("sum_over_batch_size") divides the weighted sum by the batch size times T, so these weights make
the reported loss the mean loss at the blanks, the same number as "mean_with_sample_weight"; the
weighted metrics (accuracy) are unaffected by the scale.
"""

from __future__ import annotations

import math

import tensorflow as tf

from datasets.registry import register_task
from datasets.spec import PER_STEP
from datasets.synthetic import SyntheticTask, uniform_ints

BLANK = 1


@register_task("future_cloze")
class FutureCloze(SyntheticTask):
    """Fill a blank whose answer depends only on a later cue; per-step classes, weighted at the blank.

    Args (task parameters):
        length: T, the number of steps (the length knob).
        distance: how many steps after the blank the cue comes (at least 1).
        num_answers: K, the number of cues and of answers (classes).
        num_fillers: size of the filler alphabet.
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {
        **SyntheticTask.common_defaults,
        "length": 20,
        "distance": 5,
        "num_answers": 4,
        "num_fillers": 8,
    }

    # vocabulary: 0 <pad>, 1 blank, 2..F+1 fillers, F+2..F+K+1 cues
    def vocabulary(self, p):
        fillers = [f"w{i}" for i in range(p["num_fillers"])]
        cues = [f"c{i}" for i in range(p["num_answers"])]
        return ["<pad>", "_"] + fillers + cues

    def first_cue(self, p) -> int:
        return 2 + p["num_fillers"]

    def sequence_length(self, p):
        return p["length"]

    def check_task(self, p):
        if p["distance"] < 1:
            raise ValueError(f"distance of task 'future_cloze' must be at least 1, got {p['distance']}.")
        if p["length"] < p["distance"] + 1:
            raise ValueError(
                f"length of task 'future_cloze' must exceed distance so the cue fits after the blank, "
                f"got length={p['length']} and distance={p['distance']}."
            )
        if p["num_answers"] < 2:
            raise ValueError(f"num_answers of task 'future_cloze' must be at least 2, got {p['num_answers']}.")
        if p["num_fillers"] < 1:
            raise ValueError(f"num_fillers of task 'future_cloze' must be at least 1, got {p['num_fillers']}.")

    def log10_distinct_inputs(self, p):
        t, d = p["length"], p["distance"]
        return math.log10((t - d) * p["num_answers"]) + (t - 2) * math.log10(p["num_fillers"])

    def sample_inputs(self, seed_of, n, p):
        t, d = p["length"], p["distance"]
        x = uniform_ints(seed_of(0), [n, t], 2, 2 + p["num_fillers"])  # (n, T) fillers
        blank = uniform_ints(seed_of(1), [n, 1], 0, t - d)  # (n, 1) blank position
        cue = uniform_ints(seed_of(2), [n, 1], 0, p["num_answers"])  # (n, 1) which cue
        steps = tf.range(t)[tf.newaxis, :]  # (1, T)
        x = tf.where(steps == blank, BLANK, x)
        return tf.where(steps == blank + d, self.first_cue(p) + cue, x)  # (n, T)

    def make_targets(self, inputs, p):
        at_blank = inputs == BLANK  # (n, T), one True per row
        is_cue = inputs >= self.first_cue(p)  # (n, T), one True per row
        answer = tf.reduce_max(tf.where(is_cue, inputs - self.first_cue(p), 0), axis=1, keepdims=True)  # (n, 1)
        targets = tf.where(at_blank, answer, 0)  # (n, T)
        weights = tf.cast(at_blank, tf.float32) * float(p["length"])  # (n, T)
        return targets, weights

    def spec(self, p):
        k = p["num_answers"]
        return self.make_spec(
            p,
            vocabulary=self.vocabulary(p),
            output=PER_STEP,
            num_classes=k,
            causal=False,
            chance_loss=math.log(k),
            chance_accuracy=1.0 / k,
            metrics=("loss", "accuracy"),
            sample_weighted=True,
            description=f"fill a blank from a cue {p['distance']} steps after it",
        )
