"""Coverage, capacity and gaps on hand-built grids where the answers are computable by hand.

The grid: 5 × 5 nodes 1 km apart (in the CGCS2000 Gauss-Krüger zone CM 120°E), every road
at 15 km/h, so one block takes 240 s. The off-road speed is 4.5 km/h (1.25 m/s): a point
125 m off the road adds 100 s, 250 m adds 200 s. Default norms: emergency shelter 10 min,
short 15 min, long 30 min; fire 5 min; teams 30 min.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from emgis.geo.network import graph_from_lines
from emgis.geo.routing import nearest_facility_times, snap_facilities, travel_time_matrix
from emgis.geo.synthetic import synthetic_network
from emgis.layers.norms import Norm, default_norms
from emgis.shelters.capacity import assign_demand, shelter_assignment, shelter_capacity
from emgis.shelters.coverage import (
    coverage,
    demand_shelter_times,
    depot_coverage,
    fire_coverage,
    shelter_coverage,
    team_coverage,
)
from emgis.shelters.demand import snap_demand
from emgis.shelters.gaps import gap_tables, hazard_shelter_check, uncovered_clusters
from emgis.shelters.supply import depot_supply, need_items, team_personnel

GK = 4549  # CGCS2000 3-degree Gauss-Kruger CM 120E, false easting 500 000
X0, Y0 = 500_000.0, 3_320_000.0
BLOCK_S = 240.0
TOL = 3.0  # seconds: great-circle length of a projected 1 km block is ~0.1 % longer (< 0.3 s)


def xy(i: float, j: float) -> tuple[float, float]:
    return X0 + 1000.0 * i, Y0 + 1000.0 * j


def pt(i: float, j: float, dx_m: float = 0.0, dy_m: float = 0.0) -> shapely.Point:
    x, y = xy(i, j)
    return shapely.Point(x + dx_m, y + dy_m)


def to84(geoms) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=GK).to_crs(4326)


@pytest.fixture(scope="module")
def grid():
    lines = []
    for j in range(5):
        lines.append(shapely.LineString([xy(i, j) for i in range(5)]))
    for i in range(5):
        lines.append(shapely.LineString([xy(i, j) for j in range(5)]))
    gdf = gpd.GeoDataFrame({"speed": [15.0] * len(lines)}, geometry=lines, crs=GK)
    return graph_from_lines(gdf, speed_field="speed")


# demand: (code, name, point, population); township = first 9 digits
VILLAGES = [
    ("330522001001", "A", pt(0, 0), 1000.0),
    ("330522001002", "B", pt(1, 1), 2000.0),
    ("330522001003", "C", pt(2, 1), 3000.0),
    ("330522002001", "D", pt(0, 3), 4000.0),
    ("330522002002", "E", pt(2, 0, dy_m=-125.0), 5000.0),  # 125 m south of N(2,0): +100 s
    ("330522002003", "F", pt(4, 4), 600.0),
    ("330522003001", "G", pt(4, 0), 700.0),
]


@pytest.fixture(scope="module")
def demand(grid):
    d = gpd.GeoDataFrame({
        "code": pd.array([v[0] for v in VILLAGES], dtype="str"),
        "name": pd.array([v[1] for v in VILLAGES], dtype="str"),
        "population": [v[3] for v in VILLAGES],
        "placement": pd.array(["point"] * len(VILLAGES), dtype="str"),
    }, geometry=to84([v[2] for v in VILLAGES]), crs=4326)
    return snap_demand(grid, d)


def shelters_frame(with_long: bool = True):
    rows = [
        (1, "emergency", pt(0, 0), 1500.0, None),
        (3, "short", pt(0, 4, dx_m=-250.0), None, 9000.0),  # 250 m west of N(0,4): +200 s
    ]
    if with_long:
        rows.insert(1, (2, "long", pt(4, 4), 20000.0, None))
    return gpd.GeoDataFrame({
        "id": [r[0] for r in rows],
        "duration_class": pd.array([r[1] for r in rows], dtype="str"),
        "capacity": [r[3] for r in rows],
        "effective_area_m2": [r[4] for r in rows],
    }, geometry=to84([r[2] for r in rows]), crs=4326)


def by_name(df, demand):
    return df.set_axis(demand["name"].tolist())


# --- coverage -------------------------------------------------------------------------------------

def test_snap_times_of_the_grid(grid, demand):
    d = by_name(demand, demand)
    assert d.loc["A", "offroad_s"] == pytest.approx(0.0, abs=1e-6)
    assert d.loc["E", "offroad_s"] == pytest.approx(100.0, abs=0.5)
    assert np.median(grid.edge_time_s) == pytest.approx(BLOCK_S, abs=TOL)


def test_shelter_coverage_any_class_within_its_own_standard(grid, demand):
    cov = by_name(shelter_coverage(grid, demand, shelters_frame()), demand)
    # A: emergency shelter 1 at its node
    assert cov.loc["A", "time_s"] == pytest.approx(0.0, abs=TOL)
    assert cov.loc["A", "facility_id"] == 1 and cov.loc["A", "covered_by_id"] == 1
    # B: 2 blocks to shelter 1 = 480 s <= 600
    assert cov.loc["B", "time_s"] == pytest.approx(2 * BLOCK_S, abs=TOL)
    assert cov.loc["B", "covered"]
    # C: nearest is the emergency shelter at 720 s > 600 (fails), but the long-term shelter
    # is 5 blocks = 1200 s <= 1800: covered by shelter 2
    assert cov.loc["C", "facility_id"] == 1
    assert cov.loc["C", "time_s"] == pytest.approx(3 * BLOCK_S, abs=TOL)
    assert cov.loc["C", "class"] == "emergency" and cov.loc["C", "standard_s"] == 600.0
    assert cov.loc["C", "covered"] and cov.loc["C", "covered_by_id"] == 2
    assert cov.loc["C", "slack_s"] == pytest.approx(1800 - 5 * BLOCK_S, abs=TOL)
    assert cov.loc["C", "time_s.long"] == pytest.approx(5 * BLOCK_S, abs=TOL)
    # D: short shelter 3: one block + 200 s off-road = 440 s <= 900
    assert cov.loc["D", "facility_id"] == 3 and cov.loc["D", "class"] == "short"
    assert cov.loc["D", "time_s"] == pytest.approx(BLOCK_S + 200, abs=TOL)
    # E: 2 blocks + 100 s off-road = 580 s <= 600
    assert cov.loc["E", "time_s"] == pytest.approx(2 * BLOCK_S + 100, abs=TOL)
    assert cov.loc["E", "covered"] and cov.loc["E", "covered_by_id"] == 1
    assert cov["covered"].all()
    # without the long-term shelter, C, F and G are uncovered
    cov2 = by_name(shelter_coverage(grid, demand, shelters_frame(with_long=False)), demand)
    assert cov2.index[~cov2["covered"]].tolist() == ["C", "F", "G"]
    assert cov2.loc["F", "time_s"] == pytest.approx(4 * BLOCK_S + 200, abs=TOL)
    assert cov2.loc["F", "facility_id"] == 3
    assert pd.isna(cov2.loc["F", "covered_by_id"]) and cov2.loc["F", "covered_by"] == -1


def test_fire_and_team_coverage_from_the_base(grid, demand):
    teams = gpd.GeoDataFrame({
        "id": [10, 11],
        "team_type": pd.array(["fire_station", "comprehensive"], dtype="str"),
        "personnel": [2, 30],
    }, geometry=to84([pt(0, 0), pt(4, 4)]), crs=4326)
    fire = by_name(fire_coverage(grid, demand, teams), demand)
    # 5 min = 300 s: only A (0 s); B is 480 s; the comprehensive team is no fire station
    assert fire.index[fire["covered"]].tolist() == ["A"]
    assert (fire["facility_id"] == 10).all()
    assert fire.loc["G", "time_s"] == pytest.approx(4 * BLOCK_S, abs=TOL)
    team = by_name(team_coverage(grid, demand, teams, team_types=["comprehensive"]), demand)
    # 30 min = 1800 s from (4,4): A is 8 blocks = 1920 s; E is 6 blocks + 100 s = 1540 s
    assert team.index[~team["covered"]].tolist() == ["A"]
    assert team.loc["E", "time_s"] == pytest.approx(6 * BLOCK_S + 100, abs=TOL)
    all_teams = team_coverage(grid, demand, teams)
    assert all_teams["covered"].all()
    # personnel: 15,700 people / 1000 × 0.4 → 7 firefighters needed, 2 there
    tp = team_personnel(fire, teams)
    assert tp.loc[0, "id"] == 10
    assert tp.loc[0, "population_served"] == pytest.approx(demand["population"].sum())
    assert tp.loc[0, "required"] == np.ceil(demand["population"].sum() * 0.4 / 1000)
    assert tp.loc[0, "shortfall"] == tp.loc[0, "required"] - 2


def test_direction_matters_on_a_one_way_road():
    # a ring 0 -> 1 -> 2 -> 0 of one-way roads, 1 km each; facility at node 0
    a, b, c = xy(0, 0), xy(1, 0), xy(1, 1)
    lines = [shapely.LineString([a, b]), shapely.LineString([b, c]), shapely.LineString([c, a])]
    gdf = gpd.GeoDataFrame({"speed": [15.0] * 3, "oneway": ["yes"] * 3}, geometry=lines, crs=GK)
    g = graph_from_lines(gdf, speed_field="speed", oneway_field="oneway")
    dem = snap_demand(g, gpd.GeoDataFrame({"code": pd.array(["330522001001"], dtype="str"),
                                           "population": [1.0]},
                                          geometry=to84([shapely.Point(*b)]), crs=4326))
    fac = gpd.GeoDataFrame({"id": [1], "team_type": pd.array(["fire_station"], dtype="str"),
                            "duration_class": pd.array(["long"], dtype="str")},
                           geometry=to84([shapely.Point(*a)]), crs=4326)
    to_shelter = shelter_coverage(g, dem, fac)  # b -> c -> a: 1 + sqrt(2) km
    from_station = fire_coverage(g, dem, fac)  # a -> b: 1 km
    assert from_station["time_s"].iloc[0] == pytest.approx(BLOCK_S, abs=TOL)
    assert to_shelter["time_s"].iloc[0] == pytest.approx(BLOCK_S * (1 + np.sqrt(2)), abs=TOL)


def test_depot_coverage_by_level_and_stock_against_needs(grid, demand):
    depots = gpd.GeoDataFrame({
        "id": [20, 21], "level": pd.array(["county", "village"], dtype="str"),
    }, geometry=to84([pt(3, 2), pt(0, 0)]), crs=4326)
    norms = default_norms().with_overrides(
        [Norm("depot.delivery_h.village", 0.15, "h", "", "", "L")])
    cov = by_name(depot_coverage(grid, demand, depots, norms=norms), demand)
    # nearest depot: C (2 blocks to 20 vs 3 to 21), F and G go to 20; A, B, D, E to 21
    assert cov["facility_id"].tolist() == [21, 21, 20, 21, 21, 20, 20]
    # village depot: 0.15 h = 540 s; E is 580 s from it but the county depot (6 h) covers it
    assert cov.loc["E", "covered_by_id"] == 20 and cov.loc["B", "covered_by_id"] == 21
    assert cov["covered"].all()
    stock = pd.DataFrame({"depot_id": [21, 21, 21], "item": ["方便食品", "饮用水", "帐篷"],
                          "quantity": [1000.0, 300_000.0, 50.0], "unit": ["kg", "L", "顶"]})
    sup = depot_supply(cov, stock, norms)
    needs = need_items(norms).set_index("item")["per_person"]
    pop21 = 1000 + 2000 + 4000 + 5000
    pop20 = 3000 + 600 + 700
    r = sup.set_index(["depot_id", "item"])
    assert r.loc[(21, "rice"), "population_served"] == pop21
    assert r.loc[(21, "rice"), "need"] == pytest.approx(pop21 * needs["rice"])
    assert r.loc[(21, "rice"), "shortfall"] == pytest.approx(pop21 * 2.8 - 1000)
    assert r.loc[(21, "drinking_water"), "shortfall"] == 0.0
    assert r.loc[(20, "rice"), "shortfall"] == pytest.approx(pop20 * 2.8)
    assert sup.attrs["unmatched_items"] == ["帐篷"]
    assert sup["shortfall"].is_monotonic_decreasing


# --- independent check ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["shelters", "fire"])
def test_coverage_agrees_with_a_dense_travel_time_matrix(kind):
    g = synthetic_network("county", seed=3, n_nodes=1500)
    rng = np.random.default_rng(5)
    lon0, lat0 = g.node_lon.mean(), g.node_lat.mean()
    n_d, n_f = 60, 7
    dl = rng.uniform(-0.03, 0.03, (2, n_d))
    fl = rng.uniform(-0.03, 0.03, (2, n_f))
    dem = gpd.GeoDataFrame({"code": pd.array([f"330522{i:06d}" for i in range(n_d)], dtype="str"),
                            "population": rng.integers(10, 500, n_d).astype(float)},
                           geometry=gpd.points_from_xy(lon0 + dl[0], lat0 + dl[1]), crs=4326)
    dem = snap_demand(g, dem)
    classes = np.array(["emergency", "short", "medium", "long", "short", "long", "emergency"])
    fac = gpd.GeoDataFrame({"id": np.arange(100, 100 + n_f),
                            "duration_class": pd.array(classes, dtype="str"),
                            "team_type": pd.array(["fire_station"] * n_f, dtype="str")},
                           geometry=gpd.points_from_xy(lon0 + fl[0], lat0 + fl[1]), crs=4326)
    cov = coverage(g, dem, fac, kind)
    f = snap_facilities(g, fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    dn = dem["node"].to_numpy()
    if kind == "shelters":
        T = travel_time_matrix(g, dn, f.nodes).to_dense()
        std = np.array([{"emergency": 10, "short": 15, "medium": 20, "long": 30}[c]
                        for c in classes]) * 60.0
    else:
        T = travel_time_matrix(g, f.nodes, dn).to_dense().T
        std = np.full(n_f, 300.0)
    T = T + dem["offroad_s"].to_numpy()[:, None] + f.offset_s[None, :]
    near = T.min(axis=1)
    np.testing.assert_allclose(cov["time_s"].to_numpy(), near, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(T[np.arange(n_d), cov["facility"].to_numpy()], near, rtol=1e-9,
                               atol=1e-6)
    expect = (std[None, :] >= T).any(axis=1)
    np.testing.assert_array_equal(cov["covered"].to_numpy(), expect)
    assert 0 < expect.sum() <= n_d
    # the sparse demand x shelter matrix used for assignment holds the same times
    if kind == "shelters":
        st = demand_shelter_times(g, dem, fac, cutoff_s=1e9).to_dense()
        np.testing.assert_allclose(st, T, rtol=1e-9, atol=1e-6)


# --- capacity -------------------------------------------------------------------------------------

def test_shelter_capacity_given_area_or_unknown():
    s = pd.DataFrame({"id": [1, 2, 3, 4],
                      "duration_class": pd.array(["emergency", "short", "long", "medium"],
                                                 dtype="str"),
                      "capacity": [100.0, None, None, None],
                      "effective_area_m2": [None, 9001.0, 450.0, None],
                      "occupancy": [30, 0, 0, 0]})
    cap = shelter_capacity(s)
    assert cap["capacity"].tolist()[:3] == [100.0, 4500.0, 100.0]
    assert np.isnan(cap["capacity"].iloc[3])
    assert cap["capacity_source"].tolist() == ["given", "area", "area", "unknown"]
    assert cap["available"].tolist()[:3] == [70.0, 4500.0, 100.0]
    assert "unknown capacity: 4" in cap.attrs["notes"][0]


def test_assignment_nearest_first_when_capacity_allows():
    times = np.array([[100.0, 300.0], [200.0, 250.0], [np.inf, 400.0]])
    pop = np.array([50.0, 60.0, 70.0])
    a = assign_demand(times, pop, [1000.0, 1000.0], max_time_s=500)
    np.testing.assert_allclose(a.flows.toarray(), [[50, 0], [60, 0], [0, 70]], atol=1e-6)
    assert a.unserved == pytest.approx(0.0, abs=1e-6)
    assert a.shelters["overload"].tolist() == [0.0, 0.0]


def test_assignment_respects_capacity_and_reports_overload():
    times = np.array([[100.0, 300.0], [200.0, 250.0], [np.inf, 400.0]])
    pop = np.array([50.0, 60.0, 70.0])
    a = assign_demand(times, pop, [80.0, 200.0], max_time_s=500)
    # the cheapest move off the full shelter 0 is demand 1 (50 s/person more, not 200)
    np.testing.assert_allclose(a.flows.toarray(), [[50, 0], [30, 30], [0, 70]], atol=1e-6)
    assert a.shelters["nearest_load"].tolist() == [110.0, 70.0]
    assert a.shelters["overload"].tolist() == [30.0, 0.0]
    assert (a.shelters["load"] <= np.array([80, 200]) + 1e-6).all()
    # too little capacity: 130 places for 180 persons
    b = assign_demand(times, pop, [80.0, 50.0], max_time_s=500)
    assert b.served == pytest.approx(130.0)
    np.testing.assert_allclose(b.demand["unserved"], [0, 0, 50], atol=1e-6)
    assert b.unserved == pytest.approx(b.total - b.flows.sum())
    assert b.demand["unserved"].sum() == pytest.approx(b.total - b.served)
    assert b.person_seconds == pytest.approx(50 * 100 + 30 * 200 + 30 * 250 + 20 * 400)
    # a time limit per shelter: shelter 1 only within 260 s → demand 2 cannot reach any
    c = assign_demand(times, pop, [1000.0, 1000.0], max_time_s=[500, 260])
    assert c.demand["reachable"].tolist() == [True, True, False]
    assert c.demand["unserved"].tolist()[2] == 70.0


def test_assignment_unknown_capacity():
    times = np.array([[100.0, 300.0], [200.0, 250.0], [np.inf, 400.0]])
    pop = np.array([50.0, 60.0, 70.0])
    z = assign_demand(times, pop, [np.nan, 200.0])
    np.testing.assert_allclose(z.flows.toarray(), [[0, 50], [0, 60], [0, 70]], atol=1e-6)
    assert np.isnan(z.shelters["overload"].iloc[0])
    u = assign_demand(times, pop, [np.nan, 10.0], unknown_capacity="unlimited")
    np.testing.assert_allclose(u.flows.toarray()[:, 0], [50, 60, 0], atol=1e-6)
    assert u.served == pytest.approx(120.0)


def test_unknown_capacity_is_neither_a_place_nor_a_shortage():
    """Real shelters come without capacity: their people were 'unserved' (unknown as zero).
    Now people within reach of a shelter of unknown capacity who get no known place are
    'capacity_unknown'; only those with no shelter at all in reach are unserved."""
    times = np.array([[100.0, 300.0], [200.0, 250.0], [np.inf, 400.0]])
    pop = np.array([50.0, 60.0, 70.0])
    a = assign_demand(times, pop, [np.nan, 10.0])
    assert a.served == pytest.approx(10.0)
    assert a.demand["capacity_unknown"].iloc[2] == 0.0
    assert a.capacity_unknown == pytest.approx(100.0)   # demand 0 and 1 reach shelter 0
    assert a.unserved == pytest.approx(70.0)            # demand 2 reaches only the full one
    assert a.served + a.capacity_unknown + a.unserved == pytest.approx(a.total)
    none = assign_demand(times, pop, [np.nan, np.nan])
    assert (none.served, none.capacity_unknown, none.unserved) == (0.0, 180.0, 0.0)
    assert any("unknown capacity" in n for n in none.notes)
    z = assign_demand(times, pop, [np.nan, np.nan], unknown_capacity="zero")
    assert (z.served, z.capacity_unknown, z.unserved) == (0.0, 0.0, 180.0)


def test_assignment_on_the_grid_within_the_standard(grid, demand):
    sh = shelters_frame()
    cap = shelter_capacity(sh)
    times = demand_shelter_times(grid, demand, sh)
    std = sh["duration_class"].map({"emergency": 600.0, "short": 900.0, "long": 1800.0}).to_numpy()
    a = assign_demand(times, demand["population"], cap["available"], max_time_s=std)
    # shelter 1 (emergency, 1500) is nearest for A, B, E (8000 people): 6500 overload
    assert a.shelters["nearest_load"].tolist() == [8000.0, 3000.0 + 600 + 700, 4000.0]
    assert a.shelters["overload"].tolist() == [6500.0, 0.0, 0.0]
    assert a.shelters["load"].iloc[0] == pytest.approx(1500.0)
    assert (a.shelters["load"].to_numpy() <= cap["available"].to_numpy() + 1e-6).all()
    assert a.unserved == pytest.approx(a.total - a.flows.sum())
    # B (480 s) and E (580 s) can reach shelter 2 (long) within 1800 s; A can't (1920 s),
    # nor shelter 3 (1160 s > 900): A keeps its place at shelter 1
    u = a.demand.set_axis(demand["name"].tolist())
    assert u.loc["A", "unserved"] == pytest.approx(0.0, abs=1e-6)
    assert a.served == pytest.approx(a.total)
    # the wired-up version gives the same loads and standards; with a 50 % share the
    # emergency shelter (1500) is still overloaded by nearest assignment (4000 > 1500)
    b = shelter_assignment(grid, demand, sh)
    np.testing.assert_allclose(b.shelters["load"], a.shelters["load"], atol=1e-6)
    assert b.shelters["standard_s"].tolist() == [600.0, 1800.0, 900.0]
    assert b.shelters["id"].tolist() == [1, 2, 3]
    h = shelter_assignment(grid, demand, sh, share=0.5)
    assert h.shelters["overload"].iloc[0] == pytest.approx(2500.0)
    assert h.total == pytest.approx(demand["population"].sum() / 2)


# --- gaps -----------------------------------------------------------------------------------------

def test_gap_tables_by_village_and_township(grid, demand):
    cov = shelter_coverage(grid, demand, shelters_frame(with_long=False))
    unserved = np.array([0, 500, 3000, 0, 0, 600, 700], dtype=float)
    v, t = gap_tables(demand, cov["covered"], unserved)
    assert v["code"].tolist()[:3] == ["330522001003", "330522003001", "330522002003"]
    vv = v.set_index("name")
    assert vv.loc["C", "uncovered"] == 3000 and vv.loc["C", "underserved"] == 0
    assert vv.loc["B", "uncovered"] == 0 and vv.loc["B", "underserved"] == 500
    tt = t.set_index("township")
    assert tt.loc["330522001", "gap"] == 3500 and tt.loc["330522001", "villages_with_gap"] == 2
    assert tt.loc["330522002", "gap"] == 600 and tt.loc["330522003", "gap"] == 700
    for col in ("population", "uncovered", "underserved", "gap"):
        assert t[col].sum() == pytest.approx(v[col].sum())
    assert t["villages"].sum() == len(demand)
    assert t["gap"].is_monotonic_decreasing and v["gap"].is_monotonic_decreasing
    assert v["gap"].sum() == pytest.approx(unserved.sum())


def test_uncovered_clusters_contain_the_uncovered_points(demand):
    covered = demand["name"].isin(["A", "B", "D", "E"]).to_numpy()  # C, F, G uncovered
    cl = uncovered_clusters(demand, covered, radius_m=600.0)
    # F (4,4) and G (4,0) are 4 km apart and 2.8+ km from C: three clusters
    assert len(cl) == 3
    assert cl["population"].tolist() == [3000.0, 700.0, 600.0]
    assert cl["codes"].tolist()[0] == "330522001003"
    unc = demand[~covered]
    assert all(cl.geometry.contains(p).any() for p in unc.geometry)
    assert not any(cl.geometry.contains(p).any() for p in demand[covered].geometry)
    big = uncovered_clusters(demand, covered, radius_m=2100.0)  # F-G 4 km apart merge
    assert big["population"].sum() == pytest.approx(4300.0)
    assert len(big) < 3
    none = uncovered_clusters(demand, np.ones(len(demand), bool))
    assert len(none) == 0


def test_hazard_zone_check_flags_exactly_the_right_villages(grid, demand):
    cov = shelter_coverage(grid, demand, shelters_frame(with_long=False))  # C, F, G uncovered

    def square(i, j, half=300.0, dx=0.0):
        x, y = xy(i, j)
        return shapely.box(x + dx - half, y - half, x + dx + half, y + half)

    zones = gpd.GeoDataFrame({
        "hazard_type": pd.array(["flood", "landslide", "flood", "earthquake"], dtype="str"),
        "level": pd.array(["high", "medium", "low", "medium"], dtype="str"),
    }, geometry=gpd.GeoSeries([square(2, 1), square(0, 0), square(4, 0), square(4, 4, dx=-900)],
                              crs=GK).to_crs(4326), crs=4326)
    fail = hazard_shelter_check(demand, cov, zones)
    # C (high flood, uncovered) fails; A (medium, covered) passes; G (low zone) not checked;
    # F's point is outside the medium zone 900 m west of it
    assert fail["code"].tolist() == ["330522001003"]
    assert fail["hazard_types"].tolist() == ["flood"]
    assert fail.attrs["in_hazard"] == 2
    # with village polygons: F's 1.4 km square reaches the zone west of it
    vill = gpd.GeoDataFrame({"code": pd.array(demand["code"].tolist(), dtype="str")},
                            geometry=gpd.GeoSeries([square(*divmod_xy(p), half=700.0)
                                                    for p in demand.to_crs(GK).geometry], crs=GK),
                            crs=GK)
    fail2 = hazard_shelter_check(demand, cov, zones, villages=vill)
    assert fail2["code"].tolist() == ["330522001003", "330522002003"]
    assert set(fail2["hazard_levels"]) == {"high", "medium"}


def divmod_xy(p):
    return (round((p.x - X0) / 1000.0, 3), round((p.y - Y0) / 1000.0, 3))


def test_nearest_facility_times_includes_facility_snap(grid):
    f = snap_facilities(grid,
                        *np.array(to84([pt(0, 4, dx_m=-250.0)]).get_coordinates().to_numpy().T))
    t, _ = nearest_facility_times(grid, f)
    assert f.offset_s[0] == pytest.approx(200.0, abs=0.5)
    assert t.min() == pytest.approx(200.0, abs=0.5)


# --- PostGIS readers ------------------------------------------------------------------------------

@pytest.mark.postgis
def test_store_reads_usable_facilities_and_feeds_coverage(db, grid, demand):
    import sqlalchemy as sa

    from emgis.shelters.store import (
        read_depot_stock,
        read_depots,
        read_hazard_zones,
        read_shelters,
        read_team_bases,
    )

    def wkt(g):
        return to84([g]).iloc[0].wkt

    with db.engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO shelters (ext_id, name, duration_class, capacity, capacity_source, "
            "status, occupancy, effective_area_m2, geom) VALUES "
            "('S1', '一号', 'emergency', 1500, 'given', 'open', 0, NULL, "
            "ST_GeomFromText(:a, 4326)), "
            "('S2', '二号', 'long', NULL, 'unknown', 'open', 0, NULL, ST_GeomFromText(:b, 4326)), "
            "('S3', '三号', 'short', NULL, 'unknown', 'closed', 0, NULL, "
            "ST_GeomFromText(:c, 4326))"),
            {"a": wkt(pt(0, 0)), "b": wkt(pt(4, 4)), "c": wkt(pt(0, 4))})
        c.execute(sa.text(
            "INSERT INTO depots (ext_id, name, level, status, geom) VALUES "
            "('CK1', '县库', 'county', 'active', ST_GeomFromText(:a, 4326)), "
            "('CK2', '村点', 'village', 'inactive', ST_GeomFromText(:b, 4326))"),
            {"a": wkt(pt(3, 2)), "b": wkt(pt(0, 0))})
        dep = c.execute(sa.text("SELECT id FROM depots WHERE ext_id = 'CK1'")).scalar()
        c.execute(sa.text("INSERT INTO depot_stock (depot_id, item, quantity, unit) VALUES "
                          "(:d, '饮用水', 1000, 'L')"), {"d": dep})
        c.execute(sa.text(
            "INSERT INTO team_bases (ext_id, name, team_type, personnel, status, geom) VALUES "
            "('T1', '消防站', 'fire_station', 12, 'available', ST_GeomFromText(:a, 4326)), "
            "('T2', '综合队', 'comprehensive', 30, 'deployed', ST_GeomFromText(:b, 4326))"),
            {"a": wkt(pt(0, 0)), "b": wkt(pt(4, 4))})
        c.execute(sa.text(
            "INSERT INTO hazard_zones (hazard_type, level, geom) VALUES "
            "('flood', 'high', ST_Multi(ST_GeomFromText(:a, 4326)))"),
            {"a": to84([shapely.box(*xy(1.7, 0.7), *xy(2.3, 1.3))]).iloc[0].wkt})
    sh = read_shelters(db.engine)
    assert sh["ext_id"].tolist() == ["S1", "S2"]  # the closed one is left out
    assert np.isnan(sh["capacity"].iloc[1]) and sh.crs.to_epsg() == 4326
    assert read_shelters(db.engine, usable_only=False).shape[0] == 3
    assert read_depots(db.engine)["level"].tolist() == ["county"]
    assert read_depot_stock(db.engine)["item"].tolist() == ["饮用水"]
    teams = read_team_bases(db.engine)
    assert teams["team_type"].tolist() == ["fire_station"]
    hz = read_hazard_zones(db.engine, levels=["high", "medium"])
    cov = by_name(shelter_coverage(grid, demand, sh), demand)
    assert cov.loc["C", "covered_by_id"] == sh["id"].iloc[1]  # the long-term shelter
    assert cov["covered"].all()
    assert hazard_shelter_check(demand, cov, hz).empty
    fire = fire_coverage(grid, demand, teams)
    assert fire["covered"].sum() == 1
    assert shelter_capacity(sh)["capacity_source"].tolist() == ["given", "unknown"]


@pytest.mark.postgis
def test_load_coverage_inputs_from_the_database(db, grid, tmp_path):
    import sqlalchemy as sa

    from emgis.geo.store import save_network
    from emgis.shelters.store import load_coverage_inputs

    save_network(db.engine, grid, home=tmp_path)
    rows = [{"code": code, "name": name, "wkt": to84([p]).iloc[0].wkt, "pop": pop}
            for code, name, p, pop in VILLAGES]
    with db.engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO admin_units (code, name, level, parent_code, placement, point) VALUES "
            "(:code, :name, 'village', left(:code, 9) || '000', 'point', "
            "ST_GeomFromText(:wkt, 4326))"), rows)
        c.execute(sa.text("INSERT INTO population (code, year, population) "
                          "VALUES (:code, 2020, :pop)"), rows)
        c.execute(sa.text(
            "INSERT INTO shelters "
            "(ext_id, name, duration_class, capacity, capacity_source, status, geom) "
            "VALUES ('S1', '一号', 'emergency', 1500, 'given', 'open', ST_GeomFromText(:a, 4326))"),
            {"a": to84([pt(0, 0)]).iloc[0].wkt})
    inp = load_coverage_inputs(db.engine, home=tmp_path)
    assert inp.graph.n_nodes == grid.n_nodes
    assert inp.demand["code"].tolist() == [v[0] for v in VILLAGES]
    assert inp.demand["population"].sum() == pytest.approx(sum(v[3] for v in VILLAGES))
    assert inp.demand["offroad_s"].max() == pytest.approx(100.0, abs=0.5)
    cov = by_name(shelter_coverage(inp.graph, inp.demand, inp.shelters), inp.demand)
    assert cov.index[cov["covered"]].tolist() == ["A", "B", "E"]
    assert inp.depots.empty and inp.team_bases.empty and inp.hazard_zones.empty


def test_unplaced_villages_and_no_facilities_are_uncovered(grid, demand):
    d = demand.copy()
    d.loc[d.index[1], "node"] = -1  # a code-only village: no position
    d.loc[d.index[1], "offroad_s"] = np.nan
    cov = shelter_coverage(grid, d, shelters_frame())
    assert not cov["covered"].iloc[1] and np.isinf(cov["time_s"].iloc[1])
    assert cov["facility"].iloc[1] == -1 and pd.isna(cov["facility_id"].iloc[1])
    assert cov["covered"].drop(index=d.index[1]).all()
    none = shelter_coverage(grid, demand, shelters_frame().iloc[:0])
    assert not none["covered"].any() and np.isinf(none["time_s"]).all()
    with pytest.raises(ValueError, match="no norm"):
        shelter_coverage(grid, demand, shelters_frame().assign(
            duration_class=pd.array(["emergency", "forever", "short"], dtype="str")))


def test_far_and_island_demand_points_are_reported():
    """A demand point far from any road, or reaching only an island of the network, was routed
    silently; its time rested on a long off-road walk or a road piece cut off from the rest."""
    from types import SimpleNamespace

    from emgis.shelters.store import snap_notes

    graph = SimpleNamespace(component=np.array([0, 0, 0, 1, 1]))
    demand = pd.DataFrame({"code": ["A", "B", "C"], "population": [100.0, 200.0, 300.0],
                           "snap_m": [20.0, 2500.0, 30.0], "node": [0, 1, 4]})
    notes = snap_notes(graph, demand)
    assert any("1 demand point(s) (200 people) are more than 1,000 m" in n and "B 2,500 m" in n
               for n in notes)
    assert any("1 demand point(s) (300 people) reach only a part" in n for n in notes)
    assert snap_notes(graph, demand.iloc[:1]) == []
