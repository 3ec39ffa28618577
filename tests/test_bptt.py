"""The written-out BPTT layers (`zoo.bptt`) against Keras's own: same outputs, same gradients, same
weights, same configs; and the options they refuse."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo  # noqa: F401  (registers the layers for safe-mode loading)
from zoo import bptt

PAIRS = {
    "simple_rnn_tanh": (keras.layers.SimpleRNN, bptt.SimpleRNN, {}),
    "simple_rnn_relu": (keras.layers.SimpleRNN, bptt.SimpleRNN, {"activation": "relu"}),
    "lstm": (keras.layers.LSTM, bptt.LSTM, {}),
    "gru": (keras.layers.GRU, bptt.GRU, {}),
}
BATCH, TIME, FEATURES, UNITS = 3, 6, 4, 5


def _inputs(seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(BATCH, TIME, FEATURES)).astype("float32"))


def _pair(name, **options):
    """A Keras layer and its written-out twin holding the same (randomised, nonzero-bias) weights."""
    keras_cls, ours_cls, kwargs = PAIRS[name]
    reference, ours = keras_cls(UNITS, **kwargs, **options), ours_cls(UNITS, **kwargs, **options)
    reference(_inputs()), ours(_inputs())
    rng = np.random.default_rng(1)
    weights = [w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


def _outputs_and_gradients(layer, x, initial_state=None, compiled=False):
    def run(x, initial_state):
        with tf.GradientTape() as tape:
            tape.watch(x)
            if initial_state is not None:
                tape.watch(initial_state)
                out = layer(x, initial_state=initial_state, training=True)
            else:
                out = layer(x, training=True)  # training: the written-out loop (inference runs Keras's)
            out = tf.nest.flatten(out)
            # A loss that weighs every output and state differently, so no gradient is trivially zero.
            loss = sum(tf.reduce_sum(o * tf.reshape(tf.sin(tf.range(tf.size(o), dtype=o.dtype)), o.shape))
                       for o in out)
        sources = [x, *(initial_state or []), *layer.trainable_weights]
        return out, tape.gradient(loss, sources)

    return (tf.function(run) if compiled else run)(x, initial_state)


def _assert_close(reference, ours):
    (out_ref, grads_ref), (out_ours, grads_ours) = reference, ours
    for a, b in zip(out_ref, out_ours):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)
    for a, b in zip(grads_ref, grads_ours):
        a, b = a.numpy(), b.numpy()
        assert np.abs(a).max() > 0
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()


@pytest.mark.parametrize("name", PAIRS)
@pytest.mark.parametrize(
    "options",
    [{"return_sequences": True}, {"return_sequences": False}, {"return_sequences": True, "go_backwards": True}],
    ids=["sequences", "last", "backwards"],
)
def test_outputs_and_gradients_match_keras(name, options):
    reference, ours = _pair(name, **options)
    x = _inputs(2)
    _assert_close(_outputs_and_gradients(reference, x), _outputs_and_gradients(ours, x))


@pytest.mark.parametrize("name", PAIRS)
def test_initial_state_and_return_state_match_keras_in_a_graph(name):
    reference, ours = _pair(name, return_sequences=True, return_state=True)
    states = 2 if name == "lstm" else 1
    initial = [tf.constant(np.random.default_rng(3 + i).normal(size=(BATCH, UNITS)).astype("float32"))
               for i in range(states)]
    x = _inputs(4)
    _assert_close(
        _outputs_and_gradients(reference, x, initial, compiled=True),
        _outputs_and_gradients(ours, x, initial, compiled=True),
    )


def _model(layers, bidirectional=False):
    """Embedding -> stacked recurrent layers (optionally Bidirectional) -> Dense, as the zoo builds them.

    Args: layers: (class, kwargs) per recurrent layer."""
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(7, FEATURES, name="embedding")(tokens)
    for i, (cls, kwargs) in enumerate(layers, 1):
        layer = cls(UNITS, return_sequences=i < len(layers), name=f"rnn_{i}", **kwargs)
        x = (keras.layers.Bidirectional(layer, name=f"bidirectional_{i}") if bidirectional else layer)(x)
    return keras.Model(tokens, keras.layers.Dense(3, name="head")(x))


TOKENS = np.random.default_rng(5).integers(0, 7, size=(BATCH, TIME)).astype("int32")


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_stacked_bidirectional_model_matches_keras_with_weights_files_both_ways(name, tmp_path):
    keras_cls, ours_cls, kwargs = PAIRS[name]
    reference = _model([(keras_cls, kwargs)] * 2, bidirectional=True)
    ours = _model([(ours_cls, kwargs)] * 2, bidirectional=True)
    reference.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")  # Keras -> ours

    def loss_and_gradients(model):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(model(TOKENS, training=True)))
        return [loss, *tape.gradient(loss, model.trainable_weights)]

    for a, b in zip(loss_and_gradients(reference), loss_and_gradients(ours)):
        a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()  # embedding: IndexedSlices
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()
    ours.save_weights(tmp_path / "ours.weights.h5")
    back = _model([(keras_cls, kwargs)] * 2, bidirectional=True)
    back.load_weights(tmp_path / "ours.weights.h5")  # ours -> Keras
    for a, b in zip(reference.get_weights(), back.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_config_round_trip_and_safe_mode_keras_file(tmp_path):
    layers = [(bptt.SimpleRNN, {"activation": "relu"}), (bptt.LSTM, {}), (bptt.GRU, {})]
    for cls, kwargs in layers:
        config = cls(UNITS, return_sequences=True, **kwargs).get_config()
        assert cls.from_config(config).get_config() == config
    model = _model(layers)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    assert [type(loaded.get_layer(f"rnn_{i}")) for i in (1, 2, 3)] == [bptt.SimpleRNN, bptt.LSTM, bptt.GRU]
    np.testing.assert_allclose(loaded(TOKENS).numpy(), model(TOKENS).numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "cls, options, message",
    [
        (bptt.LSTM, {"dropout": 0.1}, "dropout"),
        (bptt.GRU, {"recurrent_dropout": 0.1}, "dropout"),
        (bptt.GRU, {"reset_after": False}, "reset_after"),
        (bptt.SimpleRNN, {"activation": "sigmoid"}, "activation"),
        (bptt.LSTM, {"use_bias": False}, "use_bias"),
    ],
)
def test_unsupported_options_are_refused(cls, options, message):
    with pytest.raises(ValueError, match=message):
        cls(UNITS, **options)


def test_masked_inputs_are_refused():
    mask = tf.constant([[True] * TIME] * BATCH)
    with pytest.raises(ValueError, match="masking"):
        bptt.LSTM(UNITS)(_inputs(), mask=mask, training=True)


def test_training_runs_the_written_out_loop_and_inference_runs_keras(monkeypatch):
    calls = []
    written_out = bptt.lstm_sequence
    monkeypatch.setattr(bptt, "lstm_sequence", lambda *args: calls.append(1) or written_out(*args))
    layer = bptt.LSTM(UNITS)
    layer(_inputs(), training=False)
    assert calls == []
    layer(_inputs(), training=True)
    assert calls == [1]


def test_layer_class_follows_the_implementation_argument():
    assert bptt.layer_class("LSTM", "keras") is keras.layers.LSTM
    assert bptt.layer_class("GRU", "bptt") is bptt.GRU
    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    for name in ("SimpleRNN", "LSTM", "GRU"):
        keras_on_cpu = bptt.AUTO_ON_CPU[name] == "keras"
        expected = getattr(keras.layers, name) if on_gpu or keras_on_cpu else getattr(bptt, name)
        assert bptt.layer_class(name, "auto") is expected
    with pytest.raises(ValueError, match="implementation must be one of"):
        bptt.layer_class("LSTM", "cudnn")
