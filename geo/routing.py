"""Route on a `CompiledGraph`: snapping, travel times, nearest facilities, service areas.

Every search is one call into scipy's compiled Dijkstra (``scipy.sparse.csgraph``) on the
graph's CSR arrays: multi-source with ``min_only`` for nearest-facility times, bounded by
``limit`` for cut-offs and for the nearest-k search. Road closures are applied per query by
setting the closed arcs' weights to infinity on a copy of the weight array; the graph is
never rebuilt.

Directions: ``"to_facility"`` is the time from a place to a facility (people walking or
driving to a shelter); ``"from_facility"`` is the time from a facility to a place (a team
or fire engine dispatched to an incident). One-way streets make the two differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray
from pyproj import Transformer
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from emgis.geo.compiled import BoolArray, CompiledGraph, FloatArray, Int32Array, Int64Array

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from emgis.layers.norms import Norms

__all__ = [
    "Facilities",
    "FacilityTrees",
    "Route",
    "Snap",
    "SparseTimes",
    "closures_from_polygons",
    "nearest_facility_times",
    "nearest_k",
    "service_areas",
    "snap",
    "snap_facilities",
    "travel_time_matrix",
]

Direction = Literal["to_facility", "from_facility"]
_DIRECTIONS = ("to_facility", "from_facility")
# The nearest-k search starts bounded at this many seconds and doubles until k are found;
# a search heuristic only (it does not change results).
_FIRST_LIMIT_S = 600.0
# Rows of a dense Dijkstra block in travel_time_matrix are capped to this many cells.
_BLOCK_CELLS = 1 << 24

#: Stored shortest-path trees read for some facility nodes (`FacilityTrees.lookup`):
#: ``(dist, pred, rows)``, the tree of ``nodes[i]`` being row ``rows[i]`` of ``dist``/``pred``.
TreeLookup = tuple[FloatArray, Int32Array, Int64Array]


@dataclass(frozen=True)
class Snap:
    """Where points join the network.

    ``node``: graph node reached; ``distance_m``: straight distance from the point to the
    nearest road; ``along_m``: distance along that road to ``node``; ``time_s``: off-road
    time (at ``road.speed_kmh.offroad``) plus the time along the road to ``node``.
    Scalars for one point, arrays for many.
    """

    node: Any
    distance_m: Any
    along_m: Any
    time_s: Any


@dataclass(frozen=True)
class Facilities:
    """A set of facilities joined to the network: node and extra time of each."""

    nodes: np.ndarray
    offset_s: np.ndarray
    distance_m: np.ndarray

    def __len__(self) -> int:
        return int(self.nodes.size)


@dataclass(frozen=True)
class Route:
    """One facility's route: times include both snaps; coords are lon/lat along the roads."""

    facility: int
    node: int
    time_s: float
    length_m: float
    coords: list[list[float]]


@dataclass(frozen=True)
class SparseTimes:
    """Travel times within a cut-off, as (row, col, time) triples; absent pairs were not reached."""

    rows: np.ndarray
    cols: np.ndarray
    times: np.ndarray
    shape: tuple[int, int]

    def to_csr(self) -> sparse.csr_array:
        """Return a scipy CSR array (note: a zero time becomes an explicit stored zero)."""
        return sparse.csr_array((self.times, (self.rows, self.cols)), shape=self.shape)

    def to_dense(self) -> np.ndarray:
        """Return a dense array with ``inf`` where a pair was not reached."""
        out = np.full(self.shape, np.inf)
        out[self.rows, self.cols] = self.times
        return out


# --- snapping ----------------------------------------------------------------------------------

def _offroad_speed_ms(norms: Norms | None) -> float:
    if norms is None:
        from emgis.layers.norms import default_norms

        norms = default_norms()
    return norms.number("road.speed_kmh.offroad") / 3.6


class _SnapIndex(NamedTuple):
    """The roads points may join (all but orphan islands'), metric, with a search tree."""

    tree: shapely.STRtree  # over ``lines``
    keep: Int64Array  # edge id of each line
    lines: NDArray[np.object_]  # shapely LineStrings in the graph's metric CRS
    length: FloatArray  # of each line, metres
    to_metric: Transformer  # lon/lat to the graph's metric CRS


