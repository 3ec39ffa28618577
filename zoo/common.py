"""Pieces every builder shares: the token embedding, the output head, and the recurrent stack.

    tokens (batch, time) int32
      -> Embedding "embedding"             (batch, time, embedding_dim)
      -> [Dropout]
      -> recurrent layer 1 .. num_layers   (batch, time, units) / (batch, 2*units) if Bidirectional
         (the last one returns only its final state when the output is read at the last step)
      -> [Dropout between layers and after the last]
      -> Dense "head"                      (batch, time, classes) | (batch, classes) | (batch, 1)

Dropout is applied to the connections between layers, never to the recurrent connection (Zaremba,
Sutskever & Vinyals, 2014), which keeps Keras's fast fused kernels usable.
"""

from __future__ import annotations

import keras

from zoo.initializers import GateBias, check_gate_bias, recurrent_initializer
from zoo.registry import LAST_VALUE, PER_STEP


def resolve_num_classes(output: str, num_classes: int | None, vocabulary_size: int) -> int:
    """Width of the head: the given `num_classes`, else the vocabulary for classes and 1 for a value."""
    if output == LAST_VALUE:
        return 1
    return vocabulary_size if num_classes is None else num_classes


def token_input() -> keras.KerasTensor:
    return keras.Input(shape=(None,), dtype="int32", name="tokens")


def embed(tokens, vocabulary_size: int, embedding_dim: int, dropout: float):
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(tokens)  # (batch, time, emb)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    return x


def head(x, output: str, num_classes: int):
    """Logits for `per_step` and `last_class` (no softmax: losses use from_logits=True), a number for
    `last_value`. `x` is (batch, time, features) for per_step and (batch, features) otherwise."""
    return keras.layers.Dense(num_classes, name="head")(x)


def recurrent_stack(
    *,
    layer_fn,
    layer_name: str,
    vocabulary_size: int,
    output: str,
    num_classes: int | None,
    units: int,
    num_layers: int,
    dropout: float,
    embedding_dim: int | None,
    bidirectional: bool,
    model_name: str,
) -> keras.Model:
    """Assemble embedding -> `num_layers` recurrent layers -> head as a functional model.

    Args:
        layer_fn: `layer_fn(return_sequences, name)` returns one Keras recurrent layer.
        layer_name: prefix of the recurrent layers' names (`lstm` gives `lstm_1`, `lstm_2`, ...).
        bidirectional: wrap every layer in `keras.layers.Bidirectional` (outputs concatenated).
    """
    tokens = token_input()
    x = embed(tokens, vocabulary_size, embedding_dim or units, dropout)
    for i in range(1, num_layers + 1):
        # Only a per-step head needs every state of the last layer. For a label read at the end, the
        # last layer returns its final state; for a Bidirectional layer that is the forward state after
        # the whole sequence joined with the backward state after the whole sequence read backwards.
        return_sequences = i < num_layers or output == PER_STEP
        layer = layer_fn(return_sequences=return_sequences, name=f"{layer_name}_{i}")
        if bidirectional:
            layer = keras.layers.Bidirectional(layer, name=f"bidirectional_{layer_name}_{i}")
        x = layer(x)  # (batch, time, units) or (batch, units); doubled features if bidirectional
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = head(x, output, resolve_num_classes(output, num_classes, vocabulary_size))
    return keras.Model(tokens, outputs, name=model_name)


def gated_stack(*, layer_cls, layer_name, gates, gate, bias_argument, keras_bias, keras_bias_kwargs=None,
                custom_bias_kwargs=None, negate_gate=None, bidirectional, model_name, **kwargs):
    """A stack of LSTM or GRU layers with their initialization arguments resolved (shared by the four
    gated builders).

    Args:
        layer_cls: `keras.layers.LSTM` or `keras.layers.GRU`.
        gates: gate blocks in the kernels (4 or 3); `gate`: the index of the gate whose bias is set.
        bias_argument: the builder argument holding that bias ("forget_bias" / "update_bias").
        keras_bias: Keras's own value of that bias; with it, `keras_bias_kwargs` (Keras's exact
            default) are passed instead of a custom initializer.
        custom_bias_kwargs: layer arguments that go with a custom bias initializer.
        negate_gate: gate that gets the negated chrono bias (the LSTM's input gate), or None.
    """
    init = recurrent_initializer(kwargs.pop("recurrent_initializer"), kwargs.pop("recurrent_gain"), gates=gates)
    value = kwargs.pop(bias_argument)
    sequence_length = kwargs.pop("sequence_length")
    t_max = kwargs.pop("chrono_max_length") or sequence_length
    kwargs.pop("causal")
    check_gate_bias(bias_argument, value, t_max)
    if value == keras_bias:
        bias = dict(keras_bias_kwargs or {})
    else:
        bias = {
            **(custom_bias_kwargs or {}),
            "bias_initializer": GateBias(
                gates=gates, gate=gate, value=value, chrono_max_length=t_max, negate_gate=negate_gate
            ),
        }
    units = kwargs["units"]

    def layer_fn(return_sequences, name):
        return layer_cls(units, recurrent_initializer=init, return_sequences=return_sequences, name=name, **bias)

    return recurrent_stack(
        layer_fn=layer_fn, layer_name=layer_name, bidirectional=bidirectional, model_name=model_name, **kwargs
    )
