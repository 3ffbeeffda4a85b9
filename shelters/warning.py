"""The warning area ("last mile", 预警区域): who is inside it and where each village goes.

For an area (a drawn polygon, or an incident's area; a point incident with a radius), the answer
served by ``/analyses/warning-area`` and printed by ``emgis warning-area`` gives:

- the villages that intersect the area, with their population of the latest census year
  (a village is warned whole: its people do not know where the line runs) and whether the
  whole village lies inside;
- the shelters inside the area: **not refuges** for this warning, listed so that they are
  cleared, never sent to;
- for each village the nearest *open* shelter outside the area by road, its travel time and
  the population sent to each shelter against its free places (capacity − occupancy); shelters
  whose capacity is unknown are listed (``shelters_capacity_unknown``), never taken as 0;
- how the people counted are placed (``placement``: exactly, approximately and how, by
  township): a village known only by code counts at its township seat, a county total spread
  over grid cells counts where its cells lie; the villages that cannot be placed at all (no
  position, or only the county outline) are listed in ``not_placed`` with their people.

Roads stay open by default (a warning is issued before the event); ``close_roads=true`` closes
the roads inside the area (the event is under way) and villages join the nearest open road
outside. ``format=xlsx`` returns the same tables as a workbook (汇总 summary, 村庄 villages,
避难场所 shelters, 定位 placement, 未定位 not placed) with Chinese and English headers.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from emgis.layers.db import latest_census_year
from emgis.layers.problems import BadArgument, NotFound
from emgis.layers.text import spreadsheet_safe

#: the largest warning circle around a point incident (metres)
MAX_RADIUS_M = 50_000.0

VILLAGE_HEADERS = {
    "code": "区划代码 code", "name": "村 village", "population": "人口 population",
    "fully_inside": "全部在区内 fully inside", "shelter": "最近开放避难场所 nearest open shelter",
    "shelter_id": "场所编号 shelter id", "time_min": "车程(分钟) travel min",
    "snap_m": "接入道路距离(米) to road m", "placement": "定位 placement",
    "population_method": "人口来源 population from",
}
SHELTER_HEADERS = {
    "id": "编号 id", "ext_id": "外部编号 ext id", "name": "名称 name", "status": "状态 status",
    "capacity": "容量 capacity", "occupancy": "在场 occupancy", "free": "空余 free places",
    "assigned_population": "分配人口 people sent", "over_capacity": "超容 over capacity",
    "inside_area": "在预警区内 inside the area",
}
PLACEMENT_HEADERS = {
    "township_code": "乡镇代码 township code", "township_name": "乡镇 township",
    "quality": "定位质量 quality", "how": "定位与人口来源 placed by / population from",
    "points": "点数 points", "people": "人口 people",
}
NOT_PLACED_HEADERS = {
    "code": "区划代码 code", "name": "名称 name", "township_name": "乡镇 township",
    "population": "人口 population", "placement": "定位 placement",
}


def incident_area(engine: Any, incident: int, radius_m: float | None) -> Any:
    """The area of incident ``incident`` (lon/lat); a point incident needs ``radius_m``."""
    import shapely

    with engine.connect() as c:
        row = c.execute(sa.text(
            "SELECT GeometryType(geom), ST_AsBinary(CASE WHEN GeometryType(geom) "
            "IN ('POINT', 'MULTIPOINT') AND CAST(:r AS float8) IS NOT NULL THEN "
            "ST_Buffer(geom::geography, CAST(:r AS float8))::geometry "
            "ELSE geom END) FROM incidents WHERE id = :i"),
            {"i": incident, "r": radius_m}).first()
    if row is None:
        raise NotFound(f"incident={incident}: there is no incident {incident}")
    kind = row[0]
    if kind not in ("POLYGON", "MULTIPOLYGON") and radius_m is None:
        raise BadArgument(f"incident={incident} is a {kind.lower()}, not an area; give radius_m "
                          "(e.g. radius_m=1000) for a warning circle around it, or give the "
                          "incident an area (PATCH /incidents/{id})")
    return shapely.from_wkb(bytes(row[1]))


def _once(graph: Callable[[], Any]) -> Callable[[], Any]:
    """``graph`` called at most once; None when no road network is loaded."""
    from emgis.geo.store import RoadNetworkNotFound

    box: list = []

    def get():
        if not box:
            try:
                box.append(graph())
            except RoadNetworkNotFound:
                box.append(None)
        return box[0]
    return get


def _placed_demand(engine, area, year, graph, norms) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Demand points not on a village boundary that lie in ``area``, and those not placed."""
    import shapely

    from emgis.layers.problems import MissingData
    from emgis.shelters.demand import demand_from_db

    cols = ["code", "name", "township_code", "township_name", "population", "placement",
            "population_method"]
    try:
        d = demand_from_db(engine, year=year, graph=graph, norms=norms)
    except MissingData as exc:
        return pd.DataFrame(columns=[*cols, "lon", "lat"]), pd.DataFrame(columns=cols), [str(exc)]
    geoms = d.geometry.to_numpy()
    has = np.array([g is not None and not g.is_empty for g in geoms], dtype=bool)
    place = d["placement"].astype(str).to_numpy()
    lost = ~has | np.isin(place, ("code_only", "county_outline"))
    pts = np.where(has, geoms, None)
    inside = np.zeros(len(d), dtype=bool)
    cand = has & ~lost & (place != "boundary")
    if cand.any():
        inside[cand] = shapely.covers(area, np.asarray(pts[cand], dtype=object))
    got = d[inside]
    here = pd.DataFrame({c: got[c].to_numpy() for c in cols})
    here["lon"] = shapely.get_x(got.geometry.to_numpy()) if len(got) else []
    here["lat"] = shapely.get_y(got.geometry.to_numpy()) if len(got) else []
    not_placed = pd.DataFrame({c: d.loc[lost, c].to_numpy() for c in cols})
    return here, not_placed, []


