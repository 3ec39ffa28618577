"""`python -m training.train`: train one zoo model on one task and save the run.

    python -m training.train --model lstm --task recall --task-param gap=50 --epochs 5
    python -m training.train --config my_run.json --learning-rate 3e-3   # flags override the file
    python -m training.train --resume <run>                              # continue an interrupted run

The model is built from the task's spec (vocabulary, output kind, classes, causal or not), so no
architecture or task gets a special path. Metrics are exact over tokens: Keras's weighted Mean metrics
accumulate sum(weight * value) / sum(weight) over every token of the split, and bits per character and
perplexity are derived from that mean negative log-likelihood (nats).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import pathlib
import platform
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TF C++ logs (cuInit, Grappler) are noise to a user

from training.config import OPTIMIZERS, STRATEGIES, RunConfig  # noqa: E402
from training import runs  # noqa: E402

LN2 = math.log(2.0)


class RunError(Exception):
    """A mistake the user can fix; `main` prints it as one sentence and exits non-zero."""


# --------------------------------------------------------------------------- building blocks


def seed_everything(seed: int) -> None:
    """Same config and seed on CPU -> the same history, bit for bit."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def load_data(config: RunConfig, batch_size: int | None = None, splits=("train", "validation"), spec=None):
    """The task's datasets for `splits` and its spec (the saved spec's vocabulary when given)."""
    import datasets

    batch_size = batch_size or config.batch_size
    params = dict(config.task_params)
    out = {}
    for split in splits:
        ds, task_spec = datasets.load_task(config.task, split=split, batch_size=batch_size, seed=config.seed, **params)
        out[split] = ds
        spec = spec or task_spec
    return out, spec


def model_arguments(config: RunConfig, spec) -> dict:
    kwargs = {**spec.model_kwargs(), "num_layers": config.num_layers, "dropout": config.dropout}
    if config.embedding_dim is not None:
        kwargs["embedding_dim"] = config.embedding_dim
    if config.param_budget is None:
        kwargs["units"] = config.units
    kwargs.update(config.model_params)
    return kwargs


def build_model(config: RunConfig, spec):
    """The zoo model for this config and task; returns (model, units actually used)."""
    import zoo

    kwargs = model_arguments(config, spec)
    if config.param_budget is not None:
        kwargs["units"], _ = zoo.fit_param_budget(config.model, config.param_budget, **kwargs)
    return zoo.build_model(config.model, **kwargs), kwargs["units"]


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


def versions() -> dict:
    import keras
    import numpy
    import tensorflow as tf

    try:
        import tensorflow_datasets as tfds

        tfds_version = tfds.__version__
    except Exception:  # pragma: no cover - tfds is a requirement
        tfds_version = None
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_datasets": tfds_version,
        "numpy": numpy.__version__,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


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


# --------------------------------------------------------------------------- callbacks

import keras  # noqa: E402  (after TF_CPP_MIN_LOG_LEVEL)


class EpochRecorder(keras.callbacks.Callback):
    """Derived metrics and throughput into the epoch logs; history.csv and a checkpoint of the last
    completed epoch (model with optimizer state + the history so far) written atomically."""

    def __init__(self, run_dir, spec, config: RunConfig, history_rows: list, tokens_per_step: int):
        super().__init__()
        self.run_dir = pathlib.Path(run_dir)
        self.spec = spec
        self.config = config
        self.rows = history_rows
        self.tokens_per_step = tokens_per_step
        self._start = None
        self._last_batch_end = None
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch_end = time.perf_counter()
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        train_seconds = (self._last_batch_end or time.perf_counter()) - self._start
        logs.update(derived_metrics(logs, self.spec))
        logs["epoch_train_seconds"] = train_seconds
        logs["tokens_per_second"] = self._steps * self.tokens_per_step / max(train_seconds, 1e-9)
        row = {"epoch": epoch + 1, "step": (epoch + 1) * self.config.steps_per_epoch}
        row.update({k: float(v) for k, v in logs.items() if _is_number(v)})
        self.rows.append(row)
        write_history(self.run_dir / "history.csv", self.rows)
        if not getattr(self.model, "stop_training", False) or epoch + 1 == self.config.epochs:
            save_checkpoint(self.model, self.run_dir, epoch + 1, self.rows)


