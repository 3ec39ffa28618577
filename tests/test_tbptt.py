"""Truncated BPTT (`zoo.tbptt`, `--tbptt K`): the forward pass of full BPTT, the gradient cut every K
steps; a hand-chunked reference (for zoo.scan's parallel-scan cells, a step-by-step one); the through-time
profile of a run; save/reload; the refusals."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from training import evaluate, generate
from training.core import runs
from training.core.config import RunConfig
from training.instruments import gradient_through_time, read_through_time
from training.train import main, train
from zoo import bptt, scan, tbptt

LAYERS = {
    "keras_simple_rnn": keras.layers.SimpleRNN,
    "keras_lstm": keras.layers.LSTM,
    "keras_gru": keras.layers.GRU,
    "bptt_simple_rnn": bptt.SimpleRNN,
    "bptt_lstm": bptt.LSTM,
    "bptt_gru": bptt.GRU,
}
SCAN_LAYERS = {"min_gru": scan.MinGRU, "min_lstm": scan.MinLSTM, "lru": scan.LRU}  # they take tbptt themselves
SCAN_TYPES = tuple(SCAN_LAYERS.values())
BATCH, TIME, FEATURES, UNITS, K = 2, 10, 3, 4, 4  # windows of 4, 4 and 2 steps


def _inputs(seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(BATCH, TIME, FEATURES)).astype("float32"))


def _twins(cls, **options):
    """The plain layer and its truncating twin holding the same (randomised, nonzero-bias) weights."""
    plain = cls(UNITS, return_sequences=True, **options)
    cut = tbptt.truncated(cls(UNITS, return_sequences=True, **options), K)
    plain(_inputs()), cut(_inputs())
    rng = np.random.default_rng(1)
    weights = [w + rng.normal(scale=0.3, size=w.shape).astype("float32") for w in plain.get_weights()]
    plain.set_weights(weights)
    cut.set_weights(weights)
    return plain, cut


def _weighing(shape):
    """A fixed weighing of every output, so that no gradient is trivially zero."""
    return tf.reshape(tf.sin(tf.range(np.prod(shape), dtype=tf.float32) + 1.0), shape)


def test_windows_are_cut_every_k_steps_from_the_first_step_read():
    assert tbptt.windows(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert tbptt.windows(10, 4, backwards=True) == [(6, 10), (2, 6), (0, 2)]
    assert tbptt.windows(8, 4) == [(0, 4), (4, 8)]


@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("name", list(LAYERS))
def test_same_outputs_and_the_gradient_of_a_hand_chunked_loop(name, go_backwards):
    plain, cut = _twins(LAYERS[name], go_backwards=go_backwards)
    x = _inputs(2)
    weighing = _weighing((BATCH, TIME, UNITS))
    # The reference: the plain layer (return_state) called window by window, the state handed on with
    # stop_gradient, as PyTorch's word_language_model repackages its hidden state.
    chunked = LAYERS[name](UNITS, return_sequences=True, return_state=True, go_backwards=go_backwards)
    chunked(x[:, :K])
    chunked.set_weights(plain.get_weights())

    def loss_of(outputs):
        return tf.reduce_sum(outputs * weighing)

    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        full = plain(x, training=True)
        ours = cut(x, training=True)
        pieces, states = [], None
        for number, (start, end) in enumerate(tbptt.windows(TIME, K, go_backwards)):
            kwargs = {} if states is None else {"initial_state": [tf.stop_gradient(s) for s in states]}
            out, *states = chunked(x[:, start:end], training=True, **kwargs)
            pieces.append(out)
        reference = tf.concat(pieces, axis=1)  # in reading order, as the layer's own outputs
        losses = loss_of(full), loss_of(ours), loss_of(reference)
    np.testing.assert_allclose(ours.numpy(), full.numpy(), atol=1e-6)  # the forward pass is full BPTT's
    np.testing.assert_allclose(reference.numpy(), full.numpy(), atol=1e-6)
    sources = [x, *plain.trainable_weights]
    ours_grads = tape.gradient(losses[1], [x, *cut.trainable_weights])
    reference_grads = tape.gradient(losses[2], [x, *chunked.trainable_weights])
    full_grads = tape.gradient(losses[0], sources)
    for a, b in zip(reference_grads, ours_grads):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
    # ... and truncation changed the gradient (a layer that ignored tbptt would equal full BPTT here)
    assert not np.allclose(ours_grads[0].numpy(), full_grads[0].numpy(), atol=1e-4)


def _windowed_loop(layer, x, backwards):
    """The reference for a zoo.scan layer: its recurrence h_t = a_t h_(t-1) + b_t written as a Python loop
    over the steps in reading order, the state entering each window through stop_gradient; then its readout.
    Outputs in reading order, as the layer's own with go_backwards."""
    x = tf.reverse(x, axis=[1]) if backwards else x
    a, b = layer.coefficients(x)  # (batch, time, units) each, the step's factor and drive
    h, states = tf.zeros_like(b[:, 0]), []
    for t in range(x.shape[1]):
        if t and t % K == 0:  # the first step of a window (counted from the first step read)
            h = tf.stop_gradient(h)
        h = a[:, t] * h + b[:, t]
        states.append(h)
    return layer.readout(tf.stack(states, axis=1), x)


