"""`char_lm`: next-character prediction, the char-rnn setting of Karpathy (2015) on Tiny Shakespeare.

Characters are the tokens (newlines included); the vocabulary is every character of the training
split plus `<unk>` (Tiny Shakespeare: 65 characters). The loss is in nats per character; divided by
ln 2 it is the bits per character that papers report (Graves 2013, "Generating Sequences With
Recurrent Neural Networks"). See `datasets/text.py` for the windows and the baseline.
"""

from __future__ import annotations

import numpy as np

from datasets.registry import register_task
from datasets.text import TextTask


@register_task("char_lm")
class CharLM(TextTask):
    """Next-character prediction over a corpus; the parameters are those of `TextTask`."""

    level = "char"
    token_separator = ""
    unit = "character"
    defaults = TextTask.text_defaults(seq_len=100, max_vocabulary=None)

    def count_tokens(self, text):
        codes, counts = np.unique(_code_points(text), return_counts=True)
        return {chr(c): int(n) for c, n in zip(codes, counts)}

    def encode_text(self, text, index):
        codes, inverse = np.unique(_code_points(text), return_inverse=True)
        table = np.array([index.get(chr(c), 0) for c in codes], dtype=np.int32)
        return table[inverse.reshape(-1)] if len(codes) else np.zeros([0], np.int32)


def _code_points(text: str) -> np.ndarray:
    """The Unicode code points of `text` as one uint32 array (fast: no Python loop)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
