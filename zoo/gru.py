"""GRU (Cho et al., 2014; compared with LSTM by Chung et al., 2014).

h_t = z_t * h_{t-1} + (1 - z_t) * h~_t: the update gate z_t interpolates between keeping the old state and
writing a new one, so like the LSTM's forget gate it lets the gradient pass many steps almost unchanged
while z_t stays near 1. Keras starts all GRU biases at 0, i.e. z = 0.5 and memory halving every step; a
positive update-gate bias (or chrono, Tallec & Ollivier, 2018) starts with longer memory.
"""

from zoo import bptt
from zoo.common import gated_stack
from zoo.registry import PER_STEP, reads_backwards, register_model


def build_gru(*, bidirectional, model_name, implementation="auto", **kwargs):
    """Shared by `gru` and `bidirectional_gru` (one builder): gates [update, reset, new]."""
    return gated_stack(
        layer_cls=bptt.layer_class("GRU", implementation),  # keras.layers.GRU or zoo.bptt.GRU
        layer_name="gru",
        gates=3,
        gate=0,
        bias_argument="update_bias",
        keras_bias=0.0,
        bidirectional=bidirectional,
        model_name=model_name,
        **kwargs,
    )


@register_model(
    "gru",
    sees_future=reads_backwards,
    initialization="Keras defaults: one orthogonal (units, 3 units) recurrent matrix across the 3 gates (each gate "
                   "block then has spectral radius about 0.58), all biases 0 (update gate 0.5)",
)
def gru(
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
    update_bias=0.0,
    chrono_max_length=None,
    bidirectional=False,
    implementation="auto",
):
    """GRU (Cho et al., 2014): a gated cell with an update gate that interpolates old and new state.

    Args:
        vocabulary_size: number of token ids.
        output: "per_step", "last_class" or "last_value".
        num_classes: logits per prediction; defaults to `vocabulary_size` (1 for "last_value").
        causal: the task is next-token prediction (a GRU is causal, so this changes nothing).
        sequence_length: the task's sequence length; T_max for chrono when `chrono_max_length` is not given.
        units: size of the hidden state.
        num_layers: stacked recurrent layers.
        dropout: dropout rate between layers.
        embedding_dim: size of the token embedding; defaults to `units`.
        recurrent_initializer: None (Keras's: one orthogonal matrix over the 3 gates) or a name from
            `zoo.initializers.RECURRENT_INITIALIZERS`, applied per gate.
        recurrent_gain: scales the initial recurrent matrix.
        update_bias: bias of the update gate z (Keras's default 0: z = 0.5); positive values keep more of
            the old state at the start, "chrono" draws it as log U(1, T_max - 1).
        chrono_max_length: T_max for chrono; defaults to `sequence_length`.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
        bidirectional: also run the GRU backwards over the sequence and concatenate the two states
            (Schuster & Paliwal, 1997; registered as `bidirectional_gru`): every step then sees its whole context, so the
            model refuses next-token tasks (it would read the answer); `units` is each direction's size.
    """
    return build_gru(model_name="bidirectional_gru" if bidirectional else "gru", **locals())
