"""Reusing traced models across the runs of one process (training.core.reuse): a run that adopts an
earlier run's traced model must train exactly as its own freshly built model would."""

import csv
import pathlib

import keras
import numpy as np

from training.core import reuse
from training.instruments.memo import memo
from training.core.build import build_model, compile_model, load_data, seed_everything
from training.core.config import RunConfig
from training.core.loop import train

BASE = dict(
    model="lstm",
    task="recall",
    task_params={"gap": 6, "num_keys": 4, "eval_size": 64},
    units=8,
    batch_size=16,
    epochs=2,
    steps_per_epoch=4,
    learning_rate=1e-2,
    record_gradients=False,
    through_time_every=4,
    curve_every=4,
    curve_examples=32,
    theory=True,
    validation_steps=0,
)


def config(**overrides):
    return RunConfig(**{**BASE, **overrides})


def fresh_model(cfg):
    seed_everything(cfg.seed)
    data, spec = load_data(cfg)
    model, _ = build_model(cfg, spec)
    compile_model(model, spec, cfg)
    return model


def numbers(run_dir):
    """Everything a run measured, without wall times."""
    run_dir = pathlib.Path(run_dir)
    out = {}
    for name in ("history.csv", "curve.csv", "gradients.csv"):
        if (run_dir / name).exists():
            with open(run_dir / name, newline="") as f:
                out[name] = [{k: v for k, v in row.items() if "second" not in k and "tokens_per" not in k}
                             for row in csv.DictReader(f)]
    if (run_dir / "gradient_through_time.npz").exists():
        with np.load(run_dir / "gradient_through_time.npz") as z:
            out["through_time"] = {k: z[k].tolist() for k in z.files}
    model = keras.models.load_model(run_dir / "model.keras")
    out["weights"] = [w.tolist() for w in model.get_weights()]
    return out


def test_the_key_ignores_seeds_initializers_and_names_and_sees_the_graph():
    key = lambda **o: reuse.architecture_key(fresh_model(config(**o)))  # noqa: E731
    base = key()
    keras.backend.clear_session()
    assert key(seed=3) == base
    assert key(model_params={"recurrent_initializer": "glorot_uniform"}) == base
    assert key(model_params={"forget_bias": 3.0}) == base
    # (no clear_session: layer names now differ, lstm_1 ...)
    assert key(seed=1) == base
    assert reuse.architecture_key(fresh_model(config()), inputs="(20,)") != reuse.architecture_key(
        fresh_model(config()), inputs="(22,)")
    for different in (dict(units=9), dict(learning_rate=1e-3), dict(global_clipnorm=1.0), dict(optimizer="sgd"),
                      dict(model="gru"), dict(task="adding", task_params={"length": 6, "eval_size": 64})):
        assert key(**different) != base, different


def test_a_reused_model_trains_bit_for_bit_as_a_fresh_one(tmp_path):
    """Run 1 is traced; runs 2 (another seed and initializer) and 3 (gradients recorded: the recorder traces
    its own step) and 4 (plain again, after the recorder's hooks came off) adopt it. Each must give exactly
    the numbers of the same run trained on its own model: losses, learning curve, through-time profiles,
    step gradients, final weights."""
    cache, splits = reuse.TracedModels(), reuse.EvalSplits()
    runs = [
        config(seed=0, run_name="r1"),
        config(seed=1, model_params={"recurrent_initializer": "glorot_uniform"}, run_name="r2"),
        config(seed=2, record_gradients=True, tensorboard=False, run_name="r3"),  # as in a sweep: no histograms
        config(seed=3, model_params={"forget_bias": 3.0}, run_name="r4"),
        config(seed=4, record_gradients=True, tensorboard=False, run_name="r5"),  # takes r3's traced step
    ]
    reused = []
    for cfg in runs:
        keras.backend.clear_session()
        result = train(cfg, root=tmp_path / "reused", verbose=0, traced_models=cache, eval_data=splits)
        assert result["status"] == "finished"
        reused.append(result)
    assert (cache.hits, cache.misses) == (4, 1)
    assert (splits.hits, splits.misses) == (8, 2)  # validation and test built by run 1, kept for runs 2-5
    model = next(iter(cache._models.values()))
    kept = [v for k, v in model.__dict__["_rnn_zoo_memo"].items() if k[0] == "gradient_recorder_step"]
    assert len(kept) == 1 and "function" in kept[0]
    for cfg, got in zip(runs[1:], reused[1:]):
        keras.backend.clear_session()
        alone = train(cfg, root=tmp_path / "alone", verbose=0)
        assert got["test"] == alone["test"], cfg.run_name
        assert got["theory"] == alone["theory"], cfg.run_name
        assert got["hidden_state_norm"] == alone["hidden_state_norm"], cfg.run_name
        assert got["test_examples"] == alone["test_examples"], cfg.run_name  # the same examples, in order
        mine, theirs = numbers(got["run_dir"]), numbers(alone["run_dir"])
        assert mine.keys() == theirs.keys() and "through_time" in mine and "curve.csv" in mine
        for name in mine:
            assert mine[name] == theirs[name], (cfg.run_name, name)
    assert "gradients.csv" in numbers(reused[2]["run_dir"]) and "gradients.csv" in numbers(reused[4]["run_dir"])


