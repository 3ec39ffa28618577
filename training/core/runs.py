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
        checkpoint/       the last completed epoch, for --resume

Every file is written to a temporary name in the same folder and renamed into place, so a process
killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import pathlib
import re
import tempfile
import zipfile

SAVED_MODELS = pathlib.Path(__file__).resolve().parents[2] / "saved_models"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

REQUIRED_FILES = ("config.json", "task_spec.json", "model.keras")


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yield a temporary path beside `path`; on success rename it onto `path`, on error delete it."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    try:
        yield pathlib.Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False, default=_json_default), encoding="utf-8")


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def save_model(model, path) -> None:
    """`model.save` through a temporary `.keras` file and an atomic rename."""
    with atomic_path(path, suffix=".keras") as tmp:
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


def load_model_file(path):
    """`keras.models.load_model` in safe mode, with one-sentence errors for corrupt or unsafe files."""
    import keras

    import zoo  # noqa: F401  registers the zoo's layers

    path = pathlib.Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a valid .keras file (corrupt or truncated); retrain or restore it from a copy.")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except ValueError as e:
        if "unsafe" in str(e).lower() or "lambda" in str(e).lower():
            raise ValueError(
                f"{path} needs unsafe deserialization (it contains Python code, e.g. a Lambda layer); rnn-zoo keeps safe mode on and will not load it."
            ) from None
        raise ValueError(f"{path} could not be loaded as a Keras model ({e}).") from None
    except Exception as e:  # zip members missing, bad h5 weights, bad JSON ...
        raise ValueError(f"{path} is corrupt and could not be loaded ({type(e).__name__}: {e}).") from None


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}).") from None


class Run:
    """A saved run, loaded: `model`, `config` (RunConfig), `spec` (TaskSpec with the vocabulary),
    `metadata` (dict) and `path`.

        from training import load_run
        run = load_run("lstm-char_lm-20261125-101500")
        logits = run.model(run.spec.encode("ROMEO:")[None])
    """

    def __init__(self, path, model, config, spec, metadata):
        self.path = path
        self.model = model
        self.config = config
        self.spec = spec
        self.metadata = metadata

    def __repr__(self):
        return f"Run({self.path.name!r}, model={self.config.model!r}, task={self.config.task!r}, status={self.metadata.get('status')!r})"


def load_run(run, root=None, load_model: bool = True) -> Run:
    """Load a run folder (by name under saved_models/ or by path): model, config, vocabulary, metadata."""
    from datasets.spec import TaskSpec
    from training.core.config import RunConfig

    path = resolve_run_dir(run, root)
    config = RunConfig.from_dict(read_json(path / "config.json"), source=str(path / "config.json"))
    try:
        spec = TaskSpec.from_dict(read_json(path / "task_spec.json"))
    except TypeError as e:
        raise ValueError(f"{path / 'task_spec.json'} is not a task spec ({e}).") from None
    metadata = read_json(path / "metadata.json") if (path / "metadata.json").is_file() else {}
    model = load_model_file(path / "model.keras") if load_model else None
    return Run(path, model, config, spec, metadata)
