"""Counting baselines for the language-model tasks: n-gram models fitted on the training split.

A recurrent language model that does not beat a trigram has learned less than counting does, so the
report draws these beside the models (Chen & Goodman, 1999, is the reference comparison of smoothing
methods). Smoothing: **interpolated Kneser–Ney** (Kneser & Ney, 1995; the interpolated form of Chen &
Goodman, 1999) with one absolute discount per order, D_k = n1 / (n1 + 2 n2) (Ney, Essen & Kneser, 1994;
n1, n2: the number of k-grams seen once and twice; kept inside [0.05, 0.95]):

    P_k(w | h) = max(c(h w) - D_k, 0) / c(h .)  +  D_k N1+(h .) / c(h .) * P_{k-1}(w | h')

h' is h without its oldest token. The highest order counts occurrences c; lower orders count
*continuations* (how many distinct tokens precede the k-gram), so a token that is frequent only after
one context ("Francisco" after "San") gets little weight as a back-off. A context never seen in
training falls back to the order below, and the unigram is interpolated with the uniform distribution
over the vocabulary so that no token, `<unk>` included, gets probability 0.

The other smoothing offered, **add-k** (Lidstone): P(w | h) = (c(h w) + k) / (c(h .) + k V), is the
textbook one and a weaker baseline; `smoothing="add_k"` selects it.

Scores are the mean negative log-likelihood in nats per token of every token of the split after its
first, each predicted from up to order - 1 preceding tokens of the same split, which is also what a
model reading the split from its start sees. The unigram (order 1) is the "chance" baseline of the
task's spec up to smoothing: the training split's token distribution.

    datasets.ngram_baselines("char_lm", manual_dir=".../tiny_shakespeare")
    # {"smoothing": "...", "unit": "nats per character",
    #  "models": {"unigram": {"order": 1, "validation": 3.3, "test": 3.3, "discount": ...}, "bigram": ...}}

Results are cached per task parameters (corpus), orders and splits within the process.
"""

from __future__ import annotations

import functools

import numpy as np

NAMES = {1: "unigram", 2: "bigram", 3: "trigram", 4: "4-gram", 5: "5-gram"}
SMOOTHINGS = ("kneser_ney", "add_k")


def describe(smoothing: str, k: float | None = None) -> str:
    """The smoothing in words, for tables and legends."""
    if smoothing == "kneser_ney":
        return "interpolated Kneser-Ney, one discount per order D = n1 / (n1 + 2 n2), unigram interpolated with uniform"
    return f"add-k (Lidstone), k = {k:g}"


def _keys(ids: np.ndarray, k: int, base: int) -> np.ndarray:
    """The k-grams of `ids` as int64 numbers in base `base` (oldest token most significant): one per
    position t >= k - 1, the k-gram ending at t."""
    n = len(ids) - k + 1
    if n <= 0:
        return np.zeros([0], np.int64)
    key = np.zeros([n], np.int64)
    for j in range(k):
        key = key * base + ids[j : j + n].astype(np.int64)
    return key


