"""Look at a report as a reader would: headless-Chromium screenshots of its top and of each section.

    paths = take("sweep/report/report.html", "sweep/report/screens")

`report.html` wraps every top-level section in `<section id="...">`; each is also written as a page of
its own (the report's stylesheet, that section only) so that its screenshot starts at its heading.
Chromium is looked up on PATH (`chromium`, `chromium-browser`, `google-chrome`); on Debian/Ubuntu
`apt-get install chromium` provides it.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import subprocess

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1280, 1600
_SECTION = re.compile(r'<section id="([^"]+)"[^>]*>.*?</section>', re.S)


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def shoot(page: pathlib.Path, png: pathlib.Path, width: int = WIDTH, height: int = HEIGHT) -> pathlib.Path:
    """One screenshot of the first `height` pixels of `page`."""
    exe = browser()
    if exe is None:
        raise RuntimeError("no Chromium found on PATH (tried " + ", ".join(BROWSERS) + "); "
                           "install it, e.g. `apt-get install chromium`.")
    png.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return png


def take(html_path, out_dir, width: int = WIDTH, height: int = HEIGHT) -> list[pathlib.Path]:
    """`top.png` (the first screen of the report) and `NN-<section id>.png` per section; returns the paths."""
    html_path, out_dir = pathlib.Path(html_path), pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    text = html_path.read_text(encoding="utf-8")
    shots = [shoot(html_path, out_dir / "top.png", width, height)]
    head = text.split("<body", 1)[0]
    pages = out_dir / "pages"
    for i, match in enumerate(_SECTION.finditer(text), start=1):
        page = pages / f"{match.group(1)}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f"{head}<body><main>{match.group(0)}</main></body></html>\n", encoding="utf-8")
        shots.append(shoot(page, out_dir / f"{i:02d}-{match.group(1)}.png", width, height))
    shutil.rmtree(pages, ignore_errors=True)
    return shots
