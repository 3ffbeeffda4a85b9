"""`emgis load`, `emgis export`, `emgis layers`: files in and out of the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.table import Table

from emgis.api.cli import roads as road_cli
from emgis.api.cli.base import (
    _norms,
    _report_input_error,
    _settings,
    app,
    console,
    err,
)
from emgis.layers.problems import InputError

LAYER_HELP = ("roads, census, codes, admin_units, shelters, depots, depot_stock, team_bases, "
              "risk_points, hazards, hazard_zones, incidents, experts, "
              "equipment (team_equipment), plans (the 预案 workbook)")


@app.command("load")
def load(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Path,
    crs: Annotated[str | None, typer.Option(
        help="source CRS: EPSG code, cgcs2000, cgcs2000-gk3-39, gcj02, bd09 ...")] = None,
    mode: Annotated[str, typer.Option(help="append | replace | upsert")] = "append",
    encoding: Annotated[str | None, typer.Option(
        help="text encoding if detection fails (utf-8, gbk, big5, utf-16)")] = None,
    source_layer: Annotated[str | None, typer.Option(
        "--layer", help="the layer to read from a GeoPackage (or zip) holding several")] = None,
    accept_warnings: Annotated[bool, typer.Option(
        "--accept-warnings", help="load despite warnings")] = False,
    year: Annotated[int | None, typer.Option(
        help="census year (census) or code-list vintage (codes)")] = None,
    name: Annotated[str, typer.Option(help=road_cli.NAME_HELP)] = "default",
    class_field: Annotated[str | None, typer.Option(help=road_cli.CLASS_HELP)] = None,
    speed_field: Annotated[str | None, typer.Option(help=road_cli.SPEED_HELP)] = None,
    oneway_field: Annotated[str | None, typer.Option(help=road_cli.ONEWAY_HELP)] = None,
    clip: Annotated[bool, typer.Option("--clip/--no-clip", help=road_cli.CLIP_HELP)] = True,
    delete_dependents: Annotated[bool, typer.Option(
        "--delete-dependents",
        help="with --mode replace: also delete (or unlink) the rows that depend on rows the "
             "file no longer has; without it such a replace is refused with the list")] = False,
) -> None:
    """Check FILE and load it as LAYER in one transaction; a file with errors loads nothing.

    Rows are matched by their id (ext_id / code) and updated in place, so what points at them
    (stock, hazard links, hazard history) survives; replace deletes the rows the file no
    longer has only when nothing depends on them, or with --delete-dependents."""
    from emgis.layers.db import open_database
    from emgis.layers.load.write import LoadOptions, load_layer

    _, ls = _settings()
    # OSM extracts or line layers: the same command as `emgis load-roads`
    if layer == "roads":
        from emgis.layers.load.roads import RoadSource

        road_cli.load_roads_command(file, RoadSource(file, name, class_field, speed_field,
                                                     oneway_field, clip, crs, encoding))
        return
    if layer == "plans":
        from emgis.api.cli.plans import load_plans_command

        load_plans_command(file)
        return
    if layer in ("census", "codes"):
        _load_census_or_codes(layer, file, year, accept_warnings, encoding, ls.actor, mode)
        return
    with open_database() as db:
        try:
            opts = LoadOptions(crs=crs, mode=mode, encoding=encoding,
                               accept_warnings=accept_warnings, layer=source_layer,
                               margin_km=ls.study_area_margin_km,
                               delete_dependents=delete_dependents)
            res = load_layer(db.engine, layer, file, opts, norms=_norms(db.engine), actor=ls.actor)
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
    console.print(f"[green]loaded[/] {res.rows} {res.layer} from {file.name} "
                  f"(source CRS {res.source_crs or '—'}, load #{res.load_id})")
    _print_counts(res.counts)
    for note in res.notes:
        console.print(f"  note: {note}")
    for w in res.warnings:
        console.print(f"  [yellow]accepted warning[/]: {w}")


def _print_counts(counts: dict) -> None:
    """inserted / updated / deleted, and what went with the deleted rows, table by table."""
    if not counts:
        return
    console.print(f"  {counts.get('inserted', 0)} inserted, {counts.get('updated', 0)} updated, "
                  f"{counts.get('deleted', 0)} deleted")
    for effect in ("deleted", "unlinked", "orphaned"):
        for table, n in counts.get(f"dependents_{effect}", {}).items():
            console.print(f"  [yellow]{effect}[/] with them: {n} {table} row(s)")


def _load_census_or_codes(layer: str, file: Path, year: int | None, accept: bool,
                          encoding: str | None, actor: str, mode: str) -> None:
    from emgis.layers.db import open_database
    from emgis.layers.load.census.write import load_census, load_codes

    if layer == "census" and year is None:
        err.print("[red]emgis load census needs --year YYYY[/] "
                  "(the census or statistics year of the table)")
        raise typer.Exit(2)
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                   TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal)
    task = bar.add_task("starting", total=None)

    def progress(stage: str, done: int, total: int) -> None:
        bar.update(task, description=stage, completed=done, total=total or None)

    with open_database() as db, bar:
        try:
            if layer == "codes":
                res = load_codes(db.engine, file, vintage=year, actor=actor, progress=progress)
                console.print(f"[green]loaded[/] {res.rows} codes (vintage {res.vintage}) "
                              f"from {file.name}")
            else:
                res = load_census(db.engine, file, year=year, accept_warnings=accept, actor=actor,
                                  encoding=encoding, progress=progress, mode=mode)
                console.print(f"[green]loaded[/] {res.rows:,} census rows for {res.year} "
                              f"from {file.name} (file total {res.total:,}); {res.year} now "
                              f"holds {res.stored_rows:,} rows, total population "
                              f"{res.stored_total:,}")
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
    for note in res.notes:
        console.print(f"  note: {note}")


@app.command("export")
def export(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Path,
    crs: Annotated[str | None, typer.Option(
        help="write coordinates in this CRS (default WGS84)")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="Shapefile/CSV text encoding: UTF-8 or GBK")] = None,
) -> None:
    """Write LAYER to FILE (.geojson, .gpkg, .shp, .csv, .xlsx; census and codes: .csv, .xlsx)."""
    from emgis.layers.db import open_database
    from emgis.layers.load.exporters import export_layer

    with open_database() as db:
        try:
            n = export_layer(db.engine, layer, file, crs=crs, encoding=encoding)
        except InputError as exc:
            _report_input_error(exc, "nothing was written")
            raise typer.Exit(2) from None
    console.print(f"wrote {n} {layer} to {file}")


@app.command("layers")
def layers_cmd() -> None:
    """List the layers and how many rows each holds."""
    from emgis.layers.db import open_database
    from emgis.layers.schema import LAYERS

    with open_database() as db, db.engine.connect() as c:
        t = Table("layer", "中文", "rows")
        for spec in LAYERS.values():
            t.add_row(spec.name, spec.zh,
                      f"{c.execute(sa.text(f'SELECT count(*) FROM {spec.table}')).scalar():,}")
        console.print(t)


