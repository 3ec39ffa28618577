"""The tasks made of the article's sentences: `kerala_cloze` and `mouse_cloze`."""

import collections
import math

import numpy as np
import pytest

import datasets
from datasets import kerala_cloze, mouse_cloze
from datasets.templates import split_of_text

ARTICLE_KERALA = (
    "Jane was born in Kerala. Her family moved when she was young. She played in the football team. "
    "She studied hard for the state-level examinations. Jane is very fluent in ___"
)
ARTICLE_MOUSE = "The mouse is used to ___ for the easy use of computers"


def batches(name, split, n, batch_size=100, seed=0, **params):
    """`n` examples of `split` as NumPy arrays (inputs, targets[, weights]) and the spec."""
    ds, spec = datasets.load_task(name, split, batch_size, seed, **params)
    parts = []
    for batch in ds:
        parts.append([t.numpy() for t in batch])
        if sum(len(p[0]) for p in parts) >= n:
            break
    return [np.concatenate(c)[:n] for c in zip(*parts)], spec


def drawn(name, split, n, **params):
    """The first `n` (words, answer) examples of `split` straight from the task's generator (no tf.data)."""
    task = datasets.get_task(name)
    out = []
    for example in task.examples(split, 0, task.resolve({"eval_size": n, **params})):
        out.append(example)
        if len(out) == n:
            break
    return out


def answers_of(name, arrays):
    """The class id of every example (at its scored step for mouse_cloze)."""
    if name == "kerala_cloze":
        return arrays[1]
    x, y, w = arrays
    return y[np.arange(len(y)), np.argmax(w > 0, axis=1)]


@pytest.mark.parametrize("name", ["kerala_cloze", "mouse_cloze"])
def test_same_examples_every_time_and_the_seed_moves_only_training(name):
    a, _ = batches(name, "train", 200, seed=3, eval_size=100)
    b, _ = batches(name, "train", 200, seed=3, eval_size=100)
    c, _ = batches(name, "train", 200, seed=4, eval_size=100)
    assert all((u == v).all() for u, v in zip(a, b))
    assert not (a[0] == c[0]).all()
    t1, _ = batches(name, "test", 100, eval_size=100)
    t2, _ = batches(name, "test", 100, batch_size=7, eval_size=100)  # another batch size, another process alike
    assert all((u == v).all() for u, v in zip(t1, t2))


@pytest.mark.parametrize("name", ["kerala_cloze", "mouse_cloze"])
def test_splits_are_disjoint_and_decided_by_the_hash_of_the_text(name):
    texts = {}
    for split in ("train", "validation", "test"):
        arrays, spec = batches(name, split, 600, eval_size=600)
        texts[split] = {spec.decode(x) for x in arrays[0]}
        forced = {ARTICLE_KERALA, ARTICLE_MOUSE, "The mouse is used to ___ for cheese in the kitchen"}
        assert all(split_of_text(" ".join(spec.vocabulary[i] for i in x if i != 0)) == split  # the hashed text
                   for x in arrays[0] if spec.decode(x) not in forced)
    assert not texts["train"] & texts["validation"]
    assert not texts["train"] & texts["test"]
    assert not texts["validation"] & texts["test"]
    assert len(texts["test"]) > 50  # distinct held-out sentences, not one repeated


def test_the_mouse_sentences_per_split_are_as_documented_and_no_held_out_one_is_drawn_for_training():
    """Every sentence the templates can write, split by its hash: the counts the module docstring and
    docs/tasks.md state, 1,000-example held-out sets made of nearly all their split's sentences and no other,
    and a training stream that draws nearly every training sentence and never one of the others."""
    import pathlib

    task = datasets.get_task("mouse_cloze")
    p = task.resolve({})
    forced = {" ".join(words) for words, _ in task.forced_test(p)}
    written = [" ".join(mouse_cloze.sentence_words(left, right)) for sense in (0, 1) for right in mouse_cloze.RIGHTS[sense]
               for left in mouse_cloze.LEFT]
    by_split = collections.defaultdict(set)
    for text in set(written) - forced:
        by_split[split_of_text(text)].add(text)
    by_split["test"] |= forced
    counts = {split: len(texts) for split, texts in by_split.items()}
    stated = (f"{len(written) // len(mouse_cloze.LEFT)} right parts written out, {len(set(written)):,} distinct",
              f"{counts['train']:,} in training, {counts['validation']} in validation and "
              f"{counts['test'] - len(forced)} in test", f"make {counts['test']} in test")
    doc = " ".join(mouse_cloze.__doc__.split())
    assert all(s in doc for s in stated), (counts, len(set(written)))
    tasks_md = " ".join((pathlib.Path(__file__).parents[1] / "docs" / "tasks.md").read_text(encoding="utf-8").split())
    assert (f"`mouse_cloze`: {len(set(written)):,}, of which {counts['train']:,} are training sentences, "
            f"{counts['validation']} validation and {counts['test'] - len(forced)} test, plus its {len(forced)} forced "
            f"ones: {counts['test']} in test") in tasks_md
    for split in ("validation", "test"):
        held_out = {" ".join(words) for words, _ in drawn("mouse_cloze", split, 1000)}
        assert held_out <= by_split[split] and len(held_out) > 0.9 * counts[split]  # nearly all, none else
    train = task.examples("train", 0, p)
    seen = {" ".join(next(train)[0]) for _ in range(20_000)}
    assert seen <= by_split["train"] and len(seen) > 0.99 * counts["train"]  # nearly all of them, no held-out one


