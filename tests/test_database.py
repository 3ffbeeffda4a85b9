"""The database: the project's own cluster, migrations, the audit trigger, backup/restore."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from emgis.layers import models
from emgis.layers.db import backup, current_revision
from emgis.layers.pgserver import ClusterError, LocalCluster
from emgis.layers.restore import restore


def _tables(engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_migrations_create_every_model_table(db):
    assert set(models.Base.metadata.tables) <= _tables(db.engine)
    assert current_revision(db.engine) is not None


def test_every_geometry_column_is_4326_with_gist_index(db):
    with db.engine.connect() as c:
        cols = c.execute(sa.text(
            "SELECT f_table_name, f_geometry_column, srid FROM geometry_columns "
            "WHERE f_table_schema='public'"
        )).all()
        idx = c.execute(sa.text("SELECT indexdef FROM pg_indexes "
                                "WHERE schemaname='public'")).scalars().all()
    assert cols, "no geometry columns registered"
    for table, column, srid in cols:
        assert srid == 4326, (table, column, srid)
        # a partitioned table's index is defined ON ONLY the parent (batch_results, 0010)
        assert any(f"ON {only}public.{table} USING gist ({column})" in d for d in idx
                   for only in ("", "ONLY ")), (table, column)


def test_check_constraints_refuse_unknown_classes(db):
    with db.engine.connect() as c:
        try:
            c.execute(sa.text(
                "INSERT INTO shelters "
                "(ext_id, name, duration_class, capacity, capacity_source, status, geom)"
                " VALUES ('x', 'x', 'forever', 10, 'given', 'open', "
                "ST_GeomFromText('POINT(120 31)', 4326))"
            ))
        except sa.exc.IntegrityError as exc:
            assert "duration_class_allowed" in str(exc)
        else:
            raise AssertionError("an unknown duration class was accepted")


def test_audit_trigger_records_edits_with_actor(db):
    with db.engine.begin() as c:
        c.execute(sa.text("SET LOCAL emgis.actor = 'planner-li'"))
        c.execute(sa.text(
            "INSERT INTO shelters "
            "(ext_id, name, duration_class, capacity, capacity_source, status, geom)"
            " VALUES ('s1', 'school', 'emergency', 100, 'given', 'open', "
            "ST_GeomFromText('POINT(120 31)', 4326))"
        ))
        c.execute(sa.text("UPDATE shelters SET occupancy = 40 WHERE ext_id = 's1'"))
    with db.engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT actor, action, before->>'occupancy', after->>'occupancy' FROM audit_log"
            " WHERE table_name='shelters' ORDER BY id"
        )).all()
    assert [(r[0], r[1]) for r in rows] == [("planner-li", "insert"), ("planner-li", "update")]
    assert rows[1][2:] == ("0", "40")


def test_backup_and_restore_round_trip(db, tmp_path):
    with db.engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO shelters "
            "(ext_id, name, duration_class, capacity, capacity_source, status, geom)"
            " VALUES ('s1', '学校', 'emergency', 100, 'given', 'open', "
            "ST_GeomFromText('POINT(120 31)', 4326))"
        ))
    before = _snapshot(db.engine)
    dump = tmp_path / "emgis.dump"
    backup(db.url, dump)
    with db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM shelters"))
        c.execute(sa.text("DELETE FROM audit_log"))
    assert _snapshot(db.engine) != before
    db.engine.dispose()
    restore(db.url, dump, backup_dir=tmp_path / "backups")
    assert _snapshot(db.engine) == before


def _snapshot(engine) -> dict[str, list]:
    out = {}
    with engine.connect() as c:
        for t in sorted(_tables(engine)):
            if t == "spatial_ref_sys":
                continue
            out[t] = sorted(map(str, c.execute(sa.text(f'SELECT * FROM "{t}"')).all()))
        out["_revision"] = [current_revision(engine)]
    return out


# --- emgis's own cluster after a crash -----------------------------------------------------------

@pytest.fixture
def own_cluster(tmp_path):
    """A cluster of its own (this test kills its server)."""
    from conftest import missing

    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    tmp_path.chmod(0o755)
    cluster = LocalCluster(home, fast=True)
    try:
        cluster.init()
    except (ClusterError, OSError) as exc:
        missing(f"cannot start a PostgreSQL cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.destroy()


def _dead(pid: int) -> bool:
    """Gone, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _answers(cluster) -> bool:
    eng = sa.create_engine(cluster.url(), poolclass=sa.pool.NullPool)
    try:
        with eng.connect() as c:
            return c.execute(sa.text("SELECT 1")).scalar() == 1
    finally:
        eng.dispose()


@pytest.mark.postgis
@pytest.mark.bad_input
@pytest.mark.parametrize("crash", ["postmaster-killed", "stale-pid-names-another-process"])
def test_start_recovers_from_a_stale_postmaster_pid(own_cluster, crash):
    cluster = own_cluster
    assert _answers(cluster)
    pid_file = cluster.data_dir / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    while not _dead(pid):  # SIGKILL cannot be ignored: this ends
        time.sleep(0.01)
    other = None
    try:
        if crash == "stale-pid-names-another-process":
            # the pid was reused by a process of the server's own OS user that is not postgres
            other = subprocess.Popen(["sleep", "600"],
                                     user="postgres" if os.geteuid() == 0 else None)
            lines = pid_file.read_text().splitlines()
            pid_file.write_text("\n".join([str(other.pid), *lines[1:]]) + "\n")
        assert not cluster.is_running()
        assert cluster.start() is True
        assert _answers(cluster) and cluster.is_running()
    finally:
        if other is not None:
            other.kill()
            other.wait()
