"""Every command as safe as `train` (issue 25): a user's mistake, an operating system's refusal and a
hand-edited run or sweep folder are one sentence on stderr and exit status 2, nothing saved is changed,
and a bug of the project still shows its traceback with one line saying so.

The table `BAD_INPUTS` has one row per case: the command, its arguments, a fragment of the sentence, and
whether the refusal must come before TensorFlow is imported. Those rows run as subprocesses, as a user
runs the command, and the subprocess reports whether `tensorflow` was imported; the rows whose check
needs the registries (an unknown model, a run folder to read) run in this process, where TensorFlow is
already loaded, to keep the table fast.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from training.core import boundary, faults

REPO = pathlib.Path(__file__).resolve().parents[1]

# A fresh interpreter: the command's main(argv), then whether TensorFlow was imported, on the last line.
_DRIVER = textwrap.dedent("""
    import importlib, sys
    try:
        code = importlib.import_module(sys.argv[1]).main(sys.argv[2:])
    except SystemExit as exit:  # argparse's answer to a flag it cannot parse
        code = exit.code
    print("tensorflow imported" if "tensorflow" in sys.modules else "tensorflow not imported", file=sys.stderr)
    sys.exit(code)
""")

TINY = ["--model", "simple_rnn", "--task", "recall", "--task-param", "gap=4", "--task-param", "eval_size=32",
        "--units", "8", "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "2", "--quiet"]


def _env(**extra) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO), **extra}
    for name in (faults.DIE_AT, faults.PAUSE_AT):
        env.pop(name, None)
    return env


def run_command(module: str, args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _DRIVER, module, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env=env or _env(), timeout=timeout)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """Folders and files the rows point at: a file, a finished tiny run and hand-edited copies of it, sweep
    folders whose sweep.json is broken, grid files of the wrong kind."""
    from training.core.config import RunConfig
    from training.core.loop import train

    root = tmp_path_factory.mktemp("bad")
    (root / "afile").write_text("not a folder")
    runs = root / "runs"
    config = RunConfig(model="simple_rnn", task="recall", task_params={"gap": 4, "eval_size": 32}, units=8,
                       batch_size=16, epochs=2, steps_per_epoch=2, run_name="finished", tensorboard=False)
    train(config, root=runs, verbose=0)
    diverged = RunConfig(**{**config.to_dict(), "run_name": "diverged", "learning_rate": 1e300, "epochs": 1})
    result = train(diverged, root=runs, verbose=0)
    assert result["status"] == "diverged", result["status"]

    def copy(name, edit):
        shutil.copytree(runs / "finished", runs / name)
        edit(runs / name)

    def edit_json(file, change):
        def edit(folder):
            data = json.loads((folder / file).read_text())
            (folder / file).write_text(json.dumps(change(data)))
        return edit

    copy("test-string", edit_json("metadata.json", lambda m: {**m, "test": {**m["test"], "nll": "abc"}}))
    copy("spec-list", lambda f: (f / "task_spec.json").write_text("[1, 2]"))
    copy("spec-no-name", edit_json("task_spec.json", lambda s: {k: v for k, v in s.items() if k != "name"}))
    copy("other-task", edit_json("config.json", lambda c: {**c, "task_params": {**c["task_params"], "gap": 9}}))
    copy("units-edited", edit_json("config.json", lambda c: {**c, "units": 64}))
    copy("vocabulary", lambda f: (f / "vocabulary.json").write_text(json.dumps(
        {"format": "rnn-zoo vocabulary", "level": "char", "unknown_token": "<unk>", "tokens": ["<unk>", "a"]})))
    copy("bad-json", lambda f: (f / "metadata.json").write_text("{not json"))

    def escape(folder):  # killed (running, no lock): the checkpoint is loaded; its state points outside
        edit_json("metadata.json", lambda m: {**m, "status": "running"})(folder)
        edit_json("checkpoint/state.json", lambda s: {**s, "model": "../../finished/model.keras"})(folder)
    copy("escape", escape)
    copy("no-model", lambda f: (f / "model.keras").unlink())

    sweeps = root / "sweeps"
    for name, content in (("list", []), ("no-id", {"runs": [{"status": "finished"}], "experiments": []}),
                          ("bad-status", {"runs": [{"id": "a", "status": 3}]}), ("broken", "{")):
        (sweeps / name).mkdir(parents=True)
        (sweeps / name / "sweep.json").write_text(content if isinstance(content, str) else json.dumps(content))
    (root / "grid-types.json").write_text(json.dumps({"models": 5, "tasks": ["recall"]}))
    (root / "grid-training.json").write_text(json.dumps({"models": ["lstm"], "tasks": ["recall"], "training": [1]}))
    (root / "grid-folder").mkdir()
    return root


def _listing(root: pathlib.Path) -> dict:
    """Every file under `root` with its size and modification time: what "nothing saved changed" compares."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------- table
