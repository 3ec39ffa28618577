"""rnn-zoo's training side: thin commands over three libraries.

    training/train.py evaluate.py generate.py compare.py report.py bench.py
             bench_gradients.py through_time.py      commands: `python -m training.<name>`
    training/core/         the training library: RunConfig, run folders, building, the training loop
    training/instruments/  GradientRecorder, GradientThroughTime, ThroughTimeProbe and their readers
                           (keras, tensorflow and numpy only: usable with any `model.fit`)
    training/sweep/        the comparison pipeline: plan, suites, runner, results, tables, findings,
                           figures, the report document

    from training import load_run
    run = load_run("my-run")          # model, config, spec (vocabulary), metadata

TensorFlow's C++ log level is set here, once, before any submodule can import TensorFlow: its
INFO/WARNING/ERROR lines (cuInit on a machine without a GPU, Grappler notes) are noise to a user.
A value already in the environment wins.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_run(run, root=None, load_model=True):
    """Load a saved run (see `training.core.runs.load_run`)."""
    from training.core.runs import load_run as _load_run

    return _load_run(run, root=root, load_model=load_model)
