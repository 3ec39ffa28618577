"""n-gram baselines (datasets/ngram.py): a case worked by hand, normalisation, and the ordering a
counting model must show on structured text."""

import math

import numpy as np
import pytest

import datasets
from datasets.ngram import AddK, KneserNey


def test_kneser_ney_bigram_by_hand():
    # train 0 1 0 2 0 1 (V = 3). Continuations: 0 follows two tokens, 1 and 2 one each -> D1 = 2/(2+2*1) = 0.5,
    # P1 = (0.5, 0.25, 0.25). Bigrams (0,1)x2, (1,0), (0,2), (2,0): D2 = 3/(3+2*1) = 0.6.
    # P(1|0) = (2-0.6)/3 + 0.6*2/3*0.25 = 0.56667;  P(0|1) = (1-0.6)/1 + 0.6*1/1*0.5 = 0.7.
    model = KneserNey([0, 1, 0, 2, 0, 1], vocabulary_size=3, order=2)
    assert model.discounts == pytest.approx([0.5, 0.6])
    log_p = model.log_probabilities([0, 1, 0])
    assert np.exp(log_p) == pytest.approx([1.4 / 3 + 0.1, 0.7])
    assert model.nats([0, 1, 0]) == pytest.approx(-(math.log(1.4 / 3 + 0.1) + math.log(0.7)) / 2)
    # the unigram model counts occurrences (3, 2, 1 of 6): D = 1/(1+2) and P(1) = (2-1/3)/6 + 1/3*3/6*1/3 = 1/3
    assert np.exp(KneserNey([0, 1, 0, 2, 0, 1], 3, 1).log_probabilities([2, 1])) == pytest.approx([1 / 3])
    # a trigram model predicts its first target (one token of history) with the bigram
    trigram = KneserNey([0, 1, 0, 2, 0, 1], 3, 3)
    assert trigram.log_probabilities([0, 1])[0] != model.log_probabilities([0, 1])[0]  # continuation-level bigram


def test_add_k_bigram_by_hand():
    # P(1|0) = (c(0 1) + k) / (c(0 .) + k V) = (2 + 1) / (3 + 3) = 0.5
    assert AddK([0, 1, 0, 2, 0, 1], 3, 2, k=1.0).nats([0, 1]) == pytest.approx(math.log(2))


@pytest.mark.parametrize("cls,kwargs", [(KneserNey, {}), (AddK, {"k": 0.1})])
def test_every_context_sums_to_one(cls, kwargs):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 5, 300)
    train[::7] = 4  # some structure, some unseen trigrams
    model = cls(train, 6, 3, **kwargs)  # token 5 never occurs in training
    for history in ([0, 1], [4, 4], [5, 5], [2, 5]):
        p = [math.exp(model.log_probabilities(history + [w])[-1]) for w in range(6)]
        assert sum(p) == pytest.approx(1.0) and min(p) > 0


def test_baselines_on_structured_text_order_as_counting_predicts(tmp_path):
    rng = np.random.default_rng(1)
    words = ["the cat sat", "a dog ran", "my bird sang", "her fish swam"]
    text = "\n".join(" ".join(rng.choice(words, 3)) + "." for _ in range(1500))
    path = tmp_path / "corpus.txt"
    path.write_text(text, encoding="utf-8")
    result = datasets.ngram_baselines("char_lm", path=str(path))
    nats = {name: row["validation"] for name, row in result["models"].items()}
    assert nats["trigram"] < nats["bigram"] < nats["unigram"]
    assert nats["4-gram"] < nats["trigram"]
    assert result["unit"] == "nats per character" and "Kneser-Ney" in result["smoothing"]
    # the unigram is the training distribution's cross-entropy, near the task's chance baseline
    spec = datasets.get_spec("char_lm", path=str(path))
    assert abs(nats["unigram"] - spec.chance_loss) < 0.05
    # cached: the same object for the same corpus
    assert datasets.ngram_baselines("char_lm", path=str(path)) is result
    add_k = datasets.ngram_baselines("char_lm", path=str(path), smoothing="add_k", k=0.5)
    assert add_k["models"]["trigram"]["validation"] > nats["trigram"]  # KN is the stronger baseline here


def test_bad_arguments():
    with pytest.raises(ValueError, match="add-k smoothing needs"):
        datasets.ngram_baselines("char_lm", path="x", smoothing="add_k")
    with pytest.raises(ValueError, match="text task"):
        datasets.ngram_baselines("recall")
    with pytest.raises(ValueError, match="smoothing must be"):
        datasets.ngram_baselines("char_lm", path="x", smoothing="witten_bell")