def row(module, args, fragment, before_tensorflow, id):
    return pytest.param(module, args, fragment, before_tensorflow, id=id)


T, C, E, G, R, B = ("training.train", "training.compare", "training.evaluate", "training.generate",
                    "training.report", "training.bench")
BAD_INPUTS = [
    # train: every setting checked before TensorFlow
    row(T, TINY + ["--units", "0"], "units must be a positive integer", True, "train --units 0"),
    row(T, TINY + ["--batch-size", "0"], "batch_size must be a positive integer", True, "train --batch-size 0"),
    row(T, ["--resume", ""], "--resume needs a run name", True, "train --resume ''"),
    row(T, TINY + ["--saved-models", ""], "--saved-models needs a folder", True, "train --saved-models ''"),
    row(T, ["--config", ""], "--config needs a JSON file of settings, got an empty string", True, "train --config ''"),
    row(T, TINY + ["--curve-every", "1", "--curve-examples", "0"], "curve_examples must be a positive integer", True,
        "train --curve-examples 0"),
    row(T, TINY + ["--optimizer", "sgd", "--momentum", "nan"], "momentum must be a number in [0, 1)", True,
        "train --momentum nan"),
    row(T, TINY + ["--momentum", "0.9"], "momentum applies to sgd and rmsprop only", True, "momentum with adam"),
    row(T, TINY + ["--num-layers", "100000"], "num_layers must be at most", True, "train --num-layers 100000"),
    row(T, TINY + ["--param-budget", "100000000000"], "parameters and needs at least", True,
        "train --param-budget 1e11"),
    row(T, ["--model", "self_attention", "--task", "char_lm", "--model-param", "causal=false", "--units", "8"],
        "is a next-token task", False, "causal=false on a next-token task"),
    row(T, TINY + ["--task-param", "gap=100000000", "--saved-models", "{root}/gap-runs"],
        "for its activations", False, "train gap=100000000"),
    # evaluate and generate: arguments, then the run folder's files read through the typed readers
    row(E, [""], "Give a run name or a run folder", True, "evaluate ''"),
    row(E, ["finished", "--saved-models", ""], "--saved-models needs a folder", True, "evaluate --saved-models ''"),
    row(G, ["finished", "--temperature", "nan"], "--temperature must be a finite number", True, "generate nan"),
    row(G, ["finished", "--length", "-1"], "--length must be a number of tokens", True, "generate --length -1"),
    row(E, ["test-string"], "test.nll must be a number or null (left out), got the string 'abc'", False, "metadata test string"),
    row(E, ["spec-list"], "is not a task spec (it holds list", False, "task_spec.json a list"),
    row(E, ["spec-no-name"], "lacks the field 'name'", False, "task_spec.json without name"),
    row(E, ["other-task"], "task parameter gap=9", False, "config.json disagrees with task_spec.json"),
    row(E, ["units-edited"], "config.json describes a simple_rnn with 64 units and 9,928 parameters, but", False,
        "config.json disagrees with model.keras"),
    row(E, ["vocabulary"], "vocabulary.json holds 2 tokens that differ", False, "vocabulary.json disagrees"),
    row(E, ["bad-json"], "metadata.json is not valid JSON", False, "metadata.json malformed"),
    row(E, ["escape"], "not a checkpoint's model-NNNNNN.keras", False, "checkpoint model outside the run"),
    row(G, ["diverged"], "its weights are not finite", False, "generate a diverged run"),
    # compare
    row(C, ["--models", "lstm", "--tasks", "recall", "--param-budget", "0"], "--param-budget must be a positive", True,
        "compare --param-budget 0"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--seeds", ""], "expected at least one int", True,
        "compare --seeds ''"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--steps", "0"], "--steps must be a positive", True,
        "compare --steps 0"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--tbptt", "0"], "--tbptt must be a positive", True,
        "compare --tbptt 0"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--jobs", "0"], "--jobs must be a positive", True,
        "compare --jobs 0"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--learning-rate", "nan"], "--learning-rate must be a positive",
        True, "compare --learning-rate nan"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--output", "{root}/afile"], "is a file, not a folder", True,
        "compare --output a file"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--output", "{root}/afile/sweep"], "a part of that path", True,
        "compare --output inside a file"),
    # pathlib reads "" as "." (this folder): an empty --output trained a whole sweep into the default folder
    row(C, ["--models", "lstm", "--tasks", "recall", "--output", ""], "--output needs a folder, got an empty string",
        True, "compare --output ''"),
    row(C, ["--models", "lstm", "--tasks", "recall", "--param-budget", "100000000000"], "needs at least", True,
        "compare --param-budget 1e11"),
    row(C, ["--models", "lstm,nosuch", "--tasks", "recall", "--output", "{root}/unknown-model"], "Unknown model 'nosuch'",
        False, "compare unknown --models"),
    row(C, ["--models", "nosuch", "--tasks", "recall", "--plan"], "Unknown model 'nosuch'", False,
        "compare --plan unknown --models"),
    row(C, ["--grid", "{root}/grid-types.json", "--plan"], "'models' of experiment 0 must be a list", False,
        "compare --grid with a number for models"),
    row(C, ["--grid", "{root}/grid-training.json", "--plan"], "'training' of experiment 0 must be an object", False,
        "compare --grid with a list for training"),
    row(C, ["--grid", "{root}/grid-folder", "--plan"], "is a folder", False, "compare --grid a folder"),
    row(C, ["--models", "simple_rnn", "--tasks", "recall", "--output", "{root}/sweeps/list", "--resume"],
        "is not a sweep", False, "compare --resume sweep.json a list"),
    row(C, ["--models", "simple_rnn", "--tasks", "recall", "--output", "{root}/sweeps/no-id", "--resume"],
        "runs[0] lacks 'id'", False, "compare --resume sweep.json without id"),
    # report
    row(R, ["{root}/afile"], "holds no sweep.json", True, "report a file"),
    row(R, ["{root}/sweeps/no-id"], "runs[0] lacks 'id'", False, "report sweep.json without id"),
    row(R, ["{root}/sweeps/bad-status"], "runs[0].status must be a string", False, "report status a number"),
    row(R, ["{root}/sweeps/broken"], "sweep.json is not valid JSON", False, "report sweep.json malformed"),
    # bench, bench_gradients, through_time, inspect, datasets.bench
    row(B, ["--units", "0"], "--units must be positive widths", True, "bench --units 0"),
    row(B, ["--steps", "0"], "--steps must be a positive integer", True, "bench --steps 0"),
    row(B, ["--repeats", "0"], "--repeats must be a positive integer", True, "bench --repeats 0"),
    row(B, ["--json", "{root}/missing/rows.json"], "does not exist", True, "bench --json into a missing folder"),
    row(B, ["--json", "{root}/grid-folder"], "is a folder", True, "bench --json a folder"),
    row(B, ["--json", ""], "--json needs a file name, got an empty string", True, "bench --json ''"),
    row(B, ["--json", "{root}/afile/rows.json"], "afile is a file, not a folder", True, "bench --json inside a file"),
    row(B, ["--lengths", "10", "--json", ""], "--json needs a file name", True, "bench --lengths --json ''"),
    row(B, ["--models", "nosuch", "--steps", "5"], "Unknown model(s) nosuch", False, "bench unknown --models"),
    row("training.bench_gradients", ["--units", "0"], "--units must be at least 1", True, "bench_gradients --units 0"),
    row("training.bench_gradients", ["--vocabulary", "1"], "--vocabulary must be at least 2", True,
        "bench_gradients --vocabulary 1"),
    row("training.through_time", ["--units", "0"], "--units must be at least 1", True, "through_time --units 0"),
    row("training.through_time", ["--time", "0"], "--time must be at least 2", True, "through_time --time 0"),
    row("training.through_time", ["--batch", "0"], "--batch must be at least 1", True, "through_time --batch 0"),
    row("training.inspect", ["{root}/afile"], "is not a run folder", True, "inspect a file"),
    row("training.inspect", ["{root}/runs/bad-json"], "metadata.json is not valid JSON", True, "inspect malformed JSON"),
    row("datasets.bench", ["--tasks", "nosuch"], "Unknown task(s) nosuch", True, "datasets.bench unknown task"),
]