def _snap_index(graph: CompiledGraph) -> _SnapIndex:
    if "snap" not in graph._cache:
        import shapely

        keep = np.flatnonzero(~graph.orphan[graph.edge_u])
        lines = graph.edge_lines(metric=True)[keep]
        graph._cache["snap"] = _SnapIndex(
            shapely.STRtree(lines), keep, lines, shapely.length(lines),
            Transformer.from_crs(4326, graph.crs, always_xy=True))
    index: _SnapIndex = graph._cache["snap"]
    return index


def snap(graph: CompiledGraph, lon: Any, lat: Any, *, norms: Norms | None = None,
         closures: Any = None) -> Snap:
    """Join points to the nearest road that is not on a tiny orphan island (nor closed).

    Parameters
    ----------
    graph
        The network.
    lon, lat
        WGS84 degrees; scalars or arrays.
    norms
        `layers.norms.Norms` for ``road.speed_kmh.offroad`` (defaults when None).
    closures
        Closed edges (mask or ids): a point never joins a closed road (e.g. one in a flooded
        area), but the nearest open one.

    Returns
    -------
    Snap
        The nearer end node of the nearest road, with distances and time.
    """
    import shapely

    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    if scalar and np.isfinite(lon) and np.isfinite(lat):
        return _snap_one(graph, float(lon), float(lat), norms, closures)
    lon = np.atleast_1d(np.asarray(lon, dtype=float))
    lat = np.atleast_1d(np.asarray(lat, dtype=float))
    if lon.shape != lat.shape or not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise ValueError(f"snap: lon and lat must be finite and of one shape; got shapes "
                         f"{lon.shape} and {lat.shape}")
    tree, keep, lines, length, to_metric = _snap_index(graph)
    x, y = to_metric.transform(lon, lat)
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if bad.any():  # far outside the network's projected zone: the projection gives inf
        first = int(np.flatnonzero(bad)[0])
        raise _far_outside(graph, int(bad.sum()), lon[first], lat[first])
    pts = shapely.points(x, y)
    idx, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    order = np.argsort(idx[0])
    which, dist = idx[1][order], dist[order]
    edge = keep[which]
    closed = graph.edge_mask(closures)
    if closed is not None and closed[edge].any():
        for i in np.flatnonzero(closed[edge]):
            which[i], dist[i] = _nearest_open(tree, keep, closed, pts[i])
        edge = keep[which]
    along = shapely.line_locate_point(lines[which], pts)
    frac = np.divide(along, length[which], out=np.zeros_like(along), where=length[which] > 0)
    to_v = frac > 0.5
    node = np.where(to_v, graph.edge_v[edge], graph.edge_u[edge]).astype(np.int64)
    rest = np.where(to_v, 1.0 - frac, frac)
    along_m = rest * graph.edge_length_m[edge]
    time_s = dist / _offroad_speed_ms(norms) + rest * graph.edge_time_s[edge]
    if scalar:
        return Snap(int(node[0]), float(dist[0]), float(along_m[0]), float(time_s[0]))
    return Snap(node, dist, along_m, time_s)


def _far_outside(graph: CompiledGraph, n: int, lon: float, lat: float) -> ValueError:
    return ValueError(f"snap: {n} point(s), e.g. ({lon:.5f}, {lat:.5f}), are far outside the road "
                      f"network (its coordinate system {graph.crs} cannot hold them); check the "
                      "coordinates (longitude first) and that the right network is loaded")


def _snap_one(graph: CompiledGraph, lon: float, lat: float, norms: Norms | None,
              closures: Any) -> Snap:
    """`snap` for one point: the same steps on scalars (a live map's query), a few times faster."""
    import shapely

    tree, keep, lines, length, to_metric = _snap_index(graph)
    x, y = to_metric.transform(lon, lat)
    if not (np.isfinite(x) and np.isfinite(y)):
        raise _far_outside(graph, 1, lon, lat)
    pt = shapely.Point(x, y)
    idx, dist = tree.query_nearest(pt, return_distance=True, all_matches=False)
    which, d = int(idx[0]), float(dist[0])
    closed = graph.edge_mask(closures)
    if closed is not None and closed[keep[which]]:
        which, d = _nearest_open(tree, keep, closed, pt)
    edge = int(keep[which])
    along = float(shapely.line_locate_point(lines[which], pt))
    frac = along / length[which] if length[which] > 0 else 0.0
    node = int(graph.edge_v[edge] if frac > 0.5 else graph.edge_u[edge])
    rest = 1.0 - frac if frac > 0.5 else frac
    return Snap(node, d, float(rest * graph.edge_length_m[edge]),
                float(d / _offroad_speed_ms(norms) + rest * graph.edge_time_s[edge]))


