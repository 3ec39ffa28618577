"""zoo/scan.py: the parallel-scan recurrences against their sequential path and a few lines of NumPy."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.scan import LRU, MinGRU, MinLSTM, linear_scan, log_linear_scan

LAYERS = {"min_gru": MinGRU, "min_lstm": MinLSTM, "lru": LRU}


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def _g(v):
    return np.where(v >= 0, v + 0.5, _sigmoid(v))


def numpy_reference(layer, x):
    """The recurrence of each layer, one step at a time, from its weights."""
    w = [v.numpy().astype(np.float64) for v in layer.weights]
    x = x.astype(np.float64)
    batch, time, _ = x.shape
    n = layer.units
    if isinstance(layer, (MinGRU, MinLSTM)):
        kernel, bias = w
        k = x @ kernel + bias
        h = np.zeros((batch, n))
        out = []
        for t in range(time):
            if isinstance(layer, MinGRU):
                z = _sigmoid(k[:, t, :n])
                h = (1 - z) * h + z * _g(k[:, t, n:])
            else:
                f, i = _sigmoid(k[:, t, :n]), _sigmoid(k[:, t, n: 2 * n])
                h = f / (f + i) * h + i / (f + i) * _g(k[:, t, 2 * n:])
            out.append(h)
        return np.stack(out, 1)
    nu_log, theta_log, b_re, b_im, c_re, c_im, d = w
    lam = np.exp(-np.exp(nu_log) + 1j * np.exp(theta_log))
    gamma = np.sqrt(1 - np.abs(lam) ** 2)
    h = np.zeros((batch, n), complex)
    out = []
    for t in range(time):
        h = lam * h + gamma * (x[:, t] @ (b_re + 1j * b_im))
        out.append((h @ (c_re + 1j * c_im)).real + x[:, t] @ d)
    return np.stack(out, 1)


def test_the_scans_are_the_recurrence():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 0.99, (2, 37, 3)), rng.normal(size=(2, 37, 3))
    h, expected = np.zeros((2, 3)), []
    for t in range(37):
        h = a[:, t] * h + b[:, t]
        expected.append(h)
    np.testing.assert_allclose(linear_scan(tf.constant(a), tf.constant(b)).numpy(), np.stack(expected, 1), rtol=1e-10)
    dynamic = tf.function(linear_scan, input_signature=[tf.TensorSpec((None, None, 3), tf.float64)] * 2)
    np.testing.assert_allclose(dynamic(tf.constant(a), tf.constant(b)).numpy(), np.stack(expected, 1), rtol=1e-10)
    positive = np.abs(b) + 0.1
    h, expected = np.zeros((2, 3)), []
    for t in range(37):
        h = a[:, t] * h + positive[:, t]
        expected.append(h)
    got = log_linear_scan(tf.constant(np.log(a)), tf.constant(np.log(positive))).numpy()
    np.testing.assert_allclose(got, np.stack(expected, 1), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parallel_and_sequential_paths_agree_with_numpy_outputs_and_gradients(name):
    keras.utils.set_random_seed(1)
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 50, 5)).astype("float32"))
    parallel = LAYERS[name](8, return_sequences=True, scan="parallel")
    sequential = LAYERS[name](8, return_sequences=True, scan="sequential")
    parallel.build(x.shape)
    sequential.build(x.shape)
    sequential.set_weights(parallel.get_weights())
    np.testing.assert_allclose(parallel(x).numpy(), numpy_reference(parallel, x.numpy()), rtol=1e-4, atol=1e-5)
    grads = []
    for layer in (parallel, sequential):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.sin(layer(x)))  # a loss read at every step
        grads.append([g.numpy() for g in tape.gradient(loss, [x, *layer.trainable_weights])])
    for a, b in zip(*grads):
        scale = np.abs(b).max()
        assert np.abs(a - b).max() <= 1e-5 * max(scale, 1.0), name


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_save_reload_and_bidirectional(name, tmp_path):
    keras.utils.set_random_seed(0)
    tokens = keras.Input((12,), dtype="int32")
    h = keras.layers.Embedding(10, 6)(tokens)
    h = keras.layers.Bidirectional(LAYERS[name](4, return_sequences=True))(h)
    out = keras.layers.Dense(3)(LAYERS[name](4)(h))
    model = keras.Model(tokens, out)
    x = np.random.default_rng(0).integers(0, 10, (2, 12)).astype("int32")
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert model.output.shape == (None, 3)


def test_the_lru_starts_on_its_ring_and_decays_at_the_rate_it_sets():
    keras.utils.set_random_seed(0)
    layer = LRU(64, r_min=0.5, r_max=0.9, max_phase=math.pi / 10)
    layer.build((None, None, 4))
    modulus = np.abs(layer.eigenvalues().numpy())
    assert 0.5 - 1e-6 <= modulus.min() and modulus.max() <= 0.9 + 1e-6
    assert np.abs(np.angle(layer.eigenvalues().numpy())).max() <= math.pi / 10 + 1e-6
    # The gradient of the last output with respect to the input 30 steps back shrinks at least as fast as
    # max|lambda|^29 from lag 1 to lag 30 (a unit-circle recurrence would keep the ratio near 1).
    x = tf.constant(np.random.default_rng(0).normal(size=(1, 40, 4)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(layer(x))
    g = np.linalg.norm(tape.gradient(y, x).numpy()[0], axis=-1)
    assert g[40 - 1 - 30] <= g[40 - 2] * 0.9 ** 29 * 2


def test_bad_arguments_are_one_sentence():
    with pytest.raises(ValueError, match="scan must be one of parallel, sequential"):
        MinGRU(4, scan="fast")
    with pytest.raises(ValueError, match="0 <= r_min < r_max <= 1"):
        LRU(4, r_min=0.9, r_max=0.5)


@pytest.mark.parametrize("time", [1, 7, 31, 32, 33, 64, 100, 1000])
def test_the_blocked_scan_and_its_written_out_gradient_at_chunk_boundaries(time):
    """Lengths shorter than, equal to, one past and many times a chunk (static, and dynamic with padding);
    a per-step real factor and a constant complex one (the LRU's lambda), against the recurrence and
    against the automatic derivative of a step-by-step loop."""
    rng = np.random.default_rng(time)
    a, b = rng.uniform(0.1, 0.99, (2, time, 3)), rng.normal(size=(2, time, 3))
    lam = np.exp(-rng.uniform(0.01, 1, 3) + 1j * rng.uniform(0, 1, 3))
    bc = b + 1j * rng.normal(size=b.shape)
    dynamic = tf.function(linear_scan, input_signature=[tf.TensorSpec((None, None, 3), tf.float64)] * 2)
    for factor, drive in ((a, b), (lam, bc)):
        factor, drive = tf.constant(factor), tf.constant(drive)

        def loop(f, d):
            h, out = tf.zeros_like(d[:, 0]), []
            for t in range(time):
                h = (f[:, t] if f.shape.rank == 3 else f) * h + d[:, t]
                out.append(h)
            return tf.stack(out, 1)

        with tf.GradientTape(persistent=True) as tape:
            tape.watch([factor, drive])
            got, expected = linear_scan(factor, drive), loop(factor, drive)
            weights = tf.cast(tf.sin(tf.range(time * 3, dtype=tf.float64)), drive.dtype)
            losses = [tf.math.real(tf.reduce_sum(tf.reshape(weights, (time, 3)) * h * tf.math.conj(h))) for h in (got, expected)]
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
        if drive.dtype == tf.float64:
            np.testing.assert_allclose(dynamic(factor, drive).numpy(), expected.numpy(), rtol=1e-10, atol=1e-12)
        for g, e in zip(tape.gradient(losses[0], [factor, drive]),
                        tape.gradient(losses[1], [factor, drive], unconnected_gradients="zero")):
            np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-9, atol=1e-12)
