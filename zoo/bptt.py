"""Backpropagation through time written out: SimpleRNN, LSTM and GRU layers whose backward pass is
spelled out step by step instead of being left to automatic differentiation.

Backpropagation through time (Werbos, 1990) is the chain rule applied to a recurrence unrolled over the
sequence. A recurrent layer computes, for t = 1 .. T,

    a_t = x_t W + b + h_{t-1} U          (pre-activations; gated cells have one block per gate)
    h_t = cell(a_t, state_{t-1})

and the gradient of a loss L summed over the steps flows backwards through the same chain:

    dL/dh_t   = dL/dy_t                  (the loss read at step t: the layer's output)
              + dL/da_{t+1} U^T          (the loss read later, carried back one step)
    dL/da_t   = dL/dh_t * cell'(a_t)     (element-wise: the gates' local derivatives)
    dL/dU     = sum_t h_{t-1}^T dL/da_t,   dL/dW = sum_t x_t^T dL/da_t,   dL/db = sum_t dL/da_t

Only h_{t-1} U depends on the previous step. Everything else is one large matrix product over all
steps at once: the input projection x W before the forward loop, and the weight gradients and
dL/dx after the backward loop. Each loop then holds one small matmul per step (h U forwards,
dL/da U^T backwards) and the element-wise gate arithmetic, which XLA fuses into few kernels per step.
This is how PyTorch's and cuDNN's recurrent layers are organised, and on a CPU it trains 1.1-1.7x faster
than Keras's layers, level with PyTorch's own kernels (numbers and the command: docs/bptt.md).

`zoo.bptt.SimpleRNN`, `LSTM` and `GRU` subclass Keras's layers of the same names and only replace the
inner loop, so weights, configs, `Bidirectional`, `initial_state`, `return_state` and `stateful` are
Keras's own, and weights move between the two in either direction (also through weights files, which
name a layer's variables after its class). Refused with a clear error: dropout on the inputs or on
the recurrent connection (the zoo puts `keras.layers.Dropout` between layers instead), masking,
activations other than Keras's defaults (SimpleRNN: tanh or relu), `use_bias=False`, and the GRU with
`reset_after=False`. TensorFlow backend only.
"""

from __future__ import annotations

import keras
import tensorflow as tf

# XLA compiles each loop into one program and fuses each step's element-wise gate arithmetic.
_compiled = tf.function(jit_compile=True, autograph=False)


# --------------------------------------------------------------------------------------------------
# The recurrences. Tensors are time-major: x (T, batch, features), states (batch, units).
# Each function returns every hidden state (T, batch, units) plus the final cell state where there is
# one; its gradient function receives dL/d(those outputs) and returns dL/d(every input).
# --------------------------------------------------------------------------------------------------
def _project(x, kernel):
    """x W for every step in one matmul: (T, batch, features) -> (T, batch, gates * units). The bias is
    added inside each step, where XLA fuses it with the activations instead of a pass over all steps."""
    return tf.einsum("tbf,fg->tbg", x, kernel)


def _weight_gradients(x, h_prev, da, kernel):
    """After the backward loop: dL/dx, dL/dW, dL/dU, dL/db as one matmul each over all steps.

    Args: x (T, batch, features) inputs, h_prev (T, batch, units) the states h_0 .. h_{T-1} each step
    read, da (T, batch, gates * units) dL/da_t.
    """
    dx = tf.einsum("tbg,fg->tbf", da, kernel)  # dL/dx_t = dL/da_t W^T
    dkernel = tf.einsum("tbf,tbg->fg", x, da)  # sum_t x_t^T dL/da_t
    drecurrent = tf.einsum("tbu,tbg->ug", h_prev, da)  # sum_t h_{t-1}^T dL/da_t
    dbias = tf.reduce_sum(da, axis=[0, 1])  # sum_t dL/da_t
    return dx, dkernel, drecurrent, dbias


def _tanh_prime(h):
    return 1 - h * h


