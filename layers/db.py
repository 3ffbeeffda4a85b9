"""Connecting to the database: the project's own cluster or ``EMGIS_DATABASE_URL``.

``open_database`` is the one entry point. With no URL configured it starts emgis's own
cluster if needed and, unless asked to keep it, stops it again on exit when this call
was the one that started it, so a command leaves no stray server behind.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection, Engine, make_url

from emgis.layers.pgserver import LocalCluster, find_pg_bin
from emgis.layers.settings import DatabaseSettings

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class Database:
    engine: Engine
    url: str
    cluster: LocalCluster | None
    started: bool = False  # this process started ``cluster``

    def dispose(self) -> None:
        self.engine.dispose()


def make_engine(url: str) -> Engine:
    # pool_pre_ping lets a long-running server survive a database restart.
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, future=True)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest)."""
    command.upgrade(alembic_config(url), revision)


def known_revisions() -> list[str]:
    """Every schema revision this code knows, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(""))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def head_revision() -> str:
    """The newest schema revision this code knows (what `upgrade` brings a database to)."""
    return known_revisions()[-1]


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as c:
        try:
            return c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        except sa.exc.ProgrammingError:
            return None


@contextlib.contextmanager
def open_database(
    settings: DatabaseSettings | None = None, *, migrate: bool = True, keep_running: bool = False
) -> Iterator[Database]:
    """Yield a :class:`Database`, starting the local cluster if there is no URL."""
    settings = settings or DatabaseSettings()
    cluster = None
    started = False
    if settings.database_url:
        url = settings.database_url
    else:
        cluster = LocalCluster(settings.home)
        started = cluster.start()
        url = cluster.url()
    engine = make_engine(url)
    try:
        if migrate:
            upgrade(url)
        yield Database(engine, url, cluster, started)
    finally:
        engine.dispose()
        if cluster is not None and started and not keep_running:
            cluster.stop()


def stop_if_unused(db: Database) -> bool:
    """Stop the local cluster ``db`` started, unless other sessions still use it (another
    `emgis serve`, a load); True if it was stopped."""
    if db.cluster is None or not db.started:
        return False
    db.engine.dispose()
    eng = sa.create_engine(db.url, poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as c:
            others = c.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()")).scalar()
    except sa.exc.OperationalError:
        others = 0  # not answering: stopping it is what is left to do
    finally:
        eng.dispose()
    if others:
        return False
    db.cluster.stop()
    return True


def latest_census_year(conn: Connection, codes: Iterable[str] | None = None) -> int | None:
    """Return the newest census year stored in ``population`` (of ``codes`` only, if given).

    None when no census is loaded (or none for those codes). Every analysis that says
    "latest year" asks here, so they all mean the same year.
    """
    if codes is None:
        year = conn.execute(sa.text("SELECT max(year) FROM population")).scalar()
    else:
        year = conn.execute(sa.text("SELECT max(year) FROM population WHERE code = ANY(:c)"),
                            {"c": list(codes)}).scalar()
    return None if year is None else int(year)


def _libpq_args(url: str) -> tuple[list[str], dict[str, str]]:
    u = make_url(url)
    args = ["-h", u.host or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres"]
    env = {"PGPASSWORD": u.password or ""}
    return [*args, "-d", u.database or "postgres"], env


def _tool(name: str) -> str:
    try:
        return str(find_pg_bin() / name)
    except Exception:
        found = shutil.which(name)
        if not found:
            raise
        return found


def backup(url: str, path: Path) -> None:
    """Write the whole database to ``path`` (pg_dump custom format)."""
    import os

    args, env = _libpq_args(url)
    proc = subprocess.run([_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(path), *args],
                          capture_output=True, text=True, env={**os.environ, **env})
    if proc.returncode:
        raise RuntimeError(f"pg_dump failed: {proc.stderr.strip()}")
