"""Gradient through time: the profiles equal hand-written backpropagation through time."""

import glob

import keras
import numpy as np
import pytest
import tensorflow as tf

from training.instruments import (
    GradientThroughTime,
    ThroughTimeProbe,
    gradient_through_time,
    read_through_time,
    summarize_profile,
)

VOCAB, TIME, DIM, UNITS, CLASSES = 7, 12, 4, 5, 3
_CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _ids(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, VOCAB, (n, TIME)).astype("int32")


def _labels(shape, seed=1):
    return np.random.default_rng(seed).integers(0, CLASSES, shape).astype("int32")


def _mean_norms(gradient):
    """Mean over the batch of the per-example, per-step norms: (batch, time, features) -> (time,)."""
    return np.linalg.norm(np.asarray(gradient, dtype=np.float64), axis=-1).mean(axis=0)


def _functional(recurrent, loss=_CE):
    ids = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, DIM, name="embedding")(ids)
    x = recurrent(x)
    model = keras.Model(ids, keras.layers.Dense(CLASSES, name="head")(x))
    model.compile(keras.optimizers.SGD(0.1), loss)
    return model


def test_simple_rnn_profiles_equal_hand_written_bptt():
    model = _functional(keras.layers.SimpleRNN(UNITS, name="rnn"))
    ids, labels = _ids(), _labels((6,))
    kernel, recurrent_kernel, bias = model.get_layer("rnn").get_weights()
    head = model.get_layer("head")

    # The recurrence written out, every x_t and h_t a tensor of its own.
    x = tf.constant(model.get_layer("embedding")(ids))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = tf.zeros((6, UNITS))
        states = []
        for t in range(TIME):
            h = tf.tanh(x[:, t] @ kernel + h @ recurrent_kernel + bias)
            states.append(h)
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, head(h), from_logits=True))
    d_x = tape.gradient(loss, x)
    d_h = tf.stack(tape.gradient(loss, states), axis=1)

    profiles = ThroughTimeProbe(model)(ids, labels)
    assert sorted(profiles) == ["embedding", "state"]
    np.testing.assert_allclose(profiles["embedding"], _mean_norms(d_x), rtol=1e-5)
    np.testing.assert_allclose(profiles["state"], _mean_norms(d_h), rtol=1e-5)
    assert profiles["state"].shape == (TIME,)


def test_lstm_per_step_profiles_equal_hand_written_bptt():
    """Per-step logits: only the loss of the last step is differentiated; the state probe sees h."""
    model = _functional(keras.layers.LSTM(UNITS, return_sequences=True, name="rnn"))
    ids, labels = _ids(), _labels((6, TIME))
    kernel, recurrent_kernel, bias = model.get_layer("rnn").get_weights()
    head = model.get_layer("head")

    x = tf.constant(model.get_layer("embedding")(ids))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h = c = tf.zeros((6, UNITS))
        states = []
        for t in range(TIME):
            gates = x[:, t] @ kernel + h @ recurrent_kernel + bias
            i, f, g, o = tf.split(gates, 4, axis=-1)  # Keras's gate order
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            states.append(h)
        last_logits = head(h)  # the output at step T
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels[:, -1], last_logits, from_logits=True))
    d_x = tape.gradient(loss, x)
    d_h = tf.stack(tape.gradient(loss, states), axis=1)

    profiles = ThroughTimeProbe(model)(ids, labels)
    np.testing.assert_allclose(profiles["embedding"], _mean_norms(d_x), rtol=1e-5)
    np.testing.assert_allclose(profiles["state"], _mean_norms(d_h), rtol=1e-5)
    # The gradient w.r.t. the layer's *output* at t < T would be zero here (the head reads each step
    # separately); the state probe follows the recurrence instead.
    assert np.all(profiles["state"][:-1] > 0)


def test_bidirectional_shows_both_directions():
    layer = keras.layers.Bidirectional(keras.layers.SimpleRNN(UNITS), name="bi")
    model = _functional(layer)
    ids, labels = _ids(), _labels((6,))
    fw = layer.forward_layer.cell
    bw = layer.backward_layer.cell
    head = model.get_layer("head")

    x = tf.constant(model.get_layer("embedding")(ids))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        h_f, h_b = tf.zeros((6, UNITS)), tf.zeros((6, UNITS))
        forward, backward = [], [None] * TIME
        for t in range(TIME):
            h_f = tf.tanh(x[:, t] @ fw.kernel + h_f @ fw.recurrent_kernel + fw.bias)
            forward.append(h_f)
        for t in reversed(range(TIME)):  # the backward layer reads x_T first and ends after x_1
            h_b = tf.tanh(x[:, t] @ bw.kernel + h_b @ bw.recurrent_kernel + bw.bias)
            backward[t] = h_b
        logits = head(tf.concat([h_f, h_b], axis=-1))
        loss = tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
    profiles = ThroughTimeProbe(model)(ids, labels)
    assert sorted(profiles) == ["embedding", "state_backward", "state_forward"]
    np.testing.assert_allclose(profiles["embedding"], _mean_norms(tape.gradient(loss, x)), rtol=1e-5)
    np.testing.assert_allclose(
        profiles["state_forward"], _mean_norms(tf.stack(tape.gradient(loss, forward), 1)), rtol=1e-5
    )
    np.testing.assert_allclose(
        profiles["state_backward"], _mean_norms(tf.stack(tape.gradient(loss, backward), 1)), rtol=1e-5
    )
    # The forward state matters most at the end, the backward one at the start.
    assert profiles["state_forward"][-1] > profiles["state_forward"][0]
    assert profiles["state_backward"][0] > profiles["state_backward"][-1]


