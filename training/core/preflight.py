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


def os_error_sentence(error: OSError, doing: str | None = None) -> str:
    """One sentence for an OSError: what failed, on which path, and what to do."""
    path = error.filename or ""
    where = f" {path}" if path else ""
    code = error.errno
    if code in (errno.EACCES, errno.EPERM):
        what = f"permission denied on{where}; choose a folder you can write to (--saved-models) or fix its permissions"
    elif code == errno.EROFS:
        what = f"{path or 'the folder'} is on a read-only file system; choose another folder with --saved-models"
    elif code in (errno.ENOSPC, errno.EDQUOT):
        what = f"the disk is full (or the quota is reached) writing{where}; free some space and resume the run"
    elif code == errno.ENAMETOOLONG:
        what = f"a file name is too long for the file system ({len(os.path.basename(path))} characters); use a shorter --run-name"
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
    return f"{doing + ': ' if doing else ''}{what[0].upper() + what[1:]}."


def check_folder(path, what: str = "the folder") -> pathlib.Path:
    """`path` is (or can be created as) a folder this process can write into; raises one ValueError."""
    path = pathlib.Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file, not a folder; give a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".rnn-zoo-write-test-", dir=path)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ValueError(f"{what} {path} is not writable ({e.strerror}); choose another folder or fix its permissions.") from None
        if e.errno in (errno.ENOTDIR, errno.EEXIST):
            raise ValueError(f"{what} {path} cannot be a folder: a part of that path is a file.") from None
        raise ValueError(os_error_sentence(e, f"Cannot use {what} {path}")) from None
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


def check_free_space(path, needed: int) -> None:
    free = free_bytes(path)
    if free < needed:
        raise ValueError(
            f"Only {free / MB:,.0f} MB are free in {path}, and this run needs about {needed / MB:,.0f} MB; "
            "free some space or choose another folder with --saved-models."
        )


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