def _is_number(v) -> bool:
    try:
        float(v)
        return True
    except (TypeError, ValueError):
        return False


def write_history(path, rows: list) -> None:
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    with runs.atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)


def save_checkpoint(model, run_dir, epoch: int, rows: list) -> None:
    """The last completed epoch: the model with its optimizer state, then the state file naming it."""
    ckpt = pathlib.Path(run_dir) / "checkpoint"
    ckpt.mkdir(exist_ok=True)
    runs.save_model(model, ckpt / "model.keras")
    runs.write_json(ckpt / "state.json", {"epoch": epoch, "history": rows})


# --------------------------------------------------------------------------- the run


def train(config: RunConfig, *, root=None, resume: str | None = None, dry_run: bool = False, verbose: int = 1,
          export: bool = False, callbacks=()) -> dict:
    """Train, evaluate and save one run; returns its metadata (with `run_dir`)."""
    import tensorflow as tf

    config.validate()
    started = datetime.datetime.now().astimezone()
    start_time = time.perf_counter()
    initial_epoch, history_rows = 0, []
    if resume:
        run_dir = runs.resolve_run_dir(resume, root)
        config = RunConfig.from_dict(runs.read_json(run_dir / "config.json"), source=str(run_dir / "config.json")).validate()
        state_path = run_dir / "checkpoint" / "state.json"
        if not state_path.is_file():
            raise RunError(f"Run {run_dir.name} has no checkpoint to resume from (it stopped before its first epoch ended).")
        state = runs.read_json(state_path)
        initial_epoch, history_rows = int(state["epoch"]), list(state["history"])
        if initial_epoch >= config.epochs:
            raise RunError(f"Run {run_dir.name} already completed its {config.epochs} epochs; nothing to resume.")

    _check_model_fits_task(config)
    seed_everything(config.seed)
    strategy = make_strategy(config.strategy)
    data, spec = load_data(config)
    if config.task_params != spec.params:
        config.task_params = dict(spec.params)  # record every parameter with its default filled in

    with strategy.scope():
        if resume:
            model = runs.load_model_file(run_dir / "checkpoint" / "model.keras")
            units = runs.read_json(run_dir / "metadata.json").get("units")
        else:
            model, units = build_model(config, spec)
            compile_model(model, spec, config)

    if dry_run:
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix="rnn-zoo-dry-run-"))
    elif not resume:
        run_dir = runs.new_run_dir(config, root)

    try:
        tokens_per_step = config.batch_size * spec.sequence_length
        recorder = EpochRecorder(run_dir, spec, config, history_rows, tokens_per_step)
        grad_callbacks = gradient_callbacks(config, run_dir, spec, data)
        earlier_rows = _keep_earlier_rows(run_dir, ["gradients.csv"], initial_epoch * config.steps_per_epoch) if resume else {}
        all_callbacks = [*grad_callbacks, recorder, *callbacks]
        if not dry_run:
            all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False))

        if not resume and not dry_run:
            runs.write_json(run_dir / "config.json", config.to_dict())
            runs.write_json(run_dir / "task_spec.json", spec.to_dict())
            if spec.language_model:
                from datasets.vocabulary import save_vocabulary

                level = "char" if spec.token_separator == "" else "word"
                save_vocabulary(run_dir / "vocabulary.json", spec.vocabulary, level)
        metadata = {
            "run": run_dir.name,
            "model": config.model,
            "task": config.task,
            "status": "running",
            "started": started.isoformat(timespec="seconds"),
            "parameters": int(model.count_params()),
            "units": units,
            "versions": versions(),
            "command": _command_line(),
            "chance": {"loss": spec.chance_loss, "accuracy": spec.chance_accuracy},
        }
        if not dry_run:
            runs.write_json(run_dir / "metadata.json", metadata)

        train_ds = data["train"]
        if train_ds.cardinality() != tf.data.INFINITE_CARDINALITY:
            train_ds = train_ds.repeat()
        if initial_epoch:
            train_ds = train_ds.skip(initial_epoch * config.steps_per_epoch)  # the batches an uninterrupted run would see next
        epochs, steps = (1, 1) if dry_run else (config.epochs, config.steps_per_epoch)
        status = "finished"
        try:
            model.fit(
                train_ds,
                epochs=epochs,
                initial_epoch=0 if dry_run else initial_epoch,
                steps_per_epoch=steps,
                validation_data=data["validation"],
                validation_steps=1 if dry_run else config.validation_steps,
                shuffle=False,
                callbacks=all_callbacks,
                verbose=verbose,
            )
        except KeyboardInterrupt:
            status = "interrupted"
        if earlier_rows:
            _prepend_rows(run_dir, earlier_rows)
        divergence = next((cb for cb in grad_callbacks if getattr(cb, "diverged", False)), None)
        if divergence is not None:
            status = "diverged"

        metadata.update(
            status=status,
            finished=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            wall_seconds=time.perf_counter() - start_time,
            epochs_completed=len(history_rows),
            steps_completed=int(model.optimizer.iterations.numpy()),
        )
        if divergence is not None:
            metadata["divergence"] = {"step": divergence.diverged_step, "cause": divergence.divergence_cause}
        rates = [r["tokens_per_second"] for r in history_rows if "tokens_per_second" in r]
        if rates:
            metadata["tokens_per_second"] = sorted(rates)[len(rates) // 2]
        if history_rows:
            metadata["final_epoch"] = history_rows[-1]
        if dry_run:
            return {**metadata, "run_dir": None}
        if status == "diverged":
            metadata["test"] = None  # the weights are not finite: there is nothing to evaluate
        elif status != "interrupted":
            test_ds = load_data(config, splits=("test",), spec=spec)[0]["test"]
            metadata["test"] = evaluate_model(model, test_ds, spec)
        runs.save_model(model, run_dir / "model.keras")
        if export:
            metadata["export"] = str(export_model(model, run_dir / "export"))
        runs.write_json(run_dir / "metadata.json", metadata)
        return {**metadata, "run_dir": str(run_dir)}
    finally:
        if dry_run:
            shutil.rmtree(run_dir, ignore_errors=True)


def _check_model_fits_task(config: RunConfig) -> None:
    """Unknown model or task, or a future-reading model on a next-token task: refused before any
    data is read (a corpus can take a while to prepare)."""
    import datasets
    import zoo

    zoo.get_model_info(config.model)
    task = datasets.get_task(config.task)
    task.resolve(dict(config.task_params))
    zoo.check_causality(config.model, {**config.model_params, "causal": task.causal})


def _command_line():
    """The command as the user can rerun it (`python -m training.train ...`), or None from Python."""
    import shlex

    if not sys.argv or not sys.argv[0].endswith(("train.py", "train")):
        return None
    return "python -m training.train " + shlex.join(sys.argv[1:])


def gradient_callbacks(config, run_dir, spec, data) -> list:
    """The step-gradient recorder and the gradient-through-time probe for this run.

    The probe batch is the first `probe_size` examples of the validation split: fixed, and the same
    for every model trained on the task with these parameters.
    """
    from training.gradients import GradientRecorder
    from training.through_time import GradientThroughTime

    callbacks = []
    if config.record_gradients:
        callbacks.append(
            GradientRecorder(run_dir=run_dir, every_n_steps=config.gradient_every, per_variable=config.per_variable)
        )
    batch = next(iter(data["validation"].unbatch().batch(config.probe_size).take(1)))
    inputs, targets = batch[0].numpy(), batch[1].numpy()
    every_steps = config.through_time_every or None
    callbacks.append(
        GradientThroughTime(inputs, targets, run_dir=run_dir, every_n_steps=every_steps, every_n_epochs=None if every_steps else 1)
    )
    return callbacks


def _keep_earlier_rows(run_dir, names, before_step):
    """On resume: the rows that the interrupted part recorded before `before_step`, per CSV file."""
    import pandas as pd

    kept = {}
    for name in names:
        path = pathlib.Path(run_dir) / name
        if path.is_file():
            frame = pd.read_csv(path)
            if "step" in frame:
                kept[name] = frame[frame["step"] < before_step]
    return kept


def _prepend_rows(run_dir, kept):
    import pandas as pd

    for name, earlier in kept.items():
        path = pathlib.Path(run_dir) / name
        later = pd.read_csv(path) if path.is_file() else earlier.iloc[:0]
        with runs.atomic_path(path) as tmp:
            pd.concat([earlier, later], ignore_index=True).to_csv(tmp, index=False)


def evaluate_model(model, dataset, spec) -> dict:
    """Exact metrics over every token of `dataset`, with `test_` names left to the caller."""
    result = model.evaluate(dataset, return_dict=True, verbose=0)
    return derived_metrics({k: float(v) for k, v in result.items()}, spec)


def export_model(model, path) -> pathlib.Path:
    """A TensorFlow SavedModel whose `serve` signature takes int32 ids of any batch size and length."""
    import tensorflow as tf

    path = pathlib.Path(path)
    if path.exists():
        shutil.rmtree(path)
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda tokens: model(tokens, training=False),
        input_signature=[tf.TensorSpec(shape=(None, None), dtype=tf.int32, name="tokens")],
    )
    archive.write_out(str(path), verbose=False)
    return path


