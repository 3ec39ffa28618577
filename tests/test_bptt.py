"""The written-out BPTT layers (`zoo.bptt`) against Keras's own: same outputs, same gradients, same
weights, same configs, for every option of Keras's layers (written out, or Keras's loop with a warning)."""

import warnings

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


def _outputs_and_gradients(layer, x, initial_state=None, compiled=False, mask=None):
    def run(x, initial_state):
        with tf.GradientTape() as tape:
            tape.watch(x)
            # training: the written-out loop (inference runs Keras's)
            if initial_state is not None:
                tape.watch(initial_state)
                out = layer(x, initial_state=initial_state, training=True, mask=mask)
            else:
                out = layer(x, training=True, mask=mask)
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
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-5)
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


def test_training_runs_the_written_out_loop_and_inference_runs_keras(monkeypatch):
    calls = []
    written_out = bptt.lstm_sequence
    monkeypatch.setattr(bptt, "lstm_sequence", lambda *a, **k: calls.append(1) or written_out(*a, **k))
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


# ---- Keras's options, written out ----------------------------------------------------------------
# The same seed gives the same dropout masks: both layers draw them from their cell's seed generator in
# `keras.layers.RNN.call`, and `zoo.bptt` reads Keras's masks, so Keras's autodiff through Keras's own
# loop with these masks is the reference for the written-out gradients.
DROPOUT = {"dropout": 0.3, "recurrent_dropout": 0.4, "seed": 11}
OPTIONS = {
    "no_bias": {"use_bias": False},
    "dropout": {"dropout": 0.3, "seed": 11},
    "recurrent_dropout": {"recurrent_dropout": 0.4, "seed": 11},
    "dropouts_no_bias": {**DROPOUT, "use_bias": False},
}
OPTION_CASES = [(name, option) for name in PAIRS for option in OPTIONS] + [
    ("simple_rnn_tanh", "sigmoid"), ("simple_rnn_tanh", "linear"),  # SimpleRNN: f' from f's output
    ("lstm", "dropout_per_gate"), ("gru", "dropout_per_gate"),  # implementation=1: a mask per gate
    ("gru", "reset_before"), ("gru", "reset_before_dropouts"), ("gru", "reset_before_no_bias"),
]
OPTIONS |= {
    "sigmoid": {"activation": "sigmoid"},
    "linear": {"activation": None},
    # (Keras's own LSTM and GRU fail in training with implementation=1 and only input dropout unless
    # use_cudnn=False: their cuDNN attempt broadcasts the list of per-gate masks. Keras 3.15.)
    "dropout_per_gate": {"dropout": 0.3, "implementation": 1, "use_cudnn": False, "seed": 11},
    "reset_before": {"reset_after": False},
    "reset_before_dropouts": {**DROPOUT, "reset_after": False},
    "reset_before_no_bias": {"reset_after": False, "use_bias": False},
}


def _params(cases, default_run):
    """pytest params "name-option"; those outside `default_run` are marked slow (each compiles its own
    pair of XLA loops, a few seconds on the shared machine): run them with -m slow or -m ''."""
    return [pytest.param(name, option, id=f"{name}-{option}",
                         marks=() if (name, option) in default_run else pytest.mark.slow)
            for name, option in cases]


def _initial_state(name, seed=3):
    return [tf.constant(np.random.default_rng(seed + i).normal(size=(BATCH, UNITS)).astype("float32"))
            for i in range(2 if name == "lstm" else 1)]


@pytest.mark.parametrize("name, option", _params(OPTION_CASES, {
    ("simple_rnn_tanh", "dropouts_no_bias"), ("lstm", "dropouts_no_bias"), ("gru", "reset_before_dropouts"),
    ("gru", "dropout_per_gate"),
}))
def test_options_match_keras_outputs_and_gradients(name, option):
    options = OPTIONS[option]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every option here is written out: no fallback warning
        reference, ours = _pair(name, return_sequences=True, return_state=True, **options)
    x, initial = _inputs(2), _initial_state(name)
    result = _outputs_and_gradients(ours, x, initial)
    _assert_close(_outputs_and_gradients(reference, x, initial), result)
    if "dropout" in option:  # the masks are in effect in training, and none at inference
        inference = tf.nest.flatten(ours(x, initial_state=initial, training=False))
        assert np.abs(inference[0].numpy() - result[0][0].numpy()).max() > 1e-3
        np.testing.assert_allclose(
            inference[0].numpy(), reference(x, initial_state=initial, training=False)[0].numpy(), atol=1e-5
        )


