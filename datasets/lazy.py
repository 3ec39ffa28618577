"""TensorFlow on first use: what lets `import datasets` (the registry, every task's parameters, defaults,
checks and the spec of a synthetic task) answer without TensorFlow.

    from datasets.lazy import tf     # in a task module, instead of `import tensorflow as tf`

`tf` stands for the `tensorflow` module: the first attribute read (`tf.data`, `tf.random` ...) imports
TensorFlow, which happens when a pipeline is built (`load_task`, `Task.dataset`), never at import. So
`python -m datasets --help` and `python -m datasets recall` start in a fraction of a second, and a
command that installs a filter on TensorFlow's start-up lines (`training.core.quiet`) still catches the
first import. Nothing is put in `sys.modules` before TensorFlow really is imported.
"""

from __future__ import annotations

import importlib


class LazyModule:
    """A module imported when one of its attributes is first read."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attribute):
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<{self._name}, imported on first use>"


tf = LazyModule("tensorflow")