@pytest.mark.parametrize("path", scan.SCANS)
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forwards", "backwards"])
@pytest.mark.parametrize("name", list(SCAN_LAYERS))
def test_scan_cells_give_the_same_outputs_and_the_gradient_of_a_window_by_window_loop(name, go_backwards, path):
    plain, cut = _twins(SCAN_LAYERS[name], go_backwards=go_backwards, scan=path)
    assert cut.tbptt == K and plain.tbptt is None and type(cut) is type(plain)
    x = _inputs(2)
    weighing = _weighing((BATCH, TIME, UNITS))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        full, ours, reference = plain(x, training=True), cut(x, training=True), _windowed_loop(plain, x, go_backwards)
        losses = [tf.reduce_sum(y * weighing) for y in (full, ours, reference)]
    np.testing.assert_allclose(ours.numpy(), full.numpy(), atol=1e-6)  # the forward pass is full BPTT's
    np.testing.assert_allclose(reference.numpy(), full.numpy(), atol=1e-5)
    full_grads = tape.gradient(losses[0], [x, *plain.trainable_weights])
    ours_grads = tape.gradient(losses[1], [x, *cut.trainable_weights])
    reference_grads = tape.gradient(losses[2], [x, *plain.trainable_weights])
    for weight, a, b in zip(["x", *[w.name for w in plain.trainable_weights]], reference_grads, ours_grads):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=weight)
    assert not np.allclose(ours_grads[0].numpy(), full_grads[0].numpy(), atol=1e-4)  # truncation changed it


