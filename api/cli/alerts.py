"""`emgis warning issue | status | ack | list`: warnings with acknowledgement (预警叫应).

The area is an incident's (``--incident``, a point incident with ``--radius-m``) or polygons
from a file (``--area``), as for `emgis warning-area`; the recipients are the contacts
(`emgis load contacts FILE`) of every village and township inside. The logic is
`emgis.shelters.alerts`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from emgis.api.cli.base import _report_input_error, _settings, app, console, err
from emgis.layers.problems import BadArgument, InputError, NotFound

warning_app = typer.Typer(help="Warnings with acknowledgement (叫应): issue to the contacts of an "
                               "area, record answers, see who has not answered.",
                          no_args_is_help=True)
app.add_typer(warning_app, name="warning")


def _fail(exc: Exception) -> typer.Exit:
    if isinstance(exc, InputError):
        _report_input_error(exc, "nothing was changed")
    else:
        err.print(f"[red]{escape(str(exc))}[/]")
    return typer.Exit(2)


def _print_status(ans: dict, *, codes: bool = False) -> None:
    console.print(f"warning {ans['id']}: {ans['level_zh']} — {escape(ans['text'])} "
                  f"(issued {ans['issued_at']:%Y-%m-%d %H:%M} by {escape(ans['issued_by'])}); "
                  f"acknowledged {ans['acknowledged']} of {len(ans['recipients'])}")
    cols = ["contact", "unit", "name", "role", "phone", "acknowledged"] + (["code"] if codes
                                                                          else [])
    t = Table(*cols, title="收件人 recipients")
    for r in ans["recipients"]:
        ack = (f"{r['acknowledged_at']:%m-%d %H:%M} {r['channel']}" if r["acknowledged_at"]
               else "[red]未应答 not yet[/]")
        t.add_row(str(r["contact_id"]), escape(f"{r['unit_name'] or ''} {r['unit_code']}"),
                  escape(r["name"]), escape(r["role"] or ""), escape(r["phone"] or ""), ack,
                  *([r["code"]] if codes else []))
    console.print(t)


@warning_app.command("issue")
def warning_issue(
    level: Annotated[str, typer.Option(help="蓝 / 黄 / 橙 / 红 (blue … red)")],
    text: Annotated[str, typer.Option(help="what the warning says")],
    incident: Annotated[int | None, typer.Option(help="an incident's id: its area")] = None,
    radius_m: Annotated[float | None, typer.Option(
        "--radius-m", help="for a point incident: the warning circle's radius in metres")] = None,
    area: Annotated[Path | None, typer.Option(
        help="a file of polygons (GeoJSON, GPKG, SHP): the area")] = None,
) -> None:
    """Issue a warning to the contacts of every village and township in the area; prints each
    recipient's acknowledgement code (send it with the message)."""
    import shapely

    from emgis.api.cli.roads import _read_avoid
    from emgis.layers.db import open_database
    from emgis.shelters.alerts import issue_warning
    from emgis.shelters.warning import incident_area

    if (incident is None) == (area is None):
        err.print("[red]give the area[/]: --incident ID (with --radius-m for a point incident) "
                  "or --area FILE")
        raise typer.Exit(2)
    _, ls = _settings()
    try:
        with open_database() as db:
            geom = (incident_area(db.engine, incident, radius_m) if incident is not None
                    else shapely.union_all(_read_avoid(area).to_numpy()))
            ans = issue_warning(db.engine, geom, level=level, text=text, actor=ls.actor,
                                incident_id=incident)
    except (InputError, NotFound, BadArgument) as exc:
        raise _fail(exc) from None
    _print_status(ans, codes=True)
    for u in ans["units_without_contacts"]:
        err.print(f"[yellow]no contact for {u['level']} {escape(u['name'] or '')} "
                  f"{u['code']}[/]: nobody there is warned (emgis load contacts FILE)")


@warning_app.command("status")
def warning_status_cmd(
    warning: Annotated[int, typer.Argument(help="the warning's id")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """A warning's recipients and who has not acknowledged it."""
    from emgis.layers.db import open_database
    from emgis.shelters.alerts import warning_status

    try:
        with open_database() as db:
            ans = warning_status(db.engine, warning, phones=True)
    except NotFound as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(json.dumps(ans, ensure_ascii=False, default=str))
        return
    _print_status(ans)


@warning_app.command("ack")
def warning_ack(
    warning: Annotated[int, typer.Argument(help="the warning's id")],
    contact: Annotated[int, typer.Argument(help="the contact's id")],
    channel: Annotated[str, typer.Option(help="how the answer came: phone, sms, radio, "
                                              "in_person …")] = "phone",
) -> None:
    """Record a contact's answer taken by the duty desk (the actor is EMGIS_ACTOR)."""
    from emgis.layers.db import open_database
    from emgis.shelters.alerts import acknowledge

    _, ls = _settings()
    try:
        with open_database() as db:
            r = acknowledge(db.engine, warning, contact, officer=ls.actor, channel=channel)
    except (InputError, NotFound) as exc:
        raise _fail(exc) from None
    console.print(f"{escape(r['name'])} ({escape(r['unit_name'] or r['unit_code'])}) "
                  f"acknowledged at {r['acknowledged_at']:%H:%M:%S} ({r['channel']})")


@warning_app.command("list")
def warning_list() -> None:
    """Every warning, newest first, with answers counted."""
    from emgis.layers.db import open_database
    from emgis.shelters.alerts import LEVEL_ZH, list_warnings

    with open_database() as db:
        rows = list_warnings(db.engine)
    t = Table("id", "level", "issued", "by", "acknowledged", "text", title="预警 warnings")
    for r in rows:
        t.add_row(str(r["id"]), LEVEL_ZH[r["level"]], f"{r['issued_at']:%m-%d %H:%M}",
                  escape(r["issued_by"]), f"{r['acknowledged']} / {r['recipients']}",
                  escape(r["text"][:40]))
    console.print(t)
