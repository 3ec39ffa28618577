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
