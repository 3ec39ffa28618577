"""Run folders under `saved_models/`: naming, atomic writes, and loading a run back.

    saved_models/<run>/
        config.json       RunConfig: re-creates the run
        task_spec.json    TaskSpec with the vocabulary, so evaluation and generation decode identically
        vocabulary.json   language models: the vocabulary in the datasets package's format
        model.keras       the trained model (plain keras.models.load_model after `import zoo`)
        metadata.json     versions, parameter count, dates, wall time, tokens/s, metrics, status
        history.csv       one row per epoch (training and validation metrics)
        steps.csv         one row per recorded step (loss, gradient norms)
        through_time.npz  the gradient-through-time matrix (checkpoints x time) with its steps
        tensorboard/      event files
        checkpoint/       the last completed epoch, for --resume (see training/core/checkpoint.py)
        run.lock          while a process works in the folder: its pid, host and start time

Every file is written to a temporary name in the same folder (`.tmp-<name>.*`) and renamed into place,
so a process killed at any moment leaves either the old file or the new one, never half of one; the
next process that takes the folder removes such temporary files. They get the permissions of the
umask, like any file the process creates.

A run's state (`run_state`) comes from metadata.json and the lock: a process that died without a
word (kill -9, out of memory, power loss) leaves "running" in metadata.json, and is reported
`killed` because no live process holds the folder. The top-level model.keras exists only for runs
that ended (finished, diverged, interrupted) and is the model of `steps_completed`; otherwise
`load_run` loads the last checkpoint, and says so.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import re
import tempfile
import warnings
import zipfile

SAVED_MODELS = pathlib.Path(__file__).resolve().parents[2] / "saved_models"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_RUN_NAME = 200

REQUIRED_FILES = ("config.json", "task_spec.json")
TEMPORARY_PREFIX = ".tmp-"


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc: read it by setting it (and put it back at once)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix="", fault_point=None):
    """Yield a temporary path beside `path`; on success flush it to disk and rename it onto `path`, on
    error delete it. The file gets the umask's permissions (mkstemp alone would make it 0600)."""
    from training.core import faults

    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{TEMPORARY_PREFIX}{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, 0o666 & ~_umask())
            with open(tmp, "rb") as f:  # on disk before the rename: a power loss leaves old or new, whole
                os.fsync(f.fileno())
        if fault_point:
            faults.point(fault_point)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


STAGING_PREFIX = ".tmp-folder-"  # a folder being built beside its final name (`staged_folder`)
RETIRED_PREFIX = ".old-folder-"  # the folder it replaces, between the two renames


@contextlib.contextmanager
def staged_folder(target):
    """Build a folder under a temporary name beside `target` and put it in place only when complete:

        with staged_folder(sweep / "report") as tmp:
            ...write into tmp...

    On success the old `target` (if any) is renamed aside, the new one renamed onto `target`, the old one
    deleted: a process killed at any moment leaves the old folder or the new one whole (and at worst a
    hidden leftover that `remove_staging_leftovers` deletes), never a half-written one. On error the
    temporary folder is deleted and `target` is untouched."""
    import shutil

    target = pathlib.Path(target)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{target.name}.", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        retired = None
        if target.exists():
            retired = target.with_name(f"{RETIRED_PREFIX}{target.name}.{os.getpid()}")
            os.rename(target, retired)
        os.rename(tmp, target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_staging_leftovers(folder) -> None:
    """Hidden folders a killed `staged_folder` left in `folder`."""
    import shutil

    folder = pathlib.Path(folder)
    if folder.is_dir():
        for prefix in (STAGING_PREFIX, RETIRED_PREFIX):
            for leftover in folder.glob(f"{prefix}*"):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)


def remove_temporary_files(run_dir) -> None:
    """Temporary files a killed process left in the run folder; call only while holding its lock."""
    run_dir = pathlib.Path(run_dir)
    for folder in (run_dir, run_dir / "checkpoint"):
        if folder.is_dir():
            for pattern in (f"{TEMPORARY_PREFIX}*", ".model.keras.*", ".*.json.*", ".history.csv.*"):
                for leftover in folder.glob(pattern):
                    if leftover.is_file():
                        leftover.unlink(missing_ok=True)