def warning_area(engine: Any, area: Any, graph: Callable[[], Any], norms: Any, *,
                 close_roads: bool = False) -> dict[str, Any]:
    """The answer for ``area`` (a shapely polygon, lon/lat), JSON-ready.

    People come from the demand points (`shelters.demand.demand_from_db`): villages with a
    boundary that intersects the area are warned whole; other points (a village placed at its
    township seat, a grid cell of a spread county total) count where they lie, and the answer's
    ``placement`` says how many people are placed exactly, approximately (how) or not at all.
    ``graph`` is called for the road network only when someone lies in the area (no network:
    no routes, said so); ``norms`` are the norms in force.
    """
    import shapely

    from emgis.geo.routing import closures_from_polygons, nearest_facility_times, snap
    from emgis.geo.store import facilities
    from emgis.shelters.placement import placement_summary

    graph = _once(graph)
    wkb = shapely.to_wkb(area, hex=True)
    with engine.connect() as c:
        year = latest_census_year(c)
        villages = c.execute(sa.text(
            "WITH a AS (SELECT ST_SetSRID(ST_GeomFromWKB(decode(:g, 'hex')), 4326) g) "
            "SELECT u.code, u.name, COALESCE(p.population, 0) AS population, "
            "ST_CoveredBy(u.geom, a.g) AS fully_inside, "
            "ST_X(ST_PointOnSurface(u.geom)) AS lon, ST_Y(ST_PointOnSurface(u.geom)) AS lat "
            "FROM admin_units u CROSS JOIN a "
            "LEFT JOIN population p ON p.code = u.code AND p.year = :y "
            "WHERE u.level = 'village' AND u.geom IS NOT NULL "
            "AND u.placement = 'boundary' AND ST_Intersects(u.geom, a.g) "
            "ORDER BY u.code"),
            {"g": wkb, "y": year}).mappings().all()
        shelters = c.execute(sa.text(
            "WITH a AS (SELECT ST_SetSRID(ST_GeomFromWKB(decode(:g, 'hex')), 4326) g) "
            "SELECT s.id, s.ext_id, s.name, s.status, s.capacity, "
            "COALESCE(s.occupancy, 0) AS occupancy, "
            "ST_Intersects(s.geom, a.g) AS inside_area FROM shelters s CROSS JOIN a ORDER BY s.id"),
            {"g": wkb}).mappings().all()
    sh = pd.DataFrame([dict(r) for r in shelters],
                      columns=["id", "ext_id", "name", "status", "capacity", "occupancy",
                                                            "inside_area"])
    v = pd.DataFrame([dict(r) for r in villages],
                     columns=["code", "name", "population", "fully_inside", "lon", "lat"])
    v["placement"], v["population_method"] = "boundary", "village_census"
    v["township_code"] = v["code"].astype(str).str[:9]
    here, not_placed, notes = _placed_demand(engine, area, year, graph, norms)
    here["fully_inside"] = True
    v = pd.concat([v, here[v.columns.intersection(here.columns)]], ignore_index=True) \
        if len(here) else v
    v["population"] = pd.to_numeric(v["population"]).astype(float)
    v["shelter_id"] = pd.array([None] * len(v), dtype="Int64")
    v["shelter"] = None
    v["time_min"] = np.nan
    v["snap_m"] = np.nan
    g = graph() if len(v) else None
    if len(v) and g is None:
        notes.append("no road network is loaded: no village has a route to a shelter "
                     "(emgis load roads FILE)")
    if g is not None:
        fac = facilities(engine, "shelters")  # open ones
        outside = ~np.isin(fac.ids, sh.loc[sh["inside_area"].astype(bool), "id"].to_numpy())
        closed = closures_from_polygons(g, area) if close_roads else None
        if outside.any():
            times, which = nearest_facility_times(g, (fac.lon[outside], fac.lat[outside]),
                                                  closures=closed, direction="to_facility",
                                                  norms=norms)
            s = snap(g, v["lon"].to_numpy(), v["lat"].to_numpy(), closures=closed, norms=norms)
            t = s.time_s + times[s.node]
            k = which[s.node]
            ok = np.isfinite(t) & (k >= 0)
            ids = fac.ids[outside]
            names = np.asarray(fac.names, dtype=object)[outside]
            v.loc[ok, "shelter_id"] = ids[k[ok]]
            v.loc[ok, "shelter"] = names[k[ok]]
            v.loc[ok, "time_min"] = np.round(t[ok] / 60, 1)
            v["snap_m"] = np.round(np.asarray(s.distance_m, dtype=float), 0)
        else:
            notes.append("no open shelter lies outside the area: open one, or widen the search "
                         "beyond the county")
    sent = v.groupby("shelter_id")["population"].sum() if len(v) else pd.Series(dtype=float)
    sh["free"] = (pd.to_numeric(sh["capacity"]) - pd.to_numeric(sh["occupancy"])).clip(lower=0)
    sh["assigned_population"] = sh["id"].map(sent).fillna(0.0)
    sh["over_capacity"] = (sh["assigned_population"] > sh["free"]).astype(object)
    sh.loc[sh["free"].isna(), "over_capacity"] = None  # unknown capacity stays unknown
    inside_sh = sh[sh["inside_area"].astype(bool)]
    used = sh[sh["assigned_population"] > 0]
    unknown = sh[(sh["inside_area"].astype(bool) | (sh["assigned_population"] > 0))
                 & sh["capacity"].isna()]
    if len(unknown):
        notes.append(f"{len(unknown)} shelter(s) here have no known capacity (unknown, not 0): "
                     + ", ".join(str(x) for x in (unknown["name"].fillna(unknown["ext_id"]))
                                 [:10]))
    placement = _placement(v, not_placed, placement_summary)
    notes = _placement_notes(placement, not_placed) + notes
    x0, y0, x1, y1 = area.bounds
    return {
        "area": {"bbox": [x0, y0, x1, y1], "area_km2": round(_area_km2(area), 3)},
        "census_year": year,
        "population_total": float(v["population"].sum()),
        "villages_total": len(v),
        "villages_without_route": int(v["shelter_id"].isna().sum()),
        "close_roads": close_roads,
        "note": "; ".join(notes) or None,
        "placement": placement,
        "villages": _records(v.drop(columns=["lon", "lat"])),
        "not_placed": _records(not_placed),
        "shelters_inside": _records(inside_sh[["id", "ext_id", "name", "status", "capacity",
                                               "occupancy"]]),
        "shelters_used": _records(used[["id", "ext_id", "name", "capacity", "occupancy", "free",
                                        "assigned_population", "over_capacity"]]),
        "shelters_capacity_unknown": _records(unknown[["id", "ext_id", "name", "inside_area",
                                                       "assigned_population"]]),
        "rule": "villages intersecting the area are warned whole; people placed only "
                "approximately (at a township seat, in a grid cell) count where their point "
                "lies; shelters inside the area are never destinations; each village goes to "
                "its nearest open shelter outside the area by road",
    }


