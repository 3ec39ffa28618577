"""The train command's console line (training/core/console.py)."""

import io

import keras
import numpy as np

from training.core.console import EpochLine, clock


def test_epoch_line_shows_the_watched_numbers():
    line = EpochLine(epochs=10, steps_per_epoch=100, stream=io.StringIO())
    line.on_train_begin()
    line.on_epoch_begin(2)
    text = line.line(2, {"loss": 2.08071, "accuracy": 0.146875, "val_loss": 2.0813, "val_accuracy": 0.128,
                         "grad_norm": 0.38847, "grad_norm/gru_1": 0.26, "grad_nonfinite_index": -1.0,
                         "gtt_lag_1e6/state": float("nan"), "tokens_per_second": 21748.3})
    assert text.startswith("epoch  3/10  loss 2.081  accuracy 0.1469 | val loss 2.081  accuracy 0.128")
    assert "grad norm 0.388" in text and "21,748 tokens/s" in text and "elapsed" in text
    assert "gru_1" not in text and "nonfinite" not in text and "gtt" not in text
    lm = line.line(0, {"loss": 1.0, "nll": 1.0, "bits_per_char": 1.4427, "val_loss": 1.1, "val_bits_per_char": 1.59})
    assert "bits/char 1.443" in lm and "val loss 1.1  bits/char 1.59" in lm
    assert clock(3725) == "1:02:05" and clock(61) == "1:01"


def test_fit_prints_one_line_per_epoch_and_keeps_every_log():
    stream = io.StringIO()
    seen = []

    class Extra(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["grad_norm/dense"] = 1.0
            logs["grad_norm"] = 2.0

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(dict(logs))

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    x, y = np.zeros((8, 3), "float32"), np.zeros((8,), "int32")
    model.fit(x, y, batch_size=4, epochs=3, validation_data=(x, y), verbose=0,
              callbacks=[Extra(), EpochLine(stream=stream), Spy()])
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3  loss ") and "val loss" in lines[0]
    assert "grad norm 2" in lines[-1] and "ETA" not in lines[-1]
    assert {"grad_norm/dense", "grad_norm", "val_accuracy"} <= set(seen[-1])


TINY_RUN = ["--model", "gru", "--task", "recall", "--task-param", "gap=4", "--task-param", "eval_size=64",
            "--units", "8", "--batch-size", "16", "--dry-run"]


def test_train_prints_one_line_per_epoch_and_only_the_last_line_when_quiet(capsys):
    from training import train

    assert train.main(TINY_RUN) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("epoch 1/1  loss ") and "accuracy" in out[0] and "val loss" in out[0], out
    assert "grad norm" in out[0] and "grad_norm/" not in out[0] and "gtt_" not in out[0]
    assert out[-1].startswith("dry run OK") and len(out) == 2

    assert train.main([*TINY_RUN, "--quiet"]) == 0
    assert capsys.readouterr().out.splitlines() == [line for line in out if line.startswith("dry run OK")]


def test_quiet_and_verbose_exclude_each_other(capsys):
    import pytest

    from training import train

    with pytest.raises(SystemExit):
        train.main([*TINY_RUN, "--quiet", "--verbose"])
    assert "not allowed with" in capsys.readouterr().err


def test_gradient_words_name_explosions_nonfinite_steps_and_clipping():
    from training.core.console import EXPLODING_RATIO, gradient_words

    calm = {"grad_norm": 0.5, "grad_norm_mean": 0.52, "grad_norm_median": 0.5, "grad_norm_max": 0.9,
            "grad_nonfinite_steps": 0.0}
    assert gradient_words(calm, [0.5] * 10) == "grad norm 0.52 mean, 0.9 max"
    for factor, exploded in ((1.01, True), (0.99, False)):  # one step over EXPLODING_RATIO x the steps before it
        norms = [0.5] * 8 + [0.5 * EXPLODING_RATIO * factor, 0.5]
        assert gradient_words({**calm, "grad_norm_max": max(norms)}, norms).endswith(": exploding") == exploded
    # A run that converged: its largest step is its first, thousands of times its median, and nothing exploded.
    decaying = [10 ** (-5 * i / 99) for i in range(100)]
    assert "exploding" not in gradient_words({**calm, "grad_norm_max": 1.0, "grad_norm_median": 3e-3}, decaying)
    words = gradient_words({**calm, "grad_nonfinite_steps": 2.0, "grad_clipped_fraction": 0.4})
    assert "NaN/Inf in 2 steps" in words and "clipped in 40% of steps" in words
    assert "clipped" not in gradient_words({**calm, "grad_clipped_fraction": 0.0})
    # Without the recorder's epoch statistics: Keras's one-step value, as before.
    assert gradient_words({"grad_norm": 2.0}) == "grad norm 2"


def _epoch_line_and_csv(capsys, tmp_path, *extra):
    import csv

    from training import train

    argv = ["--model", "simple_rnn", "--task", "adding", "--task-param", "length=30", "--task-param", "eval_size=64",
            "--model-param", "recurrent_gain=2", "--optimizer", "sgd", "--learning-rate", "0.01", "--units", "16",
            "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "20", "--no-through-time",
            "--saved-models", str(tmp_path), *extra]
    assert train.main(argv) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch 1/1"))
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    with open(run / "gradients.csv") as f:
        rows = list(csv.DictReader(f))
    return line, rows


def test_console_line_shows_the_largest_step_of_an_exploding_epoch(capsys, tmp_path):
    """A tanh RNN at recurrent gain 2 under SGD: its first steps' gradients are hundreds of times the
    later ones; the epoch line must say so with the numbers of gradients.csv, not one step's norm."""
    line, rows = _epoch_line_and_csv(capsys, tmp_path)
    norms = [float(r["grad_norm"]) for r in rows]
    assert len(norms) == 20
    assert f"{max(norms):.3g} max" in line and f"{sum(norms) / len(norms):.3g} mean" in line
    assert "exploding" in line, line


def test_console_line_says_how_often_clipping_changed_the_gradient(capsys, tmp_path):
    line, rows = _epoch_line_and_csv(capsys, tmp_path, "--global-clipnorm", "1")
    clipped = sum(float(r["grad_clipped"]) > 0 for r in rows)
    assert 0 < clipped <= 20
    assert f"clipped in {100 * clipped / 20:.0f}% of steps" in line, line


def test_a_run_ends_with_the_inspect_command_and_quiet_with_its_folder(capsys, tmp_path):
    """`training.train` ends with the command that draws the run (issue 22); --quiet prints the one line
    that says where the run was saved, as its help says."""
    from training import train

    argv = ["--model", "lstm", "--task", "recall", "--task-param", "gap=4", "--task-param", "eval_size=32", "--units",
            "4", "--batch-size", "8", "--epochs", "1", "--steps-per-epoch", "2", "--no-tensorboard"]
    assert train.main([*argv, "--saved-models", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out.splitlines()
    (run,) = (tmp_path / "a").iterdir()
    assert out[-2].startswith("Saved lstm on recall to ") and str(run) in out[-2]
    assert out[-1].endswith(f"python -m training.inspect {run}"), out
    assert train.main([*argv, "--saved-models", str(tmp_path / "b"), "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    (run,) = (tmp_path / "b").iterdir()
    assert len(out) == 1 and out[0].startswith("Saved lstm on recall to ") and str(run) in out[0], out
