"""`emgis risk ...` and `emgis hazard ...`: the four-colour map, risk lists and the 隐患 loop.

Imported by :mod:`api.cli` (``from api import cli_risk``) so the sub-apps register on ``app``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from emgis.api.cli.base import _norms, _report_input_error, _settings, app, console, err
from emgis.layers.problems import InputError

risk_app = typer.Typer(help="Four-colour safety risk (红橙黄蓝): candidates, areas, lists, map.",
                       no_args_is_help=True)
hazard_app = typer.Typer(help="Hazards (隐患): move through 发现→确认→管控/整改→销号, "
                              "supervise, list.",
                         no_args_is_help=True)
app.add_typer(risk_app, name="risk")
app.add_typer(hazard_app, name="hazard")


def _levels(norms=None) -> dict:
    from emgis.risk.levels import risk_levels

    return {lv.key: lv for lv in risk_levels(norms)}


def _level_cell(key: object, levels: dict) -> str:
    if not isinstance(key, str) or key not in levels:
        return "未评估 unrated"
    lv = levels[key]
    return f"[{lv.colour}]■[/] {lv.zh} {lv.en}"


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]{escape(message)}[/]")
    return typer.Exit(code)


# --- risk ----------------------------------------------------------------------------------------

@risk_app.command("candidates")
def risk_candidates(osmfile: Annotated[Path, typer.Argument(
        help="local OSM extract (.osm.pbf, .osm, .osm.gz)")]) -> None:
    """Add candidate risk points found in an OSM extract, scored with default inputs to refine."""
    from emgis.layers.db import open_database
    from emgis.risk.store import import_candidates

    _, ls = _settings()
    with open_database() as db:
        try:
            res = import_candidates(db.engine, osmfile, actor=ls.actor, norms=_norms(db.engine))
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
        except (FileNotFoundError, ValueError) as exc:
            raise _fail(str(exc)) from None
    levels = _levels()
    console.print(f"[green]{res.inserted}[/] new candidate risk points from {osmfile.name} "
                  f"({res.found} found, {res.existing} already stored, "
                  f"{res.outside} outside the study area)")
    for k, n in res.by_level.items():
        if n:
            console.print(f"  {_level_cell(k, levels)}: {n}")
    console.print("Default scores are placeholders: refine L/E/C or L/S on site, "
                  "then `emgis risk relevel`.")


@risk_app.command("areas")
def risk_areas(
    grid: Annotated[float | None, typer.Option(
        "--grid", help="colour square cells of this many metres")] = None,
    admin: Annotated[str | None, typer.Option(
        "--admin", help="colour admin units of this level: village | township")] = None,
    rule: Annotated[str, typer.Option(help="max | count_weighted | population_weighted")] = "max",
) -> None:
    """Colour admin units (default: villages) or a grid from the risk points, and store the run."""
    from emgis.layers.db import open_database
    from emgis.risk.store import compute_areas

    if grid is not None and admin is not None:
        raise _fail("give either --grid METRES or --admin LEVEL, not both")
    kind = "grid" if grid is not None else "admin"
    _, ls = _settings()
    with open_database() as db:
        try:
            res = compute_areas(db.engine, kind=kind, level=admin or "village", cell_m=grid or 1000,
                                rule=rule, norms=_norms(db.engine), actor=ls.actor)
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
        except ValueError as exc:
            raise _fail(str(exc)) from None
    levels = _levels()
    console.print(f"[green]{len(res)}[/] {kind} areas coloured by rule [bold]{rule}[/] "
                  f"(run {res.attrs['run_id']})")
    counts = res["level"].value_counts()
    for k in levels:
        if counts.get(k):
            console.print(f"  {_level_cell(k, levels)}: {int(counts[k])}")
    unrated = int(res["level"].isna().sum())
    if unrated:
        console.print(f"  未评估 no risk points: {unrated}")
    if res.attrs.get("points_outside"):
        console.print(f"  [yellow]{res.attrs['points_outside']} risk point(s) lie in no area[/]")


@risk_app.command("list")
def risk_list_cmd(
    level: Annotated[str | None, typer.Option(
        help="red | orange | yellow | blue (or 重大/较大/一般/低)")] = None,
    category: Annotated[str | None, typer.Option(
        help="hazchem, fuel_station, crowded, ... (or Chinese)")] = None,
    limit: Annotated[int, typer.Option(help="show at most this many rows (0 = all)")] = 50,
) -> None:
    """Show risk points ranked by level, then score."""
    from emgis.layers.db import open_database
    from emgis.risk.lists import risk_list

    with open_database() as db:
        try:
            df = risk_list(db.engine, level=level, category=category)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        levels = _levels(_norms(db.engine))
    t = Table(title=f"风险清单 Risk list ({len(df)})")
    for col in ("编号 ID", "名称 Name", "类别 Category", "方法 Method", "分值 Score", "等级 Level"):
        t.add_column(col, overflow="fold")
    shown = df if not limit else df.head(limit)
    for r in shown.itertuples(index=False):
        t.add_row(r.ext_id, r.name or "", r.category_zh or "", r.method or "",
                  "" if r.score != r.score else f"{r.score:g}", _level_cell(r.level, levels))
    console.print(t)
    if limit and len(df) > limit:
        console.print(f"… {len(df) - limit} more; use --limit 0 for all")


@risk_app.command("export")
def risk_export(file: Annotated[Path, typer.Argument(
        help="FILE.xlsx (one sheet per list) or FILE.csv (one file per list)")]) -> None:
    """Write 隐患清单, 责任清单 and 整改措施清单 with Chinese headers."""
    from emgis.layers.db import open_database
    from emgis.risk.lists import export_lists

    with open_database() as db:
        try:
            paths = export_lists(db.engine, file)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    for p in paths:
        console.print(f"wrote {p}")


@risk_app.command("relevel")
def risk_relevel() -> None:
    """Re-band every stored score with the band norms in force; say how many changed level."""
    from emgis.layers.db import open_database
    from emgis.risk.methods import band_tables
    from emgis.risk.store import relevel_points

    _, ls = _settings()
    with open_database() as db:
        norms = _norms(db.engine)
        try:
            n = relevel_points(db.engine, norms, actor=ls.actor)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    for table in band_tables(norms).values():
        console.print(f"  {table.describe()}")
    console.print(f"[bold]{n}[/] risk point(s) changed level")
    if n:
        console.print("Coloured areas still show the old levels: run `emgis risk areas` again.")


@risk_app.command("map")
def risk_map_cmd(
    out: Annotated[Path, typer.Argument(
        help="OUT.html; Leaflet files go to OUT_assets/ beside it")],
    grid: Annotated[float | None, typer.Option(
        "--grid", help="show a grid of this many metres (computed if not stored)")] = None,
    admin: Annotated[bool, typer.Option(
        "--admin", help="show the stored admin-unit areas")] = False,
) -> None:
    """Write the offline four-colour map from the stored areas and risk points."""
    from emgis.layers.db import open_database
    from emgis.maps.risk_map import write_risk_map
    from emgis.risk.store import compute_areas, read_areas, read_points

    _, ls = _settings()
    with open_database() as db:
        norms = _norms(db.engine)
        try:
            if grid is not None:
                areas = read_areas(db.engine, "grid")
                if (not len(areas)
                        or not str(areas["run_id"].iloc[0]).startswith(f"grid{int(grid)}-")):
                    compute_areas(db.engine, kind="grid", cell_m=grid, actor=ls.actor)
                    console.print(f"coloured a {grid:g} m grid (rule max) for the map")
                    areas = read_areas(db.engine, "grid")
            else:
                areas = read_areas(db.engine, "admin" if admin else None)
            points = read_points(db.engine)
            path = write_risk_map(out, areas if len(areas) else None,
                                  points if len(points) else None, norms=norms)
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
        except ValueError as exc:
            raise _fail(str(exc)) from None
    if not len(areas):
        console.print("[yellow]no coloured areas are stored; the map shows points only "
                      "(run `emgis risk areas` first)[/]")
    console.print(f"wrote {path} ({len(areas)} areas, {len(points)} risk points)")


# --- hazard --------------------------------------------------------------------------------------

@hazard_app.command("move")
def hazard_move(
    ext_id: Annotated[str, typer.Argument(help="hazard id (编号)")],
    state: Annotated[str, typer.Argument(
        help="confirmed | under_control | rectifying | closed (or 确认/管控/整改/销号)")],
    note: Annotated[str | None, typer.Option(help="what was done or decided")] = None,
    responsible: Annotated[str | None, typer.Option(help="responsible person (责任人)")] = None,
    measures: Annotated[str | None, typer.Option(help="rectification measures (整改措施)")] = None,
    deadline: Annotated[str | None, typer.Option(
        help="rectification deadline YYYY-MM-DD (整改期限)")] = None,
) -> None:
    """Move a hazard to its next state; illegal moves are refused with the allowed ones."""
    from emgis.layers.db import open_database
    from emgis.risk.hazard_log import HazardFields, move_hazard
    from emgis.risk.hazards import IllegalTransition, label

    due = None
    if deadline is not None:
        try:
            due = dt.date.fromisoformat(deadline)
        except ValueError:
            raise _fail(f"--deadline {deadline!r} is not a date; "
                        f"write YYYY-MM-DD, e.g. 2026-12-31") from None
    _, ls = _settings()
    with open_database() as db:
        try:
            new = move_hazard(db.engine, ext_id, state, actor=ls.actor, note=note,
                              fields=HazardFields(responsible, measures, due))
        except IllegalTransition as exc:
            raise _fail(str(exc)) from None
        except (LookupError, ValueError) as exc:
            raise _fail(str(exc).strip("'\"")) from None
    console.print(f"hazard {ext_id}: now [bold]{new} ({label(new)})[/]")


@hazard_app.command("note")
def hazard_note(ext_id: str, text: str) -> None:
    """Record a supervision note (督办) on a hazard; its state does not change."""
    from emgis.layers.db import open_database
    from emgis.risk.hazard_log import note_hazard

    _, ls = _settings()
    with open_database() as db:
        try:
            note_hazard(db.engine, ext_id, text, actor=ls.actor)
        except (LookupError, ValueError) as exc:
            raise _fail(str(exc).strip("'\"")) from None
    console.print(f"note recorded on hazard {ext_id}")


@hazard_app.command("list")
def hazard_list_cmd(
    overdue: Annotated[bool, typer.Option(
        "--overdue", help="only hazards past their deadline and not closed")] = False,
) -> None:
    """List hazards with state, responsible person and deadline."""
    from emgis.layers.db import open_database
    from emgis.risk.hazard_log import hazard_list

    with open_database() as db:
        df = hazard_list(db.engine, overdue=overdue)
    t = Table(title=f"{'超期隐患 Overdue hazards' if overdue else '隐患 Hazards'} ({len(df)})")
    for col in ("编号 ID", "隐患 Title", "状态 State", "责任人 Responsible", "期限 Deadline",
                "超期 Overdue"):
        t.add_column(col, overflow="fold")
    for r in df.itertuples(index=False):
        t.add_row(r.ext_id, r.title, f"{r.state_zh} {r.state}", r.responsible or "",
                  "" if r.deadline is None else r.deadline.isoformat(),
                  "[red]是[/]" if r.overdue else "")
    console.print(t)
