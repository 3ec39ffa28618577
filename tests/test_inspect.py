"""`python -m training.inspect <run>`: a run's figures and its verdict, from the folder alone."""

import subprocess
import sys

import pytest

from training import inspect as inspect_command

EXPLODING = ["--model", "simple_rnn", "--task", "adding", "--task-param", "length=30", "--task-param", "eval_size=64",
             "--model-param", "recurrent_gain=2", "--optimizer", "sgd", "--learning-rate", "0.01", "--units", "16",
             "--batch-size", "16", "--epochs", "1", "--steps-per-epoch", "20"]


@pytest.fixture(scope="module")
def exploding_run(tmp_path_factory):
    """A tanh RNN at recurrent gain 2 under SGD (its first step's gradient is hundreds of times the rest),
    trained once, with global clipping at 100: only the first steps are clipped, the explosion stays visible."""
    from training import train

    root = tmp_path_factory.mktemp("runs")
    assert train.main([*EXPLODING, "--global-clipnorm", "100", "--saved-models", str(root)]) == 0
    (run,) = [p for p in root.iterdir() if p.is_dir()]
    return run


def test_inspect_writes_the_figures_and_a_verdict_from_the_same_rules(exploding_run, capsys):
    assert inspect_command.main([str(exploding_run)]) == 0
    out = capsys.readouterr().out
    for name in ("gradient_norms.png", "through_time.png", "learning_curve.png"):
        figure = exploding_run / "inspect" / name
        assert figure.is_file() and figure.stat().st_size > 10_000, name  # a drawn figure, not an empty canvas
        assert str(figure) in out
    lines = {line.split(":")[0]: line for line in out.splitlines() if ":" in line and not line.startswith(" ")}
    assert "EXPLODED" in lines["exploding"] and "(step 0)" in lines["exploding"]
    assert "global_clipnorm=100" in lines["clipping"] and "% of steps" in lines["clipping"]
    assert lines["clipping"].split("in ")[1] != "0% of steps"
    assert lines["vanishing"].startswith("vanishing: no") and "learning" in lines


def test_the_verdict_follows_its_thresholds(exploding_run):
    run = inspect_command.RunFiles(exploding_run)
    # Take the explosion out: every step as ordinary as the median one.
    median = sorted(r["grad_norm"] for r in run.gradients)[len(run.gradients) // 2]
    run.gradients = [{**r, "grad_norm": median} for r in run.gradients]
    assert inspect_command.verdict(run)[1].startswith("exploding: no")
    # A profile whose first position gets 1e-7 of the last token's gradient has vanished.
    name = run.profile_names()[0]
    run.profiles[name][-1][0] = run.profiles[name][-1][-1] * 1e-7
    run.profiles = {k: v for k, v in run.profiles.items() if k in (name, "steps", "epochs", "time", "lag")}
    assert inspect_command.verdict(run)[0].startswith("vanishing: VANISHED")
    # The learning line against the chance loss.
    run.metadata = {**run.metadata, "status": "finished", "test": {"loss": 0.5 * run.chance_loss},
                    "degenerate": {"flag": False}}
    assert inspect_command.verdict(run)[3].startswith("learning: yes")
    run.metadata["test"] = {"loss": 0.95 * run.chance_loss}
    assert inspect_command.verdict(run)[3].startswith("learning: NO")


def test_inspect_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    assert inspect_command.main([str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_inspect_help_imports_no_tensorflow():
    code = ("import sys\nfrom training import inspect\ntry:\n    inspect.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--saved-models" in done.stdout


def test_every_file_a_run_writes_is_in_the_run_folder_table_of_the_docs(exploding_run):
    """docs/training.md's table of `saved_models/<run>/` names every file and folder a real run (trained, then
    inspected) holds."""
    import re

    from tests.conftest import REPO_ROOT

    assert inspect_command.main([str(exploding_run)]) == 0
    text = (REPO_ROOT / "docs" / "training.md").read_text(encoding="utf-8")
    table = text[text.index("## The run folder"):].split("\n\n")[1]
    documented = {name.rstrip("/") for row in table.splitlines() for name in re.findall(r"`([^`<>]+?)`", row.split("|")[1])}
    written = {p.name for p in exploding_run.iterdir()}
    assert written - {"run.lock"} <= documented, f"not in docs/training.md's run-folder table: {written - documented}"
