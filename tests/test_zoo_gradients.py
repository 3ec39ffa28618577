"""The gradient instruments on every zoo model (parametrized over `list_models()`)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from training.instruments import GradientRecorder
from training.instruments import ThroughTimeProbe, summarize_profile

VOCAB, TIME, BATCH = 11, 12, 8


def data(output, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, size=(BATCH, TIME)).astype("int32")
    if output == "per_step":
        y = rng.integers(0, VOCAB, size=(BATCH, TIME)).astype("int32")
    elif output == "last_class":
        y = rng.integers(0, 3, size=(BATCH,)).astype("int32")
    else:
        y = rng.random((BATCH, 1)).astype("float32")
    return x, y


def compiled(name, output):
    model = zoo.build_model(name, vocabulary_size=VOCAB, output=output, num_classes=3 if output == "last_class" else None,
                            units=8, sequence_length=TIME)
    loss = "mse" if output == "last_value" else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    return model, loss


@pytest.mark.parametrize("name", zoo.list_models())
@pytest.mark.parametrize("output", ["per_step", "last_class", "last_value"])
def test_through_time_profile_for_every_zoo_model(name, output):
    model, _ = compiled(name, output)
    x, y = data(output)
    profiles = ThroughTimeProbe(model)(x, y)
    assert "embedding" in profiles
    for probe, profile in profiles.items():
        assert profile.shape == (TIME,), probe
        assert np.all(np.isfinite(profile)) and profile[-1] > 0, probe
        if probe == "state_backward" and output == "per_step":
            # The prediction at step T reads the backward direction's state at T, which has seen only
            # token T: no earlier backward state can reach it.
            assert np.all(profile[:-1] == 0)
            continue
        assert np.all(profile > 0), probe
        assert np.isfinite(summarize_profile(profile)["decay_decades_per_step"])
    if name.startswith("bidirectional"):
        # both directions show: the backward direction is measured separately
        assert {"state_forward", "state_backward"} <= set(profiles)
    if output == "last_class" and not name.startswith("bidirectional") and name != "self_attention":
        assert "state" in profiles


@pytest.mark.parametrize("name", zoo.list_models())
def test_step_norms_of_every_zoo_model_match_the_tape(name):
    model, loss_fn = compiled(name, "last_class")
    x, y = data("last_class")
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = float(tf.linalg.global_norm([tf.convert_to_tensor(g) for g in grads]))
    recorder = GradientRecorder(every_n_steps=1)
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    assert recorder.records[0]["grad_norm"] == pytest.approx(expected, rel=1e-5)
