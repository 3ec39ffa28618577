"""LSTM (Hochreiter & Schmidhuber, 1997; forget gate: Gers, Schmidhuber & Cummins, 2000).

The cell state c_t = f_t * c_{t-1} + i_t * g_t is updated additively, so the gradient along it is
multiplied by the forget gate f_t at each step instead of by a full Jacobian: while f_t stays near 1 the
gradient flows across long gaps (the "constant error carousel"). How near 1 it starts is set by the
forget-gate bias: Keras uses 1 (sigma(1) = 0.73, so the gradient along c decays ~0.73 per step at
initialisation); larger values or chrono initialization (Tallec & Ollivier, 2018) start with longer memory.
"""

from zoo import bptt, initializers
from zoo.common import recurrent_stack
from zoo.registry import CommonArgs, GateBias, reads_backwards, register_model


@register_model(
    "lstm",
    display="LSTM",
    family="recurrent",
    gate_bias=GateBias(argument="forget_bias", gate="forget", default=1.0, words="forget-gate bias"),
    default_bias_words="forget-gate bias 1",
    recurrent_kernel_words="orthogonal",
    sees_future=reads_backwards,
    initialization="Keras defaults: one orthogonal (units, 4 units) recurrent matrix across the 4 gates (each gate "
                   "block then has spectral radius about 0.5), forget-gate bias 1",
)
def lstm(
    common: CommonArgs,
    /,
    *,
    recurrent_initializer=None,
    recurrent_gain=1.0,
    forget_bias=1.0,
    chrono_max_length=None,
    bidirectional=False,
    implementation="auto",
):
    """LSTM (Hochreiter & Schmidhuber, 1997): gated memory cells that carry the gradient across long gaps.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            hidden and the cell state.
        recurrent_initializer: None (Keras's: one orthogonal matrix over the 4 gates) or a name from
            `zoo.initializers.RECURRENT_INITIALIZERS`, applied per gate.
        recurrent_gain: scales the initial recurrent matrix.
        forget_bias: the forget-gate bias: 1.0 (Keras's default, memory ~ 1 / (1 - 0.73) steps at the
            start), a larger number for longer initial memory, or "chrono" (log U(1, T_max - 1), input-gate
            bias set to its negative).
        chrono_max_length: T_max for chrono; defaults to `sequence_length`.
        bidirectional: also run the LSTM backwards over the sequence and concatenate the two states
            (Graves & Schmidhuber, 2005; registered as `bidirectional_lstm`): every step then sees its whole
            context, so the model refuses next-token tasks (it would read the answer); `units` is each
            direction's size.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
    """
    LSTM = bptt.layer_class("LSTM", implementation)  # keras.layers.LSTM or zoo.bptt.LSTM
    kernel = initializers.recurrent_initializer(recurrent_initializer, recurrent_gain, gates=4)
    t_max = chrono_max_length or common.sequence_length
    initializers.check_gate_bias("forget_bias", forget_bias, t_max)
    if forget_bias == 1.0:
        bias = {"unit_forget_bias": True}  # Keras's own default, kept exactly
    else:  # gates [input, forget, cell, output]: set the forget gate's (chrono: the input gate's to minus it)
        bias = {
            "unit_forget_bias": False,
            "bias_initializer": initializers.GateBias(
                gates=4, gate=1, value=forget_bias, chrono_max_length=t_max, negate_gate=0
            ),
        }

    def layer(return_sequences, name):
        return LSTM(common.units, recurrent_initializer=kernel, return_sequences=return_sequences, name=name, **bias)

    return recurrent_stack(common, layer, layer_name="lstm", bidirectional=bidirectional,
                           model_name="bidirectional_lstm" if bidirectional else "lstm")
