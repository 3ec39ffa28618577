"""Bidirectional minGRU: a forward and a backward minGRU (Feng et al., 2024) whose states are
concatenated, so each step sees its whole context (Schuster & Paliwal, 1997). It refuses next-token tasks: it would read the answer."""

from zoo.registry import register_variant
from zoo.min_gru import min_gru  # noqa: F401  (registers the base builder first)

bidirectional_min_gru = register_variant(
    "bidirectional_min_gru",
    "min_gru",
    "Bidirectional minGRU (Feng et al., 2024; Schuster & Paliwal, 1997): sees past and future context.",
    display="bidirectional minGRU",
    bidirectional=True,
)
