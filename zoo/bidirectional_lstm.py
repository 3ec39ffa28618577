"""Bidirectional LSTM (Graves & Schmidhuber, 2005): a forward and a backward LSTM whose states are
concatenated, so each step sees its whole context. It refuses next-token tasks: it would read the answer."""

from zoo.registry import register_variant
from zoo.lstm import lstm  # noqa: F401  (registers the base builder first)

bidirectional_lstm = register_variant(
    "bidirectional_lstm",
    "lstm",
    "Bidirectional LSTM (Graves & Schmidhuber, 2005): sees past and future context.",
    display="bidirectional LSTM",
    bidirectional=True,
)
