"""The training loop: `train` trains, evaluates and saves one run (`python -m training.train` calls it),
with a checkpoint of the last completed epoch for `--resume`, history.csv, and the gradient
instruments attached.

    from training.core.loop import train
    from training.core.config import RunConfig
    result = train(RunConfig(model="lstm", task="recall", task_params={"gap": 50}, epochs=5))
"""

from __future__ import annotations

import csv
import datetime
import pathlib
import shutil
import sys
import tempfile
import time

import keras

from training.core import checkpoint, diagnostics, faults, preflight, rules, runs
from training.core.boundary import UsageError
from training.core.build import (build_model, check_causal_parameters, compile_model, derived_metrics, evaluate_model,
                                 load_data, make_strategy, seed_everything)
from training.core.config import RunConfig
from training.core.export import export_model
from training.core.lock import RunLock
from training.core.versions import versions


class RunError(UsageError):
    """A mistake the user can fix, or what the operating system refused during a run; the command's
    boundary (`training.core.boundary`) prints it as one sentence and exits with status 2."""


class EpochRecorder(keras.callbacks.Callback):
    """Derived metrics and throughput into the epoch logs; history.csv and a checkpoint of the last
    completed epoch (model with optimizer state + the history so far) written atomically."""

    def __init__(self, run_dir, spec, config: RunConfig, history_rows: list, tokens_per_step: int, instruments=()):
        super().__init__()
        self.run_dir = pathlib.Path(run_dir)
        self.spec = spec
        self.config = config
        self.rows = history_rows
        self.tokens_per_step = tokens_per_step
        self.instruments = list(instruments)  # their get_state() goes into the checkpoint
        self._start = None
        self._last_batch_end = None
        self._steps = 0
        self.first_step_seconds = None  # this process's first training step: tracing (and XLA compiling) + 1 step

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._last_batch_end = time.perf_counter()
        self._steps += 1
        if self.first_step_seconds is None:
            self.first_step_seconds = self._last_batch_end - self._start
        faults.point("train_step")

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
            states = {type(cb).__name__: cb.get_state() for cb in self.instruments if hasattr(cb, "get_state")}
            checkpoint.save_checkpoint(
                self.model, self.run_dir, epoch=epoch + 1, step=int(self.model.optimizer.iterations.numpy()),
                history=self.rows, extra={"instruments": states},
            )


class PhaseClock:
    """Where a run's wall time went, in seconds of this process (`metadata.json` "seconds").

    Phases: "start" (checks, seeding), "data" (the task's datasets), "build" (model and optimizer), "setup" (instruments, theory,
    first files), "first_step" (the first training step: tracing, XLA compiling, one step), "steps" (every
    other training step, with the per-step callbacks), "fit_other" (the rest of `fit`: validation, the
    epoch-end checkpoints and instruments), "evaluate" (test pass, examples, hidden norm, baselines) and
    "save" (the final model); "fixed" is everything but "steps": what a run costs however short it is.
    """

    def __init__(self, start: float):
        self.start = self.last = start
        self.seconds: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """The time since the last lap goes to `name`."""
        now = time.perf_counter()
        self.seconds[name] = self.seconds.get(name, 0.0) + now - self.last
        self.last = now

    def split_fit(self, first_step: float | None, epoch_train_seconds: float) -> None:
        """Split "fit" into the first step, the other steps and the rest (validation, epoch ends)."""
        fit = self.seconds.pop("fit", 0.0)
        first = min(first_step or 0.0, fit)
        steps = min(max(epoch_train_seconds - first, 0.0), fit - first)
        self.seconds.update(first_step=first, steps=steps, fit_other=max(fit - first - steps, 0.0))

    def phases(self) -> dict:
        out = {k: round(v, 3) for k, v in self.seconds.items()}
        out["wall"] = round(time.perf_counter() - self.start, 3)
        out["fixed"] = round(out["wall"] - out.get("steps", 0.0), 3)
        return out


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


