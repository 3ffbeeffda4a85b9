"""Build a routable road network from an OSM extract or from plain line features.

Both loaders end in the same core: ways (sequences of vertices with a class, a speed and a
direction) are split at every vertex shared with another way and at their ends, so graph
nodes are intersections and dead ends, and each edge keeps the geometry of the vertices
between them (what osmnx's ``simplify_graph`` gives, without merging across ways whose
tags differ). Ways clipped by the extract's border are split at the missing nodes,
duplicate edges are dropped, and disconnected islands are kept (tiny ones are flagged as
orphans so points do not snap to them). Speeds come from the norms group
``road.speed_kmh.*`` by class (``road.speed_kmh.cn.*`` for Chinese grades), OSM ``maxspeed``
where it parses, or a layer's speed columns (`geo.road_fields` reads a line layer's columns).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from pyproj import CRS

from emgis.geo.compiled import (
    EARTH_RADIUS_M,
    CompiledGraph,
    FloatArray,
    Int16Array,
    Int64Array,
    NetworkReport,
    RoadEdges,
)
from emgis.geo.osm import read_drivable_ways
from emgis.geo.road_fields import parse_maxspeed, read_way_attributes, road_speeds
from emgis.layers.problems import Problems

if TYPE_CHECKING:
    import geopandas as gpd
    import shapely

    from emgis.layers.norms import Norms

__all__ = [
    "graph_from_lines",
    "graph_from_osm",
    "parse_maxspeed",
    "road_speeds",
]


# --- OSM ---------------------------------------------------------------------------------------

def graph_from_osm(path: str | Path, *, boundary: shapely.Geometry | None = None,
                   norms: Norms | None = None, orphan_max_nodes: int = 10) -> CompiledGraph:
    """Build the drive network of an OSM extract, optionally clipped to a study area.

    Parameters
    ----------
    path
        ``.osm.pbf``, ``.osm``, ``.osm.gz`` or ``.osm.bz2``.
    boundary
        A shapely (Multi)Polygon in EPSG:4326; ways are cut where they leave it.
    norms
        A `layers.norms.Norms`; default speeds come from ``road.speed_kmh.*``.
    orphan_max_nodes
        Components smaller than this (other than the largest) are reported as orphans.

    Returns
    -------
    CompiledGraph
        ``report`` counts ways read, clipped ways split, duplicates dropped and orphans.

    Raises
    ------
    layers.problems.InputError
        For a missing, empty or unreadable file, a file without drivable roads, or a
        boundary with no drivable road inside.
    """
    speeds = road_speeds(norms)
    ways = read_drivable_ways(path, classes=speeds.keys())
    lon, lat = ways.lon.copy(), ways.lat.copy()
    if boundary is not None:
        import shapely

        if not isinstance(boundary, shapely.Geometry) or boundary.is_empty or \
                boundary.geom_type not in ("Polygon", "MultiPolygon"):
            raise ValueError(f"graph_from_osm: boundary={type(boundary).__name__} is not a "
                             "non-empty shapely Polygon/MultiPolygon; pass the study area "
                             "polygon in EPSG:4326 lon/lat")
        shapely.prepare(boundary)
        ok = np.isfinite(lon)
        inside = np.zeros(lon.size, dtype=bool)
        inside[ok] = shapely.contains_xy(boundary, lon[ok], lat[ok])
        if not inside.any():
            b = np.round([np.nanmin(lon), np.nanmin(lat), np.nanmax(lon), np.nanmax(lat)], 4)
            p = Problems(str(path))
            p.error(None, "boundary", tuple(np.round(boundary.bounds, 4).tolist()),
                    f"contains no drivable road of the extract (roads span {tuple(b.tolist())})",
                    "give the study-area polygon in EPSG:4326 lon/lat (not a projected CRS) "
                    "and an extract that covers it")
            p.raise_if_errors()
        lon[~inside] = np.nan
        lat[~inside] = np.nan

    # vertex table: unique OSM node ids that have coordinates
    have = np.isfinite(lon)
    vert_ids, first = np.unique(ways.node_ids[have], return_index=True)
    refs = np.full(ways.node_ids.size, -1, dtype=np.int64)
    refs[have] = np.searchsorted(vert_ids, ways.node_ids[have])
    v_lon, v_lat = lon[have][first], lat[have][first]

    names = sorted(set(ways.highway))
    code = {h: i for i, h in enumerate(names)}
    unparsed = 0
    way_speed = np.empty(len(ways.highway))
    for i, (cls, ms) in enumerate(zip(ways.road_class, ways.maxspeed, strict=True)):
        s = parse_maxspeed(ms) if ms is not None else None
        if ms is not None and s is None:
            unparsed += 1
        way_speed[i] = s if s is not None else speeds[cls]
    report = NetworkReport(ways_read=ways.ways_read, drivable_ways=len(ways.highway),
                           maxspeed_unparsed=unparsed)
    return _compile_ways(
        _Ways(v_lon=v_lon, v_lat=v_lat, v_ids=vert_ids, refs=refs, offsets=ways.offsets,
              oneway=ways.oneway, highway=np.array([code[h] for h in ways.highway], dtype=np.int16),
              highway_names=names, speed_kmh=way_speed),
        report=report, orphan_max_nodes=orphan_max_nodes, source=str(path),
    )


# --- line features -----------------------------------------------------------------------------

def graph_from_lines(gdf: gpd.GeoDataFrame, *, class_field: str | None = None,
                     speed_field: str | tuple[str, str] | None = None,
                     oneway_field: str | None = None, norms: Norms | None = None,
                     snap_tolerance_m: float = 0.5, orphan_max_nodes: int = 10,
                     source: str = "line layer") -> CompiledGraph:
    """Build a network from road line features (GeoPackage, Shapefile, ...).

    Lines are joined where they share a vertex (endpoint or interior) within
    ``snap_tolerance_m``; lines that cross without a shared vertex are treated as
    over/underpasses, as in OSM.

    Parameters
    ----------
    gdf
        GeoDataFrame of LineString/MultiLineString with a CRS.
    class_field
        Column with the road class: an OSM class (``primary``, ``primary_link``) or a Chinese
        grade (主干路, 县道, 三级公路 ... see `geo.road_fields`); its speed is the norm
        ``road.speed_kmh.<class>`` or ``road.speed_kmh.cn.<grade>``.
    speed_field
        Column with a speed in km/h (where empty the class speed applies), or a pair of columns
        (along the line, against it): a line with a speed one way and 0 or none the other is
        one-way; with different speeds each way it becomes two one-way edges.
    oneway_field
        Optional column of one-way codes (yes/no/1/0/-1, T/F, FT/TF/B, 双向/正向/逆向, NavInfo
        0-3 ...: `geo.road_fields.oneway_scheme` settles the coding from the whole column).
    norms
        A `layers.norms.Norms`.
    snap_tolerance_m
        Vertices closer than this are the same node.
    orphan_max_nodes
        Components smaller than this (other than the largest) are reported as orphans.
    source
        Name of the layer in error messages.

    Returns
    -------
    CompiledGraph

    Raises
    ------
    layers.problems.InputError
        Listing every problem: no class or speed field, unknown fields, unknown classes (once,
        with their counts), bad speeds, bad one-way values, geometries that are not lines, no CRS.
    """
    import geopandas as gpd
    import shapely

    p = Problems(source)
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise ValueError(f"graph_from_lines: gdf is a {type(gdf).__name__}, not a GeoDataFrame; "
                         "read the layer with geopandas.read_file(path)")
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    if class_field is None and speed_field is None:
        p.error(None, None, None, "has no class_field and no speed_field",
                f"pass class_field= or speed_field= naming one of the columns {cols}")
    pair = (speed_field,) if isinstance(speed_field, str) else tuple(speed_field or ())
    for name, f in (("class_field", class_field), *(("speed_field", s) for s in pair),
                    ("oneway_field", oneway_field)):
        if f is not None and f not in gdf.columns:
            p.error(None, f, f, f"({name}) is not a column of the layer",
                    f"use one of the columns {cols}")
    if gdf.crs is None:
        p.error(None, "geometry", None, "has no CRS",
                "set the layer's CRS (gdf.set_crs(...)) to the one its coordinates are in")
    if len(gdf) == 0:
        p.error(None, None, None, "has no features", "give a layer with road lines")
    p.raise_if_errors()

    geoms = gdf.geometry.to_crs(4326).values
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(kinds, [1, 5]) | shapely.is_empty(geoms))
    for i in bad[:50]:
        kind = shapely.get_type_id(geoms[i]) if geoms[i] is not None else None
        p.error(int(i) + 1, "geometry", kind, "is not a (Multi)LineString or is empty",
                "keep only road centre lines in the layer")
    attrs = read_way_attributes(gdf, class_field=class_field, speed_field=speed_field,
                                oneway_field=oneway_field, norms=norms, p=p)
    p.raise_if_errors()
    fwd, bwd = np.isfinite(attrs.speed_along), np.isfinite(attrs.speed_against)
    closed = np.flatnonzero(attrs.keep & ~fwd & ~bwd)
    for i in closed[:50]:
        p.error(int(i) + 1, oneway_field or "speed", None,
                "is open neither way (its one-way code and directional speeds disagree)",
                "give a speed for the direction the one-way code allows")
    p.raise_if_errors()

    # one way per direction when the two directions differ, one two-way way otherwise
    same = fwd & bwd & (attrs.speed_along == attrs.speed_against)
    rows_f = np.flatnonzero(attrs.keep & fwd)
    rows_b = np.flatnonzero(attrs.keep & bwd & ~same)
    way_row = np.concatenate([rows_f, rows_b])
    way_dir = np.concatenate([np.where(same[rows_f], 0, 1), np.full(rows_b.size, -1)])
    way_speed = np.concatenate([attrs.speed_along[rows_f], attrs.speed_against[rows_b]])
    order = np.argsort(way_row, kind="stable")
    way_row, way_dir, way_speed = way_row[order], way_dir[order], way_speed[order]
    if way_row.size == 0:
        p.error(None, class_field, None, "has no road lines left (all are left out)",
                "give a layer with road lines")
        p.raise_if_errors()
    return _compile_lines(geoms[way_row], way_dir.astype(np.int8), way_speed,
                          attrs.class_name[way_row], snap_tolerance_m=snap_tolerance_m,
                          orphan_max_nodes=orphan_max_nodes, source=source, n_read=len(gdf))


def _compile_lines(geoms: NDArray[np.object_], oneway: NDArray[np.int8], speed: FloatArray,
                   cls_name: NDArray[np.object_], *, snap_tolerance_m: float,
                   orphan_max_nodes: int, source: str, n_read: int) -> CompiledGraph:
    """Node lines that share a vertex (within the tolerance) and compile them."""
    import shapely
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    from emgis.geo.crs import metric_crs_for

    parts, part_of = shapely.get_parts(geoms, return_index=True)
    coords, line_of = shapely.get_coordinates(parts, return_index=True)
    offsets = np.zeros(parts.size + 1, dtype=np.int64)
    np.cumsum(np.bincount(line_of, minlength=parts.size), out=offsets[1:])
    # cluster vertices within the tolerance (in metres) into nodes
    crs = metric_crs_for(tuple(shapely.total_bounds(parts)))
    # local metres (equirectangular about the mean latitude): over a tolerance of a metre its
    # error is nil, and it skips building a pyproj transformer (~0.5 s)
    lon0, lat0 = coords.mean(axis=0)
    x = np.radians(coords[:, 0] - lon0) * EARTH_RADIUS_M * np.cos(np.radians(lat0))
    y = np.radians(coords[:, 1] - lat0) * EARTH_RADIUS_M
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(snap_tolerance_m, output_type="ndarray")
    m = coords.shape[0]
    adj = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(m, m))
    _, refs = connected_components(adj, directed=False)
    _, first = np.unique(refs, return_index=True)

    names = sorted(set(cls_name.tolist()))
    code = {h: i for i, h in enumerate(names)}
    report = NetworkReport(ways_read=n_read, drivable_ways=int(parts.size))
    return _compile_ways(
        _Ways(v_lon=coords[first, 0], v_lat=coords[first, 1], v_ids=None,
              refs=refs.astype(np.int64), offsets=offsets, oneway=oneway[part_of],
              highway=np.array([code[h] for h in cls_name[part_of]], dtype=np.int16),
              highway_names=names, speed_kmh=speed[part_of]),
        report=report, orphan_max_nodes=orphan_max_nodes, source=source, crs=crs,
    )


# --- the shared core ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Ways:
    """Ways to compile: way ``i`` runs through vertices ``refs[offsets[i]:offsets[i + 1]]``."""

    v_lon: FloatArray  # vertex coordinates, EPSG:4326
    v_lat: FloatArray
    v_ids: Int64Array | None  # source id of each vertex (OSM node ids); None: none kept
    refs: Int64Array  # vertex of each point of each way; -1 where it is missing (clipped)
    offsets: Int64Array
    oneway: NDArray[np.int8]  # per way: +1 along its points only, -1 against them, 0 both
    highway: Int16Array  # per way: class code, indexes highway_names
    highway_names: list[str]
    speed_kmh: FloatArray  # per way


def _compile_ways(ways: _Ways, *, report: NetworkReport, orphan_max_nodes: int, source: str,
                  crs: CRS | None = None) -> CompiledGraph:
    """Split ways (vertex refs, -1 = missing) into edges between shared vertices and compile."""
    v_lon, v_lat, refs, offsets, oneway = (
        ways.v_lon, ways.v_lat, ways.refs, ways.offsets, ways.oneway)
    w = offsets.size - 1
    way_of = np.repeat(np.arange(w), np.diff(offsets))
    # ways one-way against their drawing direction: reverse their vertex order
    back = oneway[way_of] < 0
    if back.any():
        pos = np.arange(refs.size)
        start, end = offsets[way_of], offsets[way_of + 1] - 1
        pos[back] = (start + end - pos)[back]
        refs = refs[pos]
    one = oneway != 0

    valid = refs >= 0
    same_way = np.zeros(refs.size, dtype=bool)
    same_way[1:] = way_of[1:] == way_of[:-1]
    run_start = valid & ~(np.r_[False, valid[:-1]] & same_way)
    run = np.cumsum(run_start) - 1
    repeat = np.zeros(refs.size, dtype=bool)
    repeat[1:] = same_way[1:] & valid[:-1] & (refs[1:] == refs[:-1])
    sel = valid & ~repeat
    r_refs, r_run = refs[sel], run[sel]
    r_way = way_of[sel]
    keep = np.bincount(r_run)[r_run] >= 2
    r_refs, r_run, r_way = r_refs[keep], r_run[keep], r_way[keep]
    # ways that lost points at the border but kept some
    kept_some = np.bincount(way_of[valid], minlength=w)[way_of] > 0
    report.clipped_ways_split = int(np.unique(way_of[~valid & kept_some]).size)
    if r_refs.size == 0:
        p = Problems(source)
        p.error(None, None, None, "has no road with two or more vertices inside the area",
                "give an extract or layer that covers the study area")
        p.raise_if_errors()

    first = np.r_[True, r_run[1:] != r_run[:-1]]
    last = np.r_[r_run[1:] != r_run[:-1], True]
    count = np.bincount(r_refs, minlength=v_lon.size)
    is_node = first | last | (count[r_refs] >= 2)
    pn = np.flatnonzero(is_node)
    a, b = pn[:-1], pn[1:]
    ok = r_run[a] == r_run[b]
    a, b = a[ok], b[ok]
    u_vert, v_vert = r_refs[a], r_refs[b]
    e_way = r_way[a]

    # drop self-loops and duplicate edges (same vertex sequence, either direction)
    loop = u_vert == v_vert
    report.self_loops_dropped = int(loop.sum())
    a, b, u_vert, v_vert, e_way = a[~loop], b[~loop], u_vert[~loop], v_vert[~loop], e_way[~loop]
    dup = _duplicate_edges(a, b, u_vert, v_vert, r_refs, one[e_way])
    report.duplicates_dropped = int(dup.sum())
    a, b, u_vert, v_vert, e_way = a[~dup], b[~dup], u_vert[~dup], v_vert[~dup], e_way[~dup]

    glen = b - a + 1
    goff = np.zeros(a.size + 1, dtype=np.int64)
    np.cumsum(glen, out=goff[1:])
    flat = np.repeat(a, glen) + (np.arange(goff[-1]) - np.repeat(goff[:-1], glen))
    gverts = r_refs[flat]
    node_verts, inv = np.unique(np.concatenate([u_vert, v_vert]), return_inverse=True)
    edges = RoadEdges(inv[: a.size], inv[a.size:], highway=ways.highway[e_way],
                      highway_names=ways.highway_names, speed_kmh=ways.speed_kmh[e_way],
                      oneway=one[e_way], geom_offsets=goff,
                      geom_coords=np.column_stack([v_lon[gverts], v_lat[gverts]]))
    return CompiledGraph.from_edges(
        v_lon[node_verts], v_lat[node_verts], edges,
        node_ids=None if ways.v_ids is None else ways.v_ids[node_verts],
        crs=crs, report=report, orphan_max_nodes=orphan_max_nodes,
    )


def _duplicate_edges(a: Int64Array, b: Int64Array, u_vert: Int64Array, v_vert: Int64Array,
                     r_refs: Int64Array, one: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Flag edges whose vertex sequence repeats an earlier edge's: either direction for two-way
    edges; one-way edges only in the same direction (a road split into one edge per direction
    keeps both)."""
    lo, hi = np.minimum(u_vert, v_vert), np.maximum(u_vert, v_vert)
    key = lo.astype(np.int64) * (int(max(hi.max(), 1)) + 1) + hi
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    dup = np.zeros(a.size, dtype=bool)
    seen: set[bytes] = set()
    for i in np.flatnonzero(cnt[inv] > 1):
        seq = r_refs[a[i]: b[i] + 1]
        k = (seq.tobytes() + b"1") if one[i] else (min(seq.tobytes(), seq[::-1].tobytes()) + b"0")
        if k in seen:
            dup[i] = True
        else:
            seen.add(k)
    return dup

