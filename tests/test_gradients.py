"""GradientRecorder: the recorded norms are the real ones, at the real steps, and the model stays plain."""

import glob
import json
import math

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from training.instruments import GradientRecorder, read_gradient_summary, read_step_gradients

VOCAB, TIME, UNITS, CLASSES = 5, 8, 6, 3


def _model(name="toy"):
    """Embedding (named "embedding") -> SimpleRNN -> Dense logits, the zoo's last_class contract."""
    ids = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 4, name="embedding")(ids)
    x = keras.layers.SimpleRNN(UNITS, name="rnn")(x)
    logits = keras.layers.Dense(CLASSES, name="head")(x)
    return keras.Model(ids, logits, name=name)


def _loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    # A vocabulary of 5 over 16 x 8 positions: every id repeats many times in a batch.
    return rng.integers(0, VOCAB, (n, TIME)).astype("int32"), rng.integers(0, CLASSES, (n,)).astype("int32")


def _dense_norm(gradient):
    return float(np.sqrt(np.sum(np.square(tf.convert_to_tensor(gradient).numpy().astype(np.float64)))))


def _tape_norms(model, x, y):
    """Independent reference: GradientTape on the same batch and weights, dense norms in float64."""
    with tf.GradientTape() as tape:
        loss = _loss()(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_variables)
    per_variable = {v.path: _dense_norm(g) for v, g in zip(model.trainable_variables, grads)}
    per_layer = {}
    for path, norm in per_variable.items():
        layer = path.split("/")[0]
        per_layer[layer] = math.sqrt(per_layer.get(layer, 0.0) ** 2 + norm**2)
    total = math.sqrt(sum(n**2 for n in per_variable.values()))
    return float(loss), total, per_layer, per_variable, grads


def _weights(model):
    return [v.numpy().astype(np.float64) for v in model.trainable_variables]


def test_recorded_norms_equal_tape_norms_and_embedding_ids_are_merged(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.1), _loss())
    x, y = _data()
    loss, total, per_layer, per_variable, grads = _tape_norms(model, x, y)

    # The embedding gradient is IndexedSlices with repeated ids; merging them changes the norm.
    assert isinstance(grads[0], tf.IndexedSlices)
    unmerged = float(np.sqrt(np.sum(np.square(grads[0].values.numpy().astype(np.float64)))))
    assert abs(unmerged - per_variable["embedding/embeddings"]) > 1e-2 * per_variable["embedding/embeddings"]

    recorder = GradientRecorder(tmp_path, per_variable=True)
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    row = recorder.records[0]
    assert row["step"] == 0
    assert row["step_loss"] == pytest.approx(loss, rel=1e-5)
    assert row["grad_norm"] == pytest.approx(total, rel=1e-5)
    assert row["grad_norm_clipped"] == row["grad_norm"] and row["grad_clipped"] == 0.0
    for layer, norm in per_layer.items():
        assert row[f"grad_norm/{layer}"] == pytest.approx(norm, rel=1e-5), layer
    for path, norm in per_variable.items():
        assert row[f"grad_norm/{path}"] == pytest.approx(norm, rel=1e-5), path
    assert list(read_step_gradients(tmp_path).columns[:6]) == [
        "step", "epoch", "step_loss", "grad_norm", "grad_norm_clipped", "grad_clipped"
    ]


@pytest.mark.parametrize(
    "clip", [{}, {"clipnorm": 0.05}, {"global_clipnorm": 0.1}, {"clipvalue": 0.01}], ids=lambda c: next(iter(c), "none")
)
def test_post_clip_norm_is_the_applied_update(clip):
    """With plain SGD at learning rate 1 the weight change *is* the applied gradient."""
    model = _model()
    model.compile(keras.optimizers.SGD(1.0, **clip), _loss())
    x, y = _data()
    before = _weights(model)
    recorder = GradientRecorder()
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    applied = math.sqrt(sum(np.sum((b - a) ** 2) for b, a in zip(before, _weights(model))))
    row = recorder.records[0]
    assert row["grad_norm_clipped"] == pytest.approx(applied, rel=1e-4)
    if clip:
        assert row["grad_clipped"] == 1.0
        assert row["grad_norm_clipped"] < 0.9 * row["grad_norm"]
    else:
        assert row["grad_clipped"] == 0.0 and row["grad_norm_clipped"] == row["grad_norm"]
    if "global_clipnorm" in clip:
        # Keras's global norm counts an embedding row once per occurrence, so the applied norm of the
        # merged (dense) gradient is near, not exactly at, the threshold.
        assert row["grad_norm_clipped"] == pytest.approx(0.1, rel=0.2)


