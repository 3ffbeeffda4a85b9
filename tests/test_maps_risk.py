"""The four-colour risk map (maps/): colours from the norms table, offline page, browser check.

The browser test renders the written page in Debian's Chromium through Playwright with every
request routed: anything not to 127.0.0.1 fails the test. With CI=true a missing Chromium or
playwright fails instead of skipping (conftest.missing).
"""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
from conftest import missing, watch_offline
from shapely.geometry import Point, box

from emgis.layers.norms import Norm, default_norms
from emgis.maps import assets
from emgis.maps.risk_map import risk_map, write_risk_map
from emgis.risk.levels import risk_levels

LEVELS = ["red", "orange", "yellow", "blue"]
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture(autouse=True)
def _need_assets():
    try:
        assets.asset_dir()
    except assets.AssetsMissing as exc:
        missing(str(exc))


def make_areas(n_unrated: int = 1) -> gpd.GeoDataFrame:
    levels = [*LEVELS, *([None] * n_unrated)]
    return gpd.GeoDataFrame(
        {
            "name": [f"乡镇{i}" for i in range(len(levels))],
            "level": levels,
            "risk_index": [4.0, 3.0, 2.0, 1.0, *([None] * n_unrated)],
            "points": [3, 2, 2, 1, *([0] * n_unrated)],
            "rule": "max",
        },
        geometry=[box(116.0 + i * 0.1, 39.0, 116.09 + i * 0.1, 39.09) for i in range(len(levels))],
        crs=4326,
    )


def make_points(n: int = 40, name0: str = "加油站") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "ext_id": [f"RP{i:03d}" for i in range(n)],
            "name": [name0] + [f"风险点{i}" for i in range(1, n)],
            "category": "hazchem",
            "method": "lec",
            "inputs": [{"L": 3.0, "E": 6.0, "C": 7.0} for _ in range(n)],
            "score": 126.0,
            "level": [LEVELS[i % 4] for i in range(n)],
            "band_version": "lec-2016",
        },
        geometry=[Point(116.02 + (i % 4) * 0.1, 39.02 + 0.0005 * i) for i in range(n)],
        crs=4326,
    )


def render(m) -> str:
    return m.get_root().render()


def _remote_script_or_style(page: str) -> list[str]:
    urls = re.findall(r"""<script[^>]*\bsrc\s*=\s*["']([^"']+)""", page, re.I)
    urls += re.findall(r"""<link[^>]*\bhref\s*=\s*["']([^"']+)""", page, re.I)
    ok = ("http://127.0.0.1", "https://127.0.0.1", "http://localhost", "https://localhost")
    return [u for u in urls if u.lower().startswith(("http://", "https://", "//"))
            and not u.lower().startswith(ok)]


# --- HTML --------------------------------------------------------------------------------------


def test_colours_come_from_the_norms_table():
    page = render(risk_map(make_areas(), make_points()))
    for lv in risk_levels():
        assert lv.colour in page
    assert risk_levels()[-1].key == "blue"  # low is blue, not green

    norms = default_norms().with_overrides(
        [Norm("risk.colour.red", "#123456", "", "", "", "")])
    page2 = render(risk_map(make_areas(), make_points(), norms=norms))
    assert "#123456" in page2
    old_red = next(lv.colour for lv in risk_levels() if lv.key == "red")
    assert old_red not in page2
    assert '"#123456"' in page2  # in the data of areas/points, not only the legend


def test_bad_colour_norm_is_refused():
    norms = default_norms().with_overrides([Norm("risk.colour.blue", "green", "", "", "", "")])
    with pytest.raises(ValueError, match="blue, not green"):
        risk_map(make_areas(), make_points(), norms=norms)


def test_no_remote_scripts_or_styles():
    page = render(risk_map(make_areas(), make_points()))
    assert _remote_script_or_style(page) == []
    assert assets.remote_resources(page) == []
    for bad in ("jquery", "bootstrap", "font-awesome", "fontawesome", "awesome-markers",
                "openstreetmap", "cdn."):
        assert bad not in page.lower(), bad
    assert '<script src="/static/leaflet/leaflet.js"></script>' in page
    assert '"maxZoom": 18' in page


