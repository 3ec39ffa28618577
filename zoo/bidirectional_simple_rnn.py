"""Bidirectional SimpleRNN (Schuster & Paliwal, 1997): one tanh SimpleRNN reads the sequence forwards,
another backwards, and their states are concatenated, so every step sees its whole context — both the
past and the future. It therefore cannot model next-token prediction (it would read the answer), but it
can fill a blank whose answer only later tokens determine."""

from zoo.registry import register_variant
from zoo.simple_rnn import simple_rnn  # noqa: F401  (registers the base builder first)

bidirectional_simple_rnn = register_variant(
    "bidirectional_simple_rnn",
    "simple_rnn",
    "Bidirectional tanh SimpleRNN (Schuster & Paliwal, 1997): sees past and future context.",
    display="bidirectional tanh RNN",
    bidirectional=True,
)
