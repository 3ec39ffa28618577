"""Checks that run before any data is loaded or any model is built, and the one sentence an
operating-system error becomes.

    check_folder(root, "--saved-models")       exists or can be made, is a folder, is writable
    check_free_space(root, bytes_needed)         enough room for the checkpoints and the final model
    check_memory(parameters, ...)                the model, its gradients and Adam's two moments fit in RAM
    estimate_parameters(model, **builder_args)   the model's size without allocating it
    os_error_sentence(error)                     PermissionError, disk full, name too long ... in words

Each check raises `ValueError` with one sentence, which the commands print before exiting with code 2.
"""

from __future__ import annotations

import errno
import os
import pathlib
import shutil
import tempfile

MB = 1 << 20

# Bytes per parameter held at once while training with Adam: float32 weights, gradient and two moments.
TRAINING_BYTES_PER_PARAMETER = 16
# Bytes per parameter of one .keras file: weights plus the optimizer's two moments.
FILE_BYTES_PER_PARAMETER = 12
# The most .keras files of one run on disk at once: the final model and two checkpoint versions, each
# briefly beside its temporary copy.
FILE_COPIES = 4
# Room always kept for the small files (config, metadata, history, gradient CSVs, TensorBoard events).
SMALL_FILES_BYTES = 20 * MB


def os_error_sentence(error: OSError, doing: str | None = None, flag: str | None = None) -> str:
    """One sentence for an OSError: what failed, on which path, and what to do.

    Args:
        error: the OSError.
        doing: what was being done ("Cannot use the --saved-models folder x"), put first.
        flag: the option that chooses another folder (--saved-models, --output), named in the advice.
    """
    path = error.filename or ""
    where = f" {path}" if path else ""
    code = error.errno
    elsewhere = f"choose another folder with {flag}" if flag else "choose another folder"
    if code in (errno.EACCES, errno.EPERM):
        what = f"permission denied on{where}; {elsewhere} or fix its permissions"
    elif code == errno.EROFS:
        what = f"{path or 'the folder'} is on a read-only file system; {elsewhere}"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        again = "resume the run" if flag == "--saved-models" else "run the command again"
        writing = f" writing{where}" if where else ""  # a write through a file descriptor names no file
        what = f"the disk is full (or the quota is reached){writing}; free some space and {again}"
    elif code == errno.ENAMETOOLONG:
        what = f"a file name is too long for the file system ({len(os.path.basename(path))} characters); use a shorter name"
    elif code == errno.ENOTDIR:
        what = f"a part of{where} is a file, not a folder"
    elif code == errno.EEXIST:
        what = f"{path} already exists and is not a folder"
    elif code == errno.EISDIR:
        what = f"{path} is a folder where a file was expected"
    elif code == errno.ENOENT:
        what = f"{path or 'a file'} does not exist"
    else:
        what = f"{error.strerror or type(error).__name__}{' on' + where if where else ''}"
    if doing:
        return f"{doing[0].upper() + doing[1:]}: {what}."
    return f"{what[0].upper() + what[1:]}."


def disk_full_from_tensorflow(error: BaseException) -> OSError | None:
    """TensorFlow reports a full disk met while it writes a file (TensorBoard's events, tf.io.gfile) as a
    ResourceExhaustedError "<path>; No space left on device", which would read as out of memory: the OSError
    it stands for, naming the path, or None for any other error."""
    if type(error).__name__ != "ResourceExhaustedError":
        return None
    import re

    found = re.search(r"(\S*?);? (No space left on device|Disk quota exceeded)", str(error))
    if found is None:
        return None
    code = errno.ENOSPC if found.group(2).startswith("No space") else errno.EDQUOT
    return OSError(code, found.group(2), found.group(1) or None)