def test_remote_detection():
    assert assets.remote_resources('<script src="https://cdn.example/x.js"></script>')
    assert assets.remote_resources("<link href='//cdn.example/x.css'>")
    assert assets.remote_resources("<style>@import 'http://x.example/a.css';</style>")
    assert not assets.remote_resources('<script src="http://127.0.0.1:8000/a.js"></script>')
    assert not assets.remote_resources('<img src="data:image/png;base64,AAAA">')
    with pytest.raises(ValueError, match="not local"):
        risk_map(None, make_points(), tiles="https://tile.openstreetmap.org/{z}/{x}/{y}.png")


def test_localize_refuses_unknown_resources():
    import folium

    m = folium.Map(tiles=None)
    el = folium.MacroElement()
    el.default_js = [("someplugin", "https://cdn.example/plugin.js")]
    m.add_child(el)
    with pytest.raises(ValueError, match="someplugin"):
        assets.localize(m)
    # per instance: folium's class attributes are untouched
    assert folium.Map.default_js[0][1].startswith("https://")


def test_legend_is_bilingual_and_from_risk_levels():
    page = render(risk_map(make_areas(), make_points()))
    assert "emgis-risk-legend" in page
    for lv in risk_levels():
        assert f"{lv.zh} {lv.en.capitalize()}" in page
    assert "重大风险 Major" in page
    assert "低风险 Low" in page
    assert "未定级 Unrated" in page  # an area without points
    assert "区域着色规则 Area rule: max" in page


def test_popups_escape_html():
    areas = make_areas()
    areas.loc[0, "name"] = XSS
    points = make_points(name0=XSS)
    points.at[0, "inputs"] = {"<b>L</b>": 3.0}
    page = render(risk_map(areas, points))
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert" in page
    assert "&lt;b&gt;L&lt;/b&gt; = 3" in page
    # method, inputs, score and level are in the point popups
    assert "lec" in page and "L = 3" in page and "126" in page and "方法 Method" in page


def test_empty_inputs():
    empty_pts = make_points().iloc[0:0]
    for areas, points in [(None, None), (None, empty_pts), (make_areas().iloc[0:0], empty_pts)]:
        page = render(risk_map(areas, points))
        assert "emgis-risk-legend" in page
        assert assets.remote_resources(page) == []
        assert "markerClusterGroup" not in page
    page = render(risk_map(None, make_points(1)))  # one point: bounds around it
    assert "fitBounds" in page


def test_levels_accept_chinese_and_reject_unknown():
    pts = make_points(2)
    pts["level"] = ["重大风险", "蓝"]
    page = render(risk_map(None, pts))
    assert '"level": "red"' in page and '"level": "blue"' in page
    pts["level"] = ["green", None]
    with pytest.raises(ValueError, match="not a risk level"):
        risk_map(None, pts)


def test_reprojects_to_4326():
    areas = make_areas().to_crs(32650)
    page = render(risk_map(areas, make_points().to_crs(32650)))
    assert "116.0" in page and "39.0" in page


def test_write_risk_map_copies_assets(tmp_path):
    out = write_risk_map(tmp_path / "m" / "risk.html", make_areas(), make_points())
    assert out.is_file()
    page = out.read_text(encoding="utf-8")
    assert 'src="risk_assets/leaflet/leaflet.js"' in page
    for f in assets.LOCAL_FILES.values():
        assert (tmp_path / "m" / "risk_assets" / "leaflet" / f).is_file()
    css = (tmp_path / "m" / "risk_assets" / "leaflet" / "leaflet.css").read_text()
    assert assets.remote_resources(page, extra=[css]) == []


def test_assets_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.ENV_VAR, str(tmp_path))
    with pytest.raises(assets.AssetsMissing, match=r"leaflet\.js"):
        assets.asset_dir()
    for f in assets.LOCAL_FILES.values():
        (tmp_path / f).write_text("/* stub */")
    assert assets.asset_dir() == tmp_path


def test_app_serves_assets():
    import asyncio

    import httpx
    from fastapi import FastAPI

    from emgis.api.http.pages import mount_assets

    app = FastAPI()
    mount_assets(app)

    async def get(path):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(path)

    r = asyncio.run(get("/static/leaflet/leaflet.js"))
    assert r.status_code == 200 and "Leaflet" in r.text[:400]
    assert asyncio.run(get("/static/leaflet/MarkerCluster.Default.css")).status_code == 200
    assert asyncio.run(get("/static/leaflet/nope.js")).status_code == 404



