"""Bidirectional GRU: a forward and a backward GRU (Cho et al., 2014) whose states are concatenated, so
each step sees its whole context. It refuses next-token tasks: it would read the answer."""

from zoo.gru import build_gru
from zoo.registry import PER_STEP, register_model


@register_model("bidirectional_gru", sees_future=True)
def bidirectional_gru(
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
    implementation="auto",
):
    """Bidirectional GRU (Cho et al., 2014; Schuster & Paliwal, 1997): sees past and future context.

    Args: as `gru`; `units` is the size of each direction's state (the output has 2 * units).
    """
    return build_gru(bidirectional=True, model_name="bidirectional_gru", **locals())
