"""`emgis map print live|risk|coverage --out map.png|map.pdf`: a map page printed.

The page is the served one (its data, legend and scale bar), opened with ``?print=1`` so that
it shows its print frame (title, date, data sources, north arrow: maps/print_layout.py) and
hides its buttons; headless Chromium takes it (maps/chromium.py). Without ``--server`` the
command serves the API itself on a free loopback port for the time of the print.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from emgis.api.cli.base import _settings, app, console, err

map_app = typer.Typer(help="Map pages as files: printed with title, legend, scale, north arrow "
                           "and date.", no_args_is_help=True)
app.add_typer(map_app, name="map")

PAGES = {"live": "/maps/live", "risk": "/maps/risk", "coverage": "/maps/coverage"}


@contextlib.contextmanager
def _served(app_):
    """Run ``app_`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app_, host="127.0.0.1", port=port,
                                           log_level="warning", ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the API did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@map_app.command("print")
def print_map(
    page: Annotated[str, typer.Argument(help="live, risk or coverage")],
    out: Annotated[Path, typer.Option(help="FILE.png (a picture) or FILE.pdf (a page)")],
    layer: Annotated[str, typer.Option(
        help="coverage only: the facility layer (shelters, depots, fire …)")] = "shelters",
    server: Annotated[str | None, typer.Option(
        help="a running emgis server (e.g. http://127.0.0.1:8000); default: serve one for the "
             "print")] = None,
    width: Annotated[int, typer.Option(min=400, max=8000, help="pixels")] = 1600,
    height: Annotated[int, typer.Option(min=300, max=8000, help="pixels")] = 1100,
    wait_s: Annotated[float, typer.Option(min=1, max=120,
                                          help="time the page gets to draw")] = 10.0,
) -> None:
    """Print a map page to PNG or PDF, with its title, legend, scale bar, north arrow and date."""
    from urllib.parse import urlencode

    from emgis.maps.chromium import PrinterMissing, capture

    if page not in PAGES:
        err.print(f"[red]{page!r}[/] is not a page: use {', '.join(PAGES)}")
        raise typer.Exit(2)
    if out.suffix.lower() not in (".png", ".pdf"):
        err.print(f"[red]--out {out}[/]: print to .png or .pdf")
        raise typer.Exit(2)
    query = {"print": "1", **({"layer": layer} if page == "coverage" else {})}
    path = f"{PAGES[page]}?{urlencode(query)}"

    def take(base: str) -> None:
        capture(base.rstrip("/") + path, out, size=(width, height), wait_ms=int(wait_s * 1000))

    try:
        if server:
            take(server)
        else:
            from emgis.api.http.app import create_app
            from emgis.layers.db import open_database
            from emgis.layers.settings import ApiSettings

            dbs, _ = _settings()
            with open_database(dbs) as db, _served(create_app(
                    ApiSettings(), engine=db.engine, db_settings=dbs)) as base:
                take(base)
    except PrinterMissing as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(f"wrote {out} ({page}{f', {layer}' if page == 'coverage' else ''})")
