"""`word_lm`: next-word prediction, the setting of the RNN language models of Mikolov et al. (2010)
and Zaremba, Sutskever & Vinyals (2014).

Tokens are words and punctuation marks (`\\w+(?:'\\w+)*|[^\\w\\s]`: "don't" stays one word, "hath,"
is two tokens); case is kept and line breaks are dropped. The vocabulary keeps the
`max_vocabulary` - 1 most frequent training words plus `<unk>`. The loss is in nats per word;
its exponential is the perplexity. See `datasets/text.py` for the windows and the baseline.
"""

from __future__ import annotations

import collections
import re

import numpy as np

from datasets.registry import register_task
from datasets.text import TextTask

WORD_PATTERN = r"\w+(?:'\w+)*|[^\w\s]"
_WORDS = re.compile(WORD_PATTERN)


@register_task("word_lm")
class WordLM(TextTask):
    """Next-word prediction over a corpus; the parameters are those of `TextTask`."""

    level = "word"
    token_separator = " "
    token_pattern = WORD_PATTERN
    unit = "word"
    defaults = TextTask.text_defaults(seq_len=35, max_vocabulary=10_000)

    def count_tokens(self, text):
        return dict(collections.Counter(_WORDS.findall(text)))

    def encode_text(self, text, index):
        words = _WORDS.findall(text)
        return np.fromiter((index.get(w, 0) for w in words), dtype=np.int32, count=len(words))
