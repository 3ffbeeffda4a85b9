"""Spread a population total over a grid when only totals and township seats are known.

A bureau often has no village points and no township census: only the county outline, the
township seats (a geocoded list, usually Baidu BD-09), the county's census total and a road
network. Eight or twenty seats are too coarse for coverage, so the total is spread over square
cells (``demand.cell_m``, 500 m by default) inside the outline, weighted by a proxy:

* **road length by grade** in the cell (norms ``demand.road_weight.<class>``: streets and estate
  roads weigh more than arterials and highways, where few people live), when a road network is
  loaded; a cell is placed at the weighted centroid of its roads, so it snaps to them;
* **area** (every cell inside the outline the same) when there are no roads.

Each cell belongs to the township whose seat it reaches first by road (one multi-source
Dijkstra from the seats, `geo.routing.nearest_facility_times`); a cell whose roads reach no seat
(another piece of the network) goes to the nearest seat in a straight line, and says so. With a
township total the township's people go to its own cells; with a county total all cells share
it. Integer people are rounded by largest remainder, so the points sum exactly to the total.

``cell_demand`` aggregates a population raster to square cells instead (the raster is the
better proxy when there is one).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from emgis.layers.load.rasters import PopRaster

__all__ = ["cell_demand", "grid_spread", "largest_remainder", "road_class_weights"]

#: Chinese road grades (`geo.road_fields.CN_GRADES`, variants normalised) -> the OSM class
#: whose ``demand.road_weight`` they take
ZH_WEIGHT_CLASS = {
    "快速路": "trunk", "主干路": "primary", "次干路": "secondary", "支路": "residential",
    "内部道路": "service", "高速公路": "motorway", "一级公路": "trunk", "二级公路": "primary",
    "三级公路": "secondary", "四级公路": "tertiary", "等外公路": "track", "国道": "trunk",
    "省道": "primary", "县道": "secondary", "乡道": "tertiary", "村道": "unclassified",
    "专用公路": "unclassified", "机耕路": "track", "渡口": "ferry", "轮渡": "ferry",
    "街坊路": "service", "街巷": "service",
}


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` people in proportion to ``weights`` as integers that sum to ``total``."""
    w = np.asarray(weights, dtype=float)
    total = int(total)
    if w.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not (w > 0).any():
        w = np.ones_like(w)
    share = w / w.sum() * total
    out = np.floor(share).astype(np.int64)
    rest = total - int(out.sum())
    if rest > 0:
        order = np.lexsort((np.arange(w.size), -(share - out)))
        out[order[:rest]] += 1
    return out


def road_class_weights(graph: Any, norms: Any) -> np.ndarray:
    """The proxy weight (per metre) of every edge of ``graph`` from its class name."""
    from emgis.geo.road_fields import CN_VARIANTS

    table = {k: float(v) for k, v in norms.group("demand.road_weight").items()}
    other = table.get("other", 1.0)
    per_name = []
    for name in graph.highway_names:
        text = str(name).strip()
        base = text[:-5] if text.endswith("_link") else text
        key = base if base in table else ZH_WEIGHT_CLASS.get(CN_VARIANTS.get(base, base), base)
        per_name.append(table.get(key, other))
    return np.asarray(per_name, dtype=float)[np.asarray(graph.edge_highway, dtype=np.int64)]


def _road_cells(graph: Any, crs_m: CRS, cell_m: float, norms: Any) -> pd.DataFrame:
    """Weighted road length per cell (ix, iy, w) and the weighted centroid (x, y) of it."""
    offsets = np.asarray(graph.geom_offsets, dtype=np.int64)
    coords = np.asarray(graph.geom_coords, dtype=float)
    if coords.shape[0] < 2:
        return pd.DataFrame(columns=["ix", "iy", "w", "x", "y"])
    x, y = Transformer.from_crs(4326, crs_m, always_xy=True).transform(coords[:, 0], coords[:, 1])
    x, y = np.asarray(x), np.asarray(y)
    edge_of = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))
    same = edge_of[:-1] == edge_of[1:]
    seg_len = np.hypot(np.diff(x), np.diff(y))[same]
    mx = ((x[:-1] + x[1:]) / 2)[same]
    my = ((y[:-1] + y[1:]) / 2)[same]
    w = seg_len * road_class_weights(graph, norms)[edge_of[:-1][same]]
    df = pd.DataFrame({"ix": np.floor(mx / cell_m).astype(np.int64),
                       "iy": np.floor(my / cell_m).astype(np.int64),
                       "w": w, "wx": w * mx, "wy": w * my})
    g = df.groupby(["ix", "iy"], sort=True)[["w", "wx", "wy"]].sum().reset_index()
    g = g[g["w"] > 0]
    return pd.DataFrame({"ix": g["ix"], "iy": g["iy"], "w": g["w"],
                         "x": g["wx"] / g["w"], "y": g["wy"] / g["w"]})