def write_json(path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=_json_default), encoding="utf-8")


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_model(model, path, fault_point=None) -> None:
    """`model.save` through a temporary `.keras` file and an atomic rename."""
    with atomic_path(path, suffix=".keras", fault_point=fault_point) as tmp:
        os.remove(tmp)  # Keras refuses to overwrite silently in some versions; give it a fresh name
        model.save(tmp)


def _json_default(obj):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, pathlib.Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def check_run_name(name: str) -> str:
    """A run name is one folder name: letters, digits, '.', '_', '-'; it cannot climb out of saved_models/."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", "..") or ".." in name:
        raise ValueError(
            f"Run name {name!r} is not allowed: use letters, digits, '.', '_' and '-' only (one folder inside saved_models/)."
        )
    if len(name) > MAX_RUN_NAME:
        raise ValueError(f"Run name is {len(name)} characters long; at most {MAX_RUN_NAME} are allowed.")
    return name


def new_run_dir(config, root=None) -> pathlib.Path:
    """Create the run's folder; never reuses an existing one."""
    root = pathlib.Path(root or SAVED_MODELS)
    root.mkdir(parents=True, exist_ok=True)
    if config.run_name:
        name = check_run_name(config.run_name)
        path = root / name
        try:
            path.mkdir()
        except FileExistsError:
            raise ValueError(
                f"A run named {name!r} already exists in {root}; choose another --run-name or continue it with --resume {name}."
            ) from None
        return path
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{config.model}-{config.task}-{stamp}"
    for i in range(1000):
        path = root / (base if i == 0 else f"{base}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"Could not find a free run folder name under {root}.")


def resolve_run_dir(run, root=None) -> pathlib.Path:
    """A run given by name (inside saved_models/) or by path, checked to hold a complete run."""
    root = pathlib.Path(root or SAVED_MODELS)
    candidate = pathlib.Path(run)
    path = candidate if candidate.is_dir() else root / run
    if not path.is_dir():
        raise ValueError(f"No run folder {run!r} (looked in {root} and at that path); list the runs with `ls {root}`.")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ValueError(f"Run folder {path} lacks {', '.join(missing)}; it is not a complete rnn-zoo run.")
    return path


# Keras objects that safe mode would refuse anyway, and objects from outside Keras and rnn-zoo: named
# in one sentence before Keras is asked (its own refusal quotes the whole model config).
_UNSAFE_CLASSES = {"Lambda", "TFSMLayer", "function", "get_file"}
_SAFE_MODULES = ("keras", "zoo", "builtins.dict")


def _unsafe_object(config) -> str | None:
    """The first object of a model's config.json that safe loading must not create, as "module.name"."""
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, name = item.get("module"), item.get("class_name")
            if isinstance(name, str) and "config" in item:
                if name in _UNSAFE_CLASSES or (isinstance(module, str) and not module.startswith(_SAFE_MODULES)):
                    return f"{module}.{name}" if module else name
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _first_line(text: str, limit: int = 160) -> str:
    text = str(text).strip()
    if "Exception encountered:" in text:
        text = text.rsplit("Exception encountered:", 1)[1].strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"  # the first bytes of every HDF5 file


def load_model_file(path):
    """`keras.models.load_model` in safe mode, with one-sentence errors for corrupt or unsafe files."""
    import keras

    import zoo  # noqa: F401  registers the zoo's layers

    path = pathlib.Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:  # renamed, or crafted: a legacy file may hold code
                raise ValueError(
                    f"{path} is an HDF5 file (Keras's legacy .h5 format, which can hold Python code in a Lambda "
                    "layer), not a .keras archive; rnn-zoo loads only .keras files, in safe mode, and will not load it.")
        raise ValueError(f"{path} is not a valid .keras file (corrupt or truncated); retrain or restore it from a copy.")
    unsafe = (
        f"{path} needs unsafe deserialization (it contains Python code, e.g. a Lambda layer); rnn-zoo keeps safe "
        "mode on and will not load it."
    )
    try:
        with zipfile.ZipFile(path) as archive:
            found = _unsafe_object(json.loads(archive.read("config.json")))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError):
        found = None  # Keras says what is wrong below
    if found:
        raise ValueError(
            f"{path} needs unsafe deserialization (it names {found}: Python code, a download or a SavedModel); "
            "rnn-zoo keeps safe mode on and will not load it."
        )
    try:
        return keras.models.load_model(path, safe_mode=True)
    except (MemoryError, OSError):
        raise
    except Exception as e:  # zip members missing, bad h5 weights, bad JSON, what safe mode refused ...
        if _refused_by_safe_mode(e):
            raise ValueError(unsafe) from None
        if isinstance(e, ValueError):
            raise ValueError(f"{path} could not be loaded as a Keras model ({_first_line(e)}).") from None
        raise ValueError(f"{path} is corrupt and could not be loaded ({type(e).__name__}: {_first_line(e)}).") from None