# --------------------------------------------------------------------------- command line


def _key_value(text: str):
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        value = json.loads(value)
    except json.JSONDecodeError:
        pass  # a plain string (a corpus path, a TFDS name ...)
    return key.strip(), value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train one rnn-zoo model on one task and save the run under saved_models/.",
        argument_default=argparse.SUPPRESS,  # only flags the user gives override the config file
    )
    g = p.add_argument_group("model")
    g.add_argument("--model", help="zoo registry key (see `python -m training.train --list`)")
    g.add_argument("--units", type=int, help="hidden size (model width for self_attention)")
    g.add_argument("--num-layers", type=int, dest="num_layers", help="stacked layers")
    g.add_argument("--dropout", type=float, help="dropout between layers")
    g.add_argument("--embedding-dim", type=int, dest="embedding_dim", help="token embedding size (default: units)")
    g.add_argument("--param-budget", type=int, dest="param_budget", help="choose units to match this parameter count")
    g.add_argument("--model-param", type=_key_value, action="append", dest="model_params_list", metavar="KEY=VALUE",
                   help="builder argument, e.g. forget_bias=3 or recurrent_initializer=glorot_uniform (repeatable)")
    g = p.add_argument_group("task")
    g.add_argument("--task", help="datasets registry key")
    g.add_argument("--task-param", type=_key_value, action="append", dest="task_params_list", metavar="KEY=VALUE",
                   help="task parameter, e.g. gap=50, path=my_corpus.txt or manual_dir=../shared/corpora/tiny_shakespeare (repeatable)")
    g = p.add_argument_group("training")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help="the optimizer")
    g.add_argument("--learning-rate", type=float, dest="learning_rate", help="learning rate")
    g.add_argument("--momentum", type=float, help="momentum of sgd and rmsprop")
    g.add_argument("--clipnorm", type=float, help="clip each gradient tensor to this norm")
    g.add_argument("--global-clipnorm", type=float, dest="global_clipnorm", help="clip the global gradient norm")
    g.add_argument("--clipvalue", type=float, help="clip every gradient entry to [-v, v]")
    g.add_argument("--batch-size", type=int, dest="batch_size", help="global batch size")
    g.add_argument("--epochs", type=int, help="epochs; the budget is epochs x steps-per-epoch steps")
    g.add_argument("--steps-per-epoch", type=int, dest="steps_per_epoch", help="training steps per epoch")
    g.add_argument("--validation-steps", type=int, dest="validation_steps", help="validation batches per epoch (default: the whole split)")
    g.add_argument("--seed", type=int, help="seeds data, initialization and dropout")
    g.add_argument("--strategy", choices=STRATEGIES, help="mirrored: tf.distribute.MirroredStrategy over local devices")
    g = p.add_argument_group("gradient recording")
    g.add_argument("--no-record-gradients", action="store_false", dest="record_gradients", help="turn step-gradient recording off")
    g.add_argument("--gradient-every", type=int, dest="gradient_every", help="record every N-th step")
    g.add_argument("--per-variable", action="store_true", dest="per_variable", help="also record every variable's norm")
    g.add_argument("--through-time-every", type=int, dest="through_time_every", help="through-time profile every N steps (0: at the start and after every epoch)")
    g.add_argument("--probe-size", type=int, dest="probe_size", help="examples in the through-time probe batch")
    g = p.add_argument_group("run")
    g.add_argument("--config", help="JSON file of settings (flags override it)")
    g.add_argument("--run-name", dest="run_name", help="folder name under saved_models/ (default: chosen for you)")
    g.add_argument("--resume", metavar="RUN", help="continue an interrupted run from its last completed epoch")
    g.add_argument("--dry-run", action="store_true", dest="dry_run", help="build everything and run one step; save nothing")
    g.add_argument("--export", action="store_true", help="also write a TensorFlow SavedModel to <run>/export")
    g.add_argument("--saved-models", dest="root", help="where runs are saved (default: saved_models/ in the checkout)")
    g.add_argument("--list", action="store_true", help="list models and tasks and exit")
    g.add_argument("--quiet", action="store_true", help="no progress bars")
    defaults = RunConfig().to_dict()
    for action in p._actions:  # flags only override, so show the RunConfig default in the help
        if (action.dest in defaults and action.help and defaults[action.dest] is not None
                and "default" not in action.help and not isinstance(action, argparse._StoreFalseAction)):
            action.help += f" (default: {defaults[action.dest]})"
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    values = vars(args).copy()
    base = RunConfig.from_json_file(values.pop("config")).to_dict() if "config" in values else RunConfig().to_dict()
    if "task_params_list" in values:
        base["task_params"] = {**base.get("task_params", {}), **dict(values.pop("task_params_list"))}
    if "model_params_list" in values:
        base["model_params"] = {**base.get("model_params", {}), **dict(values.pop("model_params_list"))}
    for key in RunConfig.field_names():
        if key in values:
            base[key] = values[key]
    return RunConfig.from_dict(base)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if getattr(args, "list", False):
            import datasets
            import zoo

            print("models:", ", ".join(zoo.list_models()))
            print("tasks: ", ", ".join(datasets.list_tasks()))
            return 0
        options = {k: vars(args).pop(k) for k in ("resume", "dry_run", "export", "root", "quiet", "list") if k in vars(args)}
        config = config_from_args(args)
        result = train(
            config,
            root=options.get("root"),
            resume=options.get("resume"),
            dry_run=options.get("dry_run", False),
            export=options.get("export", False),
            verbose=0 if options.get("quiet") else 1,
        )
    except (ValueError, RunError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    _print_summary(result)
    return 0 if result["status"] in ("finished",) else 1


def _print_summary(result: dict) -> None:
    status = result["status"]
    if result.get("run_dir") is None:
        print(f"dry run OK: {result['model']} on {result['task']}, {result['parameters']:,} parameters, one step ran; nothing saved.")
        return
    test = result.get("test") or {}
    shown = ", ".join(f"{k} {v:.4g}" for k, v in test.items() if k in ("nll", "accuracy", "bits_per_char", "perplexity", "mse"))
    where = result["run_dir"]
    if status == "diverged":
        d = result.get("divergence", {})
        print(f"Run diverged at step {d.get('step')} ({d.get('cause')}); saved as diverged in {where}")
    elif status == "interrupted":
        print(f"Run interrupted; continue it with: python -m training.train --resume {pathlib.Path(where).name}")
    else:
        print(f"Saved {result['model']} on {result['task']} to {where} (test: {shown}; "
              f"{result.get('tokens_per_second', 0):,.0f} tokens/s, {result['wall_seconds']:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