@pytest.mark.parametrize("module, args, fragment, before_tensorflow", BAD_INPUTS)
def test_bad_inputs_are_one_sentence_and_exit_2(module, args, fragment, before_tensorflow, place, capfd):
    args = [a.replace("{root}", str(place)) for a in args]
    if module in (E, G) and "--saved-models" not in args:
        args += ["--saved-models", str(place / "runs")]
    before = _listing(place)
    if before_tensorflow:
        done = run_command(module, args)
        code, out, err = done.returncode, done.stdout, done.stderr
        err, _, imported = err.rstrip("\n").rpartition("\n")
        err += "\n"
        assert imported == "tensorflow not imported", f"{module} {args}: refused only after importing TensorFlow"
    else:
        import importlib

        code = importlib.import_module(module).main(args)
        out, err = capfd.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err, err
    if err.startswith("usage:"):  # argparse's own answer: its usage lines, then "<prog>: error: <sentence>"
        err = re.sub(r"^.*?: error: ", "error: ", err.strip().splitlines()[-1])
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error: " in lines[0], err
    assert fragment in lines[0], err
    if "--plan" in args:
        assert not out, f"--plan listed the runs before refusing them: {out}"
    assert _listing(place) == before, "a refused command changed a saved file"
    assert not (place / "gap-runs").exists() or not any((place / "gap-runs").iterdir()), \
        "a refused run left a run folder behind"