class KneserNey:
    """An interpolated Kneser–Ney n-gram model of `order` over token ids in [0, vocabulary_size).

    Args:
        train_ids: the training token ids (1-D integer array).
        vocabulary_size: V; every id must be below it.
        order: the largest n (1 = unigram).
    """

    def __init__(self, train_ids, vocabulary_size: int, order: int):
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}.")
        ids = np.asarray(train_ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= vocabulary_size):
            raise ValueError(f"token ids must lie in [0, {vocabulary_size}), got {ids.min()}..{ids.max()}.")
        if vocabulary_size ** order >= 2**62:
            raise ValueError(f"vocabulary {vocabulary_size} ** order {order} does not fit int64 keys.")
        self.vocabulary_size = vocabulary_size
        self.order = order
        self.levels = []  # per k = 1..order: (gram keys, counts, context keys, context totals, context types, D)
        base = vocabulary_size
        for k in range(1, order + 1):
            if k == order:  # occurrences
                grams, counts = np.unique(_keys(ids, k, base), return_counts=True)
            else:  # continuations: distinct left neighbours of each k-gram, from the distinct (k+1)-grams
                longer = np.unique(_keys(ids, k + 1, base))
                grams, counts = np.unique(longer % base**k, return_counts=True)
            n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
            # kept inside [0.05, 0.95] so that every level passes some mass down (and the uniform reaches
            # tokens never seen in training) even when no k-gram was seen once or twice
            discount = float(np.clip(n1 / (n1 + 2 * n2), 0.05, 0.95)) if n1 + n2 else 0.5
            contexts = grams // base  # the k-1 older tokens (0 for unigrams: one empty context)
            context_keys, first, types = np.unique(contexts, return_index=True, return_counts=True)
            totals = np.add.reduceat(counts, first) if len(counts) else np.zeros([0], np.int64)
            self.levels.append((grams, counts, context_keys, totals, types, discount))

    @property
    def discounts(self) -> list[float]:
        return [level[-1] for level in self.levels]

    def log_probabilities(self, ids) -> np.ndarray:
        """ln P(ids[t] | up to order - 1 preceding ids) for t = 1 .. len(ids) - 1 (nats)."""
        ids = np.asarray(ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocabulary_size):
            raise ValueError(f"token ids must lie in [0, {self.vocabulary_size}).")
        base, n = self.vocabulary_size, len(ids) - 1
        if n <= 0:
            return np.zeros([0])
        p = np.full([n], 1.0 / base)  # order 0: uniform
        for k, (grams, counts, context_keys, totals, types, discount) in enumerate(self.levels, start=1):
            # the k-gram ending at target t + 1 (t = 0 .. n - 1) exists for t + 1 >= k - 1 ... i.e. t >= k - 2
            start = max(k - 2, 0)
            if start >= n:
                break
            key = _keys(ids, k, base)[start + 2 - k :] if k >= 2 else ids[1:]
            context = key // base
            count = _lookup(grams, counts, key)
            total = _lookup(context_keys, totals, context)
            kinds = _lookup(context_keys, types, context)
            lower = p[start:]
            seen = total > 0
            safe = np.where(seen, total, 1)
            mixed = np.maximum(count - discount, 0) / safe + discount * kinds / safe * lower
            p[start:] = np.where(seen, mixed, lower)
        return np.log(p)

    def nats(self, ids) -> float:
        """Mean negative log-likelihood per predicted token (nats)."""
        return float(-self.log_probabilities(ids).mean())