def _nearest_open(tree: shapely.STRtree, keep: Int64Array, closed: BoolArray,
                  pt: shapely.Geometry) -> tuple[int, float]:
    """Index (into the snap tree) and distance of the nearest open road to ``pt`` (metric)."""
    import shapely

    geoms = tree.geometries
    for r in (500.0, 2000.0, 10000.0, 50000.0):
        cand = tree.query(pt, predicate="dwithin", distance=r)
        cand = cand[~closed[keep[cand]]]
        if cand.size:
            d = shapely.distance(geoms[cand], pt)
            j = int(np.argmin(d))
            return int(cand[j]), float(d[j])
    raise ValueError("snap: every road within 50 km of the place is closed; "
                     "open some or choose another place")


def snap_facilities(graph: CompiledGraph, lon: Any, lat: Any, *,
                    norms: Norms | None = None) -> Facilities:
    """Snap facility points once so that many queries can reuse them."""
    s = snap(graph, np.atleast_1d(lon), np.atleast_1d(lat), norms=norms)
    return Facilities(np.asarray(s.node), np.asarray(s.time_s), np.asarray(s.distance_m))


def _facilities(graph: CompiledGraph, facilities: Any, norms: Norms | None) -> Facilities:
    if isinstance(facilities, Facilities):
        return facilities
    if isinstance(facilities, tuple) and len(facilities) == 2:
        return snap_facilities(graph, facilities[0], facilities[1], norms=norms)
    nodes = np.atleast_1d(np.asarray(facilities))
    if nodes.size == 0:
        raise ValueError("facilities is empty; give at least one facility (node indices, "
                         "a (lon, lat) tuple of arrays, or snap_facilities(...))")
    if not np.issubdtype(nodes.dtype, np.integer):
        raise ValueError(f"facilities must be node indices (integers), a (lon, lat) tuple or "
                         f"Facilities; got an array of {nodes.dtype}")
    if nodes.min() < 0 or nodes.max() >= graph.n_nodes:
        raise ValueError(f"facilities: node indices must be in 0..{graph.n_nodes - 1}; got "
                         f"{nodes.min()}..{nodes.max()}")
    zeros = np.zeros(nodes.size)
    return Facilities(nodes.astype(np.int64), zeros, zeros)


def _check_direction(direction: str) -> bool:
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction={direction!r} is not known; use 'to_facility' (place to "
                         "facility, e.g. evacuation) or 'from_facility' (facility to place, e.g. "
                         "dispatch)")
    return direction == "to_facility"


# --- nearest facility ---------------------------------------------------------------------------

