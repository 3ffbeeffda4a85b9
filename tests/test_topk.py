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
