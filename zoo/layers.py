"""The two small layers Keras lacks for the zoo's contract. Both are registered serializable, so a
saved model loads with plain `keras.models.load_model` after `import zoo`, in safe mode."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding of the position 0 .. time-1 to each token embedding.

    Self-attention is blind to order by itself; this is how it learns where a token stands (learned
    positions as in GPT-2). Sequences longer than `max_length` are refused when called.

    Args:
        max_length: the longest sequence the model will see.
        initializer: initializer of the (max_length, dim) position table.
    """

    def __init__(self, max_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.max_length = max_length
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.positions = self.add_weight(
            name="positions", shape=(self.max_length, input_shape[-1]), initializer=self.initializer
        )

    def call(self, inputs):
        time = ops.shape(inputs)[1]
        return inputs + ops.expand_dims(self.positions[:time], 0)  # (batch, time, dim)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "max_length": self.max_length,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package="zoo")
class LastStep(keras.layers.Layer):
    """(batch, time, features) -> (batch, features): the features at the last time step."""

    def call(self, inputs):
        return inputs[:, -1, :]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
