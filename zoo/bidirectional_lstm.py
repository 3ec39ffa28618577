"""Bidirectional LSTM (Graves & Schmidhuber, 2005): a forward and a backward LSTM whose states are
concatenated, so each step sees its whole context. It refuses next-token tasks: it would read the answer."""

from zoo.lstm import build_lstm
from zoo.registry import PER_STEP, register_model


@register_model("bidirectional_lstm", sees_future=True)
def bidirectional_lstm(
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
    forget_bias=1.0,
    chrono_max_length=None,
    implementation="auto",
):
    """Bidirectional LSTM (Graves & Schmidhuber, 2005): sees past and future context.

    Args: as `lstm`; `units` is the size of each direction's state (the output has 2 * units).
    """
    return build_lstm(bidirectional=True, model_name="bidirectional_lstm", **locals())