def test_the_article_sentence_is_the_first_test_example_and_reads_as_the_article():
    (x, y), spec = batches("kerala_cloze", "test", 50, eval_size=50)
    assert spec.decode(x[0]) == ARTICLE_KERALA
    assert spec.answers[y[0]] == "Malayalam"
    assert spec.fill_blank(x[0], y[0]) == ARTICLE_KERALA.replace("___", "Malayalam")
    assert spec.encode(ARTICLE_KERALA) == [i for i in x[0] if i != 0]  # encode inverts decode
    assert kerala_cloze.article_text() == ARTICLE_KERALA
    # the gap knob: the article's sentences first, then the pool's; for fewer, its first ones
    (x6, _), spec6 = batches("kerala_cloze", "test", 10, fillers=6, eval_size=10)
    assert spec6.decode(x6[0]).startswith(ARTICLE_KERALA.split(" Jane is")[0] + " She liked to read")
    (x1, _), spec1 = batches("kerala_cloze", "test", 10, fillers=1, eval_size=10)
    assert spec1.decode(x1[0]) == "Jane was born in Kerala. Her family moved when she was young. Jane is very fluent in ___"
    # never drawn for training or validation
    article = kerala_cloze.article_words()
    assert split_of_text(" ".join(article)) != "test"  # so forcing it is what puts it there
    for split in ("train", "validation"):
        assert article not in [words for words, _ in drawn("kerala_cloze", split, 3000)]


def test_the_mouse_sentences_are_the_first_test_examples():
    arrays, spec = batches("mouse_cloze", "test", 50, eval_size=50)
    answers = answers_of("mouse_cloze", arrays)
    assert spec.decode(arrays[0][0]) == ARTICLE_MOUSE and spec.answers[answers[0]] == "click"
    assert spec.fill_blank(arrays[0][0], answers[0]) == "The mouse is used to click for the easy use of computers"
    assert spec.fill_blank(arrays[0][1], answers[1]) == "The mouse is used to search for cheese in the kitchen"
    assert spec.fill_blank(arrays[0][1], "hunt").endswith("to hunt for cheese in the kitchen")
    with pytest.raises(ValueError, match="must be a class id below 2"):
        spec.fill_blank(arrays[0][0], 5)
    with pytest.raises(ValueError, match="has no blank"):
        datasets.get_spec("recall").fill_blank([1, 2], 0)


def test_kerala_answer_is_the_language_of_the_place_and_fillers_is_the_gap():
    for fillers in (0, 2, 5):
        (x, y), spec = batches("kerala_cloze", "train", 300, fillers=fillers)
        assert x.shape[1] == spec.sequence_length and (x[:, -1] == spec.blank_token_id).all()
        for row, answer in zip(x, y):
            text = spec.decode(row)
            place = text.split(" was born in ")[1].split(".")[0]
            assert dict(kerala_cloze.PLACES)[place] == spec.answers[answer]
            assert text.count(".") == fillers + 1  # the opening sentence and the fillers
            name = text.split(" ")[0]
            assert text.endswith(f"{name} is very fluent in ___")


@pytest.mark.parametrize("params", [{}, {"fillers": 0}, {"fillers": 8}, {"answer_delay": 3}])
def test_vocabulary_is_fixed_and_the_same_for_every_split_and_parameter(params):
    name = "mouse_cloze" if "answer_delay" in params else "kerala_cloze"
    reference = datasets.get_spec(name).vocabulary
    for split in ("train", "validation", "test"):
        arrays, spec = batches(name, split, 200, eval_size=200, **params)
        assert spec.vocabulary == reference and len(set(reference)) == len(reference)
        assert arrays[0].min() >= 0 and arrays[0].max() < len(reference)
        assert spec.vocabulary[0] == "<pad>" and spec.vocabulary[spec.blank_token_id] == "___"
    assert set(datasets.get_spec(name).answers) <= set(reference)


