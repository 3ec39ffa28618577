"""Bidirectional GRU: a forward and a backward GRU (Cho et al., 2014) whose states are concatenated, so
each step sees its whole context. It refuses next-token tasks: it would read the answer."""

from zoo.registry import register_variant
from zoo.gru import gru  # noqa: F401  (registers the base builder first)

bidirectional_gru = register_variant(
    "bidirectional_gru",
    "gru",
    "Bidirectional GRU (Cho et al., 2014; Schuster & Paliwal, 1997): sees past and future context.",
    display="bidirectional GRU",
    bidirectional=True,
)