def _step_mask():
    """Row 0 unmasked; row 1 left-padded (its first two steps masked: Keras's output there is zero while
    the state carries the initial state); row 2 right-padded with a masked step in the middle."""
    mask = np.ones((BATCH, TIME), bool)
    mask[1, :2] = False
    mask[2, [2, 4, 5]] = False
    return tf.constant(mask)


MASKED = {
    "sequences": {"return_sequences": True},
    "last": {"return_sequences": False},
    "backwards": {"return_sequences": True, "go_backwards": True},
    "zero_output": {"return_sequences": True, "zero_output_for_mask": True},
    "last_zero_output": {"return_sequences": False, "zero_output_for_mask": True},
    "dropouts_no_bias": {"return_sequences": True, **DROPOUT, "use_bias": False},
}
MASKED_CASES = [(name, option) for name in ("simple_rnn_tanh", "lstm", "gru") for option in MASKED] + [
    ("gru", "reset_before"), ("gru", "reset_before_dropouts")
]
MASKED |= {
    "reset_before": {"return_sequences": True, "reset_after": False},
    "reset_before_dropouts": {"return_sequences": True, **DROPOUT, "reset_after": False},
}


@pytest.mark.parametrize("name, option", _params(MASKED_CASES, {
    ("simple_rnn_tanh", "backwards"), ("lstm", "dropouts_no_bias"), ("gru", "last_zero_output"),
    ("gru", "reset_before_dropouts"),
}))
def test_masked_inputs_match_keras_outputs_and_gradients(name, option):
    reference, ours = _pair(name, return_state=True, **MASKED[option])
    x, initial, mask = _inputs(2), _initial_state(name), _step_mask()
    result = _outputs_and_gradients(ours, x, initial, mask=mask)
    _assert_close(_outputs_and_gradients(reference, x, initial, mask=mask), result)
    # The mask is in effect: the outputs differ from those of the unmasked sequence.
    unmasked = _outputs_and_gradients(ours, x, initial)
    assert np.abs(unmasked[0][0].numpy() - result[0][0].numpy()).max() > 1e-3


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_masked_gradient_passes_straight_through_a_masked_step(name):
    """A masked step copies the state: dL/d(state before it) = dL/d(state after it), and the inputs at
    masked steps get no gradient."""
    _, ours = _pair(name, return_sequences=False, return_state=True)
    x, initial = _inputs(2), _initial_state(name)
    everything_masked = tf.zeros((BATCH, TIME), tf.bool)
    (output, *states), gradients = _outputs_and_gradients(ours, x, initial, mask=everything_masked)
    for state, start in zip(states, initial):
        np.testing.assert_array_equal(state.numpy(), start.numpy())
    np.testing.assert_array_equal(gradients[0].numpy(), 0)  # dL/dx
    weights = np.sin(np.arange(BATCH * UNITS, dtype="float32")).reshape(BATCH, UNITS)  # the loss's weights
    np.testing.assert_allclose(gradients[1].numpy(), weights, rtol=1e-6)  # dL/dh0: only through the state
    np.testing.assert_array_equal(output.numpy(), 0)  # Keras: no unmasked step yet, so the output is zero


def _masked_model(layers, bidirectional=False):
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(7, FEATURES, mask_zero=True, name="embedding")(tokens)
    for i, (cls, kwargs) in enumerate(layers, 1):
        layer = cls(UNITS, return_sequences=i < len(layers), name=f"rnn_{i}", **kwargs)
        x = (keras.layers.Bidirectional(layer, name=f"bidirectional_{i}") if bidirectional else layer)(x)
    return keras.Model(tokens, keras.layers.Dense(3, name="head")(x))


PADDED = np.array([[3, 1, 4, 1, 5, 0], [0, 0, 2, 6, 5, 3], [5, 0, 3, 5, 0, 0]], "int32")  # 0: padding


@pytest.mark.parametrize(
    "name, kwargs",
    [pytest.param("lstm", {}, id="lstm", marks=pytest.mark.slow),
     pytest.param("gru", {"reset_after": False, **DROPOUT}, id="gru_reset_before_dropouts"),
     pytest.param("simple_rnn_relu", {"use_bias": False}, id="simple_rnn_relu_no_bias", marks=pytest.mark.slow)],
)
def test_drop_in_replacement_in_a_masked_bidirectional_model_trained_by_a_graph(name, kwargs):
    """Swapped into a Keras model with Embedding(mask_zero=True): the same loss and gradients as Keras's
    layer in a traced training step, and the written-out loop is what ran."""
    keras_cls, ours_cls, base = PAIRS[name]
    reference = _masked_model([(keras_cls, {**base, **kwargs})] * 2, bidirectional=True)
    ours = _masked_model([(ours_cls, {**base, **kwargs})] * 2, bidirectional=True)
    ours.set_weights(reference.get_weights())

    def loss_and_gradients(model):
        @tf.function
        def step(tokens):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.sin(model(tokens, training=True)))
            return [loss, *tape.gradient(loss, model.trainable_weights)]

        return step(tf.constant(PADDED))

    for a, b in zip(loss_and_gradients(reference), loss_and_gradients(ours)):
        a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()  # embedding: IndexedSlices
        assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()


