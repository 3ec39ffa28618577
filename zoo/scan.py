"""Recurrences that train in parallel: minGRU, minLSTM (Feng et al., 2024, "Were RNNs All We Needed?")
and the LRU (Orvieto et al., 2023, "Resurrecting Recurrent Neural Networks for Long Sequences").

All three are *linear* in their state, with coefficients that depend on the input only:

    h_t = a_t * h_{t-1} + b_t                   (element-wise; a_t, b_t computed from x_t alone)

so the whole sequence h_1 .. h_T is a prefix scan of the pairs (a_t, b_t) under the associative
operation (a, b) o (a', b') = (a a', a' b + b'), computable in ceil(log2 T) parallel steps instead of T
sequential ones. Backpropagation through time is then the same scan run backwards: nothing in the
gradient waits for the step before it.

minGRU (Feng et al., Sec. 3.1): the GRU without the hidden state in its gates and without tanh,

    z_t = sigmoid(x_t W_z + b_z),   h~_t = g(x_t W_h + b_h),   h_t = (1 - z_t) h_{t-1} + z_t h~_t

with g(v) = v + 0.5 for v >= 0, sigmoid(v) otherwise (Sec. 3.1.2 / Appendix B: keeps h~ > 0 so the scan
runs in log space, where a long product of (1 - z) cannot underflow):

    log h_t = a*_t + logcumsumexp_{k<=t}(log z_k + log h~_k - a*_k),     a*_t = sum_{j<=t} log(1 - z_j)

minLSTM (Sec. 3.2): forget and input gates from the input alone, normalised to sum to one
(f'_t = f_t / (f_t + i_t), i'_t = i_t / (f_t + i_t)), h_t = f'_t h_{t-1} + i'_t h~_t; the same log-space scan
with log f'_t = -softplus(log i_t - log f_t).

LRU (Orvieto et al., Sec. 3): a diagonal complex recurrence with its eigenvalues parametrised inside the
unit disc and a normalisation of the input,

    x_t = lambda * x_{t-1} + gamma * (u_t B),     y_t = Re(x_t C) + u_t D
    lambda = exp(-exp(nu) + i exp(theta)),   |lambda| = exp(-exp(nu)) < 1,   gamma = sqrt(1 - |lambda|^2)

initialised on a ring r_min <= |lambda| <= r_max with phases in [0, max_phase] (Sec. 3.3, Lemma 3.2), so the
gradient through time decays by |lambda| per step: a rate that is *set* (log10(1 / max|lambda|) decades per
step at most slowly), not hoped for. The scan is the associative one above with a constant a = lambda.
(D is a full (input, units) matrix here, not the paper's diagonal one, since the zoo's input and output
widths may differ.)

Each layer has two paths that compute the same numbers: `scan="parallel"` (training) and
`scan="sequential"` (one step at a time: generation, and the reference the tests hold the parallel path
to). The parallel path is a blocked scan (`linear_scan`: chunks of ~32 steps scanned all at once, then
their carries; O(T) work, Blelloch 1990), in linear space: it never divides by a long product of gates,
which is what the paper's log-space formula (Appendix B, kept as `log_linear_scan`) guards against, and on
a CPU it is several times faster than cumsum and cumulative_logsumexp over time (docs/benchmarks.md). Its
gradient is written out as the backward scan of BPTT (the automatic derivative of the log-space formula
loses every gradient below ~1e-7 of the largest), and XLA fuses each cell's gate arithmetic, forwards and
backwards, into one pass. Only the final output is returned per step (`return_sequences`), as Keras's recurrent layers do;
`go_backwards` reads the sequence from its end, so `keras.layers.Bidirectional` wraps them.

The gradient through time is multiplied by a_t at each step and by nothing else (the step's Jacobian is
diag(a_t), a rotation-scaling by lambda for the LRU): each layer declares its step and its retention |a_t|
to `zoo.dynamics`, whose theory is then the log-mean of 1 - z (f') unit by unit, or log10(1 / max|lambda|).
For the through-time instrument's `state` probe each declares `state_width` and `call_with_state_delta`
(training.instruments.through_time.PerturbableState). The zoo builds them as `min_gru`, `min_lstm`, `lru`
(docs/zoo.md).

Truncated BPTT (`tbptt=K`, `zoo.tbptt`; Williams & Peng, 1990): the gradient of the state cut every K steps
from the first step read (from the last for `go_backwards`), the outputs unchanged. It is the scan run
window by window, each window starting from stop_gradient(the previous window's last state); since the
recurrence is linear that equals one scan forwards over the whole sequence (the untruncated one: the same
values, exactly, at the same cost) and a backward scan whose links a_t are 0 where step t starts a window
(`linear_scan(..., cuts)`, `_cut_links`): lambda_t = g_t there, so no gradient crosses a boundary. Both
scans stay parallel over the whole sequence; the backward pass does one `where` more per element, and the
LRU's constant lambda becomes a per-step (batch, time, units) factor in it. The sequential path cuts
with stop_gradient at the window starts; the state probe's delta scan is cut the same way, so the
through-time profile of a truncated layer is zero from lag K.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from zoo.dynamics import RecurrentStep, register_step
from zoo.tbptt import check_tbptt, window_starts

SCANS = ("parallel", "sequential")


# ------------------------------------------------------------------------------------------- scans
# The chunk of the blocked scan: within a chunk the recurrence runs step by step, but on every chunk of
# every sequence at once; the chunks' carries then take a short doubling scan. 32 measured fastest on a
# 2-core CPU at T = 1000 (docs/benchmarks.md); any value gives the same numbers.
CHUNK = 32


def _doubling_scan(a, b):
    """h_t = a_t * h_{t-1} + b_t, h_0 = 0, along axis 1 by Hillis-Steele doubling: after the round with
    offset k every position holds the combination of the last 2k steps; ceil(log2 T) rounds (a Python loop
    for a static length, a `tf.while_loop` for a dynamic one). T log T work: used on the chunks' carries."""
    a = tf.broadcast_to(a, tf.shape(b))

    def combine(offset, a, b):
        # position t combines with position t - offset (positions before offset have nothing to combine).
        length = tf.shape(b)[1]
        b = tf.concat([b[:, :offset], b[:, offset:] + a[:, offset:] * b[:, : length - offset]], axis=1)
        a = tf.concat([a[:, :offset], a[:, offset:] * a[:, : length - offset]], axis=1)
        return offset * 2, a, b

    time = b.shape[1]
    if time is not None:
        offset = 1
        while offset < time:
            offset, a, b = combine(offset, a, b)
        return b
    _, _, b = tf.while_loop(lambda offset, a, b: offset < tf.shape(b)[1], combine, (tf.constant(1), a, b),
                            shape_invariants=(tf.TensorShape([]), a.shape, b.shape))
    return b


