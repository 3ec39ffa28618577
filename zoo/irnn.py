"""IRNN (Le, Jaitly & Hinton, 2015): a SimpleRNN with ReLU units whose recurrent matrix starts as the
identity and whose biases start at zero.

At initialisation every hidden unit copies itself forward, so the gradient through time neither
vanishes nor explodes at first: "use ReLU and initialize the weights properly". The price is that ReLU is
unbounded: a recurrent gain above 1 makes activations and gradients grow without limit, which is where
gradient clipping earns its keep.
"""

from zoo.registry import PER_STEP, register_model
from zoo.simple_rnn import build_simple_rnn


@register_model("irnn", initialization="IRNN: identity recurrent kernel, zero bias (Le et al., 2015)")
def irnn(
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
    recurrent_initializer="identity",
    recurrent_gain=1.0,
    implementation="auto",
):
    """IRNN (Le, Jaitly & Hinton, 2015): ReLU SimpleRNN with identity recurrent initialization.

    Args:
        vocabulary_size: number of token ids.
        output: "per_step", "last_class" or "last_value".
        num_classes: logits per prediction; defaults to `vocabulary_size` (1 for "last_value").
        causal: the task is next-token prediction (an IRNN is causal, so this changes nothing).
        sequence_length: accepted for a uniform contract; unused.
        units: size of the hidden state.
        num_layers: stacked recurrent layers.
        dropout: dropout rate between layers.
        embedding_dim: size of the token embedding; defaults to `units`.
        recurrent_initializer: "identity" (the IRNN's; the input kernel keeps Keras's glorot-uniform and the
            bias Keras's zeros), or any other of `zoo.initializers.RECURRENT_INITIALIZERS`.
        recurrent_gain: scales the initial recurrent matrix; with ReLU a gain > 1 explodes quickly.
        implementation: "keras" (Keras's layer), "bptt" (`zoo.bptt`'s, with backpropagation through time
            written out) or "auto" (`zoo.bptt.layer_class`: Keras's on a GPU, on a CPU the one measured
            faster there). Both hold the same weights and compute the same numbers.
    """
    return build_simple_rnn(
        activation="relu", default_initializer="identity", bidirectional=False, model_name="irnn", **locals()
    )
