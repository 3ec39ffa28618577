"""Language modelling windows over a text corpus: what `char_lm` and `word_lm` share.

A corpus split becomes one long sequence of token ids; a window of `seq_len + 1` tokens gives the
inputs (all but the last) and the targets (all but the first), so the target at step t is the
input at step t + 1:

    tokens    T  o     b  e  ,     o  r     n  o  t
    inputs    T  o     b  e  ,     o  r     n  o        (seq_len)
    targets   o     b  e  ,     o  r     n  o  t        (seq_len)

That is why these tasks are `causal`: a model that reads step t + 1 reads the answer at step t.

Training: an endless stream of windows. Each pass over the training split starts at a random
offset in [0, seq_len) and visits its non-overlapping windows in a random order, both drawn by
stateless ops from (seed, pass number), so the stream is the same in every process. One pass is
`spec.epoch_size` windows. Validation and test: every non-overlapping window from offset 0, in
order, the same for every seed.

The chance baseline is the loss of the best prediction that ignores the input: the unigram
distribution of the training split, whose loss is its entropy (nats per token).
"""

from __future__ import annotations

import functools
import os
import pathlib

import numpy as np

from datasets.corpus import Corpus, read_local_corpus, read_tfds_corpus
from datasets.lazy import tf  # TensorFlow is imported when a pipeline is built (datasets/lazy.py)
from datasets.registry import Task
from datasets.spec import PER_STEP, TaskSpec
from datasets.vocabulary import build_vocabulary, load_vocabulary, save_vocabulary


class TextTask(Task):
    """Next-token prediction over a corpus; subclasses choose the token level.

    Args (task parameters):
        path: a local UTF-8 text file or a folder of .txt files (split 90/5/5); when set, it
            replaces the TFDS corpus.
        tfds_name: a TFDS text dataset (default "tiny_shakespeare", its own 90/5/5 splits).
        feature: the text feature of the TFDS dataset (for example "text" of "imdb_reviews").
        data_dir: TFDS data folder where the prepared dataset is cached (TFDS's default when None).
        manual_dir: folder holding a copy of the TFDS files (for tiny_shakespeare: input.txt);
            TFDS's default `<data_dir>/downloads/manual` when None.
        download: False never downloads: without a prepared dataset or a manual copy, fail at once.
        seq_len: steps per window (the length knob).
        max_vocabulary: at most this many tokens, `<unk>` included; None keeps every training token.
        vocabulary_path: JSON vocabulary to reuse; when the file does not exist yet, the vocabulary
            built from the training split is written there.
    """

    level = ""  # "char" or "word"
    causal = True

    @property
    def primary_metric(self) -> str:
        return "bits_per_char" if self.level == "char" else "perplexity"

    def sequence_length(self, p: dict) -> int:
        return p["seq_len"]
    token_separator = ""
    token_pattern: str | None = None
    unit = "token"
    param_types = {"path": str, "data_dir": str, "manual_dir": str, "vocabulary_path": str, "max_vocabulary": int}

    @staticmethod
    def text_defaults(seq_len: int, max_vocabulary: int | None) -> dict:
        return {
            "path": None,
            "tfds_name": "tiny_shakespeare",
            "feature": "text",
            "data_dir": None,
            "manual_dir": None,
            "download": True,
            "seq_len": seq_len,
            "max_vocabulary": max_vocabulary,
            "vocabulary_path": None,
        }

    # ------------------------------------------------------------------ to implement
    def count_tokens(self, text: str) -> dict[str, int]:
        raise NotImplementedError

    def encode_text(self, text: str, index: dict[str, int]) -> np.ndarray:
        """Token ids (int32) of `text`; tokens outside `index` become 0 (`<unk>`)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def check(self, p):
        if p["seq_len"] < 1:
            raise ValueError(f"seq_len of task {self.name!r} must be at least 1, got {p['seq_len']}.")
        if p["max_vocabulary"] is not None and p["max_vocabulary"] < 2:
            raise ValueError(
                f"max_vocabulary of task {self.name!r} must be at least 2 (<unk> and one token), got {p['max_vocabulary']}."
            )

    def corpus(self, p) -> Corpus:
        if p["path"] is not None:
            return read_local_corpus(p["path"])
        return read_tfds_corpus(p["tfds_name"], p["feature"], p["data_dir"], p["manual_dir"], p["download"])

    def prepared(self, p) -> "Prepared":
        """Vocabulary and token ids of the three splits (cached within the process)."""
        return _prepare(type(self), tuple(sorted(p.items())), _stamp(p["path"]), _stamp(p["vocabulary_path"]))

    def spec(self, p):
        data = self.prepared(p)
        counts = np.bincount(data.ids["train"], minlength=len(data.vocabulary))
        probabilities = counts[counts > 0] / counts.sum()
        entropy = float(-(probabilities * np.log(probabilities)).sum())
        metrics = ("loss", "accuracy", "bits_per_char" if self.level == "char" else "perplexity")
        return TaskSpec(
            name=self.name,
            params=dict(p),
            vocabulary=data.vocabulary,
            output=PER_STEP,
            num_classes=len(data.vocabulary),
            causal=self.causal,
            sequence_length=p["seq_len"],
            chance_loss=entropy,
            chance_accuracy=float(counts.max() / counts.sum()),
            metrics=metrics,
            token_separator=self.token_separator,
            language_model=True,
            unknown_token_id=0,
            description=f"predict the next {self.unit} of {data.source}",
            epoch_size=train_windows(len(data.ids["train"]), p["seq_len"]),
            token_pattern=self.token_pattern,
        )

    def dataset(self, split, batch_size, seed, p, spec):
        ids = self.prepared(p).ids[split]
        length = p["seq_len"]
        tokens = tf.constant(ids, tf.int32)  # (num_tokens,)
        steps = tf.range(length + 1)[tf.newaxis, :]  # (1, seq_len + 1)

        def windows(starts):  # (batch,) -> inputs, targets (batch, seq_len)
            window = tf.gather(tokens, starts[:, tf.newaxis] + steps)  # (batch, seq_len + 1)
            return window[:, :-1], window[:, 1:]

        if split == "train":
            count = spec.epoch_size

            def one_pass(number):  # the window starts of pass `number`, shuffled
                offset = tf.random.stateless_uniform(
                    [], tf.stack([tf.constant(seed, tf.int64), 2 * number]), 0, length, tf.int32
                )
                noise = tf.random.stateless_uniform([count], tf.stack([tf.constant(seed, tf.int64), 2 * number + 1]))
                return tf.data.Dataset.from_tensor_slices(offset + tf.argsort(noise) * length)

            starts = tf.data.Dataset.counter().flat_map(one_pass).batch(batch_size, drop_remainder=True)
            ds = starts.map(windows, num_parallel_calls=tf.data.AUTOTUNE)
        else:
            count = (len(ids) - 1) // length  # every non-overlapping window, from offset 0
            starts = tf.data.Dataset.from_tensor_slices(tf.range(count) * length).batch(batch_size)
            ds = starts.map(windows, num_parallel_calls=tf.data.AUTOTUNE).cache()
        return ds.prefetch(tf.data.AUTOTUNE)


def train_windows(num_tokens: int, seq_len: int) -> int:
    """Windows per training pass: the last start, offset + (count - 1)·seq_len, must leave seq_len + 1 tokens."""
    return (num_tokens - seq_len) // seq_len


class Prepared:
    """A corpus turned into ids: `vocabulary` (tuple), `ids[split]` (int32 arrays), `source`."""

    def __init__(self, vocabulary, ids, source):
        self.vocabulary = tuple(vocabulary)
        self.ids = ids
        self.source = source


def _stamp(path):
    """What identifies a file's content for the cache: path, modification time, size."""
    if path is None:
        return None
    try:
        target = pathlib.Path(path).expanduser()
        stats = [target.stat()] if target.is_file() else [f.stat() for f in sorted(target.rglob("*.txt"))]
        return (os.fspath(target), tuple((s.st_mtime_ns, s.st_size) for s in stats))
    except OSError:
        return (os.fspath(path), None)