def _chunk_length(time):
    """CHUNK, or a length near it that divides a static `time` (no padding), or `time` itself if shorter."""
    if time is None:
        return CHUNK
    if time <= CHUNK:
        return max(1, time)
    near = [c for c in range(CHUNK // 2, 2 * CHUNK + 1) if time % c == 0]
    return min(near, key=lambda c: abs(c - CHUNK)) if near else CHUNK


def _blocked_scan(a, b, transpose=False):
    """The values of h_t = a_t h_{t-1} + b_t (h_0 = 0) by a blocked scan, the work-efficient form of the
    prefix scan (Blelloch, 1990, "Prefix sums and their applications", Sec. 1.4): cut the time axis into
    chunks of about `CHUNK` steps and

      1. scan inside every chunk at once: h^loc_c = a_c h^loc_(c-1) + b_c and P_c = a_c P_(c-1) (the product
         of the chunk's factors so far), c = 1 .. CHUNK, on (batch, chunks, units) tensors;
      2. scan the chunks' ends: H_k = P_k H_(k-1) + h^loc_k (the state at the end of chunk k), by doubling;
      3. h_t = h^loc_t + P_t H_(k-1) for t in chunk k, all at once.

    O(T) work (the doubling scan alone does T log T), about CHUNK + log2(T / CHUNK) steps deep. Every product
    is of factors |a| <= 1 multiplied into a bounded state and nothing is divided, so linear space is as
    stable as the log space of Feng et al. (Appendix B), whose purpose is not to divide by a long product.

    `transpose=True` runs the transposed recurrence, from the end: h_t = a_(t+1) h_(t+1) + b_t, h_(T+1) = 0,
    the backward scan of BPTT (the same steps mirrored, with no reversed copies of the tensors).

    Args:
        a: (batch, time, units), or (units,) for a factor constant in time (the LRU's lambda).
        b: (batch, time, units); real or complex, like a.
    """
    chunk = _chunk_length(b.shape[1])
    batch, time, units = tf.shape(b)[0], tf.shape(b)[1], b.shape[-1]
    chunks = (time + chunk - 1) // chunk
    pad = [[0, 0], [0, chunks * chunk - time], [0, 0]]  # steps after T change nothing before it

    def blocks(t, fill=0):  # (batch, time, units) -> `chunk` tensors (batch, chunks, units)
        if b.shape[1] is None or b.shape[1] % chunk:
            t = tf.pad(t, pad, constant_values=fill)
        return tf.unstack(tf.reshape(t, [batch, chunks, chunk, units]), axis=2)

    def full(t):
        return tf.broadcast_to(t, tf.shape(h[0])) if t.shape.rank == 1 else t

    bs = blocks(b)
    factors = [a] * chunk if a.shape.rank == 1 else blocks(a, fill=1)
    if not transpose:
        h, p = [bs[0]], [factors[0]]
        for c in range(1, chunk):
            h.append(factors[c] * h[-1] + bs[c])
            p.append(factors[c] * p[-1])
        ends = _doubling_scan(full(p[-1]), h[-1])  # H_k (batch, chunks, units)
        carried = tf.concat([tf.zeros_like(ends[:, :1]), ends[:, :-1]], axis=1)  # H_(k-1), H_0 = 0
    else:
        # the factor linking position c to c + 1: a_(c+1), for the chunk's last position the next chunk's first
        first = factors[0] if a.shape.rank == 1 else tf.concat([factors[0][:, 1:], tf.zeros_like(factors[0][:, :1])], 1)
        links = factors[1:] + [first]
        h, p = [bs[-1]], [links[-1]]
        for c in range(chunk - 2, -1, -1):
            h.append(links[c] * h[-1] + bs[c])
            p.append(links[c] * p[-1])
        h.reverse()
        p.reverse()
        # the state at each chunk's first position, scanned over the chunks from the last one
        starts = tf.reverse(_doubling_scan(tf.reverse(full(p[0]), [1]), tf.reverse(h[0], [1])), [1])
        carried = tf.concat([starts[:, 1:], tf.zeros_like(starts[:, :1])], axis=1)  # of chunk k + 1
    h = tf.stack([h_c + p_c * carried for h_c, p_c in zip(h, p)], axis=2)  # (batch, chunks, chunk, units)
    h = tf.reshape(h, [batch, chunks * chunk, units])
    return h if b.shape[1] is not None and b.shape[1] % chunk == 0 else h[:, :time]


def _backward_scan(a, g):
    """lambda_t = g_t + conj(a_(t+1)) lambda_(t+1), lambda_(T+1) = 0: dL/dh_t in total, the loss read at t and
    after it, for h_t = a_t h_(t-1) + b_t and dL/dh_t read directly = g_t. The same scan run from the end."""
    return _blocked_scan(tf.math.conj(a), g, transpose=True)


def _previous(h):
    """h_(t-1) for every t, h_0 = 0."""
    return tf.concat([tf.zeros_like(h[:, :1]), h[:, :-1]], axis=1)


def linear_scan(a, b, cuts=None):
    """h_t = a_t * h_{t-1} + b_t with h_0 = 0, for every t at once, along axis 1 of (batch, time, units)
    tensors; a may be (units,), constant in time; complex works. A blocked parallel scan (`_blocked_scan`)
    whose gradient is written out as the backward scan of BPTT:

        lambda_t = dL/dh_t (total) = g_t + conj(a_{t+1}) lambda_{t+1},   dL/db_t = lambda_t,
        dL/da_t = lambda_t conj(h_{t-1})                     (conj: TensorFlow's convention for complex)

    so the tape keeps a and h only, not every intermediate of the scan.

    Args:
        cuts: None (full BPTT), or a boolean (time,) that is True at the steps where a truncated-BPTT window
            starts (`zoo.tbptt.window_starts`): the values are the same, and the backward scan drops the term
            conj(a_{t+1}) lambda_{t+1} where t + 1 starts a window (`_cut_links`)."""

    @tf.custom_gradient
    def scan(a, b):
        h = _blocked_scan(a, b)

        def gradient(g):
            lam = _backward_scan(_cut_links(a, cuts, b), g)
            da = lam * tf.math.conj(_previous(h))
            if a.shape.rank == 1:
                da = tf.reduce_sum(da, axis=[0, 1])
            return da, lam

        return h, gradient

    return scan(a, b)


def _cut_links(a, cuts, like):
    """The factors the backward scan carries lambda back with, a_t, set to 0 where step t starts a window
    (`cuts`, boolean (time,)): lambda_(t-1) then gets nothing from lambda_t, as if h_(t-1) had entered step t
    through stop_gradient. `like`: a (batch, time, units) tensor whose shape a constant a (units,) takes."""
    if cuts is None:
        return a
    a = tf.broadcast_to(a, tf.shape(like)) if a.shape.rank == 1 else a
    return tf.where(cuts[:, None], tf.zeros_like(a), a)  # (time, 1) against (batch, time, units)


@tf.custom_gradient
def log_linear_scan(log_a, log_b):
    """h_t for h_t = a_t h_{t-1} + b_t, h_0 = 0, with a_t and b_t > 0 given as logs (batch, time, units)
    (Feng et al., Appendix B): log h_t = a*_t + logcumsumexp(log b_t - a*_t), a*_t = cumsum(log a_t).
    The paper's formula, kept as its reference; the layers train with `linear_scan`, which computes the same
    h without cumsum and cumulative_logsumexp over time, several times faster on a CPU.

    The gradient is written out as the backward recurrence of BPTT, itself a linear scan run from the end:

        lambda_t = dL/dh_t (total) = g_t + a_{t+1} lambda_{t+1},   dL/db_t = lambda_t,   dL/da_t = lambda_t h_{t-1}

    Differentiating the log-space formula instead would give dL/d log a_k as h_T times (1 - the weight
    of the steps before k): a difference of two numbers near 1 whose true value is prod_(j>k) a_j, so
    in float32 every gradient more than ~10^-7 below the largest one would be rounding noise (the
    through-time profile would flatten at -7 decades)."""
    a_star = tf.cumsum(log_a, axis=1)
    h = tf.exp(a_star + tf.math.cumulative_logsumexp(log_b - a_star, axis=1))

    def gradient(g):  # g = dL/dh_t from above (batch, time, units)
        a = tf.exp(log_a)
        lam = _backward_scan(a, g)
        return lam * a * _previous(h), lam * tf.exp(log_b)  # d/d log a = a dL/da, d/d log b = b dL/db

    return h, gradient


# XLA compiles each cell's element-wise gate arithmetic, and its derivative, into one pass over the
# (batch, time, units) tensors: on a CPU, without it, these passes cost more than the scan itself.
_fused = tf.function(jit_compile=True, autograph=False, reduce_retracing=True)


def _gated_scan(forward, derivative):
    """The scan of a cell whose a_t and b_t are element-wise functions of its pre-activations k_t = x_t W + b:
    k (batch, time, blocks * units) -> h (batch, time, units), with the gradient written out,

        lambda = the backward scan of g (`_backward_scan`),   dL/dk_t = derivative(lambda_t, h_(t-1), saved_t)

    (dL/da_t = lambda_t h_(t-1) and dL/db_t = lambda_t, through a_t's and b_t's derivatives by hand, from the
    gates the forward pass saved: the backward pass evaluates no exp). `forward(k)` returns (a, b, saved).
    The scan takes `cuts` as `linear_scan` does (truncated BPTT: the backward scan's links cut)."""

    def scan(k, cuts=None):
        @tf.custom_gradient
        def differentiable(k):
            a, b, saved = forward(k)
            h = _blocked_scan(a, b)

            def gradient(g):
                return derivative(_backward_scan(_cut_links(a, cuts, b), g), _previous(h), *saved)

            return h, gradient

        return differentiable(k)

    return scan


def _sigmoid_pair(v):
    """(sigmoid(v), sigmoid(-v)) from one exp, each exact to its own relative precision (1 - sigmoid(v) is not
    where sigmoid(v) ~ 1)."""
    e = tf.exp(-tf.abs(v))
    large, small = 1.0 / (1.0 + e), e / (1.0 + e)
    positive = v >= 0
    return tf.where(positive, large, small), tf.where(positive, small, large)


def _g_and_slope(v):
    """g(v) and g'(v): v + 0.5 and 1 for v >= 0, sigmoid(v) and sigmoid'(v) below."""
    s = tf.sigmoid(v)
    positive = v >= 0
    return tf.where(positive, v + 0.5, s), tf.where(positive, tf.ones_like(s), s * (1.0 - s))


@_fused
def _min_gru_forward(k):
    """minGRU's a_t = 1 - z_t and b_t = z_t g(k_h) from k = [k_z | k_h], and (z (1 - z), g, z g') for the gradient."""
    k_z, k_h = tf.split(k, 2, axis=-1)
    z, keep = _sigmoid_pair(k_z)
    g, slope = _g_and_slope(k_h)
    return keep, z * g, (z * keep, g, z * slope)


@_fused
def _min_gru_derivative(lam, h_prev, z_keep, g, z_slope):
    """dL/dk_z = lambda z (1 - z) (g - h_(t-1)), dL/dk_h = lambda z g', with lambda = dL/dh_t in total."""
    return tf.concat([lam * z_keep * (g - h_prev), lam * z_slope], axis=-1)


@_fused
def _min_lstm_forward(k):
    """minLSTM's a_t = f'_t and b_t = i'_t g(k_h) from k = [k_f | k_i | k_h]: f' = f / (f + i) = sigmoid(d),
    i' = sigmoid(-d), d = log f - log i = softplus(-k_i) - softplus(-k_f) (log space: no 0 / 0 where both gates
    underflow); and what the gradient needs."""
    k_f, k_i, k_h = tf.split(k, 3, axis=-1)
    d = tf.nn.softplus(-k_i) - tf.nn.softplus(-k_f)
    forget, write = _sigmoid_pair(d)
    g, slope = _g_and_slope(k_h)
    return forget, write * g, (forget * write, g, write * slope, tf.sigmoid(-k_f), tf.sigmoid(-k_i))


@_fused
def _min_lstm_derivative(lam, h_prev, forget_write, g, write_slope, not_f, not_i):
    """dL/dd = lambda f' i' (h_(t-1) - g); dd/dk_f = 1 - f, dd/dk_i = -(1 - i); dL/dk_h = lambda i' g'."""
    dd = lam * forget_write * (h_prev - g)
    return tf.concat([dd * not_f, -dd * not_i, lam * write_slope], axis=-1)


def _min_gru_coefficients(k):
    return _min_gru_forward(k)[:2]


def _min_lstm_coefficients(k):
    return _min_lstm_forward(k)[:2]


_min_gru_scan = _gated_scan(_min_gru_forward, _min_gru_derivative)
_min_lstm_scan = _gated_scan(_min_lstm_forward, _min_lstm_derivative)


def check_scan_gate_bias(argument: str, value) -> None:
    """A constant gate bias of minGRU: a finite number (chrono would need the retention 1 - z, whose bias is
    minus this one; give the negative of the log-uniform draw yourself if you want it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument} must be a finite number (negative keeps more of the state), got {value!r}.")


def _log_g(v):
    """log g(v): g(v) = v + 0.5 for v >= 0, sigmoid(v) below (positive and continuous at 0)."""
    return tf.where(v >= 0, tf.math.log(tf.nn.relu(v) + 0.5), -tf.nn.softplus(-v))


def _g(v):
    return tf.where(v >= 0, v + 0.5, tf.sigmoid(v))


# ------------------------------------------------------------------------------------------- layers
class _ScanLayer(keras.layers.Layer):
    """What the three layers share: the two paths, return_sequences, go_backwards, tbptt, the config."""

    def __init__(self, units, return_sequences=False, go_backwards=False, scan="parallel", tbptt=None, **kwargs):
        super().__init__(**kwargs)
        if scan not in SCANS:
            raise ValueError(f"scan must be one of {', '.join(SCANS)}, got {scan!r}.")
        check_tbptt(tbptt)
        self.tbptt = tbptt
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        self.go_backwards = bool(go_backwards)
        self.return_state = False  # read by keras.layers.Bidirectional, as is:
        self.stateful = False
        self.scan = scan

    def call(self, inputs, initial_state=None, mask=None, training=None):
        if initial_state is not None or mask is not None:
            raise ValueError(f"{type(self).__name__} starts from a zero state and takes no mask; pass neither.")
        return self._run(inputs)

    def _run(self, inputs, delta=None):
        x = tf.reverse(inputs, axis=[1]) if self.go_backwards else inputs
        # Truncated BPTT: the steps where a window starts, counted in reading order (from the end for
        # go_backwards), so also for a length known only at run time. None: full BPTT.
        cuts = None if self.tbptt is None else window_starts(tf.shape(x)[1], self.tbptt)
        h = self.parallel(x, cuts) if self.scan == "parallel" else self.sequential(x, cuts)  # (batch, time, units)
        if delta is not None:
            # The recurrence is linear in h: adding delta_t to h_t (and carrying it on) adds the scan of
            # delta under the same factors a_t (its gradient cut at the same windows). Exact.
            d = tf.reverse(delta, axis=[1]) if self.go_backwards else delta
            h = h + linear_scan(self.coefficients(x)[0], self._state_from_real(tf.cast(d, tf.float32)), cuts)
        y = self.readout(h, x)
        return y if self.return_sequences else y[:, -1]

    # The state probe of `training.instruments` (gradient through time) reaches the per-step state of a
    # recurrent layer that is not a keras.layers.RNN through these two members.
    @property
    def state_width(self) -> int:
        """Width of the per-step state as real numbers: `units` (2 `units` for the LRU: [Re | Im])."""
        return self.units

    def call_with_state_delta(self, inputs, delta):
        """The output of `call(inputs)` with delta[:, t] (batch, time, `state_width`), indexed like `inputs`,
        added to the state right after the layer reads inputs[:, t]. At delta = 0 the output is call's, and
        d output / d delta_t = d output / d h_t: the gradient that reaches the state h_t."""
        return self._run(inputs, delta)

    def _state_from_real(self, d):
        return d

    def readout(self, h, x):
        return h

    def retention(self, x):
        """The per-step factor a_t on the state ((1 - z_t) for minGRU, f'_t for minLSTM): the theory of
        the gradient through time."""
        return self.coefficients(x)[0]

    def step(self, x_t, h):
        """One step of the sequential path: x_t (batch, features), h (batch, units) -> the next h."""
        a, b = self.coefficients(x_t[:, None])
        return a[:, 0] * h + b[:, 0]

    def sequential(self, x, cuts=None):
        """The reference: one step at a time (tf.scan over time); with `cuts` (truncated BPTT, boolean (time,))
        the state enters the first step of every window through stop_gradient, as in `zoo.tbptt`'s loops."""
        coefficients = self.coefficients(x)  # tensors (batch, time, ...) of the step's a_t and b_t
        initial = tf.zeros_like(coefficients[1][:, 0])
        if cuts is None:
            cuts = tf.zeros([tf.shape(x)[1]], tf.bool)

        def step(h, abc):
            a, b, cut = abc
            h = tf.where(cut, tf.stop_gradient(h), h)  # the same value; no gradient back across a boundary
            return a * h + b

        moved = [tf.transpose(c, [1, 0, 2]) for c in coefficients]
        states = tf.scan(step, (*moved, cuts), initializer=initial)
        return tf.transpose(states, [1, 0, 2])

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (input_shape[0], input_shape[1], self.units)
        return (input_shape[0], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "return_sequences": self.return_sequences,
                "go_backwards": self.go_backwards, "scan": self.scan, "tbptt": self.tbptt}


class _GatedScanLayer(_ScanLayer):
    """minGRU and minLSTM: one input kernel over the gate blocks and h~, and a bias whose initializer is an
    argument (the gate biases of the zoo's builders)."""

    def __init__(self, units, bias_initializer="zeros", **kwargs):
        super().__init__(units, **kwargs)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def get_config(self):
        return {**super().get_config(), "bias_initializer": keras.initializers.serialize(self.bias_initializer)}


@keras.saving.register_keras_serializable(package="zoo")
class MinGRU(_GatedScanLayer):
    """minGRU (Feng et al., 2024, Sec. 3.1): h_t = (1 - z_t) h_{t-1} + z_t g(x_t W_h + b_h),
    z_t = sigmoid(x_t W_z + b_z); trained by a parallel (blocked) scan.

    Args:
        units: size of the hidden state.
        return_sequences: every step's state (True) or the last one.
        go_backwards: read the sequence from its end.
        scan: "parallel" (blocked scan) or "sequential" (one step at a time; the same numbers).
        tbptt: truncated BPTT, the gradient of the state cut every `tbptt` steps from the first step read
            (the same outputs; `zoo.tbptt`); None: full BPTT.
        bias_initializer: of the bias [b_z | b_h] (zeros: z = 0.5 at a zero input).
    """

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 2 * self.units),
                                      initializer="glorot_uniform")  # [z | h~]
        self.bias = self.add_weight(name="bias", shape=(2 * self.units,), initializer=self.bias_initializer)

    def _pre(self, x):
        return tf.matmul(x, self.kernel) + self.bias  # (batch, time, 2 units): [k_z | k_h]

    def parallel(self, x, cuts=None):
        return _min_gru_scan(self._pre(x), cuts)

    def coefficients(self, x):
        return _min_gru_coefficients(self._pre(x))



@keras.saving.register_keras_serializable(package="zoo")
class MinLSTM(_GatedScanLayer):
    """minLSTM (Feng et al., 2024, Sec. 3.2): h_t = f'_t h_{t-1} + i'_t g(x_t W_h + b_h) with the forget
    and input gates sigmoid(x_t W_f + b_f), sigmoid(x_t W_i + b_i) normalised to f' + i' = 1.

    Args:
        units: size of the hidden state.
        return_sequences, go_backwards, scan, tbptt: as `MinGRU`.
        bias_initializer: of the bias [b_f | b_i | b_h] (zeros: f' = i' = 0.5 at a zero input).
    """

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], 3 * self.units),
                                      initializer="glorot_uniform")  # [f | i | h~]
        self.bias = self.add_weight(name="bias", shape=(3 * self.units,), initializer=self.bias_initializer)

    def _pre(self, x):
        return tf.matmul(x, self.kernel) + self.bias  # (batch, time, 3 units): [k_f | k_i | k_h]

    def parallel(self, x, cuts=None):
        return _min_lstm_scan(self._pre(x), cuts)

    def coefficients(self, x):
        return _min_lstm_coefficients(self._pre(x))



