"""One traced helper per model: `memo(model, key, make)` makes it the first time and keeps it with the
model, so that every later user of the same model (a later run that reuses a traced model,
`training.core.reuse`) gets the same trace instead of tracing again."""

from __future__ import annotations

_MEMO = "_rnn_zoo_memo"


def memo(model, key, make):
    """`make()` the first time for this model and key, the same object afterwards (it lives with the model)."""
    store = model.__dict__.get(_MEMO)
    if store is None:
        store = {}
        object.__setattr__(model, _MEMO, store)  # not tracked by Keras: no weights, not saved
    if key not in store:
        store[key] = make()
    return store[key]