# ------------------------------------------------------------------------------------ the boundary
def test_a_bug_shows_its_traceback_and_says_it_is_a_bug(capfd):
    @boundary.command
    def main(argv=None):
        return {}["missing"]

    assert main([]) == boundary.EXIT_BUG
    _, err = capfd.readouterr()
    assert "Traceback" in err and "KeyError: 'missing'" in err
    assert err.strip().splitlines()[-1] == boundary.BUG_LINE


@pytest.mark.parametrize("error, fragment", [
    (PermissionError(13, "Permission denied", "/x/y"), "Permission denied on /x/y"),
    (OSError(30, "Read-only file system", "/x"), "read-only file system"),
    (OSError(28, "No space left on device", "/x/f"), "The disk is full"),
    (NotADirectoryError(20, "Not a directory", "/x/f"), "is a file, not a folder"),
    (IsADirectoryError(21, "Is a directory", "/x"), "is a folder where a file was expected"),
    (OSError(36, "File name too long", "/x/" + "y" * 300), "too long"),
    (json.JSONDecodeError("Expecting value", "{", 1), "is not valid JSON"),
    (MemoryError(), "Out of memory"),
    (boundary.UsageError("Give a folder."), "Give a folder."),
])
def test_what_the_user_or_the_system_caused_is_one_sentence(error, fragment, capfd):
    @boundary.command
    def main(argv=None):
        raise error

    assert main([]) == boundary.EXIT_USAGE
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and err.startswith("error: ") and fragment in err and "Traceback" not in err, err


def test_a_full_disk_that_names_no_file_is_still_one_clear_sentence():
    """ENOSPC from a write through a file descriptor carries no file name: no dangling 'writing;'."""
    from training.core.preflight import os_error_sentence

    assert os_error_sentence(OSError(28, "No space left on device")) == (
        "The disk is full (or the quota is reached); free some space and run the command again.")


def test_a_disk_full_mid_sweep_without_a_file_name_names_the_sweep_folder(tmp_path, monkeypatch, capfd):
    """What a tmpfs filled up during a real sweep gave: 'The disk is full ... writing; free some space'."""
    from training.compare import main
    from training.sweep import runner

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "run_sweep", full)
    output = tmp_path / "sweep"
    assert main(["--models", "simple_rnn", "--tasks", "recall", "--output", str(output), "--quiet"]) == 2
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"error: The disk is full (or the quota is reached) writing {output}; free some space" in err, err


# ------------------------------------------------------------------------------------- saved runs
def test_a_diverged_run_evaluates_and_says_why_its_metrics_are_nan(place, capfd):
    from training.evaluate import main

    assert main(["diverged", "--saved-models", str(place / "runs")]) == 0
    out, err = capfd.readouterr()
    assert "diverged at step" in out and "not finite" in out and "Traceback" not in err


def test_a_finished_run_without_its_model_file_uses_its_last_checkpoint_and_says_so(place, capfd):
    from training.core.runs import load_run
    from training.evaluate import main

    assert main(["no-model", "--saved-models", str(place / "runs")]) == 0
    out, _ = capfd.readouterr()
    assert "model.keras is missing" in out and "--resume" not in out, out
    run = load_run("no-model", place / "runs", load_model=False)
    run.load_model()
    assert run.model_file.parent.name == "checkpoint" and run.step == 4


def test_a_crafted_model_file_is_unsafe_not_corrupt(tmp_path):
    """A .keras whose config names a function outside Keras (a class path to os.system)."""
    import zipfile

    from training.core.runs import load_model_file

    path = tmp_path / "model.keras"
    config = {"module": "keras.layers", "class_name": "Dense", "config": {"units": 1, "activation": {
        "module": "os", "class_name": "function", "config": "system", "registered_name": "function"}}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
    with pytest.raises(ValueError, match="unsafe"):
        load_model_file(path)


def test_a_legacy_h5_file_in_place_of_a_keras_file_is_refused_as_such_not_as_corrupt(tmp_path):
    """Keras's legacy HDF5 format can carry a Lambda's Python code; named model.keras it was "corrupt"."""
    import h5py

    from training.core.runs import load_model_file

    path = tmp_path / "model.keras"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Lambda", "config": {"function": ["4wAAAA==", None, None]}}]}})
    with pytest.raises(ValueError, match="is an HDF5 file") as caught:
        load_model_file(path)
    assert "corrupt" not in str(caught.value) and "will not load it" in str(caught.value)


@pytest.mark.parametrize("raised", [
    TypeError("Could not locate function 'system'. Make sure custom classes are decorated with "
              "`@keras.saving.register_keras_serializable()`."),
    AttributeError("Requested the deserialization of a Lambda layer ... pass `safe_mode=False`"),
    ValueError("The `function` of this layer is arbitrary code; unsafe deserialization is disabled"),
])
def test_what_safe_mode_refused_reads_unsafe_whatever_keras_raised(tmp_path, monkeypatch, raised):
    """Keras refuses crafted files with several exception types; each is "unsafe", not "corrupt"."""
    import zipfile

    import keras

    from training.core.runs import load_model_file

    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"module": "keras.layers", "class_name": "Dense", "config": {}}))

    def refuse(*args, **kwargs):
        raise raised

    monkeypatch.setattr(keras.models, "load_model", refuse)
    with pytest.raises(ValueError, match="unsafe deserialization") as caught:
        load_model_file(path)
    assert "corrupt" not in str(caught.value)


