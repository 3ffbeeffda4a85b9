"""Demand points for coverage analyses: where the people are, as points with a population.

Two kinds:

* ``village_demand`` — one point per village (村级 unit, 12-digit code): the representative
  point of its boundary polygon (``placement='boundary'``), its given point
  (``'point'``), or, for a village known only by its code, the population-weighted position
  of its township (``'township_weighted'``): the weighted mean of the township's placed
  villages, else the representative point of the township polygon. A village that cannot
  be placed at all keeps no geometry (``'code_only'``) and is listed in the notes.
* ``cell_demand`` — a population raster aggregated to square cells of a chosen size in a
  metric CRS, one point per non-empty cell.

``snap_demand`` joins demand points to a road network (`geo.routing.snap`). Output points
are in EPSG:4326, as the network and the routing functions take them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from pyproj import CRS, Transformer

from emgis.layers.load import codes as C
from emgis.layers.problems import Problems
from emgis.shelters.spread import cell_demand

__all__ = ["EXACT_PLACEMENTS", "PLACEMENTS", "cell_demand", "demand_from_db", "snap_demand",
           "store_placements", "village_demand"]

#: how a demand point was placed, best first (`shelters.spread` adds grid_roads / grid_area)
PLACEMENTS = ("boundary", "point", "township_weighted", "township_polygon", "township_seat",
              "county_outline", "grid_roads", "grid_raster", "grid_area", "code_only")
#: placements whose position is the unit's own (the rest are approximate)
EXACT_PLACEMENTS = ("boundary", "point")
_FALLBACK_NOTES = {
    "township_weighted": "at their township's population-weighted position",
    "township_polygon": "inside their township's polygon",
    "township_seat": "at their township's seat",
    "county_outline": "inside the county outline only (load township seats or village points "
                      "for better: emgis load admin_units FILE)",
}
_COLUMNS = ["code", "name", "population", "placement", "geometry"]


# --- villages -------------------------------------------------------------------------------------

def _population_frame(population: Any, pop_col: str, code_col: str, name_col: str) -> pd.DataFrame:
    """Normalise the population input to columns code (raw), population, name."""
    if isinstance(population, pd.Series):
        return pd.DataFrame({"code": population.index.to_numpy(dtype=object),
                             "population": population.to_numpy(), "name": None})
    if isinstance(population, pd.DataFrame):
        missing = [c for c in (code_col, pop_col) if c not in population.columns]
        if missing:
            raise ValueError(f"village_demand: population has no column(s) {missing}; give a "
                             f"Series code -> population or a DataFrame with '{code_col}' and "
                             f"'{pop_col}' (columns: {list(population.columns)})")
        names = population[name_col] if name_col in population.columns else None
        return pd.DataFrame({"code": population[code_col].to_numpy(dtype=object),
                             "population": population[pop_col].to_numpy(),
                             "name": None if names is None else names.to_numpy(dtype=object)})
    raise TypeError(f"village_demand: population must be a pandas Series or DataFrame, not "
                    f"{type(population).__name__}")


def _parse(values: np.ndarray, p: Problems, field: str, offset: int) -> np.ndarray:
    """12-digit code strings ('' where bad), with one problem per bad value."""
    parsed = C.parse_codes(np.asarray(values, dtype=object))
    bad = ~parsed.ok
    for i in np.flatnonzero(bad):
        msg, fix = C.describe_code_issue(parsed.issue[i], parsed.raw[i], int(parsed.digits[i]))
        p.error(i + offset, field, parsed.shown(i), msg, fix)
    return parsed.code.astype(object)


def village_demand(units, population: Any, *, code_col: str = "code", name_col: str = "name",
                   pop_col: str = "population", metric_crs: Any = None,
                   outline: Any = None) -> Any:
    """Return one demand point per village, with its population.

    Parameters
    ----------
    units
        GeoDataFrame (any CRS) of villages (polygons or points) and optionally townships
        (9-digit codes or 12-digit codes ending in 000), with ``code_col`` and optionally
        ``name_col``. Rows without geometry are allowed.
    population
        Series code -> population, or a DataFrame (e.g. the frame of
        `layers.load.census.read.read_census`) with ``code_col``, ``pop_col`` and optionally
        ``name_col``. Township and
        county rows are ignored.
    metric_crs
        CRS for the weighted means (default: `geo.crs.metric_crs_for` the data).
    outline
        The county outline (shapely, lon/lat): the last place for a village whose township has
        no placed village, no polygon and no seat (``county_outline``).

    Returns
    -------
    geopandas.GeoDataFrame
        Columns code, name, population, placement (`PLACEMENTS`), population_method
        (``village_census``), geometry (EPSG:4326; None for ``code_only``), one row per
        village in ``population`` or ``units``, sorted by code.
        ``attrs["notes"]`` says what was placed how.

    Raises
    ------
    layers.problems.InputError
        Bad codes, missing or negative populations, geometries that are neither polygons
        nor points, duplicate villages in the population table, a layer without CRS.
    """
    import geopandas as gpd
    import shapely

    from emgis.geo.crs import metric_crs_for

    pu = Problems("units", row_label="feature")
    pp = Problems("population")
    if not isinstance(units, gpd.GeoDataFrame):
        raise TypeError(f"village_demand: units must be a GeoDataFrame, not {type(units).__name__}")
    if code_col not in units.columns:
        pu.error(None, code_col, None, "is not a column of the units layer",
                 f"pass code_col= naming the code column, one of {list(units.columns)}")
    if units.crs is None:
        pu.error(None, "geometry", None, "has no CRS",
                 "set the layer's CRS (gdf.set_crs(...)) to the one its coordinates are in")
    pu.raise_if_errors()
    pop = _population_frame(population, pop_col, code_col, name_col)

    # codes
    u_code = _parse(units[code_col].to_numpy(dtype=object), pu, code_col, 1)
    p_code = _parse(pop["code"].to_numpy(), pp, code_col, 1)
    values = pd.to_numeric(pop["population"], errors="coerce").to_numpy(dtype=float)
    for i in np.flatnonzero(~np.isfinite(values) | (values < 0)):
        pp.error(i + 1, pop_col, pop["population"].iloc[i], "is not a non-negative number",
                 "give the village's population as a number ≥ 0 (0 if nobody lives there)")
    p_is_village = np.array([c != "" and not c.endswith("000") for c in p_code], dtype=bool)
    dup = pd.Series(p_code).where(p_is_village).duplicated(keep=False).to_numpy() & p_is_village
    for i in np.flatnonzero(dup):
        pp.error(i + 1, code_col, p_code[i], "appears more than once in the population table",
                 "give one population per village code (sum the rows first if they are parts)")

    # geometries, in WGS84, classified
    geom = units.geometry
    geom84 = geom.to_crs(4326) if CRS.from_user_input(units.crs) != CRS.from_epsg(4326) else geom
    garr = geom.to_numpy()
    empty = shapely.is_missing(garr) | shapely.is_empty(garr)
    # 0 point, 3 polygon, 4 multipoint, 6 multipolygon, 7 collection
    gtype = shapely.get_type_id(garr)
    polygonal = ~empty & np.isin(gtype, (3, 6))
    pointlike = ~empty & np.isin(gtype, (0, 4))
    other = ~empty & ~polygonal & ~pointlike
    for i in np.flatnonzero(other):
        pu.error(i + 1, "geometry", garr[i].geom_type,
                 "is neither a polygon (boundary) nor a point",
                 "give village boundaries as polygons or villages as points")
    u_is_village = np.array([c != "" and not c.endswith("000") for c in u_code], dtype=bool)
    u_dup = pd.Series(u_code).where(u_is_village & ~empty).duplicated(keep=False).to_numpy() \
        & u_is_village & ~empty
    pp.raise_if_errors()
    pu.raise_if_errors()
    notes: list[str] = []

    # one representative point per unit row (in the layer's CRS, then to WGS84: stays inside)
    rep = np.empty(len(units), dtype=object)
    rep[:] = None
    if polygonal.any():
        rep_pts = gpd.GeoSeries(shapely.point_on_surface(garr[polygonal]), crs=units.crs)
        rep[polygonal] = rep_pts.to_crs(4326).to_numpy()
    if pointlike.any():
        rep[pointlike] = shapely.centroid(geom84.to_numpy()[pointlike])
    placement_of_row = np.where(polygonal, "boundary", np.where(pointlike, "point", ""))
    if u_dup.any():
        notes.append(f"{int(u_dup.sum())} unit rows share a village code with another row; the "
                     "first geometry of each code was used")

    # villages: union of population villages and unit villages
    names_units = (units[name_col].to_numpy(dtype=object) if name_col in units.columns
                   else np.full(len(units), None, dtype=object))
    vfirst = pd.DataFrame({"code": u_code, "row": np.arange(len(units)), "has": ~empty})
    vfirst = vfirst[u_is_village].sort_values(["code", "has", "row"], ascending=[True, False, True])
    vfirst = vfirst.drop_duplicates("code")
    v = pd.DataFrame({"code": p_code[p_is_village], "population": values[p_is_village],
                      "pname": pop["name"].to_numpy(dtype=object)[p_is_village]})
    v = v.merge(vfirst[["code", "row"]], on="code", how="outer")
    v = v.sort_values("code", kind="stable").reset_index(drop=True)
    no_pop = v["population"].isna().to_numpy()
    if no_pop.any():
        notes.append(f"{int(no_pop.sum())} village unit(s) are not in the population table; "
                     f"they get population 0: {', '.join(v['code'][no_pop].head(10))}")
    ignored = int((~p_is_village & (p_code != "")).sum())
    if ignored:
        notes.append(f"{ignored} population row(s) are townships or counties, not villages; "
                     "ignored")
    row = v["row"].to_numpy()
    has_row = ~pd.isna(row)
    row_i = np.where(has_row, np.nan_to_num(row.astype(float), nan=0), 0).astype(np.int64)
    pop_v = v["population"].fillna(0.0).to_numpy(dtype=float)
    name = v["pname"].to_numpy(dtype=object).copy()
    need_name = pd.isna(name) & has_row
    name[need_name] = names_units[row_i[need_name]]
    point = np.full(len(v), None, dtype=object)  # no unit row: no point (units may be empty)
    point[has_row] = rep[row_i[has_row]]
    placement = np.full(len(v), "", dtype=object)
    placement[has_row] = placement_of_row[row_i[has_row]]
    point[placement == ""] = None

    # villages known by code only: township-weighted
    codes_v = v["code"].to_numpy(dtype=object).astype(str)
    township = np.array([c[:9] for c in codes_v], dtype=object)
    placed = placement != ""
    if (~placed).any():
        town_rows = np.flatnonzero(~u_is_village & (u_code != "") & ~empty)
        town_codes = [u_code[i][:9] for i in town_rows]
        town_pt: dict[str, tuple] = {}
        for t, (pt, how) in zip(town_codes, _town_points(garr, town_rows, units.crs),
                                strict=True):
            if t not in town_pt or how == "township_polygon":  # a polygon beats a seat
                town_pt[t] = (pt, how)
        by_town: dict[str, Any] = {}
        if placed.any():
            xy = shapely.get_coordinates(np.asarray(point[placed], dtype=object))
            crs_m = (CRS.from_user_input(metric_crs) if metric_crs is not None
                     else metric_crs_for(tuple(np.r_[xy.min(axis=0), xy.max(axis=0)])))
            to_m = Transformer.from_crs(4326, crs_m, always_xy=True)
            to_ll = Transformer.from_crs(crs_m, 4326, always_xy=True)
            mx, my = to_m.transform(xy[:, 0], xy[:, 1])
            wt = pop_v[placed]
            tw = pd.DataFrame({"t": township[placed], "w": wt, "wx": wt * mx, "wy": wt * my,
                               "n": 1.0, "x": mx, "y": my})
            g = tw.groupby("t")[["w", "wx", "wy", "n", "x", "y"]].sum()
            # weighted mean; plain mean where the township's placed villages have no people
            wsum = g["w"].to_numpy()
            safe = np.where(wsum > 0, wsum, 1.0)
            cx = np.where(wsum > 0, g["wx"].to_numpy() / safe,
                          g["x"].to_numpy() / g["n"].to_numpy())
            cy = np.where(wsum > 0, g["wy"].to_numpy() / safe,
                          g["y"].to_numpy() / g["n"].to_numpy())
            lon, lat = to_ll.transform(cx, cy)
            by_town = dict(zip(g.index, shapely.points(lon, lat), strict=True))
        county_pt = None if outline is None else shapely.point_on_surface(outline)
        for i in np.flatnonzero(~placed):
            pt, how = by_town.get(township[i]), "township_weighted"
            if pt is None:
                pt, how = town_pt.get(township[i], (None, ""))
            if pt is None and county_pt is not None:
                pt, how = county_pt, "county_outline"
            if pt is not None:
                point[i] = pt
                placement[i] = how
        for how, what in _FALLBACK_NOTES.items():
            n_how = int((placement == how).sum())
            if n_how:
                notes.append(f"{n_how} village(s) known only by code were placed {what} ({how})")
        lost = placement == ""
        if lost.any():
            placement[lost] = "code_only"
            notes.append(f"{int(lost.sum())} village(s) could not be placed (no geometry, no "
                         f"placed village, polygon or seat in their township, no county "
                         f"outline); they have no point: "
                         f"{', '.join(codes_v[lost][:10])}{' ...' if lost.sum() > 10 else ''}")
    counts = pd.Series(placement).value_counts()
    notes.insert(0,
                 "village demand points: "
                 + ", ".join(f"{counts.get(k, 0)} {k}" for k in PLACEMENTS))
    out = gpd.GeoDataFrame({
        "code": pd.array(codes_v, dtype="str"),
        "name": pd.array([None if pd.isna(x) else str(x) for x in name], dtype="str"),
        "population": pop_v,
        "placement": pd.array(placement.astype(str), dtype="str"),
        "population_method": pd.array(["village_census"] * len(v), dtype="str"),
    }, geometry=gpd.GeoSeries(list(point), crs=4326), crs=4326)
    out.attrs["notes"] = notes
    return out


def _town_points(garr: np.ndarray, rows: np.ndarray, crs: Any) -> list:
    """Representative points (WGS84) of township polygons/points at ``rows``."""
    import geopandas as gpd
    import shapely

    if rows.size == 0:
        return []
    g = garr[rows]
    is_pt = np.isin(shapely.get_type_id(g), (0, 4))
    pts = np.where(is_pt, shapely.centroid(g), shapely.point_on_surface(g))
    how = np.where(is_pt, "township_seat", "township_polygon")
    return list(zip(gpd.GeoSeries(pts, crs=crs).to_crs(4326).to_numpy(), how, strict=True))


# --- snapping -------------------------------------------------------------------------------------

def snap_demand(graph, demand_gdf, norms=None) -> Any:
    """Join demand points to the network: add columns node, snap_m, along_m and offroad_s.

    ``node`` is the network node the point reaches (-1 for rows without geometry),
    ``snap_m`` the straight distance to the nearest road, ``offroad_s`` the seconds from the
    point to ``node``: off-road at ``road.speed_kmh.offroad`` plus along the road to the node
    (`geo.routing.Snap.time_s`; add it to the node's network time). Non-point geometries use
    their representative point.
    """
    import shapely

    from emgis.geo.routing import snap

    out = demand_gdf.copy()
    if out.crs is None:
        raise ValueError("snap_demand: the demand layer has no CRS; set it (EPSG:4326 for lon/lat)")
    g = out.geometry
    if CRS.from_user_input(out.crs) != CRS.from_epsg(4326):
        g = g.to_crs(4326)
    arr = g.to_numpy()
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
    pts = arr[ok]
    not_pt = shapely.get_type_id(pts) != 0
    pts = np.where(not_pt, shapely.point_on_surface(pts), pts)
    n = len(out)
    node = np.full(n, -1, dtype=np.int64)
    snap_m = np.full(n, np.nan)
    along = np.full(n, np.nan)
    time_s = np.full(n, np.nan)
    if ok.any():
        s = snap(graph, shapely.get_x(pts), shapely.get_y(pts), norms=norms)
        node[ok], snap_m[ok], along[ok], time_s[ok] = s.node, s.distance_m, s.along_m, s.time_s
    out["node"] = node
    out["snap_m"] = snap_m
    out["along_m"] = along
    out["offroad_s"] = time_s
    return out


# --- from and to PostGIS ---------------------------------------------------------------------

def demand_from_db(engine, *, year: int | None = None, graph: Any = None,
                   norms: Any = None, raster: Any = None) -> Any:
    """The demand points of the stored census (latest year), placed from the best source.

    * a **village census**: one point per village (`village_demand`): its boundary or point,
      else its township's placed villages, polygon or seat, else the county outline;
    * else a **township census** or a **county total** (a census row with the county's code):
      spread over grid cells by `shelters.spread.grid_spread` (road length by grade when a road
      network is loaded, else area), cells assigned to the township seat they reach first.

    ``graph`` is the road network or a function returning it (None: the stored ``default``
    network if any); ``raster`` a population raster (`layers.load.rasters.PopRaster`) that
    weighs the cells instead of the roads. Every point carries ``placement``,
    ``population_method`` and ``township_code``/``township_name``; ``attrs`` hold ``year``,
    ``notes`` and ``placement`` (`shelters.placement.placement_summary`).

    Raises
    ------
    layers.problems.MissingData
        No census stored; a county or township total but no county outline.
    """
    import geopandas as gpd
    import sqlalchemy as sa

    from emgis.layers.db import latest_census_year
    from emgis.layers.load.study_area import load_study_area
    from emgis.layers.problems import MissingData
    from emgis.shelters.placement import placement_summary

    with engine.connect() as c:
        if year is None:
            year = latest_census_year(c)
        if year is None or not c.execute(sa.text("SELECT count(*) FROM population WHERE year = :y"),
                                         {"y": year}).scalar():
            what = "no census is stored" if year is None else f"no census rows for {year}"
            raise MissingData(
                f"{what}: demand needs people. Load a census table: emgis load census FILE "
                "--year YYYY (village or township rows, or one row with the county's code and "
                "its total, e.g. 330522000000,长兴县,673776)")
        units = gpd.read_postgis(sa.text(
            "SELECT code, name, level, "
            "CASE WHEN placement IN ('boundary', 'point') THEN coalesce(geom, point) END "
            "AS geom FROM admin_units WHERE level IN ('township', 'village') ORDER BY code"),
            c, geom_col="geom")
        pop = pd.read_sql(sa.text("SELECT p.code, coalesce(a.name, l.name) AS name, p.population "
                                  "FROM population p "
                                  "LEFT JOIN admin_units a USING (code) "
                                  "LEFT JOIN LATERAL (SELECT name FROM code_list "
                                  "WHERE code = p.code ORDER BY vintage DESC LIMIT 1) l ON true "
                                  "WHERE p.year = :y"),
                          c, params={"y": year})
        town_names = dict(c.execute(sa.text(
            "SELECT left(code, 9), name FROM code_list WHERE level = 'township' "
            "UNION ALL SELECT left(code, 9), name FROM admin_units WHERE level = 'township'")
        ).all())
    if units.crs is None:
        units = units.set_crs(4326)
    area = load_study_area(engine)
    outline = None if area is None else area.geom
    codes = pop["code"].astype(str)
    is_village = ~codes.str.endswith("000")
    notes: list[str] = []
    if is_village.any():
        out = village_demand(units, pop, outline=outline,
                             metric_crs=None if area is None else area.metric_epsg)
        notes += out.attrs.get("notes", [])
    else:
        out = _spread_from_db(engine, units, pop, area, (graph, norms, raster), notes)
    if len(out) and out.geometry.isna().all() and out["population"].sum() > 0:
        raise MissingData(
            f"none of the {len(out)} places of the census can be placed: no village boundary "
            "or point, no township polygon or seat and no county outline is stored. Load them: "
            "emgis load admin_units FILE (village points or polygons, or township seats, e.g. "
            "--crs bd09 for a Baidu list), or the county outline: emgis init --boundary FILE")
    town = [str(c)[:9] if str(c)[:9].isdigit() else None
            for c in (out["township_code"] if "township_code" in out.columns else out["code"])]
    out["township_code"] = pd.array(town, dtype="str")
    out["township_name"] = pd.array([town_names.get(t) if t else None for t in town],
                                    dtype="str")
    out.attrs["notes"] = notes
    out.attrs["year"] = int(year)
    out.attrs["placement"] = placement_summary(out)
    return out


def _spread_from_db(engine, units, pop: pd.DataFrame, area, how: tuple, notes: list) -> Any:
    """County or township totals spread over grid cells (`shelters.spread.grid_spread`);
    ``how`` is (graph, norms, raster)."""
    import geopandas as gpd
    import shapely

    from emgis.layers.problems import MissingData
    from emgis.shelters.spread import grid_spread

    codes = pop["code"].astype(str)
    county = codes.str.endswith("000000")
    if area is None:
        raise MissingData("the census holds township or county totals but no county outline is "
                          "stored to spread them over: emgis init --boundary OUTLINE_FILE")
    towns = units[(units["level"] == "township") & units.geometry.notna()]
    g = towns.geometry.to_numpy()
    seats = gpd.GeoDataFrame(
        {"code": towns["code"].astype(str).str[:9].to_numpy(), "name": towns["name"].to_numpy()},
        geometry=list(np.where(shapely.get_type_id(g) == 0, g, shapely.point_on_surface(g))),
        crs=4326)
    if (~county).any():
        totals = {c[:9]: int(p) for c, p in zip(codes[~county], pop["population"][~county],
                                                strict=True)}
        method = "township_census"
        if county.any():
            notes.append("county rows beside township rows were ignored (the townships sum)")
    else:
        totals = {"county": int(pop["population"][county].sum())}
        method = "county_proxy"
    if seats.empty:
        notes.append("no township seats or polygons are stored: cells carry no township (load "
                      "the seats: emgis load admin_units SEATS.csv --crs bd09)")
    graph, norms, raster = how
    if callable(graph):
        graph = graph()
    if graph is None:
        from emgis.geo.store import RoadNetworkNotFound, load_network

        try:
            graph = load_network(engine, "default")
        except RoadNetworkNotFound:
            notes.append("no road network is loaded: people spread by area and cells go to the "
                         "nearest seat in a straight line (load roads for a better spread: "
                         "emgis load roads FILE)")
    out = grid_spread(area.geom, seats, totals, metric_crs=area.metric_epsg, graph=graph,
                      norms=norms, raster=raster, method=method)
    notes += out.attrs.get("notes", [])
    return out


def store_placements(engine, demand, *, actor: str = "cli") -> int:
    """Write township-weighted positions of code-only villages to ``admin_units``; return how
    many."""
    import shapely
    import sqlalchemy as sa

    placed = demand[(demand["placement"] == "township_weighted") & demand.geometry.notna()]
    if placed.empty:
        return 0
    rows = [{"code": c, "name": n or c, "parent": c[:9] + "000", "wkb": shapely.to_wkb(g)}
            for c, n, g in zip(placed["code"], placed["name"], placed.geometry, strict=True)]
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
        conn.execute(sa.text(
            "INSERT INTO admin_units (code, name, level, parent_code, placement, point) "
            "VALUES (:code, :name, 'village', :parent, 'township_weighted', "
            "ST_GeomFromWKB(:wkb, 4326)) "
            "ON CONFLICT (code) DO UPDATE "
            "SET point = EXCLUDED.point, placement = 'township_weighted' "
            "WHERE admin_units.placement IN ('code_only', 'township_weighted')"), rows)
    return len(rows)
