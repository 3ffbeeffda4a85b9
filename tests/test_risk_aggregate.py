"""Four-colour areas from points: aggregation rules on a hand-made layout, grids, risk index."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import Point, box

from emgis.layers.problems import InputError
from emgis.risk.aggregate import aggregate, make_grid, risk_index

# Three 0.01° squares side by side near Changxing (119.9 E, 31.0 N): A | B | C.
AREAS = gpd.GeoDataFrame(
    {"code": ["330522100", "330522101", "330522102"], "pop": [50_000, 500, 5_000]},
    geometry=[box(119.90, 31.00, 119.91, 31.01), box(119.91, 31.00, 119.92, 31.01),
              box(119.92, 31.00, 119.93, 31.01)],
    crs="EPSG:4326",
)
# Six points: A red, blue, blue; B orange, yellow; C blue.
POINTS = gpd.GeoDataFrame(
    {"level": ["red", "低风险", "blue", "orange", "一般风险", "blue"]},
    geometry=[Point(119.902, 31.002), Point(119.905, 31.005), Point(119.908, 31.008),
              Point(119.912, 31.003), Point(119.918, 31.007), Point(119.925, 31.005)],
    crs="EPSG:4326",
)


def test_max_rule_by_hand():
    out = aggregate(POINTS, AREAS)
    assert list(out["unit_code"]) == list(AREAS["code"])
    assert list(out["level"]) == ["red", "orange", "blue"]
    assert list(out["n_points"]) == [3, 2, 1]
    assert list(out["n_red"]) == [1, 0, 0] and list(out["n_orange"]) == [0, 1, 0]
    assert list(out["n_yellow"]) == [0, 1, 0] and list(out["n_blue"]) == [2, 0, 1]
    assert set(out["rule"]) == {"max"}
    assert out.crs.to_epsg() == 4326 and out.attrs["points_outside"] == 0


def test_count_weighted_rule_by_hand():
    # mean rank: A (4+1+1)/3 = 2 → yellow; B (3+2)/2 = 2.5 → rounds up to 3 orange; C 1 → blue
    out = aggregate(POINTS, AREAS, rule="count_weighted")
    assert list(out["level"]) == ["yellow", "orange", "blue"]


def test_population_weighted_rule_by_hand():
    # median population of areas with points = 5000.
    # A: 2 + log10(50000/5000) = 3 → orange; B: 2.5 + log10(500/5000) = 1.5, clipped to its
    # lowest point rank 2 → yellow; C: 1 + log10(1) = 1 → blue
    out = aggregate(POINTS, AREAS, rule="population_weighted", population_col="pop")
    assert list(out["level"]) == ["orange", "yellow", "blue"]
    assert list(out["population"]) == [50_000, 500, 5_000]


def test_risk_index_by_hand():
    plain = aggregate(POINTS, AREAS)
    # weights red 8, orange 4, yellow 2, blue 1: A 8+1+1 = 10, B 4+2 = 6, C 1
    assert list(plain["risk_index"]) == [10, 6, 1]
    assert list(plain["risk_rank"]) == [1, 2, 3]
    withpop = aggregate(POINTS, AREAS, population_col="pop")
    expected = [10 * (1 + math.log10(51)), 6 * (1 + math.log10(1.5)), 1 * (1 + math.log10(6))]
    assert withpop["risk_index"].to_numpy() == pytest.approx(expected)
    heavy = risk_index(np.array([[0, 0, 0, 3]]), weights={"blue": 2})
    assert heavy.tolist() == [6.0]


def test_area_without_points_has_no_level_not_blue():
    areas = AREAS.copy()
    areas.loc[3] = ["330522103", 10, box(119.93, 31.00, 119.94, 31.01)]
    out = aggregate(POINTS, areas)
    last = out.iloc[3]
    assert last["level"] is None and last["n_points"] == 0
    assert last["risk_index"] == 0 and last["risk_rank"] == 4


def test_point_on_shared_edge_counted_once_and_outside_points_reported():
    pts = gpd.GeoDataFrame({"level": ["red", "yellow"]},
                           geometry=[Point(119.91, 31.005), Point(120.5, 31.5)], crs="EPSG:4326")
    out = aggregate(pts, AREAS)
    assert out["n_points"].sum() == 1 and out.attrs["points_outside"] == 1
    assert list(out["level"]) == ["red", None, None]  # first matching area in areas order


def test_points_in_another_crs_are_projected():
    out = aggregate(POINTS.to_crs(32650), AREAS)
    assert list(out["level"]) == ["red", "orange", "blue"]


def test_bad_inputs_reported_together():
    pts = POINTS.copy()
    pts.loc[1, "level"] = "green"
    pts.loc[4, "level"] = None
    areas = AREAS.copy()
    areas.loc[2, "code"] = "330522100"
    areas["pop"] = areas["pop"].astype(object)
    areas.loc[0, "pop"] = "many"
    with pytest.raises(InputError) as exc:
        aggregate(pts, areas, rule="population_weighted", population_col="pop")
    msg = str(exc.value)
    assert "row 3, field level: 'green' is not a risk level" in msg
    assert "row 6, field level is empty" in msg
    assert "row 4, field code: '330522100' repeats" in msg
    assert "row 2, field pop: 'many' is not a population" in msg
    with pytest.raises(ValueError, match="population_col"):
        aggregate(POINTS, AREAS, rule="population_weighted")
    with pytest.raises(ValueError, match=r"rule='mean'.*max, count_weighted, population_weighted"):
        aggregate(POINTS, AREAS, rule="mean")
    with pytest.raises(ValueError, match="no CRS"):
        aggregate(POINTS.set_crs(None, allow_override=True), AREAS)


# --- grids --------------------------------------------------------------------------------


def test_grid_covers_the_boundary_exactly():
    boundary = shapely.Polygon([(119.90, 31.00), (119.935, 31.00), (119.93, 31.02),
                                (119.90, 31.018)])
    grid = make_grid(boundary, 1000, "EPSG:32650")
    metric_area = gpd.GeoSeries([boundary], crs=4326).to_crs(32650).area.iloc[0]
    assert grid["cell_area_m2"].sum() == pytest.approx(metric_area, rel=1e-9)
    assert grid["cell_area_m2"].max() == pytest.approx(1e6, rel=1e-9)
    assert grid["code"].is_unique and grid.crs.to_epsg() == 4326
    # the 4326 cells (densified edges) keep their area within 0.01 %
    assert grid.to_crs(32650).area.sum() == pytest.approx(metric_area, rel=1e-4)


def test_grid_cells_receive_their_points_by_arithmetic():
    boundary = box(119.90, 31.00, 119.96, 31.04)
    cell = 2000.0
    grid = make_grid(boundary, cell, 32650)
    rng = np.random.default_rng(7)
    lon = rng.uniform(119.901, 119.959, 40)
    lat = rng.uniform(31.001, 31.039, 40)
    levels = rng.choice(["red", "orange", "yellow", "blue"], 40)
    pts = gpd.GeoDataFrame({"level": levels}, geometry=gpd.points_from_xy(lon, lat), crs=4326)
    out = aggregate(pts, grid).set_index("unit_code")
    # independent cell lookup: row/col from metric coordinates on the aligned grid
    xy = pts.to_crs(32650).geometry
    bx = gpd.GeoSeries([boundary], crs=4326).to_crs(32650).total_bounds
    x0, y1 = math.floor(bx[0] / cell) * cell, math.ceil(bx[3] / cell) * cell
    rows = np.floor((y1 - xy.y) / cell).astype(int)
    cols = np.floor((xy.x - x0) / cell).astype(int)
    codes = [f"G{r:04d}_{c:04d}" for r, c in zip(rows, cols, strict=True)]
    rank = {"red": 4, "orange": 3, "yellow": 2, "blue": 1}
    expected: dict[str, str] = {}
    for code, lv in zip(codes, levels, strict=True):
        if code not in expected or rank[lv] > rank[expected[code]]:
            expected[code] = lv
    assert out.attrs["points_outside"] == 0
    for code, lv in expected.items():
        assert out.loc[code, "level"] == lv
    assert out["n_points"].sum() == 40
    assert out.loc[~out.index.isin(list(expected)), "level"].isna().all()


def test_grid_rejects_bad_cell_and_crs():
    with pytest.raises(ValueError, match="cell_m=0"):
        make_grid(box(0, 0, 1, 1), 0)
    with pytest.raises(ValueError, match="not projected"):
        make_grid(box(0, 0, 1, 1), 1000, "EPSG:4326")
