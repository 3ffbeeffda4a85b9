"""`emgis relief needs / allocate / check`: relief needs, stock allocation, the 10-hour check.

The same analyses as ``/incidents/{id}/relief`` and ``/analyses/relief-check``
(`emgis.shelters.relief_service`); ``--out`` writes a workbook (.xlsx) or JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from emgis.api.cli.base import (
    LangOpt,
    _check_lang,
    _command,
    _norms,
    _report_input_error,
    _settings,
    app,
    console,
    err,
)
from emgis.layers.problems import BadArgument, InputError, MissingData, NotFound

relief_app = typer.Typer(help="Relief: what relocated people need (norms with sources), depot "
                              "stock allocated within the arrival limits, the 10-hour check.")
app.add_typer(relief_app, name="relief")

NeedsOpt = Annotated[str, typer.Option("--needs", help="china (default) or inasafe")]


def _write(ans: dict, out: Path | None, sheets: dict[tuple[str, str], list],
           run: tuple[str, str, object]) -> None:
    """``.xlsx``: the tables (headers in ``lang``) and a notes sheet (the command, the norms
    read, the answer's own notes); ``.json``: the answer. ``run``: (language, the command,
    the norms the answer read)."""
    if out is None:
        return
    lang, command, norms = run
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".xlsx":
        from emgis.layers.workbook import Notes
        from emgis.shelters.workbooks import relief_workbook

        n = Notes().run(command)
        for key, zh, en in _INPUTS:
            if ans.get(key) is not None:
                n.add("inputs", zh, en, ans[key] if not isinstance(ans[key], dict)
                      else ", ".join(f"{k} {v}" for k, v in ans[key].items()))
        ds = ans.get("displaced_share")
        if ds:
            n.add("estimates", "转移安置比例", "share relocated", ds["value"],
                  standard=ds.get("source"), unit="share", note=ds.get("key"))
        n.norms(norms, norms.read_keys())
        n.lines("notes", "说明", "note", [str(x) for x in ans.get("notes", [])])
        relief_workbook(out, sheets, n, lang=lang)
    else:
        out.write_text(json.dumps(ans, ensure_ascii=False, indent=1, default=str),
                       encoding="utf-8")
    console.print(f"wrote {out}")


_INPUTS = (("people_total", "人口", "people"), ("displaced_total", "转移安置人数", "relocated"),
           ("villages_total", "村数", "villages"), ("hours", "时限（小时）", "hours"),
           ("limits_h", "各级储备库时限（小时）", "limits by depot level (h)"),
           ("needs_set", "需求标准", "needs set"))


def _check_out(out: Path | None) -> None:
    if out is not None and out.suffix.lower() not in (".xlsx", ".json"):
        err.print(f"[red]--out {out}[/]: write .xlsx (workbook) or .json")
        raise typer.Exit(2)


def _run(fn):
    """Run ``fn(db, graph, norms)`` with the database open; domain errors exit 2. Returns its
    answer and the norms (for the workbook's notes: the norms it read)."""
    from emgis.geo.store import load_network
    from emgis.layers.db import open_database

    dbs, _ = _settings()
    try:
        with open_database() as db:
            norms = _norms(db.engine)
            return fn(db, lambda: load_network(db.engine, "default", home=dbs.home),
                      norms), norms
    except InputError as exc:
        _report_input_error(exc, "nothing was computed")
        raise typer.Exit(2) from None
    except (NotFound, BadArgument, MissingData, ValueError) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _table(title: str, rows: list[dict], cols: list[str], limit: int = 30) -> None:
    t = Table(*cols, title=title)
    for r in rows[:limit]:
        t.add_row(*[("" if r.get(c) is None else f"{r[c]:,.0f}" if isinstance(r[c], float)
                     else str(r[c])) for c in cols])
    console.print(t)
    if len(rows) > limit:
        console.print(f"… {len(rows) - limit} more rows (--out FILE for all)")


@relief_app.command("needs")
def needs_cmd(
    ctx: typer.Context,
    incident: Annotated[int | None, typer.Option(help="an incident's id")] = None,
    area: Annotated[Path | None, typer.Option(help="a file of polygons: the area")] = None,
    incident_type: Annotated[str | None, typer.Option(
        "--type", help="with --area: the incident type for the displaced share")] = None,
    needs: NeedsOpt = "china",
    out: Annotated[Path | None, typer.Option(help="FILE.xlsx or FILE.json")] = None,
    lang: LangOpt = "zh",
) -> None:
    """The relief needs of the people relocated in an incident's area or a given area."""
    if (incident is None) == (area is None):
        err.print("[red]give the area[/]: --incident ID or --area FILE")
        raise typer.Exit(2)
    _check_out(out)
    lang = _check_lang(lang)

    def go(db, graph, norms):
        from emgis.shelters.relief import displaced_share
        from emgis.shelters.relief_service import area_relief, incident_relief

        if incident is not None:
            return incident_relief(db.engine, incident, graph, norms, needs=needs,
                                   allocate_stock=False)
        import shapely

        from emgis.api.cli.roads import _read_avoid

        share, key, source = displaced_share(incident_type, norms)
        ans = area_relief(db.engine, shapely.union_all(_read_avoid(area).to_numpy()), graph,
                          norms, share=share, needs=needs, allocate_stock=False)
        ans["displaced_share"] = {"value": share, "key": key, "source": source}
        return ans

    ans, norms = _run(go)
    ds = ans["displaced_share"]
    console.print(f"{ans['people_total']:,.0f} people in {ans['villages_total']} village(s); "
                  f"{ans['displaced_total']:,.0f} relocated ({ds['key']} = {ds['value']:g}, "
                  f"{ds['source']})")
    _table("needs 需求", ans["needs_by_item"], ["item", "unit", "need"])
    _table("Sphere check", ans["sphere_check"], ["check", "provided", "minimum", "unit", "ok"])
    _write(ans, out, {("需求", "needs"): ans["needs"], ("物资", "by item"): ans["needs_by_item"],
                      ("Sphere核查", "Sphere check"): ans["sphere_check"]},
           (lang, _command(ctx), norms))


@relief_app.command("allocate")
def allocate_cmd(
    ctx: typer.Context,
    incident: Annotated[int, typer.Option(help="an incident's id")],
    needs: NeedsOpt = "china",
    to: Annotated[str, typer.Option(help="villages, or shelters (where their people are "
                                         "sent)")] = "villages",
    out: Annotated[Path | None, typer.Option(help="FILE.xlsx or FILE.json")] = None,
    lang: LangOpt = "zh",
) -> None:
    """Allocate depot stock to the incident's villages within each depot level's limit."""
    _check_out(out)
    lang = _check_lang(lang)
    from emgis.shelters.relief_service import incident_relief

    ans, norms = _run(lambda db, graph, norms: incident_relief(db.engine, incident, graph, norms,
                                                        needs=needs, to=to))
    al = ans["allocation"]
    console.print(f"{ans['displaced_total']:,.0f} relocated in {ans['villages_total']} "
                  f"village(s); limits {ans['limits_h']} h incl. {ans['dispatch_h']:g} h dispatch;"
                  f" check {al['check']}")
    _table("by item 物资", al["by_item"], ["item", "need", "received", "unmet", "stock",
                                           "reachable_stock"])
    _table("shipments 调拨", al["shipments"], ["depot", "destination", "item", "quantity",
                                              "hours"])
    _table("shortfalls 缺口", al["shortfalls"], ["destination", "item", "need", "unmet"])
    _write(ans, out, {("调拨", "shipments"): al["shipments"], ("缺口", "shortfalls"):
                      al["shortfalls"], ("物资", "by item"): al["by_item"],
                      ("需求", "needs"): ans["needs"]}, (lang, _command(ctx), norms))


@relief_app.command("check")
def check_cmd(
    ctx: typer.Context,
    hours: Annotated[float | None, typer.Option(
        help="arrival limit in hours (default relief.check_hours, 10)")] = None,
    relocated: Annotated[float | None, typer.Option(
        help="people relocated (default relief.level2.relocated)")] = None,
    out: Annotated[Path | None, typer.Option(help="FILE.xlsx or FILE.json")] = None,
    lang: LangOpt = "zh",
) -> None:
    """Villages that cannot get basic relief within the hours from stock in place
    (a Level-II-size event)."""
    if hours is not None and not 0 < hours <= 72:
        err.print(f"[red]--hours {hours:g}[/] must be above 0 and at most 72")
        raise typer.Exit(2)
    if relocated is not None and relocated < 0:
        err.print(f"[red]--relocated {relocated:g}[/] must be 0 or more")
        raise typer.Exit(2)
    _check_out(out)
    lang = _check_lang(lang)
    from emgis.shelters.relief_service import relief_check

    ans, norms = _run(lambda db, graph, norms: relief_check(db.engine, graph, norms, hours=hours,
                                                     relocated=relocated))
    short = ans["villages_short"]
    console.print(f"{ans['relocated']:,.0f} relocated over {ans['villages_total']} villages; "
                  f"within {ans['hours']:g} h: {len(short)} village(s) short")
    rows = [{"village": v["dest_id"], "name": v["name"], "reachable": v["reachable"],
             "short": ", ".join(f"{k} {q:,.0f}" for k, q in v["items_short"].items())}
            for v in short]
    _table("villages short 缺口村", rows, ["village", "name", "reachable", "short"])
    _write(ans, out, {("缺口村", "villages short"): rows,
                      ("物资", "by item"): ans["allocation"]["by_item"],
                      ("调拨", "shipments"): ans["allocation"]["shipments"]},
           (lang, _command(ctx), norms))