# ------------------------------------------------------------------------------------ HOME and caches
def test_an_unwritable_home_gets_temporary_cache_folders(tmp_path):
    """HOME=/proc cannot be written, even by root: Keras's, TFDS's and Matplotlib's caches go to a temporary
    folder, and the variables the user set are kept."""
    script = ("import os, json; from training.core.boundary import prepare_environment; "
              "print(json.dumps({'chosen': prepare_environment(), 'mpl': os.environ.get('MPLCONFIGDIR')}))")
    env = _env(HOME="/proc", MPLCONFIGDIR=str(tmp_path))
    for name in ("KERAS_HOME", "TFDS_DATA_DIR"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=REPO)
    result = json.loads(done.stdout)
    assert set(result["chosen"]) == {"KERAS_HOME", "TFDS_DATA_DIR"}, result
    assert all(os.access(folder, os.W_OK) and not folder.startswith("/proc") for folder in result["chosen"].values())
    assert result["mpl"] == str(tmp_path)
    env.pop("HOME")  # unset: the home folder of the user's account, if it can be written
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr


# Runs the rest of its command line as a user that file permissions bind: as itself when not root; as root
# without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (dropped from the bounding set, so the exec'd interpreter
# lacks them) when root, since chmod does not stop root's writes otherwise. Exit 77: they cannot be dropped.
_UNPRIVILEGED = textwrap.dedent("""
    import ctypes, os, sys
    if os.geteuid() == 0:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
        if any(prctl(24, cap, 0, 0, 0) != 0 for cap in (1, 2)):  # PR_CAPBSET_DROP of the two DAC capabilities
            sys.exit(77)
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
""")


@pytest.fixture
def read_only_home():
    """(home, env): a HOME folder made read-only with chmod (555), with a TMPDIR beside it that anyone may
    write, and an environment without the cache variables; both removed afterwards."""
    import tempfile

    base = pathlib.Path(tempfile.mkdtemp(prefix="rnn-zoo-home-"))
    home, tmp = base / "home", base / "tmp"
    home.mkdir()
    tmp.mkdir()
    os.chmod(base, 0o755)
    os.chmod(tmp, 0o777)
    os.chmod(home, 0o555)
    env = _env(HOME=str(home), TMPDIR=str(tmp))
    for name in ("KERAS_HOME", "TFDS_DATA_DIR", "MPLCONFIGDIR"):
        env.pop(name, None)
    yield home, env
    os.chmod(home, 0o755)
    shutil.rmtree(base, ignore_errors=True)


def _run_unprivileged(args, env, timeout=300) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", _UNPRIVILEGED, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=timeout)
    if done.returncode == 77:
        pytest.skip("runs as root and cannot drop CAP_DAC_OVERRIDE (no CAP_SETPCAP): chmod would not stop its writes")
    return done


def test_a_temporary_cache_folder_another_user_made_first_is_not_used(tmp_path):
    """<tmp>/rnn-zoo-<uid> made by another user (world-writable, theirs): Keras would read its keras.json and
    TFDS its data from there, so the caches go to a fresh folder of this user's own instead."""
    if os.geteuid() != 0:
        pytest.skip("needs root to make a folder that another user owns")
    tmp = tmp_path / "tmp"
    squat = tmp / "rnn-zoo-0"
    squat.mkdir(parents=True)
    os.chown(squat, 65534, 65534)
    os.chmod(squat, 0o777)
    script = ("import json; from training.core.boundary import prepare_environment; "
              "print(json.dumps(prepare_environment()))")
    env = _env(HOME="/proc", TMPDIR=str(tmp))
    for name in ("KERAS_HOME", "TFDS_DATA_DIR", "MPLCONFIGDIR"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=REPO)
    chosen = json.loads(done.stdout)
    assert set(chosen) == {"KERAS_HOME", "TFDS_DATA_DIR", "MPLCONFIGDIR"}, done.stderr
    for folder in map(pathlib.Path, chosen.values()):
        assert folder.is_relative_to(tmp) and not folder.is_relative_to(squat), folder
        assert folder.parent.stat().st_uid == 0 and not folder.parent.stat().st_mode & 0o077, folder
    assert not any(squat.iterdir())


