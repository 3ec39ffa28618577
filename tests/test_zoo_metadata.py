"""What the registry declares for reports (display, family, gate bias, words), the shared arguments
declared once, the head's output kinds, and the dynamics protocol for a new recurrent layer."""

import inspect
import math

import keras
import numpy as np
import pytest
from keras import ops

import zoo
from zoo import dynamics, registry
from zoo.common import embed, head, token_input

VOCAB = 7


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_declares_what_reports_need(name):
    info = zoo.get_model_info(name)
    assert isinstance(info.display, str) and info.display.strip()
    assert info.family in zoo.FAMILIES
    assert isinstance(info.default_bias_words, str) and info.default_bias_words.strip()
    assert isinstance(info.recurrent_kernel_words, str)
    assert bool(info.recurrent_kernel_words) == (info.family == "recurrent")  # "" only without recurrence
    if info.gate_bias is not None:
        assert isinstance(info.gate_bias, zoo.GateBias)
        assert info.gate_bias.argument in info.own_parameters
        assert info.defaults[info.gate_bias.argument] == info.gate_bias.default
        assert info.gate_bias.words and info.gate_bias.gate in info.gate_bias.words


def test_display_names_are_distinct_and_gated_cells_name_their_gate():
    infos = [zoo.get_model_info(m) for m in zoo.list_models()]
    assert len({i.display for i in infos}) == len(infos)
    assert zoo.get_model_info("lstm").gate_bias.argument == "forget_bias"
    assert zoo.get_model_info("gru").gate_bias.argument == "update_bias"
    assert zoo.get_model_info("simple_rnn").gate_bias is None and zoo.get_model_info("self_attention").gate_bias is None


INHERITED = ("family", "gate_bias", "default_bias_words", "recurrent_kernel_words", "initialization", "sees_future")


@pytest.mark.parametrize("name", [m for m in zoo.list_models() if zoo.get_model_info(m).base])
def test_a_variant_inherits_its_base_metadata_but_has_its_own_name(name):
    info, base = zoo.get_model_info(name), zoo.get_model_info(zoo.get_model_info(name).base)
    for field in INHERITED:
        assert getattr(info, field) == getattr(base, field), field
    assert info.display != base.display


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry and the declared steps as they are; whatever a test registers is dropped after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(dynamics, "_STEPS", dict(dynamics._STEPS))


def test_a_variant_overrides_only_what_it_gives(scratch_registry):
    registry.register_variant("lstm_forget_3", "lstm", "LSTM with forget-gate bias 3.", display="LSTM (bias 3)",
                              default_bias_words="forget-gate bias 3", gate_bias=zoo.GateBias(
                                  "forget_bias", "forget", 3.0, "forget-gate bias"), forget_bias=3.0)
    info, base = zoo.get_model_info("lstm_forget_3"), zoo.get_model_info("lstm")
    assert (info.display, info.default_bias_words, info.gate_bias.default) == ("LSTM (bias 3)", "forget-gate bias 3", 3.0)
    assert (info.family, info.recurrent_kernel_words, info.initialization) == (
        base.family, base.recurrent_kernel_words, base.initialization)
    assert info.defaults["forget_bias"] == 3.0 and info.architecture == "lstm"
    with pytest.raises(ValueError, match="does not take"):
        registry.register_variant("lstm_heads", "lstm", "no.", display="x", num_heads=2)
    with pytest.raises(ValueError, match="builder's default is 3.0"):  # words that would not match the model
        registry.register_variant("lstm_forget_2", "lstm", "no.", display="y", forget_bias=3.0)


