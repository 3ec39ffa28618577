"""The layout's import rules: commands -> training.core / training.instruments / training.sweep -> zoo,
datasets; `training.instruments` imports nothing of the project (it is advertised for any model.fit)."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
COMMANDS = {p.stem for p in (ROOT / "training").glob("*.py") if p.stem != "__init__"}
LIBRARIES = ("core", "instruments", "sweep")
# What each part of the project may import of the project (the arrows point down).
ALLOWED = {
    "training.instruments": ("training.instruments",),
    "training.core": ("training", "training.core", "training.instruments", "zoo", "datasets"),
    "training.sweep": ("training", "training.core", "training.instruments", "training.sweep", "zoo", "datasets"),
    "zoo": ("zoo",),
    "datasets": ("datasets",),
}
# The one exception: the datasets package's commands (`python -m datasets`, `python -m datasets.bench`) share
# every command's error boundary and start-up filter, standard-library modules that import nothing of the project; the
# library part of `datasets` still imports only itself.
COMMAND_BOUNDARY = ("training.core.boundary", "training.core.quiet")
DATASETS_COMMANDS = ("__main__.py", "bench.py")
INSTRUMENTS_THIRD_PARTY = {"keras", "tensorflow", "tensorboard", "numpy", "pandas"}


def _project_module(name: str) -> str | None:
    """The project package an import names (`training.core`, `training.train`, `zoo` ...), or None."""
    parts = name.split(".")
    if parts[0] in ("zoo", "datasets"):
        return parts[0]
    if parts[0] != "training":
        return None
    if len(parts) == 1:
        return "training"
    return "training." + parts[1]


def _imports(path: pathlib.Path):
    """Every module a file imports, at the top or inside a function."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _package_files():
    for package, allowed in ALLOWED.items():
        folder = ROOT.joinpath(*package.split("."))
        for path in sorted(folder.rglob("*.py")):
            yield package, allowed, path


@pytest.mark.parametrize("package,allowed,path", list(_package_files()),
                         ids=lambda v: str(v.relative_to(ROOT)) if isinstance(v, pathlib.Path) else "")
def test_imports_point_down(package, allowed, path):
    for name in _imports(path):
        if package == "datasets" and path.name in DATASETS_COMMANDS and path.parent.name == "datasets" and \
                name.startswith(COMMAND_BOUNDARY):
            continue
        target = _project_module(name)
        if target is None:
            if package == "training.instruments":
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top in INSTRUMENTS_THIRD_PARTY or top == "__future__", \
                    f"{path.name} imports {name}: the instruments use keras, tensorflow and numpy only"
            continue
        if target == "training" and name.split(".")[1:2] and name.split(".")[1] in COMMANDS:
            target = "training." + name.split(".")[1]
        assert target in allowed, f"{path.relative_to(ROOT)} imports {name}; {package} may import only {allowed}"


def test_the_command_boundary_imports_nothing_of_the_project():
    path = ROOT / "training" / "core" / "boundary.py"
    project = [n for n in _imports(path) if _project_module(n) is not None and n != "training.core.preflight"
               and not n.startswith("training.core.preflight.")]
    assert not project, f"{path.name} imports {project}: the datasets commands import it, it must stay a leaf"


def test_commands_are_the_top_level_modules():
    assert {"train", "evaluate", "generate", "compare", "report", "bench"} <= COMMANDS
    assert not COMMANDS & set(LIBRARIES)


def test_importing_the_instruments_loads_nothing_else_of_the_project():
    code = (
        "import sys, training.instruments\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('zoo', 'datasets') or "
        "m.startswith(('training.core', 'training.sweep')) or "
        "(m.startswith('training.') and not m.startswith('training.instruments')))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"
