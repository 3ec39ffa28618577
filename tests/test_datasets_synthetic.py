"""The synthetic tasks: shapes, determinism, held-out splits, chance baselines by brute force, labels."""

import hashlib
import math
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest

import datasets
from datasets import synthetic

# Small instances (short sequences, small held-out sets) so that every test takes well under a second.
SMALL = {
    "recall": {"gap": 6},
    "copy_memory": {"delay": 5},
    "adding": {"length": 10},
    "temporal_order": {"length": 12},
    "future_cloze": {"length": 10, "distance": 3},
}
for params in SMALL.values():
    params["eval_size"] = 200
TASKS = sorted(SMALL)


def examples(ds, count=None):
    """The first `count` examples of a batched dataset as a tuple of numpy arrays."""
    parts, seen = [], 0
    for batch in ds:
        parts.append([np.asarray(x) for x in batch])
        seen += parts[-1][0].shape[0]
        if count is not None and seen >= count:
            break
    return tuple(np.concatenate(column)[:count] for column in zip(*parts))


def load(name, split="train", batch_size=32, seed=0, **overrides):
    return datasets.load_task(name, split=split, batch_size=batch_size, seed=seed, **{**SMALL[name], **overrides})


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("split", ["train", "validation"])
def test_shapes_and_dtypes_match_the_spec(name, split):
    ds, spec = load(name, split, batch_size=16)
    batch = [np.asarray(x) for x in next(iter(ds))]
    inputs, targets = batch[0], batch[1]
    assert len(batch) == (3 if spec.sample_weighted else 2)
    assert inputs.dtype == np.int32 and inputs.shape == (16, spec.sequence_length)
    assert 0 <= inputs.min() and inputs.max() < spec.vocabulary_size
    if spec.output == "last_class":
        assert targets.dtype == np.int32 and targets.shape == (16,)
        assert 0 <= targets.min() and targets.max() < spec.num_classes
    elif spec.output == "per_step":
        assert targets.dtype == np.int32 and targets.shape == (16, spec.sequence_length)
        assert 0 <= targets.min() and targets.max() < spec.num_classes
    else:
        assert targets.dtype == np.float32 and targets.shape == (16, 1) and spec.num_classes == 1
    if spec.sample_weighted:
        assert batch[2].dtype == np.float32 and batch[2].shape == (16, spec.sequence_length)
    assert ds.element_spec[0].shape[-1] == spec.sequence_length


@pytest.mark.parametrize("name", TASKS)
def test_same_seed_same_examples_and_held_out_sets_ignore_the_seed(name):
    first = examples(load(name, seed=5)[0], 96)
    again = examples(load(name, seed=5)[0], 96)
    other = examples(load(name, seed=6)[0], 96)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])
    validation = examples(load(name, "validation", seed=5)[0])
    assert validation[0].shape[0] == SMALL[name]["eval_size"]
    for a, b in zip(validation, examples(load(name, "validation", seed=6, batch_size=7)[0])):
        np.testing.assert_array_equal(a, b)


def test_the_stream_does_not_depend_on_the_batch_size():
    a = examples(load("recall", batch_size=8)[0], 120)
    b = examples(load("recall", batch_size=40)[0], 120)
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("name", TASKS)
def test_validation_and_test_are_never_drawn_by_training(name):
    rows = lambda a: {r.tobytes() for r in a}  # noqa: E731
    train = rows(examples(load(name, batch_size=256)[0], 4096)[0])
    validation = rows(examples(load(name, "validation")[0])[0])
    test = rows(examples(load(name, "test")[0])[0])
    assert validation and test
    assert not train & validation and not train & test and not validation & test


def test_held_out_sets_stay_disjoint_where_a_random_split_would_collide():
    # 2 keys x 10^4 gap fillings: 4096 training draws against 200 held-out ones would share ~40
    # sequences if the splits were only different seeds; the content hash leaves none.
    params = {"gap": 4, "num_keys": 2, "num_distractors": 10, "eval_size": 200}
    train = examples(datasets.load_task("recall", batch_size=256, **params)[0], 4096)[0]
    validation = examples(datasets.load_task("recall", "validation", **params)[0])[0]
    train_rows = {r.tobytes() for r in train}
    assert len(train_rows) < len(train)  # the space is small enough for repeats...
    assert not train_rows & {r.tobytes() for r in validation}  # ...yet none of them is held out
    buckets = synthetic.split_of(validation).numpy()
    assert set(buckets) == {0}


