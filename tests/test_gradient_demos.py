"""The textbook pictures, measured: exploding gradients and clipping, vanishing gradients and the LSTM.

Small sizes, plain Keras layers (Embedding named "embedding" first, as in the zoo), seconds each.
"""

import keras
import numpy as np

from training.core import rules
from training.instruments import GradientRecorder
from training.instruments import ThroughTimeProbe

GAP_TIME, MAX_GAP, LAG = 60, 50, 50


# ------------------------------------------------------------------------------------------ exploding
def _explode(clip, embedding_trainable=True, steps=60, time_steps=30):
    """SimpleRNN (tanh) with an orthogonal recurrent kernel of gain 1.5, plain SGD (learning rate 0.2)."""
    ids = keras.Input((time_steps,), dtype="int32")
    x = keras.layers.Embedding(10, 8, name="embedding", trainable=embedding_trainable)(ids)
    x = keras.layers.SimpleRNN(32, recurrent_initializer=keras.initializers.Orthogonal(gain=1.5))(x)
    model = keras.Model(ids, keras.layers.Dense(1)(x))
    model.compile(keras.optimizers.SGD(0.2, **({"global_clipnorm": 1.0} if clip else {})), "mse")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 10, (steps * 16, time_steps)).astype("int32")
    y = (x[:, :1] / 10).astype("float32")  # remember the first token
    recorder = GradientRecorder()
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    return recorder


def test_exploding_gradients_without_clipping():
    recorder = _explode(clip=False)
    norms = [r["grad_norm"] for r in recorder.records]
    assert recorder.diverged or rules.exploding(rules.explosion_ratio(norms))  # the console's and the report's rule
    if recorder.diverged:  # a result, recorded at its step with its cause, not a crash
        assert recorder.records[-1]["step"] == recorder.diverged_step and recorder.divergence_cause


def test_global_clipnorm_bounds_the_applied_gradient_and_keeps_the_loss_finite():
    frozen = _explode(clip=True, embedding_trainable=False)
    applied = np.array([r["grad_norm_clipped"] for r in frozen.records])
    received = np.array([r["grad_norm"] for r in frozen.records])
    assert not frozen.diverged and np.all(np.isfinite([r["step_loss"] for r in frozen.records]))
    assert applied.max() <= 1.0 + 1e-6
    assert received.max() > 2 and any(r["grad_clipped"] for r in frozen.records)  # clipping had work to do

    # With a trainable Embedding, Keras's global norm counts a token row once per occurrence in the
    # batch instead of once per token, so the gradient it applies can be a few percent above 1.
    trained = _explode(clip=True, embedding_trainable=True)
    applied = np.array([r["grad_norm_clipped"] for r in trained.records])
    assert not trained.diverged and np.all(np.isfinite([r["step_loss"] for r in trained.records]))
    assert applied.max() <= 1.1


# ------------------------------------------------------------------------------------------ vanishing
def _gap_task(n, seed, gap=None):
    """Binary label written as token 1 or 2 `gap` steps before the end, noise tokens 3..9 elsewhere."""
    rng = np.random.default_rng(seed)
    x = rng.integers(3, 10, (n, GAP_TIME)).astype("int32")
    y = rng.integers(0, 2, n).astype("int32")
    gaps = rng.integers(1, MAX_GAP + 1, n) if gap is None else np.full(n, gap)
    x[np.arange(n), GAP_TIME - 1 - gaps] = y + 1
    return x, y


def _classifier(recurrent):
    ids = keras.Input((GAP_TIME,), dtype="int32")
    x = keras.layers.Embedding(10, 8, name="embedding")(ids)
    model = keras.Model(ids, keras.layers.Dense(2)(recurrent(x)))
    model.compile(
        keras.optimizers.Adam(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _fall_at(profile, lag):
    """log10 of (norm at `lag`) / (norm at lag 0)."""
    by_lag = np.asarray(profile)[::-1]
    return float(np.log10(by_lag[lag] / by_lag[0]))


def test_tanh_rnn_at_gain_0_9_vanishes_while_keras_default_stays_flat():
    probe_x, probe_y = _gap_task(32, seed=99, gap=LAG)
    shrinking = _classifier(keras.layers.SimpleRNN(32, recurrent_initializer=keras.initializers.Orthogonal(0.9)))
    default = _classifier(keras.layers.SimpleRNN(32))  # Keras default: orthogonal, gain 1
    for name, profile in ThroughTimeProbe(shrinking)(probe_x, probe_y).items():
        assert _fall_at(profile, LAG) < -2, name  # more than two orders of magnitude over 50 steps
    for name, profile in ThroughTimeProbe(default)(probe_x, probe_y).items():
        assert _fall_at(profile, LAG) > -0.5, name  # almost flat at initialisation


def test_lstm_trained_on_a_gap_task_keeps_a_gradient_at_lag_50():
    """Trained on gaps of 1..50, the LSTM reads the token 50 steps back, and the gradient of the last
    loss with respect to that step is still there: less than a millionfold below the one at lag 0."""
    x, y = _gap_task(1024, seed=1)
    probe_x, probe_y = _gap_task(32, seed=99, gap=LAG)
    test_x, test_y = _gap_task(256, seed=98, gap=LAG)

    lstm = _classifier(keras.layers.LSTM(16))
    lstm.fit(x, y, batch_size=32, epochs=6, verbose=0)
    assert lstm.evaluate(test_x, test_y, verbose=0)[1] >= 0.9  # it uses the token 50 steps back
    profile = ThroughTimeProbe(lstm)(probe_x, probe_y)["embedding"]
    assert np.all(np.isfinite(profile)) and _fall_at(profile, LAG) > -6
