"""`mouse_cloze`: the article's future-context cloze in words; the blank is decided only by what follows.

    The mouse is used to ___ for the easy use of computers      ->  click
    The mouse is used to ___ for cheese in the kitchen           ->  search

Every example is "<left> mouse is used to ___ <right>": the left part comes from one pool for both
senses ("The mouse", "My old mouse", ...), so every left context up to the blank occurs with both
answers; the right part is written from several templates per sense (the computer's mouse: click; the
animal: search), which share their first words ("for", "on the", "with"), so that the sense, and the
answer, is given only by later words. The two senses are drawn with equal probability, and within a
sense every right part (template and slot words) is equally likely (one, "for cheese in the kitchen", is
written by two templates, so it is drawn twice as often).

Per-step classes over the two answers, scored at one step only (sample weights), as in `future_cloze`:

    inputs   The mouse is used to ___ for cheese in the kitchen <pad> <pad>
    targets   .    .    .   .   .  a   .    .    .   .     .      .     .      (answer_delay None)

A causal model (SimpleRNN, LSTM, GRU, masked attention) must answer at the blank before it has read the
sense, so it sits at the chance baseline ln 2 (accuracy 1/2); a bidirectional RNN or attention without
the causal mask reads the right part and solves it.

`answer_delay` = k (an integer, as in `future_cloze`): k `<pad>` steps are appended and the answer is due
k steps after the last word of the sentence (the cue: by then the whole right part has been read), so a
causal model gets what a bidirectional one uses at the blank, delivered in time. The examples are the
same for every k (the split is decided by the sentence text), and so are their answers.

Sequences are padded on the right with `<pad>` to the longest sentence (plus k). Sample weights: T at
the scored step and 0 elsewhere, so the reported loss is the mean loss at the scored steps (see
`future_cloze`). The article's sentence and the animal one above are the first two examples of the test
split, never drawn for training or validation.

How many sentences there are (`tests/test_datasets_article.py` counts them): 12 left parts x 274 right
parts written out, 3,276 distinct sentences (the 12 with "for cheese in the kitchen" are written twice).
Their hash puts 2,951 in training, 158 in validation and 165 in test, and the two forced sentences make
167 in test. A held-out set of 1,000 examples therefore draws each of its sentences about six times: its
numbers describe those 158 or 167 sentences, and the intervals over its 1,000 examples are not those of
1,000 independent sentences. No test or validation sentence is ever a training one (the split is decided
by the text).
"""

from __future__ import annotations

import math
import re

import numpy as np

from datasets.registry import register_task
from datasets.spec import PER_STEP
from datasets.templates import BLANK, TOKEN_PATTERN, TemplateTask

ANSWERS = ("click", "search")  # class 0: the computer's mouse, class 1: the animal
LEFT = (
    "The", "My", "This", "That", "Our", "Her", "His", "The small", "The grey", "The old", "The new",
    "My old",
)
SLOTS = {
    "c_task": ("work", "games", "shopping", "drawing", "email", "music", "writing", "homework"),
    "c_device": ("laptop", "computer", "desktop", "screen", "monitor", "tablet", "keyboard", "display"),
    "c_object": ("icons", "links", "buttons", "menus", "files", "tabs", "folders", "images"),
    "c_app": ("browser", "editor", "window", "game", "toolbar", "spreadsheet", "program", "website"),
    "a_food": ("cheese", "crumbs", "seeds", "grain", "bread", "nuts", "corn", "berries"),
    "a_place": ("kitchen", "barn", "garden", "cellar", "pantry", "field", "attic", "forest"),
    "a_thing": ("floor", "stove", "fence", "roots", "leaves", "straw", "hay", "stones"),
}
# Right parts per sense; they start with the same words in both senses, later words decide.
RIGHT = (
    (
        "for the easy use of computers",
        "for {c_task} on the {c_device}",
        "on the {c_object} in the {c_app}",
        "with one finger on the {c_object}",
    ),
    (
        "for cheese in the kitchen",
        "for {a_food} in the {a_place}",
        "on the {a_thing} for {a_food}",
        "with its nose in the {a_thing}",
    ),
)
ARTICLE = ("The", "for the easy use of computers", 0)
ANIMAL = ("The", "for cheese in the kitchen", 1)


def _tokens(text: str) -> list[str]:
    return re.findall(TOKEN_PATTERN, text)


