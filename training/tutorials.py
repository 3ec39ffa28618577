"""The tutorials (docs/tutorials/NN_name.py, jupytext percent scripts) as notebooks: list, run, write.

    python -m training.tutorials list               the tutorials, in order
    python -m training.tutorials run [NN ...]       execute each as a notebook; print seconds per notebook
    python -m training.tutorials ipynb [NN ...]     write the unexecuted .ipynb beside each .py
    python -m training.tutorials html [NN ...]      execute and write docs/tutorials/rendered/NN_name.html

NN is "04", "04_long_term_dependency" or a path; none means all. Each notebook runs with nbclient on a
kernelspec `rnn-zoo` written into a temporary JUPYTER_PATH whose argv is this interpreter
(`<python> -m ipykernel_launcher`), so the kernel is the one of the virtual environment running the
runner, never a user-level kernel. The working directory of the kernel is the repository root. A cell
that raises fails the notebook (exit status 1); TIMEOUT_S bounds every cell and the whole notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import re
import sys
import tempfile
import time

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIALS_DIR = REPO_ROOT / "docs" / "tutorials"
RENDERED_DIR = TUTORIALS_DIR / "rendered"
PATTERN = "[0-9][0-9]_*.py"
KERNEL_NAME = "rnn-zoo"
KERNEL_DISPLAY_NAME = "rnn-zoo (.venv)"
TIMEOUT_S = 180  # per cell and for the whole notebook; also the test's limit on the stated run time


def tutorial_paths() -> list[pathlib.Path]:
    """Every tutorial source, in the article's order (by file name)."""
    return sorted(TUTORIALS_DIR.glob(PATTERN))


def resolve(names) -> list[pathlib.Path]:
    """The tutorials named by NN, NN_name or a path (none: all); ValueError for an unknown name."""
    paths = tutorial_paths()
    if not names:
        return paths
    chosen = []
    for name in names:
        candidate = pathlib.Path(name)
        if candidate.suffix == ".py" and candidate.is_file():
            chosen.append(candidate.resolve())
            continue
        stem = candidate.name.removesuffix(".py").removesuffix(".ipynb")
        matches = [p for p in paths if p.stem == stem or p.stem.split("_", 1)[0] == stem]
        if not matches:
            known = ", ".join(p.stem for p in paths) or "none"
            raise ValueError(f"no tutorial {name!r}: choose among {known}.")
        chosen.extend(matches)
    return chosen


def read_notebook(path: pathlib.Path):
    """The notebook of a percent script, with the rnn-zoo kernelspec."""
    import jupytext

    notebook = jupytext.read(path, fmt="py:percent")
    notebook.metadata["kernelspec"] = {"display_name": KERNEL_DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
    return notebook


@contextlib.contextmanager
def temporary_kernel():
    """A kernelspec `rnn-zoo` for this interpreter in a temporary JUPYTER_PATH (restored afterwards)."""
    with tempfile.TemporaryDirectory(prefix="rnn-zoo-kernel-") as tmp:
        spec_dir = pathlib.Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": KERNEL_DISPLAY_NAME,
            "language": "python",
            "env": {
                "TF_CPP_MIN_LOG_LEVEL": "3",
                "MPLBACKEND": "module://matplotlib_inline.backend_inline",
                "IPYTHONDIR": str(pathlib.Path(tmp) / "ipython"),
                "PYTHONPATH": str(REPO_ROOT),
            },
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "JUPYTER_DATA_DIR")}
        os.environ["JUPYTER_PATH"] = tmp
        os.environ["JUPYTER_DATA_DIR"] = tmp
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def execute(path: pathlib.Path, timeout_s: int = TIMEOUT_S):
    """Run one tutorial as a notebook; return (executed notebook, seconds). Raises on a failing cell."""
    from nbclient import NotebookClient

    notebook = read_notebook(path)
    start = time.monotonic()
    with temporary_kernel():
        client = NotebookClient(
            notebook,
            timeout=timeout_s,
            kernel_name=KERNEL_NAME,
            resources={"metadata": {"path": str(REPO_ROOT)}},
        )
        # The whole-notebook limit: every cell is given only what is left of timeout_s.
        original = client.async_execute_cell

        async def bounded(cell, cell_index, *args, **kwargs):
            left = timeout_s - (time.monotonic() - start)
            if left <= 0:
                raise TimeoutError(f"{path.name}: the notebook ran past {timeout_s} s (at cell {cell_index}).")
            client.timeout = max(1, int(min(timeout_s, left)))
            return await original(cell, cell_index, *args, **kwargs)

        client.async_execute_cell = bounded
        client.execute()
    return notebook, time.monotonic() - start


def write_ipynb(path: pathlib.Path) -> pathlib.Path:
    import nbformat

    target = path.with_suffix(".ipynb")
    nbformat.write(read_notebook(path), target)
    return target


# TensorFlow's C++ start-up lines (absl logging, before TF_CPP_MIN_LOG_LEVEL applies): not the lesson.
_NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} \d\d:\d\d:\d\d)")


def drop_native_logs(notebook):
    """Remove TensorFlow's native start-up log lines from stderr outputs (in place); drop emptied outputs."""
    for cell in notebook.cells:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = [line for line in output["text"].splitlines(keepends=True) if not _NATIVE_LOG.match(line)]
                if not "".join(lines).strip():
                    continue
                output["text"] = "".join(lines)
            kept.append(output)
        if cell.cell_type == "code":
            cell.outputs = kept
    return notebook


def write_html(path: pathlib.Path, notebook) -> pathlib.Path:
    from nbconvert import HTMLExporter

    drop_native_logs(notebook)
    body, _ = HTMLExporter().from_notebook_node(notebook)
    RENDERED_DIR.mkdir(parents=True, exist_ok=True)
    target = RENDERED_DIR / f"{path.stem}.html"
    target.write_text(body, encoding="utf-8")
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.tutorials", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("list", "run", "ipynb", "html"),
                        help="list the tutorials, run them, or write them as notebooks (ipynb) or pages (html)")
    parser.add_argument("names", nargs="*", help='tutorials: "04", "04_long_term_dependency" or a path; none = all')
    args = parser.parse_args(argv)
    try:
        paths = resolve(args.names)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if args.command == "list":
        for path in paths:
            print(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)
        return 0
    if args.command == "ipynb":
        for path in paths:
            print(write_ipynb(path).relative_to(REPO_ROOT))
        return 0
    from nbclient.exceptions import CellExecutionError

    failed = 0
    for path in paths:
        try:
            notebook, seconds = execute(path)
        except (CellExecutionError, TimeoutError) as error:
            print(f"{path.stem}: FAILED\n{error}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path.stem}: {seconds:.1f} s", flush=True)
        if args.command == "html":
            print(f"  -> {write_html(path, notebook).relative_to(REPO_ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
