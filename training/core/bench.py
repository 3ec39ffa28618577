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
import warnings

import keras
import numpy as np
import tensorflow as tf

import zoo
from training.instruments import GradientRecorder

VOCAB, BATCH, TIME = 65, 64, 100
WARMUP_STEPS = 3


class StepTimer(keras.callbacks.Callback):
    """Wall and CPU time of every training step after the first `WARMUP_STEPS` (which include tracing).

    CPU time is this process's, over all its threads: on a machine shared with other busy processes it
    is the steadier measure of the work a step costs; wall time is what a user waits.
    """

    def __init__(self):
        super().__init__()
        self.times = []
        self.cpu_times = []
        self._last = None

    def on_train_batch_begin(self, batch, logs=None):
        if self._last is None:
            self._last = (time.perf_counter(), time.process_time())

    def on_train_batch_end(self, batch, logs=None):
        now = (time.perf_counter(), time.process_time())
        if batch >= WARMUP_STEPS:
            self.times.append(now[0] - self._last[0])
            self.cpu_times.append(now[1] - self._last[1])
        self._last = now


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, VOCAB, size=(8 * BATCH, TIME + 1)).astype("int32")
    ds = tf.data.Dataset.from_tensor_slices((x[:, :-1], x[:, 1:])).batch(BATCH, drop_remainder=True)
    return ds.cache().repeat().prefetch(tf.data.AUTOTUNE)


def make_model(name, units, **arguments):
    keras.utils.set_random_seed(0)
    model = zoo.build_model(name, vocabulary_size=VOCAB, output="per_step", causal=True, sequence_length=TIME,
                            units=units, **arguments)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def time_fit(model, data, steps, callbacks, cpu=False):
    """Median seconds per step of a fresh `fit` of `steps` steps; with `cpu`, (wall, CPU) medians."""
    timer = StepTimer()
    model.fit(data, epochs=1, steps_per_epoch=steps, callbacks=[*callbacks, timer], verbose=0)
    if cpu:
        return statistics.median(timer.times), statistics.median(timer.cpu_times)
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


# --------------------------------------------------------------------------------------------------
# Backpropagation through time written out (zoo.bptt) against Keras's recurrent layers, and PyTorch's
# --------------------------------------------------------------------------------------------------
BPTT_MODELS = ("lstm", "gru", "simple_rnn")
BPTT_TARGETS = {"lstm": 1.6, "gru": 1.2, "simple_rnn": 1.2}  # issue 13: written-out speed / Keras's
EMBEDDING_DIM = 64  # the char-LM shapes of the comparison: Embedding 65 -> 64, recurrent layer, Dense 65


def paired_times(arms, repeats):
    """Times every arm once per repeat, rotating which goes first, so a drift of the machine's speed
    (other processes come and go on a shared machine) hits the arms of one repeat alike.

    Args:
        arms: {name: a function that runs some steps and returns the median seconds per step}.
    Returns:
        {name: [seconds per step, one per repeat]}.
    """
    names = list(arms)
    times = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            times[name].append(arms[name]())
    return times


def speedup(times, baseline, arm):
    """Median over repeats of baseline time / arm time, each pair measured back to back (> 1: faster)."""
    return statistics.median(b / a for b, a in zip(times[baseline], times[arm]))


class TorchCharLM:
    """The same char-LM in PyTorch (Embedding, RNN/LSTM/GRU, Linear; Adam), trained on the same batches.

    Only built when asked for (`--peer pytorch`); PyTorch is not a requirement of the zoo.
    """

    def __init__(self, name, units, batches):
        import torch

        torch.manual_seed(0)
        self.torch = torch
        recurrent = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "simple_rnn": torch.nn.RNN}[name]
        self.embedding = torch.nn.Embedding(VOCAB, EMBEDDING_DIM)
        self.recurrent = recurrent(EMBEDDING_DIM, units, batch_first=True)
        self.head = torch.nn.Linear(units, VOCAB)
        modules = (self.embedding, self.recurrent, self.head)
        self.parameters = [p for m in modules for p in m.parameters()]
        self.optimizer = torch.optim.Adam(self.parameters, lr=1e-3)
        self.batches = [(torch.from_numpy(x).long(), torch.from_numpy(y).long()) for x, y in batches]

    def step(self, i):
        x, y = self.batches[i % len(self.batches)]
        self.optimizer.zero_grad()
        logits = self.head(self.recurrent(self.embedding(x))[0])  # (batch, time, vocabulary)
        loss = self.torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y.reshape(-1))
        loss.backward()
        self.optimizer.step()

    def time_steps(self, steps, onednn=True):
        """(wall, CPU) median seconds per step over `steps` steps, the first `WARMUP_STEPS` dropped.

        `onednn=False` turns off PyTorch's oneDNN (mkldnn) backend for these steps: its CPU LSTM then runs
        PyTorch's own kernels instead of oneDNN's fused LSTM primitive.
        """
        times = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the flags' context: "TF32 on oneDNN is for Intel GPUs"
            with self.torch.backends.mkldnn.flags(enabled=onednn):
                for i in range(steps):
                    t0 = (time.perf_counter(), time.process_time())
                    self.step(i)
                    times.append((time.perf_counter() - t0[0], time.process_time() - t0[1]))
        times = times[WARMUP_STEPS:]
        return statistics.median(w for w, _ in times), statistics.median(c for _, c in times)


def torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def bench_bptt(models=BPTT_MODELS, widths=(128, 256, 512), steps=20, repeats=5, peer=None, report=print):
    """The written-out recurrent layers (`zoo.bptt`) against Keras's, and optionally PyTorch's.

    Each model is built twice by its zoo builder, `implementation="keras"` and `"bptt"`, with the same
    seed (so the same weights); `peer="pytorch"` adds the same model in PyTorch when it is importable.
    Returns one row per (model, units): milliseconds per step of every arm and the median paired speedups.
    """
    data = make_data()
    batches = [(x.numpy(), y.numpy()) for x, y in data.take(8)]
    if peer == "pytorch" and not torch_available():
        report("pytorch: not importable here (it is not a requirement of the zoo: pip install torch); peer skipped")
        peer = None
    rows = []
    for name in models:
        for units in widths:
            built = {arm: make_model(name, units, embedding_dim=EMBEDDING_DIM, implementation=arm)
                     for arm in ("keras", "bptt")}
            arms = {arm: (lambda m=model: time_fit(m, data, steps, [], cpu=True)) for arm, model in built.items()}
            if peer == "pytorch":
                torch_model = TorchCharLM(name, units, batches)
                arms["pytorch"] = lambda: torch_model.time_steps(steps)
                arms["pytorch_no_onednn"] = lambda: torch_model.time_steps(steps, onednn=False)
            pairs = paired_times(arms, repeats)  # {arm: [(wall, cpu) per repeat]}
            wall = {arm: [w for w, _ in pairs[arm]] for arm in arms}
            cpu = {arm: [c for _, c in pairs[arm]] for arm in arms}
            row = {"model": name, "units": units, "parameters": built["keras"].count_params(),
                   "layer_classes": {arm: _recurrent_class(m) for arm, m in built.items()}}
            for arm in arms:
                row[f"{arm}_ms_per_step"] = 1000 * statistics.median(wall[arm])
                row[f"{arm}_cpu_ms_per_step"] = 1000 * statistics.median(cpu[arm])
                if arm != "keras":
                    row[f"{arm}_speedup"] = speedup(wall, "keras", arm)
                    row[f"{arm}_cpu_speedup"] = speedup(cpu, "keras", arm)
            rows.append(row)
            report(format_bptt_row(row))
    return rows


def _recurrent_class(model):
    layer = next(layer for layer in model.layers if isinstance(layer, keras.layers.RNN))
    return f"{type(layer).__module__.split('.')[0]}.{type(layer).__name__}"


BPTT_HEADER = (f"{'model':<12}{'units':>6}{'keras ms':>10}{'bptt ms':>9}{'bptt/keras':>12}{'(cpu)':>8}"
               f"{'pytorch ms':>12}{'pytorch/keras':>15}{'(cpu)':>8}{'no oneDNN ms':>14}{'/keras':>8}")


def format_bptt_row(r):
    line = (f"{r['model']:<12}{r['units']:>6}{r['keras_ms_per_step']:>10.1f}{r['bptt_ms_per_step']:>9.1f}"
            f"{r['bptt_speedup']:>11.2f}x{r['bptt_cpu_speedup']:>7.2f}x")
    if "pytorch_ms_per_step" in r:
        line += f"{r['pytorch_ms_per_step']:>12.1f}{r['pytorch_speedup']:>14.2f}x{r['pytorch_cpu_speedup']:>7.2f}x"
    if "pytorch_no_onednn_ms_per_step" in r:
        line += f"{r['pytorch_no_onednn_ms_per_step']:>14.1f}{r['pytorch_no_onednn_speedup']:>7.2f}x"
    return line


# --------------------------------------------------------------------------------------------------
# How the cost of a training step grows with the sequence length (issue 23): the parallel-scan cells
# against the written-out GRU/LSTM (zoo.bptt) and Keras's
# --------------------------------------------------------------------------------------------------
LENGTHS = (100, 300, 1000, 3000)
# arm -> (zoo model, builder arguments); the parallel cells train with scan="parallel", their default
LENGTH_ARMS = {
    "min_gru": ("min_gru", {}),
    "min_lstm": ("min_lstm", {}),
    "lru": ("lru", {}),
    "gru_bptt": ("gru", {"implementation": "bptt"}),
    "lstm_bptt": ("lstm", {"implementation": "bptt"}),
    "gru_keras": ("gru", {"implementation": "keras"}),
    "lstm_keras": ("lstm", {"implementation": "keras"}),
}
# not timed by default: the same model with no recurrence (a per-step Dense of `units`, tanh), the cost of
# embedding, head, loss and optimizer that every arm pays; baseline / it bounds the ratio any cell can reach
FLOOR_ARM = "no_recurrence"
LENGTH_BASELINE = "gru_bptt"  # every ratio is this arm's time / the arm's time (> 1: faster than it)
LENGTH_GOAL = ("min_gru", 1000, 5.0)  # issue 23: at T = 1000 a minGRU step >= 5x faster than the written-out GRU


