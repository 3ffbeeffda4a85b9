"""Routing: snapping, nearest-facility times, matrices, nearest-k routes, service areas,
closures."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from emgis.geo.compiled import CompiledGraph, RoadEdges
from emgis.geo.network import graph_from_lines
from emgis.geo.routing import (
    Facilities,
    FacilityTrees,
    closures_from_polygons,
    nearest_facility_times,
    nearest_k,
    service_areas,
    snap,
    snap_facilities,
    travel_time_matrix,
)
from emgis.geo.synthetic import synthetic_network
from emgis.layers.norms import default_norms

DEG_LAT_M = 111_195.0  # metres per degree of latitude on osmnx's great-circle sphere


@pytest.fixture(scope="module")
def county():
    g = synthetic_network("county", seed=11, n_nodes=5_000)
    return g, g.to_networkx()


def _ladder(*, oneway_top=False):
    """Two parallel east-west roads 0.001 deg apart, joined at both ends and in the middle.

    Nodes: bottom 0-1-2 (y=30.000), top 3-4-5 (y=30.001); rungs 0-3, 1-4, 2-5.
    """
    lon = np.array([120.0, 120.002, 120.004] * 2)
    lat = np.array([30.0] * 3 + [30.001] * 3)
    u = np.array([0, 1, 3, 4, 0, 1, 2])
    v = np.array([1, 2, 4, 5, 3, 4, 5])
    oneway = np.array([False, False, oneway_top, oneway_top, False, False, False])
    edges = RoadEdges(u, v, highway=np.zeros(7, int), highway_names=["residential"],
                      speed_kmh=np.full(7, 36.0), oneway=oneway)
    return CompiledGraph.from_edges(lon, lat, edges)


def _nx_times(G, sources, reverse=False, cutoff=None):
    H = G.reverse(copy=False) if reverse else G
    d = nx.multi_source_dijkstra_path_length(H, set(int(s) for s in sources), cutoff=cutoff,
                                             weight="travel_time")
    out = np.full(G.number_of_nodes(), np.inf)
    out[list(d)] = list(d.values())
    return out


# --- agreement with networkx on the same graph --------------------------------------------------

@pytest.mark.parametrize("direction", ["from_facility", "to_facility"])
def test_nearest_facility_times_agree_with_networkx(county, direction):
    g, G = county
    rng = np.random.default_rng(0)
    fac = rng.choice(np.flatnonzero(~g.orphan), 12, replace=False)
    times, which = nearest_facility_times(g, fac, cutoff_s=900, direction=direction)
    ref = _nx_times(G, fac, reverse=direction == "to_facility", cutoff=900)
    assert np.array_equal(np.isfinite(times), np.isfinite(ref))
    ok = np.isfinite(ref)
    assert np.abs(times[ok] - ref[ok]).max() < 1.0
    # "which" is a facility at exactly that time
    assert (which[~ok] == -1).all()
    per_fac = np.stack([_nx_times(G, [f], reverse=direction == "to_facility") for f in fac])
    assert np.allclose(per_fac[which[ok], np.flatnonzero(ok)], times[ok], atol=1e-6)


def test_travel_time_matrix_agrees_with_networkx(county):
    g, G = county
    rng = np.random.default_rng(1)
    main = np.flatnonzero(~g.orphan)
    o, d = rng.choice(main, 7, replace=False), rng.choice(main, 40, replace=False)
    for orig, dest in ((o, d), (d, o)):  # both search sides
        m = travel_time_matrix(g, orig, dest, cutoff_s=1200)
        assert m.shape == (orig.size, dest.size)
        dense = m.to_dense()
        for i, s in enumerate(orig):
            ref = nx.single_source_dijkstra_path_length(G, int(s), cutoff=1200,
                                                        weight="travel_time")
            expect = np.array([ref.get(int(t), np.inf) for t in dest])
            assert np.array_equal(np.isfinite(dense[i]), np.isfinite(expect))
            fin = np.isfinite(expect)
            assert np.allclose(dense[i][fin], expect[fin], atol=1e-6)
    assert m.to_csr().shape == m.shape


def test_nearest_k_matches_networkx_routes(county):
    g, G = county
    rng = np.random.default_rng(2)
    fac_nodes = rng.choice(np.flatnonzero(~g.orphan), 30, replace=False)
    fac = snap_facilities(g, g.node_lon[fac_nodes], g.node_lat[fac_nodes])
    assert np.array_equal(fac.nodes, fac_nodes) and np.allclose(fac.offset_s, 0, atol=1e-6)
    here = rng.choice(np.flatnonzero(~g.orphan))
    lon, lat = g.node_lon[here] + 0.0005, g.node_lat[here]
    s = snap(g, lon, lat)
    routes = nearest_k(g, (lon, lat), fac, k=3)
    assert len(routes) == 3
    ref = {f: nx.shortest_path_length(G, int(n), s.node, weight="travel_time")
           for f, n in enumerate(fac_nodes) if nx.has_path(G, int(n), s.node)}
    best = sorted(ref.items(), key=lambda kv: kv[1])[:3]
    assert [r.facility for r in routes] == [f for f, _ in best]
    for r, (_, t) in zip(routes, best, strict=True):
        assert abs(r.time_s - (t + s.time_s)) < 1.0
        # the geometry runs from the facility to the incident's node along the roads
        assert r.coords[0] == pytest.approx([g.node_lon[r.node], g.node_lat[r.node]])
        assert r.coords[-1] == pytest.approx([g.node_lon[s.node], g.node_lat[s.node]])
        xy = np.asarray(r.coords)
        seg = np.hypot(np.diff(xy[:, 0]) * np.cos(np.radians(xy[0, 1])),
                       np.diff(xy[:, 1])) * DEG_LAT_M
        assert abs(seg.sum() - r.length_m) < 0.01 * r.length_m + 1
    # the other direction: incident to facility (one-way streets make it differ)
    back = nearest_k(g, (lon, lat), fac, k=3, direction="to_facility")
    assert back[0].coords[0] == pytest.approx([g.node_lon[s.node], g.node_lat[s.node]])


@pytest.mark.parametrize("direction", ["from_facility", "to_facility"])
def test_stored_trees_give_the_same_routes_as_searching(county, direction):
    g, _ = county
    rng = np.random.default_rng(5)
    nodes = rng.choice(np.flatnonzero(~g.orphan), 40, replace=False)
    fac = snap_facilities(g, g.node_lon[nodes] + 0.0002, g.node_lat[nodes])  # off-road offsets too
    trees = FacilityTrees(g, direction)
    for here in rng.choice(np.flatnonzero(~g.orphan), 25, replace=False):
        lon, lat = g.node_lon[here] + 0.0003, g.node_lat[here] - 0.0002
        searched = nearest_k(g, (lon, lat), fac, k=4, direction=direction)
        stored = nearest_k(g, (lon, lat), fac, k=4, direction=direction, trees=trees)
        assert [r.facility for r in stored] == [r.facility for r in searched]
        for a, b in zip(stored, searched, strict=True):
            assert a.time_s == pytest.approx(b.time_s, abs=1e-6)
            assert a.length_m == pytest.approx(b.length_m, rel=1e-9, abs=1e-6)
            assert a.coords[0] == b.coords[0] and a.coords[-1] == b.coords[-1]
    assert trees.grown == len(set(fac.nodes.tolist()))  # grown once, then read


def test_stored_trees_within_their_budget_and_never_with_closures(county):
    g, _ = county
    nodes = np.flatnonzero(~g.orphan)[:6]
    fac = snap_facilities(g, g.node_lon[nodes], g.node_lat[nodes])
    small = FacilityTrees(g, "from_facility", max_bytes=12 * g.n_nodes * 4)  # room for 4 trees
    assert small.lookup(fac.nodes) is None  # 6 do not fit: the caller searches instead
    assert small.lookup(fac.nodes[:3]) is not None and len(small) == 3
    assert small.lookup(fac.nodes[3:5]) is not None and len(small) == 2  # full: emptied, then grown
    lon, lat = g.node_lon[nodes[0]] + 0.001, g.node_lat[nodes[0]]
    assert [r.facility for r in nearest_k(g, (lon, lat), fac, k=2, trees=small)] == \
        [r.facility for r in nearest_k(g, (lon, lat), fac, k=2)]
    closed = np.zeros(g.n_edges, dtype=bool)
    closed[g.edge_u == nodes[0]] = True
    before = small.grown
    want = [r.facility for r in nearest_k(g, (lon, lat), fac, k=2, closures=closed)]
    assert [r.facility for r in nearest_k(g, (lon, lat), fac, k=2, closures=closed,
                                          trees=small)] == want
    assert small.grown == before
    with pytest.raises(ValueError, match="direction"):
        nearest_k(g, (lon, lat), fac, k=2, direction="to_facility", trees=small)
    # trees grown with the closures answer those queries (and only those), as searching would
    closed_trees = FacilityTrees(g, "from_facility", closures=closed)
    got = nearest_k(g, (lon, lat), fac, k=3, closures=closed, trees=closed_trees)
    ref = nearest_k(g, (lon, lat), fac, k=3, closures=closed)
    assert closed_trees.grown == len(set(fac.nodes.tolist()))
    assert [(r.facility, round(r.time_s, 6), r.coords) for r in got] == \
        [(r.facility, round(r.time_s, 6), r.coords) for r in ref]
    assert not closed_trees.closes(None) and closed_trees.closes(np.flatnonzero(closed))
    closed[:] = False  # the caller's mask changing later does not change the trees
    assert not closed_trees.closes(closed) and closed_trees.closed.any()


def test_stored_trees_read_and_grown_from_many_threads(county):
    """Readers never see a row of another node's tree, while others grow and empty the store."""
    from concurrent.futures import ThreadPoolExecutor

    from scipy.sparse.csgraph import dijkstra

    g, _ = county
    rng = np.random.default_rng(9)
    pool = rng.choice(np.flatnonzero(~g.orphan), 12, replace=False)
    ref = dict(zip(pool.tolist(), dijkstra(g.matrix(), indices=pool), strict=True))
    # room for 6: resets happen
    trees = FacilityTrees(g, "from_facility", max_bytes=12 * g.n_nodes * 6)

    def work(seed):
        r = np.random.default_rng(seed)
        bad = 0
        for _ in range(40):
            nodes = r.choice(pool, 4, replace=False)
            dist, _, rows = trees.lookup(nodes)
            probe = r.integers(0, g.n_nodes, 50)
            bad += sum(not np.array_equal(dist[rows[i]][probe],
                                          ref[n][probe]) for i, n in enumerate(nodes.tolist()))
        return bad

    with ThreadPoolExecutor(4) as ex:
        assert sum(ex.map(work, range(4))) == 0
    assert trees.grown > len(pool)  # the store was emptied and grown again