@functools.lru_cache(maxsize=4)
def _prepare(task_class: type, items: tuple, path_stamp, vocabulary_stamp) -> Prepared:
    task, p = task_class(), dict(items)
    corpus = task.corpus(p)
    if p["vocabulary_path"] is not None and pathlib.Path(p["vocabulary_path"]).expanduser().is_file():
        vocabulary = load_vocabulary(p["vocabulary_path"], task.level)
    else:
        vocabulary = build_vocabulary(task.count_tokens(corpus.train), p["max_vocabulary"])
        if p["vocabulary_path"] is not None:
            save_vocabulary(p["vocabulary_path"], vocabulary, task.level)
    index = {token: i for i, token in enumerate(vocabulary)}
    ids = {split: task.encode_text(corpus.split(split), index) for split in ("train", "validation", "test")}
    if train_windows(len(ids["train"]), p["seq_len"]) < 1:
        raise ValueError(
            f"the training split of {corpus.source} has {len(ids['train'])} {task.unit}s, too few for windows of "
            f"seq_len + 1 = {p['seq_len'] + 1} at every offset; use a smaller seq_len or a larger corpus."
        )
    for split in ("validation", "test"):
        if (len(ids[split]) - 1) // p["seq_len"] < 1:
            raise ValueError(
                f"the {split} split of {corpus.source} has {len(ids[split])} {task.unit}s, too few for one window "
                f"of seq_len + 1 = {p['seq_len'] + 1}; use a smaller seq_len or a larger corpus."
            )
    return Prepared(vocabulary, ids, corpus.source)