def test_mirrored_strategy_records_the_summed_gradient_and_the_true_loss():
    if len(tf.config.list_logical_devices("CPU")) < 2:
        pytest.skip("needs the two logical CPU devices that tests/conftest.py configures")
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = _data()
    with strategy.scope():
        model = _model()
        model.compile(keras.optimizers.SGD(1.0, global_clipnorm=0.1), _loss())
    loss, total, per_layer, _, _ = _tape_norms(model, x, y)
    before = _weights(model)
    recorder = GradientRecorder()
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, callbacks=[recorder])
    row = recorder.records[0]
    assert row["step_loss"] == pytest.approx(loss, rel=1e-5)
    assert row["grad_norm"] == pytest.approx(total, rel=1e-5)
    for layer, norm in per_layer.items():
        assert row[f"grad_norm/{layer}"] == pytest.approx(norm, rel=1e-5), layer
    # Each replica clips its own half, then the optimizer sums: the record is that sum.
    applied = math.sqrt(sum(np.sum((b - a) ** 2) for b, a in zip(before, _weights(model))))
    assert row["grad_norm_clipped"] == pytest.approx(applied, rel=1e-4)
    assert row["grad_clipped"] == 1.0


def test_nan_loss_stops_training_and_marks_the_run_diverged(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs))
    model.compile(keras.optimizers.SGD(0.01), "mse")
    x = np.ones((12, 3), "float32")
    y = np.zeros((12, 1), "float32")
    y[6] = np.nan  # in the fourth batch of two (step 3)
    recorder = GradientRecorder(tmp_path)
    model.fit(x, y, batch_size=2, epochs=3, shuffle=False, verbose=0, callbacks=[recorder])
    assert recorder.diverged and recorder.diverged_step == 3
    assert "loss" in recorder.divergence_cause and "NaN" in recorder.divergence_cause
    assert int(model.optimizer.iterations.numpy()) == 4  # stopped right after the diverged step
    assert [r["step"] for r in recorder.records] == [0, 1, 2, 3]
    summary = read_gradient_summary(tmp_path)
    assert summary["diverged"] is True and summary["diverged_step"] == 3
    assert read_step_gradients(tmp_path)["step"].tolist() == [0, 1, 2, 3]


def test_non_finite_gradient_with_finite_loss_names_the_variable():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="zeros", name="out")(inputs))

    def root_error(y_true, y_pred):  # finite at 0, but its derivative there is not
        return keras.ops.mean(keras.ops.sqrt(keras.ops.abs(y_pred - y_true)), axis=-1)

    model.compile(keras.optimizers.SGD(0.01), root_error)
    recorder = GradientRecorder(every_n_steps=10)
    model.fit(np.ones((4, 3), "float32"), np.zeros((4, 1), "float32"), batch_size=4, epochs=2, verbose=0,
              callbacks=[recorder])
    assert recorder.diverged and recorder.diverged_step == 0
    assert "'out/kernel'" in recorder.divergence_cause
    assert recorder.records[-1]["step_loss"] == 0.0


def test_huge_finite_gradient_is_measured_not_mistaken_for_divergence():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(inputs))

    def huge(y_true, y_pred):  # gradients ~1e25: their squares overflow float32
        return 1e25 * keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1)

    model.compile(keras.optimizers.SGD(0.0), huge)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(huge(y, model(x)))
    grads = tape.gradient(loss, model.trainable_variables)
    expected = math.sqrt(sum(np.sum(g.numpy().astype(np.float64) ** 2) for g in grads))
    assert expected > 1e20
    recorder = GradientRecorder()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[recorder])
    assert not recorder.diverged
    assert recorder.records[0]["grad_norm"] == pytest.approx(expected, rel=1e-5)


def _events(directory):
    """{tag: {step: value}} from the TensorBoard event files under `directory` (histograms: value count)."""
    out = {}
    for path in glob.glob(f"{directory}/**/events.out.tfevents.*", recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                array = tf.make_ndarray(value.tensor)
                out.setdefault(value.tag, {})[event.step] = array
                plugins.setdefault(value.tag, value.metadata.plugin_data.plugin_name or plugins.get(value.tag))
    return out


plugins = {}  # tag -> TensorBoard plugin ("scalars", "histograms"), filled by _events


def test_tensorboard_events_carry_the_real_steps(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.1), _loss())
    x, y = _data(n=20)
    recorder = GradientRecorder(tmp_path, every_n_steps=3, histogram_every_n_steps=4)
    model.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0, callbacks=[recorder])  # 10 steps
    events = _events(tmp_path / "tensorboard" / "gradients")
    assert sorted(events["grad_norm"]) == [0, 3, 6, 9]
    assert plugins["grad_norm"] == "scalars" and plugins["grad_values/rnn"] == "histograms"
    for row in recorder.records:
        assert float(events["grad_norm"][row["step"]]) == pytest.approx(row["grad_norm"], rel=1e-6)
        assert float(events["grad_norm/rnn"][row["step"]]) == pytest.approx(row["grad_norm/rnn"], rel=1e-6)
    assert sorted(events["grad_values/rnn"]) == [0, 4, 8]
    # A histogram holds (left edge, right edge, count) rows; the counts add up to the layer's size.
    rnn_size = sum(int(np.prod(v.shape)) for v in model.get_layer("rnn").trainable_variables)
    assert events["grad_values/rnn"][4][:, 2].sum() == rnn_size


