"""Gradient through time: how much the loss read at the last step still depends on each earlier step.

Backpropagation through time (Werbos, 1990) carries the gradient of the loss at step T back to step t
through T - t Jacobians of the recurrence. When their norms stay below 1 the product vanishes
exponentially in the lag; above 1 it explodes (Bengio, Simard & Frasconi, 1994; Hochreiter, 1991;
Pascanu, Mikolov & Bengio, 2013). This module measures that product directly:

    profile[t] = mean over a fixed probe batch of || dL_T / dx_t ||,   t = 1 ... T

where L_T is the loss of the prediction at the last step (for `per_step` models the loss of the output
at step T only; for `last_class`/`last_value` models their only output, which is read at step T) and
x_t is, per probe:

    "embedding"       the output of the model's first Embedding layer at step t (every model has one)
    "state"           the hidden state of the first recurrent layer after step t (the h_t the
                      recurrence carries forward, total derivative: through the next step *and* through
                      the layer's output at t); "state_forward"/"state_backward" for a Bidirectional
                      layer, whose two directions are measured separately

Time runs forward, the gradient backward: the lag of step t is T - t (lag 0 = the step the loss reads).

    x_1 ... x_t ... x_T  --forward-->  y_T --> L_T
          <-- dL_T/dx_t: T - t Jacobians --

The embedding probe splits the functional model at the embedding output (everything after the
embedding must depend on the token ids only through it, e.g. no `mask_zero`). The state probe re-runs
the first recurrent layer so that a zero tensor delta_t is added to its state after each step;
dL_T/d(delta_t) is then exactly dL_T/dh_t. Which layers it reaches (`state_perturbation`):

- a `keras.layers.RNN` (SimpleRNN, LSTM, GRU, `keras.layers.RNN(MyCell())`): its own cell is wrapped so
  that step t adds delta_t to state[0] (for an LSTM h, not the cell state c);
- any other layer that declares `PerturbableState`: a `state_width` (the per-step state's width in real
  numbers) and `call_with_state_delta(inputs, delta)` (its output with delta[:, t] added to the state right
  after it reads inputs[:, t]). The parallel-scan layers of `zoo.scan` declare it, and so can yours;
- a `keras.layers.Bidirectional` over either, each direction measured separately.

The re-run shares the layer's weights; on first use its output is checked against the model's own and
the probe is dropped (with the reason in `ThroughTimeProbe.unavailable`) if they differ, e.g. for a
recurrent layer whose cell keeps its hidden state elsewhere than in state[0]. A layer with truncated BPTT
(`zoo.tbptt`) declares `rnn_over(cell, **options)` and is re-run through it with the same cuts (a zoo.scan
layer with `tbptt` cuts its `call_with_state_delta` itself), so both probes show the gradient training
uses: zero at every step before the window of step T.

The summary of a profile is the decay rate in decades per step (minus the slope of a least-squares line
through log10(profile) against the lag) and the first lag at which the norm has fallen below 10^-6 of
its value at lag 0. Floats are float32: norms below ~1e-38 of the scale of the loss flush to zero.

Public API:
    gradient_through_time(model, inputs, targets, probe="embedding", loss=None) -> np.ndarray (T,)
    ThroughTimeProbe(model, loss=None): .names, .unavailable, __call__(inputs, targets) -> {name: (T,)}
    summarize_profile(profile) -> {"decay_decades_per_step", "lag_1e6", ...}
    GradientThroughTime(probe_inputs, probe_targets, run_dir=None, every_n_steps=None,
                        every_n_epochs=1, loss=None, tensorboard_dir=None): callback
    initial_profiles(...): the profiles of Keras's recurrent layers at initialisation
    (`python -m training.through_time` prints them)
    read_through_time(run_dir) -> dict of arrays (the npz), in `training.instruments.readers`
"""

from __future__ import annotations

import pathlib
import time
import warnings
from typing import Protocol, runtime_checkable

import keras
import numpy as np
import tensorflow as tf

from training.instruments.memo import memo
from training.instruments.readers import THROUGH_TIME_CSV, THROUGH_TIME_NPZ, keep_through_time_until
from training.instruments.readers import THROUGH_TIME_TENSORBOARD as TENSORBOARD_SUBDIR
from training.instruments.sink import Sink

FALL_FACTOR = 1e-6  # the "lag at which the norm fell by 10^6"

_EQUIVALENCE_RTOL = 1e-4


