"""TensorFlow's start-up lines held back: what a command's `main()` calls before it imports TensorFlow.

    from training.core import quiet
    quiet.install()        # in main(), after the arguments are parsed, before keras/zoo/datasets

Nothing happens on import: a notebook that imports `zoo`, `datasets` or `training.instruments` keeps its
environment and its import hooks. Only a command's `main()` calls `install()`, which does two things:

1. sets `TF_CPP_MIN_LOG_LEVEL` to 3 unless the environment already gives a value (the user's wins):
   TensorFlow's INFO/WARNING/ERROR lines (cuInit on a machine without a GPU, Grappler notes) are noise to
   a user;
2. makes the first `import tensorflow` of the process (also one inside keras or tensorflow_datasets) drop
   the lines below that level that the native libraries write while they are loaded.

That level reaches TensorFlow's C++ logging only once absl's logging is initialised. The native
libraries log while they are loaded, before that, and absl then writes every message to stderr whatever
its severity (abseil/abseil-cpp#1718), announced by a line of its own:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795644695.639465    7790 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...

No environment variable reaches that stage. So while that import runs, file descriptor 2 is pointed at a
pipe and a thread passes every line on except absl's records below the level (TF_CPP_MIN_LOG_LEVEL 1
hides INFO, 2 also WARNING, 3 also ERROR; FATAL always passes) and the announcement above. Everything
else (a Python warning, a traceback, another library's line) passes unchanged, and after the import
stderr is the terminal again: later messages (a real error while training) are untouched.
`TF_CPP_MIN_LOG_LEVEL=0` shows everything. Standard library only: it runs before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import threading

DEFAULT_LEVEL = "3"  # TF_CPP_MIN_LOG_LEVEL a command uses unless the environment gives one
BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's prefix: severity, MMDD, a time (before initialisation "00:00:<seconds since 1970>"), thread id, file:line]
_ABSL_RECORD = re.compile(rb"^([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] ")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 99}


def install() -> None:
    """For a command's `main()`: the log-level default, and the filter on the first TensorFlow import.
    Nothing more happens when TensorFlow is already imported or the filter already waits for it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", DEFAULT_LEVEL)
    if "tensorflow" in sys.modules or _finder in sys.meta_path:
        return
    sys.meta_path.insert(0, _finder)


def min_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as a number (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def keep(line: bytes, level: int) -> bool:
    """Whether a line written to stderr while TensorFlow is imported passes at this log level."""
    if level <= 0:
        return True
    if line.rstrip(b"\r\n") == BANNER:
        return False
    record = _ABSL_RECORD.match(line)
    return record is None or _SEVERITY[record.group(1)] >= level


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
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to filter
        yield
        return
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
    """Finds `tensorflow` the usual way and runs its import inside `filtered_stderr`, once; then it
    takes itself off `sys.meta_path`.

    A lookup alone (`importlib.util.find_spec("tensorflow")`, as tensorflow_datasets asks whether
    TensorFlow is installed) also reaches `find_spec`; the finder stays in place until the module is
    really executed, so the later import is still filtered."""

    _looking = False

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or self._looking:
            return None
        self._looking = True
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._looking = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec(module):
            uninstall()
            with filtered_stderr():
                exec_module(module)

        spec.loader.exec_module = quiet_exec  # this loader object serves this one module
        return spec


_finder = _QuietImport()


def uninstall() -> None:
    """Take the filter off `sys.meta_path` (the log-level default stays)."""
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_finder)