def sentence_words(left: str, right: str) -> list[str]:
    """The words of "<left> mouse is used to ___ <right>"."""
    return _tokens(f"{left} mouse is used to") + [BLANK] + _tokens(right)


def _all_rights(sense: int) -> list[str]:
    out = []
    for template in RIGHT[sense]:
        names = re.findall(r"\{(\w+)\}", template)
        combos = [template]
        for name in names:
            combos = [c.replace("{" + name + "}", w, 1) for c in combos for w in SLOTS[name]]
        out += combos
    return out


# Every right part of each sense, written out: an example draws one uniformly, so that every sentence of a
# sense is equally likely and the senses stay balanced within each hashed split.
RIGHTS = (tuple(_all_rights(0)), tuple(_all_rights(1)))


@register_task("mouse_cloze")
class MouseCloze(TemplateTask):
    """Fill "<left> mouse is used to ___ <right>" with click or search; only <right> decides.

    Args (task parameters):
        answer_delay: None (the answer is due at the blank) or k >= 0: k `<pad>` steps are appended and
            the answer is due k steps after the last word of the sentence, where a causal model has read it.
        epoch_size: training examples per epoch.
        eval_size: examples in the validation and in the test set.
    """

    defaults = {**TemplateTask.common_defaults, "answer_delay": None}
    param_types = {"answer_delay": int}

    def words(self, p):
        seen: dict[str, None] = {}
        texts = [f"{left} mouse is used to" for left in LEFT] + list(ANSWERS)
        texts += [r for sense in (0, 1) for r in RIGHTS[sense]]
        for text in texts:
            for token in _tokens(text):
                seen.setdefault(token, None)
        return sorted(seen, key=lambda t: (t.lower(), t))

    def longest_sentence(self) -> int:
        left = max(len(_tokens(x)) for x in LEFT)
        right = max(len(_tokens(r)) for sense in (0, 1) for r in RIGHTS[sense])
        return left + 4 + 1 + right  # "<left> mouse is used to ___ <right>"

    def sequence_length(self, p):
        return self.longest_sentence() + (p["answer_delay"] or 0)

    def check_task(self, p):
        if p["answer_delay"] is not None and p["answer_delay"] < 0:
            raise ValueError(f"answer_delay of task 'mouse_cloze' must be None or at least 0, got {p['answer_delay']}.")

    def draw(self, rng, p):
        sense = int(rng.integers(2))
        left = LEFT[rng.integers(len(LEFT))]
        right = RIGHTS[sense][rng.integers(len(RIGHTS[sense]))]
        return sentence_words(left, right), sense

    def forced_test(self, p):
        return [(sentence_words(left, right), sense) for left, right, sense in (ARTICLE, ANIMAL)]

    def arrays(self, ids, answer, p):
        t = self.sequence_length(p)
        inputs = np.zeros(t, np.int32)  # <pad> on the right
        inputs[: len(ids)] = ids
        blank = ids.index(1)  # the vocabulary is [<pad>, ___, words...]
        due = blank if p["answer_delay"] is None else len(ids) - 1 + p["answer_delay"]
        targets = np.zeros(t, np.int32)
        targets[due] = answer
        weights = np.zeros(t, np.float32)
        weights[due] = float(t)
        return inputs, targets, weights

    def cloze_positions(self, inputs, p):
        """(blank, cue) of token ids `inputs` (n, T): each example's blank step (n,) and the words after it
        (every non-`<pad>` step after the blank: the sense is decided there) as a (n, T) boolean mask."""
        inputs = np.asarray(inputs)
        blank = np.argmax(inputs == 1, axis=1)  # the vocabulary is [<pad>, ___, words...]
        after = np.arange(inputs.shape[1])[None, :] > blank[:, None]
        return blank, after & (inputs != 0)

    def spec(self, p):
        k = len(ANSWERS)
        return self.make_spec(
            p,
            output=PER_STEP,
            num_classes=k,
            causal=False,
            chance_loss=math.log(k),
            chance_accuracy=1.0 / k,
            metrics=("loss", "accuracy"),
            sample_weighted=True,
            answers=ANSWERS,
            description="fill 'the mouse is used to ___' from the words after the blank"
            + (f", answering {p['answer_delay']} steps after the sentence" if p["answer_delay"] is not None else ""),
        )