# --------------------------------------------------------------------------------------------------
# Splitting a model
# --------------------------------------------------------------------------------------------------
def _check_model(model):
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError("The gradient through time needs a built keras.Model (call it once or give it an Input).")
    if isinstance(model, keras.Sequential):
        return
    if not hasattr(model, "_run_through_graph") or not getattr(model, "inputs", None):
        raise ValueError(
            f"The gradient through time splits the model at a layer, which needs a functional or Sequential "
            f"model; {type(model).__name__} is subclassed. Build it with the functional API."
        )
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("The gradient through time needs a model with one input (token ids) and one output.")


def _split(model, layer, at_output):
    """Two callables: `head(ids)` -> the tensor at the split, `tail(tensor)` -> the model's output.

    The split is at `layer`'s output when `at_output`, else at its input.
    """
    if isinstance(model, keras.Sequential):
        layers = list(model.layers)
        index = layers.index(layer) + (1 if at_output else 0)
        before, after = layers[:index], layers[index:]

        def run(layers_, x):
            for each in layers_:
                x = each(x, training=False)
            return x

        return (lambda ids: run(before, ids)), (lambda h: run(after, h))
    point = layer.output if at_output else layer.input
    if isinstance(point, (list, tuple)):
        what = "outputs" if at_output else "inputs"
        raise ValueError(f"layer {layer.name!r} has several {what}; cannot split there.")
    head = keras.Model(model.inputs, point)
    try:
        tail = keras.Model(point, model.outputs)
    except ValueError as error:
        raise ValueError(
            f"the model's output depends on its input other than through layer {layer.name!r} ({error})"
        ) from None

    def run_tail(h):
        out = tail(h, training=False)
        return out[0] if isinstance(out, (list, tuple)) else out

    return (lambda ids: head(ids, training=False)), run_tail


def _first_layer(model, kinds):
    for layer in model.layers:
        if isinstance(layer, kinds):
            return layer
    return None


def _state_size(cell):
    size = cell.state_size
    return int(size[0]) if isinstance(size, (list, tuple)) else int(size)