def _outline_cells(outline_m: Any, cell_m: float) -> pd.DataFrame:
    """Cells whose centre lies inside the (metric) outline: ix, iy, centre x, y."""
    import shapely

    x0, y0, x1, y1 = outline_m.bounds
    ix = np.arange(np.floor(x0 / cell_m), np.floor(x1 / cell_m) + 1).astype(np.int64)
    iy = np.arange(np.floor(y0 / cell_m), np.floor(y1 / cell_m) + 1).astype(np.int64)
    gx, gy = np.meshgrid(ix, iy, indexing="ij")
    cx, cy = (gx.ravel() + 0.5) * cell_m, (gy.ravel() + 0.5) * cell_m
    inside = shapely.contains_xy(outline_m, cx, cy)
    return pd.DataFrame({"ix": gx.ravel()[inside], "iy": gy.ravel()[inside],
                         "cx": cx[inside], "cy": cy[inside]})


def _cells(outline: Any, crs_m: CRS, cell_m: float, graph: Any, norms: Any,
           raster: PopRaster | None = None) -> tuple[pd.DataFrame, str]:
    """The cells inside the outline with their weight w and position (x, y) in ``crs_m``."""
    import shapely

    to_m = Transformer.from_crs(4326, crs_m, always_xy=True)
    outline_m = shapely.transform(outline, lambda x, y: to_m.transform(x, y), interleaved=False)
    inner = _outline_cells(outline_m, cell_m)
    if raster is not None:
        rc = cell_demand(raster, cell_m, int(crs_m.to_epsg() or 0))
        rc = rc[shapely.contains_xy(outline_m, rc["x"].to_numpy(), rc["y"].to_numpy())]
        if len(rc):
            cells = pd.DataFrame({"ix": rc["ix"], "iy": rc["iy"], "w": rc["population"],
                                  "x": rc["x"], "y": rc["y"]})
            return cells.reset_index(drop=True), "raster"
    roads = _road_cells(graph, crs_m, cell_m, norms) if graph is not None else None
    if roads is not None and len(roads):
        keep = shapely.contains_xy(outline_m, roads["x"].to_numpy(), roads["y"].to_numpy())
        cells = inner.merge(roads, on=["ix", "iy"], how="outer")
        on_road = cells["w"].notna()
        inside_road = cells[["ix", "iy"]].merge(roads.loc[keep, ["ix", "iy"]].assign(k=True),
                                                on=["ix", "iy"], how="left")["k"].notna()
        cells = cells[(cells["cx"].notna() | inside_road.to_numpy())
                      & (~on_road | inside_road.to_numpy() | cells["cx"].notna())]
        cells = cells[cells["w"].fillna(0) > 0].reset_index(drop=True)
        if len(cells):
            return cells[["ix", "iy", "w", "x", "y"]], "roads"
    inner = inner.rename(columns={"cx": "x", "cy": "y"}).assign(w=1.0)
    return inner[["ix", "iy", "w", "x", "y"]].reset_index(drop=True), "area"


def _assign(cells_ll: tuple[np.ndarray, np.ndarray], seats_ll: tuple[np.ndarray, np.ndarray],
            crs_m: CRS, graph: Any, norms: Any) -> tuple[np.ndarray, np.ndarray]:
    """Index of the seat each cell reaches first by road; 'road' or 'straight_line' per cell."""
    from scipy.spatial import cKDTree

    to_m = Transformer.from_crs(4326, crs_m, always_xy=True)
    sx, sy = to_m.transform(*seats_ll)
    cx, cy = to_m.transform(*cells_ll)
    _, nearest = cKDTree(np.c_[sx, sy]).query(np.c_[cx, cy])
    which = np.asarray(nearest, dtype=np.int64)
    how = np.full(which.size, "straight_line", dtype=object)
    if graph is not None and which.size:
        from emgis.geo.routing import nearest_facility_times, snap

        times, fac = nearest_facility_times(graph, seats_ll, direction="to_facility",
                                            norms=norms)
        s = snap(graph, cells_ll[0], cells_ll[1], norms=norms)
        t = s.time_s + times[s.node]
        ok = np.isfinite(t) & (fac[s.node] >= 0)
        which[ok] = fac[s.node][ok]
        how[ok] = "road"
    return which, how


