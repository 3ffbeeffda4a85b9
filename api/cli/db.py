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
    err,
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


def _interactive() -> bool:
    """Is there a person at a terminal to answer the question?"""
    import sys

    return sys.stdin.isatty()


def _refused(what: str, lines: list[str]) -> None:
    err.print(f"[bold red]{what}[/]: nothing was restored; the database is unchanged.")
    for line in lines:
        err.print(f"  - {line}", soft_wrap=True)


@db_app.command("restore")
def db_restore(
    file: Path,
    yes: Annotated[bool, typer.Option(
        "--yes", "-y", help="replace without asking (needed without a terminal)")] = False,
) -> None:
    """Replace the whole database with a backup FILE (written by `emgis db backup`).

    The file is checked first; a safety backup of the database as it is goes to
    EMGIS_HOME/backups; the backup is restored into a new database and swapped in only when
    that worked, so a bad file or a failure changes nothing. Asks before replacing.
    """
    from emgis.layers.db import head_revision, open_database
    from emgis.layers.restore import (
        RestoreFailed,
        RestoreRefused,
        check_dump,
        check_privileges,
        restore,
        table_counts,
    )

    dbs, _ = _settings()
    try:
        info = check_dump(file)
    except InputError as exc:
        _refused(str(file), [
            f"{file} {p.message}. Fix: {p.fix}"
            + (f" (pg_restore said: {p.value})" if p.value and p.field is None else "")
            for p in exc.problems])
        raise typer.Exit(2) from None
    with open_database(dbs, migrate=False) as db:
        try:
            check_privileges(db.url)
        except RestoreRefused as exc:
            _refused("restore refused", [str(exc)])
            raise typer.Exit(2) from None
        counts = table_counts(db.engine)
        db.engine.dispose()
        name = sa.engine.make_url(db.url).database
        rev = (f"schema revision {info.revision}"
               + (f", migrated to {head_revision()} after the restore"
                  if info.needs_migration else ""))
        console.print(f"[bold]{file}[/]: a backup of database {info.dbname or '?'} made "
                      f"{info.created or 'at an unknown time'}, {rev}.")
        if counts is None:
            console.print(f"It replaces database [bold]{name}[/], which holds no emgis tables.")
        else:
            console.print(f"It replaces everything in database [bold]{name}[/]: "
                          + ", ".join(f"{t} {n:,}" for t, n in counts.items()) + " rows.")
        if not yes:
            if not _interactive():
                _refused("restore not confirmed",
                         ["there is no terminal to ask on; run again with --yes to replace "
                          f"database {name} with {file}"])
                raise typer.Exit(2)
            if not typer.confirm(f"Replace database {name} with {file}?", default=False):
                err.print("nothing was restored; the database is unchanged.")
                raise typer.Exit(1)
        try:
            res = restore(db.url, file, backup_dir=dbs.home / "backups", info=info,
                          say=lambda msg: console.print(f"  {msg}", soft_wrap=True))
        except RestoreRefused as exc:
            _refused("restore refused", [str(exc)])
            raise typer.Exit(2) from None
        except RestoreFailed as exc:
            _refused("restore failed", [str(exc)])
            raise typer.Exit(1) from None
    console.print(f"restored {res.database} from {file} (schema revision {res.revision}"
                  f"{f' → {res.migrated_to}' if res.migrated_to != res.revision else ''}).")
    console.print(f"safety backup of what was replaced: {res.safety_backup} "
                  f"(emgis db restore {res.safety_backup} puts it back)", soft_wrap=True)


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