def test_attention_and_last_value_models_get_the_embedding_profile():
    ids_in = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 8, name="embedding")(ids_in)
    attention = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")
    x = keras.layers.LayerNormalization()(x + attention(x, x, use_causal_mask=True))
    value = keras.layers.Dense(1, name="value")(x[:, -1])  # last_value: (batch, 1)
    model = keras.Model(ids_in, value)
    model.compile("sgd", "mse")
    ids = _ids()
    targets = np.random.default_rng(3).normal(size=(6,)).astype("float32")

    probe = ThroughTimeProbe(model)
    assert probe.names == ["embedding"] and "recurrent" in probe.unavailable["state"]
    x0 = tf.constant(model.get_layer("embedding")(ids))
    with tf.GradientTape() as tape:
        tape.watch(x0)
        h = model.layers[3](x0 + attention(x0, x0, use_causal_mask=True))  # the same layers, called by hand
        loss = tf.reduce_sum(tf.square(model.get_layer("value")(h[:, -1])[:, 0] - targets))
    np.testing.assert_allclose(probe(ids, targets)["embedding"], _mean_norms(tape.gradient(loss, x0)), rtol=1e-5)

    with pytest.raises(ValueError, match="probe 'state' is not available"):
        gradient_through_time(model, ids, targets, probe="state")


def test_summarize_profile_reads_decades_and_the_lag_of_a_millionfold_fall():
    lags = np.arange(30)[::-1]  # index t-1 -> lag T - t
    summary = summarize_profile(10.0 ** (-0.5 * lags))
    assert summary["decay_decades_per_step"] == pytest.approx(0.5)
    assert summary["lag_1e6"] == 12
    flat = summarize_profile(np.full(30, 3.0))
    assert flat["decay_decades_per_step"] == pytest.approx(0.0, abs=1e-12) and flat["lag_1e6"] is None


def test_callback_rows_files_logs_and_tensorboard(tmp_path):
    model = _functional(keras.layers.GRU(UNITS, name="rnn"))
    probe_ids, probe_labels = _ids(4, seed=5), _labels((4,), seed=6)
    at_start = gradient_through_time(model, probe_ids, probe_labels)
    x, y = _ids(24, seed=7), _labels((24,), seed=8)
    callback = GradientThroughTime(probe_ids, probe_labels, run_dir=tmp_path, every_n_steps=2, every_n_epochs=None)
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[callback])

    assert callback.steps == [0, 2, 4, 6]
    saved = read_through_time(tmp_path)
    assert saved["steps"].tolist() == [0, 2, 4, 6] and saved["embedding"].shape == (4, TIME)
    assert saved["state"].shape == (4, TIME) and saved["lag"].tolist() == list(range(TIME - 1, -1, -1))
    np.testing.assert_allclose(saved["embedding"][0], at_start, rtol=1e-6)
    assert not np.allclose(saved["embedding"][-1], at_start, rtol=1e-3)  # training moved it
    assert "gtt_decay/embedding" in history.history and "gtt_lag_1e6/state" in history.history

    import pandas as pd

    table = pd.read_csv(tmp_path / "gradient_through_time.csv")
    assert len(table) == 8 and set(table["probe"]) == {"embedding", "state"}
    steps = set()
    for path in glob.glob(str(tmp_path / "tensorboard" / "through_time" / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            steps.update(event.step for value in event.summary.value if value.tag == "gtt_decay/embedding")
    assert steps == {0, 2, 4, 6}
    # Splitting the model for the probes left the saved model plain.
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_unusable_models_and_arguments_are_refused_clearly():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.embedding = keras.layers.Embedding(VOCAB, DIM)
            self.rnn = keras.layers.SimpleRNN(UNITS)

        def call(self, ids):
            return self.rnn(self.embedding(ids))

    model = Subclassed()
    model(_ids())
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="functional API"):
        ThroughTimeProbe(model)
    with pytest.raises(ValueError, match="every_n_steps must be None or a positive integer"):
        GradientThroughTime(_ids(), _labels((6,)), every_n_steps=0)
    with pytest.raises(ValueError, match=r"shape \(batch, time\)"):
        GradientThroughTime(_ids()[0], _labels((6,)))
