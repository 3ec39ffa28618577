"""minGRU (Feng et al., 2024, "Were RNNs All We Needed?", Sec. 3.1): the GRU with the hidden state taken
out of its gates,

    z_t = sigmoid(x_t W_z + b_z),   h~_t = g(x_t W_h + b_h),   h_t = (1 - z_t) * h_{t-1} + z_t * h~_t

(g(v) = v + 0.5 for v >= 0, sigmoid(v) below; no tanh). The state enters linearly, with coefficients that
depend on the input only, so the whole sequence is a prefix scan: trained in O(log T) parallel depth
(in log space, Sec. 3.1.2 and Appendix B), generated one step at a time. The gradient through time is
multiplied by the retention (1 - z_t) at each step and by nothing else: no recurrent matrix, no tanh'.
Note the paper's z writes (Keras's GRU gate keeps): a negative `update_bias` keeps more of the old state.
"""

from zoo.common import recurrent_stack
from zoo.initializers import GateBias as GateBiasInitializer
from zoo.registry import CommonArgs, GateBias, reads_backwards, register_model, sigmoid
from zoo.scan import MinGRU, check_scan_gate_bias


def retention(update_bias: float) -> float:
    """The state a step keeps at a zero input: 1 - z = 1 - sigmoid(update_bias) (z writes the candidate)."""
    return 1.0 - sigmoid(update_bias)


@register_model(
    "min_gru",
    display="minGRU",
    family="recurrent",
    gate_bias=GateBias(argument="update_bias", gate="update", default=0.0, words="update-gate bias",
                       keeps="1 - z: its update gate z writes the new candidate", retention=retention),
    default_bias_words="biases 0 (update gate z = 0.5, retention 1 - z = 0.5)",
    recurrent_kernel_words="none (the gates read the input only)",
    sees_future=reads_backwards,
    initialization="glorot-uniform input kernel over [z | h~], biases 0 (z = 0.5 at a zero input); no recurrent "
                   "kernel",
)
def min_gru(common: CommonArgs, /, *, update_bias=0.0, scan="parallel", bidirectional=False):
    """minGRU (Feng et al., 2024): a GRU whose gates read only the input, trained by a parallel scan.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            hidden state.
        update_bias: bias of the update gate z, which *writes* the new candidate (the paper's convention,
            the opposite of Keras's GRU): 0 gives z = 0.5 at a zero input, i.e. the state halves every step;
            a negative value keeps more of it (retention 1 - z = sigmoid(-update_bias)).
        scan: "parallel" (the log-space scan of Sec. 3.1.2: training) or "sequential" (one step at a time:
            the reference, and how generation runs). Both compute the same numbers.
        bidirectional: also run it backwards and concatenate the two states (registered as
            `bidirectional_min_gru`): every step sees its whole context, so the model refuses next-token
            tasks (it would read the answer); `units` is each direction's size.
    """
    check_scan_gate_bias("update_bias", update_bias)
    bias = GateBiasInitializer(gates=2, gate=0, value=float(update_bias))  # blocks [z | h~]

    def layer(return_sequences, name):
        return MinGRU(common.units, bias_initializer=bias, scan=scan, return_sequences=return_sequences, name=name)

    return recurrent_stack(common, layer, layer_name="min_gru", bidirectional=bidirectional,
                           model_name="bidirectional_min_gru" if bidirectional else "min_gru")
