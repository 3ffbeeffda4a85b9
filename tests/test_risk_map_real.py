"""The four-colour map of risk points imported from real OSM extracts, rendered in Chromium.

Liechtenstein and Kyoto: candidates imported and scored, coloured to a 1 km grid and (for
Liechtenstein) to four admin areas, the map written by `emgis risk map`, then opened in
headless Chromium with every request outside 127.0.0.1 refused and recorded.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
import shapely
from conftest import shared, watch_offline
from typer.testing import CliRunner

from emgis.api.cli import app
from emgis.layers.load.study_area import read_boundary, save_study_area
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.risk.levels import risk_levels
from emgis.risk.store import compute_areas, import_candidates, read_points

pytestmark = [pytest.mark.postgis, pytest.mark.browser]

EXTRACTS = {"liechtenstein": "osm/liechtenstein_osm2pgsql_2013.osm.pbf",
            "kyoto": "osm/kyoto_jp_sumo_saga.osm.gz"}


def _admin_quarters(db, points, tmp_path):
    w, s, e, n = points.total_bounds
    mx, my = (w + e) / 2, (s + n) / 2
    boxes = [shapely.box(w - .01, s - .01, mx, my), shapely.box(mx, s - .01, e + .01, my),
             shapely.box(w - .01, my, mx, n + .01), shapely.box(mx, my, e + .01, n + .01)]
    codes = [f"99000100{i}001" for i in range(1, 5)]
    gdf = gpd.GeoDataFrame({"code": codes, "name": [f"区{i}" for i in range(1, 5)],
                            "level": ["village"] * 4},
                           geometry=boxes, crs=4326)
    county = tmp_path / "county.geojson"
    gpd.GeoDataFrame({"name": ["test county"]}, geometry=[shapely.union_all(boxes)],
                     crs=4326).to_file(county)
    save_study_area(db.engine, read_boundary(county), boundary_file=str(county))
    path = tmp_path / "quarters.geojson"
    gdf.to_file(path)
    load_layer(db.engine, "admin_units", path, LoadOptions(accept_warnings=True))


@pytest.mark.parametrize("name", sorted(EXTRACTS))
def test_real_extract_map_renders_offline(name, db, tmp_path, monkeypatch, served, browser_page):
    res = import_candidates(db.engine, shared(EXTRACTS[name]), actor="test")
    assert res.inserted > 20
    points = read_points(db.engine)
    assert points["level"].notna().all() and points["score"].notna().all()
    grid = compute_areas(db.engine, kind="grid", cell_m=1000, actor="test")
    assert int(grid["n_points"].sum()) == len(points)
    args = ["risk", "map", str(tmp_path / "risk.html"), "--grid", "1000"]
    if name == "liechtenstein":
        _admin_quarters(db, points, tmp_path)
        villages = compute_areas(db.engine, kind="admin", level="village", actor="test")
        assert len(villages) == 4 and villages["level"].notna().all()
        args = ["risk", "map", str(tmp_path / "risk.html"), "--admin"]
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output

    page = browser_page
    errors, external = watch_offline(page)
    page.goto(f"{served}/risk.html")
    page.wait_for_selector(".marker-cluster, path.emgis-risk-point", timeout=15000)
    page.wait_for_selector(".leaflet-overlay-pane path", timeout=15000)
    assert errors == [] and external == []
    colours = {lv.colour.lower() for lv in risk_levels()}
    fills = {f.lower() for f in page.eval_on_selector_all(".leaflet-overlay-pane path",
                                                          "ps => ps.map(p => "
                                                          "p.getAttribute('fill'))") if f}
    stored = {lv.colour.lower() for lv in risk_levels() if lv.key in set(points["level"])}
    assert fills & colours, fills
    assert stored & fills, (stored, fills)
    legend = page.locator(".emgis-risk-legend").inner_text()
    assert "重大风险" in legend and "低风险" in legend
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    (tmp_path / "levels.json").write_text(json.dumps(points["level"].value_counts().to_dict()))