def _write_probe(folder) -> None:
    """Write one byte to a temporary file in `folder` and remove it; raises the OSError that stops it, naming
    `folder` (the probe's own name would mean nothing to the user)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".rnn-zoo-write-test-", dir=folder)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(folder)) from None


def check_folder(path, what: str = "the folder", flag: str | None = None) -> pathlib.Path:
    """`path` is (or can be created as) a folder this process can write into; raises one ValueError.

    `flag` is the option that chooses another folder, named in the advice."""
    path = pathlib.Path(path)
    what = what[0].upper() + what[1:]  # it starts the sentence
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a folder; give a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _write_probe(path)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            elsewhere = f"choose another folder with {flag}" if flag else "choose another folder"
            raise ValueError(f"{what} {path} is not writable ({e.strerror}); {elsewhere} or fix its permissions.") from None
        if e.errno in (errno.ENOTDIR, errno.EEXIST):
            raise ValueError(f"{what} {path} cannot be a folder: a part of that path is a file.") from None
        raise ValueError(os_error_sentence(e, f"cannot use {what[0].lower() + what[1:]} {path}", flag=flag)) from None
    return path


def check_folder_can_be_made(path, what: str = "the folder", flag: str | None = None) -> pathlib.Path:
    """As `check_folder`, without making anything: `path` is a writable folder, or its nearest existing
    parent is one (so that a command refused later leaves no empty folder behind). Raises one ValueError."""
    if not str(path).strip():  # before pathlib, which reads "" as "." (this folder)
        raise ValueError(f"{flag or what} needs a folder, got an empty string.")
    path = pathlib.Path(path)
    if path.is_dir():
        return check_folder(path, what, flag=flag)
    what = what[0].upper() + what[1:]
    if path.exists() or path.is_symlink():
        raise ValueError(f"{what} {path} is a file, not a folder; give a folder.")
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{what} {path} cannot be a folder: a part of that path ({parent}) is a file.")
    try:
        _write_probe(parent)
    except OSError as e:
        raise ValueError(os_error_sentence(e, f"cannot make {what[0].lower() + what[1:]} {path}", flag=flag)) from None
    return path


def check_output_file(path, flag: str) -> pathlib.Path:
    """A file a command will write at its end (`--json rows.json`): its folder exists and is writable, and
    the path is not a folder, checked before the work starts. Raises one ValueError."""
    if not str(path).strip():  # before pathlib, which reads "" as "." (this folder)
        raise ValueError(f"{flag} needs a file name, got an empty string.")
    path = pathlib.Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name (e.g. {path / 'rows.json'}).")
    folder = path.parent
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {path}: {folder} is a file, not a folder; give another path.")
    if not folder.is_dir():
        raise ValueError(f"{flag} {path}: the folder {folder} does not exist; create it or give another path.")
    try:
        _write_probe(folder)
    except OSError as e:
        raise ValueError(os_error_sentence(e, f"{flag} {path} cannot be written", flag=flag)) from None
    return path


def check_name_length(folder, name: str) -> None:
    """A run name fits the file system's limit for one name (with room for temporary-file affixes)."""
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if len(name.encode("utf-8")) > limit - 20:
        raise ValueError(f"Run name is {len(name)} characters long; the file system allows at most {limit - 20} here.")


def free_bytes(path) -> int:
    return shutil.disk_usage(path).free


def run_bytes_needed(parameters: int, recorded_steps: int = 0, columns: int = 8) -> int:
    """Disk space a run needs at most: its .keras files and the small files."""
    return parameters * FILE_BYTES_PER_PARAMETER * FILE_COPIES + recorded_steps * columns * 24 + SMALL_FILES_BYTES


def check_free_space(path, needed: int, what: str = "this run", flag: str | None = "--saved-models") -> None:
    """Refuse a folder with less than `needed` bytes free; `flag` (the option that chooses another folder)
    is named in the advice."""
    free = free_bytes(path)
    if free < needed:
        advice = f"free some space or choose another folder with {flag}" if flag else "free some space and run it again"
        raise ValueError(f"Only {free / MB:,.0f} MB are free in {path}, and {what} needs about {needed / MB:,.0f} MB; {advice}.")


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(parameters: int, what: str = "This model") -> None:
    """Refuse a model whose weights, gradients and optimizer moments alone exceed the available memory."""
    needed = parameters * TRAINING_BYTES_PER_PARAMETER
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{what} has about {parameters:,} parameters and needs at least {needed / MB:,.0f} MB of memory to "
            f"train, but only {available / MB:,.0f} MB are available; choose fewer units or layers."
        )


def check_config_memory(config) -> None:
    """What a RunConfig alone tells about its size, before TensorFlow is imported: a --param-budget is the
    parameter count itself. (Wide models are estimated by `training.core.loop` from three small builds.)"""
    if config.param_budget is not None:
        check_memory(config.param_budget, what=f"A model of --param-budget {config.param_budget:,}")


def check_activation_memory(batch_size: int, sequence_length: int, floats_per_step: int, what: str) -> None:
    """Refuse a batch whose activations, kept for backpropagation through time, exceed the available
    memory: `floats_per_step` float32 values per example and time step (a lower bound: the gates, the
    states, the embedding and the logits)."""
    needed = 4 * batch_size * sequence_length * floats_per_step
    available = available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"{what}: a batch of {batch_size} sequences of {sequence_length:,} steps needs at least "
            f"{needed / MB:,.0f} MB of memory for its activations, but only {available / MB:,.0f} MB are available; "
            "choose a shorter sequence (a smaller gap or length) or a smaller batch size."
        )


def estimate_parameters(model: str, **kwargs) -> int:
    """The parameter count of `zoo.build_model(model, **kwargs)` without allocating the model.

    Every zoo model's count is a quadratic polynomial in `units` for fixed other arguments (kernels
    grow with units x units, embeddings and biases with units); it is read off three small builds.
    With `units` given, `embedding_dim` defaults to it, which keeps the count quadratic.
    """
    import zoo

    units = kwargs.pop("units")
    xs = (8, 16, 24)
    ys = [zoo.build_model(model, **{**kwargs, "units": x}).count_params() for x in xs]
    # Newton's divided differences through the three points, evaluated at `units` in exact integers.
    d1 = (ys[1] - ys[0]) / (xs[1] - xs[0])
    d2 = ((ys[2] - ys[1]) / (xs[2] - xs[1]) - d1) / (xs[2] - xs[0])
    return max(0, int(round(ys[0] + d1 * (units - xs[0]) + d2 * (units - xs[0]) * (units - xs[1]))))
