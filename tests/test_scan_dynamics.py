"""The parallel-scan cells (zoo/scan.py) under the gradient instruments and beside their theory: the
through-time state probe equals hand-written BPTT through their steps, the parallel path's gradient is
accurate at every lag, and zoo.dynamics predicts the measured decay from the gate (1 - z) or max|lambda|."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from training.instruments import ThroughTimeProbe
from zoo import dynamics
from zoo.scan import LRU, MinGRU, MinLSTM

VOCAB, DIM, UNITS, CLASSES = 11, 6, 5, 3
LAYERS = {"min_gru": MinGRU, "min_lstm": MinLSTM, "lru": LRU}
_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(time, batch=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, VOCAB, (batch, time)).astype("int32"),
            rng.integers(0, CLASSES, batch).astype("int32"))


def _mean_norms(gradient):
    """(batch, time, features), or a list over time of (batch, features) -> the mean norm per step (time,)."""
    if isinstance(gradient, list):
        gradient = tf.stack(gradient, axis=1)
    return np.linalg.norm(np.asarray(gradient, np.float64), axis=-1).mean(axis=0)


def _run_steps(layer, x, backwards=False):
    """The layer written out one step at a time from its `step`: the list of states (in the order of x)
    and the output after the last step it reads."""
    batch, time = x.shape[0], x.shape[1]
    state = tf.zeros((batch, layer.state_width))
    states = [None] * time
    order = reversed(range(time)) if backwards else range(time)
    for t in order:
        state = layer.step(x[:, t], state)
        states[t] = state
        last_t = t
    if isinstance(layer, LRU):
        h = tf.complex(state[:, : layer.units], state[:, layer.units:])
        return states, layer.readout(h[:, None], x[:, last_t][:, None])[:, 0]
    return states, state


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_state_probe_of_a_scan_layer_equals_hand_written_bptt(name, bidirectional):
    keras.utils.set_random_seed(0)
    time = 10
    recurrent = LAYERS[name](UNITS, name="rnn")
    if bidirectional:
        recurrent = keras.layers.Bidirectional(recurrent, name="rnn")
    ids = keras.Input((time,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, DIM, embeddings_initializer=keras.initializers.RandomNormal(stddev=1.0),
                               name="embedding")(ids)
    model = keras.Model(ids, keras.layers.Dense(CLASSES, name="head")(recurrent(x)))
    model.compile("sgd", _CE)
    tokens, labels = _data(time)
    x = tf.constant(model.get_layer("embedding")(tokens))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        if bidirectional:
            forward, y_f = _run_steps(recurrent.forward_layer, x)
            backward, y_b = _run_steps(recurrent.backward_layer, x, backwards=True)
            y = tf.concat([y_f, y_b], axis=-1)
        else:
            forward, y = _run_steps(recurrent, x)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, model.get_layer("head")(y),
                                                                            from_logits=True))
    profiles = ThroughTimeProbe(model)(tokens, labels)
    np.testing.assert_allclose(profiles["embedding"], _mean_norms(tape.gradient(loss, x)), rtol=1e-4)
    if bidirectional:
        assert sorted(profiles) == ["embedding", "state_backward", "state_forward"]
        np.testing.assert_allclose(profiles["state_forward"], _mean_norms(tape.gradient(loss, forward)), rtol=1e-4)
        np.testing.assert_allclose(profiles["state_backward"], _mean_norms(tape.gradient(loss, backward)), rtol=1e-4)
    else:
        assert sorted(profiles) == ["embedding", "state"]
        np.testing.assert_allclose(profiles["state"], _mean_norms(tape.gradient(loss, forward)), rtol=1e-4)
        assert np.all(profiles["state"][:-1] < profiles["state"][1:])  # |a_t| < 1: it shrinks going back


@pytest.mark.parametrize("layer_class", [MinGRU, MinLSTM])
def test_the_log_space_scan_gradient_is_accurate_at_every_lag(layer_class):
    """Differentiating the log-space formula would leave every gradient more than ~1e-7 below the
    largest as float32 rounding noise; the written-out backward scan keeps each lag to its own precision."""
    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 60, 4)).astype("float32"))
    gradients = []
    for scan in ("parallel", "sequential"):
        layer = layer_class(6, scan=scan)
        layer.build(x.shape)
        if gradients:
            layer.set_weights(weights)
        weights = layer.get_weights()
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x))  # the state after the last step
        gradients.append(np.linalg.norm(tape.gradient(y, x).numpy(), axis=-1))  # (batch, time)
    parallel, sequential = gradients
    assert sequential[:, 0].max() < 1e-10 * sequential[:, -1].min()  # lags reach far below 1e-7
    np.testing.assert_allclose(parallel, sequential, rtol=1e-3)


def _measured_decay(profile, first_lag):
    """Decades per step of lag of a profile, fitted from `first_lag` on (where the slowest unit carries it)."""
    by_lag = np.asarray(profile, np.float64)[::-1]
    lags = np.arange(by_lag.size)
    return float(-np.polyfit(lags[first_lag:], np.log10(by_lag[first_lag:]), 1)[0])


CASES = {
    "min_gru, update bias -1": ("min_gru", {"update_bias": -1.0}),
    "min_lstm, forget bias 1.5": ("min_lstm", {"forget_bias": 1.5}),
    "lru, ring 0.7-0.8": ("lru", {"r_min": 0.7, "r_max": 0.8}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_theory_predicts_the_measured_decay_of_an_untrained_model(case):
    name, kwargs = CASES[case]
    time, tolerance = 64, 0.1
    keras.utils.set_random_seed(0)
    model = zoo.build_model(name, vocabulary_size=VOCAB, output="last_class", num_classes=CLASSES, units=16,
                            sequence_length=time, **kwargs)
    model.compile("sgd", _CE)
    tokens, labels = _data(time, batch=16)
    theory = dynamics.recurrent_jacobian_theory(model, tokens)
    predicted = theory["decay_slowest_decades_per_step"]
    layer = model.get_layer(f"{name}_1")
    if name == "lru":  # set by the weights alone: log10(1 / max|lambda|)
        modulus = np.abs(layer.eigenvalues().numpy())
        assert predicted == pytest.approx(-math.log10(modulus.max()), rel=1e-5)
        wrong = {"min|lambda|": -math.log10(modulus.min()), "|lambda|^2": -2 * math.log10(modulus.max()),
                 "mean|lambda|": -math.log10(modulus.mean())}
    else:  # the log-mean of the retention (1 - z, or f') over these tokens, unit by unit
        retention = layer.retention(dynamics.layer_inputs(model, layer, tokens)).numpy()
        assert predicted == pytest.approx(-np.log10(retention).mean(axis=(0, 1)).max(), rel=1e-5)
        wrong = {"the write gate z (or i')": -math.log10(1 - theory["retention_mean"]),
                 "(1 - z)^2": 2 * predicted, "sqrt(1 - z)": predicted / 2}
    profiles = ThroughTimeProbe(model)(tokens, labels)
    for probe in ("state", "embedding"):
        measured = _measured_decay(profiles[probe], first_lag=time // 4)
        assert abs(measured - predicted) <= tolerance * predicted, (probe, measured, predicted)
        for formula, value in wrong.items():  # the tolerance is tight enough to tell them apart
            assert abs(measured - value) > tolerance * predicted, (probe, formula, measured, value)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_the_declared_retention_is_the_jacobian_of_the_step(name):
    """The theory read from |a_t| equals the one differentiated from the step (zoo.dynamics' general path)."""
    keras.utils.set_random_seed(2)
    model = zoo.build_model(name, vocabulary_size=VOCAB, output="per_step", units=6)
    tokens, _ = _data(9, batch=3)
    read = dynamics.recurrent_jacobian_theory(model, tokens)
    differentiated = dynamics.jacobian_theory(dynamics.state_jacobians(model, tokens))
    for key in ("decay_norm_decades_per_step", "decay_radius_decades_per_step", "spectral_norm", "spectral_radius"):
        assert read[key] == pytest.approx(differentiated[key], rel=1e-4, abs=1e-6), key


def test_the_lru_theory_follows_the_learned_eigenvalues():
    keras.utils.set_random_seed(0)
    model = zoo.build_model("lru", vocabulary_size=VOCAB, output="last_class", num_classes=CLASSES, units=8)
    model.compile(keras.optimizers.Adam(0.05), _CE)
    tokens, labels = _data(20, batch=16)
    layer = model.get_layer("lru_1")

    def theory_and_lambda():
        return (dynamics.recurrent_jacobian_theory(model, tokens)["decay_slowest_decades_per_step"],
                -math.log10(np.abs(layer.eigenvalues().numpy()).max()))

    before, lambda_before = theory_and_lambda()
    model.fit(tokens, labels, epochs=5, batch_size=16, verbose=0)
    after, lambda_after = theory_and_lambda()
    assert before == pytest.approx(lambda_before, rel=1e-5) and after == pytest.approx(lambda_after, rel=1e-5)
    assert abs(after - before) > 0.01 * before  # training moved |lambda|, and the theory with it


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_registered_model_has_a_theory_or_none(name):
    """What a report may call for any model: a dict of finite decays, or None (no unidirectional layer
    that declares its step: attention, the bidirectional models)."""
    model = zoo.build_model(name, vocabulary_size=VOCAB, output="last_class", num_classes=CLASSES, units=4,
                            sequence_length=8)
    theory = dynamics.recurrent_jacobian_theory(model, _data(8, batch=2)[0])
    info = zoo.get_model_info(name)
    assert (theory is None) == (info.family != "recurrent" or info.reads_future({}))
    if theory is not None:
        assert math.isfinite(theory["decay_radius_decades_per_step"])