def test_a_home_a_non_root_user_may_not_write_gets_temporary_cache_folders(read_only_home):
    """HOME read-only by its mode (chmod 555), for a user file permissions bind: every cache folder goes to a
    temporary folder that can be written, none under HOME."""
    home, env = read_only_home
    script = textwrap.dedent("""
        import json, os, tempfile
        try:
            tempfile.mkstemp(dir=os.environ["HOME"])
            print(json.dumps("home writable"))
        except PermissionError:
            from training.core.boundary import prepare_environment
            print(json.dumps(prepare_environment()))
    """)
    done = _run_unprivileged(["-c", script], env)
    assert done.returncode == 0, done.stderr
    chosen = json.loads(done.stdout)
    if chosen == "home writable":
        pytest.skip("this user writes through a read-only mode (a capability the test could not drop)")
    assert set(chosen) == {"KERAS_HOME", "TFDS_DATA_DIR", "MPLCONFIGDIR"}, chosen
    for folder in chosen.values():
        assert pathlib.Path(folder).is_dir() and os.access(folder, os.W_OK), folder
        assert not pathlib.Path(folder).is_relative_to(home) and pathlib.Path(folder).is_relative_to(env["TMPDIR"])
    assert not any(home.iterdir())


def test_folders_a_non_root_user_may_not_write_are_refused_before_any_work(tmp_path):
    """compare --output inside a folder of mode 555, and report on a sweep folder or a report/ of mode 555
    (another user's, as its user sees it): one sentence, exit 2, before TensorFlow, nothing changed."""
    locked, sweep, theirs = tmp_path / "locked", tmp_path / "sweep", tmp_path / "theirs"
    locked.mkdir()
    for folder in (sweep, theirs):  # theirs: the sweep folder may be written, its report/ may not
        (folder / "report").mkdir(parents=True)
        (folder / "sweep.json").write_text(json.dumps({"runs": [], "experiments": []}))
        (folder / "report" / "report.md").write_text("old")
    modes = [locked, sweep, sweep / "report", theirs / "report"]
    for folder in modes:
        os.chmod(folder, 0o555)
    before = _listing(tmp_path)
    try:
        for module, args, fragment in (
                (C, ["--models", "lstm", "--tasks", "recall", "--output", locked / "sweep"],
                 f"Cannot make the --output folder {locked / 'sweep'}: permission denied on {locked}; choose another"),
                (R, [sweep], f"The sweep folder {sweep} is not writable (Permission denied)"),
                (R, [theirs], f"Its report folder {theirs / 'report'} is not writable (Permission denied)")):
            done = _run_unprivileged(["-c", _DRIVER, module, *args], _env())
            err, _, imported = done.stderr.rstrip("\n").rpartition("\n")
            assert done.returncode == 2 and err.count("\n") == 0 and err.startswith("error: "), done.stderr
            assert fragment in err and imported == "tensorflow not imported", done.stderr
        assert _listing(tmp_path) == before and not (locked / "sweep").exists()
        assert sorted(p.name for p in theirs.iterdir()) == ["report", "sweep.json"]  # no staged leftover
    finally:
        for folder in modes:
            os.chmod(folder, 0o755)


