"""The speed of the zoo's training step against plain Keras.

For SimpleRNN, LSTM, GRU and self-attention at 128 and 256 units on the char-LM shapes (batch 64,
sequence 100, 65 characters), it times the zoo's training step with all step-gradient recording on
(`GradientRecorder`: global norm before and after clipping and the norm of every layer, every step)
next to plain `model.fit` of the same Keras model with no callbacks. Both arms are measured alternately
in one process, each repeat a fresh `fit` of `--steps` steps whose first steps (tracing) are dropped; the
table shows the median tokens per second of each arm and the median over repeats of the paired ratio
zoo / plain (>= 0.95 is the target).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import zoo
from training.instruments import GradientRecorder

VOCAB, BATCH, TIME = 65, 64, 100
WARMUP_STEPS = 3


class StepTimer(keras.callbacks.Callback):
    """Wall time of every training step after the first `WARMUP_STEPS` (which include tracing)."""

    def __init__(self):
        super().__init__()
        self.times = []
        self._last = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._last is None:
            self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if batch >= WARMUP_STEPS:
            self.times.append(now - self._last)
        self._last = now


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, size=(8 * BATCH, TIME + 1)).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x[:, :-1], x[:, 1:])).batch(BATCH, drop_remainder=True)
    return ds.cache().repeat().prefetch(tf.data.AUTOTUNE)


def make_model(name, units):
    keras.utils.set_random_seed(0)
    model = zoo.build_model(name, vocabulary_size=VOCAB, output="per_step", causal=True, sequence_length=TIME, units=units)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def time_fit(model, data, steps, callbacks):
    timer = StepTimer()
    model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[*callbacks, timer], verbose=0)
    return statistics.median(timer.times)


def bench(models=("simple_rnn", "lstm", "gru", "self_attention"), widths=(128, 256), steps=40, repeats=7):
    data = make_data()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            for units in widths:
                plain, recorded = make_model(name, units), make_model(name, units)
                times = {"plain": [], "zoo": []}
                for r in range(repeats):
                    order = ("plain", "zoo") if r % 2 == 0 else ("zoo", "plain")  # alternate which goes first
                    for arm in order:
                        if arm == "plain":
                            times[arm].append(time_fit(plain, data, steps, []))
                        else:
                            recorder = GradientRecorder(run_dir=os.path.join(tmp, f"{name}-{units}-{r}"), every_n_steps=1)
                            times[arm].append(time_fit(recorded, data, steps, [recorder]))
                plain_s, zoo_s = statistics.median(times["plain"]), statistics.median(times["zoo"])
                row = {
                    "model": name,
                    "units": units,
                    "parameters": plain.count_params(),
                    "plain_tokens_per_s": BATCH * TIME / plain_s,
                    "zoo_tokens_per_s": BATCH * TIME / zoo_s,
                    # Paired: each repeat times both arms back to back, so a slow drift of the machine's
                    # speed (seen here: +-5 % over minutes) cancels in the ratio of the pair.
                    "ratio": statistics.median(p / z for p, z in zip(times["plain"], times["zoo"])),
                    "plain_ms_per_step": 1000 * plain_s,
                    "zoo_ms_per_step": 1000 * zoo_s,
                }
                rows.append(row)
                print(format_row(row), flush=True)
    return rows


HEADER = f"{'model':<16}{'units':>6}{'params':>10}{'plain tok/s':>13}{'zoo tok/s':>12}{'zoo/plain':>11}"


def format_row(r):
    return (
        f"{r['model']:<16}{r['units']:>6}{r['parameters']:>10,}{r['plain_tokens_per_s']:>13,.0f}"
        f"{r['zoo_tokens_per_s']:>12,.0f}{r['ratio']:>11.3f}"
    )
