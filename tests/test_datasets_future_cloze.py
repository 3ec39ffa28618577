"""future_cloze with `answer_delay`: the same examples, the answer due k steps after the cue."""

import numpy as np
import pytest

import datasets


def first(ds):
    return [t.numpy() for t in next(iter(ds))]


@pytest.mark.parametrize("k", [0, 3])
def test_late_answer_keeps_the_examples_and_moves_the_target_after_the_cue(k):
    base = dict(length=12, distance=3, eval_size=200)
    x0, y0, w0 = first(datasets.load_task("future_cloze", "test", 200, **base)[0])
    ds, spec = datasets.load_task("future_cloze", "test", 200, answer_delay=k, **base)
    x, y, w = first(ds)
    assert spec.sequence_length == 12 + k and x.shape == (200, 12 + k)
    assert (x[:, :12] == x0).all() and (x[:, 12:] == 0).all()  # the same sequences, then k <pad> steps
    cue = np.argmax(x >= 2 + 8, axis=1)  # cues follow <pad>, blank and 8 fillers
    due = np.argmax(w > 0, axis=1)
    assert (due == cue + k).all() and ((w > 0).sum(axis=1) == 1).all()
    assert (w.max(axis=1) == 12 + k).all()  # weight T at the one scored step: the loss is its mean loss
    assert (y[np.arange(200), due] == y0[np.arange(200), np.argmax(w0 > 0, axis=1)]).all()  # same answers


def test_answer_delay_is_checked():
    with pytest.raises(ValueError, match="answer_delay of task 'future_cloze' must be None or at least 0"):
        datasets.get_spec("future_cloze", answer_delay=-1)
    assert datasets.get_spec("future_cloze", answer_delay="2").sequence_length == 22
