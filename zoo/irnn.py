"""IRNN (Le, Jaitly & Hinton, 2015): a SimpleRNN with ReLU units whose recurrent matrix starts as the
identity and whose biases start at zero.

At initialisation every hidden unit copies itself forward, so the gradient through time neither
vanishes nor explodes at first: "use ReLU and initialize the weights properly". The price is that ReLU is
unbounded: a recurrent gain above 1 makes activations and gradients grow without limit, which is where
gradient clipping earns its keep.
"""

from zoo import bptt
from zoo.common import recurrent_stack
from zoo.initializers import recurrent_initializer as make_recurrent_initializer
from zoo.registry import CommonArgs, register_model


@register_model(
    "irnn",
    display="IRNN",
    family="recurrent",
    default_bias_words="zero bias",
    recurrent_kernel_words="identity",
    initialization="IRNN: identity recurrent kernel, zero bias (Le et al., 2015)",
)
def irnn(common: CommonArgs, /, *, recurrent_initializer="identity", recurrent_gain=1.0, implementation="auto"):
    """IRNN (Le, Jaitly & Hinton, 2015): ReLU SimpleRNN with identity recurrent initialization.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`); `units` is the size of the
            hidden state; `sequence_length` is unused.
        recurrent_initializer: "identity" (the IRNN's, also for None; the input kernel keeps Keras's glorot-uniform and the
            bias Keras's zeros), or any other of `zoo.initializers.RECURRENT_INITIALIZERS`.
        recurrent_gain: scales the initial recurrent matrix; with ReLU a gain > 1 explodes quickly.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
    """
    SimpleRNN = bptt.layer_class("SimpleRNN", implementation)  # keras.layers.SimpleRNN or zoo.bptt.SimpleRNN
    kernel = make_recurrent_initializer(recurrent_initializer or "identity", recurrent_gain, gates=1)

    def layer(return_sequences, name):
        return SimpleRNN(common.units, activation="relu", recurrent_initializer=kernel,
                         return_sequences=return_sequences, name=name)

    return recurrent_stack(common, layer, layer_name="simple_rnn", model_name="irnn")
