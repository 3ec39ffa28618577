"""TensorFlow's start-up lines are held to TF_CPP_MIN_LOG_LEVEL (training/core/quiet.py) in every command."""

import os
import subprocess
import sys
import textwrap

from tests.conftest import REPO_ROOT
from training.core import quiet

NOISE = ("absl::InitializeLog", "cudart_stub", "cpu_feature_guard", "oneDNN", "cuInit", "cuda_dnn", "cuda_blas")


def test_keep_drops_absl_records_below_the_level_and_nothing_else():
    banner = quiet.BANNER + b"\n"
    info = b"I0000 00:00:1795644695.639465    7790 cudart_stub.cc:31] Could not find cuda drivers\n"
    error = b"E0000 00:00:1795644691.935497    7317 cuda_platform.cc:52] failed call to cuInit\n"
    fatal = b"F1125 22:10:41.850000 7317 something.cc:1] Check failed\n"
    python = b"/x.py:9: UserWarning: a real warning\n"
    lines = (banner, info, error, fatal, python)
    assert [quiet.keep(line, 3) for line in lines] == [False, False, False, True, True]
    assert [quiet.keep(line, 2) for line in lines] == [False, False, True, True, True]
    assert all(quiet.keep(line, 0) for line in lines)


def _run(args, level: str):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": level, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)


def test_the_filter_passes_other_lines_and_gives_stderr_back():
    out = _run(["-c", textwrap.dedent("""
        import os, sys
        from training.core import quiet
        with quiet.filtered_stderr():
            os.write(2, b"I0000 00:00:1795644695.639465    7790 cudart_stub.cc:31] noise\\n")
            print("a line of another library", file=sys.stderr)
            os.write(2, b"no newline at the end")
        os.write(2, b"\\nafter: I0000 00:00:1.0 1 x.cc:1] passes, stderr is the terminal again\\n")
        """)], "3")
    assert out.returncode == 0, out.stderr
    assert "noise" not in out.stderr
    assert "a line of another library" in out.stderr and "no newline at the end" in out.stderr
    assert "after:" in out.stderr


def test_a_command_starts_without_tensorflow_lines_and_still_shows_a_real_error():
    """`python -m training.train` imports TensorFlow (through keras) before it refuses an unknown model:
    none of the start-up lines, the error sentence on stderr."""
    out = _run(["-m", "training.train", "--model", "no_such_model", "--task", "recall"], "3")
    assert out.returncode == 2
    assert "error:" in out.stderr and "no_such_model" in out.stderr
    assert not [n for n in NOISE if n in out.stderr], out.stderr


def test_a_python_warning_during_and_after_the_import_still_shows():
    out = _run(["-c", textwrap.dedent("""
        import warnings
        from training.core import quiet
        quiet.install()
        import keras
        import tensorflow as tf
        tf.config.list_physical_devices()
        warnings.warn("a real warning")
        raise SystemExit("error: a real error")
        """)], "3")
    assert out.returncode == 1
    assert not [n for n in NOISE if n in out.stderr], out.stderr
    assert "UserWarning: a real warning" in out.stderr and "error: a real error" in out.stderr


def test_a_lookup_before_the_import_does_not_take_the_filter_away():
    """tensorflow_datasets asks `importlib.util.find_spec("tensorflow")` before it imports TensorFlow: the
    filter must still catch the real import that follows (it used to take itself off at the lookup)."""
    out = _run(["-c", textwrap.dedent("""
        import importlib.util
        from training.core import quiet
        quiet.install()
        assert importlib.util.find_spec("tensorflow") is not None
        import tensorflow as tf
        tf.config.list_physical_devices()
        """)], "3")
    assert out.returncode == 0, out.stderr
    assert not [n for n in NOISE if n in out.stderr], out.stderr