def grid_spread(outline: Any, seats: Any, totals: dict[str, int], *, metric_crs: Any,
                graph: Any = None, norms: Any = None, raster: PopRaster | None = None,
                method: str = "county_proxy") -> Any:
    """Spread ``totals`` over grid cells inside ``outline``; one demand point per cell.

    Parameters
    ----------
    outline
        The county outline (shapely, lon/lat).
    seats
        GeoDataFrame (EPSG:4326) of township seats: ``code`` (9-digit township), ``name``,
        point geometry; may be empty (cells then carry no township).
    totals
        ``{township code (9 digits): people}`` to spread within each township's cells, or
        ``{"county": people}`` to spread over all cells.
    metric_crs
        Projected CRS in metres for the grid (the study area's).
    graph, norms
        The road network (weights and assignment; None: area proxy, straight lines) and the
        norms in force (``demand.cell_m``, ``demand.road_weight.*``, the off-road speed).
    raster
        A population raster: when given, the cells weigh by its people (the method becomes
        ``county_raster`` for a county total) and the roads only assign cells to seats.
    method
        ``population_method`` of the points: ``county_proxy`` or ``township_census``.

    Returns
    -------
    geopandas.GeoDataFrame
        code (``<township>-<ix>_<iy>``), name, township_code, population (integers summing to
        the totals), placement (``grid_roads`` / ``grid_area`` / ``township_seat`` for a
        township without a cell), population_method, assigned (road / straight_line / none),
        geometry; ``attrs["notes"]`` and ``attrs["proxy"]``.
    """
    import geopandas as gpd
    import shapely

    if norms is None:
        from emgis.layers.norms import default_norms

        norms = default_norms()
    crs_m = CRS.from_user_input(metric_crs)
    cell_m = float(norms.number("demand.cell_m"))
    cells, proxy = _cells(outline, crs_m, cell_m, graph, norms, raster)
    if proxy == "raster" and method == "county_proxy":
        method = "county_raster"
    to_ll = Transformer.from_crs(crs_m, 4326, always_xy=True)
    lon, lat = to_ll.transform(cells["x"].to_numpy(), cells["y"].to_numpy())
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    notes = [f"{len(cells)} cells of {cell_m:g} m inside the outline, weighted by "
             + {"roads": "road length by grade (norms demand.road_weight.*)",
                "raster": f"the population raster {getattr(raster, 'source', '')}",
                "area": "area (no road network: every cell alike)"}[proxy]]
    has_seats = seats is not None and len(seats) > 0
    town = np.full(len(cells), "", dtype=object)
    assigned = np.full(len(cells), "none", dtype=object)
    if has_seats and len(cells):
        s_ll = (shapely.get_x(seats.geometry.to_numpy()), shapely.get_y(seats.geometry.to_numpy()))
        which, assigned = _assign((lon, lat), s_ll, crs_m, graph if proxy != "area" else None,
                                  norms)
        town = seats["code"].to_numpy(dtype=object)[which]
        n_line = int((assigned == "straight_line").sum())
        notes.append(f"cells assigned to the township whose seat they reach first by road: "
                     f"{int((assigned == 'road').sum())}; to the nearest seat in a straight line "
                     f"(no road to any seat): {n_line}")
    pop = np.zeros(len(cells), dtype=np.int64)
    extra: list[dict] = []
    placement = {"roads": "grid_roads", "raster": "grid_raster", "area": "grid_area"}[proxy]
    for key, total in totals.items():
        mine = np.ones(len(cells), dtype=bool) if key == "county" else town == key
        if mine.any():
            pop[mine] = largest_remainder(int(total), cells["w"].to_numpy()[mine])
            continue
        seat = seats[seats["code"] == key] if has_seats else seats
        if has_seats and len(seat):
            extra.append({"code": key, "name": seat["name"].iloc[0], "township_code": key,
                          "population": int(total), "placement": "township_seat",
                          "assigned": "none", "geometry": seat.geometry.iloc[0]})
        else:
            extra.append({"code": key, "name": None, "township_code": key,
                          "population": int(total), "placement": "code_only",
                          "assigned": "none", "geometry": None})
    ix, iy = cells["ix"].to_numpy(), cells["iy"].to_numpy()
    names = dict(zip(seats["code"], seats["name"], strict=False)) if has_seats else {}
    code = [f"{t or 'county'}-{a}_{b}" for t, a, b in zip(town, ix, iy, strict=True)]
    out = pd.DataFrame({"code": code,
                        "name": [f"{names.get(t, '') or '网格'} {a}_{b}"
                                 for t, a, b in zip(town, ix, iy, strict=True)],
                        "township_code": [t or None for t in town], "population": pop,
                        "placement": placement, "assigned": assigned,
                        "geometry": list(shapely.points(lon, lat))})
    out = out[out["population"] > 0]
    if extra:
        out = pd.concat([out, pd.DataFrame(extra)], ignore_index=True)
    gdf = gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=4326)
    gdf["population_method"] = method
    gdf["population"] = gdf["population"].astype(float)
    notes.append(f"{int((gdf['placement'] == placement).sum())} populated cells hold "
                 f"{int(gdf['population'].sum()):,} people (total {sum(totals.values()):,})")
    gdf.attrs["notes"] = notes
    gdf.attrs["proxy"] = proxy
    return gdf


