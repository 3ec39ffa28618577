"""rnn-zoo's training side: thin commands over three libraries.

    training/train.py evaluate.py generate.py compare.py report.py bench.py
             bench_gradients.py through_time.py inspect.py   commands: `python -m training.<name>`
    training/core/         the training library: RunConfig, run folders, building, the training loop
    training/instruments/  GradientRecorder, GradientThroughTime, ThroughTimeProbe and their readers
                           (keras, tensorflow and numpy only: usable with any `model.fit`)
    training/sweep/        the comparison pipeline: plan, experiments, runner, results, tables, findings,
                           figures, the report document

    from training import load_run
    run = load_run("my-run")          # model, config, spec (vocabulary), metadata

Importing `training` (or `training.instruments`) changes nothing in the host program: no environment
variable, no import hook. The commands hold back TensorFlow's start-up lines themselves, in `main()`
(`training.core.quiet`).
"""


def load_run(run, root=None, load_model=True):
    """Load a saved run (see `training.core.runs.load_run`)."""
    from training.core.runs import load_run as _load_run

    return _load_run(run, root=root, load_model=load_model)
