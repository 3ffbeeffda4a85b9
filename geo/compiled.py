"""A road graph compiled to compact arrays: CSR adjacency, coordinates, edge geometry.

`CompiledGraph` is what every routing function in `geo.routing` takes. It is built
once (from OSM in `geo.network.graph_from_osm`, from line features in
`geo.network.graph_from_lines`, or by `geo.synthetic.synthetic_network`), saved to
an uncompressed ``.npz`` file and loaded by a service in a fraction of a second.

Two levels of "edge" are kept apart:

* an **edge** is one road piece between two graph nodes, as stored in PostGIS
  (`edges_gdf`); it has a geometry and is one-way or two-way;
* an **arc** is one direction of travel along an edge. The CSR arrays hold arcs
  sorted by tail node; ``arc_edge`` maps each arc back to its edge, so closing an
  edge closes both of its directions.

Travel times are in seconds, lengths in metres (great-circle along the geometry,
as osmnx measures them); ``node_x``/``node_y`` are in the metric CRS ``crs`` and
are used for snapping and buffers only.
"""

from __future__ import annotations

import json
from collections.abc import Hashable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    import geopandas as gpd
    import networkx as nx

__all__ = ["EARTH_RADIUS_M", "CompiledGraph", "NetworkReport", "great_circle_m"]

#: Mean earth radius used by osmnx's great-circle lengths; keeps lengths comparable.
EARTH_RADIUS_M = 6_371_009.0

_FORMAT = "emgis-compiled-graph/1"

FloatArray = NDArray[np.float64]
Int16Array = NDArray[np.int16]
Int32Array = NDArray[np.int32]
Int64Array = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True)
class RoadEdges:
    """The edges `CompiledGraph.from_edges` compiles.

    ``u``, ``v``: node indices of each edge's first and last vertex; ``highway`` the class code
    of each edge and ``highway_names`` the class names the codes index; ``speed_kmh`` (> 0);
    ``oneway`` True where the edge may be travelled only from ``u`` to ``v``; ``geom_coords``,
    ``geom_offsets`` the flat lon/lat vertices of every edge, ``u`` first and ``v`` last
    (straight lines between ``u`` and ``v`` when omitted).
    """

    u: np.ndarray
    v: np.ndarray
    highway: np.ndarray
    highway_names: list[str]
    speed_kmh: np.ndarray
    oneway: np.ndarray
    geom_coords: np.ndarray | None = None
    geom_offsets: np.ndarray | None = None


