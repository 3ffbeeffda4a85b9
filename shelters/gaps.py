"""Gaps: who is left out by the coverage answer, where, and which of them are in danger.

`shelters.coverage` answers per demand point (covered or not) and `shelters.capacity` how
many of its people find a place; a bureau plans by place, not by point. Here those answers
become what a plan is written from:

* `gap_tables` — uncovered and under-served population per village and per township,
  ranked, so the worst townships come first;
* `uncovered_clusters` — buffer-and-dissolve polygons around uncovered villages with their
  population: where one new facility would close most of a gap;
* `hazard_shelter_check` — villages in high/medium hazard zones without a shelter within its
  standard, the ones a flood or landslide plan must not leave out.

Pure functions of (Geo)DataFrames and arrays, like the rest of `shelters`; no routing here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["gap_tables", "hazard_shelter_check", "uncovered_clusters"]


def gap_tables(demand, covered, unserved=None, capacity_unknown=None,
               township_names=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Uncovered and under-served population per village and per township, ranked.

    ``uncovered`` = population of points not covered; ``underserved`` = unserved persons
    (from `assign_demand`) beyond the uncovered ones (covered in reach, but no capacity
    left); ``gap`` = their sum. ``capacity_unknown`` = covered persons whose only places are
    in shelters of unknown capacity: not a gap and not served, ranked apart (sort by that
    column). Township = first 9 digits of the 12-digit code; ``township_names`` ({code:
    name}) names it (``township_name``; None where unknown).

    Returns
    -------
    (villages, townships)
        Both ranked by gap (then code). Villages: code, name, township, population,
        uncovered, underserved, capacity_unknown, gap, gap_share. Townships: township,
        villages, population, uncovered, underserved, capacity_unknown, gap, gap_share,
        villages_with_gap.
    """
    pop = np.asarray(demand["population"], dtype=float)
    cov = np.asarray(covered, dtype=bool)
    unc = np.where(cov, 0.0, pop)
    if unserved is None:
        und = np.zeros(pop.size)
    else:
        und = np.clip(np.asarray(unserved, dtype=float) - unc, 0.0, None)
    unk = (np.zeros(pop.size) if capacity_unknown is None
           else np.where(cov, np.asarray(capacity_unknown, dtype=float), 0.0))
    code = demand["code"].astype("str").to_numpy(dtype=object)
    v = pd.DataFrame({
        "code": pd.array(code, dtype="str"),
        "name": (demand["name"].astype("str").to_numpy(dtype=object) if "name" in demand.columns
                 else np.full(pop.size, None, dtype=object)),
        "township": pd.array([str(c)[:9] for c in code], dtype="str"),
        "population": pop, "uncovered": unc, "underserved": und, "capacity_unknown": unk,
        "gap": unc + und,
    })
    v["name"] = v["name"].astype("str")
    v["gap_share"] = np.divide(v["gap"], pop, out=np.zeros(pop.size), where=pop > 0)
    v = v.sort_values(["gap", "code"], ascending=[False, True], kind="stable")
    v = v.reset_index(drop=True)
    g = v.assign(villages=1, villages_with_gap=(v["gap"] > 0).astype(int))
    g = g.groupby("township", sort=True)
    t = g[["villages", "population", "uncovered", "underserved", "capacity_unknown", "gap",
           "villages_with_gap"]].sum()
    t = t.reset_index()
    t["gap_share"] = np.divide(t["gap"].to_numpy(), t["population"].to_numpy(),
                               out=np.zeros(len(t)), where=t["population"].to_numpy() > 0)
    names = township_names or {}
    t["township_name"] = pd.array([names.get(c) for c in t["township"]], dtype="str")
    v.insert(3, "township_name", pd.array([names.get(c) for c in v["township"]], dtype="str"))
    t = t[["township", "township_name", "villages", "population", "uncovered", "underserved",
           "capacity_unknown", "gap", "gap_share", "villages_with_gap"]]
    t = t.sort_values(["gap", "township"], ascending=[False, True], kind="stable")
    t = t.reset_index(drop=True)
    return v, t


