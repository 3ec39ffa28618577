"""LSTM (Hochreiter & Schmidhuber, 1997; forget gate: Gers, Schmidhuber & Cummins, 2000).

The cell state c_t = f_t * c_{t-1} + i_t * g_t is updated additively, so the gradient along it is
multiplied by the forget gate f_t at each step instead of by a full Jacobian: while f_t stays near 1 the
gradient flows across long gaps (the "constant error carousel"). How near 1 it starts is set by the
forget-gate bias: Keras uses 1 (sigma(1) = 0.73, so the gradient along c decays ~0.73 per step at
initialisation); larger values or chrono initialization (Tallec & Ollivier, 2018) start with longer memory.
"""

from zoo import bptt
from zoo.common import gated_stack
from zoo.registry import PER_STEP, reads_backwards, register_model


def build_lstm(*, bidirectional, model_name, implementation="auto", **kwargs):
    """Shared by `lstm` and `bidirectional_lstm` (one builder): gates [input, forget, cell, output]."""
    return gated_stack(
        layer_cls=bptt.layer_class("LSTM", implementation),  # keras.layers.LSTM or zoo.bptt.LSTM
        layer_name="lstm",
        gates=4,
        gate=1,
        bias_argument="forget_bias",
        keras_bias=1.0,
        keras_bias_kwargs={"unit_forget_bias": True},  # Keras's own default, kept exactly
        custom_bias_kwargs={"unit_forget_bias": False},
        negate_gate=0,
        bidirectional=bidirectional,
        model_name=model_name,
        **kwargs,
    )


@register_model(
    "lstm",
    sees_future=reads_backwards,
    initialization="Keras defaults: one orthogonal (units, 4 units) recurrent matrix across the 4 gates (each gate "
                   "block then has spectral radius about 0.5), forget-gate bias 1",
)
def lstm(
    *,
    vocabulary_size,
    output=PER_STEP,
    num_classes=None,
    causal=False,
    sequence_length=None,
    units=128,
    num_layers=1,
    dropout=0.0,
    embedding_dim=None,
    recurrent_initializer=None,
    recurrent_gain=1.0,
    forget_bias=1.0,
    chrono_max_length=None,
    bidirectional=False,
    implementation="auto",
):
    """LSTM (Hochreiter & Schmidhuber, 1997): gated memory cells that carry the gradient across long gaps.

    Args:
        vocabulary_size: number of token ids.
        output: "per_step", "last_class" or "last_value".
        num_classes: logits per prediction; defaults to `vocabulary_size` (1 for "last_value").
        causal: the task is next-token prediction (an LSTM is causal, so this changes nothing).
        sequence_length: the task's sequence length; T_max for chrono when `chrono_max_length` is not given.
        units: size of the hidden and cell state.
        num_layers: stacked recurrent layers.
        dropout: dropout rate between layers.
        embedding_dim: size of the token embedding; defaults to `units`.
        recurrent_initializer: None (Keras's: one orthogonal matrix over the 4 gates) or a name from
            `zoo.initializers.RECURRENT_INITIALIZERS`, applied per gate.
        recurrent_gain: scales the initial recurrent matrix.
        forget_bias: the forget-gate bias: 1.0 (Keras's default, memory ~ 1 / (1 - 0.73) steps at the
            start), a larger number for longer initial memory, or "chrono" (log U(1, T_max - 1), input-gate
            bias set to its negative).
        chrono_max_length: T_max for chrono; defaults to `sequence_length`.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
        bidirectional: also run the LSTM backwards over the sequence and concatenate the two states
            (Graves & Schmidhuber, 2005; registered as `bidirectional_lstm`): every step then sees its whole context, so the
            model refuses next-token tasks (it would read the answer); `units` is each direction's size.
    """
    return build_lstm(model_name="bidirectional_lstm" if bidirectional else "lstm", **locals())
