"""The recurrence as a dynamical system: the Jacobian of one step, the theory beside a measured decay.

Backpropagation through time multiplies the gradient by one Jacobian per step,

    dL/ds_t = dL/ds_T  J_T J_{T-1} ... J_{t+1},      J_k = d s_k / d s_{k-1}

where s is the whole recurrent state ((h, c) for an LSTM, h otherwise). Two numbers of the single-step
Jacobian predict how fast that product shrinks or grows (Pascanu, Mikolov & Bengio, 2013; Bengio,
Simard & Frasconi, 1994):

- its **spectral norm** sigma_max(J): ||J_T ... J_{t+1}|| <= prod sigma_max(J_k), so a mean
  log10 sigma_max below 0 *guarantees* vanishing at least that fast (a bound, not an estimate);
- its **spectral radius** rho(J) (largest |eigenvalue|): the rate at which a product of copies of one
  matrix shrinks or grows, the linearised prediction of the decay.

Both are taken along the trajectory the model actually follows on a batch of token sequences at the
current weights (at initialisation, the theory side of the through-time profile), averaged in log10
over steps and examples, and given as decades per step of decay (positive = vanishing), the units of
`summarize_profile`'s `decay_decades_per_step`. For a tanh RNN with recurrent matrix g * Q (Q
orthogonal) near h = 0, J = diag(1 - h^2) g Q, so both are about log10(1 / g) decades per step: gain 0.5
predicts 0.30. For an LSTM at its default biases near zero state the nonzero eigenvalues of J are
f + i * o * lambda(U_g) (f, i, o the gate values): the forget gate sigma(1) = 0.73 sets the scale.

    theory = recurrent_jacobian_theory(model, tokens)
    theory["decay_norm_decades_per_step"], theory["decay_radius_decades_per_step"]

Which layers have a theory: any layer that declares its one-step function (`RecurrentStep`), either
through `register_step(LayerClass)` or because it is a `keras.layers.RNN` over a Keras cell (SimpleRNN,
LSTM, GRU, `zoo.bptt`'s layers, or `keras.layers.RNN(MyCell())`): the step is then the cell's own
`cell(x_t, states)`. The Jacobian is the automatic derivative of that step. A model with no such layer
before any `Bidirectional` wrapper (attention, the bidirectional RNNs, a layer that declares nothing)
has no theory: `recurrent_jacobian_theory` returns None, and a report says "no theory for <model>".

    @register_step(MinGRU)                 # a layer Keras lacks, e.g. in zoo/scan.py
    def _min_gru_step(layer):
        return RecurrentStep(state_sizes=(layer.units,), step=lambda x_t, states: [layer.step(x_t, states[0])],
                             retention=layer.retention)

A diagonal linear recurrence (minGRU, minLSTM, the LRU: h_t = a_t * h_{t-1} + b_t) declares its
retention |a_t| too; its theory is then read from it (`retention_theory`): the log-mean of the gate
1 - z (minGRU) or f' (minLSTM) over the tokens given, and max|lambda| for the LRU, at the current weights.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import keras
import numpy as np
import tensorflow as tf


class RecurrentStep(NamedTuple):
    """One step of a recurrent layer, as `state_jacobians` differentiates it.

    Args:
        state_sizes: the sizes of the state's parts ((units, units) for an LSTM's (h, c); (units,) else).
        step: `step(x_t, states) -> new_states`: x_t the layer's input at one step (batch, features),
            `states` a list of (batch, size) tensors in `state_sizes` order; returns the new ones likewise.
        retention: for a *diagonal* linear recurrence h_t = a_t * h_{t-1} + b_t (minGRU, minLSTM, the LRU),
            `retention(x) -> |a|` (batch, time, units) for the layer's input x (batch, time, features): the
            moduli of the step Jacobian's eigenvalues, which are also its singular values (a diagonal or
            rotation-scaling matrix is normal). Given, the theory reads them instead of differentiating
            the step (exact, and no (S, S) matrix per step), and adds the decay of the slowest unit.
    """

    state_sizes: tuple[int, ...]
    step: Callable[[tf.Tensor, list], list]
    retention: Callable[[tf.Tensor], tf.Tensor] | None = None


_STEPS: dict[type, Callable[[keras.layers.Layer], RecurrentStep]] = {}


def register_step(layer_class: type):
    """Decorator: `fn(layer) -> RecurrentStep` declares the step of `layer_class` and its subclasses, which
    gives every model with such a layer a Jacobian theory."""

    def decorator(fn):
        _STEPS[layer_class] = fn
        return fn

    return decorator


@register_step(keras.layers.RNN)
def keras_cell_step(layer) -> RecurrentStep:
    """A `keras.layers.RNN` (SimpleRNN, LSTM, GRU and their `zoo.bptt` subclasses included): its cell's
    `cell(x_t, states) -> (output, new_states)`, the initial state zeros as in Keras."""
    cell = layer.cell
    structure = cell.state_size if isinstance(cell.state_size, (list, tuple)) else [cell.state_size]

    def step(x_t, states):
        _, new = cell(x_t, tf.nest.pack_sequence_as(structure, states), training=False)
        return tf.nest.flatten(new)

    return RecurrentStep(tuple(int(s) for s in tf.nest.flatten(structure)), step)


def declared_step(layer) -> RecurrentStep | None:
    """The `RecurrentStep` that `layer`'s class (or the nearest of its bases) declares, or None."""
    for cls in type(layer).__mro__:
        if cls in _STEPS:
            return _STEPS[cls](layer)
    return None