@dataclass
class NetworkReport:
    """Counts that describe how a network was built and what it holds."""

    nodes: int = 0
    edges: int = 0
    arcs: int = 0
    components: int = 0
    orphan_components: int = 0
    orphan_nodes: int = 0
    largest_component_nodes: int = 0
    ways_read: int = 0
    drivable_ways: int = 0
    clipped_ways_split: int = 0
    duplicates_dropped: int = 0
    self_loops_dropped: int = 0
    maxspeed_unparsed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def great_circle_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> np.ndarray:
    """Return the haversine distance in metres between two sets of lon/lat points."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


@dataclass(eq=False, repr=False, kw_only=True)
class CompiledGraph:
    """A directed road graph as flat numpy arrays, ready for scipy's csgraph kernels.

    Build one with `CompiledGraph.from_edges` (or the loaders in `geo.network`), save it
    with `save` and read it back with `load`. All arrays are public and read-only by
    convention; routing functions copy the weights before masking closures.

    Attributes
    ----------
    node_lon, node_lat, node_x, node_y : numpy.ndarray
        Node coordinates in EPSG:4326 and in the metric CRS ``crs``.
    node_ids : numpy.ndarray
        Source identifiers of the nodes (OSM node ids, or 0..n-1).
    indptr, indices, weights, lengths : numpy.ndarray
        CSR arcs sorted by tail then head then weight: heads, seconds, metres.
    arc_edge, arc_reversed : numpy.ndarray
        The edge an arc travels and whether it runs against the edge's geometry.
    rev_indptr, rev_indices, rev_order : numpy.ndarray
        The same arcs sorted by head (the reversed graph): tails, and the arc index of each.
    edge_u, edge_v, edge_highway, edge_speed_kmh, edge_length_m, edge_time_s, edge_oneway
        One row per edge; ``edge_highway`` indexes ``highway_names``.
    geom_offsets, geom_coords : numpy.ndarray
        Edge ``e`` has lon/lat vertices ``geom_coords[geom_offsets[e]:geom_offsets[e + 1]]``.
    component, orphan : numpy.ndarray
        Weakly connected component of each node and whether it is a tiny orphan island.
    crs : pyproj.CRS
        The metric CRS of ``node_x``/``node_y``.
    report : NetworkReport
    """

    # nodes
    node_lon: FloatArray
    node_lat: FloatArray
    node_x: FloatArray
    node_y: FloatArray
    node_ids: Int64Array
    # arcs (CSR by tail)
    indptr: Int32Array
    indices: Int32Array
    weights: FloatArray
    lengths: FloatArray
    arc_edge: Int32Array
    arc_reversed: BoolArray
    # arcs (CSR by head)
    rev_indptr: Int32Array
    rev_indices: Int32Array
    rev_order: Int64Array
    # edges
    edge_u: Int32Array
    edge_v: Int32Array
    edge_highway: Int16Array
    edge_speed_kmh: FloatArray
    edge_length_m: FloatArray
    edge_time_s: FloatArray
    edge_oneway: BoolArray
    geom_offsets: Int64Array
    geom_coords: FloatArray
    # components
    component: Int32Array
    orphan: BoolArray

    crs: CRS
    highway_names: list[str]
    report: NetworkReport
    #: Derived data built on first use (matrices, snapping index, ...); other packages keep
    #: their own entries here too, under tuple keys.
    _cache: dict[Hashable, Any] = field(default_factory=dict, init=False)

    #: The arrays of a saved file, in the order they are written (the file format: keep it).
    _ARRAYS: ClassVar[tuple[str, ...]] = (
        "node_lon", "node_lat", "node_x", "node_y", "node_ids",
        "indptr", "indices", "weights", "lengths", "arc_edge", "arc_reversed",
        "rev_indptr", "rev_indices", "rev_order",
        "edge_u", "edge_v", "edge_highway", "edge_speed_kmh", "edge_length_m",
        "edge_time_s", "edge_oneway", "geom_offsets", "geom_coords",
        "component", "orphan",
    )

    def __post_init__(self) -> None:
        self.highway_names = list(self.highway_names)

    # --- sizes ---------------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return int(self.node_lon.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_u.shape[0])

    @property
    def n_arcs(self) -> int:
        return int(self.indices.shape[0])

    def __repr__(self) -> str:
        return (f"CompiledGraph({self.n_nodes} nodes, {self.n_edges} edges, {self.n_arcs} arcs, "
                f"{self.report.components} components, crs={self.crs.to_string()})")

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def from_edges(
        cls,
        node_lon: np.ndarray,
        node_lat: np.ndarray,
        edges: RoadEdges,
        *,
        node_ids: np.ndarray | None = None,
        crs: CRS | None = None,
        report: NetworkReport | None = None,
        orphan_max_nodes: int = 10,
    ) -> CompiledGraph:
        """Compile nodes and edges into arcs, lengths, travel times and components.

        Parameters
        ----------
        node_lon, node_lat
            Node coordinates in EPSG:4326.
        edges
            The edges: their end nodes, class, speed, one-way flag and shape (`RoadEdges`).
        node_ids
            Source identifiers of the nodes; 0..n-1 when omitted.
        crs
            Metric CRS; chosen from the data with `geo.crs.metric_crs_for` when omitted.
        report
            Counts gathered while reading the source; node, edge and component counts
            are filled in here.
        orphan_max_nodes
            Components with fewer nodes than this (other than the largest) are orphans:
            points never snap to them.

        Returns
        -------
        CompiledGraph
        """
        edge_u, edge_v = edges.u, edges.v
        highway, highway_names = edges.highway, edges.highway_names
        speed_kmh, oneway = edges.speed_kmh, edges.oneway
        geom_coords, geom_offsets = edges.geom_coords, edges.geom_offsets
        lon = np.ascontiguousarray(node_lon, dtype=np.float64)
        lat = np.ascontiguousarray(node_lat, dtype=np.float64)
        n = lon.shape[0]
        u = np.asarray(edge_u, dtype=np.int64)
        v = np.asarray(edge_v, dtype=np.int64)
        m = u.shape[0]
        if n == 0 or m == 0:
            raise ValueError("CompiledGraph.from_edges: the network has no nodes or no edges; "
                             "give at least one road between two nodes")
        if u.min() < 0 or v.min() < 0 or u.max() >= n or v.max() >= n:
            raise ValueError(f"CompiledGraph.from_edges: edge_u/edge_v must index the {n} nodes "
                             f"(0..{n - 1}); got values from {min(u.min(), v.min())} to "
                             f"{max(u.max(), v.max())}")
        speed = np.asarray(speed_kmh, dtype=np.float64)
        if not np.all(np.isfinite(speed) & (speed > 0)):
            bad = np.flatnonzero(~(np.isfinite(speed) & (speed > 0)))[:5]
            raise ValueError(f"CompiledGraph.from_edges: speed_kmh must be positive; edges "
                             f"{bad.tolist()} have {speed[bad].tolist()}")
        oneway = np.asarray(oneway, dtype=bool)
        if geom_coords is None or geom_offsets is None:
            geom_coords = np.empty((2 * m, 2))
            geom_coords[0::2, 0], geom_coords[0::2, 1] = lon[u], lat[u]
            geom_coords[1::2, 0], geom_coords[1::2, 1] = lon[v], lat[v]
            geom_offsets = np.arange(0, 2 * m + 1, 2, dtype=np.int64)
        geom_coords = np.ascontiguousarray(geom_coords, dtype=np.float64)
        geom_offsets = np.asarray(geom_offsets, dtype=np.int64)

        length = _edge_lengths(geom_coords, geom_offsets)
        time_s = length / (speed / 3.6)

        # Arcs: every edge forward, two-way edges also backward; CSR sorted by (tail, head, time)
        two = np.flatnonzero(~oneway)
        tail = np.concatenate([u, v[two]])
        head = np.concatenate([v, u[two]])
        a_edge = np.concatenate([np.arange(m), two])
        a_rev = np.concatenate([np.zeros(m, bool), np.ones(two.size, bool)])
        a_w = time_s[a_edge]
        order = np.lexsort((a_w, head, tail))
        tail, head, a_edge = tail[order], head[order], a_edge[order]
        a_rev, a_w = a_rev[order], a_w[order]
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
        rev_order = np.lexsort((tail, head)).astype(np.int64)
        rev_indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(head, minlength=n), out=rev_indptr[1:])

        csr = sparse.csr_matrix((np.ones(tail.size), head.astype(np.int32), indptr), shape=(n, n))
        n_comp, labels = connected_components(csr, directed=True, connection="weak")
        sizes = np.bincount(labels, minlength=n_comp)
        small = sizes < orphan_max_nodes
        small[np.argmax(sizes)] = False
        orphan = small[labels]

        if crs is None:
            from emgis.geo.crs import metric_crs_for

            crs = metric_crs_for((lon.min(), lat.min(), lon.max(), lat.max()))
        x, y = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True).transform(lon, lat)

        report = report or NetworkReport()
        report.nodes, report.edges, report.arcs = n, m, int(tail.size)
        report.components = int(n_comp)
        report.orphan_components = int(small.sum())
        report.orphan_nodes = int(orphan.sum())
        report.largest_component_nodes = int(sizes.max())
        return cls(
            node_lon=lon, node_lat=lat,
            node_x=np.asarray(x, dtype=np.float64), node_y=np.asarray(y, dtype=np.float64),
            node_ids=np.arange(n, dtype=np.int64) if node_ids is None
            else np.asarray(node_ids, dtype=np.int64),
            indptr=indptr, indices=head.astype(np.int32), weights=a_w,
            lengths=length[a_edge], arc_edge=a_edge.astype(np.int32), arc_reversed=a_rev,
            rev_indptr=rev_indptr, rev_indices=tail[rev_order].astype(np.int32),
            rev_order=rev_order,
            edge_u=u.astype(np.int32), edge_v=v.astype(np.int32),
            edge_highway=np.asarray(highway, dtype=np.int16),
            edge_speed_kmh=speed, edge_length_m=length, edge_time_s=time_s,
            edge_oneway=oneway, geom_offsets=geom_offsets, geom_coords=geom_coords,
            component=labels.astype(np.int32), orphan=orphan,
            crs=crs, highway_names=highway_names, report=report,
        )

    # --- weights and matrices ------------------------------------------------------------------

    def arc_weights(self, closures: Any = None) -> np.ndarray:
        """Return arc travel times with closed edges set to infinity (a copy if any is closed).

        Parameters
        ----------
        closures
            None, a boolean mask over edges (e.g. from `geo.routing.closures_from_polygons`)
            or an iterable of edge ids.
        """
        closed = self.edge_mask(closures)
        if closed is None:
            return self.weights
        w = self.weights.copy()
        w[closed[self.arc_edge]] = np.inf
        return w

    def edge_mask(self, closures: Any) -> np.ndarray | None:
        """Return a boolean mask over edges for ``closures`` (None when nothing is closed)."""
        if closures is None:
            return None
        if isinstance(closures, set | frozenset):
            closures = sorted(closures)
        arr = np.asarray(closures)
        if arr.dtype == bool:
            if arr.shape != (self.n_edges,):
                raise ValueError(f"closures: a boolean mask must have one value per edge "
                                 f"({self.n_edges}), not shape {arr.shape}; build it with "
                                 "closures_from_polygons(graph, polygons)")
            return arr if arr.any() else None
        if arr.size == 0:
            return None
        ids = arr.astype(np.int64).ravel()
        bad = ids[(ids < 0) | (ids >= self.n_edges)]
        if bad.size:
            raise ValueError(f"closures: edge ids {bad[:5].tolist()} are not edges of this graph "
                             f"(valid ids are 0..{self.n_edges - 1}, the edge_id of edges_gdf())")
        mask = np.zeros(self.n_edges, dtype=bool)
        mask[ids] = True
        return mask

    def matrix(self, weights: np.ndarray | None = None, *,
               reverse: bool = False) -> sparse.csr_matrix:
        """Return the arcs as a scipy CSR matrix (transposed when ``reverse``) for csgraph."""
        w = self.weights if weights is None else weights
        if weights is None and f"m{reverse}" in self._cache:
            return self._cache[f"m{reverse}"]
        n = self.n_nodes
        if reverse:
            mat = sparse.csr_matrix((w[self.rev_order], self.rev_indices, self.rev_indptr),
                                    shape=(n, n))
        else:
            mat = sparse.csr_matrix((w, self.indices, self.indptr), shape=(n, n))
        if weights is None:
            self._cache[f"m{reverse}"] = mat
        return mat

    def arc_tails(self) -> np.ndarray:
        """Return the tail node of every arc."""
        if "tails" not in self._cache:
            self._cache["tails"] = np.repeat(np.arange(self.n_nodes, dtype=np.int32),
                                             np.diff(self.indptr))
        return self._cache["tails"]

    # --- geometry ------------------------------------------------------------------------------

    def edge_lines(self, *, metric: bool = False) -> NDArray[np.object_]:
        """Return a shapely LineString array of edge geometries (lon/lat, or metric when asked)."""
        import shapely

        key = f"lines{metric}"
        if key not in self._cache:
            coords = self.metric_coords() if metric else self.geom_coords
            which = np.repeat(np.arange(self.n_edges), np.diff(self.geom_offsets))
            self._cache[key] = shapely.linestrings(coords, indices=which)
        return self._cache[key]

    def metric_coords(self) -> np.ndarray:
        """Return ``geom_coords`` projected to ``crs``."""
        if "mcoords" not in self._cache:
            t = Transformer.from_crs(CRS.from_epsg(4326), self.crs, always_xy=True)
            x, y = t.transform(self.geom_coords[:, 0], self.geom_coords[:, 1])
            self._cache["mcoords"] = np.column_stack([x, y])
        return self._cache["mcoords"]

    def edges_gdf(self) -> gpd.GeoDataFrame:
        """Return the edges as a GeoDataFrame in EPSG:4326 (one row per edge, index edge_id).

        Columns: u, v (node indices), highway, speed_kmh, length_m, travel_time_s, oneway
        (True: only u to v), geometry (drawn from u to v).
        """
        import geopandas as gpd
        import pandas as pd

        names = np.asarray(self.highway_names, dtype=object)
        df = pd.DataFrame({
            "u": self.edge_u, "v": self.edge_v,
            "highway": names[self.edge_highway],
            "speed_kmh": self.edge_speed_kmh, "length_m": self.edge_length_m,
            "travel_time_s": self.edge_time_s, "oneway": self.edge_oneway,
        }, index=pd.RangeIndex(self.n_edges, name="edge_id"))
        return gpd.GeoDataFrame(df, geometry=self.edge_lines(), crs="EPSG:4326")

    def to_networkx(self) -> nx.MultiDiGraph:
        """Return the graph as an osmnx-style networkx MultiDiGraph (for checks and benchmarks).

        Nodes are 0..n-1 with ``x``/``y`` (lon/lat); each arc is an edge with ``length``,
        ``travel_time``, ``highway`` and ``edge_id``. ``graph["crs"]`` is EPSG:4326 so
        osmnx's routing functions accept it.
        """
        import networkx as nx

        g = nx.MultiDiGraph(crs="epsg:4326")
        lon_lat = zip(self.node_lon.tolist(), self.node_lat.tolist(), strict=True)
        g.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(lon_lat))
        names = self.highway_names
        hw = self.edge_highway[self.arc_edge].tolist()
        g.add_edges_from(
            (a, b, {"length": ln, "travel_time": t, "highway": names[h], "edge_id": e})
            for a, b, ln, t, h, e in zip(self.arc_tails().tolist(), self.indices.tolist(),
                                         self.lengths.tolist(), self.weights.tolist(), hw,
                                         self.arc_edge.tolist(), strict=True)
        )
        return g

    # --- files ---------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the graph to an uncompressed ``.npz`` file and return its path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        meta = {"format": _FORMAT, "crs": self.crs.to_wkt(), "highway_names": self.highway_names,
                "report": self.report.as_dict()}
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        with open(path, "wb") as fh:
            np.savez(fh, meta=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> CompiledGraph:
        """Read a graph written by `save`."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"compiled graph {path} does not exist; build it with "
                                    "`emgis load roads` (graph_from_osm(...).save(path)) first")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("format") != _FORMAT:
                    raise KeyError("format")
                arrays = {k: z[k] for k in cls._ARRAYS}
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(f"{path} is not a compiled road graph written by emgis ({exc}); "
                             "rebuild it with graph_from_osm(...).save(path)") from None
        return cls(**arrays, crs=CRS.from_wkt(meta["crs"]), highway_names=meta["highway_names"],
                   report=NetworkReport(**meta["report"]))


def _edge_lengths(coords: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    seg = great_circle_m(coords[:-1, 0], coords[:-1, 1], coords[1:, 0], coords[1:, 1])
    # a segment that crosses from one edge's last vertex to the next edge's first is not a road
    cs = np.concatenate([[0.0], np.cumsum(seg)])
    return cs[offsets[1:] - 1] - cs[offsets[:-1]]
