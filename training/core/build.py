"""Building one run from its RunConfig: seeding, the task's data, the zoo model, the optimizer, Keras's
losses and metrics, the distribution strategy, and exact evaluation.

The model is built from the task's spec (vocabulary, output kind, classes, causal or not), so no
architecture or task gets a special path. Metrics are exact over tokens: Keras's weighted Mean metrics
accumulate sum(weight * value) / sum(weight) over every token of the split, and bits per character and
perplexity are derived from that mean negative log-likelihood (nats).
"""

from __future__ import annotations

import json
import math

from training.core.config import RunConfig
from training.core.rules import LN2


def seed_everything(seed: int) -> None:
    """Same config and seed on CPU -> the same history, bit for bit."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def load_data(config: RunConfig, batch_size: int | None = None, splits=("train", "validation"), spec=None,
              cache=None):
    """The task's datasets for `splits` and its spec (the saved spec's vocabulary when given); `cache` (a
    `training.core.reuse.EvalSplits`, sweep workers pass one) gives the validation and test sets an earlier
    run of this process built for the same task and parameters."""
    import datasets

    batch_size = batch_size or config.batch_size
    params = dict(config.task_params)
    out = {}
    for split in splits:
        def make(split=split):
            return datasets.load_task(config.task, split=split, batch_size=batch_size, seed=config.seed, **params)

        if cache is None:
            ds, task_spec = make()
        else:  # keyed by the parameters with their defaults filled in: one entry however they were given
            resolved = datasets.get_task(config.task).resolve(params)
            ds, task_spec = cache.get(config.task, resolved, split, batch_size, make)
        out[split] = ds
        spec = spec or task_spec
    return out, spec


def model_arguments(config: RunConfig, spec) -> dict:
    kwargs = {**spec.model_kwargs(), "num_layers": config.num_layers, "dropout": config.dropout}
    if config.embedding_dim is not None:
        kwargs["embedding_dim"] = config.embedding_dim
    if config.tbptt is not None:
        kwargs["tbptt"] = config.tbptt
    if config.param_budget is None:
        kwargs["units"] = config.units
    kwargs.update(config.model_params)
    return kwargs


def build_model(config: RunConfig, spec):
    """The zoo model for this config and task; returns (model, units actually used)."""
    import zoo

    check_causal_parameters(config.model, config.task, spec.causal, config.model_params)
    kwargs = model_arguments(config, spec)
    if config.param_budget is not None:
        kwargs["units"], _ = zoo.fit_param_budget(config.model, config.param_budget, **kwargs)
    return zoo.build_model(config.model, **kwargs), kwargs["units"]


def check_causal_parameters(model: str, task: str, next_token: bool, model_params: dict) -> None:
    """The task's `causal` reaches the builder first and the model parameters override it
    (`build.model_arguments`): a `causal=false` among them would build a model that reads the token it
    must predict. Decided on the merged arguments, so no combination gets past the guard."""
    if next_token and "causal" in model_params and model_params["causal"] is not True:
        raise ValueError(
            f"--model-param causal={json.dumps(model_params['causal'], default=str)} would let {model} read the future, and "
            f"{task} is a next-token task: at step t the model would see the token it must predict; drop "
            "causal from the model parameters (the task sets it) or choose a task whose target is not the next token."
        )


def make_optimizer(config: RunConfig):
    import keras

    clip = {k: getattr(config, k) for k in ("clipnorm", "global_clipnorm", "clipvalue") if getattr(config, k) is not None}
    lr = config.learning_rate
    if config.optimizer == "adam":
        return keras.optimizers.Adam(lr, **clip)
    if config.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, **clip)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(lr, momentum=config.momentum, **clip)
    return keras.optimizers.RMSprop(lr, momentum=config.momentum, **clip)


def compile_model(model, spec, config: RunConfig) -> None:
    """Keras's own losses and metrics only, so the saved model reloads with plain load_model.

    `weighted_metrics` receive the sample weights (future_cloze counts only its blank), and their
    running means are exact token averages over the split.
    """
    import keras

    if spec.output == "last_value":
        loss = keras.losses.MeanSquaredError()
        metrics = [keras.metrics.MeanSquaredError(name="mse")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="nll"),
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        ]
    model.compile(optimizer=make_optimizer(config), loss=loss, weighted_metrics=metrics)


def derived_metrics(logs: dict, spec) -> dict:
    """Add bits per character/token and perplexity from the exact mean NLL, for each prefix."""
    out = dict(logs)
    for prefix in ("", "val_", "test_"):
        nll = logs.get(prefix + "nll")
        if nll is None:
            continue
        nll = float(nll)
        if "bits_per_char" in spec.metrics:
            out[prefix + "bits_per_char"] = nll / LN2
        if "perplexity" in spec.metrics:
            out[prefix + "perplexity"] = math.exp(nll) if nll < 700 else float("inf")
    return out


def make_strategy(name: str):
    import tensorflow as tf

    if name == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()  # NCCL all-reduce between GPUs
        # Only CPU devices: reduce on one device. TensorFlow's default for CPUs, collective ops, keys
        # its collectives per process, and a second strategy in the same process (a test suite, a
        # comparison sweep) can mix up their shapes ("Shape mismatch in the collective instance").
        return tf.distribute.MirroredStrategy(cross_device_ops=tf.distribute.ReductionToOneDevice())
    return tf.distribute.get_strategy()


def evaluate_model(model, dataset, spec) -> dict:
    """Exact metrics over every token of `dataset`, with `test_` names left to the caller."""
    result = model.evaluate(dataset, return_dict=True, verbose=0)
    return derived_metrics({k: float(v) for k, v in result.items()}, spec)
