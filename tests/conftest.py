"""Shared test fixtures.

Tests that need PostGIS, Chromium or ../shared/data may skip on a developer's laptop, but
with CI=true a missing part fails the run instead of skipping it: a skipped test proves
nothing.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Tests read the workbooks emgis writes with openpyxl, as the code does: with python-calamine
# installed (for legacy .xls) pandas otherwise warns on every read_excel about a future default.
import pandas as _pd  # noqa: E402

_pd.set_option("io.excel.xlsx.reader", "openpyxl")
SHARED_DATA = Path(os.environ.get("EMGIS_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> None:
    """Skip locally, fail in CI: a part the test needs is not there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: required, not skipped)", pytrace=False)
    pytest.skip(reason)


def table_checksums(engine, tables=None) -> dict[str, tuple]:
    """``{table: (rows, md5 of its rows)}`` of ``tables`` (default: every table of emgis), to
    show that a refused load or restore changed nothing."""
    import sqlalchemy as sa

    if tables is None:
        tables = [t for t in sa.inspect(engine).get_table_names()
                  if t not in ("spatial_ref_sys", "alembic_version")]
    with engine.connect() as c:
        return {t: tuple(c.execute(sa.text(
            "SELECT count(*), md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) "
            f'FROM "{t}" t')).one()) for t in tables}


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



@pytest.fixture(scope="session")
def pg_server():
    """Yield (admin URL to the 'postgres' db, cluster or None)."""
    import sqlalchemy as sa

    from emgis.layers.pgserver import ClusterError, LocalCluster

    external = os.environ.get("EMGIS_TEST_DATABASE_URL") or os.environ.get("EMGIS_DATABASE_URL")
    if external:
        url = sa.engine.make_url(external).set(database="postgres").render_as_string(
            hide_password=False)
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

_MARKER_OF_FIXTURE = {"pg_server": "postgis", "shared_data": "shared_data",
                      "browser_page": "browser"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture, marker in _MARKER_OF_FIXTURE.items():
            if (fixture in getattr(item, "fixturenames", ())
                    and item.get_closest_marker(marker) is None):
                item.add_marker(getattr(pytest.mark, marker))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail") and any(
            item.get_closest_marker(m) for m in ("postgis", "browser", "shared_data")):
        report.outcome = "failed"
        report.longrepr = (f"CI=true: {item.nodeid} needs a real part and was skipped: "
                           f"{report.longrepr}")


# --- the demo county in a database, and the API on it (shared by the API and page tests) -------
# Module-scoped: each test module that asks gets its own copy of the demo county, so modules that
# write to it never see each other's writes.

@pytest.fixture(scope="module")
def demo_db(pg_server, pg_template, tmp_path_factory):
    """One database with the whole demo county (roads, a risk run, two incidents) for this
    module."""
    import sqlalchemy as sa
    from rich.console import Console

    from emgis.api.cli.demo import load_demo
    from emgis.layers.db import Database, make_engine
    from emgis.layers.demo.county import write_demo_county
    from emgis.risk.store import compute_areas

    admin_url, cluster = pg_server
    name = f"emgis_api_{uuid.uuid4().hex[:10]}"
    _admin_exec(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    url = sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    db = Database(make_engine(url), url, cluster)
    tmp = tmp_path_factory.mktemp("api_demo")
    try:
        files = write_demo_county(tmp / "files")
        load_demo(db, files, console=Console(quiet=True), home=tmp / "home")
        compute_areas(db.engine, kind="admin", level="village", actor="test")
        with db.engine.begin() as c:
            c.execute(sa.text(
                "INSERT INTO incidents (title, incident_type, level, status, geom) "
                "SELECT 'seed fire', 'fire', 'IV', 'reported', ST_PointOnSurface(geom) "
                "FROM admin_units WHERE level = 'village' AND geom IS NOT NULL "
                "ORDER BY code LIMIT 1"))
            c.execute(sa.text(
                "INSERT INTO incidents (title, incident_type, level, status, geom) "
                "SELECT 'seed flood', 'flood', 'III', 'responding', "
                "ST_Buffer(ST_PointOnSurface(geom), 0.003) FROM admin_units "
                "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code DESC LIMIT 1"))
        db.home = tmp / "home"
        yield db
    finally:
        db.dispose()
        _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def client(demo_db):
    """The real app (``create_app``) on the demo database, through Starlette's TestClient."""
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works (test extra)
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    app = create_app(ApiSettings(), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home))
    with TestClient(app) as c:
        yield c


def _token(engine, role: str, name: str | None = None) -> tuple[str, dict]:
    """A new token of ``role`` and the header that carries it."""
    from emgis.api.http.auth import create_token

    name = name or f"{role}-{uuid.uuid4().hex[:6]}"
    return name, {"Authorization": f"Bearer {create_token(engine, name, role)}"}


@contextlib.contextmanager
def _serve(app):
    """Run ``app`` with uvicorn in a thread on a free loopback port; yield its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           ws="none", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            assert thread.is_alive(), "uvicorn stopped"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)



# --- Chromium and a static file server (the page tests) -----------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def served(tmp_path):
    """Serve tmp_path on 127.0.0.1 in a thread; yield its base URL."""
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        srv.server_close()
        t.join(5)


@pytest.fixture
def browser_page():
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not exe:
        missing(f"Chromium is not installed at {CHROMIUM} (scripts/bootstrap.sh --browser)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright Python package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            yield page
        finally:
            browser.close()


def watch_offline(page) -> tuple[list[str], list[str]]:
    """Record console errors, page errors and dialogs; refuse and record every non-local request."""
    errors: list[str] = []
    external: list[str] = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))

    def guard(route):
        if route.request.url.startswith("http://127.0.0.1:"):
            route.continue_()
        else:
            external.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return errors, external


@pytest.fixture
def demo_env(db, tmp_path, monkeypatch):
    """A fresh database loaded with the demo county through the ordinary loaders (its own: the
    test may write), and the environment the `emgis` command reads pointed at it."""
    from rich.console import Console

    from emgis.api.cli.demo import load_demo
    from emgis.layers.demo.county import write_demo_county

    files = write_demo_county(tmp_path / "demo")
    load_demo(db, files, console=Console(quiet=True), home=tmp_path / "home")
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    return db, files


@pytest.fixture
def env(demo_db, monkeypatch):
    """The `emgis` command's environment pointed at the module's shared demo database."""
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    return demo_db
