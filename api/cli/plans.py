"""`emgis plans …` and `emgis drills …`: emergency plans, responses on incidents, drills.

The command-line doors of api/http/plans.py and api/http/drills.py; the work is in
`emgis.risk.plan_store`, `emgis.risk.plan_report`, `emgis.risk.drills` and
`emgis.layers.load.plans` (`emgis load plans FILE.xlsx` reads the workbook).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from emgis.api.cli.base import _norms, _report_input_error, _settings, app, console, err
from emgis.layers import vocab
from emgis.layers.problems import InputError, NotFound

plans_app = typer.Typer(help="Emergency plans (预案): list, show, propose for an incident, start "
                             "a response, tick its checklist, the plan-system report.",
                        no_args_is_help=True)
drills_app = typer.Typer(help="Drills (演练) and their findings' closed loop "
                              "(open → rectifying → closed).", no_args_is_help=True)
app.add_typer(plans_app, name="plans")
app.add_typer(drills_app, name="drills")


def _run(fn: Callable[[Any], Any], outcome: str = "nothing was changed") -> Any:
    """Open the database, call ``fn(engine)``; report problems and exit 2 on bad input."""
    from emgis.layers.db import open_database
    from emgis.risk.drills import IllegalMove

    with open_database() as db:
        try:
            return fn(db.engine)
        except InputError as exc:
            _report_input_error(exc, outcome)
            raise typer.Exit(2) from None
        except (NotFound, IllegalMove) as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None


def _actor() -> str:
    return _settings()[1].actor


def load_plans_command(file: Path) -> None:
    """`emgis load plans FILE.xlsx` (called by `emgis load`)."""
    from emgis.layers.load.plans import load_plans

    res = _run(lambda e: load_plans(e, file, actor=_actor()), "nothing was loaded")
    console.print(f"[green]loaded[/] {res.plans} plans ({res.inserted} new, {res.updated} "
                  f"updated), {res.levels} levels, {res.tasks} tasks from {file.name} "
                  f"(load #{res.load_id})")


def load_demo_plans(engine, out_dir: Path, *, actor: str = "demo") -> dict[str, int]:
    """The demo county's plans (its workbook written to ``out_dir`` and loaded) and drills."""
    from emgis.layers.demo.plans import SAMPLE, add_demo_drills, clear_plans, sample_rows
    from emgis.layers.load.plans import load_plans, write_template

    clear_plans(engine, actor=actor)
    path = write_template(Path(out_dir) / SAMPLE, sample_rows(engine, dt.date.today()))
    res = load_plans(engine, path, actor=actor)
    return {"plans": res.plans, "plan tasks": res.tasks, **add_demo_drills(engine, actor=actor)}


@plans_app.command("template")
def template(out: Annotated[Path, typer.Argument(help="the workbook to write (.xlsx)")]) -> None:
    """Write the empty workbook a bureau fills (sheets 预案 / 响应分级 / 任务 and notes)."""
    from emgis.layers.load.plans import write_template

    console.print(f"wrote {write_template(out)}; fill it in, then `emgis load plans {out}`")


@plans_app.command("list")
def plans_list(kind: Annotated[str | None, typer.Option(
        help=f"one of {', '.join(vocab.PLAN_KIND)}")] = None) -> None:
    """The plans: kind, area, types, levels, next review, last drill."""
    from emgis.risk.plan_store import list_plans

    t = Table("id", "name", "kind", "area", "types", "levels", "tasks", "next review",
              "last drill", header_style="bold")
    for p in _run(lambda e: list_plans(e, kind)):
        t.add_row(p["ext_id"], p["name"], vocab.PLAN_KIND[p["kind"]].zh,
                  p["area_name"] or p["enterprise"] or "全县 county",
                  "、".join(vocab.INCIDENT_TYPE[k].zh for k in p["incident_types"]) or "全部",
                  " ".join(p["levels"]), str(p["tasks"]), p["next_review_on"] or "",
                  p["last_drill"] or "")
    console.print(t)


@plans_app.command("show")
def show(plan: Annotated[str, typer.Argument(help="the plan's id")]) -> None:
    """A plan's levels, triggers and tasks."""
    from emgis.risk.plan_store import get_plan

    p = _run(lambda e: get_plan(e, plan))
    console.print(f"[bold]{p['ext_id']}[/] {p['name']} ({vocab.PLAN_KIND[p['kind']].zh}); "
                  f"next review {p['next_review_on'] or '—'}")
    for lv in p["levels"]:
        trig = " or ".join(f"{t['field']} {t['op']} {t['value']:g}" for t in lv["triggers"])
        console.print(f"  [bold]{lv['level_zh']}[/] when {trig or '—'}"
                      + (f"; command: {lv['command']}" if lv["command"] else ""))
        for t in lv["tasks"]:
            console.print(f"    - {t['unit'] or ''}: {t['task']} ({t['who'] or '—'}; done when "
                          f"{t['done_when'] or '—'})")


