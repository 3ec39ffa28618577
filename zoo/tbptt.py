"""Truncated backpropagation through time (Williams & Peng, 1990): the recurrent layers of the zoo with
the gradient of their state cut every `tbptt` steps.

Full BPTT carries dL/dh_t back through every step of the sequence. TBPTT(K, K) runs the same forward
pass, window by window, and hands the state from one window to the next as a value without its
gradient (PyTorch's word_language_model does this with `repackage_hidden`, between batches):

    steps      1 ........ K | K+1 ...... 2K | 2K+1 .... T       (windows start at steps 1, K+1, 2K+1, ...)
    forward    h ---------> h ------------> h ---------->       the state crosses every boundary
    backward   <---------   x <-----------  x <---------        stop_gradient at every boundary

The outputs and states are those of the untruncated layer, exactly (the same loop runs, only in
pieces); the loss read at step t reaches back to the first step of its own window and no further:
lags 0 .. K-1 at most. A window boundary falls every K steps counted from the first step the layer
reads (from the last step for `go_backwards`, so the backward half of a Bidirectional layer cuts its
own reading order); the last window of a sequence whose length is not a multiple of K is shorter.
The gradient still reaches the layer's `initial_state` from the first window. The windows need the
sequence length when the layer is traced; a call with `training=False` on a length unknown until run
time (generation's function for any context length) runs the loop whole, which gives the same values.

Each class here is the Keras or `zoo.bptt` layer of the same name with its `inner_loop` (the hook every
`keras.layers.RNN` runs its recurrence through) called once per window; weights, configs, cuDNN or the
written-out loops stay theirs. `truncated(layer, tbptt)` gives the truncating twin of an unbuilt layer;
`zoo.build_model(..., tbptt=K)` builds any recurrent model of the zoo with it.

The parallel-scan cells of `zoo.scan` (MinGRU, MinLSTM, LRU) are truncated too, with the same windows,
and take `tbptt` themselves (no twin class: they are the zoo's own layers). Their recurrence
h_t = a_t h_{t-1} + b_t is linear, so "the scan run window by window, each window from stop_gradient of
the last one's final state" has the same values as the one scan over the whole sequence, and a gradient
that differs from full BPTT's in one place only: the backward scan lambda_t = g_t + a_{t+1} lambda_{t+1}
drops the term a_{t+1} lambda_{t+1} where step t + 1 starts a window. That is how they run it: the
forward scan is the untruncated one (identical outputs, no extra cost), and the backward scan, still
parallel over the whole sequence, reads a_t set to 0 at the window starts (`window_starts`, counted in
the graph, so any length works, also one known only at run time). dL/da_t and dL/db_t keep the true
h_{t-1}, as they do behind a stop_gradient.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops, tree

from zoo import bptt


def check_tbptt(tbptt, sequence_length=None) -> None:
    """A positive integer (or None: full BPTT), smaller than `sequence_length` when that is known."""
    if tbptt is None:
        return
    if isinstance(tbptt, bool) or not isinstance(tbptt, int) or tbptt < 1:
        raise ValueError(
            f"tbptt must be a positive integer (the steps between gradient cuts) or left out, got {tbptt!r}."
        )
    if sequence_length is not None and tbptt >= sequence_length:
        raise ValueError(
            f"tbptt={tbptt} must be smaller than the sequence length {sequence_length}: with windows that long "
            f"nothing is cut; choose tbptt below {sequence_length}, or leave it out for full BPTT."
        )


def windows(length: int, tbptt: int, backwards: bool = False) -> list[tuple[int, int]]:
    """The windows (start, end) of steps 0 .. length-1 in the order the layer reads them: cut every
    `tbptt` steps from the first step read (the last one when `backwards`)."""
    cuts = list(range(0, length, tbptt))
    forward = [(start, min(start + tbptt, length)) for start in cuts]
    if not backwards:
        return forward
    return [(length - end, length - start) for start, end in forward]


def window_starts(length, tbptt: int):
    """A boolean tensor (length,), True at the steps of the reading order where a window starts: 0, tbptt,
    2 tbptt, ... (the first step of each of `windows(length, tbptt)`, counted in the order the layer reads).
    `length` may be a tensor known only at run time."""
    return tf.equal(tf.range(length) % tbptt, 0)


class Truncated:
    """Mixin for a `keras.layers.RNN` subclass: its recurrence runs window by window, the state handed on
    with `stop_gradient`.

    Args:
        tbptt: steps between gradient cuts (a positive integer); None runs the layer unchanged.
    """

    def __init__(self, *args, tbptt=None, **kwargs):
        super().__init__(*args, **kwargs)
        check_tbptt(tbptt)
        self.tbptt = tbptt

    def rnn_over(self, cell, **options):
        """A `keras.layers.RNN` over `cell` whose gradient is cut where this layer cuts it: the through-time
        instrument re-runs a layer's cell through the layer's `rnn_over` when it declares one, so that its
        profile shows the gradient training uses."""
        return TruncatedRNN(cell, tbptt=self.tbptt, **options)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        length = sequences.shape[1]
        if self.tbptt is None or (length is not None and length <= self.tbptt):
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if length is None and not training:
            # Inference traced for any length (generation calls the model on growing contexts): the values
            # are the same whole or in windows, and training never differentiates this graph.
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if length is None:
            raise ValueError(
                f"{self.name}: truncated BPTT cuts the sequence into windows of {self.tbptt} steps and needs its "
                "length when the model is traced; give the input a fixed length (keras.Input(shape=(T, ...)) or "
                "batches of one length)."
            )
        if tree.is_nested(mask):
            mask = mask[0]
        states = list(initial_state) if tree.is_nested(initial_state) else [initial_state]
        pieces = []
        for number, (start, end) in enumerate(windows(length, self.tbptt, self.go_backwards)):
            if number:  # the state enters the next window as a value: its gradient stops here
                states = [ops.stop_gradient(s) for s in states]
            window_mask = None if mask is None else mask[:, start:end]
            last, outputs, states = super().inner_loop(sequences[:, start:end], states, window_mask,
                                                       training=training)
            states = list(states) if tree.is_nested(states) else [states]
            pieces.append(outputs)  # (batch, window, units) in reading order, or (batch, 1, units)
        outputs = ops.concatenate(pieces, axis=1) if self.return_sequences else pieces[-1]
        return last, outputs, states

    def get_config(self):
        return {**super().get_config(), "tbptt": self.tbptt}


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedSimpleRNN(Truncated, keras.layers.SimpleRNN):
    """`keras.layers.SimpleRNN` with its gradient through time cut every `tbptt` steps."""


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedLSTM(Truncated, keras.layers.LSTM):
    """`keras.layers.LSTM` with its gradient through time cut every `tbptt` steps (h and c both)."""


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedGRU(Truncated, keras.layers.GRU):
    """`keras.layers.GRU` with its gradient through time cut every `tbptt` steps."""


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedWrittenOutSimpleRNN(Truncated, bptt.SimpleRNN):
    """`zoo.bptt.SimpleRNN` (written-out BPTT) with its gradient through time cut every `tbptt` steps."""


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedWrittenOutLSTM(Truncated, bptt.LSTM):
    """`zoo.bptt.LSTM` (written-out BPTT) with its gradient through time cut every `tbptt` steps."""


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedWrittenOutGRU(Truncated, bptt.GRU):
    """`zoo.bptt.GRU` (written-out BPTT) with its gradient through time cut every `tbptt` steps."""


@keras.saving.register_keras_serializable(package="zoo")
class TruncatedRNN(Truncated, keras.layers.RNN):
    """`keras.layers.RNN` over any cell with its gradient through time cut every `tbptt` steps (the
    through-time instrument re-runs a truncated layer's cell with it)."""


TRUNCATED = {
    keras.layers.SimpleRNN: TruncatedSimpleRNN,
    keras.layers.LSTM: TruncatedLSTM,
    keras.layers.GRU: TruncatedGRU,
    bptt.SimpleRNN: TruncatedWrittenOutSimpleRNN,
    bptt.LSTM: TruncatedWrittenOutLSTM,
    bptt.GRU: TruncatedWrittenOutGRU,
    keras.layers.RNN: TruncatedRNN,
}


def truncated(layer, tbptt: int):
    """The truncating twin of an unbuilt recurrent `layer`: the same config, and its gradient through time
    cut every `tbptt` steps. A layer that is truncated already, or takes `tbptt` itself (zoo.scan's
    layers), is re-created with the new `tbptt`.

    Raises:
        ValueError: a layer without a truncated version here, or one already built (its weights would
            not come along).
    """
    check_tbptt(tbptt)
    # A truncating twin, or a layer that takes tbptt itself (zoo.scan's MinGRU, MinLSTM and LRU).
    takes_tbptt = isinstance(layer, Truncated) or "tbptt" in layer.get_config()
    cls = type(layer) if takes_tbptt else TRUNCATED.get(type(layer))
    if cls is None:
        raise ValueError(
            f"{type(layer).__name__} has no truncated-BPTT version (zoo.tbptt truncates keras.layers.SimpleRNN, "
            "LSTM, GRU and RNN, zoo.bptt.SimpleRNN, LSTM and GRU, and zoo.scan's MinGRU, MinLSTM and LRU); leave "
            "tbptt out for this model."
        )
    if layer.built:
        raise ValueError(f"truncated() re-creates {layer.name} from its config, so give it before the layer is built.")
    return cls.from_config({**layer.get_config(), "tbptt": tbptt})
