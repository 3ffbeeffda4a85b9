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
    from emgis.layers import vocab
    from emgis.layers.db import open_database
    from emgis.shelters.proposal import propose as propose_teams

    with open_database() as db:
        with db.engine.connect() as c:
            row = c.execute(sa.text("SELECT title, incident_type, ST_AsBinary(geom) "
                                    "FROM incidents WHERE id = :i"), {"i": incident}).first()
        if row is None:
            err.print(f"[red]there is no incident {incident}[/] (see /collections/incidents)")
            raise typer.Exit(2)
        norms = _norms(db.engine)
        graph = _open_network(db, network)
        prop = propose_teams(db.engine, graph, shapely.from_wkb(bytes(row[2])), row[1], norms,
                             k=k)
    kind = (f"{vocab.INCIDENT_TYPE[prop.kind].zh} ({prop.kind})" if prop.kind_known
            else f"not a known kind ({row[1]!r}): the 'other' row")
    console.print(f"incident {incident} {row[0]}: {kind}; needs "
                  + ", ".join(n.team_type_zh for n in prop.needs)
                  + f"  [dim]({prop.source})[/]")
    for need in prop.needs:
        t = Table("rank", "team", "name", "ETA (min)", "km", title=need.team_type_zh,
                  header_style="bold")
        for r in need.teams:
            t.add_row(str(r["rank"]), r["ext_id"], str(r["name"]), f"{r['time_min']:.1f}",
                      f"{r['km']:.1f}")
        console.print(t)
        if not need.teams:
            console.print(f"  [yellow]no available {need.team_type_zh} can reach the "
                          "incident[/]")