def _relu_prime(h):
    return tf.cast(h > 0, h.dtype)


# ---- SimpleRNN: h_t = f(x_t W + b + h_{t-1} U), f = tanh or relu ---------------------------------
def _simple_rnn_sequence(activation):
    f = {"tanh": tf.tanh, "relu": tf.nn.relu}[activation]
    # f'(a_t) from h_t = f(a_t): tanh' = 1 - h^2; relu' = 1 where h > 0.
    f_prime = {"tanh": _tanh_prime, "relu": _relu_prime}[activation]

    @_compiled
    def forward(x, h0, kernel, recurrent_kernel, bias):
        xa = _project(x, kernel)

        def step(h, xa_t):
            return f(xa_t + bias + tf.matmul(h, recurrent_kernel))

        return tf.scan(step, xa, initializer=h0)  # (T, batch, units)

    @_compiled
    def backward(dhs, x, h0, hs, kernel, recurrent_kernel):
        def step(carry, reads):
            dh_next, _ = carry
            dy_t, h_t = reads
            da = (dy_t + dh_next) * f_prime(h_t)  # dL/da_t = dL/dh_t * f'(a_t)
            return tf.matmul(da, recurrent_kernel, transpose_b=True), da  # dL/dh_{t-1} = dL/da_t U^T

        dh_prev, da = tf.scan(step, (dhs, hs), initializer=(h0 * 0, h0 * 0), reverse=True)
        h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
        return (dh_prev[0], *_weight_gradients(x, h_prev, da, kernel))

    @tf.custom_gradient
    def sequence(x, h0, kernel, recurrent_kernel, bias):
        hs = forward(*_constants(x, h0, kernel, recurrent_kernel, bias))

        def gradient(dhs):
            dh0, dx, dkernel, drecurrent, dbias = backward(dhs, x, h0, hs, kernel, recurrent_kernel)
            return dx, dh0, dkernel, drecurrent, dbias

        return hs, gradient

    return sequence


# ---- LSTM, Keras's gate order [i, f, g, o] ---------------------------------------------------------
#   [i, f, g, o] = [sigma, sigma, tanh, sigma](x_t W + b + h_{t-1} U)
#   c_t = f * c_{t-1} + i * g          the cell state: an additive path, scaled by f per step
#   h_t = o * tanh(c_t)
def _gate_block(units, gate, gates=4):
    """A (gates * units,) boolean mask, True on the columns of gate number `gate`."""
    return tf.repeat(tf.range(gates) == gate, units)


@_compiled
def _lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias):
    xa = _project(x, kernel)  # (T, batch, 4 units); the bias is added in the step, fused with the gates
    is_g = _gate_block(h0.shape[1], 2)

    def step(previous, xa_t):
        h, c, _ = previous
        a = xa_t + bias + tf.matmul(h, recurrent_kernel)
        gates = tf.where(is_g, tf.tanh(a), tf.sigmoid(a))  # all four gates in one expression, no concat
        i, f, g, o = tf.split(gates, 4, axis=1)
        c = f * c + i * g
        return o * tf.tanh(c), c, gates  # the gates are kept for the backward pass

    return tf.scan(step, xa, initializer=(h0, c0, xa[0] * 0))  # hs, cs, gates: (T, batch, ...)


