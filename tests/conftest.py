"""Shared test fixtures.

Tests that need PostGIS, Chromium or ../shared/data may skip on a developer's laptop, but
with CI=true a missing part fails the run instead of skipping it: a skipped test proves
nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("EMGIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a part the test needs is not there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(reason)


def shared(relpath: str) -> Path:
    """Return a path under ../shared/data, or skip/fail if it is not there."""
    p = SHARED_DATA / relpath
    if not p.exists():
        missing(f"shared data file {p} is not available")
    return p


@pytest.fixture
def shared_data():
    """Call ``shared_data("osm/file.osm")`` to get a real fixture from ../shared/data."""
    return shared


# --- PostGIS -------------------------------------------------------------------------------
# One throwaway cluster per test session, started the way `emgis` starts its own (as the
# postgres OS user when we are root); the schema is migrated once into a template database
# and every test gets a fresh copy of it. With EMGIS_DATABASE_URL set, that server is used.

import contextlib  # noqa: E402
import tempfile  # noqa: E402
import uuid  # noqa: E402


@pytest.fixture(scope="session")
def pg_server():
    """Yield (admin URL to the 'postgres' db, cluster or None)."""
    import sqlalchemy as sa

    from emgis.layers.pgserver import ClusterError, LocalCluster

    external = os.environ.get("EMGIS_TEST_DATABASE_URL") or os.environ.get("EMGIS_DATABASE_URL")
    if external:
        url = sa.engine.make_url(external).set(database="postgres").render_as_string(hide_password=False)
        yield url, None
        return
    home = Path(tempfile.mkdtemp(prefix="emgis-test-"))
    home.chmod(0o755)
    cluster = LocalCluster(home, fast=True)
    try:
        cluster.init()
    except (ClusterError, OSError) as exc:
        missing(f"cannot start a PostgreSQL cluster: {exc}")
    try:
        yield cluster.url("postgres"), cluster
    finally:
        cluster.destroy()
        with contextlib.suppress(OSError):
            home.rmdir()


def _admin_exec(admin_url: str, sql: str) -> None:
    import sqlalchemy as sa

    eng = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(sa.text(sql))
    eng.dispose()


@pytest.fixture(scope="session")
def pg_template(pg_server):
    """Name of a template database with the full schema migrated in."""
    import sqlalchemy as sa

    from emgis.layers.db import upgrade

    admin_url, _ = pg_server
    name = f"emgis_tpl_{uuid.uuid4().hex[:8]}"
    _admin_exec(admin_url, f'CREATE DATABASE "{name}"')
    upgrade(sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False))
    yield name
    _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db(pg_server, pg_template):
    """A fresh, migrated database for one test: a layers.db.Database."""
    import sqlalchemy as sa

    from emgis.layers.db import Database, make_engine

    admin_url, cluster = pg_server
    name = f"emgis_t_{uuid.uuid4().hex[:10]}"
    _admin_exec(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    database = Database(make_engine(url), url, cluster)
    try:
        yield database
    finally:
        database.dispose()
        _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- markers that make a missing part fail in CI -----------------------------------------------
# A test that reaches PostgreSQL (through `pg_server`), Chromium or ../shared/data carries the
# matching marker, set here from the fixtures it uses so no module can forget it; with CI=true a
# skip of such a test is turned into a failure.

_MARKER_OF_FIXTURE = {"pg_server": "postgis", "shared_data": "shared_data", "browser_page": "browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in _MARKER_OF_FIXTURE.items():
            if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None:
                item.add_marker(getattr(pytest.mark, marker))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and any(item.get_closest_marker(m) for m in ("postgis", "browser",
                                                                             "shared_data")):
        report.outcome = "failed"
        report.longrepr = f"CI=true: {item.nodeid} needs a real part and was skipped: {report.longrepr}"
