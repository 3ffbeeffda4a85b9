"""Fire-station districts (消防站辖区): the road network split among the fire stations, each node to
the station that reaches it fastest, each district's area checked against the norms.

**Partition.** One multi-source Dijkstra from every station at once
(`geo.routing.nearest_facility_times`, ``direction="from_facility"``: the engine drives out;
scipy's ``dijkstra(..., min_only=True, return_predecessors=True)`` labels each node with the
source that reached it, or a super source carries the stations' off-road snap times). Every
node reached belongs to exactly one district; nodes no station reaches (a piece of road cut off
from the stations, an orphan component, the far side of a one-way) are reported as unreachable.
On a tie the search's own order decides; the time is the same.

**Polygons.** A district is land, not only road: each road node gets its Voronoi cell (the
land closer to it than to any other node, in the network's metric CRS), the cells are merged
by district and clipped to the study area (the county outline; without one, to the convex hull
of the network's nodes). The districts therefore tile the county without overlaps and their
areas add up to it; the cells of unreachable nodes form the unreachable area. Land far from any
road goes to the district of its nearest road node — read large rural districts with that in
mind.

**Check.** The area against ``fire.district_km2.<station class>`` (建标152-2017 第十四条: 一级站
7 km², 二级站 4, 小型站 2, 近郊区普通站 15; a station without a class is held to
``fire.district_km2.urban``, GB 51080-2015 §4.1.3: 7 km²), and the 5-minute principle (the
company reaches the edge of its district within ``fire.response_min`` of dispatch): the share
of the district's area whose road node is reached within that time, against
``fire.district_reach_share_min``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Districts", "district_polygons", "fire_districts", "partition"]

METHOD = ("Voronoi cells of the road nodes, merged by district and clipped to the study area "
          "(else the convex hull of the nodes)")


@dataclass
class Districts:
    """The partition and its districts.

    ``node_station``: per graph node, the position of its station in the stations given
    (-1: unreachable); ``node_time_s``: the time from that station (inf when unreachable);
    ``table``: one row per station (GeoDataFrame, EPSG:4326) with the check;
    ``unreachable``: node indices no station reaches; ``unreachable_area``: their cells
    (EPSG:4326 geometry, or None) and ``unreachable_km2``.
    """

    node_station: np.ndarray
    node_time_s: np.ndarray
    table: Any
    unreachable: np.ndarray
    unreachable_area: Any = None
    unreachable_km2: float = 0.0
    notes: list[str] = field(default_factory=list)
    method: str = METHOD


def partition(graph, stations, *, norms=None, closures=None) -> tuple[np.ndarray, np.ndarray]:
    """``(node_station, node_time_s)``: every node to the station that reaches it fastest.

    ``stations``: anything `shelters.coverage` takes as facilities (points with a CRS, lon/lat
    columns, or pre-snapped node/offroad_s); their off-road snap time counts.
    """
    from emgis.geo.routing import nearest_facility_times
    from emgis.shelters.coverage import _facility_points

    n = graph.n_nodes
    if not len(stations):
        return np.full(n, -1, dtype=np.int64), np.full(n, np.inf)
    fac = _facility_points(graph, stations, norms)
    times, owner = nearest_facility_times(graph, fac, closures=closures,
                                          direction="from_facility", norms=norms)
    owner = np.where(np.isfinite(times), owner, -1).astype(np.int64)
    return owner, np.where(owner >= 0, times, np.inf)


def _node_cells(graph, clip) -> tuple[np.ndarray, np.ndarray]:
    """``(cells, owner_node)``: the Voronoi cells of the distinct node positions (metric CRS)
    clipped to ``clip``, and for each the node it belongs to."""
    import shapely

    xy = np.column_stack([np.asarray(graph.node_x, float), np.asarray(graph.node_y, float)])
    uniq, first = np.unique(np.round(xy, 3), axis=0, return_index=True)
    if len(uniq) == 1:
        return np.array([clip], dtype=object), first
    pts = shapely.points(xy[first])
    env = shapely.box(*shapely.MultiPoint(list(pts)).union(clip).bounds).buffer(1000.0)
    cells = np.asarray(shapely.get_parts(shapely.voronoi_polygons(shapely.MultiPoint(list(pts)),
                                                                  extend_to=env)))
    tree = shapely.STRtree(cells)
    pi, ci = tree.query(pts, predicate="intersects")
    cell_of = np.full(len(pts), -1, dtype=np.int64)
    cell_of[pi[::-1]] = ci[::-1]  # a point on a shared edge: its first cell
    keep = cell_of >= 0
    clipped = shapely.intersection(cells[cell_of[keep]], clip)
    return clipped, first[keep]


def district_polygons(graph, node_station: np.ndarray, n_stations: int, *, clip=None):
    """``(polygons, areas_km2, unreachable polygon, its km², cell areas by node)``: metric
    geometries per station position (empty where a station owns no node)."""
    import shapely

    if clip is None:
        clip = shapely.MultiPoint(list(shapely.points(np.asarray(graph.node_x, float),
                                                      np.asarray(graph.node_y, float)))
                                  ).convex_hull
    cells, node = _node_cells(graph, clip)
    label = node_station[node]
    areas = shapely.area(cells)
    cell_area = np.zeros(graph.n_nodes)
    cell_area[node] = areas
    polys, km2 = [], []
    for s in range(n_stations):
        mine = cells[label == s]
        g = shapely.union_all(mine) if len(mine) else shapely.Polygon()
        polys.append(g)
        km2.append(float(areas[label == s].sum()) / 1e6)
    gone = cells[label < 0]
    lost = shapely.union_all(gone) if len(gone) else None
    return polys, np.asarray(km2), lost, float(areas[label < 0].sum()) / 1e6, cell_area


def _limit(norms, fire_class: Any) -> tuple[float | None, str]:
    cls = None if fire_class is None or pd.isna(fire_class) or str(fire_class) in ("", "None") \
        else str(fire_class)
    key = f"fire.district_km2.{cls}" if cls else "fire.district_km2.urban"
    if key not in norms:
        return None, key
    return float(norms.number(key)), key


def fire_districts(graph, stations, *, norms=None, area=None, closures=None) -> Districts:
    """Partition the network among ``stations`` and check each district against the norms.

    ``stations``: a GeoDataFrame of fire stations (id, ext_id, name, fire_class, point
    geometry); ``area``: the study area (EPSG:4326 polygon) the districts are clipped to.
    """
    import geopandas as gpd
    import shapely

    from emgis.layers.norms import default_norms

    norms = norms or default_norms()
    stations = stations.reset_index(drop=True)
    owner, times = partition(graph, stations, norms=norms, closures=closures)
    clip = None
    if area is not None:
        clip = gpd.GeoSeries([area], crs=4326).to_crs(graph.crs).iloc[0]
        clip = shapely.make_valid(clip)
    polys, km2, lost, lost_km2, cell_area = district_polygons(graph, owner, len(stations),
                                                              clip=clip)
    limit_s = float(norms.number("fire.response_min")) * 60.0
    share_min = float(norms.number("fire.district_reach_share_min"))
    rows = []
    for s in range(len(stations)):
        mine = owner == s
        within = mine & (times <= limit_s)
        a = cell_area[mine].sum()
        share = float(cell_area[within].sum() / a) if a > 0 else None
        fc = stations["fire_class"].iloc[s] if "fire_class" in stations.columns else None
        limit, key = _limit(norms, fc)
        area_ok = None if limit is None else bool(km2[s] <= limit)
        reach_ok = None if share is None else bool(share >= share_min - 1e-9)
        says = []
        if limit is None:
            says.append(f"no norm {key}: area not checked")
        elif not area_ok:
            says.append(f"area {km2[s]:.2f} km² > {limit:g} km² ({key})")
        if share is not None and not reach_ok:
            says.append(f"{share:.0%} of the area reached within {limit_s / 60:g} min "
                        f"(< {share_min:.0%})")
        if not mine.any():
            says.append("owns no road node (another station on the same node, or it cannot "
                        "reach the network)")
        ok = bool(mine.any() and area_ok is not False and reach_ok is not False)
        t = times[mine]
        rows.append({
            "station_id": stations["id"].iloc[s] if "id" in stations.columns else s,
            "ext_id": stations["ext_id"].iloc[s] if "ext_id" in stations.columns else None,
            "name": stations["name"].iloc[s] if "name" in stations.columns else None,
            "fire_class": None if fc is None or pd.isna(fc) or str(fc) == "None" else str(fc),
            "nodes": int(mine.sum()), "nodes_within": int(within.sum()),
            "max_time_min": round(float(t.max()) / 60, 2) if t.size else None,
            "area_km2": round(float(km2[s]), 3),
            "reach_share": None if share is None else round(share, 4),
            "limit_km2": limit, "limit_norm": key, "area_ok": area_ok, "reach_ok": reach_ok,
            "ok": ok, "check": "ok" if ok and not says else "; ".join(says),
        })
    table = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=polys, crs=graph.crs).to_crs(4326)
    unreachable = np.flatnonzero(owner < 0)
    notes = [f"{len(stations)} station(s); {int((owner >= 0).sum())} of {graph.n_nodes} road "
             f"nodes reached, {unreachable.size} unreachable ({lost_km2:.2f} km²)",
             f"5-minute principle: fire.response_min = {limit_s / 60:g} min, share of the "
             f"district's area reached ≥ {share_min:.0%} (fire.district_reach_share_min)"]
    lost84 = None if lost is None else gpd.GeoSeries([lost], crs=graph.crs).to_crs(4326).iloc[0]
    return Districts(owner, times, table, unreachable, lost84, lost_km2, notes)
