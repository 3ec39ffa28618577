"""The commands' start: `--help` needs no TensorFlow and lists every option with its help and default;
the flags are generated from RunConfig's fields; importing a package changes nothing in the host program."""

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT
from training import compare, train
from training.core import flags
from training.core.config import GRID_DEFAULTS, RunConfig

TRAINING_COMMANDS = ("train", "evaluate", "generate", "compare", "report", "bench", "bench_gradients",
                     "through_time", "inspect", "tutorials", "sweep.hparams", "sweep.schema",
                     "sweep.calibrate")  # every one the docs show
# `python -m datasets` runs the package's __init__ first: the registry and every task's parameters, no TensorFlow.
DATASETS_COMMANDS = ("datasets.__main__", "datasets.bench")

# In a fresh interpreter: import the command, call main(["--help"]) with argparse watched, and report
# what it printed, which parser it used, each option's rendered help, and whether TensorFlow got imported.
_HELP = textwrap.dedent("""
    import argparse, importlib, io, json, contextlib, sys
    parsers = []
    parse = argparse.ArgumentParser.parse_args
    def watched(self, *args, **kwargs):
        parsers.append(self)
        return parse(self, *args, **kwargs)
    argparse.ArgumentParser.parse_args = watched
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = importlib.import_module(sys.argv[1]).main(["--help"])
        except SystemExit as exit:
            code = exit.code
    p = parsers[0]
    formatter = p.formatter_class(prog=p.prog)
    options = [{"flags": a.option_strings, "help": formatter._expand_help(a) if a.help else "",
                "default": repr(a.default), "kind": type(a).__name__}
               for a in p._actions if not isinstance(a, argparse._HelpAction)]
    print(json.dumps({"code": code, "text": out.getvalue(), "prog": p.prog, "options": options,
                      "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
""")


