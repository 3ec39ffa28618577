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
This is how PyTorch's and cuDNN's recurrent layers are organised, and on a CPU it trains faster than
Keras's layers at every measured size, level with PyTorch's own kernels (numbers and the command:
docs/bptt.md, section "Speed").

`zoo.bptt.SimpleRNN`, `LSTM` and `GRU` subclass Keras's layers of the same names and only replace the
inner loop, so weights, configs, `Bidirectional`, `initial_state`, `return_state` and `stateful` are
Keras's own, and weights move between the two in either direction (also through weights files, which
name a layer's variables after its class). They are drop-in replacements: every option of Keras's
layers works. Written out: `dropout` and `recurrent_dropout` (Keras's masks, one per batch and the same
at every step, enter both loops as one multiplication each), `use_bias=False` (the bias terms go),
the GRU's `reset_after=False` (its own pair of loops), masked inputs (a masked step carries the state
through, and its gradient passes straight back), `zero_output_for_mask`, `implementation=1` (a dropout
mask per gate), and the SimpleRNN's tanh, relu, sigmoid and linear activations. Any other activation,
`unroll=True`, `use_cudnn=True` or a backend other than TensorFlow trains with Keras's own loop, with
one warning at construction saying which option and why (docs/bptt.md, "Keras's options").
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf

# XLA compiles each loop into one program and fuses each step's element-wise gate arithmetic.
_compiled = tf.function(jit_compile=True, autograph=False)


