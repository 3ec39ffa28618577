"""TensorFlow's start-up lines, held to the log level the user asked for.

`TF_CPP_MIN_LOG_LEVEL` reaches TensorFlow's C++ logging only once absl's logging is initialised.
The native libraries log while they are loaded, before that, and absl then writes every message to
stderr whatever its severity (abseil/abseil-cpp#1718), announced by a line of its own:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795644695.639465    7790 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...

No environment variable reaches that stage. So while `import tensorflow` runs, file descriptor 2 is
pointed at a pipe and a thread passes every line on, except absl's records below the level
(TF_CPP_MIN_LOG_LEVEL 1 hides INFO, 2 also WARNING, 3 also ERROR; FATAL always passes) and the
announcement above. Everything else (a Python warning, a traceback, a line of another library)
passes unchanged and at once, and after the import stderr is the terminal again: later messages
(a real error while training) are untouched. `TF_CPP_MIN_LOG_LEVEL=0` shows everything.

    from training.core import startup
    startup.quiet_tensorflow_import()   # before anything imports tensorflow (training/__init__.py)

Standard library only: it runs before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import threading

BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's prefix: severity, MMDD, a time (before initialisation "00:00:<seconds since 1970>"), thread id, file:line]
ABSL_RECORD = re.compile(rb"^([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] ")
SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 99}


def min_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as a number (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def keep(line: bytes, level: int) -> bool:
    """Whether a line written to stderr during the import passes at this log level."""
    if level <= 0:
        return True
    if line.rstrip(b"\r\n") == BANNER:
        return False
    record = ABSL_RECORD.match(line)
    return record is None or SEVERITY[record.group(1)] >= level


@contextlib.contextmanager
def filtered_stderr(level: int | None = None):
    """While inside, lines written to file descriptor 2 pass only if `keep` says so."""
    level = min_level() if level is None else level
    if level <= 0:
        yield
        return
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError):
        pass
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward():
        rest = b""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                lines = (rest + chunk).split(b"\n")
                rest = lines.pop()
                out = b"".join(line + b"\n" for line in lines if keep(line + b"\n", level))
                if out:
                    os.write(saved, out)
        if rest and keep(rest, level):
            os.write(saved, rest)

    thread = threading.Thread(target=forward, name="tf-startup-stderr", daemon=True)
    thread.start()
    try:
        yield
    finally:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError):
            pass
        os.dup2(saved, 2)  # closes the pipe's last write end: the thread reads to the end and stops
        thread.join(timeout=10)
        os.close(saved)


class _QuietImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` the usual way and runs its import inside `filtered_stderr`, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        uninstall()
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec(module):
            with filtered_stderr():
                exec_module(module)

        spec.loader.exec_module = quiet_exec  # this loader object serves this one module
        return spec


_finder = _QuietImport()


def quiet_tensorflow_import() -> None:
    """Make the first `import tensorflow` of this process (also one inside keras or tensorflow_datasets)
    drop the start-up lines below TF_CPP_MIN_LOG_LEVEL. Nothing happens when it is already imported."""
    if "tensorflow" in sys.modules or _finder in sys.meta_path:
        return
    sys.meta_path.insert(0, _finder)


def uninstall() -> None:
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_finder)
