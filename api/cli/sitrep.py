"""`emgis sitrep INCIDENT --out report.docx|.html|.pdf`: the situation report for an incident.

The command-line door of ``GET /incidents/{id}/report``: the content is gathered by
`emgis.shelters.sitrep.gather`, made a document by `emgis.maps.sitrep_doc` and written like the
plan's documents (`emgis report`, api/cli/documents.py): Word, HTML, or a PDF that Chromium prints
from the HTML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emgis.api.cli.base import _norms, _settings, app, console, err
from emgis.layers.problems import BadArgument, NotFound


@app.command("sitrep")
def sitrep(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    out: Annotated[Path, typer.Option(help="the report: FILE.docx, FILE.html or FILE.pdf")],
    k: Annotated[int, typer.Option("-k", "--k", help="teams listed per type", min=1)] = 2,
    network: Annotated[str, typer.Option(help="road network name")] = "default",
) -> None:
    """Write the situation report (情况报告) of an incident as a Word document, HTML or PDF."""
    from emgis.api.cli.documents import document_format, write_document
    from emgis.geo.store import load_network
    from emgis.layers.db import open_database
    from emgis.maps.sitrep_doc import document
    from emgis.shelters.sitrep import gather

    out, fmt = document_format(out)
    dbs, _ = _settings()
    try:
        with open_database() as db:
            sit = gather(db.engine, incident,
                         lambda: load_network(db.engine, network, home=dbs.home),
                         _norms(db.engine), k=k)
    except (NotFound, BadArgument) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    write_document(document(sit), out, fmt)
    a = sit.affected or {}
    console.print(f"wrote {out}: incident {incident}, {a.get('villages_total', 0)} villages, "
                  f"{a.get('population_total', 0):,.0f} people affected, "
                  f"{len(sit.assignments)} resources dispatched, {len(sit.notes)} notes")
