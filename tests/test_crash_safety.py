"""Runs survive being killed (issue 12): kill -9 at named points, then `--resume`, gives the records of
an uninterrupted run bit for bit; a dead run is never reported `running`; one process per run folder;
operating-system errors and bad inputs are one sentence and exit code 2.

The kills are real: `RNN_ZOO_TEST_DIE_AT=<point>[@n]` (training/core/faults.py) makes the training
process SIGKILL itself at that point. Those tests start subprocesses and are marked slow; the default
run keeps the lock, the checks and the table of bad inputs, which need no training.
"""

from __future__ import annotations

import csv
import errno
import json
import os
import pathlib
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from training.core import faults, preflight
from training.core.config_types import check_types
from training.core.lock import LOCK_FILE, RunLock, RunLocked, is_locked_by_live_process, owner_info, owner_state

REPO = pathlib.Path(__file__).resolve().parents[1]

# A tiny run: 3 epochs of 5 steps (a checkpoint after each epoch), about 10 s of training.
TINY_ARGS = [
    "--model", "simple_rnn", "--task", "recall", "--task-param", "gap=4", "--task-param", "num_keys=4",
    "--task-param", "eval_size=64", "--units", "8", "--batch-size", "16", "--epochs", "3",
    "--steps-per-epoch", "5", "--quiet",
]
TOTAL_STEPS = 15
TIMING = {"tokens_per_second", "epoch_train_seconds"}  # wall-clock columns: never compared


