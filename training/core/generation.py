"""Sampling text from a language-model run, one token at a time.

At every step the model reads the last `sequence_length` tokens (the window it was trained on) and the
next token is drawn from softmax(logits / temperature) at the last position (the unknown token
excluded); temperature 0 takes the most likely token.
"""

from __future__ import annotations


def generate(run, prompt: str, length: int = 300, temperature: float = 0.8, seed: int = 0) -> str:
    """The prompt followed by `length` sampled tokens, decoded with the run's own vocabulary."""
    import numpy as np
    import tensorflow as tf

    if not isinstance(length, int) or length < 1:
        raise ValueError(f"--length must be a positive integer, got {length!r}.")
    if temperature < 0:
        raise ValueError(f"--temperature must be >= 0, got {temperature!r}.")
    spec = run.spec
    if not spec.language_model:
        raise ValueError(
            f"Run {run.path.name} was trained on {spec.name!r}, which is not a language model; generate needs a char_lm or word_lm run."
        )
    ids = spec.encode(prompt) if prompt else []
    if not ids:
        ids = [int(np.random.default_rng(seed).integers(spec.vocabulary_size))]
    window = spec.sequence_length
    rng = np.random.default_rng(seed)

    @tf.function(reduce_retracing=True)
    def last_logits(tokens):
        return run.model(tokens, training=False)[:, -1, :]

    out = list(ids)
    for _ in range(length):
        context = np.asarray(out[-window:], dtype="int32")[None, :]
        logits = last_logits(tf.constant(context)).numpy()[0].astype("float64")
        if spec.unknown_token_id is not None:
            logits[spec.unknown_token_id] = -np.inf  # never write "<unk>": it stands for no token at all
        if temperature == 0:
            nxt = int(np.argmax(logits))
        else:
            z = logits / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
        out.append(nxt)
    prompt_text = spec.decode(ids)
    continuation = spec.decode(out[len(ids):])
    sep = spec.token_separator if prompt_text and continuation else ""
    return prompt_text + sep + continuation
