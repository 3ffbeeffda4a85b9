"""`emgis propose INCIDENT`: the teams an incident needs, by type, nearest first, with ETAs.

The command-line door of ``GET /incidents/{id}/proposal``: the team types from the norms
(`shelters.needs.team_needs`), each type's nearest available teams by road from their base to
the incident (to the edge of an incident area, whose roads are closed).
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import _norms, app, console, err


@app.command("propose")
def propose(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    k: Annotated[int, typer.Option("-k", "--k", help="teams proposed per type", min=1)] = 2,
    network: Annotated[str, typer.Option(help="road network name")] = "default",
) -> None:
    """Propose, for each team type the incident's kind needs, the nearest available teams."""
    import shapely
    import sqlalchemy as sa

    from emgis.api.cli.roads import _open_network
    from emgis.geo.routing import closures_from_polygons, nearest_k, snap_facilities
    from emgis.geo.store import facilities
    from emgis.layers import vocab
    from emgis.layers.db import open_database
    from emgis.shelters.needs import team_needs

    with open_database() as db:
        with db.engine.connect() as c:
            row = c.execute(sa.text("SELECT title, incident_type, ST_AsBinary(geom) "
                                    "FROM incidents WHERE id = :i"), {"i": incident}).first()
        if row is None:
            err.print(f"[red]there is no incident {incident}[/] (see /collections/incidents)")
            raise typer.Exit(2)
        norms = _norms(db.engine)
        needs = team_needs(row[1], norms)
        graph = _open_network(db, network)
        geom = shapely.from_wkb(bytes(row[2]))
        teams = {tt: facilities(db.engine, "team_bases", team_type=tt) for tt in needs.team_types}
    area = geom.geom_type in ("Polygon", "MultiPolygon")
    closures = closures_from_polygons(graph, [geom]) if area else None
    place = geom.exterior.coords[0] if area and geom.geom_type == "Polygon" else (
        geom.representative_point().coords[0])
    kind = (f"{vocab.INCIDENT_TYPE[needs.kind].zh} ({needs.kind})" if needs.known
            else f"not a known kind ({row[1]!r}): the 'other' row")
    console.print(f"incident {incident} {row[0]}: {kind}; needs "
                  + ", ".join(vocab.TEAM_TYPE[t].zh for t in needs.team_types)
                  + f"  [dim](incident.team_types: {needs.source})[/]")
    for tt in needs.team_types:
        fac = teams[tt]
        t = Table("rank", "team", "name", "ETA (min)", "km", title=vocab.TEAM_TYPE[tt].zh,
                  header_style="bold")
        routes = [] if not len(fac) else nearest_k(
            graph, place, snap_facilities(graph, fac.lon, fac.lat, norms=norms), k,
            closures=closures, direction="from_facility", norms=norms)
        for rank, r in enumerate(routes, 1):
            t.add_row(str(rank), str(fac.ext_ids[r.facility]), str(fac.names[r.facility]),
                      f"{r.time_s / 60:.1f}", f"{r.length_m / 1000:.1f}")
        console.print(t)
        if not routes:
            console.print(f"  [yellow]no available {vocab.TEAM_TYPE[tt].zh} can reach the "
                          "incident[/]")
