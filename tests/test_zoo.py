"""The zoo's contract, parametrized over `list_models()` so a new builder is covered at once."""

import dataclasses
import functools
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import registry

VOCAB = 13
TIME = 9
OUTPUTS = {"per_step": (None, (2, TIME, VOCAB)), "last_class": (4, (2, 4)), "last_value": (None, (2, 1))}
CAUSAL_MODELS = [m for m in zoo.list_models() if not zoo.get_model_info(m).reads_future({"causal": True})]
FUTURE_MODELS = [m for m in zoo.list_models() if m not in CAUSAL_MODELS]


def tokens(seed=0, batch=2, time=TIME):
    return np.random.default_rng(seed).integers(0, VOCAB, size=(batch, time)).astype("int32")


def small(name, output="per_step", **kwargs):
    num_classes = OUTPUTS[output][0]
    return zoo.build_model(
        name, vocabulary_size=VOCAB, output=output, num_classes=num_classes, units=8, num_layers=2, **kwargs
    )


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_key_has_its_file_and_a_summary(name):
    """A key is a file named after it (GUIDE: one file per architecture); a variant fixes arguments of an
    architecture's builder and is validated as that builder."""
    info = zoo.get_model_info(name)
    assert (pathlib.Path(zoo.__file__).parent / f"{name}.py").is_file()
    assert info.summary and info.initialization
    if info.base is None:
        assert info.builder.__name__ == name and info.builder.__module__ == f"zoo.{name}"
    else:
        assert info.base in zoo.architectures() and isinstance(info.builder, functools.partial)
        assert info.builder.func is zoo.get_model_info(info.base).builder
        assert set(info.parameters) == set(zoo.get_model_info(info.base).parameters)


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_builder_takes_the_common_arguments(name):
    assert set(registry.COMMON_ARGS) <= set(zoo.get_model_info(name).parameters)


@pytest.mark.parametrize("name", [m for m in zoo.list_models() if zoo.get_model_info(m).base])
def test_a_variant_is_its_base_builder_with_the_fixed_arguments(name):
    info = zoo.get_model_info(name)
    keras.utils.set_random_seed(3)
    variant = small(name)
    keras.utils.set_random_seed(3)
    base = small(info.base, **info.builder.keywords)
    assert variant.get_config() == base.get_config()
    x = tokens()
    np.testing.assert_allclose(variant(x), base(x))


@pytest.mark.parametrize("name", zoo.list_models())
@pytest.mark.parametrize("output", list(OUTPUTS))
def test_output_shape_finite_and_gradient_for_every_variable(name, output):
    model = small(name, output, dropout=0.1)
    x = tokens()
    assert model.input.dtype == "int32"
    with tf.GradientTape() as tape:
        y = model(x, training=True)
        loss = tf.reduce_sum(tf.square(y))
    assert tuple(y.shape) == OUTPUTS[output][1]
    assert np.all(np.isfinite(y.numpy()))
    grads = tape.gradient(loss, model.trainable_variables)
    assert len(grads) == len(model.trainable_variables) > 0
    for var, grad in zip(model.trainable_variables, grads):
        assert grad is not None, f"{name}: no gradient for {var.path}"
        dense = tf.convert_to_tensor(grad)
        assert np.all(np.isfinite(dense.numpy())), var.path
        assert float(tf.reduce_sum(tf.abs(dense))) > 0, f"{name}: zero gradient for {var.path}"


@pytest.mark.parametrize("name", zoo.list_models())
def test_config_round_trip_and_keras_save_load(name, tmp_path):
    model = small(name, "last_class")
    x = tokens(1)
    expected = model(x).numpy()
    clone = keras.Model.from_config(model.get_config())
    assert [type(l).__name__ for l in clone.layers] == [type(l).__name__ for l in model.layers]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), expected, rtol=1e-6, atol=1e-6)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True, no custom_objects
    np.testing.assert_allclose(loaded(x).numpy(), expected, rtol=1e-6, atol=1e-6)
    assert loaded.count_params() == model.count_params()


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="lstm", forget_bias="chrono", sequence_length=50, recurrent_initializer="glorot_uniform"),
        dict(name="gru", update_bias=2.0, recurrent_initializer="orthogonal", recurrent_gain=0.8),
        dict(name="simple_rnn", recurrent_initializer="normal", recurrent_gain=1.5),
        dict(name="self_attention", causal=True, sequence_length=TIME),
    ],
)
def test_custom_initializers_save_and_load(kwargs, tmp_path):
    model = small(**kwargs)
    x = tokens(2)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6, atol=1e-6)


