"""The served map pages in a real headless Chromium, offline, against the real API and PostGIS.

Every page is loaded through uvicorn on 127.0.0.1 with every other request refused: no
console error, no external request, a screenshot saved to ``tests/artifacts/pages/``. The
live situation map must show an incident posted over the API within its refresh interval,
without a reload, and draw the routes of the nearest resources when the incident is chosen.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from conftest import _serve, _token, watch_offline

from emgis.api.http.app import create_app
from emgis.layers.settings import ApiSettings, DatabaseSettings, MapSettings
from emgis.maps.tiles import base_map

pytestmark = [pytest.mark.postgis, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "pages"
REFRESH_S = 1.0


@pytest.fixture(scope="module")
def server(demo_db):
    from emgis.maps.vendor import VendorMissing, require

    try:
        require()
    except VendorMissing as exc:
        from conftest import missing

        missing(str(exc))
    from rich.console import Console

    from emgis.api.cli.demo import plan_demo

    # the demo's incidents, coverage and siting pages (written into EMGIS_HOME/maps, served at
    # /maps/saved)
    plan_demo(demo_db, demo_db.home, console=Console(quiet=True))
    app = create_app(ApiSettings(), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home),
                     map_settings=MapSettings(tiles="none", refresh_s=REFRESH_S))
    with _serve(app) as base:
        yield base


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


PAGES = [
    ("index", "/maps", "a[href='/maps/live']"),
    ("risk", "/maps/risk", ".leaflet-interactive"),
    ("coverage-shelters", "/maps/coverage?layer=shelters", ".leaflet-interactive"),
    ("coverage-fire", "/maps/coverage?layer=fire", ".leaflet-interactive"),
    ("live", "/maps/live", ".emgis-shelters"),
    ("saved-siting", "/maps/saved/siting_shelters.html", ".emgis-new-site"),
    ("saved-coverage-fire", "/maps/saved/coverage_fire.html", ".emgis-facility"),
]


@pytest.mark.parametrize(("name", "path", "ready"), PAGES, ids=[p[0] for p in PAGES])
def test_page_loads_offline_without_errors(server, browser_page, name, path, ready):
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(server + path)
    page.wait_for_selector(ready, timeout=30000)
    if name != "index":
        page.wait_for_function("document.querySelectorAll('.leaflet-control').length > 0")
    shot = _shot(page, name)
    assert shot.stat().st_size > 10_000
    assert errors == [], errors
    assert external == [], external


def test_live_map_parts(server, browser_page):
    """Grouped layer control, search box, legend, incidents listed, resources coloured by state."""
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(server + "/maps/live")
    page.wait_for_selector(".emgis-team_bases", timeout=30000)
    page.wait_for_function("Number(document.getElementById('emgis-incident-count').textContent)"
                           " >= 4")
    groups = page.eval_on_selector_all(".leaflet-control-layers-group-name",
                                       "els => els.map(e => e.textContent)")
    assert any("Hazards" in g for g in groups) and any("Resources" in g for g in groups) \
        and any("Teams" in g for g in groups), groups
    assert page.query_selector(".leaflet-control-search") is not None
    page.click("#emgis-fold")  # the panel folds away and comes back
    assert not page.is_visible("#emgis-incidents")
    page.click("#emgis-fold")
    assert page.is_visible("#emgis-incidents")
    legend = page.inner_text(".emgis-legend")
    assert "Response level" in legend and "Shelters" in legend and "deployed" in legend
    n_shelters = page.eval_on_selector_all(".emgis-shelters", "els => els.length")
    assert n_shelters > 0
    # search by name finds a shelter and opens its popup
    name = page.evaluate("""() => { var n = null; emgisLive.realtime.shelters._container.eachLayer(
        l => { if (!n && l.feature.properties.name) n = l.feature.properties.name; });"""
        """ return n; }""")
    page.click(".leaflet-control-search .search-button")
    # Chinese text arrives through an IME (no key events in a headless page): type it the control's
    # way
    page.evaluate("t => emgisLive.search.searchText(t)", name[:4])
    page.wait_for_selector(".search-tooltip .search-tip", timeout=5000)
    assert name in page.inner_text(".search-tooltip")
    page.click(f".search-tooltip .search-tip:has-text('{name}')")
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    assert name in page.inner_text(".leaflet-popup-content")
    assert errors == [] and external == [], (errors, external)


def test_live_map_shows_a_posted_incident_without_reload(server, browser_page, demo_db):
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(server + "/maps/live")
    page.wait_for_function("Number(document.getElementById('emgis-incident-count').textContent)"
                           " >= 1", timeout=30000)
    page.evaluate("window.__emgis_same_page = 42")
    before = int(page.inner_text("#emgis-incident-count"))
    # a commander posts an incident at a village of the demo county
    import sqlalchemy as sa

    with demo_db.engine.connect() as c:
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code OFFSET 7 LIMIT 1) q")).one()
    _, hdr = _token(demo_db.engine, "commander")
    title = f"live test fire {time.monotonic_ns() % 100000}"
    r = httpx.post(f"{server}/incidents", headers=hdr, json={
        "name": title, "type": "fire", "level": "II", "status": "reported",
        "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    assert r.status_code == 201, r.text
    posted = time.monotonic()
    page.wait_for_function("Number(document.getElementById('emgis-incident-count').textContent) "
                           f"=== {before + 1}", timeout=int((REFRESH_S * 3 + 5) * 1000))
    shown_after = time.monotonic() - posted
    assert shown_after < REFRESH_S * 3 + 5
    assert page.evaluate("window.__emgis_same_page") == 42  # no reload
    assert title in page.inner_text("#emgis-incidents")
    # the new incident is drawn in the colour of level II (orange in the norms table)
    from emgis.maps.live_map import response_level_colours

    colour = response_level_colours()["II"]
    fills = page.eval_on_selector_all(".emgis-incidents",
                                      "els => els.map(e => e.getAttribute('fill'))")
    assert colour in fills
    # choose it: routes of the nearest teams, depots and shelters are drawn with their times
    page.click(f"#emgis-incidents li:has-text('{title}')")
    page.wait_for_selector(".emgis-route", timeout=15000)
    page.wait_for_function("document.querySelectorAll('.emgis-route').length >= 3")
    body = page.inner_text("#emgis-selection")
    assert "min" in body and "teams" in body and "shelters" in body
    # a shelter filled to capacity turns "full" on the next refresh
    with demo_db.engine.connect() as c:
        sid, cap = c.execute(sa.text("SELECT id, capacity FROM shelters "
                                     "WHERE status = 'open' AND capacity > 0 "
                                     "ORDER BY id LIMIT 1")).one()
    _, hdr = _token(demo_db.engine, "commander")
    r = httpx.patch(f"{server}/shelters/{sid}", headers=hdr, json={"occupancy": int(cap)})
    assert r.status_code == 200, r.text
    full = MapSettings  # noqa: F841
    from emgis.maps.live_map import STATE_COLOURS

    red = STATE_COLOURS["shelters"]["full"][0]
    page.wait_for_function(
        f"""() => {{ var l = null; emgisLive.realtime.shelters._container.eachLayer(
            x => {{ if (x.feature.id === {sid}) l = x; }});"""
        f""" return l && l.options.fillColor === '{red}'; }}""",
        timeout=int((REFRESH_S * 3 + 5) * 1000))
    _shot(page, "live-selected")
    assert errors == [] and external == [], (errors, external)


def test_live_map_search_shows_names_as_text(server, browser_page, demo_db):
    """A shelter named like markup (loaded from a file, or typed over the API) is listed by the
    search as text: no element is created from it and no script runs (issue: data safety)."""
    import sqlalchemy as sa

    evil = '<img src=x onerror="window.__xss = 1">搜索XSS'
    page = browser_page
    errors, external = watch_offline(page)
    with demo_db.engine.begin() as c:
        sid, old = c.execute(sa.text(
            "SELECT id, name FROM shelters WHERE status = 'open' ORDER BY id LIMIT 1")).one()
        c.execute(sa.text("UPDATE shelters SET name = :n WHERE id = :i"), {"n": evil, "i": sid})
    try:
        page.goto(server + "/maps/live")
        page.wait_for_function(
            """n => { var f = false; emgisLive.realtime.shelters._container.eachLayer(
                l => { if (l.feature.properties.name === n) f = true; }); return f; }""",
            arg=evil, timeout=int((REFRESH_S * 3 + 20) * 1000))
        page.click(".leaflet-control-search .search-button")
        page.evaluate("t => emgisLive.search.searchText(t)", "<img")
        page.wait_for_selector(".search-tooltip .search-tip", timeout=5000)
        assert page.inner_text(".search-tooltip .search-tip") == evil
        assert page.query_selector(".search-tooltip img") is None
        page.wait_for_timeout(300)
        assert page.evaluate("window.__xss") is None
        assert errors == [] and external == [], (errors, external)
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("UPDATE shelters SET name = :n WHERE id = :i"), {"n": old, "i": sid})


def test_tile_setting(monkeypatch):
    monkeypatch.delenv("EMGIS_MAP_TILES", raising=False)
    assert base_map(MapSettings()).kind == "local"  # the offline base is the default
    assert base_map(MapSettings(tiles="none")).kind == "none"
    assert base_map(MapSettings(tiles="osm")).url.startswith("https://tile.openstreetmap.org/")
    assert base_map(MapSettings(tiles="http://10.0.0.5/t/{z}/{x}/{y}.png")).kind == "url"
    with pytest.raises(ValueError, match="EMGIS_MAP_TIANDITU_KEY"):
        base_map(MapSettings(tiles="tianditu"))
    assert base_map(MapSettings(tiles="tianditu", tianditu_key="k")).kind == "tianditu"
    with pytest.raises(ValueError, match="not local, osm, tianditu, none or a URL template"):
        base_map(MapSettings(tiles="google"))