@_compiled
def _lstm_backward(dhs, dc_last, x, h0, c0, hs, cs, gates, kernel, recurrent_kernel):
    c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
    is_g = _gate_block(h0.shape[1], 2)

    def step(carry, reads):
        dh_next, dc_next, _ = carry
        dy_t, c_t, c_prev_t, gates_t = reads
        i, f, g, o = tf.split(gates_t, 4, axis=1)
        tanh_c = tf.tanh(c_t)
        dh = dy_t + dh_next  # dL/dh_t: read at step t + carried back from step t + 1
        dc = dc_next + dh * o * (1 - tanh_c * tanh_c)  # dL/dc_t: through h_t and along the cell state
        # dL/da_t for the four gates at once, each block (what reaches the gate's output) x (what the
        # gate multiplies) x (its activation's derivative: sigma' = s (1 - s), tanh' = 1 - g^2):
        #   i: dc * g,   f: dc * c_{t-1},   g: dc * i,   o: dh * tanh(c_t)
        # One element-wise expression: XLA fuses it into one kernel, where four blocks and a concat
        # cost five.
        derivative = tf.where(is_g, 1 - gates_t * gates_t, gates_t * (1 - gates_t))
        da = tf.concat([dc, dc, dc, dh], 1) * tf.concat([g, c_prev_t, i, tanh_c], 1) * derivative
        # Carried back one step: dL/dh_{t-1} = dL/da_t U^T; dL/dc_{t-1} = dL/dc_t * f (the carousel).
        return tf.matmul(da, recurrent_kernel, transpose_b=True), dc * f, da

    dh_prev, dc_prev, da = tf.scan(
        step, (dhs, cs, c_prev, gates), initializer=(h0 * 0, dc_last, gates[0] * 0), reverse=True
    )
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    return (dh_prev[0], dc_prev[0], *_weight_gradients(x, h_prev, da, kernel))


@tf.custom_gradient
def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias):
    """LSTM over a time-major sequence: (x (T, batch, features), h0, c0, W, U, b) -> (hs, c_T)."""
    hs, cs, gates = _lstm_forward(*_constants(x, h0, c0, kernel, recurrent_kernel, bias))

    def gradient(dhs, dc_last):
        dhs, dc_last = _zeros_if_none(dhs, hs), _zeros_if_none(dc_last, c0)
        dh0, dc0, dx, dkernel, drecurrent, dbias = _lstm_backward(
            dhs, dc_last, x, h0, c0, hs, cs, gates, kernel, recurrent_kernel
        )
        return dx, dh0, dc0, dkernel, drecurrent, dbias

    return (hs, cs[-1]), gradient


# ---- GRU, Keras's gate order [z, r, n] with reset_after=True (Keras's default and cuDNN's) --------
#   [a_z, a_r, a_n] = x_t W + b_in;   [m_z, m_r, m_n] = h_{t-1} U + b_rec
#   z = sigma(a_z + m_z),  r = sigma(a_r + m_r),  n = tanh(a_n + r * m_n)
#   h_t = z * h_{t-1} + (1 - z) * n     the update gate interpolates between keeping and rewriting
@_compiled
def _gru_forward(x, h0, kernel, recurrent_kernel, input_bias, recurrent_bias):
    xa = _project(x, kernel)  # (T, batch, 3 units); the biases are added in the step, fused
    units = h0.shape[1]

    def step(previous, xa_t):
        h, _ = previous
        m = tf.matmul(h, recurrent_kernel) + recurrent_bias
        a = xa_t + input_bias
        zr = tf.sigmoid(a[:, : 2 * units] + m[:, : 2 * units])  # z and r in one expression
        z, r, m_n = zr[:, :units], zr[:, units:], m[:, 2 * units :]
        n = tf.tanh(a[:, 2 * units :] + r * m_n)
        return z * h + (1 - z) * n, tf.concat([zr, n, m_n], axis=1)  # kept for the backward pass

    zeros = tf.concat([h0, h0, h0, h0], axis=1) * 0
    return tf.scan(step, xa, initializer=(h0, zeros))  # hs, saved


