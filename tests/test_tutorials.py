"""The tutorials (docs/tutorials/NN_name.py): each runs as a notebook and its Checks hold; static rules.

`make test` runs `--dist loadfile`, so the tutorials run one after the other on one worker, in parallel
with the rest of the suite (why not one xdist group each: the Makefile). Conventions: docs/tutorials/README.md.
"""

import ast
import re

import pytest

from training import tutorials

PATHS = tutorials.tutorial_paths()
IDS = [p.stem for p in PATHS]

HEADER = """# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: rnn-zoo (.venv)
#     language: python
#     name: rnn-zoo
# ---
"""
PUBLIC_TRAINING = {"training", "training.instruments"}
RENDERED_LIMIT_BYTES = 1_500_000


def _cells(path):
    return tutorials.read_notebook(path).cells


def test_the_tutorials_exist():
    assert PATHS, f"no tutorial matches docs/tutorials/{tutorials.PATTERN}"
    assert len({p.stem[:2] for p in PATHS}) == len(PATHS), f"two tutorials share a number: {IDS}"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_header_and_first_cell(path):
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEADER), f"{path.name} must start with the jupytext header of docs/tutorials/README.md"
    first = _cells(path)[0]
    assert first.cell_type == "markdown" and first.source.lstrip().startswith("# "), "the first cell is the title"
    stated = re.search(r"Run time: (\d+) s", first.source)
    assert stated, f"{path.name}: the first cell must say 'Run time: N s'"
    assert int(stated.group(1)) <= tutorials.TIMEOUT_S, f"{path.name}: stated run time over {tutorials.TIMEOUT_S} s"
    command = f"python -m training.tutorials run {path.stem[:2]}"
    assert command in first.source, f"{path.name}: the first cell must name the command that measured it ({command})"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_ends_with_checks(path):
    cells = [c for c in _cells(path) if c.source.strip()]
    assert cells[-2].cell_type == "markdown" and cells[-2].source.lstrip().startswith("## Checks"), (
        f"{path.name}: the last markdown cell must be '## Checks'")
    assert cells[-1].cell_type == "code" and "assert " in cells[-1].source, (
        f"{path.name}: the last cell must hold the assertions")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_public_api_only(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [(a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [(node.module or "", a.name) for a in node.names]
        else:
            continue
        for module, name in modules:
            parts = module.split(".")
            assert not any(p.startswith("_") for p in parts), f"{path.name}: private module {module}"
            assert name is None or not name.startswith("_"), f"{path.name}: private name {module}.{name}"
            if parts[0] == "training":
                assert module in PUBLIC_TRAINING, f"{path.name}: imports {module}; use training / training.instruments"
    assert "training.core" not in path.read_text() and "training.sweep" not in path.read_text(), (
        f"{path.name}: training.core / training.sweep are not public API")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_rendered_copy_is_small(path):
    rendered = tutorials.RENDERED_DIR / f"{path.stem}.html"
    if not rendered.exists():
        pytest.skip(f"{rendered.name} not rendered yet (make tutorials-html)")
    assert rendered.stat().st_size < RENDERED_LIMIT_BYTES, f"{rendered.name} is over 1.5 MB: lower dpi or figures"


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_tutorial_runs_and_its_checks_hold(path):
    notebook, _ = tutorials.execute(path)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], f"{path.name} raised"
    printed = "".join(o.get("text", "") for o in notebook.cells[-1].get("outputs", []))
    assert "All checks passed." in printed, f"{path.name}: the Checks cell must end with print('All checks passed.')"


def test_runner_refuses_an_unknown_tutorial(capsys):
    assert tutorials.main(["run", "99_nothing"]) == 2
    assert "no tutorial" in capsys.readouterr().err