def test_masking_layer_with_the_written_out_simple_rnn_matches_keras():
    x = np.random.default_rng(8).normal(size=(BATCH, TIME, FEATURES)).astype("float32")
    x[1, 3:] = 0.0  # keras.layers.Masking masks these steps
    reference, ours = _pair("simple_rnn_tanh", return_sequences=True)
    outputs = []
    for layer in (reference, ours):
        with tf.GradientTape() as tape:
            masked = keras.layers.Masking(0.0)(tf.constant(x))
            y = layer(masked, training=True)
            loss = tf.reduce_sum(tf.cos(y))
        outputs.append([y, *tape.gradient(loss, layer.trainable_weights)])
    for a, b in zip(*outputs):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)
    np.testing.assert_array_equal(outputs[1][0][1, 3:].numpy(), np.repeat(outputs[1][0][1, 2:3].numpy(), 3, 0))


@pytest.mark.parametrize("name", [pytest.param("lstm", marks=pytest.mark.slow), "gru"])
def test_stateful_layer_carries_its_state_across_calls_as_keras(name):
    reference, ours = _pair(name, return_sequences=True, stateful=True, **DROPOUT)
    for layer in (reference, ours):
        layer.reset_state()
    for seed in (2, 3):  # the second call starts from the state the first one left
        x = _inputs(seed)
        _assert_close(_outputs_and_gradients(reference, x), _outputs_and_gradients(ours, x))
        for a, b in zip(reference.states, ours.states):
            np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5)
    assert np.abs(ours.states[0].numpy()).max() > 0


def test_options_survive_a_safe_mode_keras_file(tmp_path):
    layers = [
        (bptt.GRU, {"reset_after": False, "use_bias": False, **DROPOUT}),
        (bptt.LSTM, {"dropout": 0.2, "zero_output_for_mask": True}),
        (bptt.SimpleRNN, {"activation": "sigmoid", "recurrent_dropout": 0.1}),  # (Keras saves no SimpleRNN seed)
    ]
    model = _masked_model(layers)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    for i, (cls, kwargs) in enumerate(layers, 1):
        layer = loaded.get_layer(f"rnn_{i}")
        assert type(layer) is cls
        assert {key: layer.get_config()[key] for key in kwargs} == kwargs
        assert layer.get_config() == model.get_layer(f"rnn_{i}").get_config()
    np.testing.assert_allclose(loaded(PADDED).numpy(), model(PADDED).numpy(), atol=1e-6)  # inference: no dropout
    assert np.isfinite(loaded(PADDED, training=True).numpy()).all()


def test_default_options_warn_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _, cls, kwargs in PAIRS.values():
            cls(UNITS, **kwargs)


# ---- Options that keep Keras's loop --------------------------------------------------------------
FALLBACK = {
    "lstm_hard_sigmoid": ("lstm", {"recurrent_activation": "hard_sigmoid"}, "recurrent_activation='hard_sigmoid'"),
    "gru_relu": ("gru", {"activation": "relu"}, "activation='relu'"),
    "simple_rnn_elu": ("simple_rnn_tanh", {"activation": "elu"}, "activation='elu'"),
    "lstm_unroll": ("lstm", {"unroll": True, **DROPOUT}, "unroll=True"),
}
SEQUENCE_FUNCTIONS = {"simple_rnn_tanh": "simple_rnn_sequence", "lstm": "lstm_sequence", "gru": "gru_sequence"}


@pytest.mark.parametrize("case", FALLBACK)
def test_options_outside_the_written_out_math_run_keras_loop_with_one_warning(case, monkeypatch):
    name, options, reason = FALLBACK[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reference, ours = _pair(name, return_sequences=True, **options)
    assert len(caught) == 1, [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert reason in message and "own loop" in message
    monkeypatch.setattr(bptt, SEQUENCE_FUNCTIONS[name], lambda *a, **k: pytest.fail("the written-out loop ran"))
    x = _inputs(2)
    _assert_close(_outputs_and_gradients(reference, x), _outputs_and_gradients(ours, x))


def test_use_cudnn_true_is_keras_loop_with_one_warning():
    with pytest.warns(UserWarning, match="use_cudnn=True") as caught:
        layer = bptt.GRU(UNITS, use_cudnn=True)
    assert len(caught) == 1 and layer._keras_loop
