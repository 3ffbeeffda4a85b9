"""Totals spread over grid cells (shelters.spread) and the placement summary (shelters.placement),
on a synthetic network: no database."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from emgis.geo.synthetic import synthetic_network
from emgis.layers.norms import default_norms
from emgis.shelters.placement import placement_summary
from emgis.shelters.spread import grid_spread, largest_remainder, road_class_weights

GK = 4549


@pytest.mark.parametrize("total,weights", [
    (673_776, [0.3, 0.3, 0.4]), (7, [1, 1, 1]), (10, [0, 0, 0]), (5, [1e-9, 2e-9, 0]),
    (0, [1, 2]),
], ids=["county", "thirds", "all-zero-weights", "tiny-weights", "nobody"])
def test_largest_remainder_keeps_the_total(total, weights):
    out = largest_remainder(total, np.array(weights, dtype=float))
    assert out.sum() == total and (out >= 0).all() and out.dtype.kind == "i"


@pytest.fixture(scope="module")
def county():
    g = synthetic_network("county", n_nodes=900, spacing_m=250.0, seed=5)
    x0, x1 = np.quantile(g.node_lon, [0.05, 0.95])
    y0, y1 = np.quantile(g.node_lat, [0.05, 0.95])
    outline = shapely.box(x0, y0, x1, y1)
    seats = gpd.GeoDataFrame({"code": ["330522001", "330522100"], "name": ["甲街道", "乙镇"]},
                             geometry=[shapely.Point(x0 + (x1 - x0) * 0.25, (y0 + y1) / 2),
                                       shapely.Point(x0 + (x1 - x0) * 0.75, (y0 + y1) / 2)],
                             crs=4326)
    return g, outline, seats


def test_a_county_total_spreads_over_road_cells_that_sum_to_it(county):
    g, outline, seats = county
    d = grid_spread(outline, seats, {"county": 123_457}, metric_crs=GK, graph=g,
                    norms=default_norms())
    assert d["population"].sum() == 123_457
    assert (d["population"] == np.round(d["population"])).all()
    assert set(d["placement"]) == {"grid_roads"} and set(d["population_method"]) == {"county_proxy"}
    assert len(d) > 20 and set(d["township_code"]) == {"330522001", "330522100"}
    assert (d["assigned"] == "road").all()
    assert d.geometry.within(outline.buffer(0.01)).all()
    s = placement_summary(d)
    assert s["approximate"] == 123_457 and s["exact"] == 0 and s["not_placed"] == 0
    assert {r["township_code"] for r in s["by_township"]} == {"330522001", "330522100"}


def test_township_totals_stay_in_their_townships(county):
    g, outline, seats = county
    d = grid_spread(outline, seats, {"330522001": 1000, "330522100": 50_000, "330522200": 77},
                    metric_crs=GK, graph=g, norms=default_norms(), method="township_census")
    by = d.groupby("township_code")["population"].sum()
    assert by["330522001"] == 1000 and by["330522100"] == 50_000
    # a township with a total but no seat and no cell is kept, not placed (said so)
    lost = d[d["township_code"] == "330522200"]
    assert lost["placement"].tolist() == ["code_only"] and lost.geometry.isna().all()
    assert placement_summary(d)["not_placed"] == 77


def test_without_roads_cells_weigh_by_area_and_go_to_the_nearest_seat(county):
    _, outline, seats = county
    d = grid_spread(outline, seats, {"county": 9_999}, metric_crs=GK, graph=None,
                    norms=default_norms())
    assert d["population"].sum() == 9_999 and set(d["placement"]) == {"grid_area"}
    assert set(d["assigned"]) == {"straight_line"}
    assert d["population"].max() - d["population"].min() <= 1  # every cell alike


def test_streets_and_estate_roads_weigh_more_than_arterials(county):
    g, _, _ = county
    w = road_class_weights(g, default_norms())
    names = np.asarray(g.highway_names, dtype=object)[g.edge_highway]
    if {"residential", "primary"} <= set(names):
        assert w[names == "residential"].min() > w[names == "primary"].max()
    assert (w >= 0).all() and w.size == g.edge_highway.size


def test_a_population_raster_weighs_the_cells_instead_of_the_roads(county):
    from affine import Affine
    from pyproj import CRS

    from emgis.layers.load.rasters import PopRaster

    g, outline, seats = county
    x0, y0, x1, y1 = outline.bounds
    step = 0.001
    nx, ny = int((x1 - x0) / step) + 1, int((y1 - y0) / step) + 1
    data = np.zeros((ny, nx))
    data[:, : nx // 2] = 9.0  # everybody in the western half
    data[:, nx // 2:] = 1.0
    r = PopRaster(data, np.ones(data.shape, bool), Affine(step, 0, x0, 0, -step, y1),
                  CRS.from_epsg(4326), None)
    d = grid_spread(outline, seats, {"county": 50_000}, metric_crs=GK, graph=g,
                    norms=default_norms(), raster=r)
    assert d["population"].sum() == 50_000
    assert set(d["population_method"]) == {"county_raster"}
    assert set(d["placement"]) == {"grid_raster"}
    west = d.geometry.x < (x0 + x1) / 2
    assert d.loc[west, "population"].sum() > 5 * d.loc[~west, "population"].sum()
    assert "grid cell (population raster)" in placement_summary(d)["lines"][1]
