"""Demand points: villages (boundary / point / township-weighted / code-only), raster cells
aggregated to squares, and snapping to a small road network."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from pyproj import CRS, Transformer

from emgis.geo.network import graph_from_lines
from emgis.geo.synthetic import synthetic_network
from emgis.layers.load.rasters import PopRaster
from emgis.layers.norms import default_norms
from emgis.layers.problems import InputError
from emgis.shelters.demand import PLACEMENTS, cell_demand, snap_demand, village_demand

GK = 4549  # CGCS2000 3-degree Gauss-Kruger, CM 120E
X0, Y0 = 490_000.0, 3_435_000.0
TO_GK = Transformer.from_crs(4326, GK, always_xy=True)


def _units():
    v1 = shapely.box(X0, Y0, X0 + 400, Y0 + 200)  # representative point = its centre
    v2 = shapely.Point(X0 + 1000, Y0 + 1000)
    v9 = shapely.box(X0 + 2000, Y0, X0 + 2100, Y0 + 100)  # a village without population
    t101 = shapely.box(X0 + 5000, Y0, X0 + 6000, Y0 + 1000)  # a township polygon (9-digit code)
    return gpd.GeoDataFrame(
        {"code": ["330522100001", "330522100002", "330522100009", "330522101", "330522102001"],
         "name": ["一村", "二村", "九村", "乙镇", "丙村"]},
        geometry=[v1, v2, v9, t101, None], crs=GK)


def _population():
    return pd.Series({"330522100001": 300, "330522100002": 100, "330522100003": 50,
                      "330522101005": 80, "330522102001": 20, "330522100000": 9999})


def _gk(geom):
    x, y = TO_GK.transform(geom.x, geom.y)
    return np.array([x, y])


def test_village_demand_placements():
    d = village_demand(_units(), _population(), metric_crs=GK)
    assert d.crs.to_epsg() == 4326
    assert list(d.columns) == ["code", "name", "population", "placement", "population_method",
                               "geometry"]
    assert list(d["code"]) == ["330522100001", "330522100002", "330522100003", "330522100009",
                               "330522101005", "330522102001"]
    by = d.set_index("code")
    assert dict(by["placement"]) == {
        "330522100001": "boundary", "330522100002": "point", "330522100003": "township_weighted",
        "330522100009": "boundary", "330522101005": "township_polygon",
        "330522102001": "code_only"}
    assert set(d["placement"]) <= set(PLACEMENTS)
    assert by.loc["330522100001", "population"] == 300 and by.loc["330522100009", "population"] == 0
    assert by.loc["330522100001", "name"] == "一村" and pd.isna(by.loc["330522100003", "name"])
    # boundary: the polygon's representative point; point: the point
    assert np.allclose(_gk(by.loc["330522100001", "geometry"]), [X0 + 200, Y0 + 100], atol=1e-3)
    assert np.allclose(_gk(by.loc["330522100002", "geometry"]), [X0 + 1000, Y0 + 1000], atol=1e-3)
    # code only: weighted by the township's placed villages (300, 100 and 0 persons)
    expect = (300 * np.array([X0 + 200, Y0 + 100]) + 100 * np.array([X0 + 1000, Y0 + 1000])) / 400
    assert np.allclose(_gk(by.loc["330522100003", "geometry"]), expect, atol=1e-3)
    # code only, township known only by its polygon: the polygon's representative point
    assert np.allclose(_gk(by.loc["330522101005", "geometry"]), [X0 + 5500, Y0 + 500], atol=1e-3)
    # nothing known about the township: no point
    assert by.loc["330522102001", "geometry"] is None
    notes = " ".join(d.attrs["notes"])
    assert "could not be placed" in notes and "not in the population table" in notes


def test_village_demand_accepts_a_census_frame_and_unweighted_townships():
    frame = pd.DataFrame({"code": [330522100001, 330522100002, 330522100003],
                          "name": ["一村", "二村", "三村"], "population": [0, 0, 10]})
    d = village_demand(_units().iloc[:2], frame, metric_crs=GK)
    by = d.set_index("code")
    assert by.loc["330522100003", "name"] == "三村"
    # the placed villages have nobody: plain mean of their points
    expect = (np.array([X0 + 200, Y0 + 100]) + np.array([X0 + 1000, Y0 + 1000])) / 2
    assert np.allclose(_gk(by.loc["330522100003", "geometry"]), expect, atol=1e-3)


def test_village_demand_reports_every_bad_input():
    units = _units()
    units.loc[1, "geometry"] = shapely.LineString([(X0, Y0), (X0 + 10, Y0)])
    pop = pd.Series({"33052210001": 5, "330522100001": -3, "330522100002": float("nan")})
    with pytest.raises(InputError) as e:
        village_demand(units, pop)
    fields = sorted((p.file, p.field) for p in e.value.problems)
    assert fields == [("population", "code"), ("population", "population"),
                      ("population", "population")]
    units2 = units.copy()
    with pytest.raises(InputError) as e2:
        village_demand(units2, _population())
    assert [(p.file, p.row, p.field) for p in e2.value.problems] == [("units", 2, "geometry")]
    with pytest.raises(InputError, match="no CRS"):
        village_demand(gpd.GeoDataFrame({"code": ["330522100001"]},
                                         geometry=[shapely.Point(1, 1)]), _population())


def _gk_raster(data):
    """A GK raster with 100 m cells whose origin is on the 200 m lattice."""
    data = np.asarray(data, dtype=np.float64)
    return PopRaster(data, np.ones(data.shape, bool), Affine(100.0, 0, X0, 0, -100.0, Y0),
                     CRS.from_epsg(GK), None)


def test_cell_demand_sums_blocks_exactly():
    data = np.arange(16, dtype=float).reshape(4, 4)
    r = _gk_raster(data)
    r.mask[0, 0] = False
    c = cell_demand(r, 200.0, GK)
    assert len(c) == 4 and c.crs.to_epsg() == 4326
    assert c["population"].sum() == data.sum()
    # block rows 0-1, cols 0-1: 0 + 1 + 4 + 5
    first = c[(c["ix"] == int(X0 // 200)) & (c["iy"] == int((Y0 - 100) // 200))].iloc[0]
    assert first["population"] == 10
    cx = (1 * (X0 + 150) + 4 * (X0 + 50) + 5 * (X0 + 150)) / 10
    cy = (1 * (Y0 - 50) + 4 * (Y0 - 150) + 5 * (Y0 - 150)) / 10
    assert first["x"] == pytest.approx(cx) and first["y"] == pytest.approx(cy)
    assert np.allclose(_gk(first.geometry), [cx, cy], atol=1e-3)
    centre = cell_demand(r, 200.0, GK, position="centre")
    assert np.allclose(centre["x"], (centre["ix"] + 0.5) * 200)
    assert np.array_equal(centre["population"], c["population"])


def test_cell_demand_geographic_raster_preserves_total():
    rng = np.random.default_rng(1)
    data = rng.gamma(0.5, 20.0, (60, 80))
    data[rng.random(data.shape) < 0.3] = 0
    mask = rng.random(data.shape) > 0.05
    data[~mask] = 0
    r = PopRaster(data, mask, Affine(0.0008333, 0, 119.85, 0, -0.0008333, 31.05),
                  CRS.from_epsg(4326), -99999.0)
    c = cell_demand(r, 500.0, GK)
    assert (c["population"] > 0).all()
    assert c["population"].sum() == pytest.approx(data.sum(), rel=1e-12)
    # every weighted centroid lies in its square
    assert ((c["x"] >= c["ix"] * 500) & (c["x"] < (c["ix"] + 1) * 500)).all()
    assert ((c["y"] >= c["iy"] * 500) & (c["y"] < (c["iy"] + 1) * 500)).all()
    assert c["code"].is_unique
    with pytest.raises(ValueError, match="not a projected CRS in metres"):
        cell_demand(r, 500.0, 4326)
    with pytest.raises(ValueError, match="positive"):
        cell_demand(r, 0.0, GK)


def test_cell_demand_is_fast_on_millions_of_cells():
    rng = np.random.default_rng(2)
    data = rng.random((2000, 2000))
    r = PopRaster(data, np.ones(data.shape, bool), Affine(0.0008333, 0, 119.0, 0, -0.0008333, 31.5),
                  CRS.from_epsg(4326), None)
    t = time.perf_counter()
    c = cell_demand(r, 1000.0, GK)
    elapsed = time.perf_counter() - t
    assert c["population"].sum() == pytest.approx(data.sum(), rel=1e-12)
    assert elapsed < 20, elapsed


def _grid_graph():
    # a 3x3 grid of 0.001-degree blocks with a vertex at every crossing
    lines = []
    steps = [0.0, 0.001, 0.002, 0.003]
    for i in range(4):
        lines.append(shapely.LineString([(120 + 0.001 * i, 30 + s) for s in steps]))
        lines.append(shapely.LineString([(120 + s, 30 + 0.001 * i) for s in steps]))
    gdf = gpd.GeoDataFrame({"kind": ["residential"] * len(lines)}, geometry=lines, crs=4326)
    return graph_from_lines(gdf, class_field="kind")


def test_snap_demand_on_a_small_network():
    g = _grid_graph()
    demand = gpd.GeoDataFrame(
        {"code": ["a", "b", "c"], "population": [10.0, 5.0, 1.0]},
        geometry=[shapely.Point(120.0011, 29.9999), shapely.Point(120.0029, 30.0015), None],
        crs=4326).to_crs(GK)  # any CRS: snapped in WGS84
    s = snap_demand(g, demand, norms=default_norms())
    assert list(s.columns[-4:]) == ["node", "snap_m", "along_m", "offroad_s"]
    assert s["node"].dtype == np.int64
    a, b, c = s.iloc[0], s.iloc[1], s.iloc[2]
    assert (g.node_lon[a["node"]], g.node_lat[a["node"]]) == pytest.approx((120.001, 30.0))
    assert a["snap_m"] == pytest.approx(11.1, abs=0.2)
    assert (g.node_lon[b["node"]], g.node_lat[b["node"]]) == pytest.approx((120.003, 30.002))
    assert b["snap_m"] == pytest.approx(0.0001 * 111_320 * np.cos(np.radians(30)), rel=0.01)
    walk = 4.5 / 3.6
    assert a["offroad_s"] >= a["snap_m"] / walk and a["offroad_s"] < a["snap_m"] / walk + 10
    assert c["node"] == -1 and np.isnan(c["snap_m"]) and np.isnan(c["offroad_s"])
    assert "node" not in demand.columns  # the input is not changed


def test_village_and_cell_demand_snap_end_to_end():
    g = _grid_graph()
    villages = gpd.GeoDataFrame({"code": ["330522100001", "330522100002"]},
                                geometry=[shapely.box(120.0002, 30.0002, 120.0008, 30.0008),
                                          shapely.Point(120.0021, 30.0021)], crs=4326)
    d = village_demand(villages, pd.Series({"330522100001": 40, "330522100002": 60,
                                            "330522100003": 5}))
    s = snap_demand(g, d)
    assert (s["node"] >= 0).all() and (s["snap_m"] < 60).all()
    data = np.ones((30, 30))
    r = PopRaster(data, np.ones(data.shape, bool), Affine(0.0001, 0, 120.0, 0, -0.0001, 30.003),
                  CRS.from_epsg(4326), None)
    cells = snap_demand(g, cell_demand(r, 100.0, GK))
    assert cells["population"].sum() == pytest.approx(900)
    assert (cells["node"] >= 0).all() and (cells["snap_m"] < 60).all()


def test_cell_demand_snapped_to_a_synthetic_network():
    g = synthetic_network("county", n_nodes=400, spacing_m=200.0, seed=3)
    lon0, lat0 = g.node_lon.min(), g.node_lat.max()
    w = (g.node_lon.max() - lon0) / 40
    h = (lat0 - g.node_lat.min()) / 40
    rng = np.random.default_rng(4)
    data = rng.poisson(3.0, (40, 40)).astype(float)
    r = PopRaster(data, np.ones(data.shape, bool), Affine(w, 0, lon0, 0, -h, lat0),
                  CRS.from_epsg(4326), None)
    cells = cell_demand(r, 500.0, g.crs.to_epsg())
    s = snap_demand(g, cells)
    assert s["population"].sum() == pytest.approx(data.sum())
    assert (s["node"] >= 0).all() and not g.orphan[s["node"].to_numpy()].any()
    assert (s["snap_m"] < 1000).all() and (s["offroad_s"] >= s["snap_m"] / (4.5 / 3.6) - 1e-9).all()
