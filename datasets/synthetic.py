"""What every synthetic task shares: stateless generation inside tf.data and a content-hash split.

A synthetic task only says how to draw a chunk of input sequences from a seed (`sample_inputs`) and
how the targets follow from the inputs (`make_targets`). This module turns that into the three splits:

    counter: 0, 1, 2, ...                      chunk index c
        │ map (parallel, ordered)
        ▼
    sample_inputs(seed=(stream key, c))        (chunk, time) int32, stateless random ops
        │ keep the rows whose content hash      hash bucket of the token string, 20 buckets:
        │ belongs to this split                   0 -> validation, 1 -> test, 2..19 -> train
        ▼
    make_targets(inputs)                       the label is a function of the inputs only
        │ rebatch(batch_size)
        ▼
    (inputs, targets[, sample_weights])

Why a content hash: a sequence lands in exactly one split whatever seed drew it, so the endless
training stream can never draw a validation or test example, even where the space of sequences is
small. Validation and test use fixed stream keys (not the user's seed), so every run of every
model is evaluated on the same examples. Stateless ops (`tf.random.stateless_*`) make the stream a
pure function of (task parameters, seed): the same examples in the same order in every process,
and independent of the batch size, because chunks have a fixed size and are rebatched afterwards.
"""

from __future__ import annotations

import math

from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import Task
from datasets.spec import TaskSpec

CHUNK = 256  # sequences drawn per call; fixed so that the stream does not depend on batch_size
NUM_BUCKETS = 20  # hash buckets: 1 for validation, 1 for test, 18 for training
SPLIT_BUCKETS = {"validation": (0, 1), "test": (1, 2), "train": (2, NUM_BUCKETS)}
SPLIT_TAGS = {"train": 1, "validation": 2, "test": 3}
MIN_DISTINCT = 10_000  # fewer distinct sequences than this cannot give held-out sets worth the name


def split_of(inputs: tf.Tensor) -> tf.Tensor:
    """The hash bucket (0..NUM_BUCKETS-1) of every row of `inputs` (batch, time).

    The token ids are written as code points of one UTF-8 string per row and hashed with
    FarmHash, which is the same on every platform and in every process.
    """
    text = tf.strings.unicode_encode(tf.cast(inputs, tf.int32) + 1, "UTF-8")  # (batch,)
    return tf.strings.to_hash_bucket_fast(text, NUM_BUCKETS)


def uniform_ints(seed: tf.Tensor, shape, low: int, high: int) -> tf.Tensor:
    """Stateless uniform integers in [low, high)."""
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high, dtype=tf.int32)


class SyntheticTask(Task):
    """A task whose sequences are drawn by stateless random ops from (seed, chunk index).

    Subclasses add their own parameters to `defaults` and implement `sequence_length`,
    `sample_inputs`, `make_targets`, `log10_distinct_inputs` and `spec`.
    """

    common_defaults = {"epoch_size": 10_000, "eval_size": 1_000}

    # ------------------------------------------------------------------ to implement
    def sequence_length(self, p: dict) -> int:
        raise NotImplementedError

    def sample_inputs(self, seed_of, n: int, p: dict) -> tf.Tensor:
        """`n` input sequences (n, time) int32; `seed_of(k)` gives the k-th op seed (k < 16)."""
        raise NotImplementedError

    def make_targets(self, inputs: tf.Tensor, p: dict):
        """The targets of `inputs`, or `(targets, sample_weights)`; must use nothing but `inputs`."""
        raise NotImplementedError

    def log10_distinct_inputs(self, p: dict) -> float:
        """log10 of the number of distinct input sequences the task can draw."""
        raise NotImplementedError

    def hashed_part(self, inputs: tf.Tensor, p: dict) -> tf.Tensor:
        """The columns of `inputs` that decide an example's split (all of them unless a task appends
        steps that some parameter values add, so that those values keep the same examples)."""
        return inputs

    # ------------------------------------------------------------------ shared
    def check(self, p: dict) -> None:
        for key in ("epoch_size", "eval_size"):
            if p[key] <= 0:
                raise ValueError(f"{key} of task {self.name!r} must be positive, got {p[key]}.")
        self.check_task(p)
        distinct = self.log10_distinct_inputs(p)
        if distinct < math.log10(MIN_DISTINCT):
            raise ValueError(
                f"task {self.name!r} with {self.describe_size(p)} has only about {10 ** distinct:.0f} distinct "
                f"sequences, fewer than the {MIN_DISTINCT} needed to hold out validation and test "
                f"sequences that training never draws; make the sequences longer or the alphabet larger."
            )

    def check_task(self, p: dict) -> None:
        """Task-specific checks (lengths that do not fit and the like)."""

    def describe_size(self, p: dict) -> str:
        return ", ".join(f"{k}={v}" for k, v in p.items() if k not in self.common_defaults)

    def stream_key(self, split: str, seed: int) -> int:
        """First half of every op seed: the split and (for training only) the user's seed."""
        return SPLIT_TAGS[split] * 2**40 + (seed % 2**40 if split == "train" else 0)

    def chunk(self, key: tf.Tensor, index: tf.Tensor, split: str, p: dict):
        """One chunk of examples of `split`: draw CHUNK sequences, keep those hashed to `split`."""

        def seed_of(k: int) -> tf.Tensor:
            return tf.stack([key, index * 16 + k])

        inputs = self.sample_inputs(seed_of, CHUNK, p)  # (CHUNK, time)
        low, high = SPLIT_BUCKETS[split]
        bucket = split_of(self.hashed_part(inputs, p))
        inputs = tf.boolean_mask(inputs, (bucket >= low) & (bucket < high))  # (kept, time)
        out = self.make_targets(inputs, p)
        return (inputs,) + (out if isinstance(out, tuple) else (out,))

    def dataset(self, split: str, batch_size: int, seed: int, p: dict, spec: TaskSpec) -> tf.data.Dataset:
        key = tf.constant(self.stream_key(split, seed), tf.int64)
        chunks = tf.data.Dataset.counter()
        if split != "train":
            # Enough candidate chunks for eval_size examples at 1/NUM_BUCKETS each, three times
            # over; a finite bound so that a held-out set can never spin forever.
            expected = p["eval_size"] * NUM_BUCKETS / CHUNK
            chunks = chunks.take(int(3 * expected) + 8)
        ds = chunks.map(
            lambda i: self.chunk(key, i, split, p),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        if split == "train":
            ds = ds.rebatch(batch_size, drop_remainder=True)
        else:
            ds = ds.unbatch().take(p["eval_size"]).batch(batch_size).cache()
            # Filtering by hash hides the length from tf.data; state it, so Keras knows where an
            # evaluation ends (instead of warning that the input "ran out of data").
            ds = ds.apply(tf.data.experimental.assert_cardinality(-(-p["eval_size"] // batch_size)))
        return ds.prefetch(tf.data.AUTOTUNE)

    def make_spec(self, p: dict, **fields) -> TaskSpec:
        """A TaskSpec with the fields every synthetic task shares filled in."""
        fields.setdefault("token_separator", " ")
        return TaskSpec(
            name=self.name,
            params=dict(p),
            sequence_length=self.sequence_length(p),
            epoch_size=p["epoch_size"],
            **fields,
        )
