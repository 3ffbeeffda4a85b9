"""Restoring a backup so that a bad file or a failure can never leave a half-emptied database.

`restore` never touches the live database until the backup is known to be good and fully
restored elsewhere:

1. `check_dump` reads the file before anything else: it must be a pg_dump custom-format
   archive (``pg_restore --list``), hold emgis's schema (``alembic_version`` and the core
   tables), carry a schema revision this code knows (an older one is migrated after the
   restore; a newer one is refused), and read to its end (a truncated file still lists its
   table of contents, so every byte is read once: ``pg_restore -f /dev/null``). Problems are an
   ``InputError`` (the file, what is wrong, how to fix it).
2. `check_privileges`: the role must be able to create databases and own the live one (emgis's
   own cluster: always; an external ``EMGIS_DATABASE_URL``: ``CREATEDB`` is needed) —
   `RestoreRefused` otherwise, before anything is written.
3. A safety backup of the live database is written first
   (``EMGIS_HOME/backups/before-restore-<UTC time>.dump``).
4. The file is restored into a new database ``<db>_restore_<time>`` in one transaction
   (``--single-transaction --exit-on-error``), migrated to the newest revision and checked
   (every table of the models present). Any failure drops the new database: the live one was
   never touched (`RestoreFailed`).
5. The swap, in the maintenance database: the live database stops taking connections, its
   sessions are ended (a running API reconnects to the new one), it is renamed
   ``<db>_before_restore_<time>``, the new one takes its name; a failed rename puts the old one
   back. The old database is then dropped: the safety backup is the way back
   (``emgis db restore <safety backup>``), and copies do not pile up on the server.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from emgis.layers.db import (
    _libpq_args,
    _tool,
    backup,
    current_revision,
    head_revision,
    known_revisions,
    make_engine,
    upgrade,
)
from emgis.layers.problems import Problems

#: tables every emgis database has had since its first revision
CORE_TABLES = ("alembic_version", "loads", "admin_units", "shelters", "audit_log")
#: the tables whose row counts the confirmation shows
MAIN_TABLES = ("admin_units", "population", "shelters", "depots", "depot_stock", "team_bases",
               "risk_points", "hazards", "incidents", "road_edges", "api_tokens", "audit_log")
MAINTENANCE_DBS = ("postgres", "template1")
BACKUP_HOW = ("give a file written by `emgis db backup` (pg_dump custom format, -Fc), e.g. a "
              "safety backup in EMGIS_HOME/backups")


class RestoreRefused(RuntimeError):
    """The server or the situation does not allow a safe restore; nothing was touched."""


class RestoreFailed(RuntimeError):
    """Restoring into the new database failed; it was dropped and the live one is unchanged."""


@dataclass(frozen=True)
class DumpInfo:
    """What a backup file holds, read without restoring it."""

    path: Path
    revision: str
    created: str | None
    dbname: str | None
    tables: frozenset[str] = field(default_factory=frozenset)

    @property
    def needs_migration(self) -> bool:
        return self.revision != head_revision()


@dataclass(frozen=True)
class RestoreResult:
    database: str
    safety_backup: Path
    revision: str        # the dump's
    migrated_to: str     # the database's now


def _pg(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([_tool(args[0]), *args[1:]], capture_output=True, text=True,
                          errors="replace")


def _first_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln
    return lines[0] if lines else "no message"


def check_dump(path: Path) -> DumpInfo:
    """Read ``path`` without restoring it; `InputError` (every problem found) if it is not a
    whole emgis backup of a revision this code can restore (``Problems.raise_if_errors``)."""
    path = Path(path)
    p = Problems(str(path))
    if not path.exists():
        p.error(None, None, None, "does not exist", BACKUP_HOW)
    elif not path.is_file():
        p.error(None, None, None, "is not a file", BACKUP_HOW)
    elif not os.access(path, os.R_OK):
        p.error(None, None, None, "cannot be read (permissions)",
                "make the file readable by the user running emgis")
    p.raise_if_errors()
    listing = _pg(["pg_restore", "--list", str(path)])
    if listing.returncode:
        msg = _first_error(listing.stderr)
        with open(path, "rb") as f:
            archive = f.read(5) == b"PGDMP"  # pg_dump's custom format begins so
        if archive and ("end of file" in msg or "too short" in msg):
            p.error(None, None, msg, "is truncated or damaged: pg_restore cannot read its table "
                    "of contents", "the file was cut short (copied while being written, a full "
                    "disk, a partial download); " + BACKUP_HOW)
        elif "text format" in msg:
            p.error(None, None, msg, "is a plain SQL dump, not a backup `emgis db restore` reads",
                    "restore a plain SQL dump with psql into an empty database, or "
                    + BACKUP_HOW)
        else:
            p.error(None, None, msg, "is not a backup (pg_restore cannot read it)", BACKUP_HOW)
        p.raise_if_errors()
    tables = frozenset(m.group(1) for m in
                       re.finditer(r"^\d+; \d+ \d+ TABLE public (\S+) ", listing.stdout, re.M))
    created = re.search(r"^;\s+Archive created at (.+)$", listing.stdout, re.M)
    dbname = re.search(r"^;\s+dbname: (.+)$", listing.stdout, re.M)
    missing = [t for t in CORE_TABLES if t not in tables]
    if missing:
        p.error(None, "tables", ", ".join(missing),
                f"is not an emgis database: it lacks the table(s) {', '.join(missing)}"
                f" (a dump of database {dbname.group(1) if dbname else '?'})", BACKUP_HOW)
        p.raise_if_errors()
    revision = _dump_revision(path, p)
    p.raise_if_errors()
    known = known_revisions()
    if revision not in known:
        p.error(None, "alembic_version", revision,
                f"has schema revision {revision}, which this emgis does not know (it knows "
                f"{known[0]}…{known[-1]}): the backup was made by a newer emgis",
                "restore it with the emgis version that wrote it, or upgrade emgis first")
        p.raise_if_errors()
    whole = _pg(["pg_restore", "-f", os.devnull, str(path)])
    if whole.returncode:
        p.error(None, None, _first_error(whole.stderr),
                "is truncated or damaged: pg_restore cannot read it to the end",
                "the file was cut short (copied while being written, a full disk, a partial "
                "download); " + BACKUP_HOW)
    p.raise_if_errors()
    return DumpInfo(path, revision, created.group(1).strip() if created else None,
                    dbname.group(1).strip() if dbname else None, tables)


def _dump_revision(path: Path, p: Problems) -> str:
    out = _pg(["pg_restore", "--data-only", "--table", "alembic_version", "-f", "-", str(path)])
    if out.returncode:
        p.error(None, "alembic_version", _first_error(out.stderr),
                "is truncated or damaged: its schema revision cannot be read", BACKUP_HOW)
        return ""
    rows, inside = [], False
    for line in out.stdout.splitlines():
        if line.startswith("COPY public.alembic_version"):
            inside = True
        elif inside and line == "\\.":
            break
        elif inside:
            rows.append(line.strip())
    if len(rows) != 1 or not rows[0]:
        p.error(None, "alembic_version", ", ".join(rows) or None,
                "does not say which schema revision it holds", BACKUP_HOW)
        return ""
    return rows[0]


# --- the server ---------------------------------------------------------------------------------

def _url(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _admin_engine(url: str) -> Engine:
    """An autocommit engine on a maintenance database of the server of ``url``."""
    last: Exception | None = None
    for name in MAINTENANCE_DBS:
        eng = sa.create_engine(_url(url, name), isolation_level="AUTOCOMMIT", future=True,
                               poolclass=sa.pool.NullPool)
        try:
            with eng.connect() as c:
                c.execute(sa.text("SELECT 1"))
            return eng
        except sa.exc.OperationalError as exc:
            last = exc
            eng.dispose()
    raise RestoreRefused(
        f"cannot connect to a maintenance database ({' or '.join(MAINTENANCE_DBS)}) of the "
        f"server to swap the databases: {str(last).splitlines()[0] if last else ''}. Fix: let "
        f"the role connect to the 'postgres' database")


def check_privileges(url: str) -> None:
    """`RestoreRefused` unless the role may create a database and rename the live one."""
    live = make_url(url).database or ""
    admin = _admin_engine(url)
    try:
        with admin.connect() as c:
            row = c.execute(sa.text(
                "SELECT r.rolname, r.rolsuper, r.rolcreatedb, "
                "(SELECT pg_has_role(d.datdba, 'USAGE') FROM pg_database d "
                " WHERE d.datname = :db) FROM pg_roles r WHERE r.rolname = current_user"),
                {"db": live}).one()
    finally:
        admin.dispose()
    role, superuser, createdb, owner = row
    if superuser:
        return
    if not createdb:
        raise RestoreRefused(
            f"the database role {role!r} may not create databases, and a restore builds the "
            f"new data in a new database before it replaces {live!r}. Fix: have an "
            f"administrator grant it (ALTER ROLE {role} CREATEDB), or restore as a role that "
            f"has CREATEDB")
    if not owner:
        raise RestoreRefused(
            f"the database role {role!r} does not own database {live!r}, so it cannot swap the "
            f"restored copy in. Fix: restore as the owner of {live!r} (ALTER DATABASE {live} "
            f"OWNER TO {role})")


def table_counts(engine: Engine) -> dict[str, int] | None:
    """Rows of the main tables (those present); None when the schema is missing."""
    with engine.connect() as c:
        present = c.execute(sa.text(
            "SELECT t FROM unnest(CAST(:t AS text[])) t WHERE to_regclass('public.' || t) "
            "IS NOT NULL"), {"t": list(MAIN_TABLES)}).scalars().all()
        if not present:
            return None
        return {t: int(c.execute(sa.text(f"SELECT count(*) FROM {_q(t)}")).scalar() or 0)
                for t in MAIN_TABLES if t in present}


# --- the restore --------------------------------------------------------------------------------

def restore(url: str, path: Path, *, backup_dir: Path, info: DumpInfo | None = None,
            say=None) -> RestoreResult:
    """Replace the database of ``url`` with the backup in ``path``, or change nothing.

    ``say`` (optional) is called with a line of progress per step.
    """
    say = say or (lambda msg: None)
    info = info or check_dump(path)
    check_privileges(url)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    backup_dir = Path(backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    safety = backup_dir / f"before-restore-{stamp}.dump"
    n = 1
    while safety.exists():
        n += 1
        safety = backup_dir / f"before-restore-{stamp}-{n}.dump"
    say(f"safety backup of the database as it is now: {safety}")
    try:
        backup(url, safety)
    except RuntimeError as exc:
        safety.unlink(missing_ok=True)
        raise RestoreFailed(f"the safety backup could not be written ({exc}); nothing was "
                            f"changed") from None
    live = make_url(url).database or ""
    suffix = f"{stamp.lower()}_{secrets.token_hex(2)}"
    new, old = f"{live[:30]}_restore_{suffix}", f"{live[:24]}_before_restore_{suffix}"
    admin = _admin_engine(url)
    try:
        _build(admin, url, live, new, info, say)
        say(f"swapping the restored copy in as {live!r}")
        try:
            _swap(admin, live, new, old)
        except Exception as exc:
            with admin.connect() as c:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {_q(new)} WITH (FORCE)"))
            raise RestoreFailed(f"the swap failed ({str(exc).splitlines()[0]}); the database "
                                f"{live!r} was not changed") from exc
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {_q(old)} WITH (FORCE)"))
    finally:
        admin.dispose()
    return RestoreResult(live, safety, info.revision, head_revision())


def _build(admin: Engine, url: str, live: str, new: str, info: DumpInfo, say) -> None:
    """Restore into the new database ``new``, migrate and check it; drop it on any failure."""
    with admin.connect() as c:
        enc, collate, ctype = c.execute(sa.text(
            "SELECT pg_encoding_to_char(encoding), datcollate, datctype FROM pg_database "
            "WHERE datname = :d"), {"d": live}).one()
        c.execute(sa.text(f"CREATE DATABASE {_q(new)} TEMPLATE template0 ENCODING '{enc}' "
                          f"LC_COLLATE '{collate}' LC_CTYPE '{ctype}'"))
    new_url = _url(url, new)
    try:
        say(f"restoring {info.path} into a new database {new!r}")
        args, env = _libpq_args(new_url)
        proc = subprocess.run([_tool("pg_restore"), "--no-owner", "--exit-on-error",
                               "--single-transaction", *args, str(info.path)],
                              capture_output=True, text=True, errors="replace",
                              env={**os.environ, **env})
        if proc.returncode:
            raise RestoreFailed(f"pg_restore failed: {_first_error(proc.stderr)}")
        if info.needs_migration:
            say(f"migrating the restored schema from revision {info.revision} to "
                f"{head_revision()}")
            upgrade(new_url)
        _sanity(new_url)
    except Exception as exc:
        with admin.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {_q(new)} WITH (FORCE)"))
        if isinstance(exc, RestoreFailed):
            raise RestoreFailed(f"{exc}; the database {live!r} was not changed") from None
        raise RestoreFailed(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                            f"; the database {live!r} was not changed") from exc


def _sanity(url: str) -> None:
    from emgis.layers import models

    eng = make_engine(url)
    try:
        present = set(sa.inspect(eng).get_table_names())
        missing = sorted(set(models.Base.metadata.tables) - present)
        if missing:
            raise RestoreFailed(f"the restored database lacks table(s) {', '.join(missing)}")
        rev = current_revision(eng)
        if rev != head_revision():
            raise RestoreFailed(f"the restored database is at revision {rev}, not "
                                f"{head_revision()}")
    finally:
        eng.dispose()


def _swap(admin: Engine, live: str, new: str, old: str) -> None:
    """Rename ``live`` → ``old`` and ``new`` → ``live``; on failure ``live`` is as it was."""
    with admin.connect() as c:
        c.execute(sa.text(f"ALTER DATABASE {_q(live)} WITH ALLOW_CONNECTIONS false"))
        try:
            for attempt in range(100):
                c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                  "WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": live})
                try:
                    c.execute(sa.text(f"ALTER DATABASE {_q(live)} RENAME TO {_q(old)}"))
                    break
                except sa.exc.DBAPIError:
                    if attempt == 99:
                        raise
                    time.sleep(0.05)  # a terminated session is still on its way out
        except Exception:
            c.execute(sa.text(f"ALTER DATABASE {_q(live)} WITH ALLOW_CONNECTIONS true"))
            raise
        try:
            c.execute(sa.text(f"ALTER DATABASE {_q(new)} RENAME TO {_q(live)}"))
        except Exception:
            c.execute(sa.text(f"ALTER DATABASE {_q(old)} RENAME TO {_q(live)}"))
            c.execute(sa.text(f"ALTER DATABASE {_q(live)} WITH ALLOW_CONNECTIONS true"))
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {_q(new)} WITH (FORCE)"))
            raise
