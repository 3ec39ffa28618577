"""Bidirectional SimpleRNN (Schuster & Paliwal, 1997): one tanh SimpleRNN reads the sequence forwards,
another backwards, and their states are concatenated, so every step sees its whole context — both the
past and the future. It therefore cannot model next-token prediction (it would read the answer), but it
can fill a blank whose answer only later tokens determine."""

from zoo.registry import PER_STEP, register_model
from zoo.simple_rnn import build_simple_rnn


@register_model("bidirectional_simple_rnn", sees_future=True)
def bidirectional_simple_rnn(
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
    implementation="auto",
):
    """Bidirectional tanh SimpleRNN (Schuster & Paliwal, 1997): sees past and future context.

    Args: as `simple_rnn`; `units` is the size of each direction's state (the output has 2 * units).
    """
    return build_simple_rnn(
        activation="tanh",
        default_initializer=None,
        bidirectional=True,
        model_name="bidirectional_simple_rnn",
        **locals(),
    )
