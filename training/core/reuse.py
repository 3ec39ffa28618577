"""Reusing traced models across the runs of one process (a sweep worker).

Most of a short run's fixed cost is tracing: the first `fit` traces Keras's train step (and XLA compiles
the written-out recurrences), and the learning curve, the test pass and the gradient-through-time probe
each trace a function of the model. A sweep trains many runs of one architecture that differ only in
their seed or their initialisation (orthogonal or glorot kernels, a gate bias, a gain): the same graph
each time.

`TracedModels.adopt(model)` hands a freshly built and compiled run model's state to a model of the same
architecture that an earlier run in this process has already traced: every variable of it (weights and
seed-generator states) is set to the fresh model's, and every optimizer variable to a freshly built
optimizer's (step 0, zero moments). The run then trains as its own model would have, bit for bit
(tests/test_reuse.py), without tracing again. Two models are "the same architecture" when their configs
agree after layer names and initializers are taken out, and their compile configs (optimizer, loss,
metrics) agree; anything else is a new entry.

`training.instruments.memo.memo(model, key, make)` keeps a traced helper (the forward function, a
through-time probe) with the model, so that a run that adopts the model also adopts its helpers.
"""

from __future__ import annotations

import collections
import json

# Config entries that only decide initial values (copied from the fresh model), never the graph.
_INITIAL_VALUES_ONLY = ("unit_forget_bias", "seed")


def architecture_key(model, inputs=None) -> str:
    """The model's config and compile config as one string, without layer names and initializers, and
    `inputs` (the training data's element spec: another sequence length would make Keras retrace the
    train step with a relaxed shape, which trains slower than a model of its own)."""
    names = {layer.name: f"layer{i}" for i, layer in enumerate(model.layers)}
    names[model.name] = "model"

    def canonical(value):
        if isinstance(value, dict):
            return {k: canonical(v) for k, v in value.items()
                    if k != "name" and not k.endswith("_initializer") and k not in _INITIAL_VALUES_ONLY}
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    compiled = model.get_compile_config() or {}
    return json.dumps({"model": canonical(model.get_config()), "class": type(model).__name__,
                       "compile": canonical(compiled), "inputs": repr(inputs),
                       "variables": [(tuple(v.shape), str(v.dtype)) for v in model.variables]},
                      sort_keys=True, default=repr)


class TracedModels:
    """Up to `capacity` traced models of this process, the least recently used dropped first."""

    def __init__(self, capacity: int = 16):
        self.capacity = capacity
        self._models: collections.OrderedDict[str, object] = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    def adopt(self, model, inputs=None):
        """`model` (built and compiled, never trained), or a traced model of the same architecture and
        `inputs` (the training data's element spec) set to `model`'s initial state."""
        key = architecture_key(model, inputs)
        traced = self._models.get(key)
        if traced is None or not _transfer(model, traced):
            self.misses += 1
            self._models[key] = model
            self._models.move_to_end(key)
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            return model
        self.hits += 1
        self._models.move_to_end(key)
        return traced


def _transfer(fresh, traced) -> bool:
    """Set every variable of `traced` and of its optimizer to `fresh`'s initial values; False where the
    two do not line up (then `traced` is not used)."""
    if len(fresh.variables) != len(traced.variables):
        return False
    fresh.optimizer.build(fresh.trainable_variables)  # a fresh optimizer's variables: step 0, zero moments
    mine, theirs = traced.optimizer.variables, fresh.optimizer.variables
    if len(mine) != len(theirs) or any(a.shape != b.shape for a, b in zip(mine, theirs)):
        return False
    if any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(traced.variables, fresh.variables)):
        return False
    for target, source in [*zip(traced.variables, fresh.variables), *zip(mine, theirs)]:
        target.assign(source)
    traced.stop_training = False
    return True


class EvalSplits:
    """The validation and test datasets of this process's runs, by task, parameters, split and batch size.

    A task's validation and test sets do not depend on the run's seed (`datasets.load_task`): every run of
    a sweep on one task evaluates the same examples. Building their `tf.data` pipeline traces its map
    functions (a quarter of a second a split), and its `.cache()` holds the examples once a run has read them
    all; a later run of the same task gets the same dataset object, so the same batches, without either
    cost. The training stream (which depends on the seed) is never kept. Up to `capacity` datasets, the
    least recently used dropped first."""

    def __init__(self, capacity: int = 32):
        self.capacity = capacity
        self._datasets: collections.OrderedDict[str, tuple] = collections.OrderedDict()
        self._taken: dict[int, tuple] = {}  # id(dataset) -> (dataset, {key: what a run took from it})
        self.hits = 0
        self.misses = 0

    def taken(self, dataset, key, make):
        """What runs take from a kept dataset (the learning curve's batches, the probe batch, as numpy arrays):
        `make()` the first time for this dataset and key, the same value afterwards; `make()` every time for a
        dataset this cache does not hold (a training stream, one it has dropped)."""
        entry = self._taken.get(id(dataset))
        if entry is None or entry[0] is not dataset:
            return make()
        if key not in entry[1]:
            entry[1][key] = make()
        return entry[1][key]

    def get(self, task: str, params: dict, split: str, batch_size: int, make):
        """`make()` -> (dataset, spec) the first time for this key, the same pair afterwards."""
        if split == "train":
            return make()
        key = json.dumps([task, params, split, int(batch_size)], sort_keys=True, default=str)
        found = self._datasets.get(key)
        if found is not None:
            self.hits += 1
            self._datasets.move_to_end(key)
            return found
        self.misses += 1
        self._datasets[key] = found = make()
        self._taken[id(found[0])] = (found[0], {})
        while len(self._datasets) > self.capacity:
            dropped = self._datasets.popitem(last=False)[1]
            self._taken.pop(id(dropped[0]), None)
        return found