def test_the_shared_arguments_are_declared_once_by_the_registry(scratch_registry):
    for name in zoo.list_models():
        info = zoo.get_model_info(name)
        assert not set(info.own_parameters) & set(zoo.COMMON_ARGS)
        assert info.parameters[: len(zoo.COMMON_ARGS)] == zoo.COMMON_ARGS
        assert {k: info.defaults[k] for k in registry.COMMON_DEFAULTS} == registry.COMMON_DEFAULTS
        assert "locals()" not in inspect.getsource(inspect.getmodule(info.builder.func if info.base else info.builder))
    doc = inspect.getdoc(zoo.CommonArgs)
    assert all(f"{arg}:" in doc for arg in zoo.COMMON_ARGS)  # each documented there

    def restates(common, /, *, units=64):
        """Restates a shared argument."""

    with pytest.raises(TypeError, match="only its own arguments.*units"):
        registry.register_model("restates", display="x", family="recurrent", default_bias_words="zero bias",
                                recurrent_kernel_words="orthogonal")(restates)
    with pytest.raises(ValueError, match="family"):
        registry.register_model("odd", display="x", family="convolution", default_bias_words="zero bias",
                                recurrent_kernel_words="")(lambda common, /: None)


@pytest.mark.parametrize("output, num_classes, shape", [
    ("per_step", 5, (2, 4, 5)), ("last_class", 5, (2, 5)), ("last_value", None, (2, 1)), ("last_value", 1, (2, 1)),
])
def test_head_honours_output(output, num_classes, shape):
    x = keras.Input((None, 3))  # (batch, time, features)
    model = keras.Model(x, head(x, output, num_classes))
    features = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    y = model(features).numpy()
    assert y.shape == shape
    dense = model.get_layer("head")
    if output != "per_step":  # read at the last step: the head applied to the last step's features
        np.testing.assert_allclose(y, dense(features[:, -1]).numpy(), rtol=1e-6, atol=1e-6)
        assert model.get_layer("last_step") is not None
    last = keras.Input((3,))  # (batch, features): the final state of a recurrent layer
    if output == "per_step":
        with pytest.raises(ValueError, match="every step"):
            head(last, output, num_classes)
    else:
        assert tuple(keras.Model(last, head(last, output, num_classes))(features[:, -1]).shape) == shape


def test_head_refuses_a_width_that_contradicts_output():
    x = keras.Input((3,))
    with pytest.raises(ValueError, match="one number"):
        head(x, "last_value", 4)
    with pytest.raises(ValueError, match="needs num_classes"):
        head(x, "last_class", None)
    with pytest.raises(ValueError, match="output must be one of"):
        head(x, "sequence", 4)


class ToyRNN(keras.layers.Layer):
    """h_t = tanh(x_t W + decay * h_{t-1}): a recurrent layer Keras does not know (not a keras.layers.RNN)."""

    def __init__(self, units, decay, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.decay = decay

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units))

    def step(self, x_t, h):  # (batch, features), (batch, units) -> (batch, units)
        return ops.tanh(ops.matmul(x_t, self.kernel) + self.decay * h)

    def call(self, x):  # (batch, time, features) -> (batch, time, units)
        h0 = ops.zeros((ops.shape(x)[0], self.units))
        _, hs = ops.scan(lambda h, x_t: (self.step(x_t, h),) * 2, h0, ops.transpose(x, (1, 0, 2)))
        return ops.transpose(hs, (1, 0, 2))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)


def toy_rnn(common, /, *, decay=0.5):
    """A toy recurrent model: one ToyRNN."""
    tokens = token_input()
    x = embed(tokens, common.vocabulary_size, common.embedding_size, common.dropout)
    x = ToyRNN(common.units, decay, name="toy_rnn_1")(x)  # (batch, time, units)
    return keras.Model(tokens, head(x, common.output, common.classes), name="toy_rnn")


def _tokens(time=6):
    return np.random.default_rng(1).integers(1, VOCAB, (3, time)).astype("int32")


