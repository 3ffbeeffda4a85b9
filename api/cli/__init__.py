"""The `emgis` command line: parses, calls a service or a core, renders.

Importing this package registers every command on `emgis.api.cli.base.app`; `main` runs it.
The HTTP side (`emgis.api.http`) never imports anything from here.
"""

from __future__ import annotations

import signal
import sys

from emgis.api.cli import (  # noqa: F401  (each module registers its commands)
    alerts,
    batch,
    db,
    demo,
    dispatch,
    districts,
    documents,
    incidents,
    load,
    norms,
    plans,
    population,
    printing,
    readiness,
    relief,
    reports,
    risk,
    roads,
    serve,
    shelters,
    sitrep,
    stock_items,
    warning,
)
from emgis.api.cli.base import app

__all__ = ["app", "main"]


def _stop(signum: int, frame: object) -> None:
    """SIGTERM (systemd, ``docker stop``, ``timeout``) unwinds like Ctrl-C: the database emgis
    started is stopped and open transactions roll back, instead of dying with them running."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