@_compiled
def _gru_backward(dhs, x, h0, hs, saved, kernel, recurrent_kernel):
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    units = h0.shape[1]
    is_n = _gate_block(units, 2, gates=3)

    def step(carry, reads):
        dh_next, _, _ = carry
        dy_t, h_prev_t, saved_t = reads
        z, r, n, m_n = tf.split(saved_t, 4, axis=1)
        dh = dy_t + dh_next
        dn = dh * (1 - z) * (1 - n * n)  # dL/d(a_n + r m_n)
        # dL/dm = dL/d(h_{t-1} U + b_rec) for the three blocks at once:
        #   z: dh * (h_{t-1} - n) * sigma'(z),   r: dn * m_n * sigma'(r),   n: dn * r
        zrn = saved_t[:, : 3 * units]
        dm = tf.concat([dh, dn, dn], 1) * tf.concat([h_prev_t - n, m_n, r], 1) * tf.where(is_n, 1.0, zrn * (1 - zrn))
        # h_{t-1} reaches h_t directly (times z) and through the recurrent matmul. dL/da (the input
        # side) is dm with dn in place of dn * r: [dm_z, dm_r, dn].
        return dh * z + tf.matmul(dm, recurrent_kernel, transpose_b=True), dm, dn

    dh_prev, dm, dn = tf.scan(
        step, (dhs, h_prev, saved), initializer=(h0 * 0, tf.concat([h0, h0, h0], 1) * 0, h0 * 0), reverse=True
    )
    da = tf.concat([dm[..., : 2 * units], dn], axis=2)  # dL/d(x_t W + b_in)
    dx = tf.einsum("tbg,fg->tbf", da, kernel)
    dkernel = tf.einsum("tbf,tbg->fg", x, da)
    drecurrent = tf.einsum("tbu,tbg->ug", h_prev, dm)
    return dh_prev[0], dx, dkernel, drecurrent, tf.stack([tf.reduce_sum(da, [0, 1]), tf.reduce_sum(dm, [0, 1])])


@tf.custom_gradient
def gru_sequence(x, h0, kernel, recurrent_kernel, bias):
    """GRU (reset_after) over a time-major sequence: (x, h0, W, U, b (2, 3 units)) -> hs."""
    hs, saved = _gru_forward(*_constants(x, h0, kernel, recurrent_kernel, bias[0], bias[1]))

    def gradient(dhs):
        dh0, dx, dkernel, drecurrent, dbias = _gru_backward(
            _zeros_if_none(dhs, hs), x, h0, hs, saved, kernel, recurrent_kernel
        )
        return dx, dh0, dkernel, drecurrent, dbias

    return hs, gradient


def _constants(*tensors):
    """The forward loops are not differentiated by TensorFlow (their gradient is written out), so they
    get their inputs with any recording gradient tape cut off."""
    return [tf.stop_gradient(t) for t in tensors]


def _zeros_if_none(gradient, like):
    return tf.zeros_like(like) if gradient is None else gradient


_SIMPLE_RNN = {name: _simple_rnn_sequence(name) for name in ("tanh", "relu")}


