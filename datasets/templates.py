"""What the tasks made of sentences share: examples written from templates, split by a hash of their text.

A template task (`kerala_cloze`, `mouse_cloze`) has a fixed word vocabulary, known before any example is
drawn, and says how to write one example from a NumPy random generator (`draw`: the sentence's words and
its answer) and how to lay it out as model inputs and targets (`arrays`). This module turns that into the
three splits:

    chunk c = 0, 1, 2, ...                     rng = default_rng((split tag, seed, c)) for training,
        │                                          (split tag, 0, c) for validation and test
        ▼
    draw(rng) CHUNK times                      words (list of str) and the answer's class id
        │ keep the examples whose text          blake2b of the sentence text, 20 buckets:
        │ hashes to this split                    0 -> validation, 1 -> test, 2..19 -> train
        ▼
    arrays(words, answer)                      (inputs, targets[, sample_weights]) of fixed length
        │ batch(batch_size)
        ▼
    tf.data.Dataset

The split is decided by the sentence text (`" ".join(words)`), so a sentence is in exactly one split
whatever seed drew it and whatever layout parameter (padding, `answer_delay`) is chosen. A task may name
`forced_test` sentences (the article's own): they are the first examples of the test split and are never
drawn for training or validation, wherever their hash would put them.

Drawing is plain Python on a seeded `numpy.random.Generator`, so the examples are the same in every
process, on every platform, and for every batch size (chunks have a fixed size and are batched after).
"""

from __future__ import annotations

import hashlib

import numpy as np
from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import Task
from datasets.spec import TaskSpec
from datasets.synthetic import CHUNK, NUM_BUCKETS, SPLIT_BUCKETS, SPLIT_TAGS

PAD = "<pad>"
BLANK = "___"
# Words, the blank, <pad>, and punctuation as tokens of their own (spec.encode).
TOKEN_PATTERN = r"<pad>|___|[\w'-]+|[.,;!?]"


def split_of_text(text: str) -> str:
    """The split ("train", "validation" or "test") a sentence belongs to, from a hash of its text."""
    bucket = int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little") % NUM_BUCKETS
    for split, (low, high) in SPLIT_BUCKETS.items():
        if low <= bucket < high:
            return split
    raise AssertionError(bucket)  # the buckets cover 0..NUM_BUCKETS-1


class TemplateTask(Task):
    """A task whose examples are sentences written from templates; see the module docstring."""

    common_defaults = {"epoch_size": 10_000, "eval_size": 1_000}

    # ------------------------------------------------------------------ to implement
    def words(self, p: dict) -> list[str]:
        """Every word the task can write, in a fixed order (the vocabulary is `[<pad>, ___] + words`)."""
        raise NotImplementedError

    def draw(self, rng: np.random.Generator, p: dict) -> tuple[list[str], int]:
        """One example: its words (the blank written as `___`) and the class id of its answer."""
        raise NotImplementedError

    def forced_test(self, p: dict) -> list[tuple[list[str], int]]:
        """Examples put at the head of the test split and kept out of the other two."""
        return []

    def arrays(self, ids: list[int], answer: int, p: dict) -> tuple:
        """`(inputs, targets[, sample_weights])` NumPy arrays of one example whose token ids are `ids`."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def vocabulary(self, p: dict) -> list[str]:
        return [PAD, BLANK] + list(self.words(p))

    def check(self, p: dict) -> None:
        for key in ("epoch_size", "eval_size"):
            if p[key] <= 0:
                raise ValueError(f"{key} of task {self.name!r} must be positive, got {p[key]}.")
        self.check_task(p)

    def check_task(self, p: dict) -> None:
        """Task-specific checks."""

    def make_spec(self, p: dict, **fields) -> TaskSpec:
        vocabulary = self.vocabulary(p)
        return TaskSpec(
            name=self.name,
            params=dict(p),
            vocabulary=vocabulary,
            sequence_length=self.sequence_length(p),
            epoch_size=p["epoch_size"],
            token_separator=" ",
            token_pattern=TOKEN_PATTERN,
            blank_token_id=vocabulary.index(BLANK),
            sentences=True,
            **fields,
        )

    def examples(self, split: str, seed: int, p: dict):
        """Endless (training) or `eval_size` (validation, test) examples of `split` as (words, answer)."""
        forced = self.forced_test(p)
        forced_texts = {" ".join(w) for w, _ in forced}
        count = 0
        if split == "test":
            for example in forced[: p["eval_size"]]:
                yield example
                count += 1
        key = seed if split == "train" else 0
        chunk = 0
        while split == "train" or count < p["eval_size"]:
            if split != "train" and chunk > 64 + 3 * p["eval_size"] * NUM_BUCKETS // CHUNK:
                raise ValueError(
                    f"task {self.name!r} with {p} could not draw {p['eval_size']} {split} examples; "
                    f"make eval_size smaller or the task larger."
                )
            rng = np.random.default_rng([SPLIT_TAGS[split], key, chunk])
            for _ in range(CHUNK):
                words, answer = self.draw(rng, p)
                text = " ".join(words)
                if text in forced_texts or split_of_text(text) != split:
                    continue
                yield words, answer
                count += 1
                if split != "train" and count >= p["eval_size"]:
                    return
            chunk += 1

    def dataset(self, split: str, batch_size: int, seed: int, p: dict, spec: TaskSpec) -> tf.data.Dataset:
        index = {w: i for i, w in enumerate(spec.vocabulary)}

        def layout(example):
            words, answer = example
            return self.arrays([index[w] for w in words], answer, p)

        if split == "train":
            first = layout(next(iter(self.examples(split, seed, p))))
            signature = tuple(tf.TensorSpec(a.shape, tf.as_dtype(a.dtype)) for a in first)

            def generate():
                for example in self.examples(split, seed, p):
                    yield layout(example)

            ds = tf.data.Dataset.from_generator(generate, output_signature=signature)
            return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
        rows = [layout(e) for e in self.examples(split, seed, p)]
        columns = tuple(np.stack(column) for column in zip(*rows))
        return tf.data.Dataset.from_tensor_slices(columns).batch(batch_size)
