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
    verdict = out.splitlines()[-3:]  # three lines, after the figures
    lines = {line.split(":")[0]: line for line in verdict}
    assert list(lines) == ["vanishing", "exploding", "learning"], verdict
    assert "EXPLODED" in lines["exploding"] and "(step 0)" in lines["exploding"]
    assert "global_clipnorm=100 changed the gradient in" in lines["exploding"] and "% of steps" in lines["exploding"]
    assert not lines["exploding"].endswith("in 0% of steps")
    assert lines["vanishing"].startswith("vanishing: no")


def test_the_verdict_follows_its_thresholds(exploding_run):
    from training.core import rules

    run = inspect_command.RunFiles(exploding_run)
    # Take the explosion out: every step as ordinary as the median one.
    median = sorted(r["grad_norm"] for r in run.gradients)[len(run.gradients) // 2]
    run.gradients = [{**r, "grad_norm": median} for r in run.gradients]
    assert inspect_command.verdict(run)[1].startswith("exploding: no")
    # The report's rule (training.core.rules.VANISHED_DECADES): a first position that gets 10^-3.5 of the last
    # token's gradient at the end has vanished, one that gets 10^-2.5 has not.
    name = run.profile_names()[0]
    run.profiles = {k: v for k, v in run.profiles.items() if k in (name, "steps", "epochs", "time", "lag")}
    for decades, words in ((rules.VANISHED_DECADES - 0.5, "vanishing: VANISHED"), (rules.VANISHED_DECADES + 0.5,
                                                                                     "vanishing: no")):
        run.profiles[name][-1][0] = run.profiles[name][-1][-1] * 10 ** decades
        assert inspect_command.verdict(run)[0].startswith(words), (decades, inspect_command.verdict(run)[0])
    # The learning line tests the test MSE against chance as the report does (z on the standard error of the
    # run's 64 per-example losses, test_examples.npz): half the chance MSE is ahead, 0.99 of it is not.
    chance = run.metadata["chance"]["loss"]
    run.metadata = {**run.metadata, "status": "finished", "degenerate": {"flag": False}}
    run.metadata["test"] = {"mse": 0.5 * chance}
    assert inspect_command.verdict(run)[2].startswith("learning: yes"), inspect_command.verdict(run)[2]
    run.metadata["test"] = {"mse": 0.99 * chance}
    assert inspect_command.verdict(run)[2].startswith("learning: NO"), inspect_command.verdict(run)[2]
    run.metadata["degenerate"] = {"flag": True, "reason": "hidden state over 1e6"}
    assert inspect_command.verdict(run)[2].startswith("learning: DEGENERATE: hidden state over 1e6")


def test_the_learning_curve_of_an_exploding_loss_is_drawn_on_a_log_scale(exploding_run, tmp_path, monkeypatch):
    """One step's loss at 1e11 (an IRNN under Adam at 1e-2) flattened the rest of the curve onto zero."""
    scales = []
    monkeypatch.setattr(inspect_command, "_save", lambda fig, path: scales.append(fig.axes[0].get_yscale()) or path)
    run = inspect_command.RunFiles(exploding_run)
    inspect_command.learning_curve_figure(run, tmp_path / "a.png")
    run.gradients = [{**r, "step_loss": 1e11 if i == 1 else r["step_loss"]} for i, r in enumerate(run.gradients)]
    inspect_command.learning_curve_figure(run, tmp_path / "b.png")
    assert scales == ["linear", "log"]


def test_a_diverged_profile_is_judged_at_its_last_finite_checkpoint(exploding_run):
    """A diverged run's last through-time profile is NaN: the vanishing line says which checkpoint it read
    instead of calling 10^-inf "no"; a NaN step is counted in the singular."""
    import math

    run = inspect_command.RunFiles(exploding_run)
    name = run.profile_names()[0]
    run.profiles = {k: v.copy() for k, v in run.profiles.items()}
    run.profiles[name][-1][:] = math.nan
    line = inspect_command.verdict(run)[0]
    assert "inf" not in line and "the last finite profile" in line, line
    run.profiles[name][:] = math.nan
    assert inspect_command.verdict(run)[0].startswith("vanishing: not measurable")
    run.gradients = [{**run.gradients[0], "grad_norm": math.nan}] + run.gradients[1:]
    assert "NaN/Inf in 1 recorded step;" in inspect_command.verdict(run)[1] + ";"


def test_an_accuracy_is_tested_against_chance_and_solved_named(tmp_path):
    """recall (chance 1/8) on 1,000 test examples: 0.13 is not ahead of chance by the exact binomial test,
    0.2 is, and 0.95 is solved (rules.SOLVED_ACCURACY)."""
    import json

    (tmp_path / "config.json").write_text(json.dumps({"model": "lstm", "task": "recall"}))
    run = inspect_command.RunFiles(tmp_path)
    run.metadata = {"status": "finished", "chance": {"loss": 2.079, "accuracy": 0.125},
                    "test_examples": {"n": 1000, "tokens": 1000}}
    for accuracy, words in ((0.13, "learning: NO:"), (0.2, "learning: yes:"), (0.95, "learning: yes:")):
        run.metadata["test"] = {"accuracy": accuracy, "loss": 1.0}
        line = inspect_command.verdict(run)[2]
        assert line.startswith(words), line
        assert ("solved" in line) == (accuracy >= 0.9), line


def test_inspect_refuses_a_folder_that_is_no_run(tmp_path, capsys):
    assert inspect_command.main([str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err


def test_inspect_help_imports_no_tensorflow():
    code = ("import sys\nfrom training import inspect\ntry:\n    inspect.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'tensorflow' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--saved-models" in done.stdout


def test_inspect_reads_a_run_without_tensorflow(exploding_run):
    """docs/training.md: inspect reads the run folder only; its verdict's rules (stats, datasets' registry)
    import no TensorFlow either."""
    code = ("import sys\nfrom training import inspect\nassert inspect.main([sys.argv[1]]) == 0\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow imported'")
    done = subprocess.run([sys.executable, "-c", code, str(exploding_run)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("learning: ")


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
