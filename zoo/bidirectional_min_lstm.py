"""Bidirectional minLSTM: a forward and a backward minLSTM (Feng et al., 2024) whose states are
concatenated, so each step sees its whole context (Schuster & Paliwal, 1997). It refuses next-token tasks: it would read the answer."""

from zoo.registry import register_variant
from zoo.min_lstm import min_lstm  # noqa: F401  (registers the base builder first)

bidirectional_min_lstm = register_variant(
    "bidirectional_min_lstm",
    "min_lstm",
    "Bidirectional minLSTM (Feng et al., 2024; Schuster & Paliwal, 1997): sees past and future context.",
    display="bidirectional minLSTM",
    bidirectional=True,
)
