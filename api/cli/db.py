"""`emgis db …` and `emgis init`: the database and the study area."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer

from emgis.api.cli.base import (
    _report_input_error,
    _settings,
    app,
    console,
    db_app,
)
from emgis.layers.problems import InputError

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
    console.print(f"{'started' if started else 'already running'}: port {st['port']}, "
                  f"data {st['data_dir']}")


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
        console.print(f"external database "
                      f"{sa.engine.make_url(dbs.database_url).render_as_string()}, "
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
    county: Annotated[str | None, typer.Option(
        "--county", help="6-digit county code, picks the feature")] = None,
    name: Annotated[str | None, typer.Option(help="name to record")] = None,
    crs: Annotated[str | None, typer.Option(
        help="CRS of the boundary file if it does not say")] = None,
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
    console.print(f"study area: {area.name} ({area.county_code or 'no code'}), "
                  f"{area.area_km2:,.1f} km², "
                  f"metric CRS EPSG:{area.metric_epsg}")