def test_chance_baselines_are_those_of_an_input_blind_guess():
    for name, k in (("kerala_cloze", 16), ("mouse_cloze", 2)):
        spec = datasets.get_spec(name)
        assert spec.num_classes == k == len(spec.answers) and len(set(spec.answers)) == k
        assert spec.chance_accuracy == pytest.approx(1 / k) and spec.chance_loss == pytest.approx(math.log(k))
        counts = np.bincount([a for _, a in drawn(name, "train", 4000)], minlength=k) / 4000
        assert np.abs(counts - 1 / k).max() < 0.035  # uniform answers: no input-blind guess beats 1/k
    assert len(kerala_cloze.PLACES) >= 12 and len({lang for _, lang in kerala_cloze.PLACES}) == len(kerala_cloze.PLACES)


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_left_context_of_the_mouse_blank_occurs_with_both_answers(split):
    arrays, spec = batches("mouse_cloze", split, 3000, eval_size=3000)
    x = arrays[0]
    answers = answers_of("mouse_cloze", arrays)
    seen = collections.defaultdict(set)
    by_right = collections.defaultdict(set)
    for row, answer in zip(x, answers):
        blank = int(np.argmax(row == spec.blank_token_id))
        seen[tuple(row[: blank + 1])].add(int(answer))
        by_right[tuple(row[blank + 1:])].add(int(answer))
    assert len(seen) == len(mouse_cloze.LEFT)
    assert all(s == {0, 1} for s in seen.values())  # undecidable from the left
    assert all(len(s) == 1 for s in by_right.values())  # decided by the right
    # ... and not by the first word after the blank alone
    first_after = collections.defaultdict(set)
    for right, s in by_right.items():
        first_after[right[0]] |= s
    assert any(s == {0, 1} for s in first_after.values())


@pytest.mark.parametrize("k", [0, 2])
def test_answer_delay_keeps_the_examples_and_moves_the_answer_after_the_sentence(k):
    (x0, y0, w0), spec0 = batches("mouse_cloze", "test", 200, eval_size=200)
    (x, y, w), spec = batches("mouse_cloze", "test", 200, eval_size=200, answer_delay=k)
    t0 = spec0.sequence_length
    assert spec.sequence_length == t0 + k and (x[:, :t0] == x0).all() and (x[:, t0:] == 0).all()
    last_word = (x0 != 0).sum(axis=1) - 1
    due = np.argmax(w > 0, axis=1)
    assert (due == last_word + k).all() and ((w > 0).sum(axis=1) == 1).all() and (w.max(axis=1) == t0 + k).all()
    assert (answers_of("mouse_cloze", (x, y, w)) == answers_of("mouse_cloze", (x0, y0, w0))).all()
    assert (np.argmax(w0 > 0, axis=1) == np.argmax(x0 == spec0.blank_token_id, axis=1)).all()  # default: at the blank


@pytest.mark.parametrize("name, params, message", [
    ("kerala_cloze", {"fillers": 17}, "fillers of task 'kerala_cloze' must be between 0 and 16"),
    ("kerala_cloze", {"fillers": -1}, "fillers of task 'kerala_cloze' must be between 0 and 16"),
    ("mouse_cloze", {"answer_delay": -1}, "answer_delay of task 'mouse_cloze' must be None or at least 0"),
    ("mouse_cloze", {"eval_size": 0}, "eval_size of task 'mouse_cloze' must be positive"),
])
def test_bad_parameters_are_one_clear_sentence(name, params, message):
    with pytest.raises(ValueError, match=message):
        datasets.get_spec(name, **params)


def test_a_bidirectional_gru_fills_the_mouse_blank_and_a_causal_one_cannot():
    """A few hundred steps: the bidirectional GRU reads the words after the blank and clearly beats
    chance; the causal GRU has read only the left context, which occurs with both answers, and stays
    at ln 2. A task whose answer leaked into the left context, or that the right part did not decide,
    would fail one of the two."""
    import keras

    import zoo

    train, spec = datasets.load_task("mouse_cloze", "train", 32, seed=0)
    test, _ = datasets.load_task("mouse_cloze", "test", 250, eval_size=500)
    results = {}
    for model_name in ("gru", "bidirectional_gru"):
        keras.utils.set_random_seed(0)
        model = zoo.build_model(model_name, units=16, **spec.model_kwargs())
        model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
        model.fit(train, epochs=1, steps_per_epoch=150, verbose=0)
        results[model_name] = model.evaluate(test, verbose=0, return_dict=True)
    assert results["bidirectional_gru"]["accuracy"] > 0.85
    assert results["bidirectional_gru"]["loss"] < 0.4
    assert results["gru"]["loss"] > 0.9 * math.log(2)  # no better than the input-blind guess
    assert results["gru"]["accuracy"] < 0.65
