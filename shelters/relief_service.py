"""Relief as a service: needs and allocation for an incident, the county's 10-hour check, stock.

What `emgis relief …` and ``/incidents/{id}/relief``, ``/analyses/relief-check``,
``/depot_stock`` ask for, computed from the stored layers and the norms in force:

* people: villages that intersect the area (warned whole, as `shelters.warning` does) and
  approximately placed demand points inside it; relocated = people × the incident kind's
  ``relief.displaced_share``; needs from `shelters.relief.people_needs`;
* arrival time of a depot's lorry at a village = ``relief.dispatch_h`` (loading, dispatch) +
  drive time on the road network with the incident area's roads closed (a village inside joins
  the nearest open road, like the warning area with ``close_roads``);
* limits per depot level from ``depot.delivery_h.<level>`` (county 6 h, city 8 h, province 10 h);
  the county check uses one limit (``relief.check_hours``, 10 h) for every depot;
* allocation `shelters.relief_lp.allocate`, always checked by `check_allocation`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from emgis.layers.problems import MissingData, NotFound
from emgis.shelters.relief import displaced_share, people_needs, sphere_check
from emgis.shelters.relief_lp import allocate, check_allocation

__all__ = ["area_relief", "depot_stock", "incident_relief", "relief_check"]


def _records(df: pd.DataFrame) -> list[dict]:
    return json.loads(df.to_json(orient="records", force_ascii=False, default_handler=str))


def depot_stock(engine: Any, *, depot: int | None = None, item: str | None = None) -> list[dict]:
    """Stock rows (depot id, ext id, name, level, status, item, quantity, unit), filtered by
    depot and/or item; `NotFound` for a depot that does not exist."""
    with engine.connect() as c:
        if depot is not None and c.execute(sa.text("SELECT 1 FROM depots WHERE id = :d"),
                                           {"d": depot}).first() is None:
            raise NotFound(f"depot={depot}: there is no depot {depot}")
        rows = c.execute(sa.text(
            "SELECT s.depot_id, d.ext_id, d.name, d.level, d.status, s.item, s.quantity, "
            "COALESCE(s.unit, i.unit) AS unit FROM depot_stock s JOIN depots d "
            "ON d.id = s.depot_id LEFT JOIN stock_items i ON i.name = s.item "
            "WHERE (CAST(:d AS int) IS NULL OR s.depot_id = :d) "
            "AND (CAST(:i AS text) IS NULL OR s.item = :i) ORDER BY s.depot_id, s.item"),
            {"d": depot, "i": item}).mappings().all()
    return [dict(r) for r in rows]


def _depots(engine: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
    with engine.connect() as c:
        d = pd.DataFrame([dict(r) for r in c.execute(sa.text(
            "SELECT id AS depot_id, ext_id, name, level, ST_X(geom) AS lon, ST_Y(geom) AS lat "
            "FROM depots WHERE status = 'active' AND geom IS NOT NULL ORDER BY id")).mappings()],
            columns=["depot_id", "ext_id", "name", "level", "lon", "lat"])
        s = pd.DataFrame([dict(r) for r in c.execute(sa.text(
            "SELECT s.depot_id, s.item, s.quantity FROM depot_stock s JOIN depots d "
            "ON d.id = s.depot_id WHERE d.status = 'active' AND s.quantity > 0")).mappings()],
            columns=["depot_id", "item", "quantity"])
    return d, s


def level_limits(depots: pd.DataFrame, norms: Any) -> dict:
    """Arrival limit (h) of each depot from ``depot.delivery_h.<level>``."""
    return {int(i): norms.number(f"depot.delivery_h.{lv}")
            for i, lv in zip(depots["depot_id"], depots["level"], strict=True)}


def arrival_hours(graph: Any, depots: pd.DataFrame, dests: pd.DataFrame, norms: Any, *,
                  closures: Any = None, max_h: float) -> pd.DataFrame:
    """depot_id, dest_id, hours (dispatch + drive) for every pair arriving within ``max_h``."""
    from emgis.geo.routing import snap, travel_time_matrix

    cols = ["depot_id", "dest_id", "hours"]
    if graph is None or not len(depots) or not len(dests):
        return pd.DataFrame(columns=cols)
    disp = norms.number("relief.dispatch_h")
    sd = snap(graph, depots["lon"].to_numpy(float), depots["lat"].to_numpy(float),
              closures=closures, norms=norms)
    sv = snap(graph, dests["lon"].to_numpy(float), dests["lat"].to_numpy(float),
              closures=closures, norms=norms)
    nd, nv = np.atleast_1d(sd.node), np.atleast_1d(sv.node)
    okd, okv = nd >= 0, nv >= 0
    if not okd.any() or not okv.any():
        return pd.DataFrame(columns=cols)
    cut = max(0.0, (max_h - disp) * 3600.0)
    m = travel_time_matrix(graph, nd[okd].astype(np.int64), nv[okv].astype(np.int64),
                           cutoff_s=cut, closures=closures)
    di, vi = np.flatnonzero(okd)[m.rows], np.flatnonzero(okv)[m.cols]
    secs = np.atleast_1d(sd.time_s)[di] + m.times + np.atleast_1d(sv.time_s)[vi]
    out = pd.DataFrame({"depot_id": depots["depot_id"].to_numpy()[di],
                        "dest_id": dests["dest_id"].to_numpy()[vi],
                        "hours": np.round(disp + secs / 3600.0, 3)})
    return out[out["hours"] <= max_h + 1e-9].reset_index(drop=True)


def people_in_area(engine: Any, area: Any, graph: Callable[[], Any], norms: Any) -> pd.DataFrame:
    """dest_id (village code), name, population, lon, lat of the people in ``area``."""
    import shapely

    from emgis.layers.db import latest_census_year
    from emgis.shelters.warning import _placed_demand

    with engine.connect() as c:
        year = latest_census_year(c)
        rows = c.execute(sa.text(
            "WITH a AS (SELECT ST_SetSRID(ST_GeomFromWKB(decode(:g, 'hex')), 4326) g) "
            "SELECT u.code AS dest_id, u.name, COALESCE(p.population, 0) AS population, "
            "ST_X(ST_PointOnSurface(u.geom)) AS lon, ST_Y(ST_PointOnSurface(u.geom)) AS lat "
            "FROM admin_units u CROSS JOIN a LEFT JOIN population p ON p.code = u.code "
            "AND p.year = :y WHERE u.level = 'village' AND u.geom IS NOT NULL "
            "AND u.placement = 'boundary' AND ST_Intersects(u.geom, a.g) ORDER BY u.code"),
            {"g": shapely.to_wkb(area, hex=True), "y": year}).mappings().all()
    v = pd.DataFrame([dict(r) for r in rows],
                     columns=["dest_id", "name", "population", "lon", "lat"])
    here, _, _ = _placed_demand(engine, area, year, graph, norms)
    if len(here):
        here = here.rename(columns={"code": "dest_id"})[v.columns]
        v = pd.concat([v, here[~here["dest_id"].isin(v["dest_id"])]], ignore_index=True)
    v["population"] = pd.to_numeric(v["population"]).astype(float)
    return v


DESTINATIONS = ("villages", "shelters")


def to_shelters(engine: Any, area: Any, graph: Callable[[], Any], norms: Any,
                people: pd.DataFrame) -> pd.DataFrame:
    """The people of each village moved to the shelter the warning area sends them to (its
    nearest open shelter outside the area, roads inside closed): destinations ``shelter:<id>``
    with the people summed; a village with no route to a shelter stays a destination itself."""
    from emgis.shelters.warning import warning_area

    wa = warning_area(engine, area, graph, norms, close_roads=True)
    where = {v["code"]: v["shelter_id"] for v in wa["villages"] if v.get("shelter_id")}
    with engine.connect() as c:
        sh = {r[0]: (r[1], r[2], r[3]) for r in c.execute(sa.text(
            "SELECT id, name, ST_X(geom), ST_Y(geom) FROM shelters WHERE id = ANY(:ids)"),
            {"ids": sorted({int(x) for x in where.values()})})}
    out = people.copy()
    for k, r in out.iterrows():
        s = where.get(r["dest_id"])
        if s is not None and int(s) in sh:
            name, lon, lat = sh[int(s)]
            out.loc[k, ["dest_id", "name", "lon", "lat"]] = [f"shelter:{int(s)}", name, lon, lat]
    agg = {"name": ("name", "first"), "population": ("population", "sum"),
           "lon": ("lon", "first"), "lat": ("lat", "first")}
    return out.groupby("dest_id", as_index=False, sort=True).agg(**agg)


def _solve(people: pd.DataFrame, needs: pd.DataFrame, depots: pd.DataFrame, stock: pd.DataFrame,
           arcs: pd.DataFrame, limits: Any) -> dict:
    al = allocate(needs[["dest_id", "item", "need"]], stock, arcs, limit_h=limits)
    check_allocation(al, needs[["dest_id", "item", "need"]], stock, arcs, limit_h=limits)
    dname = dict(zip(depots["depot_id"], depots["name"], strict=True))
    vname = dict(zip(people["dest_id"], people["name"], strict=True))
    ship = al.shipments.copy()
    ship.insert(1, "depot", ship["depot_id"].map(dname))
    ship.insert(3, "destination", ship["dest_id"].map(vname))
    short = al.shortfalls.copy()
    short.insert(1, "destination", short["dest_id"].map(vname))
    return {"shipments": _records(ship), "shortfalls": _records(short),
            "by_item": _records(al.by_item), "unmet_share": round(al.unmet_share, 6),
            "travel_quantity_hours": round(al.travel, 3), "solve_seconds": round(al.seconds, 4),
            "model": {"columns": al.dims[0], "rows": al.dims[1]}, "check": "passed"}


def area_relief(engine: Any, area: Any, graph: Callable[[], Any], norms: Any, *,
                share: float, needs: str = "china", allocate_stock: bool = True,
                to: str = "villages") -> dict:
    """Needs (and the allocation) for the people in ``area`` with ``share`` relocated, at
    their villages or (``to="shelters"``) at the shelters they are sent to."""
    from emgis.geo.routing import closures_from_polygons
    from emgis.geo.store import RoadNetworkNotFound

    if to not in DESTINATIONS:
        raise ValueError(f"to={to!r}: use one of {', '.join(DESTINATIONS)}")
    people = people_in_area(engine, area, graph, norms)
    if to == "shelters" and len(people):
        people = to_shelters(engine, area, graph, norms, people)
    nd = people_needs(people, norms, share=share, needs=needs)
    by_item = (nd.groupby(["item", "unit"], sort=False)["need"].sum().reset_index()
               if len(nd) else pd.DataFrame(columns=["item", "unit", "need"]))
    ans: dict[str, Any] = {
        "needs_set": needs, "people_total": float(people["population"].sum()),
        "displaced_total": round(float(people["population"].sum()) * share, 1),
        "villages_total": len(people), "destinations": to, "needs": _records(nd),
        "needs_by_item": _records(by_item),
        "sphere_check": sphere_check(norms), "notes": []}
    if not allocate_stock:
        return ans
    try:
        g = graph()
    except RoadNetworkNotFound:
        g = None
    if g is None:
        raise MissingData("relief allocation needs a road network: emgis load roads FILE")
    depots, stock = _depots(engine)
    limits = level_limits(depots, norms)
    closed = closures_from_polygons(g, area)
    arcs = arrival_hours(g, depots, people, norms, closures=closed,
                         max_h=max(limits.values(), default=0.0))
    ans["limits_h"] = {lv: norms.number(f"depot.delivery_h.{lv}")
                       for lv in sorted(set(depots["level"]))}
    ans["dispatch_h"] = norms.number("relief.dispatch_h")
    ans["allocation"] = _solve(people, nd, depots, stock, arcs, limits)
    short = ans["allocation"]["shortfalls"]
    ans["villages_short"] = sorted({r["dest_id"] for r in short})
    return ans


def incident_relief(engine: Any, incident: int, graph: Callable[[], Any], norms: Any, *,
                    needs: str = "china", allocate_stock: bool = True,
                    to: str = "villages") -> dict:
    """Needs, allocation and shortfalls for incident ``incident`` (`NotFound` if none)."""
    from emgis.shelters.warning import incident_area

    with engine.connect() as c:
        row = c.execute(sa.text("SELECT id, title, incident_type, level, status, "
                                "GeometryType(geom) FROM incidents WHERE id = :i"),
                        {"i": incident}).first()
    if row is None:
        raise NotFound(f"incident={incident}: there is no incident {incident}")
    point = row[5] in ("POINT", "MULTIPOINT")
    area = incident_area(engine, incident,
                         norms.number("relief.point_radius_m") if point else None)
    share, key, source = displaced_share(row[2], norms)
    ans = area_relief(engine, area, graph, norms, share=share, needs=needs,
                      allocate_stock=allocate_stock, to=to)
    ans["incident"] = {"id": row[0], "title": row[1], "incident_type": row[2],
                       "level": row[3], "status": row[4]}
    ans["displaced_share"] = {"value": share, "key": key, "source": source}
    if point:
        ans["notes"].append(f"a point incident: the people within relief.point_radius_m = "
                            f"{norms.number('relief.point_radius_m'):g} m")
    return ans


def relief_check(engine: Any, graph: Callable[[], Any], norms: Any, *,
                 hours: float | None = None, relocated: float | None = None) -> dict:
    """Which villages cannot get basic relief within ``hours`` (``relief.check_hours``) from the
    stock in place, for a Level-II-size event (``relief.level2.relocated`` people, spread over
    the villages by population, at most a village's people), solved jointly."""
    from emgis.shelters.demand import demand_from_db

    hours = norms.number("relief.check_hours") if hours is None else float(hours)
    total = norms.number("relief.level2.relocated") if relocated is None else float(relocated)
    g = graph()
    d = demand_from_db(engine, graph=g, norms=norms)
    place = d["placement"].astype(str).to_numpy()
    ok = np.array([x is not None and not x.is_empty for x in d.geometry.to_numpy()]) \
        & ~np.isin(place, ("code_only", "county_outline"))
    p = d[ok]
    people = pd.DataFrame({"dest_id": p["code"].astype(str).to_numpy(),
                           "name": p["name"].to_numpy(),
                           "population": pd.to_numeric(p["population"]).to_numpy(float),
                           "lon": p.geometry.x.to_numpy(), "lat": p.geometry.y.to_numpy()})
    people = people.groupby("dest_id", as_index=False).agg(
        name=("name", "first"), population=("population", "sum"), lon=("lon", "first"),
        lat=("lat", "first"))
    pop = float(people["population"].sum())
    share = min(1.0, total / pop) if pop > 0 else 0.0
    people["displaced"] = people["population"] * share
    nd = people_needs(people, norms)
    depots, stock = _depots(engine)
    arcs = arrival_hours(g, depots, people, norms, max_h=hours)
    res = _solve(people, nd, depots, stock, arcs, hours)
    short = pd.DataFrame(res["shortfalls"], columns=["dest_id", "destination", "item", "need",
                                                     "received", "unmet"])
    reach = set(arcs["dest_id"])
    villages = []
    for v, grp in short.groupby("dest_id", sort=True):
        villages.append({"dest_id": v, "name": grp["destination"].iloc[0],
                         "reachable": v in reach,
                         "items_short": {r.item: r.unmet for r in grp.itertuples()}})
    return {"hours": hours, "relocated": total, "share": round(share, 6),
            "population": pop, "villages_total": len(people),
            "villages_short": villages, "not_placed": int((~ok).sum()),
            "allocation": res, "sphere_check": sphere_check(norms),
            "rule": f"{total:,.0f} people relocated (relief.level2.relocated), spread over the "
                    "villages by population; every active depot's stock, arriving within "
                    f"{hours:g} h (relief.dispatch_h + drive time); villages left short of any "
                    "item are listed"}
