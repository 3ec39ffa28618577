"""rnn-zoo tasks: tf.data pipelines behind one registry.

    ds, spec = load_task("recall", split="train", batch_size=64, seed=0, gap=50)
    model.fit(ds, steps_per_epoch=spec.steps_per_epoch(64),
              validation_data=load_task("recall", "validation", 64, gap=50)[0])

`list_tasks()` names the tasks, `get_spec(name, **params)` describes one without building data, and
`TaskSpec` carries everything a model builder needs as plain values. This package never imports
`zoo` or `training`. Adding a task is one module with a `@register_task` class plus one import below.
Importing it does not import TensorFlow: a task module takes `tf` from `datasets.lazy`, imported when a
pipeline is built, so the registry, every task's parameters and a synthetic task's spec need none.
"""

from datasets.registry import SPLITS, Task, get_spec, get_task, list_tasks, load_task, register_task, task_defaults
from datasets.spec import LAST_CLASS, LAST_VALUE, OUTPUT_KINDS, PER_STEP, TaskSpec
from datasets.vocabulary import UNKNOWN, build_vocabulary, load_vocabulary, save_vocabulary
from datasets.ngram import ngram_baselines

# The registry: one import per task module.
from datasets import recall  # noqa: E402,F401
from datasets import copy_memory  # noqa: E402,F401
from datasets import adding  # noqa: E402,F401
from datasets import temporal_order  # noqa: E402,F401
from datasets import future_cloze  # noqa: E402,F401
from datasets import kerala_cloze  # noqa: E402,F401
from datasets import mouse_cloze  # noqa: E402,F401
from datasets import char_lm  # noqa: E402,F401
from datasets import word_lm  # noqa: E402,F401

__all__ = [
    "LAST_CLASS",
    "LAST_VALUE",
    "OUTPUT_KINDS",
    "PER_STEP",
    "SPLITS",
    "Task",
    "TaskSpec",
    "UNKNOWN",
    "build_vocabulary",
    "load_vocabulary",
    "ngram_baselines",
    "save_vocabulary",
    "get_spec",
    "get_task",
    "list_tasks",
    "load_task",
    "register_task",
    "task_defaults",
]