class _StateProbeCell(keras.layers.Layer):
    """Wraps a built recurrent cell: step t also adds delta_t to the new hidden state (and output).

    The input at each step is [x_t, delta_t]. Temporary object, never saved.
    """

    def __init__(self, cell, data_dim, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.data_dim = data_dim
        self.units = _state_size(cell)
        self.state_size = cell.state_size
        self.output_size = getattr(cell, "output_size", self.units)

    def build(self, input_shape):
        self.built = True

    def call(self, inputs, states, training=False):
        x = inputs[:, : self.data_dim]
        delta = inputs[:, self.data_dim : self.data_dim + self.units]
        output, new_states = self.cell(x, states, training=training)
        single = not isinstance(new_states, (list, tuple))
        new_states = [new_states] if single else list(new_states)
        new_states[0] = new_states[0] + delta
        return output + delta, (new_states[0] if single else new_states)


@runtime_checkable
class PerturbableState(Protocol):
    """What a recurrent layer that is not a `keras.layers.RNN` declares so that the state probe reaches
    its per-step state (duck-typed: implement the two members, import nothing from here).

    Attributes:
        state_width: width of the state the layer carries from step to step, in real numbers (a complex
            state of n units counts 2 n: [Re | Im]).
    """

    state_width: int

    def call_with_state_delta(self, inputs, delta):
        """The layer's output for `inputs` (batch, time, features), as `layer(inputs)` gives it, with
        delta[:, t] (batch, time, `state_width`), indexed like `inputs` (also when the layer reads them
        backwards), added to the state right after the layer reads inputs[:, t], and carried on."""


class _KerasRNNState:
    """`PerturbableState` for a `keras.layers.RNN`: its cell wrapped by `_StateProbeCell`."""

    def __init__(self, layer):
        self.layer = layer
        self.state_width = _state_size(layer.cell)

    def call_with_state_delta(self, inputs, delta):
        options = dict(return_sequences=self.layer.return_sequences, go_backwards=self.layer.go_backwards)
        cell = _StateProbeCell(self.layer.cell, inputs.shape[-1])
        # A layer that runs its cell its own way (zoo.tbptt's truncated layers) declares `rnn_over(cell, **options)`.
        rnn_over = getattr(self.layer, "rnn_over", None)
        rnn = rnn_over(cell, **options) if callable(rnn_over) else keras.layers.RNN(cell, **options)
        return rnn(tf.concat([inputs, tf.cast(delta, inputs.dtype)], axis=-1))  # delta travels with x_t


def state_perturbation(layer) -> PerturbableState | None:
    """How the state probe perturbs `layer`'s per-step state: the layer itself when it declares
    `PerturbableState`, an adapter for a `keras.layers.RNN`, None for any other layer."""
    if isinstance(layer, PerturbableState):
        return layer
    if isinstance(layer, keras.layers.RNN):
        return _KerasRNNState(layer)
    return None


def _first_state_layer(model):
    """The first layer whose state the probe reaches, and one `PerturbableState` per direction
    ([forward, backward] for a Bidirectional layer); (None, None) without one."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            directions = [state_perturbation(layer.forward_layer), state_perturbation(layer.backward_layer)]
            if all(d is not None for d in directions):
                return layer, directions
        else:
            declared = state_perturbation(layer)
            if declared is not None:
                return layer, [declared]
    return None, None


def _merge(forward, backward, mode):
    if mode == "concat":
        return tf.concat([forward, backward], axis=-1)
    if mode == "sum":
        return forward + backward
    if mode == "mul":
        return forward * backward
    if mode == "ave":
        return (forward + backward) / 2
    raise ValueError(f"Bidirectional merge_mode {mode!r} is not supported by the state probe.")


def _rescaled_norm(g):
    """|| g ||_2 over the last axis, without the underflow of squaring values below 1e-19."""
    largest = tf.reduce_max(tf.abs(g), axis=-1, keepdims=True)
    scale = tf.where(largest > 0, largest, tf.ones_like(largest))
    return tf.squeeze(scale, -1) * tf.norm(g / scale, axis=-1)


# --------------------------------------------------------------------------------------------------
# The probe
# --------------------------------------------------------------------------------------------------
def _per_example_loss(model, loss):
    loss = loss if loss is not None else getattr(model, "loss", None)
    if loss is None:
        raise ValueError("The gradient through time needs a loss: compile the model with one or pass loss=.")
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    if isinstance(loss, keras.losses.Loss):
        return loss.call  # unreduced: one value per example (and per step for per-step outputs)
    if callable(loss):
        return loss
    raise ValueError(
        f"The gradient through time needs one loss for one output, got {type(loss).__name__}; pass loss=."
    )


class ThroughTimeProbe:
    """Computes the gradient-through-time profiles of a model; build once, call at every checkpoint.

    Args:
        model: a built functional or Sequential keras.Model: token ids (batch, time) in, one output.
        loss: the loss whose last-step value is differentiated: a Keras loss (object, name or function
            returning one value per example). None uses the loss the model was compiled with.
        probes: names to compute among ("embedding", "state"); "state" gives "state_forward" and
            "state_backward" for a Bidirectional layer.

    Attributes:
        names: the profile names this model offers (e.g. ["embedding", "state"]).
        unavailable: {probe: reason} for the probes this model cannot offer.
    """

    def __init__(self, model, loss=None, probes=("embedding", "state")):
        _check_model(model)
        unknown = set(probes) - {"embedding", "state"}
        if unknown:
            raise ValueError(f"unknown probes {sorted(unknown)}: choose among 'embedding' and 'state'.")
        self.model = model
        self._loss = _per_example_loss(model, loss)
        self.unavailable: dict[str, str] = {}
        self._builders = {}  # probe name -> (head, tail) callables
        self._state = None  # (recurrent layer, [PerturbableState per direction], head, tail): the state probe
        self._checked = False

        if "embedding" in probes:
            embedding = _first_layer(model, keras.layers.Embedding)
            if embedding is None:
                self.unavailable["embedding"] = "the model has no Embedding layer"
            else:
                try:
                    self._builders["embedding"] = _split(model, embedding, at_output=True)
                except ValueError as error:
                    self.unavailable["embedding"] = str(error)

        if "state" in probes:
            layer, directions = _first_state_layer(model)
            if layer is None:
                self.unavailable["state"] = (
                    "the model has no recurrent layer the probe reaches (a keras.layers.RNN, or a layer that "
                    "declares PerturbableState: state_width and call_with_state_delta)"
                )
            else:
                try:
                    head, _ = _split(model, layer, at_output=False)  # ids -> the layer's input
                    _, tail = _split(model, layer, at_output=True)  # the layer's output -> logits
                    self._state = (layer, directions, head, tail)
                except ValueError as error:
                    self.unavailable["state"] = str(error)
                    self._state = None
        self._function = None

    @property
    def names(self) -> list[str]:
        names = [n for n in ("embedding",) if n in self._builders]
        if self._state is not None:
            layer = self._state[0]
            if isinstance(layer, keras.layers.Bidirectional):
                names += ["state_forward", "state_backward"]
            else:
                names.append("state")
        return names

    # -------------------------------------------------------------- the traced computation
    def _last_step_loss(self, targets, predictions):
        """Sum over the batch of the per-example loss at the last step (gradients stay per example).

        Outputs of rank 3, (batch, time, classes), are per-step: only step T is read. Outputs of rank 2
        ((batch, classes) or (batch, 1)) are already read at the last step.
        """
        if predictions.shape.rank >= 3:
            predictions = predictions[:, -1]
            targets = targets[:, -1]
        values = self._loss(targets, predictions)
        return tf.reduce_sum(tf.cast(values, tf.float32))

    def _state_forward(self, ids, delta):
        """The model's output with delta (batch, time, `_state_width()`) added to the probed states: the
        forward direction's first, then the backward one's."""
        layer, directions, head, tail = self._state
        x = head(ids)  # (batch, time, features)
        if isinstance(layer, keras.layers.Bidirectional):
            forward_state, backward_state = directions
            width = forward_state.state_width
            forward = forward_state.call_with_state_delta(x, delta[..., :width])
            backward = backward_state.call_with_state_delta(x, delta[..., width:])
            if layer.return_sequences:
                backward = tf.reverse(backward, axis=[1])
            sequence = _merge(forward, backward, layer.merge_mode)
        else:
            sequence = directions[0].call_with_state_delta(x, delta)
        return tail(sequence)

    def _state_width(self):
        return sum(int(d.state_width) for d in self._state[1])

    def _build_function(self):
        names = self.names

        def profiles(ids, targets):
            out = {}
            if "embedding" in self._builders:
                head, tail = self._builders["embedding"]
                x = head(ids)  # (batch, time, embedding_dim)
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = self._last_step_loss(targets, tail(x))
                g = tape.gradient(loss, x)
                out["embedding"] = tf.reduce_mean(_rescaled_norm(tf.cast(g, tf.float32)), axis=0)  # (time,)
            if any(n.startswith("state") for n in names):
                delta = tf.zeros([tf.shape(ids)[0], tf.shape(ids)[1], self._state_width()], tf.float32)
                with tf.GradientTape() as tape:
                    tape.watch(delta)
                    loss = self._last_step_loss(targets, self._state_forward(ids, delta))
                g = tape.gradient(loss, delta)  # (batch, time, state)
                layer = self._state[0]
                if isinstance(layer, keras.layers.Bidirectional):
                    width = int(self._state[1][0].state_width)
                    out["state_forward"] = tf.reduce_mean(_rescaled_norm(g[..., :width]), axis=0)
                    out["state_backward"] = tf.reduce_mean(_rescaled_norm(g[..., width:]), axis=0)
                else:
                    out["state"] = tf.reduce_mean(_rescaled_norm(g), axis=0)
            return out

        function = tf.function(profiles, reduce_retracing=True)
        function._omit_frequent_tracing_warning = True  # one trace per probe (per model) is by design
        return function

    def _check_equivalence(self, ids):
        """Drops a probe whose re-assembled model does not reproduce the model's own output."""
        reference = np.asarray(self.model(ids, training=False))
        scale = max(float(np.max(np.abs(reference))), 1e-6)
        if "embedding" in self._builders:
            head, tail = self._builders["embedding"]
            error = float(np.max(np.abs(np.asarray(tail(head(ids))) - reference)))
            if not error <= _EQUIVALENCE_RTOL * scale:
                del self._builders["embedding"]
                self.unavailable["embedding"] = f"the split model differs from the model by {error:.3g}"
        if self._state is not None:
            try:
                delta = tf.zeros([ids.shape[0], ids.shape[1], self._state_width()], tf.float32)
                error = float(np.max(np.abs(np.asarray(self._state_forward(ids, delta)) - reference)))
                reason = None if error <= _EQUIVALENCE_RTOL * scale else f"the probed layer differs by {error:.3g}"
            except Exception as failure:  # a cell the wrapper cannot drive
                reason = f"the recurrent layer cannot be re-run with a probe ({type(failure).__name__}: {failure})"
            if reason is not None:
                self.unavailable["state"] = reason
                self._state = None
        self._checked = True

    def __call__(self, inputs, targets) -> dict[str, np.ndarray]:
        """Profiles {name: (time,) array} for token ids `inputs` (batch, time) and their `targets`."""
        ids = tf.convert_to_tensor(inputs)
        if ids.shape.rank != 2:
            raise ValueError(f"inputs must be token ids of shape (batch, time), got shape {tuple(ids.shape)}.")
        targets = tf.convert_to_tensor(targets)
        if not self._checked:
            self._check_equivalence(ids)
            if not self.names:
                raise ValueError(f"no gradient-through-time probe works for this model: {self.unavailable}")
            self._function = self._build_function()
        return {name: value.numpy().astype(np.float64) for name, value in self._function(ids, targets).items()}


def gradient_through_time(model, inputs, targets, probe="embedding", loss=None) -> np.ndarray:
    """|| dL_T / dx_t || for t = 1..T, averaged over the examples of `inputs` (shape (time,)).

    One-off use: every call splits the model and traces anew; to measure the same model repeatedly,
    build a `ThroughTimeProbe` once and call it.

    Args:
        model: a built functional or Sequential keras.Model on token ids.
        inputs: token ids (batch, time).
        targets: the targets the model's loss takes for these inputs.
        probe: "embedding", "state", "state_forward" or "state_backward" (see the module docstring).
        loss: the loss to differentiate; None uses the model's compiled loss.
    """
    base = "state" if probe.startswith("state") else probe
    if base not in ("embedding", "state"):
        raise ValueError(f"unknown probe {probe!r}: choose 'embedding', 'state', 'state_forward' or 'state_backward'.")
    calculator = ThroughTimeProbe(model, loss=loss, probes=(base,))
    profiles = calculator(inputs, targets) if calculator.names else {}
    if probe not in profiles:
        reason = calculator.unavailable.get(base, f"this model offers {calculator.names}")
        raise ValueError(f"probe {probe!r} is not available for this model: {reason}.")
    return profiles[probe]


def summarize_profile(profile) -> dict:
    """Decay rate (decades per step of lag) and the lag at which the norm fell by 10^6.

    Args:
        profile: (time,) norms, index t-1 for step t; lag = T - t.

    Returns:
        dict with `decay_decades_per_step` (minus the slope of log10 norm against lag, fitted on the
        finite positive norms; positive = the gradient shrinks going back in time, NaN if < 2 points),
        `lag_1e6` (first lag whose norm is <= 1e-6 x the norm at lag 0, None if never),
        `norm_lag0`, `norm_max_lag` and `log10_ratio` (log10 of their ratio).
    """
    profile = np.asarray(profile, dtype=np.float64)
    by_lag = profile[::-1]  # by_lag[k] = norm at lag k
    lags = np.arange(by_lag.size, dtype=np.float64)
    usable = np.isfinite(by_lag) & (by_lag > 0)
    if usable.sum() >= 2:
        slope = np.polyfit(lags[usable], np.log10(by_lag[usable]), 1)[0]
        decay = float(-slope)
    else:
        decay = float("nan")
    reference = by_lag[0] if by_lag.size else float("nan")
    lag_fall = None
    if np.isfinite(reference) and reference > 0:
        below = np.nonzero(by_lag[1:] <= reference * FALL_FACTOR)[0]
        lag_fall = int(below[0] + 1) if below.size else None
    last = by_lag[-1] if by_lag.size else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.log10(last / reference)) if reference > 0 else float("nan")
    return {
        "decay_decades_per_step": decay,
        "lag_1e6": lag_fall,
        "norm_lag0": float(reference),
        "norm_max_lag": float(last),
        "log10_ratio": ratio,
    }


