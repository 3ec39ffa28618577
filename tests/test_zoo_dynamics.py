"""Per-gate orthogonal initialization and the Jacobian theory of zoo/dynamics.py."""

import math

import keras
import numpy as np
import pytest

import zoo
from zoo.dynamics import recurrent_jacobian_theory, state_jacobians
from zoo.initializers import PerGate, recurrent_initializer


@pytest.mark.parametrize("gates", [1, 3, 4])
def test_per_gate_orthogonal_blocks_have_unit_singular_values(gates):
    keras.utils.set_random_seed(0)
    kernel = np.asarray(recurrent_initializer("orthogonal", 1.0, gates=gates)((16, gates * 16)))
    blocks = np.split(kernel, gates, axis=1)
    for block in blocks:
        assert np.linalg.svd(block, compute_uv=False) == pytest.approx(np.ones(16), abs=1e-5)
    if gates > 1:
        assert not np.allclose(blocks[0], blocks[1])  # independent draws


def test_per_gate_orthogonal_serializes_and_differs_from_keras_default():
    init = recurrent_initializer("orthogonal", 1.0, gates=4)
    again = keras.initializers.deserialize(keras.initializers.serialize(init))
    assert isinstance(again, PerGate) and again.get_config() == init.get_config()
    keras.utils.set_random_seed(0)
    model = zoo.build_model("lstm", vocabulary_size=5, output="last_class", num_classes=3, units=16)
    default = model.get_layer("lstm_1").cell.recurrent_kernel.numpy()
    # Keras's default: one orthogonal (16, 64) matrix, so each gate block is a quarter of it: norm < 1
    assert max(np.linalg.norm(b, 2) for b in np.split(default, 4, axis=1)) < 0.95
    model = zoo.build_model("lstm", vocabulary_size=5, output="last_class", num_classes=3, units=16,
                            recurrent_initializer="orthogonal")
    per_gate = model.get_layer("lstm_1").cell.recurrent_kernel.numpy()
    assert [np.linalg.norm(b, 2) for b in np.split(per_gate, 4, axis=1)] == pytest.approx([1.0] * 4, abs=1e-5)


def _tokens(batch=4, time=12, vocabulary=7, seed=0):
    return np.random.default_rng(seed).integers(1, vocabulary, (batch, time)).astype("int32")


def test_simple_rnn_jacobian_is_diag_tanh_prime_times_recurrent_kernel():
    keras.utils.set_random_seed(1)
    model = zoo.build_model("simple_rnn", vocabulary_size=7, output="per_step", units=6, recurrent_gain=0.7)
    tokens = _tokens()
    jacobians = state_jacobians(model, tokens)  # (batch, time, 6, 6)
    assert jacobians.shape == (4, 12, 6, 6)
    layer = model.get_layer("simple_rnn_1")
    h = keras.Model(model.inputs, layer.output)([tokens]).numpy()  # (batch, time, units)
    u = layer.cell.recurrent_kernel.numpy()  # h_t = tanh(x W + h_{t-1} U + b)
    expected = (1 - h[..., :, None] ** 2) * u.T[None, None]  # d h_t / d h_{t-1} = diag(1 - h_t^2) U^T
    assert jacobians == pytest.approx(expected, abs=1e-5)


def test_theory_of_the_gain_sweep_and_the_gated_cells():
    keras.utils.set_random_seed(0)
    tokens = _tokens(time=20)
    decay = {}
    for gain in (0.5, 1.0):
        model = zoo.build_model("simple_rnn", vocabulary_size=7, output="last_class", num_classes=3, units=16,
                                recurrent_gain=gain)
        theory = recurrent_jacobian_theory(model, tokens)
        decay[gain] = theory["decay_norm_decades_per_step"]
        assert theory["decay_radius_decades_per_step"] >= theory["decay_norm_decades_per_step"] - 1e-9  # rho <= sigma
    # sigma_max(diag(tanh') g Q) <= g with near-zero states: gain 0.5 predicts log10 2 = 0.30 decades a step
    assert decay[0.5] == pytest.approx(math.log10(2), abs=0.02)
    assert abs(decay[1.0]) < 0.02
    lstm = {}
    for name, kwargs in (("default", {}), ("forget_bias_3", {"forget_bias": 3.0})):
        keras.utils.set_random_seed(0)
        model = zoo.build_model("lstm", vocabulary_size=7, output="last_class", num_classes=3, units=16, **kwargs)
        assert state_jacobians(model, tokens[:, :3]).shape == (4, 3, 32, 32)  # state (h, c)
        lstm[name] = recurrent_jacobian_theory(model, tokens)["decay_radius_decades_per_step"]
    assert lstm["forget_bias_3"] < lstm["default"]  # a forget gate nearer 1 forgets more slowly
    attention = zoo.build_model("self_attention", vocabulary_size=7, output="last_class", num_classes=3, units=16)
    assert recurrent_jacobian_theory(attention, tokens) is None
