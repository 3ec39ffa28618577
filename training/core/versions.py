"""What produced a result: library versions, the machine, and the git commit of the checkout."""

from __future__ import annotations

import os
import pathlib
import platform
import subprocess


def versions() -> dict:
    import keras
    import numpy
    import tensorflow as tf

    from importlib import metadata

    try:  # its installed version, read without importing it (a third of a second a process)
        tfds_version = metadata.version("tensorflow-datasets")
    except metadata.PackageNotFoundError:  # pragma: no cover - tfds is a requirement
        tfds_version = None
    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "tensorflow_datasets": tfds_version,
        "numpy": numpy.__version__,
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


def machine() -> dict:
    """The machine in words: OS, processor, CPU count."""
    cpu = platform.processor() or ""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"system": f"{platform.system()} {platform.release()}", "cpu": cpu, "cpu_count": os.cpu_count(),
            "python": platform.python_version()}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=pathlib.Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
