"""Headless Chromium as a printer: a page (a file or a URL) to PNG or PDF.

Debian's ``chromium`` (``EMGIS_CHROMIUM`` names another) run once per print with a throw-away
profile; used by the documents' PDFs (maps/report_doc.py) and `emgis map print`
(maps/printing.py). Nothing here reaches the network beyond the URL it is given.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path


class PrinterMissing(RuntimeError):
    """No Chromium to print with."""


def chromium(exe: str | Path | None = None) -> str:
    """The Chromium to run, or `PrinterMissing` saying how to get one."""
    if exe:  # EMGIS_CHROMIUM: a path that is not there is "missing" too, not a crash later
        found = shutil.which(str(exe))
        if not found:
            raise PrinterMissing(f"printing needs Chromium: EMGIS_CHROMIUM={exe} is not an "
                                 "executable (apt-get install chromium, or fix the path)")
        return found
    found = shutil.which("chromium")
    if not found:
        raise PrinterMissing("printing needs Chromium (apt-get install chromium, or set "
                             "EMGIS_CHROMIUM to its path)")
    return found


def capture(url: str, out: Path, *, exe: str | Path | None = None, size: tuple[int, int] = (1400,
            1000), wait_ms: int = 8000, timeout_s: float = 180) -> Path:
    """Print ``url`` to ``out`` (.png: a screenshot of ``size``; .pdf: the page printed).

    ``wait_ms`` of virtual time lets the page's scripts fetch and draw before the capture.
    """
    exe = chromium(exe)
    fmt = out.suffix.lower()
    if fmt not in (".png", ".pdf"):
        raise ValueError(f"{out}: print to .png or .pdf")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        target = f"--screenshot={out}" if fmt == ".png" else f"--print-to-pdf={out}"
        args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--no-pdf-header-footer", f"--user-data-dir={d}/profile",
                f"--window-size={size[0]},{size[1]}", f"--virtual-time-budget={wait_ms}",
                target, url]
        subprocess.run(args, check=True, capture_output=True, timeout=timeout_s)
    if not out.is_file() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote nothing to {out}")
    return out
