"""`RunConfig`: one dataclass holds everything that re-creates a run — the model and its
hyperparameters, the task and its parameters, the training settings and the seed. argparse fills it,
a JSON file can stand in for the flags (flags override the file), and it is saved as `config.json` next
to `model.keras` (as nanoGPT keeps its config in every checkpoint and timm dumps `args.yaml`).

Every default lives here: RunConfig's fields for `training.train`, `GRID_DEFAULTS` for a grid of
`training.compare`. The commands' flags are generated from the fields (`training.core.flags`, help from
the docstring's Args below). Standard library only: `--help` needs no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
MOMENTUM_OPTIMIZERS = ("sgd", "rmsprop")  # the ones that take RunConfig.momentum
STRATEGIES = ("default", "mirrored")
CHOICES = {"optimizer": OPTIMIZERS, "strategy": STRATEGIES}  # checked by RunConfig.validate, shown by --help

# What a grid of `python -m training.compare --models ... --tasks ...` (or a --grid file) trains with
# unless told otherwise: smaller and faster than a single `training.train` run (RunConfig's defaults).
# `steps` is the whole budget (epochs x steps_per_epoch). A grid validates at the end of every epoch on
# the whole split (validation_steps None), as `training.train` does. Shown by `compare --help` and in
# docs/results.md.
# The deepest stack a run may ask for: Keras builds layer by layer in Python, and a stack of thousands
# takes minutes before the first step (the zoo's deepest experiments use 8).
MAX_LAYERS = 64

GRID_DEFAULTS = {"units": 32, "batch_size": 32, "steps": 200, "epochs": 1, "learning_rate": 3e-3,
                 "validation_steps": None}


@dataclasses.dataclass
class RunConfig:
    """Args:
        model: zoo registry key (`python -m training.train --list` names them).
        task: datasets registry key.
        task_params: the task's parameters, e.g. gap=50, path=my_corpus.txt or manual_dir=DIR.
        model_params: builder arguments beyond the shared ones, e.g. forget_bias=3 or
            recurrent_initializer=glorot_uniform.
        units: hidden size (model width for self_attention).
        num_layers: stacked recurrent layers.
        dropout: dropout between layers.
        embedding_dim: token embedding size (default: units).
        param_budget: choose units so the model has about this many parameters (units is then ignored).
        optimizer: the optimizer.
        learning_rate: the optimizer's learning rate.
        momentum: momentum of sgd and rmsprop.
        clipnorm: clip each gradient tensor to this norm (Keras's clipnorm; not with global_clipnorm).
        global_clipnorm: clip the global norm of all gradients together to this.
        clipvalue: clip every gradient entry to [-v, v].
        tbptt: truncated backpropagation through time: cut the gradient of the recurrent state every N
            steps of each training sequence (recurrent models; N below the sequence length; docs/bptt.md);
            default: full BPTT.
        batch_size: global batch size (split across replicas under a strategy).
        epochs: evaluations on the validation split; the budget is epochs x steps_per_epoch steps.
        steps_per_epoch: training steps per epoch.
        validation_steps: batches of the validation split per evaluation (default: the whole split; 0: no
            validation pass at the epoch ends, for runs whose learning curve measures validation).
        seed: seeds Python, NumPy, TensorFlow and Keras (data, initialization, dropout); op determinism is
            enabled.
        record_gradients: record step-gradient norms (global before/after clipping, per layer).
        gradient_every: record every N-th step.
        per_variable: also record the norm of every variable.
        through_time_every: record the gradient-through-time profile every N steps (0: at the start
            and after every epoch).
        probe_size: examples in the fixed probe batch of the through-time profile.
        through_time: record the gradient-through-time profile at all.
        curve_every: a learning-curve point (validation loss and accuracy on curve_examples fixed
            examples, curve.csv) before training and every N steps; 0: none.
        curve_examples: validation examples behind each curve point.
        theory: compute the recurrent Jacobian's spectral norm and radius at initialisation
            (zoo.dynamics) into metadata.json's theory.
        tensorboard: write TensorBoard logs.
        strategy: default, or mirrored (tf.distribute.MirroredStrategy over all local devices).
        run_name: folder under saved_models/ (default: chosen for you).
    """

    model: str = "lstm"
    task: str = "char_lm"
    task_params: dict = dataclasses.field(default_factory=dict)
    model_params: dict = dataclasses.field(default_factory=dict)
    units: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    embedding_dim: int | None = None
    param_budget: int | None = None
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.0
    clipnorm: float | None = None
    global_clipnorm: float | None = None
    clipvalue: float | None = None
    tbptt: int | None = None
    batch_size: int = 64
    epochs: int = 5
    steps_per_epoch: int = 100
    validation_steps: int | None = None
    seed: int = 0
    record_gradients: bool = True
    gradient_every: int = 1
    per_variable: bool = False
    through_time_every: int = 0
    probe_size: int = 32
    through_time: bool = True
    curve_every: int = 0
    curve_examples: int = 256
    theory: bool = False
    tensorboard: bool = True
    strategy: str = "default"
    run_name: str | None = None

    def validate(self) -> "RunConfig":
        """One clear ValueError for the first setting that cannot work."""
        from training.core.config_types import check_types

        check_types(type(self), self.to_dict(), source="Settings")
        positive_ints = ("num_layers", "batch_size", "epochs", "steps_per_epoch", "gradient_every", "probe_size")
        for name in positive_ints + (("units",) if self.param_budget is None else ()):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.validation_steps is not None and (isinstance(self.validation_steps, bool) or
                                                  not isinstance(self.validation_steps, int) or self.validation_steps < 0):
            raise ValueError(f"validation_steps must be an integer >= 0 or left out, got {self.validation_steps!r}.")
        for name in ("param_budget", "embedding_dim", "tbptt"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or left out, got {value!r}.")
        if self.num_layers > MAX_LAYERS:
            raise ValueError(f"num_layers must be at most {MAX_LAYERS}, got {self.num_layers:,} (a deeper stack takes "
                             "minutes to build before training starts).")
        if isinstance(self.curve_every, bool) or not isinstance(self.curve_every, int) or self.curve_every < 0:
            raise ValueError(f"curve_every must be an integer >= 0, got {self.curve_every!r}.")
        if isinstance(self.curve_examples, bool) or not isinstance(self.curve_examples, int) or self.curve_examples < 1:
            raise ValueError(f"curve_examples must be a positive integer (the validation examples behind each "
                             f"learning-curve point), got {self.curve_examples!r}.")
        if not isinstance(self.through_time_every, int) or self.through_time_every < 0:
            raise ValueError(f"through_time_every must be an integer >= 0, got {self.through_time_every!r}.")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}.")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}.")
        if not isinstance(self.momentum, (int, float)) or isinstance(self.momentum, bool) or \
                not math.isfinite(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be a number in [0, 1), got {self.momentum!r}.")
        if self.momentum and self.optimizer not in MOMENTUM_OPTIMIZERS:
            raise ValueError(f"momentum applies to {' and '.join(MOMENTUM_OPTIMIZERS)} only; {self.optimizer} keeps its "
                             "own moment estimates: drop momentum or choose --optimizer sgd.")
        if not _positive_number(self.learning_rate):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")
        for name in ("clipnorm", "global_clipnorm", "clipvalue"):
            value = getattr(self, name)
            if value is not None and not _positive_number(value):
                raise ValueError(f"{name} must be a positive number or left out, got {value!r}.")
        if self.clipnorm is not None and self.global_clipnorm is not None:
            raise ValueError("Give clipnorm (per variable) or global_clipnorm (all variables together), not both.")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {self.dropout!r}.")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}.")
        for name in ("task_params", "model_params"):
            if not isinstance(getattr(self, name), dict):
                raise ValueError(f"{name} must be a JSON object (a dict), got {getattr(self, name)!r}.")
        if self.run_name is not None:
            from training.core.runs import check_run_name

            check_run_name(self.run_name)
        return self

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, data: dict, source: str = "config") -> "RunConfig":
        if not isinstance(data, dict):
            raise ValueError(f"{source} must hold a JSON object of settings, got {type(data).__name__}.")
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(
                f"{source} names unknown setting(s) {', '.join(unknown)}; known: {', '.join(cls.field_names())}."
            )
        from training.core.config_types import check_types

        check_types(cls, data, source=source)
        return cls(**data)

    @classmethod
    def from_json_file(cls, path) -> "RunConfig":
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ValueError(f"Config file {path} does not exist.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"Config file {path} is not valid JSON ({e}); fix it or pass flags instead.") from None
        return cls.from_dict(data, source=f"Config file {path}")


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
