"""`emgis fire-districts`: the road network split among the fire stations (消防站辖区), each
district's area and 5-minute reach checked against the norms.

The work is `emgis.shelters.service.compute_fire_districts` over `emgis.shelters.districts`;
this module parses the options, prints the table and writes the file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.table import Table

from emgis.api.cli.base import LangOpt, _check_lang, _command, _norms, _settings, app, console, err
from emgis.layers.problems import MissingData

SUFFIXES = (".geojson", ".json", ".gpkg", ".xlsx")


def _write(d, path: Path, notes, lang: str) -> None:
    from emgis.shelters.service import districts_geojson
    from emgis.shelters.workbooks import districts_workbook

    suffix = path.suffix.lower()
    if suffix in (".geojson", ".json"):
        path.write_text(json.dumps(districts_geojson(d), ensure_ascii=False), encoding="utf-8")
    elif suffix == ".gpkg":
        d.table.to_file(path, layer="fire_districts", driver="GPKG")
    else:
        districts_workbook(path, d, notes, lang=lang)
    console.print(f"wrote {path}")


def _yes(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "—"
    return "yes" if v else "[red]no[/]"


@app.command("fire-districts")
def fire_districts_cmd(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(
        help="the districts with their check: .geojson, .gpkg, .xlsx (headers in --lang, a "
             "notes sheet)")] = None,
    map_: Annotated[Path | None, typer.Option(
        "--map", help="write the offline districts map (HTML)")] = None,
    network: Annotated[str, typer.Option(help="road network")] = "default",
    lang: LangOpt = "zh",
) -> None:
    ("Fire-station districts (消防站辖区): every road node to the station that reaches it "
     "fastest; each district's area and 5-minute reach against the norms.")
    from emgis.geo.store import RoadNetworkNotFound, load_network
    from emgis.layers.db import open_database
    from emgis.layers.workbook import Notes
    from emgis.shelters.service import compute_fire_districts
    from emgis.shelters.workbooks import network_notes

    lang = _check_lang(lang)
    if out is not None and out.suffix.lower() not in SUFFIXES:
        err.print(f"[red]{out.name}[/]: write the districts as {', '.join(SUFFIXES)}")
        raise typer.Exit(2)
    dbs, _ = _settings()
    try:
        with open_database() as db:
            norms = _norms(db.engine)
            graph = load_network(db.engine, network, home=dbs.home)
            d = compute_fire_districts(db.engine, graph, norms)
            notes = network_notes(Notes().run(_command(ctx)), db.engine, network)
            notes.add("inputs", "消防站数", "fire stations", len(d.table))
            notes.norms(norms, norms.read_keys())
            if map_:
                from emgis.shelters.store import read_team_bases

                stations = read_team_bases(db.engine, team_types=["fire_station"])
    except (RoadNetworkNotFound, MissingData) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    t = Table("station", "class", "nodes", "area km²", "limit km²", "5-min reach", "max min",
              "area ok", "reach ok", "check", title="消防站辖区 fire-station districts",
              header_style="bold")
    for _, r in d.table.iterrows():
        t.add_row(str(r["name"]), str(r["fire_class"] or "—"), f"{r['nodes']:,}",
                  f"{r['area_km2']:.2f}",
                  "—" if pd.isna(r["limit_km2"]) else f"{r['limit_km2']:g}",
                  "—" if pd.isna(r["reach_share"]) else f"{r['reach_share']:.0%}",
                  "—" if pd.isna(r["max_time_min"]) else f"{r['max_time_min']:.1f}",
                  _yes(r["area_ok"]), _yes(r["reach_ok"]), str(r["check"]))
    console.print(t)
    console.print(f"unreachable: {d.unreachable.size:,} road node(s), {d.unreachable_km2:.2f} km²"
                  + (f" (e.g. nodes {', '.join(map(str, d.unreachable[:5]))})"
                     if d.unreachable.size else ""))
    for note in d.notes:
        console.print(f"  note: {note}")
    console.print(f"  polygons: {d.method}")
    if out:
        _write(d, out, notes, lang)
    if map_:
        from emgis.maps.districts_map import write_districts_map

        console.print(f"wrote {write_districts_map(map_, d, stations)}")
