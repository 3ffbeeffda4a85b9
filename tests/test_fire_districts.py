"""Fire-station districts (#16, part 1): the road network split among the fire stations, each
node to its fastest station, each district's area and 5-minute reach checked against the norms —
on a hand-made graph whose answer is worked out by hand, and on the demo county through
`emgis fire-districts` and ``/analyses/fire-districts`` against one Dijkstra per station."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import watch_offline
from scipy.sparse.csgraph import dijkstra
from typer.testing import CliRunner

from emgis.geo.network import graph_from_lines
from emgis.layers.norms import Norm, default_norms
from emgis.shelters.districts import fire_districts, partition

GK = 4549  # CGCS2000 3-degree Gauss-Kruger CM 120E
X0, Y0 = 500_000.0, 3_320_000.0


def xy(i: float, j: float) -> tuple[float, float]:
    return X0 + 1000.0 * i, Y0 + 1000.0 * j


def ladder(speed_kmh: float):
    """Two rows of four nodes 1 km apart (a 3 km × 1 km ladder) and, 7 km away, a two-node road
    no station reaches."""
    lines = [shapely.LineString([xy(i, j), xy(i + 1, j)]) for j in (0, 1) for i in range(3)]
    lines += [shapely.LineString([xy(i, 0), xy(i, 1)]) for i in range(4)]
    lines.append(shapely.LineString([xy(10, 0), xy(11, 0)]))
    gdf = gpd.GeoDataFrame({"speed": [speed_kmh] * len(lines)}, geometry=lines, crs=GK)
    return graph_from_lines(gdf, speed_field="speed", orphan_max_nodes=0)


def stations(classes=("small", None)) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"id": [1, 2], "ext_id": ["A", "B"], "name": ["西站", "东站"],
                             "fire_class": list(classes)},
                            geometry=gpd.points_from_xy([xy(0, 0)[0], xy(3, 0)[0]], [Y0, Y0]),
                            crs=GK)


def box84():
    return gpd.GeoSeries([shapely.box(*xy(0, 0), *xy(3, 1))], crs=GK).to_crs(4326).iloc[0]


def node_at(graph, i, j) -> int:
    x, y = xy(i, j)
    return int(np.argmin(np.hypot(np.asarray(graph.node_x) - x, np.asarray(graph.node_y) - y)))


def test_hand_made_ladder():
    """36 km/h: 1 km = 100 s. Columns 0-1 go to the west station, 2-3 to the east one; each
    district is half the 3 km² box (Voronoi cells of the nodes: 0.25 km² at the corners, 0.5
    km² on the long sides); the far road is unreachable and outside the box."""
    g = ladder(36.0)
    d = fire_districts(g, stations(), area=box84())
    t = d.table.set_index("ext_id")
    west = {node_at(g, i, j) for i in (0, 1) for j in (0, 1)}
    east = {node_at(g, i, j) for i in (2, 3) for j in (0, 1)}
    assert set(np.flatnonzero(d.node_station == 0)) == west
    assert set(np.flatnonzero(d.node_station == 1)) == east
    assert set(d.unreachable) == {node_at(g, 10, 0), node_at(g, 11, 0)}
    assert np.isinf(d.node_time_s[d.unreachable]).all()
    assert t.loc["A", "area_km2"] == pytest.approx(1.5, abs=1e-3)
    assert t.loc["B", "area_km2"] == pytest.approx(1.5, abs=1e-3)
    assert d.unreachable_km2 == pytest.approx(0.0, abs=1e-6)  # outside the study area
    assert t.loc["A", "max_time_min"] == pytest.approx(200 / 60, abs=0.02)
    # the west station is a small one (小型站, 2 km²); the east one has no class: urban, 7 km²
    assert (t.loc["A", "limit_km2"], t.loc["A", "limit_norm"]) == (2.0, "fire.district_km2.small")
    assert (t.loc["B", "limit_km2"], t.loc["B", "limit_norm"]) == (7.0, "fire.district_km2.urban")
    assert t["ok"].all() and set(t["check"]) == {"ok"}
    assert (t["reach_share"] == 1.0).all()


def test_hand_made_ladder_fails_the_norms():
    """18 km/h: 1 km = 200 s, so the west district's far corner (1, 1) is 400 s away, beyond 5
    minutes: its cell (0.5 of the district's 1.5 km²) is not reached, share 2/3. With the small
    station's norm lowered to 1 km², the area fails too."""
    g = ladder(18.0)
    norms = default_norms().with_overrides([Norm("fire.district_km2.small", 1, "", "", "", "L")])
    d = fire_districts(g, stations(), area=box84(), norms=norms)
    a = d.table.set_index("ext_id").loc["A"]
    assert a["reach_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert a["nodes_within"] == 3 and a["nodes"] == 4
    assert not a["area_ok"] and not a["reach_ok"] and not a["ok"]
    assert "area 1.50 km² > 1 km² (fire.district_km2.small)" in a["check"]
    assert "67% of the area reached within 5 min" in a["check"]


def test_without_a_study_area_the_hull_is_the_county():
    g = ladder(36.0)
    d = fire_districts(g, stations(), area=None)
    # the hull of every node: the ladder's box joined to the far road (a trapezoid)
    hull = shapely.MultiPoint(list(zip(g.node_x, g.node_y, strict=True))).convex_hull.area / 1e6
    total = d.table["area_km2"].sum() + d.unreachable_km2
    assert total == pytest.approx(hull, rel=1e-4)  # cells computed in floating point
    assert d.unreachable_km2 > 0


def test_station_classes_without_a_norm_are_not_checked():
    d = fire_districts(ladder(36.0), stations(("micro", "class1")), area=box84())
    a = d.table.set_index("ext_id").loc["A"]
    assert a["limit_km2"] is None or pd.isna(a["limit_km2"])
    assert "no norm fire.district_km2.micro" in a["check"]


def test_no_station_reaches_nothing():
    g = ladder(36.0)
    owner, times = partition(g, stations().iloc[:0])
    assert (owner == -1).all() and np.isinf(times).all()


# --- the demo county ---------------------------------------------------------------------------

@pytest.fixture
def env(demo_db, monkeypatch, tmp_path):
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    return demo_db, tmp_path


def brute_force(graph, st) -> np.ndarray:
    """Per station and node, the time from the station: one Dijkstra per station plus its snap."""
    from emgis.geo.routing import snap_facilities

    s = snap_facilities(graph, st.geometry.x.to_numpy(), st.geometry.y.to_numpy())
    mat = graph.matrix()
    return np.vstack([dijkstra(mat, indices=int(s.nodes[k])) + s.offset_s[k]
                      for k in range(len(st))])


@pytest.mark.postgis
def test_demo_districts_partition_every_reachable_node(env, client):
    from emgis.geo.store import load_network
    from emgis.layers.load.study_area import load_study_area
    from emgis.layers.norms import norms_in_force
    from emgis.shelters.service import compute_fire_districts
    from emgis.shelters.store import read_team_bases

    db, tmp = env
    graph = load_network(db.engine, "default", home=db.home)
    norms = norms_in_force(db.engine)
    d = compute_fire_districts(db.engine, graph, norms)
    st = read_team_bases(db.engine, team_types=["fire_station"])
    T = brute_force(graph, st)
    best = T.min(axis=0)
    reach = np.isfinite(best)
    # each reachable node in exactly one district, its station the brute-force argmin (ties
    # allowed: the chosen station's own time is the minimum); the rest reported unreachable
    assert ((d.node_station >= 0) == reach).all()
    assert set(d.unreachable) == set(np.flatnonzero(~reach))
    idx = np.flatnonzero(reach)
    np.testing.assert_allclose(T[d.node_station[idx], idx], best[idx], atol=1e-6)
    np.testing.assert_allclose(d.node_time_s[idx], best[idx], atol=1e-6)
    counts = np.bincount(d.node_station[idx], minlength=len(st))
    assert counts.sum() == reach.sum() and (d.table["nodes"].to_numpy() == counts).all()
    # the polygons tile the county: their areas add up to it
    area = load_study_area(db.engine)
    total = d.table["area_km2"].sum() + d.unreachable_km2
    assert total == pytest.approx(area.area_km2, rel=0.01)
    assert not d.table.geometry.is_empty.any()
    # the command line
    out = tmp / "districts.geojson"
    res = CliRunner().invoke(__import__("emgis.api.cli", fromlist=["app"]).app,
                             ["fire-districts", "--out", str(out)])
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "消防站辖区" in text and "unreachable" in text
    fc = json.loads(out.read_text(encoding="utf-8"))
    assert [f["properties"]["nodes"] for f in fc["features"]] == counts.tolist()
    assert fc["unreachable"]["nodes"] == int((~reach).sum())
    for name in ("districts.xlsx", "districts.gpkg"):
        res = CliRunner().invoke(__import__("emgis.api.cli", fromlist=["app"]).app,
                                 ["fire-districts", "--out", str(tmp / name)])
        assert res.exit_code == 0 and (tmp / name).stat().st_size > 0, res.output
    sheet = pd.read_excel(tmp / "districts.xlsx", sheet_name="消防站辖区")  # Chinese by default
    assert list(sheet["辖区路网节点数"]) == counts.tolist()
    notes = pd.read_excel(tmp / "districts.xlsx", sheet_name="说明")
    assert "fire.response_min" in set(notes["项目"])
    # over HTTP: the same districts, each with its check
    r = client.get("/analyses/fire-districts")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    assert [f["properties"]["nodes"] for f in body["features"]] == counts.tolist()
    for f in body["features"]:
        p = f["properties"]
        assert {"area_km2", "reach_share", "limit_km2", "limit_norm", "area_ok", "reach_ok",
                "ok", "check"} <= set(p)
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert body["unreachable"]["nodes"] == int((~reach).sum())
    assert "Voronoi" in body["method"]


@pytest.mark.postgis
@pytest.mark.bad_input
@pytest.mark.parametrize("args", [["--out", "districts.shp"], ["--network", "nosuch"]],
                         ids=["unknown-format", "unknown-network"])
def test_fire_districts_refuses_clearly(env, args):
    from emgis.api.cli import app

    _, tmp = env
    res = CliRunner().invoke(app, ["fire-districts", *[str(tmp / a) if a.endswith(".shp") else a
                                                       for a in args]])
    assert res.exit_code == 2, res.output
    assert ".geojson" in res.output or "nosuch" in res.output


@pytest.mark.postgis
def test_districts_map_in_chromium_offline(env, served, browser_page):
    """`emgis fire-districts --map`: one shape per district coloured by its check, the
    unreachable area, the stations; nothing fetched from beyond the machine."""
    from emgis.api.cli import app

    _, tmp = env
    res = CliRunner().invoke(app, ["fire-districts", "--map", str(tmp / "districts.html"),
                                   "--out", str(tmp / "d.geojson")])
    assert res.exit_code == 0, res.output
    fc = json.loads((tmp / "d.geojson").read_text(encoding="utf-8"))
    fails = sum(1 for f in fc["features"] if not f["properties"]["ok"])
    page = browser_page
    errors, external = watch_offline(page)
    page.goto(f"{served}/districts.html")
    page.wait_for_selector("path.emgis-district", timeout=15000)
    assert errors == [] and external == []
    assert page.locator("path.emgis-district").count() == len(fc["features"])
    assert page.locator("path.emgis-district.fail").count() == fails
    assert page.locator("path.emgis-fire-station").count() == len(fc["features"])
    assert "Fire-station districts" in page.locator(".emgis-coverage-legend").inner_text()