def cli(command: str, *args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """`python -m training.<command> args...` in a fresh process, as a user runs it."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    for name in (faults.DIE_AT, faults.PAUSE_AT):
        if not (env or {}).get(name):
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", f"training.{command}", *map(str, args)],
        cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout,
    )


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def records(run_dir) -> dict:
    """Everything a run records about its training, minus wall-clock times: compared bit for bit."""
    run_dir = pathlib.Path(run_dir)
    meta = json.loads((run_dir / "metadata.json").read_text())
    with np.load(run_dir / "gradient_through_time.npz") as npz:
        through_time = {k: npz[k].tolist() for k in npz.files}
    return {
        "history": [{k: v for k, v in row.items() if k not in TIMING} for row in read_csv(run_dir / "history.csv")],
        "gradients": read_csv(run_dir / "gradients.csv"),
        "summary": json.loads((run_dir / "gradients_summary.json").read_text()),
        "through_time": through_time,
        "through_time_rows": read_csv(run_dir / "gradient_through_time.csv"),
        "test": meta["test"],
        "status": meta["status"],
        "steps_completed": meta["steps_completed"],
    }


def assert_same_records(resumed, reference):
    a, b = records(resumed), records(reference)
    steps = [int(row["step"]) for row in a["gradients"]]
    assert steps == list(range(len(steps))), f"duplicated or missing steps: {steps}"
    for key in b:
        assert a[key] == b[key], f"{key} differs after the resume"


def kill_at(root, name, point, *extra):
    """Start a run that SIGKILLs itself at `point`; returns the finished process."""
    proc = cli("train", *TINY_ARGS, *extra, "--run-name", name, "--saved-models", root, env={faults.DIE_AT: point})
    assert proc.returncode == -9, proc.stderr[-2000:]
    assert f"killed at {point if '@' in point else point + '@1'}" in proc.stderr
    return proc


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted tiny run (and one with two layers and dropout), made on first use."""
    root = tmp_path_factory.mktemp("reference")
    made = {}

    def get(variant=""):
        if variant not in made:
            extra = ["--num-layers", "2", "--dropout", "0.3"] if variant == "dropout" else []
            proc = cli("train", *TINY_ARGS, *extra, "--run-name", f"ref{variant}", "--saved-models", root)
            assert proc.returncode == 0, proc.stderr[-2000:]
            made[variant] = root / f"ref{variant}"
        return made[variant]

    return get


# --------------------------------------------------------------------------- kill -9, then --resume


@pytest.mark.slow
@pytest.mark.parametrize(
    "point",
    [
        "train_step@7",  # mid-epoch: epoch 2 of 3, after the first checkpoint
        "checkpoint_write@2",  # the second checkpoint's model is written, its state is not
        "final_save",  # the final model.keras is half-way into place
    ],
)
def test_kill_then_resume_gives_the_uninterrupted_records(tmp_path, reference, point):
    kill_at(tmp_path, "victim", point)
    run_dir = tmp_path / "victim"
    # A kill can leave a temporary file (the next owner of the folder removes it), never a model that is
    # not a complete .keras file.
    for model_file in run_dir.rglob("model*.keras"):
        assert zipfile.is_zipfile(model_file), model_file

    # Never `running` once its process is gone; the status says at which step it can go on.
    from training import load_run

    dead = load_run("victim", root=tmp_path, load_model=False)
    assert dead.status == "killed", dead.status
    assert dead.step in (5, 10, 15)

    # evaluate scores the model matching the recorded state, and says that it is the last checkpoint.
    proc = cli("evaluate", "victim", "--saved-models", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"last checkpoint (step {dead.step})" in proc.stdout + proc.stderr

    proc = cli("train", "--resume", "victim", "--saved-models", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_records(run_dir, reference())
    assert load_run("victim", root=tmp_path, load_model=False).status == "finished"
    assert not [p.name for p in run_dir.rglob(".tmp-*")], "temporary files were left behind"


@pytest.mark.slow
def test_killed_twice_keeps_every_gradient_record(tmp_path, reference):
    kill_at(tmp_path, "twice", "train_step@7")
    # Resumed at step 5; the counter restarts in the new process: its 4th step is step 8 of the run.
    proc = cli("train", "--resume", "twice", "--saved-models", tmp_path, env={faults.DIE_AT: "train_step@9"})
    assert proc.returncode == -9, proc.stderr[-2000:]
    proc = cli("train", "--resume", "twice", "--saved-models", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_records(tmp_path / "twice", reference())
    summary = json.loads((tmp_path / "twice" / "gradients_summary.json").read_text())
    assert summary["steps_seen"] == summary["rows"] == TOTAL_STEPS


@pytest.mark.slow
def test_resume_with_dropout_is_bit_identical(tmp_path, reference):
    kill_at(tmp_path, "drop", "train_step@8", "--num-layers", "2", "--dropout", "0.3")
    proc = cli("train", "--resume", "drop", "--saved-models", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert_same_records(tmp_path / "drop", reference("dropout"))


def paused_at(root, point, *args):
    """A training process (`args`) paused at `point`, once it got there."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", faults.PAUSE_AT: point}
    environment.pop(faults.DIE_AT, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "training.train", *map(str, args), "--saved-models", str(root)],
        cwd=REPO, env=environment, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    for line in proc.stderr:
        if f"paused at {point}" in line:
            return proc
    proc.kill()
    pytest.fail(f"the training process ended before {point}: {proc.communicate()}")


@pytest.mark.slow
def test_a_resumed_run_killed_again_is_not_scored_with_an_older_model(tmp_path, reference):
    """Issue 12, item 2: Ctrl-C at step 7 saved a top-level model.keras; the resumed part wrote its
    checkpoint at step 10 and was killed at step 11. evaluate must score step 10, not the older model."""
    proc = paused_at(tmp_path, "train_step@7", *TINY_ARGS, "--run-name", "stale")
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "Run interrupted" in out
    from training import load_run

    run = load_run("stale", root=tmp_path, load_model=False)
    assert (run.status, run.step) == ("interrupted", 7)

    proc = cli("train", "--resume", "stale", "--saved-models", tmp_path, env={faults.DIE_AT: "train_step@6"})
    assert proc.returncode == -9
    run = load_run("stale", root=tmp_path)
    assert (run.status, run.step) == ("killed", 10)
    assert int(run.model.optimizer.iterations.numpy()) == 10
    proc = cli("evaluate", "stale", "--saved-models", tmp_path)
    assert proc.returncode == 0 and "last checkpoint (step 10)" in proc.stdout + proc.stderr

    assert cli("train", "--resume", "stale", "--saved-models", tmp_path).returncode == 0
    assert_same_records(tmp_path / "stale", reference())


@pytest.mark.slow
def test_a_second_resume_of_a_live_run_is_refused(tmp_path):
    kill_at(tmp_path, "busy", "train_step@7")
    first = paused_at(tmp_path, "train_step@1", "--resume", "busy")
    try:
        from training import load_run

        assert load_run("busy", root=tmp_path, load_model=False).status == "running"
        second = cli("train", "--resume", "busy", "--saved-models", tmp_path)
        assert second.returncode == 2
        assert f"in use by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    finally:
        first.kill()
        first.wait()
    rows = read_csv(tmp_path / "busy" / "gradients.csv")
    assert len({r["step"] for r in rows}) == len(rows)  # the refused process wrote nothing
    # The lock of the killed first resume is taken over.
    proc = cli("train", "--resume", "busy", "--saved-models", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --------------------------------------------------------------------------- the run lock


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_a_live_lock_refuses_and_a_dead_ones_lock_is_taken_over(tmp_path):
    with RunLock(tmp_path):
        assert is_locked_by_live_process(tmp_path)
        info = json.loads((tmp_path / LOCK_FILE).read_text())
        assert info["pid"] == os.getpid() and info["host"] and info["started"]
        with pytest.raises(RunLocked, match=f"in use by process {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_FILE).exists() and not is_locked_by_live_process(tmp_path)

    # A process killed while holding the lock leaves the file; the kernel dropped its flock.
    code = (
        "import os, signal, sys; sys.path.insert(0, sys.argv[1]); from training.core.lock import RunLock; "
        "RunLock(sys.argv[2]).acquire(); os.kill(os.getpid(), signal.SIGKILL)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(REPO), str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    left = json.loads((tmp_path / LOCK_FILE).read_text())
    assert owner_state(left) == "dead" and not is_locked_by_live_process(tmp_path)
    lock = RunLock(tmp_path).acquire()
    assert lock.previous["pid"] == left["pid"]
    lock.release()


def test_owner_state_reads_pid_host_and_start_time():
    me = owner_info()
    assert owner_state(me) == "alive"
    assert owner_state({**me, "pid": _dead_pid()}) == "dead"
    assert owner_state({**me, "process_start": me["process_start"] + 1}) == "dead"  # the pid was reused
    assert owner_state({**me, "boot_id": "another-boot"}) == "dead"  # the machine restarted
    assert owner_state({**me, "host": "elsewhere.example"}) == "unknown"
    assert owner_state(None) == "dead"


# --------------------------------------------------------------------------- preflight and OS errors


def test_preflight_folder_checks(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        preflight.check_folder(afile, "--saved-models")
    with pytest.raises(ValueError, match="a part of that path is a file"):
        preflight.check_folder(afile / "sub", "--saved-models")
    assert preflight.check_folder(tmp_path / "new" / "runs") == tmp_path / "new" / "runs"
    with pytest.raises(ValueError, match="at most"):
        preflight.check_name_length(tmp_path, "x" * 300)
    with pytest.raises(ValueError, match="MB are free"):
        preflight.check_free_space(tmp_path, 1 << 62)
    with pytest.raises(ValueError, match="parameters and needs at least"):
        preflight.check_memory(10**15)


@pytest.mark.parametrize(
    "code, fragment",
    [
        (errno.EACCES, "Permission denied on /x/y"),
        (errno.EROFS, "read-only file system"),
        (errno.ENOSPC, "The disk is full"),
        (errno.ENAMETOOLONG, "too long"),
        (errno.ENOTDIR, "is a file, not a folder"),
    ],
)
def test_os_errors_read_as_one_sentence(code, fragment):
    sentence = preflight.os_error_sentence(OSError(code, os.strerror(code), "/x/y"))
    assert fragment in sentence and sentence.endswith(".") and "\n" not in sentence


def test_parameter_estimate_matches_real_builds_without_allocating():
    import zoo

    spec = dict(vocabulary_size=30, output="per_step", num_classes=30, causal=True, sequence_length=12)
    for model in ("lstm", "gru", "simple_rnn", "self_attention"):
        real = zoo.build_model(model, units=40, num_layers=2, **spec).count_params()
        assert preflight.estimate_parameters(model, units=40, num_layers=2, **spec) == real
    assert preflight.estimate_parameters("simple_rnn", units=10**9, **spec) > 10**18


# --------------------------------------------------------------------------- config types


@pytest.mark.parametrize(
    "data, message",
    [
        ({"record_gradients": "false"}, "record_gradients must be true or false, got the string 'false'"),
        ({"units": 8.0}, "units must be an integer, got the number 8.0"),
        ({"epochs": True}, "epochs must be an integer, got the boolean true"),
        ({"learning_rate": "1e-3"}, "learning_rate must be a number"),
        ({"embedding_dim": "big"}, "embedding_dim must be an integer or null"),
        ({"task_params": ["gap", 4]}, "task_params must be a JSON object"),
        ({"run_name": 7}, "run_name must be a string or null"),
    ],
)
def test_config_values_are_checked_by_type(data, message):
    from training.core.config import RunConfig

    with pytest.raises(ValueError, match="^Config file c.json: " + message.replace("(", r"\(")):
        check_types(RunConfig, data, source="Config file c.json")
    check_types(RunConfig, {"dropout": 0, "learning_rate": 1, "clipnorm": None, "record_gradients": False})


# --------------------------------------------------------------------------- bad inputs: one sentence, exit 2

FAST = ["--model", "simple_rnn", "--task", "recall", "--task-param", "eval_size=32", "--units", "8",
        "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "2", "--quiet"]
ISSUE = "issue 12: not refused yet"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Inputs for the table: a file, a config with a string for a boolean, a folder whose sweep.json is
    not a sweep, and a run folder (untrained, made without training) whose model.keras is unsafe."""
    import keras

    import datasets
    from training.core.config import RunConfig

    root = tmp_path_factory.mktemp("inputs")
    (root / "afile").write_text("not a folder")
    (root / "bool.json").write_text(json.dumps({"model": "simple_rnn", "task": "recall", "record_gradients": "false"}))
    (root / "notasweep").mkdir()
    (root / "notasweep" / "sweep.json").write_text(json.dumps({"foo": 1}))
    run = root / "runs" / "unsafe"
    run.mkdir(parents=True)
    _, spec = datasets.load_task("recall", split="test", batch_size=4, seed=0, eval_size=8)
    (run / "config.json").write_text(json.dumps(RunConfig(model="simple_rnn", task="recall").to_dict()))
    (run / "task_spec.json").write_text(json.dumps(spec.to_dict()))
    (run / "metadata.json").write_text(json.dumps({"status": "finished"}))
    unsafe = keras.Sequential([keras.Input((4,), dtype="int32"), keras.layers.Lambda(lambda x: x * 2)])
    unsafe.save(run / "model.keras")
    return root


BAD_INPUTS = [
    # (case, command, arguments, a fragment of the one-sentence message)
    pytest.param("train", FAST + ["--run-name", ""], "Run name '' is not allowed", id="empty run name",
                 marks=pytest.mark.xfail(run=False, reason=ISSUE + " (it trains)")),
    pytest.param("train", FAST + ["--run-name", "x" * 300], "characters long", id="300-character run name",
                 marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("train", FAST + ["--dry-run", "--run-name", "../x"], "not allowed", id="dry run named out of the folder",
                 marks=pytest.mark.xfail(run=False, reason=ISSUE + " (it trains)")),
    pytest.param("train", FAST + ["--saved-models", "{root}/afile"], "is a file, not a folder", id="saved-models is a file",
                 marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("train", FAST + ["--saved-models", "{root}/afile/runs"], "a part of that path is a file",
                 id="saved-models inside a file", marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("train", ["--config", "{root}/bool.json"], "record_gradients must be true or false",
                 id="a string for a boolean", marks=pytest.mark.xfail(run=False, reason=ISSUE + " (it trains)")),
    pytest.param("train", FAST + ["--units", "1000000000"], "needs at least", id="out-of-memory model",
                 marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("train", ["--resume", "unsafe", "--epochs", "10"], "--resume continues a run with its own settings",
                 id="resume with a setting", marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("train", FAST + ["--validation-steps", "1000"], "validation split has only",
                 id="validation steps beyond the split", marks=pytest.mark.xfail(run=False, reason=ISSUE + " (it trains)")),
    pytest.param("generate", ["unsafe", "--temperature", "nan"], "--temperature must be a finite number",
                 id="temperature nan", marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("generate", ["unsafe", "--temperature", "inf"], "--temperature must be a finite number",
                 id="temperature inf", marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("evaluate", ["unsafe"], "needs unsafe deserialization", id="unsafe model file"),
    pytest.param("compare", ["--only-models", "lstm,foo", "--plan"], "Unknown model 'foo'", id="unknown model in --only-models",
                 marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
    pytest.param("report", ["{root}/notasweep"], "is not a sweep", id="report of a folder that is not a sweep",
                 marks=pytest.mark.xfail(strict=True, reason=ISSUE)),
]


def _main_of(command):
    import importlib

    return importlib.import_module(f"training.{command}").main


@pytest.mark.parametrize("command, arguments, fragment", BAD_INPUTS)
def test_bad_inputs_are_one_sentence_and_exit_2(command, arguments, fragment, folders, capfd):
    arguments = [a.replace("{root}", str(folders)) for a in arguments]
    if command in ("train", "evaluate", "generate") and "--saved-models" not in arguments:
        arguments += ["--saved-models", str(folders / "runs")]
    before = sorted(p.name for p in (folders / "runs").iterdir())
    code = _main_of(command)(arguments)
    out, err = capfd.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("error: ") and err.count("\n") == 1, err  # one line, nothing else on stderr
    assert fragment in err and len(err) < 400, err
    assert "Traceback" not in out + err
    assert sorted(p.name for p in (folders / "runs").iterdir()) == before  # nothing was saved
