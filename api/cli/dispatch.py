"""`emgis dispatch assign / move / list` and `emgis timeline`: dispatch records on the command
line, the door beside ``/incidents/{id}/assignments`` (`shelters.dispatch`).

Each write is one transaction under EMGIS_ACTOR (the audit log's and the timeline's actor); a
refused one (a team already assigned, too little stock, a full shelter, an illegal move) says
why, exits 2 and changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import _norms, _report_input_error, _settings, app, console, err
from emgis.layers.problems import InputError, NotFound

dispatch_app = typer.Typer(help="Dispatch records: assign teams, depot stock and shelter places "
                                "to an incident; move them dispatched → en_route → on_scene → "
                                "returned.", no_args_is_help=True)
app.add_typer(dispatch_app, name="dispatch")


@contextlib.contextmanager
def _refusals(outcome: str = "nothing was changed") -> Iterator[None]:
    from emgis.shelters.dispatch import DispatchConflict

    try:
        yield
    except InputError as exc:
        _report_input_error(exc, outcome)
        raise typer.Exit(2) from None
    except (NotFound, DispatchConflict) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _fmt_eta(eta_s) -> str:
    return "—" if eta_s is None else f"{eta_s / 60:.1f}"


@dispatch_app.command("assign")
def assign(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    team: Annotated[str | None, typer.Option(help="a team's id or ext_id")] = None,
    depot: Annotated[str | None, typer.Option(help="a depot's id or ext_id (with --item and "
                                                    "--quantity)")] = None,
    item: Annotated[str | None, typer.Option(help="the stock item, e.g. 帐篷")] = None,
    quantity: Annotated[float | None, typer.Option(help="how much of the item")] = None,
    shelter: Annotated[str | None, typer.Option(help="a shelter's id or ext_id (with "
                                                      "--places)")] = None,
    places: Annotated[int | None, typer.Option(help="evacuees the shelter takes")] = None,
    note: Annotated[str | None, typer.Option(help="a note for the timeline")] = None,
    network: Annotated[str, typer.Option(help="road network for the ETA")] = "default",
) -> None:
    """Assign a team, depot stock or shelter places to INCIDENT, with the ETA by road."""
    from emgis.geo.store import RoadNetworkNotFound, load_network
    from emgis.layers.db import open_database
    from emgis.shelters import dispatch
    from emgis.shelters.dispatch_route import Leg, leg

    given = [(k, v) for k, v in (("team", team), ("depot_stock", depot), ("shelter", shelter))
             if v is not None]
    if len(given) != 1:
        err.print("[red]give one of --team, --depot (with --item and --quantity) or --shelter "
                  "(with --places)[/]")
        raise typer.Exit(2)
    kind, ref = given[0]
    ask = dispatch.Ask(kind, ref, item, quantity, places, note)
    dbs, ls = _settings()
    with _refusals(), open_database() as db:
        dispatch.check_ask(ask)
        with db.engine.connect() as c:
            geom = dispatch.incident_geometry(c, incident)
            res = dispatch.find_resource(c, kind, ref)
        try:
            graph = load_network(db.engine, network, home=dbs.home)
            way = leg(graph, geom, (res.lon, res.lat), kind, norms=_norms(db.engine))
        except RoadNetworkNotFound as exc:
            way = Leg(None, None, None, f"no ETA: {exc}")
        with db.engine.begin() as c:
            a = dispatch.assign(c, incident, ask, actor=ls.actor, leg=way)
    console.print(f"[green]assignment {a['id']}[/]: {a['resource_label']} → incident {incident}"
                  f", {a['state']}, ETA {_fmt_eta(a['eta_s'])} min"
                  + (f" [yellow]({way.note})[/]" if way.note else ""))


@dispatch_app.command("move")
def move(
    assignment: Annotated[int, typer.Argument(help="the assignment's id", min=1)],
    state: Annotated[str, typer.Argument(help="en_route, on_scene, returned or cancelled")],
    note: Annotated[str | None, typer.Option(help="a note for the timeline")] = None,
) -> None:
    """Move ASSIGNMENT to STATE (legal moves only; a team's status follows)."""
    from emgis.layers.db import open_database
    from emgis.shelters import dispatch

    _, ls = _settings()
    with _refusals(), open_database() as db, db.engine.begin() as c:
        a = dispatch.move(c, dispatch.incident_of(c, assignment), assignment, state,
                          actor=ls.actor, note=note)
    console.print(f"[green]assignment {a['id']}[/]: {a['resource_label']} is now {a['state']}"
                  + (f"; next: {', '.join(a['allowed_moves'])}" if a["allowed_moves"] else ""))


@dispatch_app.command("list")
def list_(incident: Annotated[int, typer.Argument(help="the incident's id", min=1)]) -> None:
    """The resources assigned to INCIDENT, with state and ETA."""
    from emgis.layers.db import open_database
    from emgis.shelters import dispatch

    with _refusals(), open_database() as db, db.engine.connect() as c:
        items = dispatch.assignments(c, incident)
    t = Table("id", "kind", "resource", "state", "ETA (min)", "km", "by", "since",
              title=f"incident {incident}: assignments", header_style="bold")
    for a in items:
        since = a[f"{a['state']}_at"] or a["dispatched_at"]
        t.add_row(str(a["id"]), a["kind"], a["resource_label"], a["state"],
                  _fmt_eta(a["eta_s"]),
                  "" if a["length_m"] is None else f"{a['length_m'] / 1000:.1f}",
                  a["assigned_by"], since[:19])
    console.print(t)
    if not items:
        console.print("  nothing assigned yet (emgis dispatch assign INCIDENT --team ID)")


@app.command("timeline")
def timeline(incident: Annotated[int, typer.Argument(help="the incident's id", min=1)]) -> None:
    """The timeline of INCIDENT: every assignment, move and note with its time and actor."""
    from emgis.layers.db import open_database
    from emgis.shelters import dispatch

    with _refusals(), open_database() as db, db.engine.connect() as c:
        events = dispatch.timeline(c, incident)
    t = Table("time", "actor", "kind", "what", title=f"incident {incident}: timeline",
              header_style="bold")
    for e in events:
        t.add_row(e["at"][:19].replace("T", " "), e["actor"], e["kind"], e["text"])
    console.print(t)


@dispatch_app.command("note")
def note_(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    text: Annotated[str, typer.Argument(help="what happened")],
) -> None:
    """Add a note to INCIDENT's timeline (under EMGIS_ACTOR)."""
    from emgis.layers.db import open_database
    from emgis.shelters import dispatch

    _, ls = _settings()
    with _refusals(), open_database() as db, db.engine.begin() as c:
        e = dispatch.add_note(c, incident, text, actor=ls.actor)
    console.print(f"[green]noted[/] at {e['at'][:19]} by {e['actor']}")
