"""minLSTM (Feng et al., 2024, "Were RNNs All We Needed?", Sec. 3.2): the LSTM with the hidden state taken
out of its gates and the forget and input gates normalised to sum to one,

    f_t = sigmoid(x_t W_f + b_f),  i_t = sigmoid(x_t W_i + b_i),  f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)
    h_t = f'_t * h_{t-1} + i'_t * g(x_t W_h + b_h)

(no cell state apart from h, no output gate, g as in minGRU). Like minGRU it is a linear recurrence in h
trained by a log-space parallel scan; the gradient through time is multiplied by f'_t at each step.
"""

from zoo.common import recurrent_stack
from zoo.initializers import GateBias as GateBiasInitializer
from zoo.initializers import check_gate_bias
from zoo.registry import CommonArgs, GateBias, reads_backwards, register_model, sigmoid
from zoo.scan import MinLSTM


def retention(forget_bias: float) -> float:
    """The state a step keeps at a zero input: f' = f / (f + i), f = sigmoid(forget_bias), the input gate i at
    sigmoid(0) (a constant forget bias leaves the input gate's at 0; chrono sets it to minus the forget bias)."""
    f = sigmoid(forget_bias)
    return f / (f + sigmoid(0.0))


@register_model(
    "min_lstm",
    display="minLSTM",
    family="recurrent",
    gate_bias=GateBias(argument="forget_bias", gate="forget", default=0.0, words="forget-gate bias",
                       keeps="f / (f + i): the forget gate f normalised by the input gate i = sigma(0) = 0.5",
                       retention=retention),
    default_bias_words="biases 0 (normalised forget gate f' = 0.5)",
    recurrent_kernel_words="none (the gates read the input only)",
    sees_future=reads_backwards,
    initialization="glorot-uniform input kernel over [f | i | h~], biases 0 (f' = i' = 0.5 at a zero input); no "
                   "recurrent kernel",
)
def min_lstm(common: CommonArgs, /, *, forget_bias=0.0, chrono_max_length=None, scan="parallel", bidirectional=False):
    """minLSTM (Feng et al., 2024): an LSTM whose gates read only the input, trained by a parallel scan.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            hidden state.
        forget_bias: bias of the forget gate f before the normalisation: 0 gives f' = 0.5 at a zero input;
            positive values keep more of the state; "chrono" draws it as log U(1, T_max - 1) and sets the
            input-gate bias to its negative, so that f' = sigmoid(b_f) exactly as chrono initialization
            (Tallec & Ollivier, 2018) sets an LSTM's forget gate.
        chrono_max_length: T_max for chrono; defaults to `sequence_length`.
        scan: "parallel" (the log-space scan: training) or "sequential" (one step at a time: the reference,
            and how generation runs). Both compute the same numbers.
        bidirectional: also run it backwards and concatenate the two states (registered as
            `bidirectional_min_lstm`): every step sees its whole context, so the model refuses next-token
            tasks (it would read the answer); `units` is each direction's size.
    """
    t_max = chrono_max_length or common.sequence_length
    check_gate_bias("forget_bias", forget_bias, t_max)
    value = forget_bias if forget_bias == "chrono" else float(forget_bias)
    bias = GateBiasInitializer(gates=3, gate=0, value=value, chrono_max_length=t_max, negate_gate=1)  # [f | i | h~]

    def layer(return_sequences, name):
        return MinLSTM(common.units, bias_initializer=bias, scan=scan, return_sequences=return_sequences, name=name)

    return recurrent_stack(common, layer, layer_name="min_lstm", bidirectional=bidirectional,
                           model_name="bidirectional_min_lstm" if bidirectional else "min_lstm")
