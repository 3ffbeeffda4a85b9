"""The live map's dispatch panel in a real headless Chromium, offline, against the real API and
PostGIS: the proposed teams by required type, an assignment made from the page with a commander
token, its state, ETA and route, the team's colour following its status, and the timeline."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _serve, _token, watch_offline

from emgis.api.http.app import create_app
from emgis.layers.settings import ApiSettings, DatabaseSettings, MapSettings

pytestmark = [pytest.mark.postgis, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "pages"
REFRESH_S = 1.0
WAIT_MS = int((REFRESH_S * 3 + 15) * 1000)


@pytest.fixture(scope="module")
def server(demo_db):
    from emgis.maps.vendor import VendorMissing, require

    try:
        require()
    except VendorMissing as exc:
        from conftest import missing

        missing(str(exc))
    app = create_app(ApiSettings(), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home),
                     map_settings=MapSettings(tiles="none", refresh_s=REFRESH_S))
    with _serve(app) as base:
        yield base


def test_the_panel_proposes_assigns_and_shows_the_timeline(server, browser_page, demo_db):
    import httpx

    page = browser_page
    page.set_viewport_size({"width": 1200, "height": 900})
    errors, external = watch_offline(page)
    with demo_db.engine.connect() as c:
        iid, title = c.execute(sa.text("SELECT id, title FROM incidents "
                                       "WHERE title = 'seed fire'")).one()
    proposal = httpx.get(f"{server}/incidents/{iid}/proposal").json()
    types = [n["team_type"] for n in proposal["needs"]]
    assert types
    name, hdr = _token(demo_db.engine, "commander")
    token = hdr["Authorization"].split()[1]
    page.goto(server + "/maps/live")
    page.wait_for_function("Number(document.getElementById('emgis-incident-count').textContent)"
                           " >= 2", timeout=30000)
    # without a token the proposal is shown, but offers no button
    page.click(f"#emgis-incidents li:has-text('{title}')")
    page.wait_for_selector("#emgis-proposal .emgis-need", timeout=WAIT_MS)
    shown = page.eval_on_selector_all("#emgis-proposal .emgis-need",
                                      "els => els.map(e => e.getAttribute('data-type'))")
    assert shown == types
    for need in proposal["needs"]:
        for t in need["teams"]:
            assert t["name"] in page.inner_text("#emgis-proposal")
    assert page.query_selector(".emgis-assign") is None
    assert "token" in page.inner_text("#emgis-proposal")
    # a commander enters the token (kept in this tab): the assign buttons appear
    page.fill("#emgis-token", token)
    page.dispatch_event("#emgis-token", "change")
    assert page.evaluate("sessionStorage.getItem('emgis-token')") == token
    page.wait_for_selector(".emgis-assign", timeout=WAIT_MS)
    team_id = int(page.get_attribute(".emgis-assign", "data-team"))
    page.click(".emgis-assign")
    page.wait_for_selector(".emgis-assignment[data-state='dispatched']", timeout=WAIT_MS)
    assert "ETA" in page.inner_text("#emgis-assigned")
    page.wait_for_selector(".emgis-event[data-kind='assigned']", timeout=WAIT_MS)
    assert name in page.inner_text("#emgis-events")
    page.wait_for_selector(".emgis-assigned-route", timeout=WAIT_MS)
    # the team leaves: en route, its route drawn thick; its marker turns "deployed"
    page.click(".emgis-move[data-state='en_route']")
    page.wait_for_selector(".emgis-assignment[data-state='en_route']", timeout=WAIT_MS)
    page.wait_for_selector("path.emgis-en-route", timeout=WAIT_MS)
    from emgis.maps.live_map import STATE_COLOURS

    orange = STATE_COLOURS["team_bases"]["deployed"][0]
    page.wait_for_function(
        f"""() => {{ var l = null; emgisLive.realtime.team_bases._container.eachLayer(
            x => {{ if (x.feature.id === {team_id}) l = x; }});"""
        f""" return l && l.options.fillColor === '{orange}'; }}""", timeout=WAIT_MS)
    # a note posted elsewhere appears in the timeline on the next refresh, newest last
    r = httpx.post(f"{server}/incidents/{iid}/events", headers=hdr,
                   json={"text": "前方报告: 火势得到控制"})
    assert r.status_code == 201, r.text
    page.wait_for_function("document.querySelector('#emgis-timeline li:last-child')"
                           ".textContent.includes('火势得到控制')", timeout=WAIT_MS)
    kinds = page.eval_on_selector_all(".emgis-event", "els => els.map(e => e.dataset.kind)")
    assert kinds == ["assigned", "moved", "note"]
    # the database agrees with the page
    with demo_db.engine.connect() as c:
        state, status = c.execute(sa.text(
            "SELECT a.state, t.status FROM incident_assignments a JOIN team_bases t ON "
            "t.id = a.team_id WHERE a.incident_id = :i"), {"i": iid}).one()
    assert (state, status) == ("en_route", "deployed")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-dispatch.png"))
    assert errors == [] and external == [], (errors, external)