def _placement(v: pd.DataFrame, not_placed: pd.DataFrame, summary: Callable) -> dict:
    import geopandas as gpd
    import shapely

    rows = pd.concat([v[["code", "township_code", "population", "placement",
                         "population_method"]],
                      not_placed[["code", "township_code", "population", "placement",
                                  "population_method"]]], ignore_index=True)
    geom = [shapely.Point(0, 0)] * len(v) + [None] * len(not_placed)
    names = {}
    for f in (v, not_placed):
        if "township_name" in f.columns:
            names.update({str(t): n for t, n in zip(f["township_code"], f["township_name"],
                                                    strict=True) if isinstance(n, str) and n})
    s = summary(gpd.GeoDataFrame(rows, geometry=gpd.GeoSeries(geom), crs=4326),
                township_names=names)
    s.pop("lines")
    return s


def _placement_notes(s: dict, not_placed: pd.DataFrame) -> list[str]:
    out = []
    for how, people in s["approximate_by"].items():
        out.append(f"{people:,.0f} people placed approximately ({how}): counted where their "
                   "point lies")
    if len(not_placed):
        out.append(f"{len(not_placed)} village(s) or unit(s) with {s['not_placed']:,.0f} people "
                   "cannot be placed and may live here (see not_placed; load village points or "
                   "township seats: emgis load admin_units FILE)")
    return out


