"""rnn-zoo's training side: thin commands over three libraries.

    training/train.py evaluate.py generate.py compare.py report.py bench.py
             bench_gradients.py through_time.py      commands: `python -m training.<name>`
    training/core/         the training library: RunConfig, run folders, building, the training loop
    training/instruments/  GradientRecorder, GradientThroughTime, ThroughTimeProbe and their readers
                           (keras, tensorflow and numpy only: usable with any `model.fit`)
    training/sweep/        the comparison pipeline: plan, experiments, runner, results, tables, findings,
                           figures, the report document

    from training import load_run
    run = load_run("my-run")          # model, config, spec (vocabulary), metadata

TensorFlow's C++ log level is set here, once, before any submodule can import TensorFlow: its
INFO/WARNING/ERROR lines (cuInit on a machine without a GPU, Grappler notes) are noise to a user.
A value already in the environment wins.

That level reaches TensorFlow's C++ logging only once absl's logging is initialised. The native
libraries log while they are loaded, before that, and absl then writes every message to stderr whatever
its severity (abseil/abseil-cpp#1718), announced by a line of its own:

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 00:00:1795644695.639465    7790 cudart_stub.cc:31] Could not find cuda drivers on your machine, ...

No environment variable reaches that stage. So while the first `import tensorflow` of the process runs
(also one inside keras or tensorflow_datasets), file descriptor 2 is pointed at a pipe and a thread passes
every line on except absl's records below the level (TF_CPP_MIN_LOG_LEVEL 1 hides INFO, 2 also WARNING,
3 also ERROR; FATAL always passes) and the announcement above. Everything else (a Python warning, a
traceback, another library's line) passes unchanged, and after the import stderr is the terminal again:
later messages (a real error while training) are untouched. `TF_CPP_MIN_LOG_LEVEL=0` shows everything.
Standard library only, here rather than in a submodule: it must run before anything imports TensorFlow,
and `import training.instruments` loads nothing else of the project.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import threading

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_run(run, root=None, load_model=True):
    """Load a saved run (see `training.core.runs.load_run`)."""
    from training.core.runs import load_run as _load_run

    return _load_run(run, root=root, load_model=load_model)


# ------------------------------------------------------------------- TensorFlow's start-up lines
_BANNER = b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
# absl's prefix: severity, MMDD, a time (before initialisation "00:00:<seconds since 1970>"), thread id, file:line]
_ABSL_RECORD = re.compile(rb"^([IWEF])\d{4} [\d:.]+ +\d+ [^ \]]+:\d+\] ")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 99}


def _min_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as a number (0 when unset or not a number)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _keep(line: bytes, level: int) -> bool:
    """Whether a line written to stderr while TensorFlow is imported passes at this log level."""
    if level <= 0:
        return True
    if line.rstrip(b"\r\n") == _BANNER:
        return False
    record = _ABSL_RECORD.match(line)
    return record is None or _SEVERITY[record.group(1)] >= level


@contextlib.contextmanager
def _filtered_stderr(level: int | None = None):
    """While inside, lines written to file descriptor 2 pass only if `_keep` says so."""
    level = _min_level() if level is None else level
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
                out = b"".join(line + b"\n" for line in lines if _keep(line + b"\n", level))
                if out:
                    os.write(saved, out)
        if rest and _keep(rest, level):
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
    """Finds `tensorflow` the usual way and runs its import inside `_filtered_stderr`, once."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        _uninstall()
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec(module):
            with _filtered_stderr():
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


def _uninstall() -> None:
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_finder)


quiet_tensorflow_import()
