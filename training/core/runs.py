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


def load_model_file(path):
    """`keras.models.load_model` in safe mode, with one-sentence errors for corrupt or unsafe files."""
    import keras

    import zoo  # noqa: F401  registers the zoo's layers

    path = pathlib.Path(path)
    if not zipfile.is_zipfile(path):
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
    except ValueError as e:
        if "unsafe" in str(e).lower() or "lambda" in str(e).lower():
            raise ValueError(unsafe) from None
        raise ValueError(f"{path} could not be loaded as a Keras model ({_first_line(e)}).") from None
    except (MemoryError, OSError):
        raise
    except Exception as e:  # zip members missing, bad h5 weights, bad JSON ...
        raise ValueError(f"{path} is corrupt and could not be loaded ({type(e).__name__}: {_first_line(e)}).") from None


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


def read_metadata(path) -> dict:
    path = pathlib.Path(path) / "metadata.json"
    data = read_json(path) if path.is_file() else {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a run's metadata (a JSON object).")
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
        """Load the model that matches the run's recorded state (see `load_run`) into `self.model`."""
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


def load_run(run, root=None, load_model: bool = True) -> Run:
    """Load a run folder (by name under saved_models/ or by path): model, config, vocabulary, metadata.

    The model is the one that matches the run's recorded state: model.keras of a run that ended, the
    last checkpoint of a run that was killed, failed or is still running; an `IncompleteRunWarning`
    says so when it is not a finished run's model (also in `run.note`).
    """
    from datasets.spec import TaskSpec
    from training.core.config import RunConfig

    path = resolve_run_dir(run, root)
    config = RunConfig.from_dict(read_json(path / "config.json"), source=str(path / "config.json"))
    try:
        spec = TaskSpec.from_dict(read_json(path / "task_spec.json"))
    except TypeError as e:
        raise ValueError(f"{path / 'task_spec.json'} is not a task spec ({e}).") from None
    metadata = read_metadata(path)
    state = run_state(path, metadata)
    loaded = Run(path, None, config, spec, metadata, status=state["status"], step=state["step"])
    if load_model:
        loaded.load_model()
        if loaded.note:
            warnings.warn(loaded.note, IncompleteRunWarning, stacklevel=2)
    return loaded
