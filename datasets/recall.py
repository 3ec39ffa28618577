"""`recall`: remember one token across a gap of distractors (a long-term dependency in its purest form).

The seed example "Jane was born in Kerala ... Jane is very fluent in ___": the answer (Malayalam) is
bound to a fact stated long before the question, and nothing in between helps. Here a key token opens
the sequence, `gap` distractor tokens follow, then a query token; the target, read at the last step,
is the value bound to the key by a fixed one-to-one map of K keys to K values:

    k3  d1 d7 d0 ... d5  ?        ->  value of k3
    └─┘ └──── gap ─────┘ └┘
     0     1 .. gap      gap+1

Only a model that carries the key across the whole gap can do better than ln K nats. This is the
long-term dependency problem of Bengio, Simard & Frasconi (1994): the gradient that links the answer
to the key passes through `gap` recurrent steps.
"""

from __future__ import annotations

import math

from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import register_task
from datasets.spec import LAST_CLASS
from datasets.synthetic import SyntheticTask, uniform_ints


@register_task("recall")
class Recall(SyntheticTask):
    """Key, `gap` distractors, query; the class at the last step is the key's value.

    Args (task parameters):
        gap: number of distractor tokens between the key and the query (the length knob).
        num_keys: K, the number of keys and of values (classes).
        num_distractors: size of the distractor alphabet (disjoint from the keys).
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {**SyntheticTask.common_defaults, "gap": 50, "num_keys": 8, "num_distractors": 8}

    # vocabulary: 0 <pad>, 1..K keys, K+1..K+D distractors, K+D+1 the query
    def vocabulary(self, p):
        keys = [f"k{i}" for i in range(p["num_keys"])]
        distractors = [f"d{i}" for i in range(p["num_distractors"])]
        return ["<pad>"] + keys + distractors + ["?"]

    def value_of_key(self, key_index: tf.Tensor, p) -> tf.Tensor:
        """The fixed one-to-one map of keys to values: key i is bound to value K-1-i."""
        return p["num_keys"] - 1 - key_index

    def sequence_length(self, p):
        return p["gap"] + 2

    def check_task(self, p):
        if p["gap"] < 0:
            raise ValueError(f"gap of task 'recall' must be 0 or more, got {p['gap']}.")
        if p["num_keys"] < 2:
            raise ValueError(f"num_keys of task 'recall' must be at least 2, got {p['num_keys']}.")
        if p["num_distractors"] < 1:
            raise ValueError(f"num_distractors of task 'recall' must be at least 1, got {p['num_distractors']}.")

    def log10_distinct_inputs(self, p):
        return math.log10(p["num_keys"]) + p["gap"] * math.log10(p["num_distractors"])

    def sample_inputs(self, seed_of, n, p):
        k, d = p["num_keys"], p["num_distractors"]
        key = uniform_ints(seed_of(0), [n, 1], 1, k + 1)  # (n, 1)
        distractors = uniform_ints(seed_of(1), [n, p["gap"]], k + 1, k + d + 1)  # (n, gap)
        query = tf.fill([n, 1], k + d + 1)  # (n, 1)
        return tf.concat([key, distractors, query], axis=1)  # (n, gap + 2)

    def make_targets(self, inputs, p):
        return self.value_of_key(inputs[:, 0] - 1, p)  # (n,) class ids

    def spec(self, p):
        k = p["num_keys"]
        return self.make_spec(
            p,
            vocabulary=self.vocabulary(p),
            output=LAST_CLASS,
            num_classes=k,
            causal=False,
            chance_loss=math.log(k),
            chance_accuracy=1.0 / k,
            metrics=("loss", "accuracy"),
            description=f"recall the value bound to a key seen {p['gap']} distractors before the query",
        )