@pytest.mark.slow
def test_evaluate_works_with_an_unwritable_or_unset_home(place, read_only_home):
    for home in ({"HOME": "/proc"}, {}):
        env = _env(**home)
        env.pop("HOME", None) if not home else None
        for name in ("KERAS_HOME", "TFDS_DATA_DIR", "MPLCONFIGDIR"):
            env.pop(name, None)
        done = run_command(E, ["finished", "--saved-models", place / "runs"], env=env)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    # a HOME its user may not write (chmod 555), the user not root (or root without its DAC capabilities)
    home, env = read_only_home
    done = _run_unprivileged(["-c", _DRIVER, E, "finished", "--saved-models", place / "runs"], env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "test" in done.stdout and not any(home.iterdir()), done.stdout


# ------------------------------------------------------------------------- read-only and full disks
def _mount(*args) -> bool:
    return subprocess.run(["mount", *map(str, args)], capture_output=True).returncode == 0


@pytest.fixture
def tmpfs(tmp_path):
    """mount(options) -> a fresh tmpfs folder mounted with those options (root only; chmod does not stop
    root's writes, a read-only mount does). Skips, with the reason, where mounting is not possible."""
    mounted = []

    def mount(options: str) -> pathlib.Path:
        folder = tmp_path / f"mnt{len(mounted)}"
        folder.mkdir()
        if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", options, "tmpfs", folder):
            pytest.skip("needs root and mount(8) to make a read-only or tiny file system (tmpfs)")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _refused(module, args, fragment):
    done = run_command(module, args)
    err, _, imported = done.stderr.rstrip("\n").rpartition("\n")
    assert done.returncode == 2, done.stderr
    assert err.count("\n") == 0 and err.startswith("error: ") and fragment in err, done.stderr
    assert imported == "tensorflow not imported", done.stderr


def test_read_only_file_systems_are_refused_before_any_work(tmpfs):
    ro = tmpfs("ro,size=1m")
    _refused(C, ["--models", "lstm", "--tasks", "recall", "--output", ro / "sweep"], "read-only file system")
    _refused(B, ["--json", ro / "rows.json"], "read-only file system")
    sweep = tmpfs("size=1m")
    (sweep / "sweep.json").write_text(json.dumps({"runs": [], "experiments": []}))
    assert _mount("-o", "remount,ro", sweep)
    _refused(R, [sweep], "is not writable (Read-only file system)")


def test_a_full_disk_is_refused_before_a_sweep_starts(tmpfs):
    small = tmpfs("size=1m")
    done = run_command(C, ["--models", "simple_rnn", "--tasks", "recall", "--output", small / "sweep", "--quiet"])
    assert done.returncode == 2 and "MB are free" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (small / "sweep" / "runs").exists()


def test_tensorflows_full_disk_reads_as_a_full_disk_not_out_of_memory(tmpfs):
    """TensorBoard's event writer on a disk that filled up during training raises ResourceExhaustedError
    "<path>; No space left on device": train said "Out of memory while training". Made real on a full tmpfs."""
    import tensorflow as tf

    from training.core import loop

    full = tmpfs("size=1m")
    with open(full / "filler", "wb") as f:
        try:
            f.write(b"x" * (2 << 20))
        except OSError:
            pass
    with pytest.raises(tf.errors.ResourceExhaustedError) as caught:
        writer = tf.summary.create_file_writer(str(full / "tensorboard"))
        with writer.as_default():
            tf.summary.scalar("loss", 1.0, step=0)
        writer.flush()
    for sentence in (boundary.sentence_for(caught.value), loop._os_error_sentence(caught.value)):
        assert sentence.startswith(f"The disk is full (or the quota is reached) writing {full / 'tensorboard'}"), sentence
        assert "memory" not in sentence
    exhausted = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[1000000,1000000]")
    assert boundary.sentence_for(exhausted).startswith("Out of memory")


def test_a_full_disk_mid_run_that_names_no_file_names_the_run_folder(tmp_path, monkeypatch, capfd):
    """A tmpfs filled during a real run gave "The disk is full (or the quota is reached); free some space and
    resume the run": which run? ENOSPC from a write through a file descriptor carries no file name."""
    from training.core import runs
    from training.train import main

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runs, "save_model", full)
    assert main(TINY + ["--no-tensorboard", "--run-name", "full", "--saved-models", str(tmp_path)]) == 2
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert f"error: The disk is full (or the quota is reached) writing {tmp_path / 'full'}; free some space" in err, err
    assert "disk is full" in json.loads((tmp_path / "full" / "metadata.json").read_text())["error"]


def test_an_unwritable_sweep_folder_is_said_before_the_report_is_built(tmp_path, monkeypatch, capfd):
    """As root, chmod does not stop writes: the probe's refusal is simulated where the report would write."""
    import errno
    import tempfile

    from training.report import main

    (tmp_path / "sweep.json").write_text(json.dumps({"runs": [], "experiments": []}))
    real = tempfile.mkstemp

    def refuse(*args, **kwargs):
        if kwargs.get("dir") == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    assert main([str(tmp_path)]) == 2
    _, err = capfd.readouterr()
    assert "is not writable (Permission denied)" in err and err.count("\n") == 1, err
    assert not (tmp_path / "report").exists()


# -------------------------------------------------------------------------- sweeps: kill, full disk
GRID = {"models": ["simple_rnn"], "tasks": [{"task": "recall", "params": {"gap": 4, "eval_size": 64}}],
        "seeds": [0, 1, 2], "training": {"units": 8, "batch_size": 16, "steps": 4, "epochs": 2}}
# The columns of results.csv compared between sweeps: what was run and what it measured (the others hold
# timings, throughput and dates, which depend on the clock and the machine's load).
RESULT_COLUMNS = ("experiment", "id", "label", "model", "task", "seed", "status", "error", "parameters", "metric",
                  "test_metric", "chance")


@pytest.fixture(scope="module")
def reference_sweep(tmp_path_factory):
    from training.compare import main

    root = tmp_path_factory.mktemp("reference")
    (root / "grid.json").write_text(json.dumps(GRID))
    assert main(["--grid", str(root / "grid.json"), "--output", str(root / "sweep"), "--quiet"]) == 0
    return root / "sweep"


def sweep_records(folder: pathlib.Path) -> dict:
    """What a sweep recorded, minus the clock: every run's status and test metrics, and the report's table."""
    import pandas as pd

    sweep = json.loads((folder / "sweep.json").read_text())
    ids = [r["id"] for r in sweep["runs"]]
    assert len(ids) == len(set(ids)), f"a run is listed twice: {ids}"
    folders = sorted(p.name for p in (folder / "runs").iterdir() if p.is_dir())
    assert folders == sorted(ids), f"run folders {folders} for runs {ids}: one lost or duplicated"
    frame = pd.read_csv(folder / "report" / "results.csv")
    # The report's result columns only (comparing the whole table failed on its per-phase timings).
    frame = frame[[c for c in RESULT_COLUMNS if c in frame.columns]]
    # an empty cell (no error, no chance) as None: NaN is not equal to itself, so a table holding one would
    # differ from itself
    frame = frame.astype(object).where(frame.notna(), None)
    return {
        "runs": {r["id"]: (r["status"], json.loads((folder / r["run_dir"] / "metadata.json").read_text())["test"])
                 for r in sweep["runs"]},
        "table": frame.sort_values("id").reset_index(drop=True).to_dict("list"),
    }


