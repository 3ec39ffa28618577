"""What recording the step gradients costs per training step, and what one through-time profile costs.

    python -m training.bench_gradients [--layer lstm] [--units 128] [--time 100] [--batch 32]   # prints it

The same compiled model is trained with `fit` in alternation without and with `GradientRecorder`
(per-layer norms at every step; once logs only, once also writing the CSV and TensorBoard scalars), a
few steps per `fit`, several rounds. A step is the time between two `on_train_batch_begin` calls, so it
includes the traced step and every callback. The first steps of each `fit` (where the function is
traced again) are dropped; each configuration is summarised by the median over rounds of the median
step. Then one `ThroughTimeProbe` call on a probe batch is timed the same way (median of repeats).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import keras
import numpy as np

from training.instruments.step_gradients import GradientRecorder
from training.instruments.through_time import ThroughTimeProbe

LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "simple_rnn": keras.layers.SimpleRNN}


_SKIP = 3  # steps dropped at the start of every fit (tracing, warm-up)


class _StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_batch_begin(self, batch, logs=None):
        self.starts.append(time.perf_counter())

    def on_train_end(self, logs=None):
        self.starts.append(time.perf_counter())

    def step_seconds(self):
        gaps = np.diff(self.starts)
        return gaps[_SKIP:-1] if len(gaps) > _SKIP + 1 else gaps  # the last gap holds on_train_end work


def build_model(layer, vocabulary_size, embedding_dim, units, time_steps):
    """A character-language-model-sized network: Embedding -> recurrent layer -> per-step logits."""
    ids = keras.Input((time_steps,), dtype="int32")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(ids)
    x = LAYERS[layer](units, return_sequences=True, name=layer)(x)  # (batch, time, units)
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)  # (batch, time, vocabulary)
    model = keras.Model(ids, logits)
    model.compile(
        keras.optimizers.Adam(1e-3, global_clipnorm=1.0),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def benchmark(layer="lstm", units=128, embedding_dim=64, vocabulary=65, time_steps=100, batch=32, steps=20,
              rounds=5, probe_batch=32, probe_repeats=5):
    """Prints, per configuration, the median step time and its ratio to the baseline, then the cost of
    one through-time profile (see the module docstring)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = batch * (steps + _SKIP + 1)
    x = rng.integers(0, vocabulary, (n, time_steps)).astype("int32")
    y = rng.integers(0, vocabulary, (n, time_steps)).astype("int32")
    model = build_model(layer, vocabulary, embedding_dim, units, time_steps)
    print(
        f"model: Embedding({vocabulary}, {embedding_dim}) -> {layer}({units}) -> Dense; "
        f"time {time_steps}, batch {batch}, {model.count_params():,} parameters; "
        f"{rounds} rounds x {steps} timed steps per configuration"
    )

    folder = tempfile.mkdtemp(prefix="bench_gradients_")
    configurations = {
        "baseline": lambda: [],
        "recorder (logs)": lambda: [GradientRecorder(every_n_steps=1)],
        "recorder (logs+csv+tensorboard)": lambda: [GradientRecorder(folder, every_n_steps=1)],
    }
    medians = {name: [] for name in configurations}
    for round_ in range(rounds):
        order = list(configurations) if round_ % 2 == 0 else list(reversed(configurations))
        for name in order:
            timer = _StepTimer()
            model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0,
                      callbacks=configurations[name]() + [timer])
            medians[name].append(float(np.median(timer.step_seconds())))
        print(f"  round {round_ + 1}: " + ", ".join(f"{k} {v[-1] * 1e3:.1f} ms" for k, v in medians.items()))

    base = statistics.median(medians["baseline"])
    print("\nstep time (median over rounds of the median step):")
    for name, values in medians.items():
        med = statistics.median(values)
        paired = statistics.median(v / b for v, b in zip(values, medians["baseline"]))
        print(f"  {name:34s} {med * 1e3:8.2f} ms   ratio {med / base:.4f}   paired-round ratio {paired:.4f}")

    probe = ThroughTimeProbe(model)
    probe_x, probe_y = x[: probe_batch], y[: probe_batch]
    probe(probe_x, probe_y)  # traces
    seconds = []
    for _ in range(probe_repeats):
        start = time.perf_counter()
        probe(probe_x, probe_y)
        seconds.append(time.perf_counter() - start)
    cost = statistics.median(seconds)
    print(
        f"\nthrough-time profile ({', '.join(probe.names)}) on a probe batch of {probe_batch}: "
        f"{cost * 1e3:.1f} ms per checkpoint = {cost / base:.2f} baseline steps"
    )
