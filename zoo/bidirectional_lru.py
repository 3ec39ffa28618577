"""Bidirectional LRU: a forward and a backward LRU (Orvieto et al., 2023) whose outputs are concatenated, so each
step sees its whole context (Schuster & Paliwal, 1997). It refuses next-token tasks: it would read the answer."""

from zoo.registry import register_variant
from zoo.lru import lru  # noqa: F401  (registers the base builder first)

bidirectional_lru = register_variant(
    "bidirectional_lru",
    "lru",
    "Bidirectional LRU (Orvieto et al., 2023; Schuster & Paliwal, 1997): sees past and future context.",
    display="bidirectional LRU",
    bidirectional=True,
)
