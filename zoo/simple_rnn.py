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
from zoo.registry import PER_STEP, reads_backwards, register_model


def build_simple_rnn(*, activation, default_initializer, bidirectional, model_name, implementation="auto",
                     **kwargs):
    """Shared by `simple_rnn` (also as `bidirectional_simple_rnn`) and `irnn`."""
    layer_cls = bptt.layer_class("SimpleRNN", implementation)  # keras.layers.SimpleRNN or zoo.bptt.SimpleRNN
    name = kwargs.pop("recurrent_initializer", None)
    gain = kwargs.pop("recurrent_gain", 1.0)
    init = make_recurrent_initializer(name or default_initializer, gain, gates=1)
    units = kwargs["units"]

    def layer_fn(return_sequences, name):
        return layer_cls(
            units, activation=activation, recurrent_initializer=init, return_sequences=return_sequences, name=name
        )

    kwargs.pop("causal", None)
    kwargs.pop("sequence_length", None)
    return recurrent_stack(
        layer_fn=layer_fn, layer_name="simple_rnn", bidirectional=bidirectional, model_name=model_name, **kwargs
    )


@register_model(
    "simple_rnn",
    sees_future=reads_backwards,
    initialization="Keras defaults: orthogonal recurrent kernel, glorot-uniform input kernel, zero bias",
)
def simple_rnn(
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
    bidirectional=False,
    implementation="auto",
):
    """SimpleRNN with tanh (Elman, 1990): the network whose gradients vanish and explode.

    Args:
        vocabulary_size: number of token ids.
        output: "per_step", "last_class" or "last_value" (see `zoo.registry`).
        num_classes: logits per prediction; defaults to `vocabulary_size` (1 for "last_value").
        causal: the task is next-token prediction (a SimpleRNN is causal, so this changes nothing).
        sequence_length: accepted for a uniform contract; unused.
        units: size of the hidden state.
        num_layers: stacked recurrent layers.
        dropout: dropout rate between layers (not on the recurrent connection).
        embedding_dim: size of the token embedding; defaults to `units`.
        recurrent_initializer: None (Keras's orthogonal), "orthogonal", "identity", "glorot_uniform" or
            "normal". Orthogonal keeps the initial gradient nearly flat through time; glorot-uniform is the
            classic setting in which it decays.
        recurrent_gain: scales the initial recurrent matrix: < 1 provokes vanishing, > 1 exploding gradients.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
        bidirectional: also run the SimpleRNN backwards over the sequence and concatenate the two states
            (Schuster & Paliwal, 1997; registered as `bidirectional_simple_rnn`): every step then sees its whole context, so the
            model refuses next-token tasks (it would read the answer); `units` is each direction's size.
    """
    return build_simple_rnn(
        activation="tanh",
        default_initializer=None,
        model_name="bidirectional_simple_rnn" if bidirectional else "simple_rnn",
        **locals(),
    )
