"""training.core.diagnostics: per-example evaluation that reproduces Keras's numbers, the learning curve,
divergence on NaN without gradient recording, and the degenerate verdict."""

import math

import keras
import numpy as np
import pytest

import datasets
import zoo
from training.core import diagnostics as D


def _model(task, **params):
    keras.utils.set_random_seed(0)
    ds, spec = datasets.load_task(task, "test", 32, **params)
    model = zoo.build_model("gru", **spec.model_kwargs(), units=8)
    if spec.output == "last_value":
        loss, metrics = keras.losses.MeanSquaredError(), [keras.metrics.MeanSquaredError(name="mse")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    model.compile(optimizer="adam", loss=loss, weighted_metrics=metrics)
    return model, ds, spec


@pytest.mark.parametrize("task,params", [
    ("recall", {"gap": 5, "eval_size": 100}),
    ("adding", {"length": 10, "eval_size": 100}),
    ("future_cloze", {"length": 10, "distance": 3, "eval_size": 100}),
    ("copy_memory", {"delay": 5, "eval_size": 100}),
])
def test_per_example_sums_give_keras_numbers(task, params):
    model, ds, spec = _model(task, **params)
    result = D.evaluate_examples(model, ds, spec.output)
    keras_numbers = model.evaluate(ds, verbose=0, return_dict=True)
    assert len(result["loss"]) == 100
    assert result["metrics"]["loss"] == pytest.approx(keras_numbers["loss"], rel=1e-4)
    if spec.output == "last_value":
        assert result["correct"] is None
    else:
        assert result["metrics"]["accuracy"] == pytest.approx(keras_numbers["accuracy"], abs=1e-6)
        scored = {"future_cloze": 1, "copy_memory": spec.sequence_length}.get(task, 1)
        assert (result["count"] == scored).all()
    again = D.evaluate_examples(model, ds, spec.output)
    assert again["eval_set"] == result["eval_set"]


def test_learning_curve_and_guard_during_fit():
    model, _, spec = _model("recall", gap=5, eval_size=100)
    train, _ = datasets.load_task("recall", "train", 32, gap=5, eval_size=100)
    validation, _ = datasets.load_task("recall", "validation", 32, gap=5, eval_size=100)
    curve = D.LearningCurve(D.curve_batches(validation, 64, 32), spec.output, every=4, total_steps=10)
    guard = D.NonFiniteGuard()
    model.fit(train, epochs=1, steps_per_epoch=10, verbose=0, callbacks=[curve, guard])
    assert [r["step"] for r in curve.rows] == [0, 4, 8, 10]
    assert not any("loss" in r for r in curve.rows)  # no step losses without a GradientRecorder
    assert all(0 <= r["val_accuracy"] <= 1 for r in curve.rows) and not guard.diverged


def test_nan_weights_are_divergence_without_gradient_recording():
    model, _, _ = _model("recall", gap=5, eval_size=100)
    train, _ = datasets.load_task("recall", "train", 32, gap=5, eval_size=100)
    guard = D.NonFiniteGuard()
    model.optimizer.learning_rate.assign(float("nan"))
    model.fit(train, epochs=1, steps_per_epoch=5, verbose=0, callbacks=[guard])
    assert guard.diverged and guard.diverged_step == 2  # step 1's loss is finite; its update is not
    assert "training loss nan" in guard.divergence_cause
    # weights that are not finite while the loss is: the <pad> row of the embedding (recall never feeds it)
    model, _, _ = _model("recall", gap=5, eval_size=100)
    table = model.get_layer("embedding").embeddings
    table.assign(np.where(np.arange(table.shape[0])[:, None] == 0, np.nan, table.numpy()))
    guard = D.NonFiniteGuard()
    model.fit(train, epochs=1, steps_per_epoch=3, verbose=0, callbacks=[guard])
    assert guard.diverged and guard.diverged_step == 3 and "embedding" in guard.divergence_cause


def test_degenerate_verdicts():
    hidden = {"max": 3.1e14, "median": 1e13}
    verdict = D.degenerate({"loss": 0.0, "accuracy": 1.0}, math.log(8), 0.0, hidden, 24, 60)
    assert verdict["flag"] and "3.1e+14" in verdict["reason"] and "exactly 0" in verdict["reason"]
    assert "from step 24" in verdict["reason"]
    assert D.degenerate({"loss": 0.05}, math.log(8), 3.4e6, {"max": 20.0}, None, 60)["flag"]
    assert not D.degenerate({"loss": 0.05}, math.log(8), 0.04, {"max": 20.0}, None, 60)["flag"]


def test_hidden_norm_and_still_falling():
    keras.utils.set_random_seed(0)
    model = zoo.build_model("irnn", vocabulary_size=5, output="last_class", num_classes=3, units=8, recurrent_gain=2.0)
    tokens = np.ones((4, 40), "int32")
    assert D.hidden_state_norms(model, tokens)["max"] > 1e6  # gain 2 ReLU: doubles every step
    attention = zoo.build_model("self_attention", vocabulary_size=5, output="last_class", num_classes=3, units=8)
    assert D.hidden_state_norms(attention, tokens) is None
    steps = np.arange(0, 100, 10)
    assert D.still_falling(steps, 2.0 - steps / 100)["still_falling"]
    assert not D.still_falling(steps, np.r_[2.0, 1.0, np.full(8, 0.5)])["still_falling"]


def test_the_training_loss_at_the_end_is_read_from_the_last_steps_not_a_one_epoch_mean():
    from types import SimpleNamespace

    from training.core.loop import final_training_loss

    one_epoch = SimpleNamespace(epochs=1)
    # an IRNN that exploded early (1e9) and recovered: its epoch mean is huge, its end is not
    records = [{"step_loss": 1e9}] * 20 + [{"step_loss": v} for v in (0.3, 0.2, 0.01, 0.012, 0.011, 0.009, 0.01,
                                                                          0.013, 0.01, 0.011)]
    history = [{"loss": 3.3e8}]
    assert final_training_loss(SimpleNamespace(records=records), None, history, one_epoch) == pytest.approx(0.011)
    assert final_training_loss(SimpleNamespace(records=records + [{"step_loss": float("nan")}]), None, history,
                               one_epoch) == float("inf")
    curve = SimpleNamespace(rows=[{"step": 100, "val_loss": 0.5, "loss": 0.02}])
    assert final_training_loss(None, curve, history, one_epoch) == 0.02
    assert final_training_loss(None, None, history, one_epoch) is None  # the mean of the whole run says nothing
    assert final_training_loss(None, None, history, SimpleNamespace(epochs=5)) == 3.3e8