@plans_app.command("propose")
def propose(incident: Annotated[int, typer.Argument(help="the incident's id", min=1)]) -> None:
    """The plans for INCIDENT and the response level their triggers give, with the reasons."""
    from emgis.risk.plan_store import propose as run

    ans = _run(lambda e: run(e, incident, _norms(e)))
    i = ans["incident"]
    console.print(f"incident {i['id']} {i['title']} ({i['incident_type']})")
    for n in ans["notes"]:
        console.print(f"  [yellow]{n}[/]")
    t = Table("plan", "name", "level", "why", "unknown", header_style="bold")
    for p in ans["plans"]:
        t.add_row(p["ext_id"], p["name"], p["level"] or "—", "; ".join(p["reasons"]),
                  "; ".join(p["unknown"]))
    console.print(t)
    best = ans["proposed"]
    if best:
        console.print(f"proposed: [bold]{best['plan']}[/] at level [bold]{best['level']}[/] "
                      f"({'; '.join(best['reasons'])})")


@plans_app.command("figures")
def figures(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    deaths: int | None = None, injured: int | None = None, missing: int | None = None,
    affected: int | None = None, relocated: int | None = None,
    duration_h: float | None = None, hazard_level: float | None = None,
    unknown: Annotated[list[str] | None, typer.Option(
        help="a figure to make unknown again (repeatable)")] = None,
) -> None:
    """Set INCIDENT's figures the plans' triggers read (not given: unchanged)."""
    from emgis.risk.plan_store import set_figures

    given = {k: v for k, v in dict(deaths=deaths, injured=injured, missing=missing,
                                   affected=affected, relocated=relocated,
                                   duration_h=duration_h, hazard_level=hazard_level).items()
             if v is not None}
    out = _run(lambda e: set_figures(e, incident, given, actor=_actor(),
                                     clear=tuple(unknown or ())))
    console.print(", ".join(f"{k} {'unknown' if v is None else f'{v:g}'}"
                            for k, v in out.items()))


def _print_checklist(items: list[dict]) -> None:
    t = Table("item", "plan", "level", "unit", "task", "who", "done when", "state", "done by",
              header_style="bold")
    for x in items:
        t.add_row(str(x["id"]), x["plan"] or "", x["level"], x["unit"] or "", x["task"],
                  x["who"] or "", x["done_when"] or "",
                  "[green]✓ done[/]" if x["state"] == "done" else "open", x["done_by"] or "")
    console.print(t)


@plans_app.command("start")
def start(
    incident: Annotated[int, typer.Argument(help="the incident's id", min=1)],
    plan: Annotated[str, typer.Option("--plan", help="the plan's id")],
    level: Annotated[str | None, typer.Option(
        help="I–IV (default: the level the plan's triggers give)")] = None,
) -> None:
    """Start a response on INCIDENT: the plan's tasks at the level become its checklist."""
    from emgis.risk.plan_store import start_response

    out = _run(lambda e: start_response(e, incident, plan, level, actor=_actor(),
                                        norms=_norms(e)))
    console.print(f"response started at level [bold]{out['level']}[/] ({out['added']} tasks "
                  "added)")
    _print_checklist(out["checklist"])


@plans_app.command("checklist")
def show_checklist(incident: Annotated[int, typer.Argument(min=1)]) -> None:
    """INCIDENT's checklist."""
    from emgis.risk.plan_store import checklist

    _print_checklist(_run(lambda e: checklist(e, incident)))


@plans_app.command("done")
def done(item: Annotated[int, typer.Argument(help="the checklist item's id", min=1)],
         undo: Annotated[bool, typer.Option("--undo", help="open it again")] = False) -> None:
    """Mark a checklist ITEM done (audited under EMGIS_ACTOR)."""
    import sqlalchemy as sa

    from emgis.risk.plan_store import tick

    def run(e):
        with e.connect() as c:
            inc = c.execute(sa.text("SELECT incident_id FROM incident_checklists WHERE id = :i"),
                            {"i": item}).scalar()
        if inc is None:
            raise NotFound(f"there is no checklist item {item}")
        return tick(e, inc, item, "open" if undo else "done", actor=_actor())

    x = _run(run)
    console.print(f"item {x['id']} ({x['task']}): {x['state']}"
                  + (f" by {x['done_by']} at {x['done_at']}" if x["done_by"] else ""))