def test_nearest_k_with_fewer_facilities_than_k():
    g = _ladder()
    routes = nearest_k(g, (120.004, 30.0), [3], k=3)
    assert len(routes) == 1 and routes[0].facility == 0


# --- snapping -----------------------------------------------------------------------------------

def test_snapping_one_point_agrees_with_snapping_many(county):
    g, _ = county
    rng = np.random.default_rng(8)
    lon = g.node_lon.min() + rng.random(300) * np.ptp(g.node_lon)
    lat = g.node_lat.min() + rng.random(300) * np.ptp(g.node_lat)
    for closures in (None, rng.random(g.n_edges) < 0.3):
        many = snap(g, lon, lat, closures=closures)
        for i in range(lon.size):
            one = snap(g, lon[i], lat[i], closures=closures)  # the scalar path
            assert one.node == many.node[i]
            assert (one.distance_m, one.along_m, one.time_s) == pytest.approx(
                (many.distance_m[i], many.along_m[i], many.time_s[i]), abs=1e-9)
    with pytest.raises(ValueError, match="far outside"):
        snap(g, 30.0, 0.0)


def test_snap_reports_distance_and_offroad_time():
    g = _ladder()
    norms = default_norms()
    offroad = norms.number("road.speed_kmh.offroad") / 3.6
    # 0.0002 deg south of the bottom road, a quarter of the way from node 0 to node 1
    s = snap(g, 120.0005, 29.9998, norms=norms)
    assert s.node == 0
    assert s.distance_m == pytest.approx(0.0002 * DEG_LAT_M, rel=0.01)
    along = 0.0005 * DEG_LAT_M * np.cos(np.radians(30.0))
    assert s.along_m == pytest.approx(along, rel=0.01)
    assert s.time_s == pytest.approx(s.distance_m / offroad + along / 10.0, rel=0.01)  # 36 km/h
    many = snap(g, [120.0005, 120.0039], [29.9998, 30.0011])
    assert many.node.tolist() == [0, 5]
    with pytest.raises(ValueError, match="finite"):
        snap(g, np.nan, 30.0)