# --- raster cells ---------------------------------------------------------------------------------

def cell_demand(raster: PopRaster, cell_m: float, metric_epsg: int, *,
                position: Literal["centroid", "centre"] = "centroid") -> Any:
    """Aggregate a population raster to square cells of ``cell_m`` metres; one point per cell.

    Each raster cell with population goes, by its centre projected to ``metric_epsg``, to
    the square ``floor(x / cell_m), floor(y / cell_m)`` of that CRS; the cell's population
    is the sum of its raster cells (the raster total is preserved up to float rounding).

    Parameters
    ----------
    raster
        Population grid in any CRS.
    cell_m
        Size of the square cells in metres.
    metric_epsg
        EPSG code of a projected CRS in metres (a UTM or Gauss-Kruger zone) for the squares.
    position
        ``"centroid"`` (default): the population-weighted centroid of the raster cells in
        the square; ``"centre"``: the square's centre.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns code (``"<ix>_<iy>"``), ix, iy, population, x, y (metric CRS), geometry
        (EPSG:4326 points); one row per square with population > 0.
    """
    import geopandas as gpd
    import shapely

    if not (np.isfinite(cell_m) and cell_m > 0):
        raise ValueError(f"cell_demand: cell_m={cell_m!r} must be a positive number of metres")
    if position not in ("centroid", "centre"):
        raise ValueError(f"cell_demand: position={position!r} is not known; use 'centroid' or "
                         "'centre'")
    crs_m = CRS.from_epsg(int(metric_epsg))
    units = {a.unit_name for a in crs_m.axis_info}
    if not crs_m.is_projected or not units <= {"metre", "meter"}:
        raise ValueError(f"cell_demand: EPSG:{metric_epsg} ({crs_m.name}) is not a projected CRS "
                         "in metres; pass a UTM or Gauss-Kruger zone, e.g. "
                         "geo.crs.metric_crs_for(...)")
    if raster.crs is None:
        raise ValueError(f"{raster.source}: the raster has no CRS")
    rows, cols = np.nonzero(raster.mask & (raster.data > 0))
    w = raster.data[rows, cols]
    x, y = raster.cell_centres(rows, cols)
    del rows, cols
    if raster.crs != crs_m:
        x, y = Transformer.from_crs(raster.crs, crs_m, always_xy=True).transform(x, y)
        x, y = np.asarray(x), np.asarray(y)
    ix = np.floor(x / cell_m).astype(np.int64)
    iy = np.floor(y / cell_m).astype(np.int64)
    if ix.size:
        span = int(iy.max() - iy.min()) + 1
        key = (ix - ix.min()) * span + (iy - iy.min())
        uniq, inv = np.unique(key, return_inverse=True)
        gx = uniq // span + ix.min()
        gy = uniq % span + iy.min()
    else:
        uniq, inv = np.array([], dtype=np.int64), np.array([], dtype=np.int64)
        gx = gy = uniq
    m = uniq.size
    pop = np.bincount(inv, weights=w, minlength=m)
    if position == "centroid":
        cx = np.bincount(inv, weights=w * x, minlength=m) / pop
        cy = np.bincount(inv, weights=w * y, minlength=m) / pop
    else:
        cx, cy = (gx + 0.5) * cell_m, (gy + 0.5) * cell_m
    lon, lat = Transformer.from_crs(crs_m, 4326, always_xy=True).transform(cx, cy)
    code = pd.array(np.char.add(np.char.add(gx.astype(str), "_"), gy.astype(str)), dtype="str")
    out = gpd.GeoDataFrame({"code": code, "ix": gx, "iy": gy, "population": pop,
                            "x": np.asarray(cx, dtype=float), "y": np.asarray(cy, dtype=float)},
                           geometry=shapely.points(np.asarray(lon), np.asarray(lat)), crs=4326)
    out.attrs["notes"] = [f"{w.size} populated raster cells aggregated to {m} squares of "
                          f"{cell_m:g} m in EPSG:{metric_epsg}; total {pop.sum():,.1f} persons"]
    out.attrs["metric_epsg"] = int(metric_epsg)
    return out