# What Keras says when safe mode refuses an object (a Lambda, a function, a class outside Keras and the
# registered packages): the file asks for code to run, which is not corruption.
_SAFE_MODE_WORDS = ("unsafe", "safe_mode", "lambda", "could not locate", "arbitrary code", "not allowed",
                    "is not a registered")


def _refused_by_safe_mode(error: BaseException) -> bool:
    text = str(error).lower()
    return any(word in text for word in _SAFE_MODE_WORDS)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from None


# --------------------------------------------------------------------------- the state a run is in

ENDED = ("finished", "diverged", "interrupted")  # these runs saved a top-level model.keras
TERMINAL = ENDED + ("failed",)


class IncompleteRunWarning(UserWarning):
    """`load_run` loaded the last checkpoint of a run that did not finish, or an interrupted run."""


# The fields of metadata.json that readers format or compute with, and the JSON kinds they must have.
METADATA_FIELDS = {"run": str, "model": str, "task": str, "status": str, "error": str | None,
                   "parameters": int, "units": int | None, "epochs_completed": int, "steps_completed": int,
                   "wall_seconds": float, "tokens_per_second": float, "test": dict | None, "divergence": dict | None,
                   "final_epoch": dict, "resumes": list, "chance": dict}


def read_metadata(path) -> dict:
    """metadata.json of a run folder ({} when there is none), its fields checked: a hand-edited field of the
    wrong kind is named in one sentence instead of breaking a reader later."""
    from training.core.config_types import check_value

    path = pathlib.Path(path) / "metadata.json"
    data = read_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a run's metadata (a JSON object); restore it from a copy.")
    for name, kind in METADATA_FIELDS.items():
        problem = check_value(name, kind, data[name]) if name in data else None
        if problem is None and name == "test" and data.get("test"):
            bad = next((k for k, v in data["test"].items()
                        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)))), None)
            if bad is not None:
                problem = check_value(f"test.{bad}", float | None, data["test"][bad])
        if problem:
            raise ValueError(f"{path}: {problem} Fix the field or restore the file from a copy.")
    return data


def run_state(path, metadata: dict | None = None) -> dict:
    """What happened to a run: {"status", "step", "checkpoint_step"}, from its files and its lock.

    status: "finished", "diverged", "interrupted" (Ctrl-C), "failed" (an error, written as "error" in
    metadata.json), "running" (a live process holds the folder) or "killed" (metadata.json says
    running, or was never written, and no live process holds the folder: kill -9, out of memory,
    power loss). step: the step of the model a reader gets: the saved model's for the first three,
    the last checkpoint's otherwise (0 when there is none).
    """
    from training.core import checkpoint
    from training.core.lock import is_locked_by_live_process

    path = pathlib.Path(path)
    metadata = read_metadata(path) if metadata is None else metadata
    state = checkpoint.read_state(path)
    checkpoint_step = int(state["step"] or 0) if state else 0
    status = metadata.get("status")
    if status in ENDED and (path / "model.keras").is_file():
        step = metadata.get("steps_completed", checkpoint_step)
    elif status in TERMINAL:
        step = checkpoint_step
    else:
        status = "running" if is_locked_by_live_process(path) else "killed"
        step = checkpoint_step
    return {"status": status, "step": step, "checkpoint_step": checkpoint_step}