@pytest.mark.slow
@pytest.mark.parametrize("point", ["train_step@3", "train_step@6", "checkpoint_write@3", "final_save@2"])
def test_a_sweep_killed_anywhere_resumes_to_the_uninterrupted_report(tmp_path, reference_sweep, point):
    """kill -9 of a one-process sweep inside its first run, between runs' steps, while a checkpoint is written
    and while a final model is saved; `--resume` then gives the records of the uninterrupted sweep."""
    from training.compare import main

    (tmp_path / "grid.json").write_text(json.dumps(GRID))
    args = ["--grid", tmp_path / "grid.json", "--output", tmp_path / "sweep", "--quiet"]
    killed = subprocess.run([sys.executable, "-m", "training.compare", *map(str, args)], cwd=REPO,
                            env={**_env(), faults.DIE_AT: point}, capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr
    assert main([*map(str, args), "--resume"]) == 0
    assert sweep_records(tmp_path / "sweep") == sweep_records(reference_sweep)


def _children(pid: int) -> list[int]:
    out = []
    for task in pathlib.Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


@pytest.mark.slow
def test_workers_of_a_killed_sweep_stop_and_resume_completes_it(tmp_path, reference_sweep):
    import signal
    import time

    from training.compare import main

    if not pathlib.Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists():
        pytest.skip("needs /proc/<pid>/task/<tid>/children to find the worker processes")
    (tmp_path / "grid.json").write_text(json.dumps(GRID))
    args = ["--grid", str(tmp_path / "grid.json"), "--output", str(tmp_path / "sweep"), "--quiet"]
    parent = subprocess.Popen([sys.executable, "-m", "training.compare", *args, "--jobs", "2", "--executor",
                               "processes"], cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not list((tmp_path / "sweep" / "runs").glob("*/checkpoint")):
        assert parent.poll() is None, parent.stderr.read().decode()
        time.sleep(0.2)
    workers = [c for c in _children(parent.pid) if "multiprocessing" in pathlib.Path(f"/proc/{c}/cmdline").read_text()]
    assert workers, "no worker process found"
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers), "a worker of the killed sweep kept running"
    assert main([*args, "--resume"]) == 0
    assert sweep_records(tmp_path / "sweep") == sweep_records(reference_sweep)


@pytest.mark.slow
@pytest.mark.parametrize("code", ["ENOSPC", "EROFS"])
def test_a_disk_full_or_read_only_mid_sweep_leaves_a_sweep_that_resumes(tmp_path, reference_sweep, monkeypatch,
                                                                       capfd, code):
    """sweep.json cannot be written after the first run ended (the disk filled up, the file system was
    remounted read-only): one sentence, exit 2, the folder consistent; `--resume` completes the sweep."""
    import errno

    from training.compare import main
    from training.sweep import runner

    (tmp_path / "grid.json").write_text(json.dumps(GRID))
    args = ["--grid", str(tmp_path / "grid.json"), "--output", str(tmp_path / "sweep"), "--quiet"]
    real, calls = runner.write_json, []

    def failing(path, data):
        calls.append(path)
        if len(calls) >= 2 and pathlib.Path(path).name == "sweep.json":
            raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)), str(path))
        return real(path, data)

    monkeypatch.setattr(runner, "write_json", failing)
    assert main(args) == 2
    _, err = capfd.readouterr()
    assert err.count("\n") == 1 and "--resume" in err and "Traceback" not in err, err
    assert ("disk is full" if code == "ENOSPC" else "read-only file system") in err, err
    json.loads((tmp_path / "sweep" / "sweep.json").read_text())  # the last complete version
    monkeypatch.setattr(runner, "write_json", real)
    assert main([*args, "--resume"]) == 0
    assert sweep_records(tmp_path / "sweep") == sweep_records(reference_sweep)


def test_the_report_replaces_its_folder_whole(tmp_path, monkeypatch):
    """A report that fails while being built leaves the previous report/ as it was, and no staging folder."""
    from training.core import runs

    target = tmp_path / "report"
    target.mkdir()
    (target / "report.md").write_text("old")
    with pytest.raises(RuntimeError):
        with runs.staged_folder(target) as tmp:
            (tmp / "report.md").write_text("half")
            raise RuntimeError("killed mid-way")
    assert (target / "report.md").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    with runs.staged_folder(target) as tmp:
        (tmp / "report.md").write_text("new")
    assert (target / "report.md").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["report"]
    (tmp_path / f"{runs.STAGING_PREFIX}report.x").mkdir()  # what a kill between the renames leaves
    runs.remove_staging_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]
