"""Plans in the browser (Chromium, offline): the live map's incident panel shows the proposed
plan + level for a newly posted incident and ticks its checklist as tasks are marked done over
the API; the plan-system map renders from local files only, coloured by status."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from conftest import _serve, _token, watch_offline

from emgis.api.http.app import create_app
from emgis.layers.settings import ApiSettings, DatabaseSettings, MapSettings
from emgis.risk.plan_report import STATUS

pytestmark = [pytest.mark.postgis, pytest.mark.browser]

REFRESH_S = 1.0


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


def test_live_map_shows_proposed_plan_and_ticks_the_checklist(server, browser_page, demo_db):
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(server + "/maps/live")
    page.wait_for_function("Number(document.getElementById('emgis-incident-count').textContent)"
                           " >= 1", timeout=30000)
    with demo_db.engine.connect() as c:  # the first village: its village plan applies
        lon, lat = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code LIMIT 1) q")).one()
    _, hdr = _token(demo_db.engine, "commander")
    r = httpx.post(f"{server}/incidents", headers=hdr, json={
        "name": "plan test fire", "type": "火灾", "status": "reported",
        "geometry": {"type": "Point", "coordinates": [lon, lat]}})
    assert r.status_code == 201, r.text
    inc = r.json()["id"]
    r = httpx.patch(f"{server}/incidents/{inc}/figures", headers=hdr,
                    json={"deaths": 1, "injured": 4})
    assert r.status_code == 200, r.text
    page.wait_for_selector("#emgis-incidents li:has-text('plan test fire')", timeout=15000)
    page.click("#emgis-incidents li:has-text('plan test fire')")
    # the village plan is the most specific; injured 4 ≥ 1 → IV
    page.wait_for_selector(".emgis-plan-proposed[data-plan='DEMO-CUN-01']", timeout=15000)
    assert page.get_attribute(".emgis-plan-proposed", "data-level") == "IV"
    assert "injured 4 ≥ 1 → IV" in page.inner_text(".emgis-plan-why")
    assert "DEMO-ZT-01" not in page.inner_text("#emgis-selection")  # names, not ids, shown

    r = httpx.post(f"{server}/incidents/{inc}/response", headers=hdr,
                   json={"plan": "DEMO-CUN-01"})
    assert r.status_code == 201, r.text
    items = r.json()["checklist"]
    assert len(items) == 2
    page.wait_for_selector(".emgis-checklist li", timeout=int((REFRESH_S * 3 + 10) * 1000))
    assert page.inner_text(".emgis-checklist-done") == "0"
    for n, x in enumerate(items, 1):
        r = httpx.patch(f"{server}/incidents/{inc}/checklist/{x['id']}", headers=hdr,
                        json={"state": "done"})
        assert r.status_code == 200, r.text
        page.wait_for_selector(f".emgis-checklist li.done[data-item='{x['id']}']",
                               timeout=int((REFRESH_S * 3 + 10) * 1000))
        assert page.inner_text(".emgis-checklist-done") == str(n)
    assert "✓" in page.inner_text(f".emgis-checklist li[data-item='{items[0]['id']}']")
    assert not external, external
    assert not errors, errors


def test_plan_system_map_renders_offline_coloured_by_status(server, browser_page):
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(server + "/maps/plans")
    page.wait_for_selector(".leaflet-interactive", timeout=30000)
    legend = page.inner_text("#emgis-plans-legend")
    for _, label in STATUS.values():
        assert label in legend
    fills = set(page.eval_on_selector_all(".leaflet-interactive",
                                          "els => els.map(e => e.getAttribute('fill'))"))
    assert {STATUS["no_plan"][0], STATUS["overdue"][0], STATUS["no_drill"][0]} <= fills
    assert not external, external
    assert not errors, errors
