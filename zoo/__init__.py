"""rnn-zoo's model builders behind one registry.

    import zoo
    model = zoo.build_model("lstm", vocabulary_size=65, output="per_step", causal=True, units=128)

Every builder returns a plain functional `keras.Model`: int32 token ids (batch, time) in; logits
(batch, time, classes) for `output="per_step"`, (batch, classes) for `"last_class"`, (batch, 1) for
`"last_value"`. `zoo.get_model_info(name)` tells what reports need to know about a model (`display`,
`family`, `gate_bias`, ...); `zoo.dynamics` gives the Jacobian theory of a recurrent one. Importing `zoo`
registers its custom layers and initializers, so saved models load with plain `keras.models.load_model`
in safe mode.
"""

from zoo.registry import (  # noqa: F401
    COMMON_ARGS,
    FAMILIES,
    CommonArgs,
    GateBias,
    LAST_CLASS,
    LAST_VALUE,
    OUTPUT_KINDS,
    PER_STEP,
    build_model,
    check_causality,
    check_truncation,
    fit_param_budget,
    architectures,
    get_model_info,
    list_models,
    register_model,
    register_variant,
    validate_arguments,
)
from zoo.initializers import RECURRENT_INITIALIZERS  # noqa: F401
from zoo.layers import LastStep, PositionEmbedding  # noqa: F401
from zoo import bptt  # noqa: F401  (the written-out recurrent layers, registered for loading)
from zoo import tbptt  # noqa: F401  (the truncated-BPTT layers, registered for loading)

# One import line per architecture: importing the module registers its builder.
from zoo import simple_rnn, irnn, lstm, gru  # noqa: E402,F401
from zoo import bidirectional_simple_rnn, bidirectional_lstm, bidirectional_gru  # noqa: E402,F401
from zoo import self_attention  # noqa: E402,F401
from zoo import min_gru, min_lstm, lru, bidirectional_min_gru, bidirectional_min_lstm, bidirectional_lru  # noqa: E402,F401
