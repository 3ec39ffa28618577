"""`TaskSpec`: everything a model builder and a training loop need to know about a task, as plain values.

`datasets` hands a spec to `training`, which passes its fields to `zoo.build_model`; the spec is the only
thing that crosses from tasks to models, so `zoo` and `datasets` never import each other.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any, Sequence

# The three output kinds of the zoo's input/output contract.
PER_STEP = "per_step"  # logits (batch, time, classes): a class at every step (language models, cloze)
LAST_CLASS = "last_class"  # logits (batch, classes): one label read at the last step
LAST_VALUE = "last_value"  # (batch, 1): one real number read at the last step (regression)
OUTPUT_KINDS = (PER_STEP, LAST_CLASS, LAST_VALUE)


PUNCTUATION = (".", ",", ";", "!", "?")


def _sentence(tokens: Sequence[str]) -> str:
    """Tokens as a sentence: `<pad>` dropped, punctuation attached to the word before it."""
    out = ""
    for token in tokens:
        if token == "<pad>":
            continue
        out += token if (token in PUNCTUATION or not out) else " " + token
    return out


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What a task is, for the model builder, the training loop and the report.

    Args:
        name: registry key of the task (`recall`, `char_lm`, ...).
        params: every task parameter after defaults were filled in; `load_task(name, **params)`
            re-creates the same data.
        vocabulary: the token strings, index = token id. Id 0 is reserved for padding/blank where a
            task needs one; the text tasks keep their unknown token in here too.
        output: one of `OUTPUT_KINDS`.
        num_classes: width of the model's logits (`per_step`/`last_class`); 1 for `last_value`.
        causal: True when the target at step t is the input at step t+1 (next-token prediction): a
            model that reads tokens after t would read the answer, so it must not see the future.
        sequence_length: length of every input sequence (`time`).
        chance_loss: the loss of the best prediction that ignores the input (nats for classes, MSE for
            `last_value`), measured on the same weighting the training loss uses.
        chance_accuracy: accuracy of that prediction, or None where accuracy means nothing.
        metrics: names of the metrics that make sense for this task, from
            ("loss", "accuracy", "bits_per_char", "perplexity", "mse").
        token_separator: "" for characters, " " for words; used by `decode`.
        language_model: True for the text tasks whose models can generate (`char_lm`, `word_lm`).
        unknown_token_id: id of the unknown token for text tasks, None otherwise.
        description: one sentence a report can print.
        epoch_size: number of training examples that make one epoch. Every training split is an
            endless stream (fresh synthetic examples, or text windows reshuffled each pass), so
            `fit` needs `steps_per_epoch=spec.steps_per_epoch(batch_size)`; validation and test
            splits are finite and need nothing.
        sample_weighted: True when the dataset yields `(inputs, targets, sample_weights)`: only the
            weighted steps count in the loss and the metrics.
        token_pattern: regular expression that splits text into tokens for `encode` (word tasks);
            None splits into characters (`token_separator == ""`) or on whitespace.
        answers: the word of every class id, for tasks whose classes are words filling a blank
            (`kerala_cloze`: the languages, `mouse_cloze`: the verbs); None otherwise.
        blank_token_id: id of the blank token in the inputs (the `___` of a cloze), None where there is none.
        sentences: True for the tasks written as sentences: `decode` drops `<pad>` and attaches
            punctuation to the word before it, so an example reads as the sentence it was written from.
    """

    name: str
    params: dict
    vocabulary: tuple
    output: str
    num_classes: int
    causal: bool
    sequence_length: int
    chance_loss: float
    chance_accuracy: float | None
    metrics: tuple
    token_separator: str = ""
    language_model: bool = False
    unknown_token_id: int | None = None
    description: str = ""
    epoch_size: int | None = None
    sample_weighted: bool = False
    token_pattern: str | None = None
    answers: tuple | None = None
    blank_token_id: int | None = None
    sentences: bool = False

    def __post_init__(self):
        if self.output not in OUTPUT_KINDS:
            raise ValueError(f"output must be one of {OUTPUT_KINDS}, got {self.output!r}.")
        object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.answers is not None:
            object.__setattr__(self, "answers", tuple(self.answers))

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    def model_kwargs(self) -> dict[str, Any]:
        """The arguments `zoo.build_model` takes from a task."""
        return {
            "vocabulary_size": self.vocabulary_size,
            "output": self.output,
            "num_classes": self.num_classes,
            "causal": self.causal,
            "sequence_length": self.sequence_length,
        }

    def steps_per_epoch(self, batch_size: int) -> int | None:
        """`steps_per_epoch` for `fit` on the endless training split (batches of `batch_size`)."""
        if self.epoch_size is None:
            return None
        return max(1, self.epoch_size // int(batch_size))

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids back to text (ids out of range become '?')."""
        vocab = self.vocabulary
        tokens = [vocab[i] if 0 <= int(i) < len(vocab) else "?" for i in ids]
        if self.sentences:
            return _sentence(tokens)
        return self.token_separator.join(tokens)

    def fill_blank(self, ids: Sequence[int], answer) -> str:
        """An example's text with `answer` written in its blank.

        `answer` is a class id (an int, e.g. `argmax` of the model's logits at the blank), read through
        `answers`, or a word (a str) written as given. Tasks without a blank token are refused.

            spec.fill_blank(x[0], int(logits[0].argmax()))
            # 'Jane was born in Kerala. ... Jane is very fluent in Malayalam'
        """
        if self.blank_token_id is None:
            raise ValueError(f"task {self.name!r} has no blank to fill.")
        if isinstance(answer, str):
            word = answer
        else:
            if self.answers is None:
                raise ValueError(f"task {self.name!r} has no answer words; pass the word itself.")
            index = int(answer)
            if not 0 <= index < len(self.answers):
                raise ValueError(f"answer {index} of task {self.name!r} must be a class id below {len(self.answers)}.")
            word = self.answers[index]
        vocab = self.vocabulary
        tokens = [word if int(i) == self.blank_token_id else (vocab[i] if 0 <= int(i) < len(vocab) else "?") for i in ids]
        if self.sentences:
            return _sentence(tokens)
        return self.token_separator.join(tokens)

    def encode(self, text: str) -> list[int]:
        """Text to token ids with this vocabulary (unknown tokens map to `unknown_token_id`)."""
        index = {tok: i for i, tok in enumerate(self.vocabulary)}
        if self.token_pattern is not None:
            pieces = re.findall(self.token_pattern, text)
        elif self.token_separator == "":
            pieces = list(text)
        else:
            pieces = text.split()
        unk = self.unknown_token_id
        out = []
        for p in pieces:
            if p in index:
                out.append(index[p])
            elif unk is not None:
                out.append(unk)
            else:
                raise ValueError(f"token {p!r} is not in the vocabulary of task {self.name!r}.")
        return out

    def answer_word(self, answer: int) -> str:
        """The word of class id `answer` (tasks with `answers`)."""
        if self.answers is None:
            raise ValueError(f"task {self.name!r} has no answer words.")
        return self.answers[int(answer)]

    @property
    def chance_bits_per_token(self) -> float:
        return self.chance_loss / math.log(2)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self, path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, d: dict) -> "TaskSpec":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in fields})

    @classmethod
    def from_json(cls, path) -> "TaskSpec":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