# --------------------------------------------------------------------------------------------------
# The callback
# --------------------------------------------------------------------------------------------------
class GradientThroughTime(keras.callbacks.Callback):
    """Measures the gradient-through-time profiles on a fixed probe batch while a model trains.

    A row is taken at the start of training and then every `every_n_steps` optimizer steps and/or at
    the end of every `every_n_epochs` epochs. Its `step` is the number of optimizer updates applied
    before it (the clock of `GradientRecorder`).

    Args:
        probe_inputs: token ids (batch, time), the fixed probe batch.
        probe_targets: their targets.
        run_dir: folder for `gradient_through_time.npz` (matrices) and `gradient_through_time.csv`
            (one summary row per checkpoint and profile), rewritten at every checkpoint.
        every_n_steps: take a row every n steps (None: not by steps).
        every_n_epochs: take a row after every n-th epoch (None: not by epochs).
        loss: loss to differentiate (None: the compiled loss).
        probes: among ("embedding", "state").
        tensorboard_dir: TensorBoard folder; None means `run_dir/tensorboard/through_time` when
            `run_dir` is given, False writes none.
        resume: continue the files in `run_dir` of a run resumed from a checkpoint: keep the rows
            taken at or before the model's current step, take no row at the start (the uninterrupted
            run took none there), and go on as that run would.

    Attributes:
        steps, epochs: step and epoch of every row.
        profiles: {name: list of (time,) arrays}, one per row.
        seconds: wall time of each measurement.
    Keras logs get, at each epoch end, `gtt_decay/<name>` and `gtt_lag_1e6/<name>` (NaN if never) of
    the latest row (callbacks placed after this one, and History, see them).
    """

    def __init__(
        self,
        probe_inputs,
        probe_targets,
        run_dir=None,
        every_n_steps=None,
        every_n_epochs=1,
        loss=None,
        probes=("embedding", "state"),
        tensorboard_dir=None,
        resume: bool = False,
    ):
        super().__init__()
        for name, value in (("every_n_steps", every_n_steps), ("every_n_epochs", every_n_epochs)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be None or a positive integer, got {value!r}.")
        ids = np.asarray(probe_inputs)
        if ids.ndim != 2:
            raise ValueError(f"probe_inputs must be token ids of shape (batch, time), got shape {ids.shape}.")
        self.probe_inputs = ids
        self.probe_targets = np.asarray(probe_targets)
        self.every_n_steps = every_n_steps
        self.every_n_epochs = every_n_epochs
        self.run_dir = pathlib.Path(run_dir) if run_dir is not None else None
        if tensorboard_dir is None and self.run_dir is not None:
            tensorboard_dir = self.run_dir / TENSORBOARD_SUBDIR
        self.tensorboard_dir = pathlib.Path(tensorboard_dir) if tensorboard_dir else None
        self._sink = Sink(self.run_dir, tensorboard_dir=self.tensorboard_dir)
        self._loss = loss
        self._probe_names = tuple(probes)
        self._probe = None
        self._step = 0
        self._epoch = 0
        self._batch_begin = 0
        self.steps: list[int] = []
        self.epochs: list[int] = []
        self.profiles: dict[str, list[np.ndarray]] = {}
        self.seconds: list[float] = []
        self.resume = bool(resume)

    def on_train_begin(self, logs=None):
        if self._probe is None or self._probe.model is not self.model:
            make = lambda: ThroughTimeProbe(self.model, loss=self._loss, probes=self._probe_names)  # noqa: E731
            # One probe (one trace) per model and probe set: a run that trains a reused model reuses it.
            self._probe = make() if self._loss is not None else memo(self.model, ("through_time", self._probe_names), make)
        self._step = int(self.model.optimizer.iterations.numpy())
        self._epoch = 0
        self._sink.open()
        if self.resume and self.run_dir is not None and not self.steps:
            kept = keep_through_time_until(self.run_dir, self._step)
            if kept is not None and len(kept["steps"]):
                self.steps = [int(x) for x in kept["steps"]]
                self.epochs = [int(x) for x in kept["epochs"]]
                self.profiles = {k: list(v) for k, v in kept.items() if k not in ("steps", "epochs", "time", "lag")}
                self.seconds = [float("nan")] * len(self.steps)
                self._save()
        if not self.steps:
            self._checkpoint()
        elif self._step not in self.steps and not self.resume:
            self._checkpoint()
        for name, reason in self._probe.unavailable.items():
            warnings.warn(f"gradient through time: probe {name!r} is not available: {reason}", stacklevel=2)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_begin = batch

    def on_train_batch_end(self, batch, logs=None):
        before = self._step
        self._step += max(1, batch - self._batch_begin + 1)
        if self.every_n_steps and self._step // self.every_n_steps > before // self.every_n_steps:
            self._checkpoint()

    def on_epoch_end(self, epoch, logs=None):
        if self.every_n_epochs and (epoch + 1) % self.every_n_epochs == 0 and self._step not in self.steps:
            self._checkpoint()
        if logs is not None and self.steps:
            for name, rows in self.profiles.items():
                summary = summarize_profile(rows[-1])
                logs[f"gtt_decay/{name}"] = summary["decay_decades_per_step"]
                logs[f"gtt_lag_1e6/{name}"] = float("nan") if summary["lag_1e6"] is None else float(summary["lag_1e6"])

    def on_train_end(self, logs=None):
        self._sink.close()

    def _checkpoint(self):
        start = time.perf_counter()
        profiles = self._probe(self.probe_inputs, self.probe_targets)
        self.seconds.append(time.perf_counter() - start)
        self.steps.append(self._step)
        self.epochs.append(self._epoch)
        for name, profile in profiles.items():
            self.profiles.setdefault(name, []).append(profile)
        scalars = {}
        for name, profile in profiles.items():
            summary = summarize_profile(profile)
            scalars[f"gtt_decay/{name}"] = summary["decay_decades_per_step"]
            scalars[f"gtt_log10_ratio/{name}"] = summary["log10_ratio"]
            if summary["lag_1e6"] is not None:
                scalars[f"gtt_lag_1e6/{name}"] = summary["lag_1e6"]
        self._sink.write_scalars(self._step, scalars)
        self._save()

    def matrices(self) -> dict[str, np.ndarray]:
        """{"steps": (K,), "epochs": (K,), "time": (T,), "lag": (T,), name: (K, T) per profile}."""
        time_steps = self.probe_inputs.shape[1]
        out = {
            "steps": np.asarray(self.steps, dtype=np.int64),
            "epochs": np.asarray(self.epochs, dtype=np.int64),
            "time": np.arange(1, time_steps + 1),
            "lag": np.arange(time_steps - 1, -1, -1),
        }
        for name, rows in self.profiles.items():
            out[name] = np.stack(rows)
        return out

    def _save(self):
        """The matrices and one summary row per checkpoint and profile, both rewritten whole."""
        if self.run_dir is None:
            return
        self._sink.write_arrays(THROUGH_TIME_NPZ, self.matrices())
        fields = ["step", "epoch", "probe", "decay_decades_per_step", "lag_1e6"]
        fields += ["norm_lag0", "norm_max_lag", "log10_ratio"]
        rows = []
        for i, (step, epoch) in enumerate(zip(self.steps, self.epochs)):
            for name, profiles in self.profiles.items():
                row = {"step": step, "epoch": epoch, "probe": name, **summarize_profile(profiles[i])}
                row["lag_1e6"] = "" if row["lag_1e6"] is None else row["lag_1e6"]
                rows.append(row)
        self._sink.write_table(THROUGH_TIME_CSV, fields, rows)





def initial_profiles(units=128, time_steps=100, embedding_dim=64, vocabulary_size=65, batch=32, seed=0):
    """Rows (name, probe, summary) for freshly initialised layers on random tokens (last_class head)."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocabulary_size, (batch, time_steps)).astype("int32")
    labels = rng.integers(0, 2, batch).astype("int32")
    layers = {
        "SimpleRNN (Keras default: orthogonal, gain 1)": lambda: keras.layers.SimpleRNN(units),
        "SimpleRNN, orthogonal gain 0.9": lambda: keras.layers.SimpleRNN(
            units, recurrent_initializer=keras.initializers.Orthogonal(gain=0.9)
        ),
        "SimpleRNN, glorot_uniform recurrent kernel": lambda: keras.layers.SimpleRNN(
            units, recurrent_initializer="glorot_uniform"
        ),
        "IRNN (relu, identity recurrent kernel)": lambda: keras.layers.SimpleRNN(
            units, activation="relu", recurrent_initializer=keras.initializers.Identity()
        ),
        "LSTM (Keras default: forget bias 1)": lambda: keras.layers.LSTM(units),
        "LSTM, forget bias 0": lambda: keras.layers.LSTM(units, unit_forget_bias=False),
        "GRU (Keras default)": lambda: keras.layers.GRU(units),
    }
    rows = []
    for name, make in layers.items():
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((time_steps,), dtype="int32")
        x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(2)(make()(x)))
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        for probe, profile in ThroughTimeProbe(model)(ids, labels).items():
            rows.append((name, probe, summarize_profile(profile), profile))
    return rows

