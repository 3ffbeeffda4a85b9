"""`emgis readiness` (teams, equipment and assessments against the norms) and `emgis experts`.

`emgis readiness [--out x.xlsx] [--map x.html]` prints one summary line per township and writes
the workbook and the four-colour page; `emgis experts list` and `emgis experts near INCIDENT
--speciality 危化` read the expert roster (phone numbers only with --phones: they are personal
data).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import _norms, _settings, app, console, err
from emgis.layers.problems import BadArgument, NotFound

experts_app = typer.Typer(help="The expert roster (专家库): list it, or find the nearest "
                               "available experts of a speciality for an incident.")
app.add_typer(experts_app, name="experts")

_COLOUR = {"compliant": "green", "mostly": "yellow", "not_compliant": "red", "unknown": "dim"}


@app.command("readiness")
def readiness(
    out: Annotated[Path | None, typer.Option(help="write the report as a workbook (.xlsx)")]
        = None,
    map_: Annotated[Path | None, typer.Option(
        "--map", help="write the four-colour page (.html, with its Leaflet files beside it)")]
        = None,
    as_of: Annotated[str | None, typer.Option(
        help="the report's date, YYYY-MM-DD (default today): the assessment target's year")]
        = None,
) -> None:
    """Check every township and village against the team, equipment and assessment norms."""
    from emgis.layers.db import open_database
    from emgis.shelters.readiness import assess
    from emgis.shelters.readiness_store import read_inputs, read_townships, readiness_xlsx

    if out is not None and out.suffix.lower() != ".xlsx":
        err.print(f"[red]--out {out}[/]: the report is written as .xlsx")
        raise typer.Exit(2)
    if map_ is not None and map_.suffix.lower() not in (".html", ".htm"):
        err.print(f"[red]--map {map_}[/]: the page is written as .html")
        raise typer.Exit(2)
    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        err.print(f"[red]--as-of {as_of!r}[/] is not a date; write YYYY-MM-DD")
        raise typer.Exit(2) from None
    with open_database() as db:
        r = assess(read_inputs(db.engine), _norms(db.engine), day)
        towns = read_townships(db.engine) if map_ is not None else None
    console.print(f"readiness on {r.as_of} (census {r.census_year or 'none stored'}): "
                  f"{len(r.townships)} townships, {len(r.villages)} villages")
    for t in r.townships.to_dict("records"):
        console.print(f"  [{_COLOUR[t['compliance']]}]●[/] {t['summary']}", soft_wrap=True)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(readiness_xlsx(r))
        console.print(f"workbook written: {out}")
    if map_ is not None:
        from emgis.maps.readiness_map import write_readiness_map

        write_readiness_map(map_, r, towns)
        console.print(f"map written: {map_}")


def _experts_table(rows: list[dict], phones: bool, *, ranked: bool = False) -> Table:
    cols = (["rank"] if ranked else []) + ["id", "name", "specialities", "unit", "title",
                                           "availability"]
    cols += ["phone"] if phones else []
    cols += ["km", "ETA (min)"] if ranked else []
    t = Table(header_style="bold")
    for c in cols:  # ids and phone numbers are never cut short on a narrow terminal
        t.add_column(c, no_wrap=c in ("id", "phone"),
                     min_width={"id": 6, "phone": 13}.get(c))
    for r in rows:
        cells = ([str(r["rank"])] if ranked else []) + [
            r["ext_id"], r["name"], "、".join(r["specialities_zh"]), r["unit"] or "",
            r["title"] or "", r["availability"]]
        cells += [r.get("phone") or ""] if phones else []
        if ranked:
            km = r.get("road_m", r["distance_m"]) / 1000
            cells += [f"{km:.1f}", "—" if r["time_min"] is None else f"{r['time_min']:.1f}"]
        t.add_row(*cells)
    return t


PHONES_HELP = "show phone numbers (personal data: for commanders; the API shows them to " \
              "commander tokens only)"


@experts_app.command("list")
def experts_list(
    speciality: Annotated[str | None, typer.Option(help="a speciality (危化, 防汛 … or key)")]
        = None,
    phones: Annotated[bool, typer.Option("--phones", help=PHONES_HELP)] = False,
) -> None:
    """Show the expert roster (of one speciality)."""
    from emgis.layers.db import open_database
    from emgis.shelters.experts import list_experts

    with open_database() as db:
        try:
            rows = list_experts(db.engine, speciality=speciality, with_phone=phones)
        except BadArgument as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
    console.print(_experts_table(rows, phones))


@experts_app.command("near")
def experts_near(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    speciality: Annotated[str | None, typer.Option(help="a speciality (危化, 防汛 … or key)")]
        = None,
    k: Annotated[int, typer.Option("-k", "--k", help="how many", min=1)] = 5,
    network: Annotated[str, typer.Option(help="road network name")] = "default",
    phones: Annotated[bool, typer.Option("--phones", help=PHONES_HELP)] = False,
) -> None:
    """The nearest available experts for INCIDENT: by road time when a network is stored, else
    by straight-line distance (said)."""
    from emgis.geo.store import RoadNetworkNotFound, load_network
    from emgis.layers.db import open_database
    from emgis.shelters.experts import nearest_experts, speciality_key

    try:
        speciality_key(speciality)
    except BadArgument as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    with open_database() as db:
        note = ""
        try:
            graph = load_network(db.engine, network, home=_settings()[0].home)
        except RoadNetworkNotFound:
            graph, note = None, f"no road network {network!r} is stored: straight-line distance"
        try:
            ans = nearest_experts(db.engine, incident, speciality, k=k, graph=graph,
                                  norms=_norms(db.engine), with_phone=phones, network_note=note)
        except NotFound as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
    inc = ans.incident
    console.print(f"incident {inc['id']} {inc['title']}: nearest available experts"
                  + (f" of {ans.speciality}" if ans.speciality else "")
                  + f" by {ans.method}" + (f" — {ans.note}" if ans.note else ""))
    if ans.experts:
        console.print(_experts_table(ans.experts, phones, ranked=True))
