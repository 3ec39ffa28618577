"""Pieces every builder shares: the token embedding, the output head, and the recurrent stack.

    tokens (batch, time) int32
      -> Embedding "embedding"             (batch, time, embedding_dim)
      -> [Dropout]
      -> recurrent layer 1 .. num_layers   (batch, time, units) / (batch, 2*units) if Bidirectional
         (the last one returns only its final state when the output is read at the last step)
      -> [Dropout between layers and after the last]
      -> Dense "head"                      (batch, time, classes) | (batch, classes) | (batch, 1)

Dropout is applied to the connections between layers, never to the recurrent connection (Zaremba,
Sutskever & Vinyals, 2014), which keeps Keras's fast fused kernels usable. With `tbptt` every recurrent
layer is swapped for its truncating twin (`zoo.tbptt`; zoo.scan's layers are re-created with their own
`tbptt` argument), which cuts the gradient of its state every `tbptt` steps.
"""

from __future__ import annotations

from typing import Callable

import keras

from zoo import tbptt
from zoo.layers import LastStep
from zoo.registry import LAST_VALUE, OUTPUT_KINDS, PER_STEP, CommonArgs


def resolve_num_classes(output: str, num_classes: int | None, vocabulary_size: int) -> int:
    """Width of the head: the given `num_classes`, else the vocabulary for classes and 1 for a value."""
    return CommonArgs(vocabulary_size, output=output, num_classes=num_classes).classes


def token_input() -> keras.KerasTensor:
    return keras.Input(shape=(None,), dtype="int32", name="tokens")


def embed(tokens, vocabulary_size: int, embedding_dim: int, dropout: float):
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(tokens)  # (batch, time, emb)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    return x


def head(x, output: str, num_classes: int | None = None):
    """The output for `output`: logits for "per_step" and "last_class" (no softmax: losses use
    from_logits=True), one number for "last_value".

    Args:
        x: (batch, time, features) for "per_step"; for "last_class" / "last_value" either the features
            at the last step (batch, features), or (batch, time, features), whose last step is then read
            (a `LastStep` layer named "last_step").
        output: one of `OUTPUT_KINDS`.
        num_classes: logits per prediction for the class outputs (required there); for "last_value"
            None or 1.

    Returns:
        A Dense "head": (batch, time, num_classes), (batch, num_classes) or (batch, 1).
    """
    if output not in OUTPUT_KINDS:
        raise ValueError(f"output must be one of {', '.join(OUTPUT_KINDS)}, got {output!r}.")
    if output == PER_STEP and len(x.shape) != 3:
        raise ValueError(f"A per_step head needs the features of every step (batch, time, features), got {x.shape}.")
    if output == LAST_VALUE:
        if num_classes not in (None, 1):
            raise ValueError(f"output='last_value' predicts one number: num_classes must be 1 or None, got {num_classes}.")
        num_classes = 1
    elif num_classes is None:
        raise ValueError(f"A {output} head needs num_classes (logits per prediction).")
    if output != PER_STEP and len(x.shape) == 3:
        x = LastStep(name="last_step")(x)  # (batch, features)
    return keras.layers.Dense(num_classes, name="head")(x)


def recurrent_stack(common: CommonArgs, layer_fn: Callable[..., keras.layers.Layer], *, layer_name: str,
                    model_name: str, bidirectional: bool = False) -> keras.Model:
    """Assemble embedding -> `common.num_layers` recurrent layers -> head as a functional model.

    Args:
        common: the shared arguments (sizes, output kind, dropout).
        layer_fn: `layer_fn(return_sequences=..., name=...)` returns one recurrent layer.
        layer_name: prefix of the recurrent layers' names (`lstm` gives `lstm_1`, `lstm_2`, ...).
        model_name: the `keras.Model`'s name.
        bidirectional: wrap every layer in `keras.layers.Bidirectional` (outputs concatenated).
    """
    tokens = token_input()
    x = embed(tokens, common.vocabulary_size, common.embedding_size, common.dropout)
    for i in range(1, common.num_layers + 1):
        # Only a per-step head needs every state of the last layer. For a label read at the end, the
        # last layer returns its final state; for a Bidirectional layer that is the forward state after
        # the whole sequence joined with the backward state after the whole sequence read backwards.
        return_sequences = i < common.num_layers or common.output == PER_STEP
        layer = layer_fn(return_sequences=return_sequences, name=f"{layer_name}_{i}")
        if common.tbptt is not None:
            layer = tbptt.truncated(layer, common.tbptt)  # same config; the gradient cut every tbptt steps
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{layer_name}_{i}")
        x = layer(x)  # (batch, time, units) or (batch, units); doubled features if bidirectional
        if common.dropout:
            x = keras.layers.Dropout(common.dropout, name=f"dropout_{i}")(x)
    outputs = head(x, common.output, common.classes)
    return keras.Model(tokens, outputs, name=model_name)