# --------------------------------------------------------------------------------------------------
# The recurrences. Tensors are time-major: x (T, batch, features), states (batch, units).
# Each function returns every hidden state (T, batch, units) plus the final cell state where there is
# one; its gradient function receives dL/d(those outputs) and returns dL/d(every input).
#
# Keras's options enter as constants (no gradient flows to them), each None where it is off, so the
# default options trace the same expressions as before the options existed:
#   bias            None with use_bias=False: the terms + b disappear.
#   input_mask      dropout on x_t, the same mask at every step: (batch, features) for all gates, or
#                   (batch, gates, features), one per gate (Keras's implementation=1, which
#                   recurrent_dropout implies): gate k reads (x_t * mask_k) W_k.
#   recurrent_mask  dropout on h_{t-1}, the same at every step: (batch, units) or (batch, gates, units).
#   step_mask       (T, batch, 1) bool, False where a step is masked (padding): that step carries the
#                   previous state through unchanged, so its gradient passes straight back to t - 1.
# --------------------------------------------------------------------------------------------------
def _split_gates(t, gates):
    """(..., gates * units) -> (..., gates, units)."""
    return tf.reshape(t, tf.concat([tf.shape(t)[:-1], [gates, t.shape[-1] // gates]], axis=0))


def _merge_gates(t):
    """(..., gates, units) -> (..., gates * units)."""
    return tf.reshape(t, tf.concat([tf.shape(t)[:-2], [t.shape[-2] * t.shape[-1]]], axis=0))


def _per_gate(kernel, gates):
    """A kernel (n, gates * units) as (n, gates, units)."""
    return tf.reshape(kernel, (kernel.shape[0], gates, kernel.shape[1] // gates))


def _project(x, kernel, input_mask=None):
    """x W for every step in one matmul: (T, batch, features) -> (T, batch, gates * units), the input's
    dropout mask applied first. The bias is added inside each step, where XLA fuses it with the
    activations instead of a pass over all steps."""
    if input_mask is None:
        return tf.einsum("tbf,fg->tbg", x, kernel)
    if input_mask.shape.rank == 2:  # one mask for all gates
        return tf.einsum("tbf,fg->tbg", x * input_mask, kernel)
    gates = input_mask.shape[1]  # one mask per gate: (T, batch, gates, features) -> (T, batch, gates, units)
    return _merge_gates(tf.einsum("tbkf,fkv->tbkv", x[:, :, None] * input_mask, _per_gate(kernel, gates)))


def _input_gradients(x, da, kernel, input_mask=None):
    """After the backward loop: dL/dx_t = (dL/da_t W^T) * mask and dL/dW = sum_t (x_t * mask)^T dL/da_t,
    one matmul each over all steps. Args: x (T, batch, features), da (T, batch, gates * units)."""
    if input_mask is None:
        return tf.einsum("tbg,fg->tbf", da, kernel), tf.einsum("tbf,tbg->fg", x, da)
    if input_mask.shape.rank == 2:
        return tf.einsum("tbg,fg->tbf", da, kernel) * input_mask, tf.einsum("tbf,tbg->fg", x * input_mask, da)
    gates = input_mask.shape[1]
    da_k = _split_gates(da, gates)  # (T, batch, gates, units)
    dx = tf.reduce_sum(tf.einsum("tbkv,fkv->tbkf", da_k, _per_gate(kernel, gates)) * input_mask, axis=2)
    dkernel = tf.einsum("tbkf,tbkv->fkv", x[:, :, None] * input_mask, da_k)
    return dx, tf.reshape(dkernel, kernel.shape)


def _masked(h, mask):
    return h if mask is None else h * mask


def _recurrent(h, kernel, mask=None):
    """One step's h_{t-1} U, the recurrent dropout mask applied to h_{t-1} first."""
    if mask is None or mask.shape.rank == 2:
        return tf.matmul(_masked(h, mask), kernel)
    gates = mask.shape[1]  # one mask per gate: gate k reads (h_{t-1} * mask_k) U_k
    return _merge_gates(tf.einsum("bku,ukv->bkv", h[:, None] * mask, _per_gate(kernel, gates)))


def _recurrent_back(da, kernel, mask=None):
    """dL/dh_{t-1} through one step's h_{t-1} U: (dL/da_t U^T) * mask, summed over the gates' masks."""
    if mask is None or mask.shape.rank == 2:
        return _masked(tf.matmul(da, kernel, transpose_b=True), mask)
    gates = mask.shape[1]
    return tf.reduce_sum(tf.einsum("bkv,ukv->bku", _split_gates(da, gates), _per_gate(kernel, gates)) * mask, axis=1)


def _recurrent_kernel_gradient(h_prev, da, mask=None):
    """dL/dU = sum_t (h_{t-1} * mask)^T dL/da_t, one matmul over all steps. Args: h_prev (T, batch,
    units) the states h_0 .. h_{T-1} each step read, da (T, batch, gates * units)."""
    if mask is None or mask.shape.rank == 2:
        return tf.einsum("tbu,tbg->ug", _masked(h_prev, mask), da)
    gates = mask.shape[1]
    dkernel = tf.einsum("tbku,tbkv->ukv", h_prev[:, :, None] * mask, _split_gates(da, gates))
    return tf.reshape(dkernel, (h_prev.shape[-1], -1))


def _with_bias(t, bias):
    return t if bias is None else t + bias


def _pre_activation(xa_t, bias, recurrent):
    """a_t = x_t W + b + h_{t-1} U."""
    return xa_t + recurrent if bias is None else xa_t + bias + recurrent


def _carry(step_mask_t, new, old):
    """A masked step (False) keeps `old`; without a mask every step takes `new`."""
    return new if step_mask_t is None else tf.where(step_mask_t, new, old)


def _zero_where_masked(step_mask_t, da):
    """A masked step's output did not depend on its pre-activations: no gradient reaches its weights."""
    return da if step_mask_t is None else tf.where(step_mask_t, da, tf.zeros_like(da))


def _reads(step_mask, *tensors):
    """What each step of a scan reads: the tensors, and the step mask last where there is one."""
    return tensors if step_mask is None else (*tensors, step_mask)


def _step_mask_of(reads, masked):
    return reads[-1] if masked else None


# ---- SimpleRNN: h_t = f(x_t W + b + h_{t-1} U) -------------------------------------------------------
# f and f'(a_t) written from h_t = f(a_t) (no pre-activation is kept): tanh' = 1 - h^2, relu' = [h > 0],
# sigmoid' = h (1 - h), linear' = 1.
_ACTIVATIONS = {
    "tanh": (tf.tanh, lambda h: 1 - h * h),
    "relu": (tf.nn.relu, lambda h: tf.cast(h > 0, h.dtype)),
    "sigmoid": (tf.sigmoid, lambda h: h * (1 - h)),
    "linear": (tf.identity, tf.ones_like),
}


@_compiled
def _simple_rnn_forward(x, h0, kernel, recurrent_kernel, bias, input_mask, recurrent_mask, step_mask, activation):
    f = _ACTIVATIONS[activation][0]
    xa = _project(x, kernel, input_mask)
    masked = step_mask is not None

    def step(h, reads):
        a = _pre_activation(reads[0], bias, _recurrent(h, recurrent_kernel, recurrent_mask))
        return _carry(_step_mask_of(reads, masked), f(a), h)

    return tf.scan(step, _reads(step_mask, xa), initializer=h0)  # (T, batch, units)


@_compiled
def _simple_rnn_backward(dhs, x, h0, hs, kernel, recurrent_kernel, input_mask, recurrent_mask, step_mask, activation):
    f_prime = _ACTIVATIONS[activation][1]
    masked = step_mask is not None

    def step(carry, reads):
        dh_next, _ = carry
        dy_t, h_t, m_t = reads[0], reads[1], _step_mask_of(reads, masked)
        dh = dy_t + dh_next
        da = dh * f_prime(h_t)  # dL/da_t = dL/dh_t * f'(a_t)
        dh_prev = _recurrent_back(da, recurrent_kernel, recurrent_mask)  # dL/dh_{t-1} = dL/da_t U^T
        return _carry(m_t, dh_prev, dh), _zero_where_masked(m_t, da)

    dh_prev, da = tf.scan(step, _reads(step_mask, dhs, hs), initializer=(h0 * 0, h0 * 0), reverse=True)
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    dx, dkernel = _input_gradients(x, da, kernel, input_mask)
    drecurrent = _recurrent_kernel_gradient(h_prev, da, recurrent_mask)
    return dh_prev[0], dx, dkernel, drecurrent, tf.reduce_sum(da, axis=[0, 1])


def simple_rnn_sequence(x, h0, kernel, recurrent_kernel, bias=None, *, activation="tanh", input_mask=None,
                        recurrent_mask=None, step_mask=None):
    """SimpleRNN over a time-major sequence: (x (T, batch, features), h0, W, U, b or None) -> hs.

    Args: activation: a key of `_ACTIVATIONS`; input_mask, recurrent_mask, step_mask: as described at the
    top of this section, or None."""
    options = _constants(input_mask, recurrent_mask, step_mask)

    @tf.custom_gradient
    def sequence(x, h0, kernel, recurrent_kernel, *bias):
        hs = _simple_rnn_forward(*_constants(x, h0, kernel, recurrent_kernel), _bias_constant(bias), *options, activation)

        def gradient(dhs):
            dh0, dx, dkernel, drecurrent, dbias = _simple_rnn_backward(
                dhs, x, h0, hs, kernel, recurrent_kernel, *options, activation
            )
            return (dx, dh0, dkernel, drecurrent, *[dbias][: len(bias)])

        return hs, gradient

    return sequence(x, h0, kernel, recurrent_kernel, *_present(bias))


# ---- LSTM, Keras's gate order [i, f, g, o] ---------------------------------------------------------
#   [i, f, g, o] = [sigma, sigma, tanh, sigma](x_t W + b + h_{t-1} U)
#   c_t = f * c_{t-1} + i * g          the cell state: an additive path, scaled by f per step
#   h_t = o * tanh(c_t)
def _gate_block(units, gate, gates=4):
    """A (gates * units,) boolean mask, True on the columns of gate number `gate`."""
    return tf.repeat(tf.range(gates) == gate, units)


@_compiled
def _lstm_forward(x, h0, c0, kernel, recurrent_kernel, bias, input_mask, recurrent_mask, step_mask):
    xa = _project(x, kernel, input_mask)  # (T, batch, 4 units); the bias is added in the step, fused with the gates
    is_g = _gate_block(h0.shape[1], 2)
    masked = step_mask is not None

    def step(previous, reads):
        h, c, _ = previous
        a = _pre_activation(reads[0], bias, _recurrent(h, recurrent_kernel, recurrent_mask))
        gates = tf.where(is_g, tf.tanh(a), tf.sigmoid(a))  # all four gates in one expression, no concat
        i, f, g, o = tf.split(gates, 4, axis=1)
        c_new = f * c + i * g
        m_t = _step_mask_of(reads, masked)
        return _carry(m_t, o * tf.tanh(c_new), h), _carry(m_t, c_new, c), gates  # gates: for the backward pass

    return tf.scan(step, _reads(step_mask, xa), initializer=(h0, c0, xa[0] * 0))  # hs, cs, gates: (T, batch, ...)


@_compiled
def _lstm_backward(dhs, dc_last, x, h0, c0, hs, cs, gates, kernel, recurrent_kernel, input_mask, recurrent_mask,
                   step_mask):
    c_prev = tf.concat([c0[None], cs[:-1]], axis=0)
    is_g = _gate_block(h0.shape[1], 2)
    masked = step_mask is not None

    def step(carry, reads):
        dh_next, dc_next, _ = carry
        dy_t, c_t, c_prev_t, gates_t = reads[:4]
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
        # A masked step copied both states: dL/dh_t and the dL/dc_t carried from t + 1 pass through.
        m_t = _step_mask_of(reads, masked)
        dh_prev = _recurrent_back(da, recurrent_kernel, recurrent_mask)
        return _carry(m_t, dh_prev, dh), _carry(m_t, dc * f, dc_next), _zero_where_masked(m_t, da)

    dh_prev, dc_prev, da = tf.scan(
        step, _reads(step_mask, dhs, cs, c_prev, gates), initializer=(h0 * 0, dc_last, gates[0] * 0), reverse=True
    )
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    dx, dkernel = _input_gradients(x, da, kernel, input_mask)
    drecurrent = _recurrent_kernel_gradient(h_prev, da, recurrent_mask)
    return dh_prev[0], dc_prev[0], dx, dkernel, drecurrent, tf.reduce_sum(da, axis=[0, 1])


def lstm_sequence(x, h0, c0, kernel, recurrent_kernel, bias=None, *, input_mask=None, recurrent_mask=None,
                  step_mask=None):
    """LSTM over a time-major sequence: (x (T, batch, features), h0, c0, W, U, b or None) -> (hs, c_T)."""
    options = _constants(input_mask, recurrent_mask, step_mask)

    @tf.custom_gradient
    def sequence(x, h0, c0, kernel, recurrent_kernel, *bias):
        hs, cs, gates = _lstm_forward(*_constants(x, h0, c0, kernel, recurrent_kernel), _bias_constant(bias), *options)

        def gradient(dhs, dc_last):
            dhs, dc_last = _zeros_if_none(dhs, hs), _zeros_if_none(dc_last, c0)
            dh0, dc0, dx, dkernel, drecurrent, dbias = _lstm_backward(
                dhs, dc_last, x, h0, c0, hs, cs, gates, kernel, recurrent_kernel, *options
            )
            return (dx, dh0, dc0, dkernel, drecurrent, *[dbias][: len(bias)])

        return (hs, cs[-1]), gradient

    return sequence(x, h0, c0, kernel, recurrent_kernel, *_present(bias))


# ---- GRU, Keras's gate order [z, r, n] with reset_after=True (Keras's default and cuDNN's) --------
#   [a_z, a_r, a_n] = x_t W + b_in;   [m_z, m_r, m_n] = h_{t-1} U + b_rec
#   z = sigma(a_z + m_z),  r = sigma(a_r + m_r),  n = tanh(a_n + r * m_n)
#   h_t = z * h_{t-1} + (1 - z) * n     the update gate interpolates between keeping and rewriting
@_compiled
def _gru_forward(x, h0, kernel, recurrent_kernel, input_bias, recurrent_bias, input_mask, recurrent_mask, step_mask):
    xa = _project(x, kernel, input_mask)  # (T, batch, 3 units); the biases are added in the step, fused
    units = h0.shape[1]
    masked = step_mask is not None

    def step(previous, reads):
        h, _ = previous
        m = _with_bias(_recurrent(h, recurrent_kernel, recurrent_mask), recurrent_bias)
        a = _with_bias(reads[0], input_bias)
        zr = tf.sigmoid(a[:, : 2 * units] + m[:, : 2 * units])  # z and r in one expression
        z, r, m_n = zr[:, :units], zr[:, units:], m[:, 2 * units :]
        n = tf.tanh(a[:, 2 * units :] + r * m_n)
        h_new = _carry(_step_mask_of(reads, masked), z * h + (1 - z) * n, h)
        return h_new, tf.concat([zr, n, m_n], axis=1)  # kept for the backward pass

    zeros = tf.concat([h0, h0, h0, h0], axis=1) * 0
    return tf.scan(step, _reads(step_mask, xa), initializer=(h0, zeros))  # hs, saved


@_compiled
def _gru_backward(dhs, x, h0, hs, saved, kernel, recurrent_kernel, input_mask, recurrent_mask, step_mask):
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    units = h0.shape[1]
    is_n = _gate_block(units, 2, gates=3)
    masked = step_mask is not None

    def step(carry, reads):
        dh_next, _, _ = carry
        dy_t, h_prev_t, saved_t = reads[:3]
        z, r, n, m_n = tf.split(saved_t, 4, axis=1)
        dh = dy_t + dh_next
        dn = dh * (1 - z) * (1 - n * n)  # dL/d(a_n + r m_n)
        # dL/dm = dL/d(h_{t-1} U + b_rec) for the three blocks at once:
        #   z: dh * (h_{t-1} - n) * sigma'(z),   r: dn * m_n * sigma'(r),   n: dn * r
        zrn = saved_t[:, : 3 * units]
        dm = tf.concat([dh, dn, dn], 1) * tf.concat([h_prev_t - n, m_n, r], 1) * tf.where(is_n, 1.0, zrn * (1 - zrn))
        # h_{t-1} reaches h_t directly (times z) and through the recurrent matmul. dL/da (the input
        # side) is dm with dn in place of dn * r: [dm_z, dm_r, dn].
        m_t = _step_mask_of(reads, masked)
        dh_prev = dh * z + _recurrent_back(dm, recurrent_kernel, recurrent_mask)
        return _carry(m_t, dh_prev, dh), _zero_where_masked(m_t, dm), _zero_where_masked(m_t, dn)

    dh_prev, dm, dn = tf.scan(
        step,
        _reads(step_mask, dhs, h_prev, saved),
        initializer=(h0 * 0, tf.concat([h0, h0, h0], 1) * 0, h0 * 0),
        reverse=True,
    )
    da = tf.concat([dm[..., : 2 * units], dn], axis=2)  # dL/d(x_t W + b_in)
    dx, dkernel = _input_gradients(x, da, kernel, input_mask)
    drecurrent = _recurrent_kernel_gradient(h_prev, dm, recurrent_mask)
    return dh_prev[0], dx, dkernel, drecurrent, tf.stack([tf.reduce_sum(da, [0, 1]), tf.reduce_sum(dm, [0, 1])])


# ---- GRU with reset_after=False (Cho et al., 2014): the reset gate applied before the matmul --------
#   [a_z, a_r, a_n] = x_t W + b    (one bias)
#   z = sigma(a_z + h_{t-1} U_z),  r = sigma(a_r + h_{t-1} U_r),  n = tanh(a_n + (r * h_{t-1}) U_n)
#   h_t = z * h_{t-1} + (1 - z) * n
# r now multiplies h_{t-1} before U_n, so each step has two matmuls one after the other.
def _gate_masks(recurrent_mask):
    """The recurrent masks of [z, r] and of n."""
    if recurrent_mask is None or recurrent_mask.shape.rank == 2:
        return recurrent_mask, recurrent_mask
    return recurrent_mask[:, :2], recurrent_mask[:, 2]


@_compiled
def _gru_reset_before_forward(x, h0, kernel, recurrent_kernel, bias, input_mask, recurrent_mask, step_mask):
    xa = _project(x, kernel, input_mask)  # (T, batch, 3 units)
    units = h0.shape[1]
    kernel_zr, kernel_n = recurrent_kernel[:, : 2 * units], recurrent_kernel[:, 2 * units :]
    mask_zr, mask_n = _gate_masks(recurrent_mask)
    masked = step_mask is not None

    def step(previous, reads):
        h, _ = previous
        a = _with_bias(reads[0], bias)
        zr = tf.sigmoid(a[:, : 2 * units] + _recurrent(h, kernel_zr, mask_zr))
        z, r = zr[:, :units], zr[:, units:]
        n = tf.tanh(a[:, 2 * units :] + tf.matmul(r * _masked(h, mask_n), kernel_n))
        h_new = _carry(_step_mask_of(reads, masked), z * h + (1 - z) * n, h)
        return h_new, tf.concat([zr, n], axis=1)  # kept for the backward pass

    return tf.scan(step, _reads(step_mask, xa), initializer=(h0, tf.concat([h0, h0, h0], axis=1) * 0))


@_compiled
def _gru_reset_before_backward(dhs, x, h0, hs, saved, kernel, recurrent_kernel, input_mask, recurrent_mask, step_mask):
    h_prev = tf.concat([h0[None], hs[:-1]], axis=0)
    units = h0.shape[1]
    kernel_zr, kernel_n = recurrent_kernel[:, : 2 * units], recurrent_kernel[:, 2 * units :]
    mask_zr, mask_n = _gate_masks(recurrent_mask)
    masked = step_mask is not None

    def step(carry, reads):
        dh_next, _ = carry
        dy_t, h_prev_t, saved_t = reads[:3]
        zr, n = saved_t[:, : 2 * units], saved_t[:, 2 * units :]
        z, r = zr[:, :units], zr[:, units:]
        dh = dy_t + dh_next
        dn = dh * (1 - z) * (1 - n * n)  # dL/d(a_n + (r * h_{t-1}) U_n)
        dq = tf.matmul(dn, kernel_n, transpose_b=True)  # dL/d(r * h_{t-1}) (h_{t-1} dropped out where masked)
        # dL/d(a + h_{t-1} U) for z and r:  z: dh * (h_{t-1} - n) * sigma'(z),  r: dq * h_{t-1} * sigma'(r)
        dzr = tf.concat([dh * (h_prev_t - n), dq * _masked(h_prev_t, mask_n)], 1) * zr * (1 - zr)
        # h_{t-1} reaches h_t directly (times z), through r * h_{t-1} and through the z and r matmuls.
        dh_prev = dh * z + _masked(dq * r, mask_n) + _recurrent_back(dzr, kernel_zr, mask_zr)
        m_t = _step_mask_of(reads, masked)
        return _carry(m_t, dh_prev, dh), _zero_where_masked(m_t, tf.concat([dzr, dn], axis=1))

    dh_prev, da = tf.scan(
        step, _reads(step_mask, dhs, h_prev, saved), initializer=(h0 * 0, tf.concat([h0, h0, h0], 1) * 0),
        reverse=True,
    )
    dx, dkernel = _input_gradients(x, da, kernel, input_mask)
    drecurrent_zr = _recurrent_kernel_gradient(h_prev, da[..., : 2 * units], mask_zr)
    reset_h = saved[..., units : 2 * units] * _masked(h_prev, mask_n)  # r_t * h_{t-1}, what U_n multiplied
    drecurrent_n = tf.einsum("tbu,tbv->uv", reset_h, da[..., 2 * units :])
    return dh_prev[0], dx, dkernel, tf.concat([drecurrent_zr, drecurrent_n], axis=1), tf.reduce_sum(da, [0, 1])


def gru_sequence(x, h0, kernel, recurrent_kernel, bias=None, *, reset_after=True, input_mask=None,
                 recurrent_mask=None, step_mask=None):
    """GRU over a time-major sequence: (x, h0, W, U, b) -> hs. b is (2, 3 units) with reset_after (input
    and recurrent biases), (3 units,) without, None with use_bias=False."""
    options = _constants(input_mask, recurrent_mask, step_mask)
    forward, backward = (_gru_forward, _gru_backward) if reset_after else (
        _gru_reset_before_forward, _gru_reset_before_backward)

    @tf.custom_gradient
    def sequence(x, h0, kernel, recurrent_kernel, *bias):
        weights = _constants(x, h0, kernel, recurrent_kernel)
        b = _bias_constant(bias)
        biases = ([None, None] if b is None else [b[0], b[1]]) if reset_after else [b]
        hs, saved = forward(*weights, *biases, *options)

        def gradient(dhs):
            dh0, dx, dkernel, drecurrent, dbias = backward(
                _zeros_if_none(dhs, hs), x, h0, hs, saved, kernel, recurrent_kernel, *options
            )
            return (dx, dh0, dkernel, drecurrent, *[dbias][: len(bias)])

        return hs, gradient

    return sequence(x, h0, kernel, recurrent_kernel, *_present(bias))


def _constants(*tensors):
    """The forward loops are not differentiated by TensorFlow (their gradient is written out), so they
    get their inputs with any recording gradient tape cut off. None (an option that is off) stays None."""
    return [None if t is None else tf.stop_gradient(t) for t in tensors]


def _present(tensor):
    """An optional argument (the bias) as the custom gradient's trailing arguments: [] or [tensor]."""
    return [] if tensor is None else [tensor]


def _bias_constant(bias):
    """The trailing arguments [] or [b] back as None or b, cut off from the tape (see `_constants`)."""
    return tf.stop_gradient(bias[0]) if bias else None


def _zeros_if_none(gradient, like):
    return tf.zeros_like(like) if gradient is None else gradient


def _activation_name(activation):
    """Keras's name of an activation function ("tanh", ...), or the function's own name."""
    try:
        name = keras.activations.serialize(activation)
    except (ValueError, TypeError):
        name = None
    return name if isinstance(name, str) else getattr(activation, "__name__", repr(activation))


# --------------------------------------------------------------------------------------------------
# The Keras layers: Keras's own, with the inner loop replaced.
# --------------------------------------------------------------------------------------------------
class _WrittenOut:
    """Replaces `keras.layers.RNN.inner_loop`; everything else (weights, states, configs) is Keras's."""

    _activations = ("tanh",)

    def _keras_loop_reasons(self):
        """The options for which this layer trains with Keras's own loop (none: the written-out one)."""
        reasons = []
        activation = _activation_name(self.cell.activation)
        if activation not in self._activations:
            written = " or ".join(repr(a) for a in self._activations)
            reasons.append(f"activation={activation!r} (the backward loop is written out for {written})")
        recurrent = getattr(self.cell, "recurrent_activation", None)
        if recurrent is not None and _activation_name(recurrent) != "sigmoid":
            reasons.append(
                f"recurrent_activation={_activation_name(recurrent)!r} (the backward loop is written out for 'sigmoid')"
            )
        if self.unroll:
            reasons.append("unroll=True (it unrolls Keras's loop, which the written-out loop replaces)")
        if getattr(self, "use_cudnn", "auto") is True:
            reasons.append("use_cudnn=True (it asks for Keras's cuDNN kernels)")
        if keras.backend.backend() != "tensorflow":
            reasons.append(f"the {keras.backend.backend()!r} backend (the written-out loop is TensorFlow's)")
        return tuple(reasons)

    def _choose_loop(self):
        """Called at the end of `__init__`: one warning, before any training, where Keras's loop will run."""
        self._keras_loop = self._keras_loop_reasons()
        if self._keras_loop:
            name = type(self).__name__
            warnings.warn(
                f"zoo.bptt.{name} with {'; '.join(self._keras_loop)}: this layer trains with keras.layers.{name}'s "
                "own loop (the same numbers at Keras's speed), not with backpropagation through time written out.",
                stacklevel=3,
            )

    @staticmethod
    def _dropout_applies(rate):
        # Keras's LSTM and GRU cells apply dropout where `training and 0.0 < rate < 1.0`.
        return 0.0 < rate < 1.0

    def _dropout_masks(self, sequences, initial_state, dtype):
        """This batch's dropout masks, Keras's own: `keras.layers.RNN.call` draws them from the cell's seed
        generator before the loop (one per batch, the same at every step) and they are read here, so
        the same seed gives the same masks as Keras's layer. None where no dropout applies."""
        cell = self.cell

        def mask(rate, draw, like):
            if not self._dropout_applies(rate):
                return None
            drawn = draw(like)
            if isinstance(drawn, (list, tuple)):  # one per gate (implementation=1): (batch, gates, n)
                drawn = tf.stack(list(drawn), axis=1)
            return tf.cast(drawn, dtype)

        return (
            mask(cell.dropout, cell.get_dropout_mask, sequences[:, 0, :]),
            mask(cell.recurrent_dropout, cell.get_recurrent_dropout_mask, initial_state[0]),
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if not training or self._keras_loop:
            # Inference (evaluate, predict, generate) needs no backward pass: Keras's own loop gives the
            # same numbers without an XLA compilation for every new sequence length (sampling text
            # one character at a time calls the model on lengths 1, 2, ...).
            return super().inner_loop(sequences, initial_state, mask, training=training)
        x = tf.transpose(sequences, [1, 0, 2])  # (T, batch, features)
        step_mask = None
        if mask is not None:
            mask = tf.nest.flatten(mask)[0]
            mask = mask[..., 0] if mask.shape.rank == 3 else mask
            step_mask = tf.transpose(tf.cast(mask, tf.bool))[:, :, None]  # (T, batch, 1)
        if self.go_backwards:  # outputs stay in processing order, as Keras's
            x = tf.reverse(x, axis=[0])
            step_mask = None if step_mask is None else tf.reverse(step_mask, axis=[0])
        cell = self.cell
        weights = [None if w is None else tf.cast(w, x.dtype) for w in (cell.kernel, cell.recurrent_kernel, cell.bias)]
        input_mask, recurrent_mask = self._dropout_masks(sequences, initial_state, x.dtype)
        hs, states = self._sequence(
            x, [tf.cast(s, x.dtype) for s in initial_state], *weights,
            input_mask=input_mask, recurrent_mask=recurrent_mask, step_mask=step_mask,
        )
        if step_mask is not None:
            # Keras's output at a masked step repeats the last unmasked step's output (zeros before the
            # first one), or is zero with zero_output_for_mask; the states carry through either way.
            shown = step_mask if self.zero_output_for_mask else tf.cumsum(tf.cast(step_mask, tf.int32), axis=0) > 0
            hs = tf.where(shown, hs, tf.zeros_like(hs))
        outputs = tf.transpose(hs, [1, 0, 2]) if self.return_sequences else hs[-1][:, None]
        return hs[-1], outputs, states


@keras.saving.register_keras_serializable(package="zoo")
class SimpleRNN(_WrittenOut, keras.layers.SimpleRNN):
    """`keras.layers.SimpleRNN` with backpropagation through time written out."""

    _activations = tuple(_ACTIVATIONS)

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._choose_loop()

    @staticmethod
    def _dropout_applies(rate):
        return rate > 0  # Keras's SimpleRNN cell applies a mask wherever it drew one

    def _sequence(self, x, states, kernel, recurrent_kernel, bias, **options):
        activation = _activation_name(self.cell.activation)
        hs = simple_rnn_sequence(x, states[0], kernel, recurrent_kernel, bias, activation=activation, **options)
        return hs, [hs[-1]]


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(_WrittenOut, keras.layers.LSTM):
    """`keras.layers.LSTM` with backpropagation through time written out."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._choose_loop()

    def _sequence(self, x, states, kernel, recurrent_kernel, bias, **options):
        hs, c_last = lstm_sequence(x, states[0], states[1], kernel, recurrent_kernel, bias, **options)
        return hs, [hs[-1], c_last]


@keras.saving.register_keras_serializable(package="zoo")
class GRU(_WrittenOut, keras.layers.GRU):
    """`keras.layers.GRU` with backpropagation through time written out."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self._choose_loop()

    def _sequence(self, x, states, kernel, recurrent_kernel, bias, **options):
        hs = gru_sequence(x, states[0], kernel, recurrent_kernel, bias, reset_after=self.cell.reset_after, **options)
        return hs, [hs[-1]]


IMPLEMENTATIONS = ("auto", "keras", "bptt")

# What "auto" picks where TensorFlow sees no GPU: the written-out layer wherever `python -m training.bench
# --bptt` measured it faster than Keras's per training step (the measurements, their machine and commit:
# docs/bptt.md, section "Speed").
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