def uncovered_clusters(demand, covered, *, radius_m: float = 1000.0, metric_crs: Any = None,
                       min_population: float = 0.0):
    """Polygons around clusters of uncovered demand points, with their population.

    Uncovered points are buffered by ``radius_m`` in a metric CRS and the buffers are
    dissolved; each connected part is one cluster (points closer than ``2 × radius_m``
    join). Points without geometry are left out.

    Returns
    -------
    geopandas.GeoDataFrame
        cluster, points, population, codes (``;``-joined), geometry (EPSG:4326), ranked by
        population; clusters below ``min_population`` dropped.
    """
    import geopandas as gpd
    import shapely

    from emgis.geo.crs import metric_crs_for

    cov = np.asarray(covered, dtype=bool)
    g = demand.geometry
    arr = g.to_numpy()
    ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr)) & ~cov
    cols = ["cluster", "points", "population", "codes"]
    if not ok.any():
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=4326)
    sel = demand[ok]
    g84 = sel.geometry.to_crs(4326)
    crs = metric_crs if metric_crs is not None else metric_crs_for(tuple(g84.total_bounds))
    pts = g84.to_crs(crs).to_numpy()
    merged = shapely.union_all(shapely.buffer(pts, float(radius_m), quad_segs=8))
    parts = shapely.get_parts(merged)
    tree = shapely.STRtree(parts)
    pi, qi = tree.query(pts, predicate="intersects")
    which = np.full(len(pts), -1, dtype=np.int64)
    which[pi] = qi
    pop = np.asarray(sel["population"], dtype=float)
    codes = sel["code"].astype("str").to_numpy(dtype=object) if "code" in sel.columns else \
        np.array([str(i) for i in sel.index], dtype=object)
    n = len(parts)
    cnt = np.bincount(which, minlength=n)
    ppop = np.bincount(which, weights=pop, minlength=n)
    cl_codes = [";".join(sorted(codes[which == j])) for j in range(n)]
    out = gpd.GeoDataFrame({"points": cnt, "population": ppop,
                            "codes": pd.array(cl_codes, dtype="str")},
                           geometry=gpd.GeoSeries(parts, crs=crs), crs=crs).to_crs(4326)
    out = out[out["population"] >= min_population]
    out = out.sort_values(["population", "points"], ascending=[False, False], kind="stable")
    out = out.reset_index(drop=True)
    out.insert(0, "cluster", np.arange(1, len(out) + 1))
    return out


def hazard_shelter_check(demand, shelter_cov: pd.DataFrame, hazard_zones, *,
                         levels: tuple[str, ...] = ("high", "medium"),
                         villages=None) -> pd.DataFrame:
    """Villages in a disaster-prone area without a usable shelter within its standard.

    A village is in a disaster-prone area when its polygon (``villages``: GeoDataFrame with
    ``code``; else its demand point) intersects a hazard zone whose ``level`` is in
    ``levels``; it fails when ``shelter_cov["covered"]`` is False (see `coverage`: no
    shelter reachable within its own class's service time).

    Returns
    -------
    pandas.DataFrame
        The failing villages: code, name, population, hazard_types, hazard_levels, time_s,
        facility_id (nearest shelter), standard_s; ranked by population.
        ``attrs["in_hazard"]`` is the number of villages in hazard zones.
    """
    import geopandas as gpd

    zones = hazard_zones
    if "level" in zones.columns:
        zones = zones[zones["level"].astype("str").isin(list(levels)).to_numpy()]
    zones = zones.to_crs(4326) if zones.crs is not None else zones.set_crs(4326)
    codes = demand["code"].astype("str").to_numpy(dtype=object)
    if villages is not None:
        vg = villages[["code", villages.geometry.name]].copy()
        vg["code"] = vg["code"].astype("str")
        vg = vg.to_crs(4326)
        by_code = dict(zip(vg["code"], vg.geometry, strict=False))
        points = demand.geometry.to_crs(4326)
        geoms = [by_code.get(c, p) for c, p in zip(codes, points, strict=True)]
    else:
        geoms = list(demand.geometry.to_crs(4326))
    places = gpd.GeoDataFrame({"row": np.arange(len(demand))}, geometry=geoms, crs=4326)
    places = places[~(places.geometry.isna() | places.geometry.is_empty)]
    zcols = [c for c in ("hazard_type", "level") if c in zones.columns]
    hit = gpd.sjoin(places, zones[[*zcols, zones.geometry.name]], how="inner",
                    predicate="intersects")
    in_hz = np.zeros(len(demand), dtype=bool)
    in_hz[hit["row"].to_numpy()] = True
    types = hit.groupby("row")["hazard_type"].agg(lambda s: ";".join(sorted(set(map(str, s))))) \
        if "hazard_type" in hit.columns else pd.Series(dtype=object)
    lv = hit.groupby("row")["level"].agg(lambda s: ";".join(sorted(set(map(str, s))))) \
        if "level" in hit.columns else pd.Series(dtype=object)
    cov = np.asarray(shelter_cov["covered"], dtype=bool)
    fail = np.flatnonzero(in_hz & ~cov)
    out = pd.DataFrame({
        "code": pd.array(codes[fail], dtype="str"),
        "name": pd.array(demand["name"].astype("str").to_numpy(dtype=object)[fail]
                         if "name" in demand.columns else [None] * fail.size, dtype="str"),
        "population": np.asarray(demand["population"], dtype=float)[fail],
        "hazard_types": pd.array([types.get(i) for i in fail], dtype="str"),
        "hazard_levels": pd.array([lv.get(i) for i in fail], dtype="str"),
        "time_s": shelter_cov["time_s"].to_numpy()[fail],
        "facility_id": shelter_cov["facility_id"].array[fail],
        "standard_s": shelter_cov["standard_s"].to_numpy()[fail],
    })
    out = out.sort_values(["population", "code"], ascending=[False, True], kind="stable")
    out = out.reset_index(drop=True)
    out.attrs["in_hazard"] = int(in_hz.sum())
    return out