def test_own_files_linked_served_and_copied(tmp_path):
    """emgis's own page files (maps/static/emgis) go where Leaflet's go: URL, server, copy."""
    import asyncio

    import httpx
    from fastapi import FastAPI

    from emgis.api.http.pages import mount_assets

    urls = assets.asset_urls("x/leaflet")
    for name, fname in assets.OWN_FILES.items():
        assert urls[name] == f"x/leaflet/{assets.OWN_SUBDIR}/{fname}"
    copied = assets.copy_assets(tmp_path / "leaflet")
    for fname in assets.OWN_FILES.values():
        assert (copied / assets.OWN_SUBDIR / fname).read_bytes() == \
            (assets.OWN_DIR / fname).read_bytes()
    app = FastAPI()
    mount_assets(app)

    async def get(path):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.get(path)

    r = asyncio.run(get(f"/static/leaflet/{assets.OWN_SUBDIR}/live_map.js"))
    assert r.status_code == 200 and "emgisLive" in r.text
    assert asyncio.run(get("/static/leaflet/leaflet.js")).status_code == 200

# --- browser -----------------------------------------------------------------------------------


@pytest.mark.browser
def test_map_in_chromium_offline(tmp_path, served, browser_page):
    norms = default_norms().with_overrides(
        [Norm("risk.colour.orange", "#ab5500", "", "", "", "")])
    levels = {lv.key: lv.colour for lv in risk_levels(norms)}
    write_risk_map(tmp_path / "risk.html", make_areas(), make_points(60, name0=XSS), norms=norms)

    page = browser_page
    errors, external = watch_offline(page)
    page.goto(f"{served}/risk.html")
    page.wait_for_function("typeof L !== 'undefined' && typeof L.markerClusterGroup === 'function'")
    page.wait_for_selector(".marker-cluster", timeout=15000)
    page.wait_for_selector("path.leaflet-interactive", timeout=15000)

    legend = page.locator(".emgis-risk-legend").inner_text()
    for lv in risk_levels(norms):
        assert f"{lv.zh} {lv.en.capitalize()}" in legend
    assert "重大风险 Major" in legend

    fills = page.eval_on_selector_all(
        ".leaflet-overlay-pane path", "ps => ps.map(p => p.getAttribute('fill'))")
    for key in ("red", "orange", "yellow", "blue"):
        assert levels[key] in fills, (key, fills)
    assert "#ab5500" in fills
    assert "#00ff00" not in fills and "green" not in fills

    assert page.locator(".marker-cluster").count() >= 1
    # clusters take the official colour of their highest level, not MarkerCluster's green
    def rgb(h):
        return f"rgb({int(h[1:3], 16)}, {int(h[3:5], 16)}, {int(h[5:7], 16)})"
    cluster_bg = page.eval_on_selector_all(
        ".emgis-cluster-icon",
        "ds => ds.filter(d => d.isConnected && d.offsetParent !== null).map(d => "
        "getComputedStyle(d).backgroundColor)")
    assert cluster_bg and set(cluster_bg) <= {rgb(c) for c in levels.values()}, cluster_bg
    assert rgb(levels["red"]) in cluster_bg
    assert page.locator(".leaflet-control-layers").count() == 1

    # Zoom in to the last level: the clusters open into coloured circle markers with popups.
    page.evaluate("""() => { for (const k in window) { const v = window[k];
        if (v && v instanceof L.Map) { v.setView([39.02, 116.02], 18, {animate: false}); } } }""")
    page.wait_for_function(
        "document.querySelectorAll('path.emgis-risk-point').length > 0", timeout=15000)
    # click the centre of the first circle marker drawn inside the viewport
    xy = page.evaluate("""() => {"""
                       """ for (const p of document.querySelectorAll('path.emgis-risk-point')) {
        const r = p.getBoundingClientRect();
        if (r.width > 0 && r.left > 0 && r.top > 0"""
                       """ && r.right < innerWidth && r.bottom < innerHeight) {
            return [r.left + r.width / 2, r.top + r.height / 2]; } } return null; }""")
    assert xy is not None
    page.mouse.click(*xy)
    page.wait_for_selector(".leaflet-popup-content", timeout=5000)
    popup = page.locator(".leaflet-popup-content").inner_text()
    assert "方法 Method" in popup and "lec" in popup and "126" in popup
    assert page.locator(".leaflet-popup-content script, .leaflet-popup-content img").count() == 0

    page.screenshot(path=str(tmp_path / "risk.png"))
    assert external == []
    assert errors == []
