"""`emgis report coverage | risk | readiness --out FILE.docx|.pdf|.html`: the documents a bureau
attaches to its plan.

Not `emgis reports` (api/cli/reports.py: field reports sent from the phone page). The content is
built by `shelters.coverage_report`, `risk.risk_report` and `shelters.readiness_report` from the
same answers as `emgis coverage`, `emgis risk list` and `emgis readiness`, and written by
`maps.report_doc` (Word; PDF printed by Chromium from the HTML; HTML). `document_format` and
`write_document` are shared with `emgis sitrep`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from emgis.api.cli.base import _norms, app, console, err
from emgis.shelters.coverage import kinds_help

report_app = typer.Typer(
    help="Documents for the plan (规划、预案附件): the coverage, risk and readiness reports as "
         "Word (.docx), PDF or HTML, with maps, tables and the norms cited. Field reports from "
         "the phone page (灾情、隐患上报) are `emgis reports`.",
    no_args_is_help=True)
app.add_typer(report_app, name="report")

OUT_HELP = "the document: FILE.docx (the default when FILE has no extension), FILE.pdf or FILE.html"
AsOfOpt = Annotated[str | None, typer.Option(
    help="the report's date, YYYY-MM-DD (default today)")]


def document_format(out: Path) -> tuple[Path, str]:
    """``(path, format)`` of ``--out`` (``.docx`` added when it has no extension); exit 2 on
    another extension, or for a PDF when there is no Chromium to print it — before any work."""
    from emgis.layers.settings import ToolSettings
    from emgis.maps.chromium import PrinterMissing, chromium
    from emgis.maps.report_doc import FORMATS

    if not out.suffix:
        out = out.with_suffix(".docx")
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        err.print(f"[red]--out {out}[/]: write .docx, .html or .pdf")
        raise typer.Exit(2)
    if fmt == "pdf":
        try:
            chromium(ToolSettings().chromium)
        except PrinterMissing as exc:
            err.print(f"[red]{exc}[/] — or write .docx / .html")
            raise typer.Exit(2) from None
    return out, fmt


def write_document(doc, out: Path, fmt: str) -> None:
    """Render ``doc`` (a `layers.document.Document`) as ``fmt`` into ``out``."""
    from emgis.layers.settings import ToolSettings
    from emgis.maps.report_doc import PrinterMissing, render

    try:
        data = render(doc, fmt, ToolSettings().chromium)
    except PrinterMissing as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)


def _day(as_of: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        err.print(f"[red]--as-of {as_of!r}[/] is not a date; write YYYY-MM-DD")
        raise typer.Exit(2) from None


def _wrote(out: Path, doc) -> None:
    console.print(f"wrote {out}: {doc.title}, {len(doc.sections)} sections, "
                  f"{len(doc.norms.rows) if doc.norms else 0} norms cited, {len(doc.notes)} notes")


@report_app.command("coverage")
def report_coverage(
    layer: Annotated[list[str] | None, typer.Option(
        "--layer", help=f"a kind of facility, repeatable: {kinds_help()} (default shelters)")]
        = None,
    out: Annotated[Path, typer.Option(help=OUT_HELP)] = Path("coverage_report.docx"),
    network: Annotated[str, typer.Option(help="road network")] = "default",
    year: Annotated[int | None, typer.Option(help="census year (default: the latest)")] = None,
) -> None:
    """The coverage report: people within each kind's standard by township, maps, norms."""
    from emgis.api.cli.shelters import coverage_inputs
    from emgis.layers.db import latest_census_year
    from emgis.shelters.coverage import kind
    from emgis.shelters.coverage_report import coverage_report

    try:
        layers = [kind(x).name for x in (layer or ["shelters"])]
    except ValueError as exc:
        err.print(f"[red]--layer: {exc}[/]")
        raise typer.Exit(2) from None
    out, fmt = document_format(out)
    with coverage_inputs(network, year) as (db, norms, inputs):
        with db.engine.connect() as c:
            census = year or latest_census_year(c)
        doc = coverage_report(inputs, norms, layers, census_year=census, network=network)
    write_document(doc, out, fmt)
    _wrote(out, doc)


@report_app.command("risk")
def report_risk(
    out: Annotated[Path, typer.Option(help=OUT_HELP)] = Path("risk_report.docx"),
    as_of: AsOfOpt = None,
) -> None:
    """The risk report: risk points by level and township, the four-colour map, hazards."""
    from emgis.layers.db import open_database
    from emgis.risk.risk_report import risk_report

    day = _day(as_of)
    out, fmt = document_format(out)
    with open_database() as db:
        doc = risk_report(db.engine, _norms(db.engine), as_of=day)
    write_document(doc, out, fmt)
    _wrote(out, doc)


@report_app.command("readiness")
def report_readiness(
    out: Annotated[Path, typer.Option(help=OUT_HELP)] = Path("readiness_report.docx"),
    as_of: AsOfOpt = None,
) -> None:
    """The readiness report: each township's teams and equipment against the norms, a map."""
    from emgis.layers.db import open_database
    from emgis.shelters.readiness import assess
    from emgis.shelters.readiness_report import readiness_report
    from emgis.shelters.readiness_store import read_inputs, read_townships

    day = _day(as_of)
    out, fmt = document_format(out)
    with open_database() as db:
        norms = _norms(db.engine)
        doc = readiness_report(assess(read_inputs(db.engine), norms, day), norms,
                               read_townships(db.engine))
    write_document(doc, out, fmt)
    _wrote(out, doc)
