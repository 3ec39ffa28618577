"""Shared test setup.

TensorFlow is configured once, before anything initialises its runtime: two logical CPU devices (so
`tf.distribute.MirroredStrategy` can be tested on one CPU), quiet logs, and no network for TFDS.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pathlib  # noqa: E402

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:  # runtime already initialised by an earlier import; tests that need 2 devices skip
    pass

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_CORPORA = REPO_ROOT.parent / "shared" / "corpora"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from a clean Keras session and a fixed seed."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def tiny_shakespeare_dir():
    """The shared copy of TFDS's tiny_shakespeare input.txt, or a skip that says why."""
    path = SHARED_CORPORA / "tiny_shakespeare"
    if not (path / "input.txt").is_file():
        pytest.skip(f"{path}/input.txt is absent: the offline copy of tiny_shakespeare lives in ../shared/corpora")
    return path