def _changes_before(model, t):
    """Max change of the outputs at steps <= t when every token after t is replaced."""
    a = tokens(3)
    b = a.copy()
    b[:, t + 1 :] = (b[:, t + 1 :] + 1 + np.arange(TIME - t - 1)) % VOCAB
    ya, yb = model(a).numpy(), model(b).numpy()
    return np.abs(ya[:, : t + 1] - yb[:, : t + 1]).max()


@pytest.mark.parametrize("name", CAUSAL_MODELS)
def test_causal_models_ignore_the_future(name):
    model = small(name, causal=True)
    for t in (0, 4, TIME - 2):
        assert _changes_before(model, t) < 1e-6, f"{name}: step {t} changed when only later tokens changed"


@pytest.mark.parametrize("name", FUTURE_MODELS + ["self_attention"])
def test_future_seeing_models_read_the_future(name):
    model = small(name, causal=False)  # attention without the causal mask
    assert _changes_before(model, 4) > 1e-4


@pytest.mark.parametrize("name", FUTURE_MODELS)
def test_future_seeing_model_refuses_next_token_task(name):
    with pytest.raises(ValueError, match="next-token"):
        small(name, causal=True)


def test_attention_without_mask_refuses_next_token_task():
    with pytest.raises(ValueError, match="would read the token it must predict"):
        small("self_attention", causal=True, use_causal_mask=False)