def test_a_new_recurrent_layer_that_declares_its_step_gets_a_theory(scratch_registry):
    registry.register_model("toy_rnn", display="toy RNN", family="recurrent", default_bias_words="no bias",
                            recurrent_kernel_words="0.5 identity")(toy_rnn)
    keras.utils.set_random_seed(0)
    model = zoo.build_model("toy_rnn", vocabulary_size=VOCAB, units=5, decay=0.5)
    tokens = _tokens()
    assert dynamics.recurrent_jacobian_theory(model, tokens) is None  # declares nothing yet: no theory

    @dynamics.register_step(ToyRNN)
    def _toy_step(layer):
        return dynamics.RecurrentStep((layer.units,), lambda x_t, states: [layer.step(x_t, states[0])])

    theory = dynamics.recurrent_jacobian_theory(model, tokens)
    assert theory is not None and set(theory) >= {"decay_norm_decades_per_step", "decay_radius_decades_per_step"}
    h = keras.Model(model.inputs, model.get_layer("toy_rnn_1").output)([tokens]).numpy()  # (batch, time, units)
    expected = (1 - h**2)[..., :, None] * 0.5 * np.eye(5)  # d h_t / d h_(t-1) = diag(1 - h_t^2) * decay
    np.testing.assert_allclose(dynamics.state_jacobians(model, tokens), expected, atol=1e-5)
    # the norm of a diagonal matrix is its largest entry: the theory's geometric mean of it
    assert theory["spectral_norm"] == pytest.approx(math.exp(np.log((1 - h**2).max(-1) * 0.5).mean()), rel=1e-5)
    assert theory["spectral_norm"] <= 0.5 + 1e-6


@pytest.mark.parametrize("name", [m for m in zoo.list_models() if zoo.get_model_info(m).family != "recurrent"
                                  or zoo.get_model_info(m).base])
def test_models_without_a_one_step_theory_answer_none(name):
    model = zoo.build_model(name, vocabulary_size=VOCAB, units=4)
    assert dynamics.first_recurrent_layer(model) is None
    assert dynamics.recurrent_jacobian_theory(model, _tokens()) is None
    with pytest.raises(ValueError, match="declares its step"):
        dynamics.state_jacobians(model, _tokens())


@pytest.mark.parametrize("name", [m for m in zoo.list_models() if zoo.get_model_info(m).family == "recurrent"
                                  and not zoo.get_model_info(m).base])
def test_every_unidirectional_recurrent_model_has_a_theory(name):
    written_out = {"implementation": "bptt"} if "implementation" in zoo.get_model_info(name).parameters else {}
    model = zoo.build_model(name, vocabulary_size=VOCAB, units=4, **written_out)
    theory = dynamics.recurrent_jacobian_theory(model, _tokens())
    assert theory is not None and math.isfinite(theory["decay_radius_decades_per_step"])


GATED = [m for m in zoo.list_models() if zoo.get_model_info(m).gate_bias is not None and not zoo.get_model_info(m).base]


@pytest.mark.parametrize("name", GATED)
@pytest.mark.parametrize("bias", [-2.0, 0.0, 3.0])
def test_the_declared_gate_bias_keeps_what_the_layer_keeps(name, bias):
    """`GateBias.kept(b)`, which the report's gate sentence uses, is what one step of the built layer keeps
    of its memory (the last part of its state: an LSTM's cell) at a zero input: the diagonal of that step's
    Jacobian with the recurrent kernels zeroed (a Keras GRU's candidate then ignores the old state)."""
    import tensorflow as tf

    gate = zoo.get_model_info(name).gate_bias
    model = zoo.build_model(name, vocabulary_size=VOCAB, units=4, **{gate.argument: bias})
    layer = dynamics.first_recurrent_layer(model)
    for weight in layer.weights:
        if "recurrent_kernel" in weight.path:
            weight.assign(np.zeros(weight.shape, weight.dtype))
    step = dynamics.declared_step(layer)
    x = tf.zeros((1, int(layer.input.shape[-1])))
    states = [tf.zeros((1, size)) for size in step.state_sizes]
    with tf.GradientTape() as tape:
        tape.watch(states[-1])
        memory = step.step(x, states)[-1]
    kept = np.diagonal(tape.batch_jacobian(memory, states[-1]).numpy()[0])
    np.testing.assert_allclose(kept, gate.kept(bias), rtol=1e-5)
    if not gate.keeps:  # no words on what a step keeps: the gate itself is
        assert gate.kept(bias) == pytest.approx(registry.sigmoid(bias))
    elif bias != 0:  # the words are needed: the gate's value is not what is kept
        assert gate.kept(bias) != pytest.approx(registry.sigmoid(bias))
