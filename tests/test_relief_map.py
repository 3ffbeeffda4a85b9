"""Relief on the live map in a real headless Chromium, offline: a depot's popup shows its stock
(GET /depots/{id}/stock) and the selected incident's panel shows its relief needs and
shortfalls (GET /incidents/{id}/relief)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _serve, watch_offline

pytestmark = [pytest.mark.postgis, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "pages"


@pytest.fixture(scope="module")
def server(demo_db):
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings, MapSettings
    from emgis.maps.vendor import VendorMissing, require

    try:
        require()
    except VendorMissing as exc:
        from conftest import missing

        missing(str(exc))
    app = create_app(ApiSettings(), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home),
                     map_settings=MapSettings(tiles="none", refresh_s=1.0))
    with _serve(app) as base:
        yield base


def test_depot_popup_shows_stock_and_the_panel_shows_relief(server, browser_page, demo_db):
    with demo_db.engine.connect() as c:
        depot, qty = c.execute(sa.text(
            "SELECT d.id, s.quantity FROM depots d JOIN depot_stock s ON s.depot_id = d.id "
            "WHERE d.status = 'active' AND s.item = '帐篷' ORDER BY d.id LIMIT 1")).one()
        flood = c.execute(sa.text("SELECT id FROM incidents WHERE title = 'seed flood'")).scalar()
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(server + "/maps/live")
    page.wait_for_selector(".emgis-depots", timeout=30000)
    page.evaluate("""id => emgisLive.realtime.depots._container.eachLayer(
        l => { if (l.feature && String(l.feature.id) === String(id)) l.openPopup(); })""",
                  depot)
    page.wait_for_selector(".leaflet-popup-content .emgis-relief-stock table", timeout=10000)
    text = page.inner_text(".leaflet-popup-content .emgis-relief-stock")
    assert "帐篷" in text and f"{qty:,.0f}" in text, text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "live-relief-depot.png"))
    page.evaluate("id => emgisLive.select(emgisLive.incidents[id] || Object.values("
                  "emgisLive.incidents).find(f => String(f.id) === String(id)))", flood)
    page.wait_for_selector("div[data-ext='relief'] .emgis-relief-needs", timeout=30000)
    panel = page.inner_text("div[data-ext='relief']")
    assert "转移安置" in panel and "帐篷" in panel, panel
    page.screenshot(path=str(ARTIFACTS / "live-relief-panel.png"))
    assert errors == [] and external == [], (errors, external)
