"""`emgis db restore`: checked before anything is touched, restored into a new database and
swapped in only on success, confirmed, and noticed by a running API.

Every refused restore must leave every table and row as it was: the tests compare an md5 of
each table's rows before and after.
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import _admin_exec, _serve
from typer.testing import CliRunner

from emgis.api.cli import app
from emgis.layers.db import backup, current_revision, head_revision, make_engine, upgrade

pytestmark = pytest.mark.postgis


def _seed(engine) -> None:
    with engine.begin() as c:
        c.execute(sa.text("SET LOCAL emgis.actor = 'clerk'"))
        c.execute(sa.text(
            "INSERT INTO shelters "
            "(ext_id, name, duration_class, capacity, capacity_source, status, geom) "
            "SELECT 's' || g, '学校' || g, 'emergency', 100, 'given', 'open', "
            "ST_SetSRID(ST_MakePoint(120 + g / 1000.0, 31), 4326) FROM generate_series(1, 30) g"))
        c.execute(sa.text("INSERT INTO api_tokens (name, token_hash, role) "
                          "VALUES ('duty', repeat('a', 64), 'commander')"))


def _checksums(engine) -> dict[str, str]:
    """md5 of every table's rows (sorted), and the schema revision."""
    out = {}
    with engine.connect() as c:
        tables = c.execute(sa.text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'spatial_ref_sys' ORDER BY 1")).scalars().all()
        for t in tables:
            out[t] = c.execute(sa.text(
                f'SELECT count(*) || \':\' || COALESCE(md5(string_agg(t::text, \'|\' '
                f'ORDER BY t::text)), \'\') FROM "{t}" t')).scalar()
    return out


def _databases(engine) -> set[str]:
    with engine.connect() as c:
        return set(c.execute(sa.text("SELECT datname FROM pg_database")).scalars())


def _restore_cli(url: str, home: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(app, ["db", "restore", *args],
                         env={"EMGIS_DATABASE_URL": url, "EMGIS_HOME": str(home),
                              "COLUMNS": "200", "NO_COLOR": "1"})


def _other_url(db, name: str) -> str:
    return sa.engine.make_url(db.url).set(database=name).render_as_string(hide_password=False)


# --- refused input: nothing changes ----------------------------------------------------------

def _cut(db, tmp_path: Path, keep: float) -> Path:
    good = tmp_path / "good.dump"
    backup(db.url, good)
    bad = tmp_path / "cut.dump"
    data = good.read_bytes()
    bad.write_bytes(data[: int(len(data) * keep)])
    return bad


def _truncated(db, tmp_path: Path) -> Path:
    # the table of contents is whole (`pg_restore --list` reads it), the data is not
    with db.engine.begin() as c:  # enough data that the cut falls in it
        c.execute(sa.text("INSERT INTO code_list (code, vintage, name, level) "
                          "SELECT (330000000000 + g)::text, 2022, 'v' || g, 'village' "
                          "FROM generate_series(1, 20000) g"))
    bad = _cut(db, tmp_path, 0.7)
    from emgis.layers.restore import _pg

    assert _pg(["pg_restore", "--list", str(bad)]).returncode == 0
    return bad


def _truncated_header(db, tmp_path: Path) -> Path:
    return _cut(db, tmp_path, 0.05)


def _text_file(db, tmp_path: Path) -> Path:
    p = tmp_path / "emgis.dump"
    p.write_text("id,name\n1,school\n", encoding="utf-8")
    return p


def _empty_file(db, tmp_path: Path) -> Path:
    p = tmp_path / "emgis.dump"
    p.write_bytes(b"")
    return p


def _plain_sql(db, tmp_path: Path) -> Path:
    import os
    import subprocess

    from emgis.layers.db import _libpq_args, _tool

    p = tmp_path / "plain.dump"
    args, env = _libpq_args(db.url)
    subprocess.run([_tool("pg_dump"), "-Fp", "-f", str(p), *args], check=True,
                   env={**os.environ, **env}, capture_output=True)
    return p


def _newer_revision(db, tmp_path: Path) -> Path:
    p = tmp_path / "newer.dump"
    with db.engine.begin() as c:
        c.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    try:
        backup(db.url, p)
    finally:
        with db.engine.begin() as c:
            c.execute(sa.text("UPDATE alembic_version SET version_num = :h"),
                      {"h": head_revision()})
    return p


def _not_emgis(db, tmp_path: Path) -> Path:
    p = tmp_path / "other.dump"
    backup(_other_url(db, "postgres"), p)  # a real pg_dump archive, of another database
    return p


def _missing(db, tmp_path: Path) -> Path:
    return tmp_path / "no-such.dump"


@pytest.mark.bad_input
@pytest.mark.parametrize("make, says", [
    (_truncated, "truncated"),
    (_truncated_header, "truncated"),
    (_text_file, "not a backup"),
    (_empty_file, "not a backup"),
    (_plain_sql, "plain SQL"),
    (_newer_revision, "0099"),
    (_not_emgis, "not an emgis database"),
    (_missing, "does not exist"),
], ids=["truncated-dump", "dump-cut-in-its-table-of-contents", "text-file", "empty-file",
        "plain-sql-dump", "newer-schema-revision", "not-an-emgis-dump", "missing-file"])
def test_refused_restore_changes_nothing(db, tmp_path, make, says):
    _seed(db.engine)
    bad = make(db, tmp_path)
    before = _checksums(db.engine)
    dbs_before = _databases(db.engine)
    res = _restore_cli(db.url, tmp_path / "home", str(bad), "--yes")
    assert res.exit_code == 2, res.output
    assert says in res.output, res.output
    assert "Traceback" not in res.output and "nothing was restored" in res.output, res.output
    assert _checksums(db.engine) == before
    assert _databases(db.engine) == dbs_before
    assert not (tmp_path / "home" / "backups").exists() or not any(
        (tmp_path / "home" / "backups").iterdir())


@pytest.mark.bad_input
def test_restore_refused_without_createdb(db, tmp_path):
    """An external server's role that may not create databases: refused before anything."""
    _seed(db.engine)
    good = tmp_path / "good.dump"
    backup(db.url, good)
    role = f"clerk_{uuid.uuid4().hex[:6]}"
    u = sa.engine.make_url(db.url)
    admin = u.set(database="postgres").render_as_string(hide_password=False)
    _admin_exec(admin, f"CREATE ROLE {role} LOGIN PASSWORD 'pw' NOCREATEDB")
    try:
        url = u.set(username=role, password="pw").render_as_string(hide_password=False)
        before = _checksums(db.engine)
        res = _restore_cli(url, tmp_path / "home", str(good), "--yes")
        assert res.exit_code == 2, res.output
        assert "CREATEDB" in res.output and "nothing was restored" in res.output, res.output
        assert _checksums(db.engine) == before
    finally:
        _admin_exec(admin, f"DROP ROLE {role}")


@pytest.mark.bad_input
def test_restore_without_a_terminal_needs_yes(db, tmp_path):
    _seed(db.engine)
    good = tmp_path / "good.dump"
    backup(db.url, good)
    before = _checksums(db.engine)
    res = _restore_cli(db.url, tmp_path / "home", str(good))  # CliRunner's stdin is no TTY
    assert res.exit_code == 2 and "--yes" in res.output, res.output
    assert _checksums(db.engine) == before


@pytest.mark.bad_input
def test_a_failure_in_the_new_database_changes_nothing(db, tmp_path, monkeypatch):
    """The file is good but restoring it fails (here: the check after the migration): the new
    database is dropped, the live one is as it was, exit 1."""
    import emgis.layers.restore as restore_mod

    _seed(db.engine)
    good = tmp_path / "good.dump"
    backup(db.url, good)
    with db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM api_tokens"))
    before, dbs_before = _checksums(db.engine), _databases(db.engine)

    def broken(url):
        raise restore_mod.RestoreFailed("the restored database lacks table(s) shelters")

    monkeypatch.setattr(restore_mod, "_sanity", broken)
    res = _restore_cli(db.url, tmp_path / "home", str(good), "--yes")
    assert res.exit_code == 1, res.output
    assert "lacks table(s) shelters" in res.output and "was not changed" in res.output, res.output
    assert _checksums(db.engine) == before
    assert _databases(db.engine) == dbs_before


# --- a restore that works -------------------------------------------------------------------

def test_restore_replaces_the_data_and_keeps_a_safety_backup(db, tmp_path):
    _seed(db.engine)
    good = tmp_path / "good.dump"
    backup(db.url, good)
    wanted = _checksums(db.engine)
    with db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM shelters WHERE ext_id <> 's1'"))
        c.execute(sa.text("DELETE FROM api_tokens"))
    changed = _checksums(db.engine)
    assert changed != wanted
    dbs_before = _databases(db.engine)
    res = _restore_cli(db.url, tmp_path / "home", str(good), "--yes")
    assert res.exit_code == 0, res.output
    assert _checksums(db.engine) == wanted
    assert _databases(db.engine) == dbs_before  # no new or old copy left behind
    safety = list((tmp_path / "home" / "backups").glob("before-restore-*.dump"))
    assert len(safety) == 1 and safety[0].name in res.output.replace("\n", ""), res.output
    # the safety backup holds what was replaced
    res = _restore_cli(db.url, tmp_path / "home", str(safety[0]), "--yes")
    assert res.exit_code == 0, res.output
    assert _checksums(db.engine) == changed


def test_restore_of_an_older_revision_is_migrated(db, pg_server, tmp_path):
    admin_url, _ = pg_server
    name = f"emgis_old_{uuid.uuid4().hex[:8]}"
    _admin_exec(admin_url, f'CREATE DATABASE "{name}"')
    try:
        old_url = _other_url(db, name)
        upgrade(old_url, "0004")
        dump = tmp_path / "old.dump"
        backup(old_url, dump)
    finally:
        _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    res = _restore_cli(db.url, tmp_path / "home", str(dump), "--yes")
    assert res.exit_code == 0, res.output
    assert "0004" in res.output and head_revision() in res.output, res.output
    eng = make_engine(db.url)
    try:
        assert current_revision(eng) == head_revision()
    finally:
        eng.dispose()


def test_restore_asks_first(db, tmp_path, monkeypatch):
    import emgis.api.cli.db as cli_db

    _seed(db.engine)
    good = tmp_path / "good.dump"
    backup(db.url, good)
    with db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM api_tokens"))
    before = _checksums(db.engine)
    monkeypatch.setattr(cli_db, "_interactive", lambda: True)
    runner = CliRunner()
    env = {"EMGIS_DATABASE_URL": db.url, "EMGIS_HOME": str(tmp_path / "home"),
           "COLUMNS": "200", "NO_COLOR": "1"}
    res = runner.invoke(app, ["db", "restore", str(good)], input="n\n", env=env)
    assert res.exit_code == 1, res.output
    db_name = sa.engine.make_url(db.url).database
    for said in (db_name, "shelters", "30", head_revision(), "nothing was restored"):
        assert said in res.output, res.output
    assert _checksums(db.engine) == before
    res = runner.invoke(app, ["db", "restore", str(good)], input="y\n", env=env)
    assert res.exit_code == 0, res.output
    assert _checksums(db.engine) != before


# --- a running API notices ------------------------------------------------------------------

def test_running_api_answers_after_a_restore(demo_db, tmp_path):
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    with demo_db.engine.connect() as c:
        fire = c.execute(sa.text("SELECT id FROM incidents WHERE title = 'seed fire'")).scalar()
    dump = tmp_path / "demo.dump"
    backup(demo_db.url, dump)
    app_ = create_app(ApiSettings(), engine=demo_db.engine,
                      db_settings=DatabaseSettings(home=demo_db.home))
    paths = [f"/analyses/warning-area?incident={fire}&radius_m=1500", "/health",
             "/analyses/coverage?layer=shelters", "/collections/shelters/items?limit=5"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with _serve(app_) as base, httpx.Client(base_url=base, timeout=120) as http:
            first = {p: http.get(p) for p in paths}
            assert all(r.status_code == 200 for r in first.values()), {
                p: r.text[:200] for p, r in first.items()}
            feed = app_.state.changes
            identity = feed.database
            res = _restore_cli(demo_db.url, tmp_path / "home", str(dump), "--yes")
            assert res.exit_code == 0, res.output
            for p in paths:
                r = http.get(p)
                assert r.status_code == 200, (p, r.text[:300])
                got, want = r.json(), first[p].json()
                got.pop("timeStamp", None)
                want.pop("timeStamp", None)
                assert got == want, p
            # the feed listens to the new database and has dropped what it kept
            import time

            deadline = time.monotonic() + 20
            while feed.database in (None, identity) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert feed.database not in (None, identity)


@pytest.mark.bad_input
def test_health_is_503_when_the_schema_is_missing(db):
    from emgis.api.http.app import create_app
    from emgis.layers.settings import DatabaseSettings

    with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works (test extra)
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    app_ = create_app(engine=db.engine, db_settings=DatabaseSettings(home=Path("/nonexistent")))
    with TestClient(app_) as c:
        assert c.get("/health").json()["status"] == "ok"
        with db.engine.begin() as conn:  # what the old restore left after a failed pg_restore
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        r = c.get("/health")
        assert r.status_code == 503, r.text
        assert r.json()["db"] == "schema missing" and "emgis db" in r.json()["detail"]