class Run:
    """A saved run, loaded: `model`, `config` (RunConfig), `spec` (TaskSpec with the vocabulary),
    `metadata` (dict), `path`, `status` and `step` (see `run_state`), `model_file` (the file the
    model came from) and `note` (a sentence when that is not a finished run's model.keras, else None).

        from training import load_run
        run = load_run("lstm-char_lm-20261125-101500")
        logits = run.model(run.spec.encode("ROMEO:")[None])
    """

    def __init__(self, path, model, config, spec, metadata, status=None, step=None, model_file=None, note=None):
        self.path = path
        self.model = model
        self.config = config
        self.spec = spec
        self.metadata = metadata
        self.status = status if status is not None else metadata.get("status")
        self.step = step
        self.model_file = model_file
        self.note = note

    def __repr__(self):
        return f"Run({self.path.name!r}, model={self.config.model!r}, task={self.config.task!r}, status={self.status!r})"

    def load_model(self):
        """Load the model that matches the run's recorded state (see `load_run`) into `self.model`; refuse it
        when config.json does not build a model of its size (`check_model_matches_config`)."""
        model = self._load_model_file()
        check_model_matches_config(self)
        return model

    def _load_model_file(self):
        from training.core import checkpoint

        state = run_state(self.path, self.metadata)
        self.status, self.step = state["status"], state["step"]
        if self.status in ENDED and (self.path / "model.keras").is_file():
            self.model_file = self.path / "model.keras"
            self.model = load_model_file(self.model_file)
            if self.status == "interrupted":
                self.note = (f"Run {self.path.name} was interrupted at step {self.step}: using the model saved then "
                             f"(continue it with --resume).")
            return self.model
        ckpt = checkpoint.read_state(self.path)
        if self.status in ENDED:  # it ended, but its model.keras is gone
            if ckpt is None:
                raise ValueError(
                    f"Run {self.path.name} {self.status}, but its model.keras is missing (deleted or moved) and it has "
                    "no checkpoint; restore model.keras from a copy or train the run again.")
            self.model_file = checkpoint.model_path(self.path, ckpt)
            self.model = checkpoint.load_model(self.path, ckpt)
            completed = self.metadata.get("steps_completed")
            same = ("the step it ended at" if completed in (None, ckpt["step"])
                    else f"its last completed epoch; it ended at step {completed}")
            self.step = ckpt["step"]
            self.note = (f"Run {self.path.name} {self.status}, but its model.keras is missing (deleted or moved): using "
                         f"its last checkpoint (step {self.step}, {same}).")
            return self.model
        if ckpt is None:
            raise ValueError(
                f"Run {self.path.name} is {self.status} and has no model yet (it stopped before its first "
                f"checkpoint); continue it with `python -m training.train --resume {self.path.name}`."
            )
        self.model_file = checkpoint.model_path(self.path, ckpt)
        self.model = checkpoint.load_model(self.path, ckpt)
        ending = "" if self.status == "running" else " (continue it with --resume)"
        reason = f" ({self.metadata['error']})" if self.status == "failed" and self.metadata.get("error") else ""
        self.note = (f"Run {self.path.name} is incomplete ({self.status}{reason}): using its last checkpoint "
                     f"(step {self.step}){ending}.")
        return self.model


def _json_kind(annotation):
    """A TaskSpec annotation as JSON holds it: tuples are lists."""
    import types
    import typing

    if annotation is tuple:
        return list
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        kinds = [_json_kind(k) for k in typing.get_args(annotation)]
        out = kinds[0]
        for k in kinds[1:]:
            out = out | k
        return out
    return annotation