def train(config: RunConfig, *, root=None, resume: str | None = None, dry_run: bool = False, verbose: int = 1,
          export: bool = False, callbacks=(), traced_models=None, eval_data=None) -> dict:
    """Train, evaluate and save one run; returns its metadata (with `run_dir`).

    `traced_models` (a `training.core.reuse.TracedModels`, sweep workers pass one) lets a new run train a
    model of the same architecture that an earlier run of this process has already traced, set to this
    run's initial weights (the same numbers, without tracing again); `eval_data` (a
    `training.core.reuse.EvalSplits`, sweep workers pass one too) gives it the validation and test sets an
    earlier run of the same task built (the same examples, without building their pipelines again).

    `resume` (a run name or folder) continues a run from its last checkpoint after any death (Ctrl-C,
    kill -9, out of memory, power loss, an OS error) with the settings in its config.json, and gives
    the records of an uninterrupted run (see docs/training.md, "Crashes and resume").
    """
    config.validate()
    if resume is not None and not str(resume).strip():
        raise RunError("resume needs a run name or a run folder, got an empty string.")
    lock = None
    run_dir = None
    try:
        if resume:
            run_dir = runs.resolve_run_dir(resume, root)
            preflight.check_folder(run_dir, "the run folder")
            lock = RunLock(run_dir).acquire()
            runs.remove_temporary_files(run_dir)
            config = RunConfig.from_dict(runs.read_json(run_dir / "config.json"), source=str(run_dir / "config.json")).validate()
        elif not dry_run:
            folder = preflight.check_folder(root or runs.SAVED_MODELS, "the --saved-models folder", flag="--saved-models")
            if config.run_name:
                preflight.check_name_length(folder, config.run_name)
            preflight.check_free_space(folder, preflight.SMALL_FILES_BYTES)
        return _train(config, run_dir=run_dir, lock=lock, root=root, dry_run=dry_run, verbose=verbose,
                      export=export, callbacks=callbacks, traced_models=traced_models, eval_data=eval_data)
    finally:
        if lock is not None:
            lock.release()


def _os_error_sentence(error, run_dir=None) -> str:
    """One sentence for what the operating system or the allocator refused; an OSError that names no file
    (a write through a file descriptor on a full disk) names the run's folder."""
    import tensorflow as tf

    if isinstance(error, OSError) and not error.filename and run_dir is not None:
        error = OSError(error.errno, error.strerror, str(run_dir))

    disk = preflight.disk_full_from_tensorflow(error)  # TensorBoard's events on a full disk
    if disk is not None:
        return preflight.os_error_sentence(disk, flag="--saved-models")
    if isinstance(error, (MemoryError, tf.errors.ResourceExhaustedError)):
        return "Out of memory while training; choose fewer units, layers or a smaller batch size."
    return preflight.os_error_sentence(error, flag="--saved-models")


