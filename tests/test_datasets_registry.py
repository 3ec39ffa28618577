"""The task registry: names, parameters, bad input, and the spec as plain values."""

import math

import pytest

import datasets
from datasets import registry

SYNTHETIC = ["adding", "copy_memory", "future_cloze", "recall", "temporal_order"]
TEMPLATE = ["kerala_cloze", "mouse_cloze"]  # the article's sentences (tests/test_datasets_article.py)
ALL_TASKS = sorted(SYNTHETIC + TEMPLATE + ["char_lm", "word_lm"])


def test_every_task_of_the_issue_is_registered():
    assert datasets.list_tasks() == ALL_TASKS


def test_unknown_task_is_answered_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'recal'; known tasks are: adding, char_lm") as info:
        datasets.load_task("recal")
    assert all(name in str(info.value) for name in ALL_TASKS)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5, True, "8"])
def test_batch_size_must_be_a_positive_integer(batch_size):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        datasets.load_task("recall", batch_size=batch_size)


def test_unknown_split_and_unknown_parameter_are_refused():
    with pytest.raises(ValueError, match="unknown split 'dev'; use one of train, validation, test"):
        datasets.load_task("recall", split="dev")
    with pytest.raises(ValueError, match="task 'recall' has no parameter 'gaps'; its parameters are: .*gap"):
        datasets.get_spec("recall", gaps=3)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        datasets.load_task("recall", seed=-1)


def test_command_line_strings_are_converted_to_the_parameter_types():
    spec = datasets.get_spec("recall", gap="7", num_keys="4")
    assert spec.params["gap"] == 7 and spec.params["num_keys"] == 4
    assert spec.sequence_length == 9
    with pytest.raises(ValueError, match="parameter 'gap' of task 'recall' must be int, got 'seven'"):
        datasets.get_spec("recall", gap="seven")
    with pytest.raises(ValueError, match="must be int, got 2.5"):
        datasets.get_spec("recall", gap=2.5)


def test_bool_and_nullable_parameters_are_converted(tmp_path):
    task = datasets.get_task("char_lm")
    resolved = task.resolve({"download": "false", "max_vocabulary": "none", "path": str(tmp_path), "seq_len": "12"})
    assert resolved["download"] is False and resolved["max_vocabulary"] is None and resolved["seq_len"] == 12
    with pytest.raises(ValueError, match="parameter 'download' of task 'char_lm' must be bool"):
        task.resolve({"download": "maybe"})


def test_a_task_is_one_decorated_class(monkeypatch):
    monkeypatch.setattr(registry, "_TASKS", dict(registry._TASKS))

    @datasets.register_task("tiny_constant")
    class TinyConstant(datasets.Task):
        defaults = {"length": 3}

        def spec(self, p):
            return datasets.TaskSpec(
                name=self.name, params=p, vocabulary=("a",), output=datasets.LAST_CLASS, num_classes=2,
                causal=False, sequence_length=p["length"], chance_loss=math.log(2), chance_accuracy=0.5,
                metrics=("loss",),
            )

    assert "tiny_constant" in datasets.list_tasks()
    assert datasets.get_spec("tiny_constant", length="5").sequence_length == 5
    with pytest.raises(ValueError, match="registered twice"):
        datasets.register_task("tiny_constant")(TinyConstant)


@pytest.mark.parametrize("name", SYNTHETIC + TEMPLATE)
def test_spec_round_trips_through_json_and_feeds_the_model_builder(name, tmp_path):
    spec = datasets.get_spec(name)
    spec.to_json(tmp_path / "spec.json")
    again = datasets.TaskSpec.from_json(tmp_path / "spec.json")
    assert again == spec
    kwargs = spec.model_kwargs()
    assert kwargs["vocabulary_size"] == len(spec.vocabulary) and kwargs["output"] == spec.output
    assert kwargs["causal"] is False  # only next-token prediction forbids the future
    assert spec.steps_per_epoch(64) == spec.params["epoch_size"] // 64
    # the spec re-creates the same task
    assert datasets.get_spec(name, **spec.params) == spec


def test_output_kinds_follow_the_issue():
    kinds = {name: datasets.get_spec(name).output for name in SYNTHETIC}
    assert kinds == {
        "recall": "last_class",
        "temporal_order": "last_class",
        "adding": "last_value",
        "copy_memory": "per_step",
        "future_cloze": "per_step",
    }
    assert datasets.get_spec("future_cloze").sample_weighted
    assert not any(datasets.get_spec(n).sample_weighted for n in SYNTHETIC if n != "future_cloze")