class AddK:
    """An add-k n-gram model: P(w | h) = (c(h w) + k) / (c(h .) + k V); a target with fewer than
    order - 1 preceding tokens is predicted by the add-k model of the order its history allows."""

    def __init__(self, train_ids, vocabulary_size: int, order: int, k: float):
        if order < 1 or not k > 0:
            raise ValueError(f"add-k needs order >= 1 and k > 0, got order={order}, k={k}.")
        ids = np.asarray(train_ids, np.int64)
        self.vocabulary_size, self.order, self.k = vocabulary_size, order, float(k)
        self.levels = []
        for n in range(1, order + 1):
            grams, counts = np.unique(_keys(ids, n, vocabulary_size), return_counts=True)
            contexts, totals = np.unique(_keys(ids[:-1], n - 1, vocabulary_size), return_counts=True) if n > 1 else (
                np.zeros([1], np.int64), np.array([len(ids)]))
            self.levels.append((grams, counts, contexts, totals))

    @property
    def discounts(self) -> list[float]:
        return []

    def log_probabilities(self, ids) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        base, n = self.vocabulary_size, len(ids) - 1
        if n <= 0:
            return np.zeros([0])
        p = np.zeros([n])
        for order, (grams, counts, contexts, totals) in enumerate(self.levels, start=1):
            start = max(order - 2, 0)
            if start >= n:
                break
            key = _keys(ids, order, base)[start + 2 - order :]
            total = _lookup(contexts, totals, key // base) if order > 1 else totals[0]
            p[start:] = (_lookup(grams, counts, key) + self.k) / (total + self.k * base)
        return np.log(p)

    def nats(self, ids) -> float:
        return float(-self.log_probabilities(ids).mean())


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """values[keys == query] for each query, 0 where the key is absent (`keys` sorted)."""
    if len(keys) == 0:
        return np.zeros(query.shape, np.int64)
    at = np.clip(np.searchsorted(keys, query), 0, len(keys) - 1)
    return np.where(keys[at] == query, values[at], 0)


def ngram_scores(train_ids, eval_ids: dict, vocabulary_size: int, orders=(1, 2, 3, 4), smoothing="kneser_ney",
                 k=None) -> dict:
    """{name: {"order", "discounts", split: nats per token}} for each order, fitted on `train_ids` and
    scored on each of `eval_ids` ({split: ids})."""
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"smoothing must be one of {', '.join(SMOOTHINGS)}, got {smoothing!r}.")
    out = {}
    for order in orders:
        if smoothing == "kneser_ney":
            model = KneserNey(train_ids, vocabulary_size, order)
        else:
            model = AddK(train_ids, vocabulary_size, order, k)
        row = {"order": order, "discounts": [round(d, 4) for d in model.discounts]} if smoothing == "kneser_ney" else {
            "order": order, "k": float(k)}
        for split, ids in eval_ids.items():
            row[split] = model.nats(ids)
        out[NAMES.get(order, f"{order}-gram")] = row
    return out


def ngram_baselines(task: str = "char_lm", orders=(1, 2, 3, 4), splits=("validation", "test"),
                    smoothing: str = "kneser_ney", k: float | None = None, **params) -> dict:
    """n-gram baselines of a language-model task, fitted on its training split.

    Args:
        task: a registered text task ("char_lm" or "word_lm").
        orders: the n of each model (1 = unigram).
        splits: the splits to score.
        smoothing: "kneser_ney" (interpolated, the default) or "add_k".
        k: the pseudo-count of add-k.
        **params: the task's parameters (the corpus: path, or tfds_name / manual_dir / data_dir, and the
            vocabulary settings; `seq_len` does not change the scores).

    Returns:
        {"task", "smoothing", "unit", "models": {"unigram": {"order": 1, "discounts": [...],
        "validation": nats, "test": nats}, "bigram": ..., ...}}
    """
    from datasets.registry import get_task

    text_task = get_task(task)
    if not hasattr(text_task, "prepared"):
        raise ValueError(f"n-gram baselines need a text task (char_lm, word_lm), got {task!r}.")
    p = text_task.resolve(params)
    if smoothing not in SMOOTHINGS:
        raise ValueError(f"smoothing must be one of {', '.join(SMOOTHINGS)}, got {smoothing!r}.")
    if smoothing == "add_k" and not (isinstance(k, (int, float)) and k > 0):
        raise ValueError(f"add-k smoothing needs a pseudo-count k > 0, got {k!r}.")
    p = {**p, "seq_len": 1}  # the windows do not matter here; one cache entry per corpus
    key = tuple(sorted(p.items()))
    return _cached(task, key, tuple(orders), tuple(splits), smoothing, k if smoothing == "add_k" else None)


@functools.lru_cache(maxsize=8)
def _cached(task: str, key: tuple, orders: tuple, splits: tuple, smoothing: str, k) -> dict:
    from datasets.registry import get_task

    text_task = get_task(task)
    data = text_task.prepared(dict(key))
    scores = ngram_scores(data.ids["train"], {s: data.ids[s] for s in splits}, len(data.vocabulary), orders,
                          smoothing, k)
    return {
        "task": task,
        "smoothing": describe(smoothing, k),
        "unit": f"nats per {text_task.unit}",
        "models": scores,
    }
