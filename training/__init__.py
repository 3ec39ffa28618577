"""rnn-zoo's training commands (`python -m training.train`, `.evaluate`, `.generate`, `.bench`,
`.compare`, `.report`) and the Keras callbacks that record gradients.

    from training import load_run
    run = load_run("my-run")          # model, config, spec (vocabulary), metadata
"""


def load_run(run, root=None, load_model=True):
    """Load a saved run (see `training.runs.load_run`)."""
    from training.runs import load_run as _load_run

    return _load_run(run, root=root, load_model=load_model)