# --------------------------------------------------------------------------------------------------
# The Keras layers: Keras's own, with the inner loop replaced.
# --------------------------------------------------------------------------------------------------
class _WrittenOut:
    """Replaces `keras.layers.RNN.inner_loop`; everything else (weights, states, configs) is Keras's."""

    _activations = ("tanh",)

    def _check_options(self):
        name = f"zoo.bptt.{type(self).__name__}"
        activation = keras.activations.serialize(self.cell.activation)
        problems = []
        if self.cell.dropout or self.cell.recurrent_dropout:
            problems.append(
                "dropout and recurrent_dropout are not implemented (put keras.layers.Dropout between layers, "
                "as the zoo does, or use the Keras layer)"
            )
        if activation not in self._activations:
            problems.append(f"activation must be one of {self._activations}, got {activation!r}")
        recurrent = getattr(self.cell, "recurrent_activation", None)
        if recurrent is not None and keras.activations.serialize(recurrent) != "sigmoid":
            problems.append("recurrent_activation must be 'sigmoid'")
        if not self.cell.use_bias:
            problems.append("use_bias=False is not implemented")
        if getattr(self.cell, "reset_after", True) is False:
            problems.append("reset_after=False is not implemented (Keras's default reset_after=True is)")
        if keras.backend.backend() != "tensorflow":
            problems.append(f"it needs the TensorFlow backend, not {keras.backend.backend()!r}")
        if problems:
            raise ValueError(f"{name}: " + "; ".join(problems) + ".")

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not training:
            # Inference (evaluate, predict, generate) needs no backward pass: Keras's own loop gives the
            # same numbers without an XLA compilation for every new sequence length (sampling text
            # one character at a time calls the model on lengths 1, 2, ...).
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if mask is not None:
            raise ValueError(
                f"zoo.bptt.{type(self).__name__} does not implement masking; use keras.layers.{type(self).__name__} "
                "for masked inputs."
            )
        x = tf.transpose(sequences, [1, 0, 2])  # (T, batch, features)
        if self.go_backwards:
            x = tf.reverse(x, axis=[0])  # outputs stay in processing order, as Keras's
        cell = self.cell
        weights = [tf.cast(w, x.dtype) for w in (cell.kernel, cell.recurrent_kernel, cell.bias)]
        hs, states = self._sequence(x, [tf.cast(s, x.dtype) for s in initial_state], *weights)
        outputs = tf.transpose(hs, [1, 0, 2]) if self.return_sequences else hs[-1][:, None]
        return hs[-1], outputs, states


@keras.saving.register_keras_serializable(package="zoo")
class SimpleRNN(_WrittenOut, keras.layers.SimpleRNN):
    """`keras.layers.SimpleRNN` (tanh or relu) with backpropagation through time written out."""

    _activations = ("tanh", "relu")

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._check_options()

    def _sequence(self, x, states, kernel, recurrent_kernel, bias):
        hs = _SIMPLE_RNN[keras.activations.serialize(self.cell.activation)](
            x, states[0], kernel, recurrent_kernel, bias
        )
        return hs, [hs[-1]]


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(_WrittenOut, keras.layers.LSTM):
    """`keras.layers.LSTM` with backpropagation through time written out."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._check_options()

    def _sequence(self, x, states, kernel, recurrent_kernel, bias):
        hs, c_last = lstm_sequence(x, states[0], states[1], kernel, recurrent_kernel, bias)
        return hs, [hs[-1], c_last]


@keras.saving.register_keras_serializable(package="zoo")
class GRU(_WrittenOut, keras.layers.GRU):
    """`keras.layers.GRU` (reset_after=True) with backpropagation through time written out."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._check_options()

    def _sequence(self, x, states, kernel, recurrent_kernel, bias):
        hs = gru_sequence(x, states[0], kernel, recurrent_kernel, bias)
        return hs, [hs[-1]]


IMPLEMENTATIONS = ("auto", "keras", "bptt")

# What "auto" picks where TensorFlow sees no GPU, from `python -m training.bench --bptt` on the zoo's idle
# 2-core CPU machine (docs/bptt.md): the written-out layer was faster than Keras's per training step in
# wall time for all three at 128, 256 and 512 units in every run (1.07-1.75x at 8fe9c55), and over whole
# quick-sweep runs at 32 units.
AUTO_ON_CPU = {"SimpleRNN": "bptt", "LSTM": "bptt", "GRU": "bptt"}


def layer_class(name, implementation="auto"):
    """The recurrent layer class a builder uses: `name` is "SimpleRNN", "LSTM" or "GRU".

    Args:
        implementation: "keras" (`keras.layers.<name>`), "bptt" (`zoo.bptt.<name>`), or "auto": Keras's
            where TensorFlow sees a GPU (Keras then runs cuDNN's fused kernels), else `AUTO_ON_CPU[name]`.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"implementation must be one of {', '.join(IMPLEMENTATIONS)}, got {implementation!r}.")
    if implementation == "auto":
        implementation = "keras" if tf.config.list_physical_devices("GPU") else AUTO_ON_CPU[name]
    return getattr(keras.layers, name) if implementation == "keras" else globals()[name]
