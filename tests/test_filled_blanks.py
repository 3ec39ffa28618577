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
