"""`kerala_cloze`: the article's long-term dependency in its own words.

    Jane was born in Kerala. Her family moved when she was young. She played in the football team.
    She studied hard for the state-level examinations. Jane is very fluent in ___      ->  Malayalam

A name and a place open the example, `fillers` sentences follow that say nothing about the place, and the
question asks for the language of the place. Names come from a pool (a pronoun in the fillers agrees
with the name), places from 16 place -> language pairs, filler sentences from a pool of 16 (drawn
without repetition, in a random order). Only a model that carries the place across every filler
sentence beats chance, 1/16: the `recall` task (`k3 d1 d7 ... ?`) told as a story.

Output: one label read at the last step (the blank), over the languages (`last_class`, num_classes = 16),
not over the vocabulary. The languages are the only possible answers, so chance is exactly 1/16 and
ln 16 nats as for `recall` with 16 keys, and the accuracy measures the dependency alone, not also
whether a model has learnt which words are languages. `spec.answers` names each class
(`spec.answers[3] == "Malayalam"`), and `spec.fill_blank(inputs, class_id)` writes it into the sentence.

Sequences are padded on the left with `<pad>` to the longest example of the given `fillers`
(`sequence_length`), so that the last step is always the blank.

The article's sentence is the first example of the test split, for every `fillers`: its own three
filler sentences first, then (for `fillers` > 3) the next sentences of the pool in pool order; for
`fillers` < 3, its first `fillers` sentences. It is never drawn for training or validation.

With `fillers` = 0 there are only 24 x 16 = 384 distinct sentences (about 19 in each held-out split),
so the held-out sets repeat examples; from one filler sentence on there are thousands.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from datasets.registry import register_task
from datasets.spec import LAST_CLASS
from datasets.templates import BLANK, TOKEN_PATTERN, TemplateTask

ARTICLE_NAME = "Jane"
ARTICLE_PLACE = "Kerala"
ARTICLE_LANGUAGE = "Malayalam"

# place -> language: the answer is decided by the place alone (each place one language, each language one place).
PLACES = (
    ("Kerala", "Malayalam"),
    ("Tamil Nadu", "Tamil"),
    ("Karnataka", "Kannada"),
    ("Punjab", "Punjabi"),
    ("Gujarat", "Gujarati"),
    ("Maharashtra", "Marathi"),
    ("Bengal", "Bengali"),
    ("Odisha", "Odia"),
    ("Japan", "Japanese"),
    ("Brazil", "Portuguese"),
    ("Greece", "Greek"),
    ("Finland", "Finnish"),
    ("Poland", "Polish"),
    ("Hungary", "Hungarian"),
    ("Sweden", "Swedish"),
    ("Turkey", "Turkish"),
)
FEMALE_NAMES = ("Jane", "Maria", "Anna", "Priya", "Sara", "Lena", "Emma", "Nina", "Asha", "Clara", "Julia", "Meera")
MALE_NAMES = ("John", "Ravi", "Peter", "David", "Arjun", "Tom", "Paul", "Omar", "Karl", "Leo", "Sam", "Vikram")
# Filler sentences: {he} she/he, {He} She/He, {his} her/his, {His} Her/His. The article's three come first.
FILLERS = (
    "{His} family moved when {he} was young.",
    "{He} played in the football team.",
    "{He} studied hard for the state-level examinations.",
    "{He} liked to read books in the evening.",
    "{His} best friend lived across the street.",
    "{He} learned to swim in the summer.",
    "{He} often walked to school with {his} brother.",
    "{His} favourite subject was mathematics.",
    "{He} sang in the school choir.",
    "{He} spent the holidays with {his} grandparents.",
    "{He} wanted to become a doctor.",
    "{His} teachers said {he} was very curious.",
    "{He} took the early train to the city.",
    "{He} worked in a small shop after school.",
    "{His} room was full of old maps.",
    "{He} won a prize for {his} drawings.",
)
PRONOUNS = {
    "female": {"he": "she", "He": "She", "his": "her", "His": "Her"},
    "male": {"he": "he", "He": "He", "his": "his", "His": "His"},
}


def _tokens(text: str) -> list[str]:
    return re.findall(TOKEN_PATTERN, text)


def sentence_words(name: str, place: str, fillers, gender: str) -> list[str]:
    """The words of one example: `<name> was born in <place>. <fillers> <name> is very fluent in ___`."""
    words = _tokens(f"{name} was born in {place}.")
    for filler in fillers:
        words += _tokens(filler.format(**PRONOUNS[gender]))
    return words + _tokens(f"{name} is very fluent in") + [BLANK]


@functools.lru_cache(maxsize=None)
def _sequence_length(fillers: int) -> int:
    """The longest opening and question plus the `fillers` longest filler sentences, in tokens.

    Cached: `arrays` lays out every example at this length, and computing it writes 384 sentences.
    """
    opening = max(len(sentence_words(n, pl, [], "male")) for n in FEMALE_NAMES + MALE_NAMES for pl, _ in PLACES)
    by_length = sorted((len(_tokens(f.format(**PRONOUNS["female"]))) for f in FILLERS), reverse=True)  # pronouns: one word either way
    return opening + sum(by_length[:fillers])


@register_task("kerala_cloze")
class KeralaCloze(TemplateTask):
    """Name, place, `fillers` filler sentences, then "<name> is very fluent in ___"; the class is the language.

    Args (task parameters):
        fillers: number of filler sentences between the place and the question (the gap knob, 0 to 16).
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {**TemplateTask.common_defaults, "fillers": 3}

    def words(self, p):
        seen: dict[str, None] = {}
        texts = [f"{n} was born in {pl}. {n} is very fluent in" for n in FEMALE_NAMES + MALE_NAMES for pl, _ in PLACES]
        texts += [f.format(**PRONOUNS[g]) for f in FILLERS for g in PRONOUNS]
        texts += [language for _, language in PLACES]  # the answers, so a filled-in sentence can be encoded
        for text in texts:
            for token in _tokens(text):
                seen.setdefault(token, None)
        return sorted(seen, key=lambda t: (t.lower(), t))

    def sequence_length(self, p):
        return _sequence_length(p["fillers"])

    def check_task(self, p):
        if not 0 <= p["fillers"] <= len(FILLERS):
            raise ValueError(
                f"fillers of task 'kerala_cloze' must be between 0 and {len(FILLERS)} (the filler sentences of its pool), "
                f"got {p['fillers']}."
            )

    def draw(self, rng, p):
        gender = "female" if rng.integers(2) == 0 else "male"
        names = FEMALE_NAMES if gender == "female" else MALE_NAMES
        name = names[rng.integers(len(names))]
        place = int(rng.integers(len(PLACES)))
        chosen = rng.choice(len(FILLERS), size=p["fillers"], replace=False) if p["fillers"] else []
        return sentence_words(name, PLACES[place][0], [FILLERS[i] for i in chosen], gender), place

    def forced_test(self, p):
        return [(article_words(p["fillers"]), [pl for pl, _ in PLACES].index(ARTICLE_PLACE))]

    def arrays(self, ids, answer, p):
        t = self.sequence_length(p)
        inputs = np.zeros(t, np.int32)  # <pad> on the left: the blank is the last step
        inputs[t - len(ids):] = ids
        return inputs, np.int32(answer)

    def spec(self, p):
        k = len(PLACES)
        return self.make_spec(
            p,
            output=LAST_CLASS,
            num_classes=k,
            causal=False,
            chance_loss=math.log(k),
            chance_accuracy=1.0 / k,
            metrics=("loss", "accuracy"),
            answers=tuple(language for _, language in PLACES),
            description=f"name the language of a birthplace stated {p['fillers']} filler sentences before the question",
        )


def article_words(fillers: int = 3) -> list[str]:
    """The article's example with `fillers` filler sentences (its own three first, then the pool's next)."""
    return sentence_words(ARTICLE_NAME, ARTICLE_PLACE, FILLERS[:fillers], "female")


def article_text(fillers: int = 3) -> str:
    """The article's sentence as text, blank included."""
    from datasets.spec import _sentence

    return _sentence(article_words(fillers))