def _help(module: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-c", _HELP, module], capture_output=True, text=True, env=env,
                         cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check_options(result: dict) -> None:
    assert result["code"] == 0
    for option in result["options"]:
        name = (option["flags"] or ["positional"])[0]
        assert option["help"].strip(), f"{result['prog']} {name} has no help text"
        for flag in option["flags"]:
            assert flag in result["text"], f"{result['prog']} --help does not list {flag}"
        # Every option that takes a value says what it is when left out: a None or SUPPRESS default too (the
        # flags generated from RunConfig parse to SUPPRESS and show RunConfig's default); only a switch that
        # is off unless given and a positional argument need not. "default:" itself: `--strategy`'s "One of
        # default, mirrored." names a choice, not its default.
        if option["flags"] and option["kind"] != "_StoreTrueAction":
            assert "default:" in option["help"].lower(), f"{result['prog']} {name} does not show its default"


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_help_answers_without_tensorflow_and_lists_every_option_with_its_default(command):
    result = _help(f"training.{command}")
    assert not result["tensorflow"] and not result["keras"], f"training.{command} --help imported TensorFlow"
    assert result["prog"] == f"python -m training.{command}"
    _check_options(result)


@pytest.mark.parametrize("module", DATASETS_COMMANDS)
def test_datasets_commands_answer_help_with_every_option(module):
    result = _help(module)
    assert result["prog"] == "python -m " + module.removesuffix(".__main__")
    assert not result["tensorflow"] and not result["keras"], f"{result['prog']} --help imported TensorFlow"
    _check_options(result)


def test_python_m_datasets_help_exits_0():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run([sys.executable, "-m", "datasets", "--help"], capture_output=True, text=True, env=env,
                         cwd=REPO_ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: python -m datasets") and "KEY=VALUE" in out.stdout


def test_importing_the_packages_changes_nothing_in_the_host_program():
    code = textwrap.dedent("""
        import importlib, json, os, sys
        changes = {}
        environ, finders = dict(os.environ), list(sys.meta_path)
        import training  # first, alone: it imports no TensorFlow, so a hook waiting for it would stay
        changes["training, before TensorFlow"] = {
            "environ": sorted(set(os.environ.items()) ^ set(environ.items())),
            "meta_path": [repr(f) for f in sys.meta_path if f not in finders]}
        import keras, tensorflow  # their own import hooks (absl, six) are theirs, not the project's
        for name in ("zoo", "datasets", "training.instruments", "training"):
            environ, finders = dict(os.environ), list(sys.meta_path)
            importlib.import_module(name)
            added = sorted(set(os.environ.items()) ^ set(environ.items()))
            changes[name] = {"environ": added, "meta_path": [repr(f) for f in sys.meta_path if f not in finders]}
        ours = [repr(f) for f in sys.meta_path if type(f).__module__.split(".")[0] in ("zoo", "datasets", "training")]
        changes["any project finder"] = {"environ": [], "meta_path": ours}
        print(json.dumps(changes))
    """)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO_ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    changes = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(changes) == {"training, before TensorFlow", "zoo", "datasets", "training.instruments", "training",
                            "any project finder"}
    assert all(not c["environ"] and not c["meta_path"] for c in changes.values()), changes


def test_every_run_config_field_is_a_train_flag_with_its_docstring_help():
    parser = train.build_parser()
    by_dest = {a.dest: a for a in parser._actions}
    sentences = flags.field_help()
    for field in dataclasses.fields(RunConfig):
        assert field.name in by_dest, f"RunConfig.{field.name} has no flag in training.train"
        assert field.name in sentences, f"RunConfig.{field.name} has no line in RunConfig's docstring Args"
        assert by_dest[field.name].help.startswith(sentences[field.name])


def test_a_field_without_a_docstring_line_is_refused():
    @dataclasses.dataclass
    class Extended(RunConfig):
        __doc__ = RunConfig.__doc__
        new_setting: int = 1

    flags.add_field_flags(argparse.ArgumentParser(), ["units"], cls=Extended)  # a documented field passes
    with pytest.raises(ValueError, match="new_setting"):
        flags.add_field_flags(argparse.ArgumentParser(), ["new_setting"], cls=Extended)


def test_flags_parse_into_the_same_config_as_the_fields():
    args = train.build_parser().parse_args(["--units", "16", "--no-tensorboard", "--theory", "--task-param", "gap=5",
                                            "--task-param", "path=x.txt", "--optimizer", "sgd"])
    config = train.config_from_args(args)
    assert (config.units, config.tensorboard, config.theory, config.optimizer) == (16, False, True, "sgd")
    assert config.task_params == {"gap": 5, "path": "x.txt"}
    assert config.batch_size == RunConfig().batch_size  # a flag left out keeps the field's default


def test_a_wrong_choice_is_refused_once_by_run_config_with_one_sentence(capsys):
    assert train.main(["--optimizer", "adagrad", "--model", "lstm", "--task", "recall"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: optimizer must be one of adam") and err.count("\n") == 1


def test_compare_help_shows_the_grid_defaults():
    parser = compare.build_parser()
    helps = {a.dest: a.help for a in parser._actions}
    for key in ("units", "batch_size", "steps", "epochs", "learning_rate"):
        assert f"default: {GRID_DEFAULTS[key]}" in helps[key], (key, helps[key])


def test_compare_help_states_each_budgets_worker_count():
    from training.sweep import experiments as suites

    text = " ".join(compare.build_parser()._option_string_actions["--jobs"].help.split())
    for budget in suites.BUDGETS:
        stated = re.search(rf"(\d+) for [^,;\d]*\b{budget}\b", text)
        assert stated and int(stated.group(1)) == suites.default_jobs(budget), (budget, text)


def test_docs_results_states_the_grid_defaults():
    text = (REPO_ROOT / "docs" / "results.md").read_text(encoding="utf-8")
    line = next((" ".join(p.split()) for p in text.split("\n\n") if "GRID_DEFAULTS" in p and "units" in p), "")
    assert line, "docs/results.md has no paragraph with the grid defaults"
    for key, value in GRID_DEFAULTS.items():
        shown = "the whole split" if value is None else str(value)
        assert re.search(rf"`?{key}`?\s*[=:]?\s*`?{re.escape(shown)}\b", line), (key, line)


def test_key_value_reads_json_and_pythons_spellings_of_true_false_none():
    from training.core.flags import key_value

    assert key_value("use_causal_mask=False") == ("use_causal_mask", False)  # was the truthy string "False"
    assert key_value("use_causal_mask=false") == ("use_causal_mask", False)
    assert key_value("x=True") == ("x", True) and key_value("x=None") == ("x", None)
    assert key_value("gap=30") == ("gap", 30) and key_value("path=/data/True") == ("path", "/data/True")