def test_snap_avoids_orphan_islands():
    lines = [shapely.LineString([(120 + 0.001 * i, 30.0),
                                 (120 + 0.001 * (i + 1), 30.0)]) for i in range(12)]
    lines.append(shapely.LineString([(120.0, 30.0005), (120.0001, 30.0005)]))  # a 2-node island
    g = graph_from_lines(gpd.GeoDataFrame({"c": ["residential"] * 13}, geometry=lines, crs=4326),
                         class_field="c")
    assert g.report.orphan_nodes == 2
    s = snap(g, 120.00005, 30.00049)  # on the island
    assert not g.orphan[s.node]
    assert s.distance_m > 50


# --- closures -----------------------------------------------------------------------------------

def test_closures_by_edge_id_and_polygon_apply_per_query():
    g = _ladder()
    weights = g.weights.copy()
    t_open, _ = nearest_facility_times(g, [0], direction="from_facility")
    # close the bottom road between 1 and 2: node 2 is now reached over the top
    eid = int(np.flatnonzero((g.edge_u == 1) & (g.edge_v == 2))[0])
    t_closed, _ = nearest_facility_times(g, [0], closures=[eid], direction="from_facility")
    assert t_closed[2] > t_open[2]
    assert t_closed[2] == pytest.approx(2 * t_open[1] + 2 * t_open[3], rel=1e-4)  # 0-1-4-5-2 detour
    # a flooded area over the same road, as a polygon
    flood = shapely.box(120.0028, 29.9995, 120.0032, 30.0002)
    mask = closures_from_polygons(g, flood)
    assert mask.sum() == 1 and mask[eid]
    t_poly, _ = nearest_facility_times(g, [0], closures=mask, direction="from_facility")
    assert np.allclose(t_poly, t_closed)
    # the graph itself is untouched; the next query without closures is as before
    assert np.array_equal(g.weights, weights)
    assert np.allclose(nearest_facility_times(g, [0], direction="from_facility")[0], t_open)
    # everything around node 2 closed: unreachable
    cut = closures_from_polygons(g, gpd.GeoSeries([shapely.Point(120.004, 30.0005).buffer(0.0008)],
                                                  crs=4326))
    t_cut, which = nearest_facility_times(g, [0], closures=cut, direction="from_facility")
    assert not np.isfinite(t_cut[2]) and which[2] == -1