def nearest_facility_times(graph: CompiledGraph, facilities: Any, *, cutoff_s: float | None = None,
                           closures: Any = None, direction: Direction = "to_facility",
                           norms: Norms | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Return, for every node, the travel time to (or from) the nearest facility and which.

    Parameters
    ----------
    graph
        The network.
    facilities
        Node indices, a ``(lon, lat)`` tuple of arrays, or `Facilities`; with points the
        facilities' snap times count.
    cutoff_s
        Stop the search at this many seconds (``inf`` beyond it).
    closures
        Closed edges: a boolean edge mask or edge ids.
    direction
        ``"to_facility"`` (default) or ``"from_facility"``.
    norms
        For the off-road speed when facilities are points.

    Returns
    -------
    tuple of numpy.ndarray
        ``times`` (seconds, ``inf`` where not reached) and ``facility`` (index into
        ``facilities``, -1 where not reached).
    """
    fac = _facilities(graph, facilities, norms)
    reverse = _check_direction(direction)
    w = graph.arc_weights(closures)
    return _multi_source(graph, fac, w, reverse=reverse,
                         limit=np.inf if cutoff_s is None else float(cutoff_s))


def _multi_source(graph: CompiledGraph, fac: Facilities, w: np.ndarray, *, reverse: bool,
                  limit: float) -> tuple[np.ndarray, np.ndarray]:
    n = graph.n_nodes
    mat = graph.matrix(None if w is graph.weights else w, reverse=reverse)
    # a node may hold several facilities: keep the one with the smallest snap time
    order = np.lexsort((fac.offset_s, fac.nodes))
    nodes_sorted = fac.nodes[order]
    first = np.r_[True, nodes_sorted[1:] != nodes_sorted[:-1]]
    src_nodes, src_fac = nodes_sorted[first], order[first]
    offsets = fac.offset_s[src_fac]
    owner = np.full(n, -1, dtype=np.int64)
    owner[src_nodes] = src_fac
    if not offsets.any():
        dist, _, sources = dijkstra(mat, indices=src_nodes, min_only=True, limit=limit,
                                    return_predecessors=True)
        fidx = np.where(sources >= 0, owner[np.maximum(sources, 0)], -1)
        return dist, fidx
    # snap times differ: a super source joined to each facility node by its snap time
    k = src_nodes.size
    indptr = np.r_[mat.indptr, mat.indptr[-1] + k].astype(np.int32)
    heads = np.r_[mat.indices, src_nodes].astype(np.int32)
    aug = sparse.csr_matrix((np.r_[mat.data, offsets], heads, indptr), shape=(n + 1, n + 1))
    dist, pred = dijkstra(aug, indices=n, limit=limit, return_predecessors=True)
    dist, pred = dist[:n], pred[:n]
    root = np.where((pred == n) | (pred < 0), np.arange(n), pred)
    while True:  # pointer jumping to the first node after the super source
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    fidx = np.where(np.isfinite(dist), owner[root], -1)
    return dist, fidx


# --- matrices -----------------------------------------------------------------------------------

def travel_time_matrix(graph: CompiledGraph, origins: Any, destinations: Any, *,
                       cutoff_s: float | None = None, closures: Any = None) -> SparseTimes:
    """Return travel times from each origin node to each destination node within a cut-off.

    Parameters
    ----------
    graph
        The network.
    origins, destinations
        Node indices.
    cutoff_s
        Pairs slower than this are left out (all reachable pairs when None).
    closures
        Closed edges: a boolean edge mask or edge ids.

    Returns
    -------
    SparseTimes
        ``rows`` index ``origins``, ``cols`` index ``destinations``.
    """
    o = _facilities(graph, origins, None).nodes
    d = _facilities(graph, destinations, None).nodes
    w = graph.arc_weights(closures)
    limit = np.inf if cutoff_s is None else float(cutoff_s)
    reverse = o.size > d.size  # search from the smaller side
    src, dst = (d, o) if reverse else (o, d)
    mat = graph.matrix(None if w is graph.weights else w, reverse=reverse)
    block = max(1, _BLOCK_CELLS // graph.n_nodes)
    rows, cols, times = [], [], []
    for s in range(0, src.size, block):
        dist = dijkstra(mat, indices=src[s:s + block], limit=limit)[:, dst]
        r, c = np.nonzero(np.isfinite(dist))
        rows.append(r + s)
        cols.append(c)
        times.append(dist[r, c])
    r, c, t = np.concatenate(rows), np.concatenate(cols), np.concatenate(times)
    if reverse:
        r, c = c, r
    return SparseTimes(r, c, t, (o.size, d.size))


# --- nearest k with routes ----------------------------------------------------------------------

def nearest_k(graph: CompiledGraph, place: tuple[float, float], facilities: Any, k: int = 3, *,
              closures: Any = None, direction: Direction = "from_facility",
              norms: Norms | None = None, trees: FacilityTrees | None = None) -> list[Route]:
    """Return the ``k`` fastest facilities for a point, each with its route.

    One bounded Dijkstra from the point (on the reversed graph for ``"from_facility"``),
    its bound doubled until ``k`` facilities lie within it. With ``trees`` grown with the
    same closures no search at all: the facilities' stored shortest-path trees are read at
    the point's node (same times and routes).

    Parameters
    ----------
    graph
        The network.
    place
        ``(lon, lat)`` of the place (e.g. an incident), WGS84.
    facilities
        Node indices, a ``(lon, lat)`` tuple, or `Facilities` (snap them once with
        `snap_facilities` when querying many points).
    k
        How many facilities.
    closures
        Closed edges: a boolean edge mask or edge ids.
    direction
        ``"from_facility"`` (default: facility travels to the place) or ``"to_facility"``.
    norms
        For the off-road speed.
    trees
        `FacilityTrees` of this graph and direction, kept between queries (ignored when
        grown with other closures, or when the facilities' trees would not fit its budget).

    Returns
    -------
    list of Route
        Fastest first; fewer than ``k`` when fewer can reach the place.
    """
    if k < 1:
        raise ValueError(f"k={k} must be at least 1")
    fac = _facilities(graph, facilities, norms)
    to_fac = _check_direction(direction)
    lon, lat = place
    here = snap(graph, lon, lat, norms=norms, closures=closures)
    if trees is not None:
        if trees.graph is not graph or trees.direction != direction:
            raise ValueError("trees were grown on another graph or for "
                             f"direction={trees.direction!r}; this query is "
                             f"direction={direction!r}")
        got = trees.lookup(fac.nodes) if trees.closes(closures) else None
        if got is not None:
            return _nearest_from_trees(graph, here, fac, k, got, to_fac, trees.weights)
    w = graph.arc_weights(closures)
    mat = graph.matrix(None if w is graph.weights else w, reverse=not to_fac)
    want = min(k, len(fac))
    limit = _FIRST_LIMIT_S
    while True:
        dist, pred = dijkstra(mat, indices=here.node, limit=limit, return_predecessors=True)
        total = dist[fac.nodes] + fac.offset_s
        if np.count_nonzero(total <= limit) >= want or not np.isfinite(limit):
            break
        limit = limit * 2 if limit < 1e7 else np.inf
    def travel(f: int) -> np.ndarray:  # the search's tree is rooted at the place
        path = _path(pred, int(fac.nodes[f]), here.node)
        return path[::-1] if to_fac else path

    return _routes(graph, here, fac, total, want, w, travel)


def _nearest_from_trees(graph: CompiledGraph, here: Snap, fac: Facilities, k: int,
                        got: TreeLookup, to_fac: bool, w: FloatArray) -> list[Route]:
    dist, pred, rows = got

    def travel(f: int) -> np.ndarray:  # each facility's tree is rooted at the facility
        path = _path(pred[rows[f]], here.node, int(fac.nodes[f]))
        return path if to_fac else path[::-1]

    total = dist[rows, here.node] + fac.offset_s
    return _routes(graph, here, fac, total, min(k, len(fac)), w, travel)


def _routes(graph: CompiledGraph, here: Snap, fac: Facilities, total: np.ndarray, want: int,
            w: FloatArray, travel: Callable[[int], Int64Array]) -> list[Route]:
    """The ``want`` fastest facilities by ``total`` (reachable ones), each with its route.

    ``travel(f)`` gives the nodes facility ``f``'s route goes through, in travel order.
    """
    routes = []
    for f in np.argsort(total, kind="stable")[:want].tolist():
        if not np.isfinite(total[f]):
            break
        length, coords = _path_geometry(graph, travel(f), w)
        routes.append(Route(f, int(fac.nodes[f]), float(total[f] + here.time_s), float(length),
                            coords))
    return routes


class FacilityTrees:
    """Shortest-path trees rooted at facility nodes, kept to answer many nearest-k queries.

    A live map asks "the 3 nearest teams to here" again and again for the same facilities;
    with their trees stored, a query is a snap, a lookup of each facility's time at the
    place's node and a walk back along the predecessors: no search. For
    ``"from_facility"`` the trees are grown on the graph (time from the facility to every
    node), for ``"to_facility"`` on the reversed graph (time from every node to it).

    Trees are kept per node (facilities at one node share one; a team that moves costs one
    new tree), grown for the missing nodes in one compiled scipy call, 12 bytes per graph
    node each. When the trees asked for do not fit ``max_bytes`` (a province-sized graph
    with many facilities) `lookup` returns None and the caller searches as before; when
    they fit but the store is full it is emptied first. Thread-safe; reading never waits.

    With ``closures`` the trees avoid those edges (a flooded area's roads): they answer
    only queries with the same closures (`closes`).
    """

    def __init__(self, graph: CompiledGraph, direction: Direction = "from_facility", *,
                 closures: Any = None, max_bytes: int = 256 << 20) -> None:
        import threading

        self.graph = graph
        self.direction = direction
        # trees of arrivals (to_facility) grow on the reversed graph
        self._reverse = _check_direction(direction)
        self.closed = graph.edge_mask(closures)
        if self.closed is not None and self.closed.flags.writeable:
            # the caller may change its mask later; these trees may not
            self.closed = self.closed.copy()
        self.weights = graph.arc_weights(self.closed)
        self.max_rows = int(max_bytes // max(12 * graph.n_nodes, 1))
        self._lock = threading.Lock()  # taken to grow only; reading takes none
        self._state: tuple[dict[int, int], np.ndarray, np.ndarray] = self._empty()
        self.grown = 0

    def _empty(self) -> tuple[dict[int, int], FloatArray, Int32Array]:
        n = self.graph.n_nodes
        return {}, np.empty((0, n)), np.empty((0, n), dtype=np.int32)

    def __len__(self) -> int:
        return len(self._state[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored trees (room grown for included)."""
        _, dist, pred = self._state
        return int(dist.nbytes + pred.nbytes)

    def closes(self, closures: Any) -> bool:
        """Were these trees grown with exactly ``closures`` closed?"""
        mask = self.graph.edge_mask(closures)
        if mask is None or self.closed is None:
            return mask is None and self.closed is None
        return mask is self.closed or bool(np.array_equal(mask, self.closed))

    def has(self, nodes: np.ndarray) -> bool:
        """Are the trees of all ``nodes`` stored (a `lookup` would not search)?"""
        row = self._state[0]
        return all(n in row for n in np.asarray(nodes).tolist())

    def lookup(self, nodes: np.ndarray) -> TreeLookup | None:
        """``(dist, pred, rows)``, ``dist[rows[i]]`` the tree of ``nodes[i]``; None if over budget.

        Trees already stored are read without a lock (from one consistent snapshot: growing
        publishes a new one), so readers never wait on a search.
        """
        nodes = np.asarray(nodes, dtype=np.int64).tolist()
        row, dist, pred = self._state
        if all(n in row for n in nodes):
            return dist, pred, np.fromiter((row[n] for n in nodes), np.int64, len(nodes))
        with self._lock:
            row = self._state[0]
            missing = np.unique([n for n in nodes if n not in row]).astype(np.int64)
            if missing.size:
                if len(set(nodes)) > self.max_rows:
                    return None
                keep = len(row) + missing.size <= self.max_rows
                if not keep:  # full: start again with these
                    missing = np.unique(nodes).astype(np.int64)
                self._grow(missing, keep)
            row, dist, pred = self._state
            return dist, pred, np.fromiter((row[n] for n in nodes), np.int64, len(nodes))

    def _grow(self, missing: np.ndarray, keep: bool) -> None:
        weights = None if self.closed is None else self.weights
        mat = self.graph.matrix(weights, reverse=self._reverse)
        dist, pred = dijkstra(mat, indices=missing, return_predecessors=True)
        row, d, p = self._state if keep else self._empty()
        start = len(row)
        if start + missing.size > d.shape[0]:  # room for twice as many (within the budget)
            cap = min(max(2 * (start + missing.size), 8), self.max_rows)
            d2 = np.empty((cap, self.graph.n_nodes))
            p2 = np.empty((cap, self.graph.n_nodes), dtype=np.int32)
            d2[:start], p2[:start] = d[:start], p[:start]
            d, p = d2, p2
        d[start:start + missing.size] = dist  # rows no published snapshot refers to yet
        p[start:start + missing.size] = pred
        row = {**row, **{n: start + i for i, n in enumerate(missing.tolist())}}
        self._state = (row, d, p)  # published in one assignment
        self.grown += int(missing.size)


def _path(pred: np.ndarray, start: int, root: int) -> Int64Array:
    out = [start]
    x = start
    while x != root:
        x = int(pred[x])
        out.append(x)
    return np.asarray(out, dtype=np.int64)


class _ArcPoints(NamedTuple):
    key: Int64Array
    dup: BoolArray
    first: Int64Array
    off: Int64Array
    pts: FloatArray


def _arc_points(graph: CompiledGraph) -> _ArcPoints:
    """Per arc, its geometry's points in travel order without the first one, laid end to end.

    ``(key, dup, first, off, pts)``: ``key`` sorts arcs by (tail, head) for lookup, ``dup``
    marks an arc followed by a parallel one, ``first[a]`` is the index in ``geom_coords``
    of arc ``a``'s first point, ``pts[off[a]:off[a + 1]]`` its other points. Built once per
    graph so that a route's geometry is a few array operations, not one per piece.
    """
    if "arc_points" not in graph._cache:
        key = graph.arc_tails().astype(np.int64) * graph.n_nodes + graph.indices
        dup = np.zeros(key.size, dtype=bool)
        dup[:-1] = key[1:] == key[:-1]
        e, rev = graph.arc_edge, graph.arc_reversed
        start = graph.geom_offsets[e].astype(np.int64)
        end = graph.geom_offsets[e + 1].astype(np.int64)
        n_pts = end - start - 1
        off = np.zeros(e.size + 1, dtype=np.int64)
        np.cumsum(n_pts, out=off[1:])
        within = np.arange(off[-1]) - np.repeat(off[:-1], n_pts)
        idx = np.where(np.repeat(rev, n_pts), np.repeat(end - 2, n_pts) - within,
                       np.repeat(start + 1, n_pts) + within)
        graph._cache["arc_points"] = _ArcPoints(key, dup, np.where(rev, end - 1, start), off,
                                                graph.geom_coords[idx])
    points: _ArcPoints = graph._cache["arc_points"]
    return points


def _path_geometry(graph: CompiledGraph, path: Int64Array,
                   w: FloatArray) -> tuple[float, list[list[float]]]:
    """Return (length, lon/lat coords) of the fastest arcs joining consecutive path nodes."""
    if path.size < 2:
        return 0.0, [[float(graph.node_lon[path[0]]), float(graph.node_lat[path[0]])]]
    key, dup, first, off, pts = _arc_points(graph)
    arcs = np.searchsorted(key, path[:-1] * graph.n_nodes + path[1:])
    if dup[arcs].any():  # parallel arcs: the first unless closed, then the fastest
        hi = np.searchsorted(key, key[arcs], "right")
        for i in np.flatnonzero((hi - arcs > 1) & ~np.isfinite(w[arcs])):
            arcs[i] = arcs[i] + int(np.argmin(w[arcs[i]:hi[i]]))
    lo, n = off[arcs], off[arcs + 1] - off[arcs]
    idx = np.repeat(lo - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
    coords = [graph.geom_coords[first[arcs[0]]].tolist()]
    coords += pts[idx].tolist()
    return float(graph.lengths[arcs].sum()), coords


# --- service areas ------------------------------------------------------------------------------

def service_areas(graph: CompiledGraph, sources: tuple[Any, Any], minutes: Any, *,
                  closures: Any = None, direction: Direction = "from_facility",
                  buffer_m: float = 100.0, min_hole_m2: float | None = None,
                  norms: Norms | None = None) -> gpd.GeoDataFrame:
    """Return the areas reached within each time band as polygons (one row per band).

    Reached roads (partly reached roads cut where time runs out) are buffered by
    ``buffer_m`` and merged; nested bands overlap (the 15-minute area contains the 5).

    Parameters
    ----------
    graph
        The network.
    sources
        ``(lon, lat)`` arrays of the facility points, WGS84 (their snap times count).
    minutes
        The bands, e.g. the service times of the norms ``shelter.service_time_min.*``.
    closures
        Closed edges: a boolean edge mask or edge ids.
    direction
        ``"from_facility"`` (default) or ``"to_facility"``.
    buffer_m
        Half-width of the area drawn around reached roads, metres.
    min_hole_m2
        Gaps between reached roads smaller than this are filled (default
        ``(10 * buffer_m) ** 2``), so an area reads as an area, not as lace.
    norms
        For the off-road speed.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``minutes``, ``area_km2``, ``geometry`` (EPSG:4326).
    """
    import geopandas as gpd
    import shapely
    from shapely.ops import substring

    from emgis.geo.geometry import repair_polygons

    bands = np.atleast_1d(np.asarray(minutes, dtype=float))
    if bands.size == 0 or not (np.isfinite(bands).all() and (bands > 0).all()):
        raise ValueError(f"minutes={minutes!r} must be one or more positive numbers of minutes")
    to_fac = _check_direction(direction)
    lon, lat = sources
    fac = snap_facilities(graph, lon, lat, norms=norms)
    w = graph.arc_weights(closures)
    dist, _ = _multi_source(graph, fac, w, reverse=to_fac, limit=float(bands.max()) * 60)
    tails, heads = graph.arc_tails(), graph.indices
    near = dist[heads] if to_fac else dist[tails]  # where the traveller is closest to the facility
    lines = graph.edge_lines(metric=True)
    rows = []
    for m in bands:
        t = m * 60.0
        open_ = np.isfinite(w) & (near < t)
        full = open_ & (near + w <= t)
        part = np.flatnonzero(open_ & ~full)
        pieces = list(lines[np.unique(graph.arc_edge[full])])
        for a in part:
            f = (t - near[a]) / w[a]
            line = lines[graph.arc_edge[a]]
            # geometry runs u->v; an arc may run against it; keep the end near the facility
            at_start = graph.arc_reversed[a] == to_fac
            pieces.append(substring(line, 0.0, f, normalized=True) if at_start
                          else substring(line, 1.0 - f, 1.0, normalized=True))
        pieces.extend(shapely.points(graph.node_x[fac.nodes], graph.node_y[fac.nodes]))
        # buffering pieces one by one and merging is far faster than buffering a collection
        geom = shapely.union_all(shapely.buffer(np.asarray(pieces, dtype=object), buffer_m,
                                                quad_segs=3))
        geom = _fill_holes(geom, (10 * buffer_m) ** 2 if min_hole_m2 is None else min_hole_m2)
        rows.append((float(m), geom.area / 1e6, geom))
    gdf = gpd.GeoDataFrame({"minutes": [r[0] for r in rows], "area_km2": [r[1] for r in rows]},
                           geometry=[r[2] for r in rows], crs=graph.crs)
    out = gdf.to_crs(4326)
    # reprojecting dense buffered rings can make a ring touch itself: repair, staying polygonal
    bad = ~out.is_valid.to_numpy()
    if bad.any():
        fixed, _ = repair_polygons(out.geometry[bad])
        out.loc[bad, "geometry"] = gpd.GeoSeries(fixed, index=out.index[bad], crs=out.crs)
    return out


def _fill_holes(geom: shapely.Geometry, min_hole_m2: float) -> shapely.Geometry:
    import shapely

    polys = shapely.get_parts(geom)
    out = []
    for p in polys:
        if p.geom_type != "Polygon":
            continue
        keep = [r for r in p.interiors if shapely.Polygon(r).area >= min_hole_m2]
        out.append(shapely.Polygon(p.exterior, keep))
    return shapely.MultiPolygon(out) if len(out) > 1 else (out[0] if out else shapely.Polygon())


# --- closures -----------------------------------------------------------------------------------

def closures_from_polygons(graph: CompiledGraph, polygons: Any) -> np.ndarray:
    """Return a boolean mask of the edges that intersect any of ``polygons``.

    Parameters
    ----------
    graph
        The network.
    polygons
        A shapely geometry, a list of them, or a GeoSeries/GeoDataFrame (converted to
        EPSG:4326; a bare geometry is taken as lon/lat), e.g. a flooded area.

    Returns
    -------
    numpy.ndarray
        One bool per edge; pass it as ``closures=`` to any routing function.
    """
    import shapely

    if hasattr(polygons, "geometry") and hasattr(polygons, "crs"):
        gs = polygons.geometry
        if gs.crs is not None:
            gs = gs.to_crs(4326)
        geoms = np.asarray(gs.values, dtype=object)
    else:
        geoms = np.atleast_1d(np.asarray(polygons, dtype=object))
    if geoms.size and not all(isinstance(g, shapely.Geometry) for g in geoms):
        raise ValueError("closures_from_polygons: polygons must be shapely geometries in "
                         "EPSG:4326 or a GeoSeries/GeoDataFrame with a CRS")
    if "tree4326" not in graph._cache:
        graph._cache["tree4326"] = shapely.STRtree(graph.edge_lines())
    mask = np.zeros(graph.n_edges, dtype=bool)
    if geoms.size:
        hit = graph._cache["tree4326"].query(geoms, predicate="intersects")
        mask[hit[1]] = True
    return mask
