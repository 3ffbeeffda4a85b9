"""The `emgis` command line: gathers inputs, calls the cores, presents results."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from emgis.layers.problems import InputError

app = typer.Typer(help="emgis: risk, coverage and dispatch maps for a county emergency management bureau.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Manage the database (emgis's own PostGIS cluster, or EMGIS_DATABASE_URL).",
                     no_args_is_help=True)
norms_app = typer.Typer(help="The norms table: numbers from standards, with sources; override them here.",
                        no_args_is_help=True)
population_app = typer.Typer(help="Population as demand: rasters summed to units, rescaled to the census; demand points.",
                             no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(norms_app, name="norms")
app.add_typer(population_app, name="population")
console = Console()
err = Console(stderr=True)


def _settings():
    from emgis.layers.settings import DatabaseSettings, LoadSettings

    return DatabaseSettings(), LoadSettings()


def _norms(engine=None):
    from emgis.layers.norms import Norm, load_norms

    _, load = _settings()
    rows = []
    if engine is not None:
        with engine.connect() as c:
            for r in c.execute(sa.text("SELECT key, value, unit, standard, clause, note FROM norm_overrides")):
                from emgis.layers.norms import _parse_value

                rows.append(Norm(r[0], _parse_value(r[1]), r[2] or "", r[3] or "", r[4] or "", "L", r[5] or "", "database"))
    return load_norms(load.norms_file, rows)


def _report_input_error(exc: InputError) -> None:
    err.print(f"[bold red]{exc.source}[/]: nothing was loaded. Problems found ({len(exc.problems)}):")
    t = Table(show_lines=False, header_style="bold")
    for col in ("", "row", "field", "value", "problem", "how to fix"):
        t.add_column(col, overflow="fold")
    for p in exc.problems:
        t.add_row("[red]error[/]" if p.severity == "error" else "[yellow]warning[/]",
                  "" if p.row is None else str(p.row), p.field or "", "" if p.value is None else str(p.value),
                  p.message, p.fix)
    err.print(t)
    if all(p.severity == "warning" for p in exc.problems):
        err.print("Only warnings: check them, then run again with [bold]--accept-warnings[/] to load.")


# --- db ------------------------------------------------------------------------------------------

@db_app.command("start")
def db_start() -> None:
    """Create (first time) and start emgis's own PostgreSQL + PostGIS, and migrate it."""
    from emgis.layers.db import upgrade
    from emgis.layers.pgserver import LocalCluster

    dbs, _ = _settings()
    if dbs.database_url:
        console.print("EMGIS_DATABASE_URL is set: emgis uses that server and starts none.")
        upgrade(dbs.database_url)
        return
    cluster = LocalCluster(dbs.home)
    started = cluster.start()
    upgrade(cluster.url())
    st = cluster.status()
    console.print(f"{'started' if started else 'already running'}: port {st['port']}, data {st['data_dir']}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop emgis's own server."""
    from emgis.layers.pgserver import LocalCluster

    dbs, _ = _settings()
    if dbs.database_url:
        console.print("EMGIS_DATABASE_URL is set: that server is not emgis's to stop.")
        return
    console.print("stopped" if LocalCluster(dbs.home).stop() else "was not running")


@db_app.command("status")
def db_status() -> None:
    """Say where the data is and whether the server runs."""
    from emgis.layers.db import current_revision, make_engine
    from emgis.layers.pgserver import LocalCluster

    dbs, _ = _settings()
    if dbs.database_url:
        eng = make_engine(dbs.database_url)
        console.print(f"external database {sa.engine.make_url(dbs.database_url).render_as_string()}, "
                      f"schema revision {current_revision(eng)}")
        eng.dispose()
        return
    st = LocalCluster(dbs.home).status()
    for k, v in st.items():
        console.print(f"{k}: {v}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    from emgis.layers.db import current_revision, open_database

    with open_database() as db:
        console.print(f"schema at revision {current_revision(db.engine)}")


@db_app.command("backup")
def db_backup(file: Path) -> None:
    """Write the whole database to FILE (pg_dump custom format)."""
    from emgis.layers.db import backup, open_database

    with open_database() as db:
        backup(db.url, file)
    console.print(f"backup written to {file} ({file.stat().st_size:,} bytes)")


@db_app.command("restore")
def db_restore(file: Path) -> None:
    """Replace the database's contents with a backup FILE."""
    from emgis.layers.db import open_database, restore

    with open_database(migrate=False) as db:
        db.engine.dispose()
        restore(db.url, file)
    console.print(f"restored from {file}")


# --- study area, loads, exports ------------------------------------------------------------------

@app.command("init")
def init(
    boundary: Annotated[Path, typer.Option("--boundary", help="county outline (GeoJSON/GPKG/SHP)")],
    county: Annotated[str | None, typer.Option("--county", help="6-digit county code, picks the feature")] = None,
    name: Annotated[str | None, typer.Option(help="name to record")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of the boundary file if it does not say")] = None,
) -> None:
    """Record the study area (the county) and pick its metric CRS for analyses."""
    from emgis.layers.db import open_database
    from emgis.layers.load.study_area import read_boundary, save_study_area

    try:
        area = read_boundary(boundary, county_code=county, crs=crs, name=name)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    with open_database() as db:
        save_study_area(db.engine, area, boundary_file=str(boundary.resolve()))
    console.print(f"study area: {area.name} ({area.county_code or 'no code'}), {area.area_km2:,.1f} km², "
                  f"metric CRS EPSG:{area.metric_epsg}")


LAYER_HELP = "roads, census, codes, admin_units, shelters, depots, depot_stock, team_bases, risk_points, hazards, hazard_zones, incidents"


@app.command("load")
def load(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Path,
    crs: Annotated[str | None, typer.Option(help="source CRS: EPSG code, cgcs2000, cgcs2000-gk3-39, gcj02, bd09 ...")] = None,
    mode: Annotated[str, typer.Option(help="append | replace | upsert")] = "append",
    encoding: Annotated[str | None, typer.Option(help="text encoding if detection fails (utf-8, gbk)")] = None,
    accept_warnings: Annotated[bool, typer.Option("--accept-warnings", help="load despite warnings")] = False,
    year: Annotated[int | None, typer.Option(help="census year (census) or code-list vintage (codes)")] = None,
) -> None:
    """Check FILE and load it as LAYER in one transaction; a file with errors loads nothing."""
    from emgis.layers.db import open_database
    from emgis.layers.load.loaders import load_layer

    _, ls = _settings()
    if layer == "roads":  # OSM extracts or line layers; `emgis load-roads` has the road-only options
        from emgis.api.cli_roads import load_roads_command

        load_roads_command(file, crs=crs, encoding=encoding)
        return
    if layer in ("census", "codes"):
        _load_census_or_codes(layer, file, year, accept_warnings, encoding, ls.actor)
        return
    with open_database() as db:
        try:
            res = load_layer(db.engine, layer, file, crs=crs, mode=mode, encoding=encoding,
                             accept_warnings=accept_warnings, norms=_norms(db.engine), actor=ls.actor,
                             margin_km=ls.study_area_margin_km)
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
    console.print(f"[green]loaded[/] {res.rows} {res.layer} from {file.name} (source CRS {res.source_crs or '—'}, load #{res.load_id})")
    for note in res.notes:
        console.print(f"  note: {note}")
    for w in res.warnings:
        console.print(f"  [yellow]accepted warning[/]: {w}")


def _load_census_or_codes(layer: str, file: Path, year: int | None, accept: bool, encoding: str | None,
                          actor: str) -> None:
    from emgis.layers.db import open_database
    from emgis.layers.load.census.write import load_census, load_codes

    if layer == "census" and year is None:
        err.print("[red]emgis load census needs --year YYYY[/] (the census or statistics year of the table)")
        raise typer.Exit(2)
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                   console=err, transient=True, disable=not err.is_terminal)
    task = bar.add_task("starting", total=None)

    def progress(stage: str, done: int, total: int) -> None:
        bar.update(task, description=stage, completed=done, total=total or None)

    with open_database() as db, bar:
        try:
            if layer == "codes":
                res = load_codes(db.engine, file, vintage=year, actor=actor, progress=progress)
                console.print(f"[green]loaded[/] {res.rows} codes (vintage {res.vintage}) from {file.name}")
            else:
                res = load_census(db.engine, file, year=year, accept_warnings=accept, actor=actor, encoding=encoding,
                                  progress=progress)
                console.print(f"[green]loaded[/] {res.rows} census rows for {res.year} from {file.name}, "
                              f"total population {res.total:,}")
        except InputError as exc:
            _report_input_error(exc)
            raise typer.Exit(2) from None
    for note in res.notes:
        console.print(f"  note: {note}")


@app.command("export")
def export(
    layer: Annotated[str, typer.Argument(help=LAYER_HELP)],
    file: Path,
    crs: Annotated[str | None, typer.Option(help="write coordinates in this CRS (default WGS84)")] = None,
    encoding: Annotated[str | None, typer.Option(help="Shapefile/CSV text encoding: UTF-8 or GBK")] = None,
) -> None:
    """Write LAYER to FILE (.geojson, .gpkg, .shp, .csv)."""
    from emgis.layers.db import open_database
    from emgis.layers.load.exporters import export_layer

    with open_database() as db:
        try:
            n = export_layer(db.engine, layer, file, crs=crs, encoding=encoding)
        except InputError as exc:
            _report_input_error(exc)
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
            t.add_row(spec.name, spec.zh, f"{c.execute(sa.text(f'SELECT count(*) FROM {spec.table}')).scalar():,}")
        console.print(t)


# --- norms ---------------------------------------------------------------------------------------

@norms_app.command("list")
def norms_list(prefix: Annotated[str, typer.Argument(help="only keys starting with this")] = "") -> None:
    """Show the norms in force with their sources."""
    from emgis.layers.db import open_database

    with open_database() as db:
        norms = _norms(db.engine)
    t = Table("key", "value", "unit", "source", "origin", show_lines=False)
    for k in sorted(norms):
        if k.startswith(prefix):
            n = norms[k]
            t.add_row(k, str(n.value), n.unit, n.source, n.origin)
    console.print(t)


@norms_app.command("set")
def norms_set(key: str, value: str, source: Annotated[str, typer.Option(help="why: document or decision")] = "",
              note: str = "") -> None:
    """Override a norm in the database (recorded in the audit log)."""
    from emgis.layers.db import open_database
    from emgis.layers.norms import default_norms

    defaults = default_norms()
    if key in defaults and isinstance(defaults[key].value, float):
        try:
            float(value)
        except ValueError:
            err.print(f"[red]{key} is a number in {defaults[key].unit}; {value!r} is not a number[/]")
            raise typer.Exit(2) from None
    _, ls = _settings()
    with open_database() as db, db.engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": ls.actor})
        c.execute(sa.text(
            "INSERT INTO norm_overrides (key, value, standard, note, set_by) VALUES (:k, :v, :s, :n, :a) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, standard = EXCLUDED.standard, "
            "note = EXCLUDED.note, set_by = EXCLUDED.set_by, set_at = now()"),
            {"k": key, "v": value, "s": source or None, "n": note or None, "a": ls.actor})
    console.print(f"{key} = {value} (was {defaults[key].value if key in defaults else 'not set'})")


@norms_app.command("unset")
def norms_unset(key: str) -> None:
    """Remove a database override, going back to the file or default value."""
    from emgis.layers.db import open_database

    with open_database() as db, db.engine.begin() as c:
        n = c.execute(sa.text("DELETE FROM norm_overrides WHERE key = :k"), {"k": key}).rowcount
    console.print("removed" if n else f"{key} had no database override")


@norms_app.command("export")
def norms_export(file: Path) -> None:
    """Write the norms in force to a CSV a planner can edit and pass back with EMGIS_NORMS_FILE."""
    import csv

    from emgis.layers.db import open_database

    with open_database() as db:
        norms = _norms(db.engine)
    with open(file, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["key", "value", "unit", "standard", "clause", "status", "note"])
        for k in sorted(norms):
            n = norms[k]
            w.writerow([k, n.value, n.unit, n.standard, n.clause, n.status, n.note])
    console.print(f"wrote {len(norms)} norms to {file}")


# --- demo ----------------------------------------------------------------------------------------

@app.command("demo")
def demo(
    out: Annotated[Path | None, typer.Option(help="where to write the demo files (default EMGIS_HOME/demo)")] = None,
    seed: int = 20250801,
    serve: Annotated[bool, typer.Option(help="start the API and map pages afterwards (Ctrl-C stops it)")] = True,
    host: Annotated[str | None, typer.Option(help="address to serve on (default EMGIS_API_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default EMGIS_API_PORT or 8000)")] = None,
) -> None:
    """The whole demo: the synthetic county loaded through the ordinary loaders, analyses run, map pages served."""
    from emgis.api.demo import run_demo

    dbs, ls = _settings()
    out = out or dbs.home / "demo"
    try:
        run_demo(out, seed=seed, console=console, actor=ls.actor, serve=serve, host=host, port=port)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None


# --- population -------------------------------------------------------------------------------

def _units_with_geometry(engine, level: str):
    import geopandas as gpd

    with engine.connect() as c:
        units = gpd.read_postgis(sa.text("SELECT code, name, geom FROM admin_units WHERE level = :l AND geom IS NOT NULL "
                                         "ORDER BY code"), c, geom_col="geom", params={"l": level})
    if units.empty:
        from emgis.layers.problems import Problem

        raise InputError([Problem(
            "admin_units", None, "level", level, "has no unit with a boundary in the database",
            "load township/village outlines first: emgis load admin_units FILE")], source="admin_units")
    return units


def _raster_units_census(raster: Path, level: str, year: int | None):
    """Read the raster, the stored units of ``level`` and one census year (the latest by default)."""
    from emgis.layers.db import open_database
    from emgis.layers.load.rasters import read_population_raster

    try:
        pop = read_population_raster(raster)
        with open_database() as db:
            units = _units_with_geometry(db.engine, level)
            with db.engine.connect() as c:
                y = year or c.execute(sa.text("SELECT max(year) FROM population")).scalar()
                census = dict(c.execute(sa.text("SELECT code, population FROM population WHERE year = :y"),
                                        {"y": y}).all())
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    return pop, units, y, census


@population_app.command("zonal")
def population_zonal(
    raster: Annotated[Path, typer.Argument(help="population GeoTIFF (WorldPop, GHSL, ...)")],
    level: Annotated[str, typer.Option(help="sum to this level of admin_units")] = "village",
    out: Annotated[Path | None, typer.Option(help="write code,name,raster_population[,census] as CSV")] = None,
) -> None:
    """Sum a population raster over the stored units, beside the latest census where there is one."""
    from emgis.shelters.population import zonal_sums

    pop, units, _, census = _raster_units_census(raster, level, None)
    sums = zonal_sums(pop, units)
    table = units[["code", "name"]].copy()
    table["raster_population"] = table["code"].map(sums).fillna(0.0).round(1)
    table["census"] = table["code"].map(census)
    for note in sums.attrs.get("notes", []):
        console.print(f"  note: {note}")
    console.print(f"raster total {pop.total:,.0f}; inside the {len(units)} {level} units "
                  f"{table['raster_population'].sum():,.0f}; outside {sums.attrs.get('outside_units', 0):,.0f}")
    if out:
        table.to_csv(out, index=False, encoding="utf-8-sig")
        console.print(f"wrote {out}")


@population_app.command("dasymetric")
def population_dasymetric(
    raster: Annotated[Path, typer.Argument(help="population GeoTIFF to rescale")],
    out: Annotated[Path, typer.Argument(help="the rescaled GeoTIFF to write")],
    year: Annotated[int | None, typer.Option(help="census year (default: the latest loaded)")] = None,
    level: str = "village",
) -> None:
    """Rescale a raster so each unit's cells sum to its census total (dasymetric mapping)."""
    from emgis.layers.load.rasters import write_raster
    from emgis.shelters.population import dasymetric

    pop, units, y, totals = _raster_units_census(raster, level, year)
    result = dasymetric(pop, units, {k: v for k, v in totals.items() if v is not None})
    write_raster(out, result)
    for note in result.notes:
        console.print(f"  note: {note}")
    console.print(f"wrote {out}: total {result.total:,.0f} (census {y}: {sum(v or 0 for v in totals.values()):,})")


@population_app.command("demand")
def population_demand(
    out: Annotated[Path, typer.Argument(help="GeoJSON, GeoPackage or CSV of demand points")],
    year: Annotated[int | None, typer.Option(help="census year (default: the latest loaded)")] = None,
    store: Annotated[bool, typer.Option(help="store township-weighted positions of code-only villages")] = True,
    snap: Annotated[bool, typer.Option(help="snap each point to the road network (node, snap_m, offroad_s)")] = False,
    network: Annotated[str, typer.Option(help="road network to snap to")] = "default",
) -> None:
    """One demand point per village with its census population, placed even without a boundary."""
    from emgis.geo.store import RoadNetworkNotFound, load_network
    from emgis.layers.db import open_database
    from emgis.shelters.demand import demand_from_db, snap_demand, store_placements

    dbs, ls = _settings()
    try:
        with open_database() as db:
            d = demand_from_db(db.engine, year=year)
            placed = store_placements(db.engine, d, actor=ls.actor) if store else 0
            if snap:
                attrs = dict(d.attrs)
                d = snap_demand(load_network(db.engine, network, home=dbs.home), d, norms=_norms(db.engine))
                d.attrs.update(attrs)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    except RoadNetworkNotFound as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    if snap:
        console.print(f"snapped to network {network!r}: median {d['snap_m'].median():,.0f} m, "
                      f"max {d['snap_m'].max():,.0f} m from a road")
    counts = d["placement"].value_counts().to_dict()
    console.print(f"{len(d)} villages, population {d['population'].sum():,.0f} ({d.attrs['year']}); placement: "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if placed:
        console.print(f"  stored {placed} township-weighted position(s) in admin_units")
    for note in d.attrs.get("notes", []):
        console.print(f"  note: {note}")
    if out.suffix.lower() == ".csv":
        frame = d.drop(columns="geometry")
        frame["lon"], frame["lat"] = d.geometry.x, d.geometry.y
        frame.to_csv(out, index=False, encoding="utf-8-sig")
    else:
        d.to_file(out)
    console.print(f"wrote {out}")


# commands defined in their own modules register themselves on `app`
from emgis.api import cli_risk, cli_roads, cli_serve, cli_shelters  # noqa: E402, F401


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