def test_closure_reroutes_nearest_k(county):
    g, _ = county
    rng = np.random.default_rng(5)
    fac = rng.choice(np.flatnonzero(~g.orphan), 20, replace=False)
    here = int(rng.choice(np.flatnonzero(~g.orphan)))
    lon, lat = g.node_lon[here], g.node_lat[here]
    first = nearest_k(g, (lon, lat), fac, k=1)[0]
    # close the middle of the fastest route
    xy = np.asarray(first.coords)
    mid = xy[len(xy) // 2]
    mask = closures_from_polygons(g, shapely.Point(mid).buffer(1e-5))
    assert mask.any()
    again = nearest_k(g, (lon, lat), fac, k=1, closures=mask)
    assert not again or again[0].time_s >= first.time_s
    bad = np.zeros(3, dtype=bool)
    with pytest.raises(ValueError, match="one value per edge"):
        nearest_facility_times(g, fac, closures=bad)
    with pytest.raises(ValueError, match="not edges of this graph"):
        nearest_facility_times(g, fac, closures=[g.n_edges + 5])


# --- one-way streets and directions ---------------------------------------------------------------

def test_direction_matters_on_one_way_streets():
    g = _ladder(oneway_top=True)  # top road only 3 -> 4 -> 5
    to_f, _ = nearest_facility_times(g, [3], direction="to_facility")
    from_f, _ = nearest_facility_times(g, [3], direction="from_facility")
    assert from_f[5] < to_f[5]  # 3 -> 5 along the one-way; 5 -> 3 must go round
    with pytest.raises(ValueError, match="direction"):
        nearest_facility_times(g, [3], direction="both")
    with pytest.raises(ValueError, match="node indices"):
        nearest_facility_times(g, [99])


def test_facility_snap_times_count_and_pick_the_nearer():
    g = _ladder()
    # two facilities at the same node: the one with the shorter walk wins
    fac = Facilities(np.array([0, 0]), np.array([120.0, 30.0]), np.array([0.0, 0.0]))
    times, which = nearest_facility_times(g, fac, direction="from_facility")
    assert (which == 1).all()
    plain, _ = nearest_facility_times(g, [0], direction="from_facility")
    assert np.allclose(times, plain + 30.0)


# --- service areas ------------------------------------------------------------------------------

def test_service_areas_are_nested_and_look_right(county):
    g, _ = county
    rng = np.random.default_rng(4)
    fac = rng.choice(np.flatnonzero(~g.orphan), 3, replace=False)
    lon, lat = g.node_lon[fac], g.node_lat[fac]
    areas = service_areas(g, (lon, lat), [5, 10, 15], buffer_m=150)
    assert areas.crs.to_epsg() == 4326 and list(areas["minutes"]) == [5, 10, 15]
    assert (np.diff(areas["area_km2"]) > 0).all()
    geoms = areas.geometry.values
    assert geoms[1].buffer(1e-6).contains(geoms[0]) and geoms[2].buffer(1e-6).contains(geoms[1])
    assert shapely.contains_xy(geoms[0], lon, lat).all()
    times, _ = nearest_facility_times(g, fac, direction="from_facility")
    inside = shapely.contains_xy(geoms[2], g.node_lon, g.node_lat)
    # nodes reached within 15 min are inside; roads reached only after 20 min are outside
    # (unreachable islands amid reached roads may fall in filled gaps: they are not checked)
    assert inside[times <= 900].all()
    far = np.isfinite(times) & (times > 1200)
    assert far.sum() > 50 and inside[far].mean() < 0.1
    flood = closures_from_polygons(g, areas.geometry.values[0].buffer(-0.002))
    smaller = service_areas(g, (lon, lat), [15], buffer_m=150, closures=flood)
    assert smaller["area_km2"].iloc[0] < areas["area_km2"].iloc[2]
    with pytest.raises(ValueError, match="minutes"):
        service_areas(g, (lon, lat), [])


def test_snap_refuses_points_far_outside_the_network(county):
    g, _ = county
    with pytest.raises(ValueError, match="far outside the road network"):
        snap(g, [g.node_lon[0], 30.0], [g.node_lat[0], 0.0])


def test_a_place_inside_a_closed_area_joins_the_nearest_open_road_and_is_routed(county):
    """An incident inside a flooded area: its own roads are closed, so it joins the nearest open
    road outside, and routes to it still exist (they would all be empty otherwise)."""
    g, _ = county
    i = g.n_nodes // 2
    lon, lat = float(g.node_lon[i]), float(g.node_lat[i])
    area = shapely.Point(lon, lat).buffer(0.004)  # ~400 m
    closed = closures_from_polygons(g, area)
    assert closed.any()
    s0 = snap(g, lon, lat)
    s1 = snap(g, lon, lat, closures=closed)
    # the plain snap joins a closed road; with the closures the joined node has an open edge
    touches = (g.edge_u == s1.node) | (g.edge_v == s1.node)
    assert (touches & ~closed).any()
    assert s1.distance_m >= s0.distance_m
    fac = np.array([0, 1, 2, g.n_nodes - 1, g.n_nodes - 2])
    routes = nearest_k(g, (lon, lat), (g.node_lon[fac], g.node_lat[fac]), 3, closures=closed)
    assert len(routes) == 3
    for r in routes:  # no route runs through the closed area
        line = shapely.LineString(r.coords) if len(r.coords) > 1 else None
        if line is not None:
            inside = shapely.intersection(line, area.buffer(-0.0005))
            assert inside.length < 0.0015, inside.length
