"""training.evaluate.filled_blanks: a cloze run shows its model's answers written into test sentences."""

import numpy as np

import datasets
from training.evaluate import filled_blanks


class Constant:
    """A stand-in model that answers class `answer` at every step."""

    def __init__(self, spec, answer):
        self.spec, self.answer = spec, answer

    def predict(self, x, verbose=0):
        shape = (len(x), x.shape[1], self.spec.num_classes) if self.spec.output == "per_step" else (len(x), self.spec.num_classes)
        logits = np.zeros(shape, np.float32)
        logits[..., self.answer] = 1.0
        return logits


def test_the_answer_goes_into_the_blank_of_the_first_test_sentences():
    for name, params in (("kerala_cloze", {"fillers": 1}), ("mouse_cloze", {}), ("mouse_cloze", {"answer_delay": 2})):
        spec = datasets.get_spec(name, **params)
        for answer in (0, 1):
            rows = filled_blanks(Constant(spec, answer), spec, params, n=3)
            assert len(rows) == 3
            word = spec.answers[answer]
            assert all(guess == word and word in text and "___" not in text for text, guess, _ in rows)
        right = [r for _, _, r in rows]
        assert right[0] == ("Malayalam" if name == "kerala_cloze" else spec.answers[0])  # the article's sentence first
        assert set(right) <= set(spec.answers)


def test_tasks_without_a_blank_show_nothing():
    spec = datasets.get_spec("recall", gap=5)
    assert filled_blanks(Constant(spec, 0), spec, {"gap": 5}) == []


def test_a_run_records_its_answers_to_the_article_sentences_only():
    """`diagnostics.article_answers` (metadata.json's `article_answers`): one entry per forced sentence, the
    article's own first, with the model's word in the blank; none for a task without forced sentences."""
    from training.core import diagnostics
    from training.core.config import RunConfig
    from training.core.loop import _forced_test_sentences

    for name, params, first, second in (("mouse_cloze", {"eval_size": 8}, "click", "search"),
                                        ("kerala_cloze", {"fillers": 1, "eval_size": 8}, "Malayalam", None)):
        spec = datasets.get_spec(name, **params)
        forced = _forced_test_sentences(RunConfig(model="gru", task=name, task_params=params))
        assert forced >= 1
        test, _ = datasets.load_task(name, "test", 8, **params)
        for answer in range(2):
            model = Constant(spec, answer)
            rows = diagnostics.article_answers(lambda x: model.predict(x), spec, test, forced)
            assert len(rows) == forced
            assert rows[0]["right"] == first and rows[0]["answer"] == spec.answers[answer]
            assert spec.answers[answer] in rows[0]["sentence"] and "___" not in rows[0]["sentence"]
            if second is not None:
                assert rows[1]["right"] == second
    assert _forced_test_sentences(RunConfig(model="gru", task="recall", task_params={"gap": 5})) == 0
    assert _forced_test_sentences(RunConfig(model="gru", task="mouse_cloze", task_params={"eval_size": 1})) == 1
