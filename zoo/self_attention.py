"""A small Transformer encoder (Vaswani et al., 2017) as the non-recurrent baseline.

Every position attends directly to every other position it may see, so the path from any token to the
loss is one attention hop long whatever the gap: there is no product of Jacobians through time to
vanish or explode. With the causal mask, position t attends only to positions <= t (a GPT-style language
model); without it, to the whole sequence, which is what lets it fill a blank from later context.

    tokens -> Embedding "embedding" + PositionEmbedding                 (batch, time, units)
      -> num_layers x [ x + MHA(LayerNorm(x)) ; x + FFN(LayerNorm(x)) ]  (pre-norm blocks)
      -> LayerNorm -> head (per step, or the last position)
"""

import keras

from zoo.common import head, token_input
from zoo.layers import PositionEmbedding
from zoo.registry import CommonArgs, register_model

DEFAULT_MAX_LENGTH = 512


def _reads_future(kwargs):
    mask = kwargs.get("use_causal_mask")
    return mask is False or (mask is None and not kwargs.get("causal", False))


@register_model(
    "self_attention",
    display="self-attention",
    family="attention",
    default_bias_words="zero bias",
    recurrent_kernel_words="",
    sees_future=_reads_future,
    initialization="Keras defaults: glorot-uniform projections, learned position embedding",
)
def self_attention(common: CommonArgs, /, *, num_heads=4, ff_multiplier=4, use_causal_mask=None):
    """Self-attention (Vaswani et al., 2017): a small pre-norm Transformer encoder, causal on next-token tasks.

    Args:
        common: the arguments every model takes (`zoo.registry.CommonArgs`): `units` is the model width
            (token and position embeddings, attention output, residual stream); `num_layers` counts
            Transformer blocks; `dropout` applies to embeddings, attention weights and residual branches;
            `embedding_dim` must equal `units` if given (the residual stream has one width);
            `sequence_length` is the longest sequence the model will see (size of the position table),
            512 when not given; "last_class" / "last_value" read the last position; `causal` applies
            the causal mask.
        num_heads: attention heads; each has key size units // num_heads (at least 1).
        ff_multiplier: the feed-forward layer has ff_multiplier * units hidden units.
        use_causal_mask: None follows `causal`; True masks the future on any task; False attends to the
            whole sequence (refused on a next-token task).
    """
    units, dropout, embedding_dim = common.units, common.dropout, common.embedding_dim
    if embedding_dim is not None and embedding_dim != units:
        raise ValueError(f"self_attention has one width: embedding_dim ({embedding_dim}) must equal units ({units}).")
    for arg, value in (("num_heads", num_heads), ("ff_multiplier", ff_multiplier)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{arg} must be an integer >= 1, got {value!r}.")
    mask = common.causal if use_causal_mask is None else bool(use_causal_mask)
    max_length = common.sequence_length or DEFAULT_MAX_LENGTH

    tokens = token_input()
    x = keras.layers.Embedding(common.vocabulary_size, units, name="embedding")(tokens)  # (batch, time, units)
    x = PositionEmbedding(max_length, name="position_embedding")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(1, common.num_layers + 1):
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block_{i}_attention_norm")(x)
        h = keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=max(1, units // num_heads), dropout=dropout, name=f"block_{i}_attention"
        )(h, h, use_causal_mask=mask)  # (batch, time, units)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"block_{i}_attention_dropout")(h)
        x = keras.layers.Add(name=f"block_{i}_attention_residual")([x, h])
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block_{i}_ffn_norm")(x)
        h = keras.layers.Dense(ff_multiplier * units, activation="gelu", name=f"block_{i}_ffn_hidden")(h)
        h = keras.layers.Dense(units, name=f"block_{i}_ffn_output")(h)
        if dropout:
            h = keras.layers.Dropout(dropout, name=f"block_{i}_ffn_dropout")(h)
        x = keras.layers.Add(name=f"block_{i}_ffn_residual")([x, h])
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)  # (batch, time, units)
    outputs = head(x, common.output, common.classes)  # reads the last position unless per_step
    return keras.Model(tokens, outputs, name="self_attention")
