"""SimpleRNN (Elman, 1990): h_t = tanh(W x_t + U h_{t-1} + b).

The plain recurrent network trained by backpropagation through time (Werbos, 1990). Its gradient
through time is a product of Jacobians diag(1 - h_t^2) U, so it vanishes or explodes geometrically with
the lag unless U is initialised near an orthogonal matrix (Bengio, Simard & Frasconi, 1994; Pascanu,
Mikolov & Bengio, 2013). Keras initialises U orthogonal, which makes it start almost flat through time;
`recurrent_initializer="glorot_uniform"` gives the classic setting in which it forgets quickly.
"""

from zoo import bptt
from zoo.common import recurrent_stack
from zoo.initializers import recurrent_initializer as make_recurrent_initializer
from zoo.registry import CommonArgs, reads_backwards, register_model


@register_model(
    "simple_rnn",
    display="tanh RNN",
    family="recurrent",
    default_bias_words="zero bias",
    recurrent_kernel_words="orthogonal",
    sees_future=reads_backwards,
    initialization="Keras defaults: orthogonal recurrent kernel, glorot-uniform input kernel, zero bias",
)
def simple_rnn(common: CommonArgs, /, *, recurrent_initializer=None, recurrent_gain=1.0, bidirectional=False,
               implementation="auto"):
    """SimpleRNN with tanh (Elman, 1990): the network whose gradients vanish and explode.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            hidden state; `sequence_length` is unused.
        recurrent_initializer: None (Keras's orthogonal), "orthogonal", "identity", "glorot_uniform" or
            "normal". Orthogonal keeps the initial gradient nearly flat through time; glorot-uniform is the
            classic setting in which it decays.
        recurrent_gain: scales the initial recurrent matrix: < 1 provokes vanishing, > 1 exploding gradients.
        bidirectional: also run the SimpleRNN backwards over the sequence and concatenate the two states
            (Schuster & Paliwal, 1997; registered as `bidirectional_simple_rnn`): every step then sees its
            whole context, so the model refuses next-token tasks (it would read the answer); `units` is each
            direction's size.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
    """
    SimpleRNN = bptt.layer_class("SimpleRNN", implementation)  # keras.layers.SimpleRNN or zoo.bptt.SimpleRNN
    kernel = make_recurrent_initializer(recurrent_initializer, recurrent_gain, gates=1)

    def layer(return_sequences, name):
        return SimpleRNN(common.units, activation="tanh", recurrent_initializer=kernel,
                         return_sequences=return_sequences, name=name)

    return recurrent_stack(common, layer, layer_name="simple_rnn", bidirectional=bidirectional,
                           model_name="bidirectional_simple_rnn" if bidirectional else "simple_rnn")
