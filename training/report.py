"""`python -m training.report <sweep folder>`: the report of a comparison sweep, built from its saved runs.

    python -m training.report saved_models/compare-seed-problems-quick-20261125-180000

`python -m training.compare` calls the same `build_report` when its sweep ends; running it again later
rebuilds the report from `sweep.json` and the run folders without training anything and gives the same
tables. It writes `<sweep>/report/`:

    report.md      the report (tables, figures by relative path, generated text)
    report.html    the same, self-contained: the figures are embedded, it opens offline
    *.png          the figures
    results.csv    one row per run (pandas.read_csv reads it)
    results.json   the sweep's description, every experiment's summary table and text, every run's row

Every paragraph under "What the numbers show" is generated from the numbers of this sweep: it states
which run did better, by how much and against which baseline; nothing in it is written in advance.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from training.core import quiet
from training.core.boundary import UsageError, command


# The library this command used to import at the top, still importable from here, now on first use so
# that `--help` needs no TensorFlow.
_LIBRARY = {"build_report": "training.sweep.document", "REPORT_DIR": "training.sweep.document", "SWEEP_FILE": "training.sweep.results"}


def __getattr__(name):
    if name in _LIBRARY:
        import importlib

        return getattr(importlib.import_module(_LIBRARY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@command
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training.report",
                                description="Rebuild the report of a comparison sweep from its saved runs.")
    p.add_argument("folder", help="the sweep folder that `python -m training.compare` printed (or its report/)")
    p.add_argument("--screenshots", action="store_true",
                   help="also look at the page as a reader would: headless-Chromium screenshots of its top and of "
                        "each section in <sweep>/report/screens/ (needs chromium on PATH)")
    args = p.parse_args(argv)
    if not args.folder.strip():
        raise UsageError("Give the sweep folder, not an empty string.")
    folder = pathlib.Path(args.folder)
    if folder.name == "report" and not (folder / "sweep.json").is_file():
        folder = folder.parent
    if not (folder / "sweep.json").is_file():
        raise UsageError(f"{folder} holds no sweep.json; point at the folder `python -m training.compare` printed.")
    from training.core.preflight import check_folder

    check_folder(folder, "the sweep folder")  # before any work: the report is written into it
    if (folder / "report").is_dir():  # the old report's files are deleted once the new one is in place
        check_folder(folder / "report", "its report folder")
    quiet.install()
    from training.sweep.document import build_report

    out = build_report(folder)
    print(f"report: {out}")
    if args.screenshots:
        from training.sweep import screenshots

        try:
            shots = screenshots.take(out / "report.html", out / "screens")
        except RuntimeError as error:
            raise UsageError(str(error)) from None
        print(f"screenshots: {len(shots)} in {out / 'screens'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
