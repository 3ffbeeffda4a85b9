"""The phone page /field in Chromium at a phone's viewport (390×844), offline: a quick report
posted from it appears on the live map within one refresh; a report made while the network is
down is queued (visible "queued (n)") and sent when it is back; bad input is shown on the form.
"""

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
PHONE = {"width": 390, "height": 844}


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


def _open(page, server, token: str) -> None:
    page.set_viewport_size(PHONE)
    page.goto(server + "/field")
    page.wait_for_selector("#map.leaflet-container")
    page.fill("#token", token)
    page.click("#token-save")
    page.wait_for_function("document.getElementById('token-state').textContent.includes('…')")


def _fill(page, place: str) -> None:
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # tap the map
    page.wait_for_selector(".emgis-field-point")
    page.fill("#place", place)
    page.fill("#incident_type", "山洪")
    page.fill("#injured", "2")
    page.fill("#text", "河水漫过桥面")


def test_report_from_the_phone_appears_on_the_live_map(server, demo_db, browser_page):
    page = browser_page
    errors, external = watch_offline(page)
    _, h = _token(demo_db.engine, "reporter")
    _open(page, server, h["Authorization"].split()[1])
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    _fill(page, "手机村一组")
    page.click("#send")
    page.wait_for_function("document.getElementById('status').className.includes('ok')",
                           timeout=20000)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "field-phone.png"))
    with demo_db.engine.connect() as c:
        rid, injured, deaths = c.execute(sa.text(
            "SELECT id, injured, deaths FROM field_reports WHERE place = '手机村一组'")).one()
    assert (injured, deaths) == (2, None)  # deaths left blank: not reported, not 0
    page.goto(server + "/maps/live")
    # within one refresh (the layer reads the collection at start and every REFRESH_S)
    page.wait_for_selector(".emgis-field_reports", timeout=int(REFRESH_S * 1000 * 5) + 15000)
    n = page.evaluate("id => { var n = 0; emgisLive.realtime.field_reports._container"
                      ".eachLayer(function (l) { if (l.feature && l.feature.id === id) n++; });"
                      " return n; }", rid)
    assert n == 1
    page.screenshot(path=str(ARTIFACTS / "field-on-live-map.png"))
    assert errors == [], errors
    assert external == [], external


def test_report_made_offline_is_queued_then_sent(server, demo_db, browser_page):
    page = browser_page
    watch_offline(page)
    _, h = _token(demo_db.engine, "reporter")
    _open(page, server, h["Authorization"].split()[1])
    page.route("**/field-reports", lambda route: route.abort("internetdisconnected"))
    _fill(page, "断网村")
    page.click("#send")
    page.wait_for_function("document.getElementById('queue').textContent.includes('(1)')")
    assert page.is_visible("#queue")
    with demo_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM field_reports WHERE place = '断网村'")
                         ).scalar() == 0
    page.reload()  # the queue survives a reload (localStorage)
    page.wait_for_function("document.getElementById('queue').textContent.includes('(1)')")
    page.unroute("**/field-reports")
    page.evaluate("emgisField.flush()")
    page.wait_for_function("document.getElementById('queue').hidden", timeout=20000)
    with demo_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM field_reports WHERE place = '断网村'")
                         ).scalar() == 1


@pytest.mark.bad_input
def test_bad_count_is_marked_on_the_form_and_not_queued(server, demo_db, browser_page):
    page = browser_page
    watch_offline(page)
    _, h = _token(demo_db.engine, "reporter")
    _open(page, server, h["Authorization"].split()[1])
    _fill(page, "负数村")
    page.fill("#deaths", "-3")
    page.click("#send")
    page.wait_for_function("document.getElementById('status').className.includes('bad')",
                           timeout=20000)
    assert "deaths" in page.text_content("#status")
    assert page.eval_on_selector("#deaths", "e => e.classList.contains('bad') && e.value") == "-3"
    assert page.input_value("#place") == "负数村"  # the refused report is back in the form
    assert page.evaluate("emgisField.queue().length") == 0