def read_task_spec(path):
    """task_spec.json as a `TaskSpec`, every field checked: a missing field or one of the wrong kind is
    named in one sentence."""
    import dataclasses
    import typing

    from datasets.spec import TaskSpec
    from training.core.config_types import check_value

    path = pathlib.Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a task spec (it holds {type(data).__name__}, not a JSON object); restore "
                         "it from a copy or retrain the run.")
    hints = typing.get_type_hints(TaskSpec)
    for field in dataclasses.fields(TaskSpec):
        if field.name not in data:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ValueError(f"{path} lacks the field {field.name!r}; restore it from a copy or retrain the run.")
            continue
        problem = check_value(field.name, _json_kind(hints[field.name]), data[field.name])
        if problem:
            raise ValueError(f"{path}: {problem} Restore the file from a copy or retrain the run.")
    try:
        return TaskSpec.from_dict(data)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path} is not a task spec ({e}).") from None


def check_run_files_agree(path, config, spec) -> None:
    """config.json, task_spec.json and vocabulary.json were written together by one run: a hand edit that
    makes them disagree would evaluate or decode with something else than what was trained."""
    path = pathlib.Path(path)
    if config.task != spec.name:
        raise ValueError(f"{path / 'config.json'} names task {config.task!r}, but {path / 'task_spec.json'} is the "
                         f"spec of {spec.name!r}; the files do not belong to one run: restore them from a copy.")
    for key, value in config.task_params.items():
        if key in spec.params and spec.params[key] != value and key not in ("data_dir", "manual_dir", "path",
                                                                            "vocabulary_path"):
            raise ValueError(f"{path / 'config.json'} gives task parameter {key}={value!r}, but "
                             f"{path / 'task_spec.json'} was made with {key}={spec.params[key]!r}; the files do "
                             "not belong to one run: restore them from a copy.")
    vocabulary = path / "vocabulary.json"
    if vocabulary.is_file():
        from datasets.vocabulary import load_vocabulary

        tokens = load_vocabulary(vocabulary)
        if list(tokens) != list(spec.vocabulary):
            raise ValueError(f"{vocabulary} holds {len(tokens)} tokens that differ from the {spec.vocabulary_size} of "
                             f"{path / 'task_spec.json'}; the model would read other ids than it was trained on: "
                             "restore the file from a copy.")


def check_model_matches_config(run: Run) -> None:
    """config.json is what reports, tables and `evaluate` say a run was: a hand edit of its model, units,
    layers or model parameters would describe another model than the one evaluated. The model config.json
    builds (at the units the run used, for a --param-budget run those in metadata.json) must have the
    loaded model's parameter count. One small build; edits that keep the count (dropout) are not seen."""
    import zoo
    from training.core.build import model_arguments

    config = run.config
    units = run.metadata.get("units") if config.param_budget is not None else config.units
    if run.model is None or not isinstance(units, int):
        return  # an old run without its units recorded: nothing to compare with
    try:
        expected = zoo.build_model(config.model, **{**model_arguments(config, run.spec), "units": units}).count_params()
    except (TypeError, ValueError) as e:
        raise ValueError(f"{run.path / 'config.json'} does not describe a model the zoo can build ({e}); restore it "
                         "from a copy.") from None
    actual = run.model.count_params()
    if expected != actual:
        raise ValueError(
            f"{run.path / 'config.json'} describes a {config.model} with {units:,} units and {expected:,} parameters, "
            f"but {run.model_file} holds {actual:,}; config.json was edited or belongs to another run: restore it "
            "from a copy.")


def load_run(run, root=None, load_model: bool = True) -> Run:
    """Load a run folder (by name under saved_models/ or by path): model, config, vocabulary, metadata.

    The model is the one that matches the run's recorded state: model.keras of a run that ended, the
    last checkpoint of a run that was killed, failed or is still running; an `IncompleteRunWarning`
    says so when it is not a finished run's model (also in `run.note`).
    """
    from training.core.config import RunConfig

    path = resolve_run_dir(run, root)
    config = RunConfig.from_dict(read_json(path / "config.json"), source=str(path / "config.json"))
    spec = read_task_spec(path / "task_spec.json")
    check_run_files_agree(path, config, spec)
    metadata = read_metadata(path)
    state = run_state(path, metadata)
    loaded = Run(path, None, config, spec, metadata, status=state["status"], step=state["step"])
    if load_model:
        loaded.load_model()
        if loaded.note:
            warnings.warn(loaded.note, IncompleteRunWarning, stacklevel=2)
    return loaded
