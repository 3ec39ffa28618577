"""The training library under the commands: `config` (RunConfig, GRID_DEFAULTS), `flags` (the commands'
flags generated from RunConfig's fields), `quiet` (TensorFlow's start-up lines, for a command's main()), `runs` (run folders, atomic writes,
`load_run`), `build` (data, model, optimizer, metrics, strategy), `loop` (`train`, checkpoints,
history), `generation` (sampling text), `export` (SavedModel), `versions` (library versions, machine,
git commit) and `bench` (speed of the training step against plain Keras); for crash safety `lock`,
`preflight`, `config_types`, `faults` and `checkpoint`."""