def _train(config, *, run_dir, lock, root, dry_run, verbose, export, callbacks, traced_models=None,
           eval_data=None) -> dict:
    import tensorflow as tf

    started = datetime.datetime.now().astimezone()
    start_time = time.perf_counter()
    resume = run_dir is not None
    initial_epoch, history_rows, state, previous, before = 0, [], None, {}, {}
    if resume:
        previous = runs.read_metadata(run_dir)
        before = runs.run_state(run_dir, previous)  # we hold the lock: "killed" for a dead owner's "running"
        if before["status"] == "finished":
            raise RunError(f"Run {run_dir.name} already completed its {config.epochs} epochs; nothing to resume.")
        if before["status"] == "diverged":
            raise RunError(f"Run {run_dir.name} diverged at step {before['step']}; a resume would diverge again.")
        state = checkpoint.read_state(run_dir)
        if state is not None:
            initial_epoch, history_rows = int(state["epoch"]), list(state["history"])

    _check_model_fits_task(config)
    _check_memory(config)
    seed_everything(config.seed)
    strategy = make_strategy(config.strategy)
    clock = PhaseClock(start_time)
    clock.lap("start")
    data, spec = load_data(config, cache=eval_data)
    _check_validation_steps(config, data)
    if config.task_params != spec.params:
        config.task_params = dict(spec.params)  # record every parameter with its default filled in
    clock.lap("data")

    try:
        with strategy.scope():
            if state is not None:
                model = checkpoint.load_model(run_dir, state)
                units = previous.get("units")
            else:
                model, units = build_model(config, spec)
                compile_model(model, spec, config)
                if traced_models is not None and config.strategy == "default" and not dry_run:
                    model = traced_models.adopt(model, inputs=data["train"].element_spec)
    except (MemoryError, tf.errors.ResourceExhaustedError) as e:
        raise RunError(_os_error_sentence(e)) from None
    clock.lap("build")

    if dry_run:
        run_dir = pathlib.Path(tempfile.mkdtemp(prefix="rnn-zoo-dry-run-"))
    else:
        target = run_dir if resume else pathlib.Path(root or runs.SAVED_MODELS)
        preflight.check_free_space(target, preflight.run_bytes_needed(int(model.count_params()), config.total_steps))
        if not resume:
            run_dir = runs.new_run_dir(config, root)
            lock = RunLock(run_dir).acquire()

    metadata = {}
    try:
        tokens_per_step = config.batch_size * spec.sequence_length
        grad_callbacks = gradient_callbacks(config, run_dir, spec, data, resume=resume, eval_data=eval_data)
        recorder = EpochRecorder(run_dir, spec, config, history_rows, tokens_per_step, instruments=grad_callbacks)
        if state is not None:
            for callback in grad_callbacks:
                saved = state.get("instruments", {}).get(type(callback).__name__)
                if saved is not None and hasattr(callback, "set_state"):
                    callback.set_state(saved)
        guard = diagnostics.NonFiniteGuard()  # NaN/Inf loss or weights: diverged, recorded gradients or not
        curve = None
        if config.curve_every and not dry_run:
            curve = diagnostics.LearningCurve(
                _taken(eval_data, data["validation"], ("curve", config.curve_examples, config.batch_size),
                       lambda: diagnostics.curve_batches(data["validation"], config.curve_examples, config.batch_size)),
                spec.output, config.curve_every, config.total_steps)
        all_callbacks = [*grad_callbacks, guard, *([curve] if curve else []), recorder, *callbacks]
        if not dry_run and config.tensorboard:
            all_callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "tensorboard"), write_graph=False))
        theory = _theory(model, data, config, eval_data) if config.theory and not resume else None
        at_cue = None if resume or dry_run else _cue_gradient(model, data, config, eval_data)
        cue_init = at_cue() if at_cue is not None else None

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
            "started": previous.get("started", started.isoformat(timespec="seconds")),
            "parameters": int(model.count_params()),
            "units": units,
            "versions": versions(),
            "command": previous.get("command", _command_line()),
            "chance": {"loss": spec.chance_loss, "accuracy": spec.chance_accuracy},
        }
        if resume:
            metadata["resumes"] = previous.get("resumes", []) + [{
                "at": started.isoformat(timespec="seconds"),
                "step": int(model.optimizer.iterations.numpy()) if state is not None else 0,
                "previous_status": before["status"],
                "previous_step": previous.get("steps_completed", before["checkpoint_step"]),
                "command": _command_line(),
            }]
        if not dry_run:
            runs.write_json(run_dir / "metadata.json", metadata)
            if resume:
                # The model.keras of an earlier ending (an interrupted part) no longer matches the run.
                (run_dir / "model.keras").unlink(missing_ok=True)
                if state is None:
                    _start_over(run_dir)

        train_ds = data["train"]
        if train_ds.cardinality() != tf.data.INFINITE_CARDINALITY:
            train_ds = train_ds.repeat()
        if initial_epoch:
            train_ds = train_ds.skip(initial_epoch * config.steps_per_epoch)  # the batches an uninterrupted run would see next
        epochs, steps = (1, 1) if dry_run else (config.epochs, config.steps_per_epoch)
        status = "finished"
        clock.lap("setup")
        epochs_before = len(history_rows)
        try:
            if dry_run or initial_epoch < config.epochs:
                model.fit(
                    train_ds,
                    epochs=epochs,
                    initial_epoch=0 if dry_run else initial_epoch,
                    steps_per_epoch=steps,
                    # validation_steps 0: no pass at the epoch ends (the learning curve measures validation)
                    validation_data=None if config.validation_steps == 0 and not dry_run else data["validation"],
                    validation_steps=1 if dry_run else config.validation_steps,
                    shuffle=False,
                    callbacks=all_callbacks,
                    verbose=verbose,
                )
            # else: killed after its last checkpoint: only the test evaluation and the final save are left
        except KeyboardInterrupt:
            status = "interrupted"
        divergence = next((cb for cb in [*grad_callbacks, guard] if getattr(cb, "diverged", False)), None)
        if divergence is not None:
            status = "diverged"
        clock.lap("fit")
        clock.split_fit(recorder.first_step_seconds,
                        sum(r.get("epoch_train_seconds", 0.0) for r in history_rows[epochs_before:]))

        metadata.update(
            status=status,
            finished=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            wall_seconds=time.perf_counter() - start_time,  # of this process (see "resumes" for the others)
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
        if theory is not None:
            metadata["theory"] = theory
            final_theory = (_final_theory(model, data, config, theory, eval_data) if status == "finished"
                            else None)
            if final_theory is not None:
                metadata["theory_final"] = final_theory
        if cue_init is not None:
            metadata["gradient_at_cue"] = _cue_record(cue_init, at_cue() if status == "finished" else None)
        metadata.update(_measurements(config, spec, model, grad_callbacks, curve, history_rows, run_dir, status,
                                      eval_data))
        clock.lap("evaluate")
        save_final_model(model, run_dir)
        if export:
            metadata["export"] = str(export_model(model, run_dir / "export"))
        clock.lap("save")
        metadata["seconds"] = clock.phases()
        runs.write_json(run_dir / "metadata.json", metadata)
        return {**metadata, "run_dir": str(run_dir)}
    except (OSError, MemoryError, tf.errors.ResourceExhaustedError) as e:
        sentence = _os_error_sentence(e, None if dry_run else run_dir)
        _record_failure(run_dir, metadata, sentence, dry_run)
        if not resume and not dry_run:
            _remove_if_empty(run_dir)
        raise RunError(sentence) from None
    except BaseException as e:
        if not isinstance(e, (KeyboardInterrupt, SystemExit)):
            _record_failure(run_dir, metadata, f"{type(e).__name__}: {e}", dry_run)
        raise
    finally:
        if dry_run:
            shutil.rmtree(run_dir, ignore_errors=True)
        elif lock is not None and not resume:
            lock.release()  # a resumed run's lock is released by train()


def save_final_model(model, run_dir) -> None:
    """<run>/model.keras. A run that ends on an epoch end has just written that model to its checkpoint
    (`EpochRecorder`; evaluating since changed no weight): the file is copied, not serialized again (a Keras
    save of the model and its optimizer, 0.03-0.1 s of every sweep run's fixed cost). Any other ending (an
    interrupted or diverged run, an optimizer that swaps in averaged weights at the end) saves the model."""
    run_dir = pathlib.Path(run_dir)
    kept = None if getattr(model.optimizer, "use_ema", False) else checkpoint.model_file_at(
        run_dir, int(model.optimizer.iterations.numpy()))
    if kept is None:
        runs.save_model(model, run_dir / "model.keras", fault_point="final_save")
        return
    with runs.atomic_path(run_dir / "model.keras", fault_point="final_save") as tmp:
        shutil.copyfile(kept, tmp)


def _record_failure(run_dir, metadata, sentence, dry_run) -> None:
    """status "failed" with the sentence, so that the folder says what happened (best effort: on a
    full disk even this may not be written, and the run then reads as killed)."""
    if dry_run or not metadata:
        return
    try:
        runs.write_json(run_dir / "metadata.json", {**metadata, "status": "failed", "error": sentence,
                                                    "failed": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    except OSError:
        pass


def _remove_if_empty(run_dir) -> None:
    """A new run that failed before it wrote anything (out of memory while setting up) leaves no folder."""
    run_dir = pathlib.Path(run_dir)
    try:
        kept = [p for p in run_dir.iterdir() if p.name != "run.lock" and not p.name.startswith(runs.TEMPORARY_PREFIX)]
        if not kept:
            shutil.rmtree(run_dir, ignore_errors=True)
    except OSError:
        pass


def _start_over(run_dir) -> None:
    """A resumed run that died before its first checkpoint starts again at step 0 in its folder."""
    from training.instruments import GRADIENT_SUMMARY_JSON, STEP_GRADIENTS_CSV, THROUGH_TIME_CSV, THROUGH_TIME_NPZ

    for name in ("history.csv", STEP_GRADIENTS_CSV, GRADIENT_SUMMARY_JSON, THROUGH_TIME_CSV, THROUGH_TIME_NPZ):
        (pathlib.Path(run_dir) / name).unlink(missing_ok=True)


def _check_memory(config: RunConfig) -> None:
    """Refuse, before anything is allocated, a model too wide for this machine's memory. Only wide
    models are estimated (three small builds); below 1024 units the recurrent weights are small."""
    if config.param_budget is not None:
        preflight.check_config_memory(config)
        return
    if config.units < 1024:
        return
    import datasets

    task = datasets.get_task(config.task)
    spec_args = {"vocabulary_size": 256, "output": "per_step", "num_classes": 256, "causal": task.causal}
    kwargs = {**spec_args, "num_layers": config.num_layers, "dropout": config.dropout, "units": config.units}
    kwargs.update(config.model_params)
    try:
        parameters = preflight.estimate_parameters(config.model, **kwargs)
    except (TypeError, ValueError):
        return  # the real build says what is wrong
    preflight.check_memory(parameters, what=f"This {config.model} with {config.units:,} units")


def _check_activation_memory(config: RunConfig, task, params: dict) -> None:
    """Refuse, before any data is made and before the run folder exists, a sequence so long that one
    batch's activations cannot be held for backpropagation through time (`--task-param gap=100000000`)."""
    length = task.sequence_length(params)
    if not length:
        return
    width = config.units if config.param_budget is None else 64  # a budget's width is not known yet: a floor
    floats = config.num_layers * 8 * width + (config.embedding_dim or width)
    given = ", ".join(f"{k}={v}" for k, v in params.items() if k in config.task_params)
    preflight.check_activation_memory(config.batch_size, int(length), floats,
                                      what=f"{config.task} with {given or 'its default parameters'}")


def _check_validation_steps(config: RunConfig, data) -> None:
    if not config.validation_steps:  # the whole split, or none
        return
    batches = int(data["validation"].cardinality())
    if batches >= 0 and config.validation_steps > batches:
        raise RunError(
            f"The validation split has only {batches} batches of {config.batch_size}; give --validation-steps "
            f"{batches} or fewer, or leave it out to use the whole split."
        )


def _taken(eval_data, dataset, key, make):
    """`make()`, or what an earlier run of this process took from the same kept dataset (`EvalSplits.taken`)."""
    return make() if eval_data is None else eval_data.taken(dataset, key, make)


def _theory(model, data, config, eval_data=None, when: str = "initialisation") -> dict | None:
    """zoo.dynamics on the first 8 examples of the probe batch at the model's current weights (None
    without a unidirectional recurrent layer).

    `predicted_decay` is the rate the theory predicts for ||dL_T/dx_t|| at long lags: the spectral radius
    of the per-step Jacobian for a nonlinear recurrence; for a diagonal linear one (minGRU, minLSTM, the
    LRU) the unit that forgets slowest (`decay_slowest_decades_per_step`: the per-unit log-mean of the
    retention, -log10 max|lambda| for the LRU), since the product of diagonal Jacobians keeps each unit
    apart and the slowest one carries the norm back. `bound_decay` is the spectral-norm bound."""
    from zoo.dynamics import recurrent_jacobian_theory

    inputs = _taken(eval_data, data["validation"], ("theory", 8),
                    lambda: next(iter(data["validation"].unbatch().batch(8).take(1)))[0].numpy())
    result = recurrent_jacobian_theory(model, inputs)
    if result is None:
        return None
    diagonal = "decay_slowest_decades_per_step" in result
    out = {
        "jacobian_spectral_norm": result["spectral_norm"],
        "jacobian_spectral_radius": result["spectral_radius"],
        "predicted_decay": result["decay_slowest_decades_per_step" if diagonal else "decay_radius_decades_per_step"],
        "bound_decay": result["decay_norm_decades_per_step"],
        "where": f"first recurrent layer at {when}, per-step Jacobian d s_t / d s_(t-1) along 8 validation "
                 "examples (geometric means; decades per step, positive = vanishing)"
                 + ("; a diagonal linear recurrence: predicted_decay is its slowest unit's log-mean retention"
                    if diagonal else ""),
    }
    if diagonal:
        out["retention_mean"] = result["retention_mean"]
    return out


def _final_theory(model, data, config, theory, eval_data=None) -> dict | None:
    """The theory again after training, for a diagonal linear recurrence only (its retention is one
    forward pass of the gates, or |lambda| itself: the learned rate, cheap); a nonlinear recurrence's
    Jacobians are not taken twice (None)."""
    if theory is None or "retention_mean" not in theory:
        return None
    return _theory(model, data, config, eval_data, when="the end of training")


def _has_cue(task_name: str) -> bool:
    """Whether the task scores one step and says which inputs decide its answer (`cloze_positions`)."""
    import datasets

    return hasattr(datasets.get_task(task_name), "cloze_positions")


def _cue_gradient(model, data, config, eval_data=None):
    """For a task that declares `cloze_positions` (future_cloze, mouse_cloze) and a run that records the
    gradient through time: a function measuring the gradient at the cue (`training.instruments.at_answer`)
    on the first `probe_size` validation examples at the model's current weights; None otherwise."""
    if not config.through_time or not _has_cue(config.task):
        return None
    import datasets
    from training.instruments import AnswerGradient
    from training.instruments.memo import memo

    task = datasets.get_task(config.task)
    inputs, targets, weights = _taken(eval_data, data["validation"], ("probe with weights", config.probe_size),
                                      lambda: tuple(t.numpy() for t in next(iter(
                                          data["validation"].unbatch().batch(config.probe_size).take(1)))[:3]))
    blank, cue = task.cloze_positions(inputs, task.resolve(dict(config.task_params)))
    # one trace per model: a later run of the bundle that reuses this traced model reuses it too
    measure = memo(model, "at_answer", lambda: AnswerGradient(model))
    return lambda: measure(inputs, targets, weights, blank, cue)


def _cue_record(init: dict, final: dict | None) -> dict:
    """metadata `gradient_at_cue`: the measurement at initialisation and, for a finished run, after training."""
    out = {"probe": "embedding", "examples": init["examples"], "decades": init["decades"], "ratio": init["ratio"],
           "no_path_examples": init["no_path_examples"], "offsets": init["offsets"], "profile": init["profile"],
           "cue_offsets": init["cue_offsets"]}
    if final is not None:
        out.update(decades_final=final["decades"], ratio_final=final["ratio"],
                   no_path_examples_final=final["no_path_examples"], profile_final=final["profile"])
    return out


def _measurements(config, spec, model, grad_callbacks, curve, history_rows, run_dir, status, eval_data=None) -> dict:
    """Test metrics from a per-example pass (and its file), the learning curve, the gradient that
    reached the first step at initialisation, the hidden-state norm, the degenerate verdict and, for
    language models, the n-gram baselines (see training.core.diagnostics and training.core.rules)."""
    import numpy as np

    from training.instruments import GradientRecorder, GradientThroughTime

    out = {}
    tt = next((cb for cb in grad_callbacks if isinstance(cb, GradientThroughTime)), None)
    if tt is not None and tt.steps and tt.steps[0] == 0 and "embedding" in tt.profiles:
        from training.instruments import summarize_profile

        profile = np.asarray(tt.profiles["embedding"][0], np.float64)
        if profile[-1] > 0:
            out["gradient_at_key"] = {
                "decades": float(np.log10(max(profile[0], 1e-300) / profile[-1])),
                "decay_decades_per_step": summarize_profile(profile)["decay_decades_per_step"],
                "probe": "embedding", "when": "initialisation", "first_step": 1,
            }
    if curve is not None and curve.rows:
        write_history(pathlib.Path(run_dir) / diagnostics.CURVE_CSV, curve.rows)
        out["learning_curve"] = {"file": diagnostics.CURVE_CSV, "points": len(curve.rows),
                                 "examples": config.curve_examples, "every": config.curve_every}
        verdict = diagnostics.still_falling([r["step"] for r in curve.rows], [r["val_loss"] for r in curve.rows])
        if verdict is not None:
            out["convergence"] = verdict
    recorder = next((cb for cb in grad_callbacks if isinstance(cb, GradientRecorder)), None)
    zero_from = None
    if recorder is not None and recorder.records:
        zero_from = rules.zero_gradient_from([r["step"] for r in recorder.records],
                                             [r.get("grad_norm", np.nan) for r in recorder.records])
        out["zero_gradient_from_step"] = zero_from
    if status == "diverged":
        out["test"] = None  # the weights are not finite: there is nothing to evaluate
        return out
    if status == "interrupted":
        return out
    test_ds = load_data(config, splits=("test",), spec=spec, cache=eval_data)[0]["test"]
    result = diagnostics.evaluate_examples(model, test_ds.unbatch().batch(256), spec.output,
                                           predict=curve.predict_function() if curve is not None else None)
    out["test"] = derived_metrics(result["metrics"], spec)
    out["test_examples"] = diagnostics.write_examples(pathlib.Path(run_dir) / diagnostics.EXAMPLES_NPZ, result)
    forced = _forced_test_sentences(config)
    if forced:  # a cloze made of the article's sentences: what the model answers to them
        out["article_answers"] = diagnostics.article_answers(
            curve.predict_function() if curve is not None else model, spec, test_ds.unbatch().batch(forced), forced)
    first = next(iter(test_ds.unbatch().batch(256).take(1)))[0].numpy()
    hidden = diagnostics.hidden_state_norms(model, first)
    out["hidden_state_norm"] = hidden
    last_loss = final_training_loss(recorder, curve, history_rows, config)
    out["degenerate"] = diagnostics.degenerate(out["test"], spec.chance_loss, last_loss, hidden, zero_from,
                                               config.total_steps)
    if spec.language_model:
        out["baselines"] = _baselines(config)
    return out


def _forced_test_sentences(config) -> int:
    """How many sentences the task puts at the head of its test split (the article's own; 0 for most)."""
    import datasets

    task = datasets.get_task(config.task)
    if not hasattr(task, "forced_test"):
        return 0
    params = task.resolve(config.task_params)
    return min(len(task.forced_test(params)), int(params.get("eval_size") or 0))


FINAL_LOSS_STEPS = 10


def final_training_loss(recorder, curve, history_rows, config) -> float | None:
    """The training loss at the end of a run: the median of the last `FINAL_LOSS_STEPS` recorded step losses,
    else the mean step loss of the learning curve's last interval, else the last epoch's mean when the run
    had several epochs. Never a one-epoch run's epoch mean: that averages the whole run, so one early
    explosion (an IRNN's loss of 1e9 at step 20) would stand for the end of a run that recovered."""
    import numpy as np

    losses = [r.get("step_loss") for r in (recorder.records if recorder is not None else [])]
    losses = [float(v) for v in losses if v is not None]
    if losses:
        last = np.asarray(losses[-FINAL_LOSS_STEPS:], np.float64)
        return float(np.median(last)) if np.all(np.isfinite(last)) else float("inf")
    if curve is not None and curve.rows and curve.rows[-1].get("loss") is not None:
        return float(curve.rows[-1]["loss"])
    if config.epochs > 1 and history_rows:
        return history_rows[-1].get("loss")
    return None


def _baselines(config) -> dict | None:
    """The n-gram baselines of a text task ({"unigram": test nats, ..., "validation": {...}, "method"})."""
    import datasets

    try:
        result = datasets.ngram_baselines(config.task, **config.task_params)
    except (ValueError, OSError) as error:
        return {"error": str(error)}
    models = result["models"]
    key = {"4-gram": "4gram"}
    out = {key.get(name, name): row["test"] for name, row in models.items()}
    out["validation"] = {key.get(name, name): row["validation"] for name, row in models.items()}
    out["method"] = result["smoothing"]
    out["unit"] = result["unit"]
    return out


def _check_model_fits_task(config: RunConfig) -> None:
    """Unknown model or task, a future-reading model on a next-token task, or a truncated BPTT that
    cannot work (a model without a recurrent state, tbptt not below the sequence length): refused
    before any data is read (a corpus can take a while to prepare)."""
    import datasets
    import zoo

    zoo.get_model_info(config.model)
    task = datasets.get_task(config.task)
    params = task.resolve(dict(config.task_params))
    _check_activation_memory(config, task, params)
    check_causal_parameters(config.model, config.task, task.causal, config.model_params)
    zoo.check_causality(config.model, {**config.model_params, "causal": task.causal})
    if config.tbptt is not None:
        zoo.check_truncation(config.model, {"tbptt": config.tbptt, "sequence_length": task.sequence_length(params)})


def _command_line():
    """The command as the user can rerun it (`python -m training.train ...`), or None from Python."""
    import shlex

    if not sys.argv or not sys.argv[0].endswith(("train.py", "train")):
        return None
    return "python -m training.train " + shlex.join(sys.argv[1:])


def gradient_callbacks(config, run_dir, spec, data, resume: bool = False, eval_data=None) -> list:
    """The step-gradient recorder and the gradient-through-time probe for this run.

    The probe batch is the first `probe_size` examples of the validation split: fixed, and the same
    for every model trained on the task with these parameters.
    """
    from training.instruments import GradientRecorder, GradientThroughTime

    callbacks = []
    board = {} if config.tensorboard else {"tensorboard_dir": ""}  # "": no TensorBoard (None: the default folder)
    if config.record_gradients:
        callbacks.append(
            GradientRecorder(run_dir=run_dir, every_n_steps=config.gradient_every, per_variable=config.per_variable,
                             resume=resume, **board)
        )
    if not config.through_time or _has_cue(config.task):
        # a cloze task's loss is read at the blank, not the last step: its gradient is the one at the cue
        # (`_cue_gradient`, metadata `gradient_at_cue`), not ||dL_T/dx_t||
        return callbacks
    inputs, targets = _taken(eval_data, data["validation"], ("probe", config.probe_size), lambda: tuple(
        t.numpy() for t in next(iter(data["validation"].unbatch().batch(config.probe_size).take(1)))[:2]))
    every_steps = config.through_time_every or None
    callbacks.append(
        GradientThroughTime(inputs, targets, run_dir=run_dir, every_n_steps=every_steps,
                            every_n_epochs=None if every_steps else 1, resume=resume, **board)
    )
    return callbacks


def evaluate_run(run, root=None, split="test"):
    """Re-evaluate a saved run on `split` using only what its folder holds (model, config, task spec
    with vocabulary); returns (metrics, the loaded `Run`)."""
    loaded = runs.load_run(run, root, load_model=False)
    loaded.load_model()  # the model matching the run's state; `loaded.note` says which when not the final one
    seed_everything(loaded.config.seed)
    config = loaded.config
    if (loaded.path / "vocabulary.json").is_file():
        # Encode the text with the run's own vocabulary, whatever the corpus's vocabulary is today.
        config.task_params = {**config.task_params, "vocabulary_path": str(loaded.path / "vocabulary.json")}
    data, _ = load_data(config, splits=(split,), spec=loaded.spec)
    return evaluate_model(loaded.model, data[split], loaded.spec), loaded