@pytest.mark.parametrize("name", list(SCAN_LAYERS))
def test_scan_cells_cut_a_length_known_only_at_run_time_the_same_way(name):
    """The windows of a zoo.scan layer are counted in the graph: a training step traced for any length
    cuts where the static one does."""
    _, cut = _twins(SCAN_LAYERS[name])
    x = _inputs(4)

    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(cut(x, training=True)[:, -1])
        return tape.gradient(loss, x)

    dynamic = tf.function(gradient, input_signature=[tf.TensorSpec([None, None, FEATURES], tf.float32)])
    for length in (TIME, 7):
        expected = gradient(x[:, :length]).numpy()
        np.testing.assert_allclose(dynamic(x[:, :length]).numpy(), expected, rtol=1e-5, atol=1e-7)
        reach = np.abs(expected).sum(axis=(0, 2))
        start = ((length - 1) // K) * K
        assert np.all(reach[:start] == 0) and np.all(reach[start:] > 0), (length, reach)


@pytest.mark.parametrize("name", ["keras_lstm", "bptt_gru", *SCAN_LAYERS])
def test_each_output_depends_on_its_own_window_only(name):
    """d y_t / d x_s is exactly zero for s before the window of t, nonzero from its start to t."""
    _, cut = _twins({**LAYERS, **SCAN_LAYERS}[name])
    x = _inputs(3)
    for t in range(TIME):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = cut(x, training=True)[:, t]
            loss = tf.reduce_sum(y * _weighing(y.shape))
        reach = np.abs(tape.gradient(loss, x).numpy()).sum(axis=(0, 2))  # (T,)
        start = (t // K) * K
        assert np.all(reach[:start] == 0), (t, reach)
        assert np.all(reach[start:t + 1] > 0), (t, reach)
        assert np.all(reach[t + 1:] == 0), (t, reach)  # causal, as any forward layer


RECURRENT = ["simple_rnn", "irnn", "lstm", "gru"]
SCAN_MODELS = ["min_gru", "min_lstm", "lru"]  # no `implementation`: one layer each, zoo.scan's


@pytest.mark.parametrize("model, implementation",
                         [(m, i) for m in RECURRENT for i in ("keras", "bptt")] + [(m, None) for m in SCAN_MODELS])
def test_profile_of_a_truncated_model_is_zero_from_lag_k_and_the_full_model_s_is_not(model, implementation):
    time_steps = 12
    kwargs = dict(vocabulary_size=7, output="per_step", causal=True, sequence_length=time_steps, units=8)
    if implementation is not None:
        kwargs["implementation"] = implementation
    full = zoo.build_model(model, **kwargs)
    cut = zoo.build_model(model, tbptt=K, **kwargs)
    cut.set_weights(full.get_weights())
    layer = cut.get_layer(index=2)  # tokens, embedding, the recurrent layer
    assert layer.tbptt == K and (isinstance(layer, tbptt.Truncated) or isinstance(layer, SCAN_TYPES))
    ids = np.random.default_rng(0).integers(0, 7, (4, time_steps)).astype("int32")
    np.testing.assert_array_equal(np.asarray(cut(ids)), np.asarray(full(ids)))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    for probe in ("embedding", "state"):
        by_lag = gradient_through_time(cut, ids, ids, probe=probe, loss=loss)[::-1]  # by_lag[k]: lag k
        assert np.all(by_lag[K:] == 0) and np.all(by_lag[:K] > 0), (probe, by_lag)
        full_by_lag = gradient_through_time(full, ids, ids, probe=probe, loss=loss)[::-1]
        assert np.all(full_by_lag[K:] > 0), (probe, full_by_lag)
    # A length that is not a multiple of K: the last window (steps 9 .. 10) is the one the last step reads.
    by_lag = gradient_through_time(cut, ids[:, :10], ids[:, :10], loss=loss)[::-1]
    assert np.all(by_lag[2:] == 0) and np.all(by_lag[:2] > 0), by_lag


def _recurrent_layers(model):
    """The recurrent layers of a zoo model (a Bidirectional one by its forward half) and the backward halves."""
    recurrent = (keras.layers.RNN, keras.layers.Bidirectional, *SCAN_TYPES)
    layers = [layer for layer in model.layers if isinstance(layer, recurrent)]
    backward = [layer.backward_layer for layer in layers if isinstance(layer, keras.layers.Bidirectional)]
    return [getattr(layer, "forward_layer", layer) for layer in layers], backward


def test_every_recurrent_model_takes_tbptt_and_the_others_refuse_it_in_one_sentence():
    args = dict(vocabulary_size=7, output="last_class", num_classes=3, sequence_length=10, units=4, num_layers=2)
    truncated_kinds = set()
    for name in zoo.list_models():
        if zoo.get_model_info(name).family == "recurrent":  # Keras loops, zoo.bptt, zoo.scan's cells alike
            model = zoo.build_model(name, tbptt=3, **args)
            cells, backward = _recurrent_layers(model)
            assert len(cells) == 2 and all(c.tbptt == 3 for c in cells), name
            # a Keras loop gets its truncating twin; zoo.scan's layers take tbptt themselves
            assert all(isinstance(c, tbptt.Truncated) for c in cells if isinstance(c, keras.layers.RNN)), name
            assert all(b.tbptt == 3 and b.go_backwards for b in backward), name
            truncated_kinds.update(type(c).__name__ for c in cells)
        else:
            with pytest.raises(ValueError, match="no recurrent state to carry"):
                zoo.build_model(name, tbptt=3, **args)
    for bad in (0, -2, True, 2.5, "3"):
        with pytest.raises(ValueError, match="tbptt must be a positive integer"):
            zoo.build_model("lstm", tbptt=bad, **args)
    for too_long in (10, 11):
        with pytest.raises(ValueError, match="smaller than the sequence length 10"):
            zoo.build_model("lstm", tbptt=too_long, **args)
    assert {"MinGRU", "MinLSTM", "LRU"} <= truncated_kinds  # the scan cells are among them
    with pytest.raises(ValueError, match="has no truncated-BPTT version"):
        tbptt.truncated(keras.layers.Dense(3), 2)
    with pytest.raises(ValueError, match="tbptt must be a positive integer"):
        scan.MinGRU(3, tbptt=0)


def test_an_unknown_length_is_refused_in_training_and_runs_whole_in_inference():
    plain = keras.layers.GRU(3, return_sequences=True)
    cut = tbptt.truncated(keras.layers.GRU(3, return_sequences=True), 2)
    x = tf.constant(np.random.default_rng(0).normal(size=(1, 5, 2)).astype("float32"))
    plain(x), cut(x)
    cut.set_weights(plain.get_weights())
    signature = [tf.TensorSpec([None, None, 2], tf.float32)]
    with pytest.raises(ValueError, match="needs its length"):
        tf.function(lambda x: cut(x, training=True), input_signature=signature)(x)
    inference = tf.function(lambda x: cut(x, training=False), input_signature=signature)
    np.testing.assert_allclose(inference(x).numpy(), plain(x).numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["min_gru", "bidirectional_min_lstm", "bidirectional_lru"])
def test_a_truncated_scan_model_reloads_in_safe_mode_with_its_cuts(name, tmp_path):
    """Stacked (and Bidirectional) zoo.scan layers with tbptt: same outputs and the same truncated
    gradient after a .keras round trip in safe mode."""
    keras.utils.set_random_seed(0)
    args = dict(vocabulary_size=7, output="last_class", num_classes=3, sequence_length=8, units=4, num_layers=2)
    model = zoo.build_model(name, tbptt=3, **args)
    model.save(tmp_path / "m.keras")
    again = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    cells, backward = _recurrent_layers(again)
    assert len(cells) == 2 and all(layer.tbptt == 3 for layer in cells + backward)
    ids = np.random.default_rng(0).integers(0, 7, (3, 8)).astype("int32")
    full = zoo.build_model(name, **args)
    full.set_weights(model.get_weights())
    np.testing.assert_array_equal(np.asarray(again(ids)), np.asarray(model(ids)))
    np.testing.assert_allclose(np.asarray(full(ids)), np.asarray(model(ids)), atol=1e-6)

    def embedding_gradient(m):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(m(ids, training=True) * _weighing((3, 3)))
        return tape.gradient(loss, m.get_layer("embedding").embeddings)

    grads = [tf.convert_to_tensor(embedding_gradient(m)).numpy() for m in (model, again, full)]
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-6, atol=1e-7)
    assert not np.allclose(grads[0], grads[2], atol=1e-5)  # the reloaded cut is not full BPTT


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    line = "the quick brown fox jumps over the lazy dog. "
    path.write_text("".join(line[i:] + line[:i] + "\n" for i in range(len(line))) * 6, encoding="utf-8")
    return path


@pytest.mark.parametrize("model", ["lstm", "min_gru"])
def test_a_tbptt_run_records_k_shows_the_cut_and_reloads_evaluates_and_generates(tmp_path, corpus, model):
    config = RunConfig(model=model, task="char_lm", task_params={"path": str(corpus), "seq_len": 12}, tbptt=4,
                       units=16, batch_size=16, epochs=2, steps_per_epoch=5, learning_rate=1e-2, run_name="cut",
                       tensorboard=False)
    result = train(config, root=tmp_path, verbose=0)
    assert result["status"] == "finished"
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["tbptt"] == 4
    profiles = read_through_time(tmp_path / "cut")
    assert len(profiles["steps"]) == 3  # at the start and after each epoch
    for probe in ("embedding", "state"):
        by_lag = profiles[probe][:, ::-1]  # (rows, lag)
        assert np.all(by_lag[:, 4:] == 0) and np.all(by_lag[:, :4] > 0), (probe, by_lag)
    run = runs.load_run("cut", root=tmp_path)
    assert run.model.get_layer(f"{model}_1").tbptt == 4  # the saved model is the truncated one, safe mode
    metrics, _ = evaluate.evaluate_run("cut", root=tmp_path)
    assert metrics["bits_per_char"] == pytest.approx(result["test"]["bits_per_char"], rel=1e-6)
    text = generate.generate(run, "the ", length=30, temperature=0.8, seed=1)  # 34 > 12: windows of a long context
    assert text.startswith("the ") and len(text) == 34 and set(text) <= set(run.spec.vocabulary)


def _error_of(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "lstm", "--task", "recall", "--tbptt", "0"], "tbptt must be a positive integer"),
        (["--model", "lstm", "--task", "recall", "--task-param", "gap=8", "--tbptt", "10"],
         "tbptt=10 must be smaller than the sequence length 10"),
        (["--model", "self_attention", "--task", "recall", "--tbptt", "5"], "no recurrent state to carry"),
        # refused before the corpus is looked for (tiny_shakespeare is not prepared in this test)
        (["--model", "gru", "--task", "char_lm", "--task-param", "data_dir=EMPTY", "--tbptt", "100"],
         "smaller than the sequence length 100"),
    ],
)
def test_bad_tbptt_is_one_sentence_before_training_and_saves_nothing(capsys, tmp_path, argv, message):
    argv = [a.replace("EMPTY", str(tmp_path / "tfds")) for a in argv]
    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    assert message in _error_of(capsys, argv + ["--saved-models", str(runs_dir)])
    assert list(runs_dir.iterdir()) == []


DEMONSTRATION = dict(model="gru", model_params={"update_bias": 3}, task="recall", task_params={"gap": 48}, units=32,
                     batch_size=32, epochs=2, steps_per_epoch=100, learning_rate=3e-3, seed=0, tensorboard=False)


@pytest.mark.slow
def test_recall_across_a_gap_longer_than_the_window_is_solved_by_full_bptt_only(tmp_path):
    """docs/bptt.md, "Truncated BPTT": the key is 49 steps before the query, the windows 10 steps long."""
    full = train(RunConfig(**DEMONSTRATION, run_name="full"), root=tmp_path, verbose=0)
    cut = train(RunConfig(**DEMONSTRATION, tbptt=10, run_name="cut"), root=tmp_path, verbose=0)
    assert full["test"]["accuracy"] >= 0.95, full["test"]
    assert cut["test"]["loss"] > 0.95 * np.log(8), cut["test"]  # chance: ln 8 nats
    by_lag = read_through_time(tmp_path / "cut")["embedding"][:, ::-1]
    assert np.all(by_lag[:, 10:] == 0) and np.all(by_lag[:, :10] > 0)  # no gradient reaches the key
