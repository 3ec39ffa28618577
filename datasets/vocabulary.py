"""Vocabularies of the text tasks: built from the training split only, saved and loaded as JSON.

Id 0 is the unknown token `<unk>`; the other ids go to the most frequent training tokens (ties
broken by the token itself, so the order is the same in every process), up to `max_size` tokens in
all. Tokens that were cut by the limit, and tokens that never occur in the training split, map to
`<unk>`: the validation and test splits can only be measured on what training could see.

Saved as JSON (`{"level": "char", "unknown_token": "<unk>", "tokens": [...]}`) so that evaluation
and generation, even in another process and from another corpus, decode ids to the same text.
"""

from __future__ import annotations

import json
import pathlib
from typing import Mapping

UNKNOWN = "<unk>"
LEVELS = ("char", "word")
FORMAT = "rnn-zoo vocabulary"


def build_vocabulary(counts: Mapping[str, int], max_size: int | None = None) -> list[str]:
    """`<unk>` followed by the tokens of `counts`, most frequent first, `max_size` tokens in all."""
    if max_size is not None and max_size < 2:
        raise ValueError(f"the vocabulary limit must be at least 2 (<unk> and one token), got {max_size}.")
    ranked = sorted((t for t in counts if t != UNKNOWN), key=lambda t: (-counts[t], t))
    if max_size is not None:
        ranked = ranked[: max_size - 1]
    return [UNKNOWN] + ranked


def save_vocabulary(path, tokens, level: str) -> None:
    """Writes `tokens` (index = id) as JSON; `level` is "char" or "word"."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}.")
    path = pathlib.Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"format": FORMAT, "level": level, "unknown_token": UNKNOWN, "tokens": list(tokens)}
    path.write_text(json.dumps(record, ensure_ascii=False, indent=0), encoding="utf-8")


def load_vocabulary(path, level: str | None = None) -> list[str]:
    """The tokens saved by `save_vocabulary`; checks the level when one is given."""
    path = pathlib.Path(path).expanduser()
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        tokens = record["tokens"]
        saved_level = record["level"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ValueError(
            f"{path} is not a vocabulary written by datasets.save_vocabulary; delete it or point vocabulary_path elsewhere."
        ) from None
    if not tokens or tokens[0] != UNKNOWN or len(set(tokens)) != len(tokens) or not all(isinstance(t, str) for t in tokens):
        raise ValueError(f"vocabulary {path} must list distinct strings starting with {UNKNOWN!r}; rebuild it.")
    if level is not None and saved_level != level:
        raise ValueError(f"vocabulary {path} holds {saved_level} tokens, but this task needs {level} tokens.")
    return tokens
