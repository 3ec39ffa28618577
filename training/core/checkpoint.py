"""A run's checkpoint: the last completed epoch, written so that a process killed at any moment leaves
a complete checkpoint behind, and `--resume` continues bit for bit.

    checkpoint/
        state.json            epoch, step, the name of the model file, the history so far, the states
                              of the dropout random generators, the gradient recorder's counters
        model-000010.keras    the model with its optimizer state after that step

Order of writing: the new model file under a new name, then `state.json` (written to a temporary file
and renamed) naming it, then the older model files are removed. `state.json` therefore always names a
complete model of the same step, whatever the moment of a kill.

Why the random generators: Keras saves a model's weights and optimizer state but not the state of a
`keras.random.SeedGenerator` (the counter of a Dropout layer's generator). A model reloaded from
`.keras` restarts its dropout masks from the beginning, so a resumed run with dropout would draw other
masks than the uninterrupted run. The states are stored here and put back after loading.

Checkpoints written before this format (`checkpoint/model.keras` and a state without "model") are read
as well; they carry no generator states.
"""

from __future__ import annotations

import pathlib
import re

from training.core import faults

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
LEGACY_MODEL = "model.keras"
SEED_STATE = "seed_generator_state"
_MODEL_NAME = re.compile(r"^model(-\d{6,})?\.keras$")  # what save_checkpoint writes (model.keras: older ones)


def seed_generator_states(model) -> list:
    """The state of every random generator of the model's layers, in the order of `model.variables`."""
    return [v.numpy().tolist() for v in model.variables if v.name == SEED_STATE]


def restore_seed_generators(model, states) -> None:
    import numpy as np

    variables = [v for v in model.variables if v.name == SEED_STATE]
    if len(variables) != len(states):
        raise ValueError(
            f"The checkpoint holds {len(states)} random generator states, the model has {len(variables)}; "
            "the checkpoint does not belong to this model."
        )
    for variable, state in zip(variables, states):
        variable.assign(np.asarray(state, dtype=variable.dtype))


def model_file_name(step: int) -> str:
    return f"model-{step:06d}.keras"


def save_checkpoint(model, run_dir, *, epoch: int, step: int, history: list, extra: dict | None = None) -> None:
    """Write the checkpoint of `step` (see the module docstring for the order)."""
    from training.core import runs

    folder = pathlib.Path(run_dir) / CHECKPOINT_DIR
    folder.mkdir(exist_ok=True)
    name = model_file_name(step)
    runs.save_model(model, folder / name)
    faults.point("checkpoint_write")
    state = {"epoch": epoch, "step": step, "model": name, "history": history,
             "seed_generators": seed_generator_states(model), **(extra or {})}
    runs.write_json(folder / STATE_FILE, state)
    for old in folder.glob("model*.keras"):
        if old.name != name:
            old.unlink(missing_ok=True)


def model_file_at(run_dir, step: int) -> pathlib.Path | None:
    """The checkpoint's model file when the checkpoint is of `step`, else None (no checkpoint, another step)."""
    state = read_state(run_dir)
    if state is None or state.get("step") != step:
        return None
    path = model_path(run_dir, state)
    return path if path.is_file() else None


def read_state(run_dir) -> dict | None:
    """The checkpoint's state (with "step" and "model" filled in for old checkpoints), or None."""
    from training.core import runs

    path = pathlib.Path(run_dir) / CHECKPOINT_DIR / STATE_FILE
    if not path.is_file():
        return None
    state = runs.read_json(path)
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int) or not isinstance(state.get("history"), list):
        raise ValueError(f"{path} is not a checkpoint state (no epoch and history); the checkpoint cannot be used.")
    state.setdefault("model", LEGACY_MODEL)
    name = state["model"]
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise ValueError(f"{path} names the model file {name!r}, which is not a checkpoint's model-NNNNNN.keras in "
                         f"{path.parent}; the checkpoint cannot be used (a hand-edited or crafted state).")
    if "step" not in state:
        rows = state["history"]
        state["step"] = int(rows[-1]["step"]) if rows and "step" in rows[-1] else None
    return state


def model_path(run_dir, state: dict) -> pathlib.Path:
    """The checkpoint's model file, confined to `<run>/checkpoint/`: a state naming another path, or a
    model file that is a link leading out of the run folder, is refused."""
    folder = pathlib.Path(run_dir) / CHECKPOINT_DIR
    name = state["model"]
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise ValueError(f"{folder / STATE_FILE} names the model file {name!r}, outside the checkpoint's own "
                         "model-NNNNNN.keras; the checkpoint cannot be used.")
    path = folder / name
    if path.is_symlink() and not path.resolve().is_relative_to(pathlib.Path(run_dir).resolve()):
        raise ValueError(f"{path} is a link to {path.resolve()}, outside the run folder; the checkpoint cannot be used.")
    return path


def load_model(run_dir, state: dict):
    """The checkpoint's model, compiled with its optimizer state, random generators restored."""
    from training.core import runs

    path = model_path(run_dir, state)
    if not path.is_file():
        raise ValueError(f"{path.parent / STATE_FILE} names {path.name}, which is missing; the checkpoint cannot be used.")
    model = runs.load_model_file(path)
    if state.get("seed_generators") is not None:
        restore_seed_generators(model, state["seed_generators"])
    return model
