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

A causal model allowed to answer late (`answer_delay` = k, an integer): the same sequence followed by k
blank steps (the `<pad>` token), and the answer is due k steps after the cue instead of at the blank:

    inputs   w3 w0 w5  _  w1 w6 w2 w4 c2  w0 w7 <pad> <pad>          (k = 2)
    targets   .  .  .  .   .  .  .  .  .   .  a2   .     .
                                       └ k ┘

It gets exactly the information a bidirectional model uses at the blank (the cue), delivered in time, so
a causal model that fails at the blank and succeeds here shows that it "cannot see the future", not
that it "cannot solve the task". The examples are the same for every k: an example's split is decided by
its first `length` steps only (`hashed_part`), and the blank, the cue and the answer are the same.

Sample weights: T at the blank and 0 elsewhere. Keras's default loss reduction
("sum_over_batch_size") divides the weighted sum by the batch size times T, so these weights make
the reported loss the mean loss at the blanks, the same number as "mean_with_sample_weight"; the
weighted metrics (accuracy) are unaffected by the scale.
"""

from __future__ import annotations

import math

import numpy as np

from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
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
        answer_delay: None (the answer is due at the blank) or k >= 0: k blank steps are appended and
            the answer is due k steps after the cue, where a causal model has read it.
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {
        **SyntheticTask.common_defaults,
        "length": 20,
        "distance": 5,
        "num_answers": 4,
        "num_fillers": 8,
        "answer_delay": None,
    }
    param_types = {"answer_delay": int}

    # vocabulary: 0 <pad>, 1 blank, 2..F+1 fillers, F+2..F+K+1 cues
    def vocabulary(self, p):
        fillers = [f"w{i}" for i in range(p["num_fillers"])]
        cues = [f"c{i}" for i in range(p["num_answers"])]
        return ["<pad>", "_"] + fillers + cues

    def first_cue(self, p) -> int:
        return 2 + p["num_fillers"]

    def sequence_length(self, p):
        return p["length"] + (p["answer_delay"] or 0)

    def hashed_part(self, inputs, p):
        return inputs[:, : p["length"]]  # the appended blank steps do not move an example to another split

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
        if p["answer_delay"] is not None and p["answer_delay"] < 0:
            raise ValueError(f"answer_delay of task 'future_cloze' must be None or at least 0, got {p['answer_delay']}.")
        if p["num_fillers"] < 1:
            raise ValueError(f"num_fillers of task 'future_cloze' must be at least 1, got {p['num_fillers']}.")

    def log10_distinct_inputs(self, p):  # the appended blank steps add nothing
        t, d = p["length"], p["distance"]
        return math.log10((t - d) * p["num_answers"]) + (t - 2) * math.log10(p["num_fillers"])

    def sample_inputs(self, seed_of, n, p):
        t, d = p["length"], p["distance"]
        x = uniform_ints(seed_of(0), [n, t], 2, 2 + p["num_fillers"])  # (n, T) fillers
        blank = uniform_ints(seed_of(1), [n, 1], 0, t - d)  # (n, 1) blank position
        cue = uniform_ints(seed_of(2), [n, 1], 0, p["num_answers"])  # (n, 1) which cue
        steps = tf.range(t)[tf.newaxis, :]  # (1, T)
        x = tf.where(steps == blank, BLANK, x)
        x = tf.where(steps == blank + d, self.first_cue(p) + cue, x)  # (n, T)
        if p["answer_delay"]:
            x = tf.concat([x, tf.zeros([n, p["answer_delay"]], x.dtype)], axis=1)  # (n, T + k): <pad> steps
        return x

    def make_targets(self, inputs, p):
        at_blank = inputs == BLANK  # (n, T), one True per row
        is_cue = inputs >= self.first_cue(p)  # (n, T), one True per row
        answer = tf.reduce_max(tf.where(is_cue, inputs - self.first_cue(p), 0), axis=1, keepdims=True)  # (n, 1)
        due = at_blank
        if p["answer_delay"] is not None:  # k steps after the cue instead
            k = p["answer_delay"]
            due = tf.pad(is_cue, [[0, 0], [k, 0]])[:, : tf.shape(inputs)[1]]  # (n, T + k), shifted right by k
        targets = tf.where(due, answer, 0)  # (n, T + k)
        weights = tf.cast(due, tf.float32) * float(self.sequence_length(p))  # (n, T + k)
        return targets, weights

    def cloze_positions(self, inputs, p):
        """(blank, cue) of token ids `inputs` (n, T): each example's blank step (n,) and its cue's step as a
        (n, T) boolean mask (`training.instruments.at_answer` measures the gradient reaching it)."""
        inputs = np.asarray(inputs)
        return np.argmax(inputs == BLANK, axis=1), inputs >= self.first_cue(p)

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
            description=f"fill a blank from a cue {p['distance']} steps after it"
            + (f", answering {p['answer_delay']} steps after the cue" if p["answer_delay"] is not None else ""),
        )