def first_recurrent_layer(model):
    """The first layer of `model` that declares its step (see `register_step`), or None, also when a
    `Bidirectional` wrapper comes first (a layer read backwards has no one-step theory here)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            return None
        if declared_step(layer) is not None:
            return layer
    return None


def _kept(owner, key, make):
    """`make()` the first time for this owner (a model or a layer) and key, the same object afterwards: a traced
    function lives with what it measures, so measuring the same model again (a sweep worker reuses a traced
    model for the next run of its architecture) does not trace again. Not tracked by Keras, never saved."""
    store = owner.__dict__.get("_zoo_dynamics_kept")
    if store is None:
        store = {}
        object.__setattr__(owner, "_zoo_dynamics_kept", store)
    if key not in store:
        store[key] = make()
    return store[key]


def layer_inputs(model, layer, tokens) -> tf.Tensor:
    """What `layer` of `model` receives for token ids `tokens`: (batch, time, features) float32."""
    head = _kept(model, ("inputs_of", layer.name),
                 lambda: tf.function(keras.Model(model.inputs, layer.input), reduce_retracing=True))
    return tf.convert_to_tensor(head(tf.convert_to_tensor(np.asarray(tokens))), tf.float32)


def state_jacobians(model, tokens, layer=None) -> np.ndarray:
    """d s_t / d s_{t-1} of the first recurrent layer along its trajectory on `tokens`.

    Args:
        model: a zoo model (functional, token ids in).
        tokens: int token ids (batch, time).
        layer: the recurrent layer (default `first_recurrent_layer(model)`).

    Returns:
        (batch, time, S, S) float64, S the size of the state ((h, c) concatenated for an LSTM);
        entry [b, t] is the Jacobian of the state after step t with respect to the state before it.
    """
    layer = layer or first_recurrent_layer(model)
    declared = None if layer is None else declared_step(layer)
    if declared is None:
        raise ValueError(
            f"model {model.name!r} has no unidirectional recurrent layer that declares its step "
            "(zoo.dynamics.register_step); recurrent_jacobian_theory returns None for it."
        )
    x = layer_inputs(model, layer, tokens)  # (batch, time, features)
    sizes = list(declared.state_sizes)
    step = _kept(layer, "jacobian_step", lambda: _jacobian_step(declared))
    state = tf.zeros([int(x.shape[0]), sum(sizes)], tf.float32)  # Keras's initial state: zeros
    out = []
    for t in range(int(x.shape[1])):
        state, jacobian = step(x[:, t], state)
        out.append(jacobian.numpy().astype(np.float64))  # (batch, S, S)
    return np.stack(out, axis=1)


def _jacobian_step(declared: RecurrentStep):
    """One step of the declared recurrence and its Jacobian, traced (once per layer: `_kept`)."""
    sizes = list(declared.state_sizes)

    @tf.function(reduce_retracing=True)
    def step(x_t, state):  # (batch, features), (batch, S) -> new state, Jacobian (batch, S, S)
        with tf.GradientTape() as tape:
            tape.watch(state)
            parts = tf.split(state, sizes, axis=1) if len(sizes) > 1 else [state]
            new_state = tf.concat(declared.step(x_t, parts), axis=1)
        return new_state, tape.batch_jacobian(new_state, state)

    return step


def jacobian_theory(jacobians, skip: int = 0) -> dict:
    """Decay predicted by per-step Jacobians (batch, time, S, S): decades per step of decay (positive =
    vanishing) from the spectral norm (a lower bound on the decay: the product cannot shrink slower) and
    from the spectral radius (the linearised prediction), each the mean over examples and steps
    `skip`.. of -log10; also the means of sigma_max and rho themselves."""
    j = np.asarray(jacobians, np.float64)[:, skip:]
    flat = j.reshape(-1, j.shape[-2], j.shape[-1])
    norms = np.linalg.norm(flat, ord=2, axis=(1, 2))
    radii = np.abs(np.linalg.eigvals(flat)).max(axis=1)
    tiny = np.finfo(np.float64).tiny
    return {
        "decay_norm_decades_per_step": float(-np.mean(np.log10(np.maximum(norms, tiny)))),
        "decay_radius_decades_per_step": float(-np.mean(np.log10(np.maximum(radii, tiny)))),
        "spectral_norm": float(np.exp(np.mean(np.log(np.maximum(norms, tiny))))),
        "spectral_radius": float(np.exp(np.mean(np.log(np.maximum(radii, tiny))))),
    }


def retention_theory(retention, skip: int = 0) -> dict:
    """Decay predicted for a diagonal linear recurrence from its retention |a_t| (batch, time, units), the
    factor by which the gradient along each unit of the state shrinks at each step (1 - z_t for minGRU,
    f'_t for minLSTM, |lambda| for the LRU).

    The product of the Jacobians is diagonal: unit i carries prod_k |a_k,i| back over the lags, and the
    norm of the gradient is soon carried by the unit that forgets slowest. So beside `jacobian_theory`'s
    keys (here exact: each step's spectral norm and radius are both max_i |a_t,i|) this gives
    `decay_slowest_decades_per_step` = min over units of the mean over examples and steps of -log10 |a|
    (the log-mean of the gate, unit by unit; for the LRU -log10 max|lambda|), the rate at which
    ||dL_T/dh_t|| falls at long lags, and `retention_mean` (the mean of |a| over everything)."""
    r = np.asarray(retention, np.float64)[:, skip:]
    tiny = np.finfo(np.float64).tiny
    log_r = np.log10(np.maximum(r, tiny))  # (batch, time, units)
    per_step = log_r.max(axis=-1)  # log10 of the spectral norm = radius of diag(|a_t|), per example and step
    return {
        "decay_norm_decades_per_step": float(-per_step.mean()),
        "decay_radius_decades_per_step": float(-per_step.mean()),
        "spectral_norm": float(10 ** per_step.mean()),
        "spectral_radius": float(10 ** per_step.mean()),
        "decay_slowest_decades_per_step": float(-log_r.mean(axis=(0, 1)).max()),
        "retention_mean": float(r.mean()),
    }


def recurrent_jacobian_theory(model, tokens, skip: int = 0) -> dict | None:
    """The theory of the first recurrent layer of `model` on `tokens` at its current weights (at
    initialisation, or after training: the learned gates and |lambda|): `retention_theory` for a layer
    that declares its retention (a diagonal linear recurrence), else `jacobian_theory` of its step's
    Jacobians. None when the model has no theory: no unidirectional layer that declares its step
    (attention, the bidirectional models, a layer without `register_step`)."""
    layer = first_recurrent_layer(model)
    if layer is None:
        return None
    declared = declared_step(layer)
    if declared.retention is not None:
        return retention_theory(np.asarray(declared.retention(layer_inputs(model, layer, tokens))), skip=skip)
    return jacobian_theory(state_jacobians(model, tokens, layer), skip=skip)