@plans_app.command("report")
def report(out: Annotated[Path | None, typer.Option(
        "--out", help="write the report as a workbook (.xlsx)")] = None) -> None:
    """The plan-system report: townships, villages, key enterprises; plan, review, drills."""
    from emgis.risk.plan_report import plan_system, summary, write_xlsx

    frame = _run(lambda e: plan_system(e, norms=_norms(e)))
    t = Table("kind", "total", "with plan", "overdue", "drilled in 12 months", "no plan",
              header_style="bold")
    for k, s in summary(frame).items():
        t.add_row(k, str(s["total"]), str(s["with_plan"]), str(s["overdue"]),
                  str(s["drilled_12m"]), str(s["no_plan"]))
    console.print(t)
    if out is not None:
        write_xlsx(frame, out)
        console.print(f"wrote {out}")


# --- drills --------------------------------------------------------------------------------------

@drills_app.command("add")
def drills_add(
    ext_id: Annotated[str, typer.Argument(help="the drill's id")],
    held_on: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    scenario: Annotated[str, typer.Option(help="what was drilled")],
    kind: Annotated[str, typer.Option(help="桌面推演 / 实战 / 双盲 (tabletop, live, "
                                           "double_blind)")],
    plan: Annotated[str | None, typer.Option(help="the plan's id")] = None,
    participants: int | None = None,
    unit: Annotated[list[str] | None, typer.Option(help="a unit taking part (repeatable)")]
        = None,
) -> None:
    """Record a drill."""
    from emgis.risk.drills import DrillIn, add_drill

    day = _date(held_on)
    d = _run(lambda e: add_drill(e, DrillIn(ext_id, plan, day, scenario, kind, participants,
                                            tuple(unit or ())), actor=_actor()))
    console.print(f"[green]recorded[/] drill {d['ext_id']} ({d['kind']}, {d['held_on']})")


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        err.print(f"[red]{text!r} is not a date[/]: write it as 2025-06-30")
        raise typer.Exit(2) from None


@drills_app.command("list")
def drills_list(plan: Annotated[str | None, typer.Option(help="the plan's id")] = None) -> None:
    """The drills, newest first, with their open findings."""
    from emgis.risk.drills import list_drills

    t = Table("id", "date", "kind", "plan", "scenario", "findings (open)", header_style="bold")
    for d in _run(lambda e: list_drills(e, plan)):
        t.add_row(d["ext_id"], d["held_on"], vocab.DRILL_KIND[d["kind"]].zh, d["plan"] or "",
                  d["scenario"], f"{d['findings']} ({d['open_findings']})")
    console.print(t)


@drills_app.command("finding")
def drills_finding(
    drill: Annotated[str | None, typer.Argument(help="the drill's id (to add a finding)")]
        = None,
    text: Annotated[str | None, typer.Option("--add", help="record this finding")] = None,
    responsible: str | None = None,
    deadline: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    move: Annotated[int | None, typer.Option(help="the finding's id to move")] = None,
    to: Annotated[str | None, typer.Option(help="rectifying / closed / open")] = None,
    measures: str | None = None,
    note: str | None = None,
    overdue: Annotated[bool, typer.Option("--overdue", help="list the overdue findings")]
        = False,
) -> None:
    """Record a finding (DRILL --add TEXT), move one (--move ID --to STATE), or list them."""
    from emgis.risk.drills import add_finding, findings, move_finding

    if text is not None and drill is not None:
        f = _run(lambda e: add_finding(e, drill, finding=text, responsible=responsible,
                                       deadline=_date(deadline), actor=_actor()))
        console.print(f"[green]recorded[/] finding {f['id']} ({f['state_zh']})")
        return
    if move is not None:
        f = _run(lambda e: move_finding(e, move, to, actor=_actor(), note=note,
                                        measures=measures, responsible=responsible))
        console.print(f"finding {f['id']}: {f['state']} ({f['state_zh']})")
        return
    t = Table("id", "drill", "finding", "responsible", "deadline", "state", "overdue",
              header_style="bold")
    for f in _run(lambda e: findings(e, only_overdue=overdue)):
        if drill is None or f["drill"] == drill:
            t.add_row(str(f["id"]), f["drill"], f["finding"], f["responsible"] or "",
                      f["deadline"] or "", f["state_zh"], "[red]overdue[/]" if f["overdue"]
                      else "")
    console.print(t)