@pytest.fixture
def refuse_to_build(monkeypatch):
    """Replace every builder by one that fails the test if it is ever reached."""

    def refusing(builder):
        @functools.wraps(builder)  # keeps the signature the registry checks arguments against
        def boom(*args, **kwargs):
            raise AssertionError("the builder ran before the arguments were checked")

        return boom

    for key, info in list(registry._REGISTRY.items()):
        monkeypatch.setitem(registry._REGISTRY, key, dataclasses.replace(info, builder=refusing(info.builder)))


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("transformer_xl", {}, "Unknown model 'transformer_xl'; choose one of: bidirectional_gru"),
        ("lstm", {"units": 0}, "units must be an integer >= 1"),
        ("gru", {"units": -4}, "units must be an integer >= 1"),
        ("lstm", {"num_layers": 0}, "num_layers must be an integer >= 1"),
        ("simple_rnn", {"vocabulary_size": 1}, "vocabulary_size must be an integer >= 2"),
        ("simple_rnn", {"dropout": 1.0}, r"dropout must be a number in \[0, 1\)"),
        ("lstm", {"output": "sequence"}, "output must be one of"),
        ("lstm", {"num_classes": 1}, "num_classes must be an integer >= 2"),
        ("lstm", {"output": "last_value", "num_classes": 3}, "num_classes must be 1"),
        ("lstm", {"num_heads": 2}, "takes no argument"),
        ("bidirectional_gru", {"causal": True}, "cannot be trained on a next-token task"),
        ("gru", {"causal": True, "bidirectional": True}, "reads the sequence backwards as well as forwards"),
        ("bidirectional_lstm", {"num_heads": 2}, "takes no argument"),
        ("lstm", {"embedding_dim": 0}, "embedding_dim must be"),
    ],
)
def test_bad_arguments_fail_before_building(refuse_to_build, name, kwargs, message):
    args = {"vocabulary_size": VOCAB, **kwargs}
    with pytest.raises(ValueError, match=message):
        zoo.build_model(name, **args)


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("lstm", {"forget_bias": "chrono"}, "pass sequence_length"),
        ("lstm", {"forget_bias": float("nan")}, "forget_bias must be a finite number"),
        ("gru", {"update_bias": "big"}, "update_bias must be a finite number or 'chrono'"),
        ("simple_rnn", {"recurrent_initializer": "he"}, "recurrent_initializer must be one of"),
        ("irnn", {"recurrent_gain": 0}, "recurrent_gain must be a positive number"),
        ("self_attention", {"embedding_dim": 7}, "must equal units"),
    ],
)
def test_bad_builder_arguments(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        zoo.build_model(name, vocabulary_size=VOCAB, units=8, **kwargs)


@pytest.mark.parametrize("name", zoo.list_models())
@pytest.mark.parametrize("budget", [30_000, 250_000])
def test_param_budget_lands_within_three_percent(name, budget):
    kwargs = dict(vocabulary_size=65, output="per_step", sequence_length=100)
    units, count = zoo.fit_param_budget(name, budget, **kwargs)
    model = zoo.build_model(name, param_budget=budget, **kwargs)
    assert model.count_params() == count
    assert abs(count - budget) / budget < 0.03, (name, units, count)


def test_param_budget_errors():
    with pytest.raises(ValueError, match="below the smallest"):
        zoo.fit_param_budget("lstm", 10, vocabulary_size=1000)
    with pytest.raises(ValueError, match="either units or param_budget"):
        zoo.build_model("lstm", vocabulary_size=10, units=8, param_budget=10_000)


def _recurrent_kernel(model, layer="simple_rnn_1"):
    return model.get_layer(layer).cell.recurrent_kernel.numpy()


def test_recurrent_initializers_and_gain():
    units = 64
    common = dict(vocabulary_size=VOCAB, units=units)
    # Per-gate orthogonal with a gain: each gate block is gain * an orthogonal matrix.
    gru = zoo.build_model("gru", recurrent_initializer="orthogonal", recurrent_gain=0.5, **common)
    kernel = gru.get_layer("gru_1").cell.recurrent_kernel.numpy()
    for g in range(3):
        block = kernel[:, g * units : (g + 1) * units]
        np.testing.assert_allclose(block.T @ block, 0.25 * np.eye(units), atol=1e-4)
    assert not np.allclose(kernel[:, :units], kernel[:, units : 2 * units])  # blocks drawn independently
    # IRNN: identity recurrent matrix.
    np.testing.assert_array_equal(_recurrent_kernel(zoo.build_model("irnn", **common)), np.eye(units))
    # Scaled normal: spectral radius close to the gain (circular law).
    radius = np.abs(np.linalg.eigvals(_recurrent_kernel(zoo.build_model("simple_rnn", recurrent_initializer="normal", recurrent_gain=2.0, **common)))).max()
    assert 1.6 < radius < 2.4
    # Keras's default (orthogonal) is kept when nothing is asked for, and the gain scales it.
    default = _recurrent_kernel(zoo.build_model("simple_rnn", **common))
    np.testing.assert_allclose(default.T @ default, np.eye(units), atol=1e-4)
    scaled = _recurrent_kernel(zoo.build_model("simple_rnn", recurrent_gain=1.5, **common))
    np.testing.assert_allclose(scaled.T @ scaled, 2.25 * np.eye(units), atol=1e-4)


def test_gate_biases():
    units = 16
    common = dict(vocabulary_size=VOCAB, units=units)
    bias = lambda m, l: m.get_layer(l).cell.bias.numpy()  # noqa: E731
    keras_default = bias(zoo.build_model("lstm", **common), "lstm_1")
    np.testing.assert_array_equal(keras_default[units : 2 * units], 1.0)
    np.testing.assert_array_equal(np.delete(keras_default, np.s_[units : 2 * units]), 0.0)
    three = bias(zoo.build_model("lstm", forget_bias=3.0, **common), "lstm_1")
    np.testing.assert_array_equal(three[units : 2 * units], 3.0)
    np.testing.assert_array_equal(three[:units], 0.0)
    chrono = bias(zoo.build_model("lstm", forget_bias="chrono", sequence_length=100, **common), "lstm_1")
    forget = chrono[units : 2 * units]
    assert np.all(forget >= 0) and np.all(forget <= np.log(99) + 1e-6) and forget.std() > 0.1
    np.testing.assert_allclose(chrono[:units], -forget)
    gru = bias(zoo.build_model("gru", update_bias=2.0, **common), "gru_1")
    assert gru.shape == (2, 3 * units)
    np.testing.assert_array_equal(gru[0, :units], 2.0)
    np.testing.assert_array_equal(gru[0, units:], 0.0)
    np.testing.assert_array_equal(gru[1], 0.0)
    bi = zoo.build_model("bidirectional_lstm", forget_bias=2.0, **common)
    for direction in (bi.get_layer("bidirectional_lstm_1").forward_layer, bi.get_layer("bidirectional_lstm_1").backward_layer):
        np.testing.assert_array_equal(direction.cell.bias.numpy()[units : 2 * units], 2.0)


def test_zoo_does_not_import_datasets_or_training():
    import subprocess
    import sys

    code = "import sys, zoo; bad = [m for m in sys.modules if m.split('.')[0] in ('datasets', 'training')]; print(bad); sys.exit(bool(bad))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["lstm", "self_attention"])
def test_same_seed_builds_the_same_weights(name):
    def build():
        keras.utils.set_random_seed(7)
        return small(name, recurrent_initializer="orthogonal") if name == "lstm" else small(name)

    for a, b in zip(build().get_weights(), build().get_weights()):
        np.testing.assert_array_equal(a, b)
