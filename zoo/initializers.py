"""Initializers that decide who wins a comparison of recurrent networks.

The recurrent kernel U sets how a perturbation of h_{t-1} reaches h_t: through time the gradient is a
product of Jacobians diag(f'(.)) U, so its size scales roughly like (gain * f')^lag. A gain below 1
makes gradients vanish, a gain above 1 makes them explode (Pascanu, Mikolov & Bengio, 2013).

Gate biases decide how much a gated cell remembers at the start of training: the LSTM forget gate
(Gers et al., 2000; Jozefowicz et al., 2015 recommend a bias of 1, which Keras uses) and the GRU update
gate. Chrono initialization (Tallec & Ollivier, 2018) draws the forget bias as log U(1, T_max - 1), so the
cells start with memory time scales spread up to the longest dependency T_max.

Keras's defaults are kept unless an argument asks otherwise: an orthogonal recurrent kernel (one
orthogonal matrix across all gates), LSTM forget bias 1, GRU biases 0.
"""

from __future__ import annotations

import math

import keras
from keras import ops

# Named recurrent initializers. Each applies per gate block: the (units, gates * units) recurrent
# kernel of an LSTM (4 gates) or GRU (3 gates) is filled block by block, so `gain` has the same meaning
# for every cell: the scale of each gate's own units x units recurrent matrix.
RECURRENT_INITIALIZERS = ("orthogonal", "identity", "glorot_uniform", "normal")


def _block_initializer(name: str, gain: float, units: int) -> keras.initializers.Initializer:
    if name == "orthogonal":
        return keras.initializers.Orthogonal(gain=gain)
    if name == "identity":
        return keras.initializers.Identity(gain=gain)
    if name == "glorot_uniform":
        # Glorot & Bengio (2010) on a square block: U(-l, l), l = sqrt(3 / units), spectral radius ~ 1.
        return keras.initializers.VarianceScaling(scale=gain**2, mode="fan_avg", distribution="uniform")
    if name == "normal":
        # N(0, gain^2 / units): by the circular law the spectral radius is close to `gain`.
        return keras.initializers.RandomNormal(stddev=gain / math.sqrt(units))
    raise ValueError(f"recurrent_initializer must be one of {', '.join(RECURRENT_INITIALIZERS)} or None, got {name!r}.")


def check_recurrent_arguments(recurrent_initializer, recurrent_gain):
    if recurrent_initializer is not None and recurrent_initializer not in RECURRENT_INITIALIZERS:
        raise ValueError(
            f"recurrent_initializer must be one of {', '.join(RECURRENT_INITIALIZERS)} or None (Keras's default), "
            f"got {recurrent_initializer!r}."
        )
    if isinstance(recurrent_gain, bool) or not isinstance(recurrent_gain, (int, float)) or not recurrent_gain > 0:
        raise ValueError(f"recurrent_gain must be a positive number, got {recurrent_gain!r}.")


def recurrent_initializer(name: str | None, gain: float = 1.0, gates: int = 1):
    """The recurrent-kernel initializer for a cell with `gates` gate blocks.

    Args:
        name: one of `RECURRENT_INITIALIZERS`, or None for Keras's default (orthogonal over the whole
            kernel), which `gain` then scales.
        gain: multiplies the initial recurrent matrix.
        gates: 1 for SimpleRNN, 3 for GRU, 4 for LSTM.

    Returns:
        A Keras initializer, or the string "orthogonal" (Keras's default) when nothing changes.
    """
    check_recurrent_arguments(name, gain)
    if name is None:
        return "orthogonal" if gain == 1.0 else keras.initializers.Orthogonal(gain=float(gain))
    return PerGate(name=name, gain=float(gain), gates=gates)


@keras.saving.register_keras_serializable(package="zoo")
class PerGate(keras.initializers.Initializer):
    """Fills a (units, gates * units) recurrent kernel with one independently drawn block per gate.

    Args:
        name: one of `RECURRENT_INITIALIZERS`.
        gain: scale of each block.
        gates: number of gate blocks side by side.
    """

    def __init__(self, name="orthogonal", gain=1.0, gates=1):
        self.name = name
        self.gain = gain
        self.gates = gates

    def __call__(self, shape, dtype=None):
        units, width = shape
        if width != self.gates * units:
            raise ValueError(f"PerGate expects a ({units}, {self.gates * units}) kernel, got {tuple(shape)}.")
        # An unseeded Keras 3 initializer fixes its seed when it is created (drawn from the global seed
        # that keras.utils.set_random_seed sets), so each block gets an initializer of its own.
        blocks = [_block_initializer(self.name, self.gain, units)((units, units), dtype=dtype) for _ in range(self.gates)]
        return ops.concatenate(blocks, axis=1)

    def get_config(self):
        return {"name": self.name, "gain": self.gain, "gates": self.gates}


def check_gate_bias(argument: str, value, chrono_max_length):
    if value == "chrono":
        if chrono_max_length is None or chrono_max_length < 3:
            raise ValueError(
                f"{argument}='chrono' draws biases as log U(1, T_max - 1): pass sequence_length (or "
                f"chrono_max_length) >= 3 as T_max, got {chrono_max_length!r}."
            )
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{argument} must be a finite number or 'chrono', got {value!r}.")


@keras.saving.register_keras_serializable(package="zoo")
class GateBias(keras.initializers.Initializer):
    """Bias of a gated cell with one gate set to a constant or to chrono initialization.

    Keras lays LSTM biases out as [input, forget, cell, output] and GRU biases as [update, reset, new]
    (with `reset_after=True` a GRU has two rows: input-side and recurrent-side biases; only the first row
    is set). Chrono (Tallec & Ollivier, 2018) draws the gate bias as log U(1, T_max - 1) and, for the
    LSTM, sets the input-gate bias to its negative.

    Args:
        gates: number of gate blocks (4 for LSTM, 3 for GRU).
        gate: index of the gate to set (1 = LSTM forget gate, 0 = GRU update gate).
        value: the constant bias, or "chrono".
        chrono_max_length: T_max for chrono.
        negate_gate: index of a gate that gets the negated chrono bias (0 = LSTM input gate), or None.
    """

    def __init__(self, gates=4, gate=1, value=1.0, chrono_max_length=None, negate_gate=None):
        self.gates = gates
        self.gate = gate
        self.value = value
        self.chrono_max_length = chrono_max_length
        self.negate_gate = negate_gate

    def __call__(self, shape, dtype=None):
        dtype = dtype or "float32"
        shape = tuple(shape)
        width = shape[-1]
        units = width // self.gates
        if self.value == "chrono":
            t_max = float(self.chrono_max_length)
            gate_bias = ops.log(keras.random.uniform((units,), minval=1.0, maxval=t_max - 1.0, dtype=dtype))
        else:
            gate_bias = ops.full((units,), float(self.value), dtype=dtype)
        blocks = [ops.zeros((units,), dtype=dtype) for _ in range(self.gates)]
        blocks[self.gate] = gate_bias
        if self.value == "chrono" and self.negate_gate is not None:
            blocks[self.negate_gate] = -gate_bias
        row = ops.concatenate(blocks)
        if len(shape) == 1:
            return row
        rest = ops.zeros((shape[0] - 1, width), dtype=dtype)  # GRU reset_after: recurrent-side row stays 0
        return ops.concatenate([row[None, :], rest], axis=0)

    def get_config(self):
        return {
            "gates": self.gates,
            "gate": self.gate,
            "value": self.value,
            "chrono_max_length": self.chrono_max_length,
            "negate_gate": self.negate_gate,
        }
