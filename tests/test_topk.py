"""The bounded nearest-k store (geo/topk.py) answers as the facility trees do, for k ≤ K."""

from __future__ import annotations

import numpy as np
import pytest

from emgis.geo.routing import FacilityTrees, nearest_k, snap, snap_facilities
from emgis.geo.synthetic import synthetic_network
from emgis.geo.topk import build_topk


@pytest.fixture(scope="module")
def graph():
    return synthetic_network(n_nodes=3000, spacing_m=250.0, seed=7)


@pytest.mark.parametrize("direction", ["from_facility", "to_facility"])
def test_topk_same_answer_as_trees(graph, direction):
    rng = np.random.default_rng(3)
    lon = rng.uniform(graph.node_lon.min(), graph.node_lon.max(), 25)
    lat = rng.uniform(graph.node_lat.min(), graph.node_lat.max(), 25)
    fac = snap_facilities(graph, lon, lat)
    store = build_topk(graph, fac, k=4, direction=direction, block=7)
    trees = FacilityTrees(graph, direction)
    places = rng.integers(0, graph.n_nodes, 60)
    for node in places.tolist():
        place = (float(graph.node_lon[node]), float(graph.node_lat[node]))
        here = snap(graph, *place)  # an orphan island's node snaps to the main network
        for k in (1, 2, 4):
            routes = nearest_k(graph, place, fac, k, direction=direction, trees=trees)
            t, f = store.nearest(here.node, k)
            assert [r.facility for r in routes] == f.tolist()
            # a route's time adds the place's own snap time
            np.testing.assert_allclose([r.time_s for r in routes], t + here.time_s, rtol=0,
                                       atol=1e-6)


def test_topk_memory_is_bounded(graph):
    fac = np.arange(0, graph.n_nodes, 50)
    store = build_topk(graph, fac, k=3)
    assert store.nbytes == 3 * graph.n_nodes * 12
    assert store.times.shape == (3, graph.n_nodes)


def test_topk_fewer_than_k_reachable(graph):
    store = build_topk(graph, np.array([0, 1]), k=3)
    t, f = store.nearest(int(graph.edge_u[0]), 3)
    assert len(t) <= 2 and set(f.tolist()) <= {0, 1}


@pytest.mark.bad_input
@pytest.mark.parametrize("k", [0, 5], ids=["k-zero", "k-above-store"])
def test_topk_refuses_k_outside_store(graph, k):
    store = build_topk(graph, np.array([0]), k=4)
    with pytest.raises(ValueError, match="k="):
        store.nearest(0, k)


def _same_routes(got, want):
    assert [r.facility for r in got] == [r.facility for r in want]
    assert [r.time_s for r in got] == [r.time_s for r in want]  # the same floats
    assert [r.coords for r in got] == [r.coords for r in want]
    assert [r.length_m for r in got] == [r.length_m for r in want]


@pytest.mark.parametrize("direction", ["from_facility", "to_facility"])
@pytest.mark.parametrize("closed", [False, True], ids=["open", "closed-area"])
def test_topk_routes_same_as_trees(graph, direction, closed):
    """With ``routes=True`` the store answers nearest-k with routes, exactly as the trees do."""
    import shapely

    from emgis.geo.routing import closures_from_polygons
    from emgis.geo.topk import nearest_routes

    rng = np.random.default_rng(5)
    lon = rng.uniform(graph.node_lon.min(), graph.node_lon.max(), 30)
    lat = rng.uniform(graph.node_lat.min(), graph.node_lat.max(), 30)
    fac = snap_facilities(graph, lon, lat)
    mask = None
    if closed:
        c = (float(np.median(graph.node_lon)), float(np.median(graph.node_lat)))
        mask = closures_from_polygons(graph, shapely.Point(c).buffer(0.01))
        assert mask.any()
    store = build_topk(graph, fac, k=4, direction=direction, block=5, closures=mask, routes=True)
    assert store.nbytes == 4 * graph.n_nodes * 16
    trees = FacilityTrees(graph, direction, closures=mask)
    answered = 0
    for node in rng.integers(0, graph.n_nodes, 50).tolist():
        place = (float(graph.node_lon[node]) + 0.0004, float(graph.node_lat[node]))
        for k in (1, 3, 4):
            want = nearest_k(graph, place, fac, k, direction=direction, trees=trees,
                             closures=mask)
            got = nearest_routes(graph, store, place, fac, k, closures=mask)
            if got is not None:
                answered += 1
                _same_routes(got, want)
        assert nearest_routes(graph, store, place, fac, 5, closures=mask) is None  # k > K
    assert answered >= 140


def test_topk_routes_among_a_subset(graph):
    """A store of every facility answers for a subset (usable ones, a team type) when enough of
    the subset is among a node's K, exactly as the subset's trees; else it says it cannot."""
    from emgis.geo.routing import Facilities
    from emgis.geo.topk import nearest_routes

    rng = np.random.default_rng(8)
    lon = rng.uniform(graph.node_lon.min(), graph.node_lon.max(), 24)
    lat = rng.uniform(graph.node_lat.min(), graph.node_lat.max(), 24)
    every = snap_facilities(graph, lon, lat)
    keep = np.flatnonzero(rng.random(24) < 0.6)
    sub = Facilities(every.nodes[keep], every.offset_s[keep], every.distance_m[keep])
    among = np.full(24, -1, dtype=np.int64)
    among[keep] = np.arange(keep.size)
    store = build_topk(graph, every, k=5, routes=True)
    trees = FacilityTrees(graph, "from_facility")
    told = unsure = 0
    for node in rng.integers(0, graph.n_nodes, 60).tolist():
        place = (float(graph.node_lon[node]), float(graph.node_lat[node]))
        got = nearest_routes(graph, store, place, sub, 2, among=among)
        if got is None:
            unsure += 1
            continue
        told += 1
        _same_routes(got, nearest_k(graph, place, sub, 2, trees=trees))
    assert told >= 40