@keras.saving.register_keras_serializable(package="zoo")
class LRU(_ScanLayer):
    """Linear Recurrent Unit (Orvieto et al., 2023): x_t = lambda x_{t-1} + gamma (u_t B), y_t =
    Re(x_t C) + u_t D, lambda = exp(-exp(nu) + i exp(theta)) on a ring at initialisation.

    Args:
        units: size of the complex state and of the output.
        r_min, r_max: the ring |lambda| is drawn from (Sec. 3.3): 0.9 and 0.999 by default, the paper's
            choice for long-range tasks (memory of ~10 to ~1000 steps at initialisation).
        max_phase: the largest initial phase of lambda (pi / 10 by default, as the paper for long-range tasks).
        return_sequences, go_backwards, scan, tbptt: as `MinGRU`.
    """

    def __init__(self, units, r_min=0.9, r_max=0.999, max_phase=math.pi / 10, **kwargs):
        super().__init__(units, **kwargs)
        if not 0.0 <= r_min < r_max <= 1.0:
            raise ValueError(f"The LRU needs 0 <= r_min < r_max <= 1, got r_min={r_min}, r_max={r_max}.")
        self.r_min, self.r_max, self.max_phase = float(r_min), float(r_max), float(max_phase)

    def build(self, input_shape):
        features, n = input_shape[-1], self.units

        def ring(which):
            def initializer(shape, dtype=None):
                # |lambda|^2 uniform on [r_min^2, r_max^2] (Lemma 3.2), the phase uniform on [0, max_phase].
                u = keras.random.uniform(shape)
                if which == "nu":
                    radius_sq = tf.minimum(u * (self.r_max**2 - self.r_min**2) + self.r_min**2, 1.0 - 1e-6)
                    return tf.math.log(-0.5 * tf.math.log(tf.maximum(radius_sq, 1e-12)))
                return tf.math.log(tf.maximum(self.max_phase * u, 1e-12))
            return initializer

        self.nu_log = self.add_weight(name="nu_log", shape=(n,), initializer=ring("nu"))
        self.theta_log = self.add_weight(name="theta_log", shape=(n,), initializer=ring("theta"))
        normal_b = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(2 * features))
        normal_c = keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(n))
        self.b_re = self.add_weight(name="b_re", shape=(features, n), initializer=normal_b)
        self.b_im = self.add_weight(name="b_im", shape=(features, n), initializer=normal_b)
        self.c_re = self.add_weight(name="c_re", shape=(n, n), initializer=normal_c)
        self.c_im = self.add_weight(name="c_im", shape=(n, n), initializer=normal_c)
        self.d = self.add_weight(name="d", shape=(features, n), initializer="glorot_uniform")

    def eigenvalues(self):
        """lambda (complex, (units,)) at the current weights."""
        modulus = tf.exp(-tf.exp(self.nu_log))
        phase = tf.exp(self.theta_log)
        return tf.complex(modulus * tf.cos(phase), modulus * tf.sin(phase))

    def _drive(self, x):
        modulus = tf.exp(-tf.exp(self.nu_log))
        gamma = tf.sqrt(1.0 - modulus**2)  # the normalisation: a unit input keeps the state's scale
        b = tf.complex(tf.matmul(x, self.b_re), tf.matmul(x, self.b_im))
        return b * tf.complex(gamma, tf.zeros_like(gamma))  # real gamma, as a complex factor

    def parallel(self, x, cuts=None):
        return linear_scan(self.eigenvalues(), self._drive(x), cuts)

    def coefficients(self, x):
        drive = self._drive(x)
        return tf.broadcast_to(self.eigenvalues(), tf.shape(drive)), drive

    def readout(self, h, x):
        return tf.matmul(tf.math.real(h), self.c_re) - tf.matmul(tf.math.imag(h), self.c_im) + tf.matmul(x, self.d)

    def retention(self, x):
        return tf.abs(self.coefficients(x)[0])

    @property
    def state_width(self) -> int:
        return 2 * self.units

    def _state_from_real(self, d):
        return tf.complex(d[..., : self.units], d[..., self.units:])

    def step(self, x_t, state):
        """One step on the state as real numbers, (batch, 2 units) = [Re x | Im x] (for `zoo.dynamics`)."""
        n = self.units
        h = tf.complex(state[:, :n], state[:, n:])
        new = self.eigenvalues() * h + self._drive(x_t)
        return tf.concat([tf.math.real(new), tf.math.imag(new)], axis=-1)

    def get_config(self):
        return {**super().get_config(), "r_min": self.r_min, "r_max": self.r_max, "max_phase": self.max_phase}


# ------------------------------------------------------------------------------- the Jacobian theory
# zoo.dynamics differentiates one step of the first recurrent layer of a model: for minGRU/minLSTM the
# Jacobian is diag(1 - z_t) (diag(f'_t)), for the LRU the rotation-scaling by lambda (|lambda| per step).
# Their Jacobians are diagonal (a rotation-scaling per unit for the LRU), so each also declares its
# retention |a_t|, from which the theory is read exactly (zoo.dynamics.retention_theory).
@register_step(MinGRU)
@register_step(MinLSTM)
@register_step(LRU)
def _scan_step(layer):
    return RecurrentStep(state_sizes=(layer.state_width,), step=lambda x_t, states: [layer.step(x_t, states[0])],
                         retention=layer.retention)