def test_a_different_architecture_is_a_new_entry_and_the_oldest_is_dropped():
    cache = reuse.TracedModels(capacity=2)
    models = [fresh_model(config(units=u)) for u in (4, 5, 6)]
    assert [cache.adopt(m) is m for m in models] == [True, True, True]
    assert cache.misses == 3 and cache.hits == 0
    assert len(cache._models) == 2


def test_an_untrained_entry_is_replaced_not_used():
    """A traced model whose run died before its first step has no optimizer state to reset."""
    cache = reuse.TracedModels()
    first = fresh_model(config())
    assert cache.adopt(first) is first
    second = fresh_model(config(seed=1))
    assert cache.adopt(second) is second and cache.hits == 0


def test_memo_keeps_one_object_per_model_and_key():
    model = fresh_model(config())
    made = []
    make = lambda: made.append(1) or object()  # noqa: E731
    assert memo(model, "k", make) is memo(model, "k", make)
    assert memo(model, "other", make) is not memo(model, "k", make)
    assert len(made) == 2
    assert memo(fresh_model(config()), "k", make) is not memo(model, "k", make)
    assert len(made) == 3


def test_eval_splits_keep_validation_and_test_never_the_training_stream():
    splits = reuse.EvalSplits(capacity=2)
    made = []
    make = lambda: made.append(1) or (object(), "spec")  # noqa: E731
    first = splits.get("recall", {"gap": 6}, "test", 16, make)
    assert splits.get("recall", {"gap": 6}, "test", 16, make) is first
    assert splits.get("recall", {"gap": 7}, "test", 16, make) is not first  # other parameters
    assert splits.get("recall", {"gap": 6}, "test", 32, make) is not first  # another batch size
    assert splits.get("recall", {"gap": 6}, "train", 16, make) is not splits.get("recall", {"gap": 6}, "train", 16, make)
    assert len(made) == 5 and len(splits._datasets) == 2  # the oldest dropped


def test_the_cached_splits_give_the_examples_of_a_fresh_pipeline():
    """Whichever seed asks first, a kept validation or test set holds the examples a run of another seed
    would have built for itself (the task's contract: they do not depend on the seed)."""
    splits = reuse.EvalSplits()
    kept, _ = load_data(config(seed=5), splits=("validation", "test"), cache=splits)
    again, _ = load_data(config(seed=1), splits=("validation", "test"), cache=splits)
    fresh, _ = load_data(config(seed=1), splits=("validation", "test"))
    assert again["test"] is kept["test"] and splits.hits == 2
    for split in ("validation", "test"):
        ours = [b[0].numpy().tolist() for b in kept[split]]
        theirs = [b[0].numpy().tolist() for b in fresh[split]]
        assert ours == theirs and len(ours) > 1, split


def test_traced_measurements_reused_on_the_same_model_give_the_eager_numbers():
    """The hidden-state norm and the theory keep one traced function per model (and layer): called again on
    the same model they reuse it, and their numbers are those of an eager pass and a fresh model's."""
    from training.core import diagnostics
    from zoo.dynamics import layer_inputs, recurrent_jacobian_theory

    cfg = config()
    model = fresh_model(cfg)
    ids = np.random.default_rng(0).integers(0, 4, (8, 10)).astype("int32")
    layer = next(l for l in model.layers if isinstance(l, keras.layers.RNN))
    eager = np.asarray(keras.Model(model.inputs, layer.output)([ids]), np.float64)
    norms = np.linalg.norm(eager.reshape(-1, eager.shape[-1]), axis=-1)
    first = diagnostics.hidden_state_norms(model, ids)
    assert diagnostics.layer_output_function(model, layer) is diagnostics.layer_output_function(model, layer)
    assert first["max"] == float(norms.max()) and first["median"] == float(np.median(norms))
    assert diagnostics.hidden_state_norms(model, ids) == first
    np.testing.assert_array_equal(np.asarray(layer_inputs(model, layer, ids)),
                                  np.asarray(keras.Model(model.inputs, layer.input)([ids])))
    theory = recurrent_jacobian_theory(model, ids)
    assert recurrent_jacobian_theory(model, ids) == theory
    assert recurrent_jacobian_theory(fresh_model(cfg), ids) == theory  # same seed, same weights, a new trace


def test_what_runs_take_from_a_kept_split_is_taken_once_and_dropped_with_it():
    splits = reuse.EvalSplits(capacity=1)
    data, _ = load_data(config(), splits=("validation",), cache=splits)
    made = []
    make = lambda: made.append(1) or [np.arange(3)]  # noqa: E731
    first = splits.taken(data["validation"], ("curve", 32), make)
    assert splits.taken(data["validation"], ("curve", 32), make) is first and len(made) == 1
    assert splits.taken(data["validation"], ("probe", 8), make) is not first and len(made) == 2
    stream, _ = load_data(config(), splits=("train",), cache=splits)
    splits.taken(stream["train"], ("curve", 32), make)
    splits.taken(stream["train"], ("curve", 32), make)
    assert len(made) == 4  # a training stream is never kept
    load_data(config(), splits=("test",), cache=splits)  # capacity 1: the validation set is dropped
    splits.taken(data["validation"], ("curve", 32), make)
    assert len(made) == 5