def _area_km2(area) -> float:
    from pyproj import Geod

    return abs(Geod(ellps="WGS84").geometry_area_perimeter(area)[0]) / 1e6


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", force_ascii=False, default_handler=str))


def workbook(ans: dict[str, Any]) -> bytes:
    """The answer as a workbook: 汇总 summary, 村庄 villages, 避难场所 shelters (Chinese + English
    headers)."""
    buf = io.BytesIO()
    placement = ans.get("placement") or {"exact": None, "approximate": None, "not_placed": None,
                                         "approximate_by": {}, "by_township": []}
    summary = pd.DataFrame([
        ("人口 population warned", ans["population_total"]), ("村 villages", ans["villages_total"]),
        ("无路线村 villages without a route", ans["villages_without_route"]),
        ("区内避难场所 shelters inside (not refuges)", len(ans["shelters_inside"])),
        ("人口年份 census year", ans["census_year"]), ("面积 area km²", ans["area"]["area_km2"]),
        ("道路封闭 roads closed", "是 yes" if ans["close_roads"] else "否 no"),
        ("准确定位人口 people placed exactly", placement["exact"]),
        ("估算定位人口 people placed approximately", placement["approximate"]),
        *[(f"  估算方式 approximately by {how}", people)
          for how, people in placement["approximate_by"].items()],
        ("无法定位人口 people not placed", placement["not_placed"]),
        ("容量未知的避难场所 shelters with unknown capacity",
         len(ans.get("shelters_capacity_unknown", []))),
        ("说明 note", ans.get("note") or ""),
        ("规则 rule", ans["rule"]),
        ("生成时间 made at", dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ], columns=["项目 item", "值 value"])
    with pd.ExcelWriter(buf, engine="openpyxl") as xw:
        summary.to_excel(xw, sheet_name="汇总 summary", index=False)
        spreadsheet_safe(pd.DataFrame(ans["villages"], columns=list(VILLAGE_HEADERS)).rename(
            columns=VILLAGE_HEADERS)).to_excel(xw, sheet_name="村庄 villages", index=False)
        rows = [dict(r, inside_area=True) for r in ans["shelters_inside"]] + \
               [dict(r, inside_area=False) for r in ans["shelters_used"]]
        spreadsheet_safe(pd.DataFrame(rows, columns=list(SHELTER_HEADERS)).rename(
            columns=SHELTER_HEADERS)).to_excel(xw, sheet_name="避难场所 shelters", index=False)
        spreadsheet_safe(pd.DataFrame(placement["by_township"],
                                      columns=list(PLACEMENT_HEADERS)).rename(
            columns=PLACEMENT_HEADERS)).to_excel(xw, sheet_name="定位 placement", index=False)
        spreadsheet_safe(pd.DataFrame(ans.get("not_placed", []),
                                      columns=list(NOT_PLACED_HEADERS)).rename(
            columns=NOT_PLACED_HEADERS)).to_excel(xw, sheet_name="未定位 not placed", index=False)
    return buf.getvalue()
