"""GRU (Cho et al., 2014; compared with LSTM by Chung et al., 2014).

h_t = z_t * h_{t-1} + (1 - z_t) * h~_t: the update gate z_t interpolates between keeping the old state and
writing a new one, so like the LSTM's forget gate it lets the gradient pass many steps almost unchanged
while z_t stays near 1. Keras starts all GRU biases at 0, i.e. z = 0.5 and memory halving every step; a
positive update-gate bias (or chrono, Tallec & Ollivier, 2018) starts with longer memory.
"""

from zoo import bptt, initializers
from zoo.common import recurrent_stack
from zoo.registry import CommonArgs, GateBias, reads_backwards, register_model


@register_model(
    "gru",
    display="GRU",
    family="recurrent",
    gate_bias=GateBias(argument="update_bias", gate="update", default=0.0, words="update-gate bias"),
    default_bias_words="biases 0",
    recurrent_kernel_words="orthogonal",
    sees_future=reads_backwards,
    initialization="Keras defaults: one orthogonal (units, 3 units) recurrent matrix across the 3 gates (each gate "
                   "block then has spectral radius about 0.58), all biases 0 (update gate 0.5)",
)
def gru(
    common: CommonArgs,
    /,
    *,
    recurrent_initializer=None,
    recurrent_gain=1.0,
    update_bias=0.0,
    chrono_max_length=None,
    bidirectional=False,
    implementation="auto",
):
    """GRU (Cho et al., 2014): a gated cell with an update gate that interpolates old and new state.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            hidden state.
        recurrent_initializer: None (Keras's: one orthogonal matrix over the 3 gates) or a name from
            `zoo.initializers.RECURRENT_INITIALIZERS`, applied per gate.
        recurrent_gain: scales the initial recurrent matrix.
        update_bias: bias of the update gate z (Keras's default 0: z = 0.5); positive values keep more of
            the old state at the start, "chrono" draws it as log U(1, T_max - 1).
        chrono_max_length: T_max for chrono; defaults to `sequence_length`.
        bidirectional: also run the GRU backwards over the sequence and concatenate the two states
            (Schuster & Paliwal, 1997; registered as `bidirectional_gru`): every step then sees its whole
            context, so the model refuses next-token tasks (it would read the answer); `units` is each
            direction's size.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
    """
    GRU = bptt.layer_class("GRU", implementation)  # keras.layers.GRU or zoo.bptt.GRU
    kernel = initializers.recurrent_initializer(recurrent_initializer, recurrent_gain, gates=3)
    t_max = chrono_max_length or common.sequence_length
    initializers.check_gate_bias("update_bias", update_bias, t_max)
    if update_bias == 0.0:
        bias = {}  # Keras's own default (all biases 0), kept exactly
    else:  # gates [update, reset, new]: set the update gate's
        bias = {
            "bias_initializer": initializers.GateBias(gates=3, gate=0, value=update_bias, chrono_max_length=t_max)
        }

    def layer(return_sequences, name):
        return GRU(common.units, recurrent_initializer=kernel, return_sequences=return_sequences, name=name, **bias)

    return recurrent_stack(common, layer, layer_name="gru", bidirectional=bidirectional,
                           model_name="bidirectional_gru" if bidirectional else "gru")