def test_same_examples_in_another_process():
    def digest(ds):
        h = hashlib.sha256()
        for batch in ds.take(3):
            for x in batch:
                h.update(np.asarray(x).tobytes())
        return h.hexdigest()

    here = digest(datasets.load_task("future_cloze", batch_size=16, seed=11, length=12)[0])
    here += digest(datasets.load_task("future_cloze", "test", batch_size=16, seed=11, length=12)[0])
    code = (
        "import hashlib, numpy as np, datasets\n"
        "def digest(ds):\n"
        "    h = hashlib.sha256()\n"
        "    for batch in ds.take(3):\n"
        "        for x in batch: h.update(np.asarray(x).tobytes())\n"
        "    return h.hexdigest()\n"
        "print(digest(datasets.load_task('future_cloze', batch_size=16, seed=11, length=12)[0])"
        " + digest(datasets.load_task('future_cloze', 'test', batch_size=16, seed=11, length=12)[0]))\n"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONHASHSEED": "7"}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == here


# ---------------------------------------------------------------------- chance baselines
def entropy(labels, num_classes):
    p = np.bincount(labels.reshape(-1), minlength=num_classes) / labels.size
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


@pytest.mark.parametrize("name", TASKS)
def test_chance_baseline_equals_the_best_input_blind_prediction_on_a_sample(name):
    ds, spec = load(name, batch_size=256, seed=3)
    batch = examples(ds, 8192)
    targets = batch[1]
    if spec.output == "last_value":
        # best constant prediction under MSE: the sample mean; its loss is the variance
        assert np.var(targets) == pytest.approx(spec.chance_loss, abs=0.008)
        return
    if spec.output == "last_class":
        # best constant prediction under cross-entropy: the label frequencies; its loss is their entropy
        loss = entropy(targets, spec.num_classes)
        accuracy = np.bincount(targets, minlength=spec.num_classes).max() / len(targets)
    elif not spec.sample_weighted:
        # per step, blind to the input but not to the position: one distribution per step
        loss = np.mean([entropy(targets[:, t], spec.num_classes) for t in range(targets.shape[1])])
        accuracy = np.mean([np.bincount(targets[:, t]).max() / len(targets) for t in range(targets.shape[1])])
    else:
        # only the weighted steps count: the best constant is the answer frequency at the blank;
        # measured with Keras's default loss reduction and the dataset's own weights
        weights = batch[2]
        answers = targets[weights > 0]
        frequencies = np.bincount(answers, minlength=spec.num_classes) / len(answers)
        logits = np.broadcast_to(np.log(frequencies), targets.shape + (spec.num_classes,)).astype("float32")
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        loss = float(loss_fn(targets, logits, sample_weight=weights))
        accuracy = frequencies.max()
        assert np.all((weights > 0).sum(axis=1) == 1)
    assert loss == pytest.approx(spec.chance_loss, abs=0.01)
    assert accuracy == pytest.approx(spec.chance_accuracy, abs=0.02)


@pytest.mark.parametrize("levels", [2, 10, 50])
def test_adding_baseline_is_the_exact_variance_of_two_quantized_values(levels):
    centres = (np.arange(levels) + 0.5) / levels
    sums = centres[:, None] + centres[None, :]  # every pair of levels, equally likely
    exact = float(np.mean((sums - sums.mean()) ** 2))
    assert datasets.get_spec("adding", levels=levels).chance_loss == pytest.approx(exact, rel=1e-12)
    assert datasets.get_spec("adding", levels=10_000).chance_loss == pytest.approx(1 / 6, rel=1e-6)


def test_copy_memory_baseline_is_the_formula_of_the_paper():
    for delay in (1, 100, 500):
        spec = datasets.get_spec("copy_memory", delay=delay)
        assert spec.chance_loss == pytest.approx(10 * math.log(8) / (delay + 20))
        assert spec.sequence_length == delay + 20


# ---------------------------------------------------------------------- labels
def test_recall_target_follows_the_key_and_nothing_else():
    ds, spec = load("recall", batch_size=64)
    task = datasets.get_task("recall")
    p = spec.params
    inputs, targets = examples(ds, 64)
    keys = inputs[:, 0] - 1
    np.testing.assert_array_equal(targets, p["num_keys"] - 1 - keys)
    assert spec.decode(inputs[0]).startswith(f"k{keys[0]} ") and spec.decode(inputs[0]).endswith(" ?")
    flipped = inputs.copy()
    flipped[:, 0] = (keys + 1) % p["num_keys"] + 1  # another key
    assert np.all(np.asarray(task.make_targets(flipped, p)) != targets)
    shuffled = inputs.copy()
    shuffled[:, 1:-1] = shuffled[::-1, 1:-1]  # other distractors, same keys
    np.testing.assert_array_equal(np.asarray(task.make_targets(shuffled, p)), targets)


def test_future_cloze_answer_comes_only_from_the_cue_after_the_blank():
    ds, spec = load("future_cloze", batch_size=64)
    task = datasets.get_task("future_cloze")
    p = spec.params
    inputs, targets, weights = examples(ds, 64)
    first_cue = 2 + p["num_fillers"]
    for x, y, w in zip(inputs, targets, weights):
        blank = int(np.flatnonzero(x == 1)[0])
        assert x[blank + p["distance"]] >= first_cue  # the cue sits `distance` steps after the blank
        assert np.all(x[:blank] < first_cue)  # nothing before the blank is a cue
        assert y[blank] == x[blank + p["distance"]] - first_cue
        assert w[blank] == p["length"] and w.sum() == p["length"]
    before = inputs.copy()
    for x in before:  # new fillers everywhere before the blank
        blank = int(np.flatnonzero(x == 1)[0])
        x[:blank] = 2 + (x[:blank] - 2 + 1) % p["num_fillers"]
    assert not np.array_equal(before, inputs)
    new_targets, new_weights = task.make_targets(before, p)
    np.testing.assert_array_equal(np.asarray(new_targets), targets)
    np.testing.assert_array_equal(np.asarray(new_weights), weights)
    other_cue = np.where(inputs >= first_cue, first_cue + (inputs - first_cue + 1) % p["num_answers"], inputs)
    changed = np.asarray(task.make_targets(other_cue, p)[0])
    assert np.all(changed[weights > 0] != targets[weights > 0])


def test_copy_memory_targets_are_the_first_symbols_after_the_delay():
    ds, spec = load("copy_memory", batch_size=32)
    inputs, targets = examples(ds, 32)
    n, delay = spec.params["num_symbols"], spec.params["delay"]
    np.testing.assert_array_equal(targets[:, -n:], inputs[:, :n])
    assert np.all(targets[:, :-n] == 0)
    assert np.all(inputs[:, n + delay - 1] == spec.vocabulary.index(":"))
    # blanks and the delimiter only after the symbols
    assert set(np.unique(inputs[:, n:])) <= {0, spec.vocabulary.index(":")}


def test_adding_target_is_the_sum_of_the_two_marked_values():
    ds, spec = load("adding", batch_size=64)
    inputs, targets = examples(ds, 64)
    length, levels = spec.params["length"], spec.params["levels"]
    values = np.array([float(spec.vocabulary[t].strip("[]")) for t in inputs.reshape(-1)]).reshape(inputs.shape)
    marked = np.array([spec.vocabulary[t].startswith("[") for t in inputs.reshape(-1)]).reshape(inputs.shape)
    assert np.all(marked[:, : length // 2].sum(1) == 1) and np.all(marked[:, length // 2 :].sum(1) == 1)
    np.testing.assert_allclose(targets[:, 0], (values * marked).sum(1), atol=1e-3)
    task = datasets.get_task("adding")
    unmarked_changed = np.where(marked, inputs, 1 + (inputs - 1 + 1) % levels)
    np.testing.assert_allclose(np.asarray(task.make_targets(unmarked_changed, spec.params)), targets, atol=1e-6)
    marked_changed = np.where(marked, levels + 1 + (inputs - 1 - levels + 1) % levels, inputs)
    assert np.all(np.asarray(task.make_targets(marked_changed, spec.params)) != targets)


def test_temporal_order_class_is_the_order_of_the_two_symbols():
    ds, spec = load("temporal_order", batch_size=64, length=40)
    inputs, targets = examples(ds, 64)
    names = ["XX", "XY", "YX", "YY"]
    for x, y in zip(inputs, targets):
        tokens = [spec.vocabulary[t] for t in x]
        relevant = [(i, t) for i, t in enumerate(tokens) if t in ("X", "Y")]
        assert len(relevant) == 2 and tokens[0] == "B" and tokens[-1] == "E"
        assert 4 <= relevant[0][0] <= 8 and 20 <= relevant[1][0] <= 24  # 10-20% and 50-60% of 40 steps
        assert names[y] == relevant[0][1] + relevant[1][1]
    assert len(set(targets.tolist())) == 4


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "name, params, message",
    [
        ("recall", {"gap": -1}, "gap of task 'recall' must be 0 or more"),
        ("recall", {"gap": 2}, "has only about 512 distinct sequences"),
        ("recall", {"num_keys": 1}, "num_keys of task 'recall' must be at least 2"),
        ("copy_memory", {"delay": 0}, "delay of task 'copy_memory' must be at least 1"),
        ("adding", {"length": 1}, "length of task 'adding' must be at least 2"),
        ("adding", {"levels": 1}, "levels of task 'adding' must be at least 2"),
        ("temporal_order", {"length": 9}, "length of task 'temporal_order' must be at least 10"),
        ("future_cloze", {"length": 5, "distance": 5}, "must exceed distance"),
        ("future_cloze", {"distance": 0}, "distance of task 'future_cloze' must be at least 1"),
        ("recall", {"epoch_size": 0}, "epoch_size of task 'recall' must be positive"),
    ],
)
def test_bad_parameters_are_one_clear_sentence(name, params, message):
    with pytest.raises(ValueError, match=message) as info:
        datasets.load_task(name, **params)
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text