def length_data(batch, time, seed=0):
    """Random character ids and next-character targets, (batch, time) each."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, VOCAB, size=(batch, time + 1)).astype("int32")
    return tokens[:, :-1], tokens[:, 1:]


def make_length_model(arm, time, units):
    """The char-LM of the other benchmarks (Embedding 65 -> 64, one recurrent layer of `units`, a per-step
    Dense 65 head), compiled as `training.core.build.compile_model` compiles (Adam; Keras's default
    jit_compile, which is off on a CPU: the zoo's own layers compile their inner loops with XLA)."""
    keras.utils.set_random_seed(0)
    if arm == FLOOR_ARM:
        tokens = keras.Input((None,), dtype="int32", name="tokens")
        h = keras.layers.Embedding(VOCAB, EMBEDDING_DIM, name="embedding")(tokens)
        h = keras.layers.Dense(units, activation="tanh", name="per_step")(h)
        model = keras.Model(tokens, keras.layers.Dense(VOCAB, name="head")(h), name=FLOOR_ARM)
    else:
        name, arguments = LENGTH_ARMS[arm]
        model = zoo.build_model(name, vocabulary_size=VOCAB, output="per_step", causal=True, sequence_length=time,
                                units=units, embedding_dim=EMBEDDING_DIM, **arguments)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def time_train_steps(model, x, y, steps):
    """Median wall seconds of `steps` training steps (forward, gradient, Adam update) on one batch;
    `train_on_batch` runs the same traced step as `fit`."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_lengths(lengths=LENGTHS, arms=tuple(LENGTH_ARMS), batch=16, units=256, steps=3, repeats=3, report=print):
    """Training-step time of every arm at every length, the arms alternating within each repeat.

    At each length every arm is built and takes one untimed step (tracing, and XLA compiling the zoo's
    loops for this shape); then `repeats` rounds time `steps` steps of each arm in rotating order
    (`paired_times`). Returns one row per length: each arm's median ms per step and, when the baseline
    (`LENGTH_BASELINE`) is among the arms, the median over rounds of the paired ratio baseline / arm.
    """
    rows = []
    for length in lengths:
        x, y = length_data(batch, length)
        models = {arm: make_length_model(arm, length, units) for arm in arms}
        for model in models.values():
            model.train_on_batch(x, y)
        times = paired_times({arm: (lambda m=model: time_train_steps(m, x, y, steps)) for arm, model in models.items()},
                             repeats)
        row = {"time": length, "batch": batch, "units": units,
               "parameters": {arm: model.count_params() for arm, model in models.items()}}
        for arm in arms:
            row[f"{arm}_ms_per_step"] = 1000 * statistics.median(times[arm])
        if LENGTH_BASELINE in arms:
            for arm in arms:
                row[f"{arm}_speedup"] = speedup(times, LENGTH_BASELINE, arm)
        rows.append(row)
        report(format_length_row(row, arms))
        del models
        keras.backend.clear_session()
    return rows


def growth_exponent(rows, arm):
    """p in time ~ T^p, the least-squares slope of log(ms per step) on log T over the rows (1: linear)."""
    lengths = np.log([r["time"] for r in rows])
    ms = np.log([r[f"{arm}_ms_per_step"] for r in rows])
    return float(np.polyfit(lengths, ms, 1)[0])


def length_header(arms):
    ratios = [a for a in arms if a != LENGTH_BASELINE] if LENGTH_BASELINE in arms else []
    return (f"{'T':>6}" + "".join(f"{a + ' ms':>{_width(a, 15)}}" for a in arms)
            + "".join(f"{'/' + a:>{_width(a, 12)}}" for a in ratios))


def _width(arm, least):
    """A column wide enough for its heading (' ms' or '/' and two spaces around the arm's name)."""
    return max(least, len(arm) + 5)


def format_length_row(row, arms):
    ratios = [a for a in arms if a != LENGTH_BASELINE] if LENGTH_BASELINE in arms else []
    return (f"{row['time']:>6}" + "".join(f"{row[a + '_ms_per_step']:>{_width(a, 15)}.1f}" for a in arms)
            + "".join(f"{row[a + '_speedup']:>{_width(a, 12) - 1}.2f}x" for a in ratios))
