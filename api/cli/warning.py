"""`emgis warning-area`: who is inside a warning area and where each village goes.

The same analysis as ``/analyses/warning-area`` (`emgis.shelters.warning`): the area is an
incident's (``--incident``, a point incident with ``--radius-m``) or polygons from a file
(``--area``); the answer is printed and, with ``--out``, written as a workbook (.xlsx) or JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import _norms, _report_input_error, _settings, app, console, err
from emgis.api.cli.roads import _read_avoid
from emgis.layers.problems import BadArgument, InputError, NotFound
from emgis.shelters.warning import MAX_RADIUS_M, incident_area, warning_area, workbook


@app.command("warning-area")
def warning_area_cmd(
    incident: Annotated[int | None, typer.Option(
        help="an incident's id: its area is the warning area")] = None,
    radius_m: Annotated[float | None, typer.Option(
        "--radius-m", help="for a point incident: the warning circle's radius in metres")] = None,
    area: Annotated[Path | None, typer.Option(
        help="a file of polygons (GeoJSON, GPKG, SHP): the area")] = None,
    close_roads: Annotated[bool, typer.Option(
        help="close the roads inside the area (the event is under way)")] = False,
    out: Annotated[Path | None, typer.Option(
        help="write the answer: FILE.xlsx (workbook) or FILE.json")] = None,
    network: str = "default",
) -> None:
    ("Villages, people and shelters inside a warning area; each village's nearest open shelter "
     "outside.")
    import shapely

    from emgis.geo.store import load_network
    from emgis.layers.db import open_database

    if (incident is None) == (area is None):
        err.print("[red]give the area[/]: --incident ID (with --radius-m for a point incident) "
                  "or --area FILE")
        raise typer.Exit(2)
    if radius_m is not None and not 0 < radius_m <= MAX_RADIUS_M:
        err.print(f"[red]--radius-m {radius_m:g}[/] must be above 0 "
                  f"and at most {MAX_RADIUS_M:,.0f} m")
        raise typer.Exit(2)
    if out is not None and out.suffix.lower() not in (".xlsx", ".json"):
        err.print(f"[red]--out {out}[/]: write .xlsx (workbook) or .json")
        raise typer.Exit(2)
    dbs, _ = _settings()
    try:
        with open_database() as db:
            if incident is not None:
                geom = incident_area(db.engine, incident, radius_m)
            else:
                geom = shapely.union_all(_read_avoid(area).to_numpy())
            # no network: the answer still counts people, and says there are no routes
            ans = warning_area(db.engine, geom,
                               lambda: load_network(db.engine, network, home=dbs.home),
                               _norms(db.engine), close_roads=close_roads)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    except (NotFound, BadArgument) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    _print(ans)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() == ".xlsx":
            out.write_bytes(workbook(ans))
        else:
            out.write_text(json.dumps(ans, ensure_ascii=False, indent=1), encoding="utf-8")
        console.print(f"wrote {out}")


def _print(ans: dict) -> None:
    t = Table("", "value", title="预警区域 warning area", header_style="bold")
    t.add_row("area", f"{ans['area']['area_km2']:,.2f} km²")
    t.add_row("villages warned (people)",
              f"{ans['villages_total']} ({ans['population_total']:,.0f}, "
              f"census {ans['census_year'] or 'none loaded'})")
    t.add_row("villages without a route", str(ans["villages_without_route"]))
    t.add_row("shelters inside (not refuges)", str(len(ans["shelters_inside"])))
    t.add_row("roads inside closed", "yes" if ans["close_roads"] else "no")
    pl = ans["placement"]
    t.add_row("people placed exactly / approximately / not placed",
              f"{pl['exact']:,.0f} / {pl['approximate']:,.0f} / {pl['not_placed']:,.0f}")
    t.add_row("shelters with unknown capacity", str(len(ans["shelters_capacity_unknown"])))
    console.print(t)
    for how, people in pl["approximate_by"].items():
        console.print(f"  placed approximately by {how}: {people:,.0f} people", soft_wrap=True)
    for line in (ans["note"] or "").split("; "):
        if line:
            console.print(f"  note: {line}", soft_wrap=True)
    if ans["shelters_used"]:
        s = Table("shelter", "free places", "people sent", "over capacity",
                  title="where the villages go")
        for r in ans["shelters_used"]:
            free = "unknown" if r["free"] is None else f"{r['free']:,.0f}"
            over = {None: "unknown", True: "yes"}.get(r["over_capacity"], "")
            s.add_row(str(r["name"] or r["ext_id"]), free, f"{r['assigned_population']:,.0f}",
                      over)
        console.print(s)