def test_keras_callbacks_see_the_values_and_the_model_stays_plain(tmp_path):
    model = _model()
    model_class = type(model)
    model.compile(keras.optimizers.Adam(0.01), _loss())
    x, y = _data(n=32)
    recorder = GradientRecorder(tmp_path / "run")
    history = model.fit(
        x, y, batch_size=8, epochs=2, verbose=0,
        callbacks=[
            recorder,
            keras.callbacks.CSVLogger(str(tmp_path / "log.csv")),
            keras.callbacks.EarlyStopping(monitor="grad_norm", mode="min", patience=5),
            keras.callbacks.TensorBoard(str(tmp_path / "tb")),
        ],
    )
    assert {"grad_norm", "grad_norm_clipped", "grad_norm/rnn", "step_loss"} <= set(history.history)
    assert len(history.history["grad_norm"]) == 2
    assert "grad_norm/embedding" in pd.read_csv(tmp_path / "log.csv").columns
    assert "epoch_grad_norm" in _events(tmp_path / "tb")
    assert len(recorder.records) == 8 and read_step_gradients(tmp_path / "run")["step"].tolist() == list(range(8))

    # Nothing of the recorder is left on the instances; the saved model loads with plain Keras.
    assert "train_step" not in model.__dict__ and "apply" not in model.optimizer.__dict__
    assert type(model) is model_class
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    later = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert "grad_norm" not in later.history


def test_a_custom_train_step_is_kept_and_measured():
    calls = []

    class Custom(keras.Sequential):
        def train_step(self, data):
            calls.append(1)
            x, y = data
            with tf.GradientTape() as tape:
                loss = keras.ops.mean(keras.ops.square(self(x, training=True) - y))
            grads = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
            return {"custom_loss": loss}

    model = Custom([keras.Input((3,)), keras.layers.Dense(2, name="out")])
    model.compile(keras.optimizers.SGD(0.1))
    x, y = np.ones((4, 3), "float32"), np.zeros((4, 2), "float32")
    with tf.GradientTape() as tape:
        loss = keras.ops.mean(keras.ops.square(model(x) - y))
    expected = math.sqrt(sum(_dense_norm(g) ** 2 for g in tape.gradient(loss, model.trainable_variables)))
    recorder = GradientRecorder()
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[recorder])
    assert calls and "custom_loss" in history.history
    assert recorder.records[0]["grad_norm"] == pytest.approx(expected, rel=1e-5)
    assert "step_loss" not in recorder.records[0]  # this step never calls optimizer.scale_loss


@pytest.mark.parametrize(
    "optimizer, message",
    [
        (lambda: keras.optimizers.SGD(0.1, gradient_accumulation_steps=2), "gradient_accumulation_steps"),
        (lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)), "LossScaleOptimizer"),
    ],
    ids=["accumulation", "loss_scale"],
)
def test_unsupported_optimizers_are_refused_before_training(optimizer, message):
    model = _model()
    model.compile(optimizer(), _loss())
    x, y = _data()
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[GradientRecorder()])
    assert int(model.optimizer.iterations.numpy()) == 0


def test_bad_arguments_are_one_clear_sentence():
    with pytest.raises(ValueError, match="every_n_steps must be a positive integer"):
        GradientRecorder(every_n_steps=0)
    with pytest.raises(ValueError, match="histogram_every_n_steps"):
        GradientRecorder(histogram_every_n_steps=-1)


def test_summary_json_counts_clipped_steps(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.1, global_clipnorm=1e-3), _loss())
    x, y = _data()
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[GradientRecorder(tmp_path, every_n_steps=2)])
    summary = json.loads((tmp_path / "gradients_summary.json").read_text())
    assert summary["clipping"] == {"global_clipnorm": 1e-3}
    assert summary["clipped_fraction"] == 1.0 and summary["steps_seen"] == 4 and summary["rows"] == 2
    assert summary["layers"] == ["embedding", "rnn", "head"]


def test_a_fit_that_raises_leaves_no_stale_wrappers_for_the_next_recorder(tmp_path):
    model = _model()
    model.compile(keras.optimizers.SGD(0.1), _loss())
    x, y = _data()

    class Interrupt(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=4, verbose=0, callbacks=[GradientRecorder(), Interrupt()])
    assert "train_step" in model.__dict__  # on_train_end never ran
    recorder = GradientRecorder(tmp_path)
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[recorder])
    model.fit(x, y, batch_size=4, verbose=0, callbacks=[recorder])  # a second fit appends to the CSV
    assert "train_step" not in model.__dict__ and "apply" not in model.optimizer.__dict__
    assert read_step_gradients(tmp_path)["step"].tolist() == list(range(1, 9))
