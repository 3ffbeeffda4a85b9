"""Rules a layer's rows must follow together, and plausibility checks, after each value is read.

Layer rules (capacities from effective area, occupancy against capacity, risk scoring, a
hazard's state and responsible person) and plausibility checks: dates far in the future or the
past, deadlines before discovery, polygons with an absurd vertex count or area. Plausibility
problems are warnings: they stop a load until the user accepts them (``--accept-warnings``).
Their thresholds are norms (``date.*``, ``geometry.*`` in layers/norms_default.csv), so a
bureau can override them.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from emgis.layers.load.values import LIST_SPLIT, describe_range, fmt_number, objects
from emgis.layers.norms import Norms
from emgis.layers.problems import Problems
from emgis.layers.schema import LAYERS, LayerSpec

#: an equal-area projection for China (Albers, standard parallels 25° and 47° N)
CHINA_ALBERS = "+proj=aea +lat_1=25 +lat_2=47 +lat_0=0 +lon_0=105 +ellps=WGS84 +units=m +no_defs"


def apply_rules(gdf: gpd.GeoDataFrame, spec: LayerSpec, p: Problems, notes: list[str],
                norms: Norms, study_area=None) -> None:
    """Run the layer's own rules and the plausibility checks on ``gdf`` (modified in place)."""
    _LAYER_RULES.get(spec.name, lambda *a: None)(gdf, p, notes, norms)
    if spec.geometry in ("polygon", "any"):
        check_polygons(gdf, p, norms, study_area)


# --- plausibility ----------------------------------------------------------------------------

def check_polygons(gdf: gpd.GeoDataFrame, p: Problems, norms: Norms, study_area=None) -> None:
    """Warn of areas with an absurd vertex count, or larger than the study area × N (or, with
    no study area, than any county)."""
    geoms = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    areal = ~shapely.is_missing(geoms) & np.isin(shapely.get_type_id(geoms), (3, 6, 7))
    if not areal.any():
        return
    rows = gdf["_row"].to_numpy()
    max_vertices = norms.number("geometry.vertices_max")
    vertices = shapely.get_num_coordinates(geoms)
    for i in np.flatnonzero(areal & (vertices > max_vertices)):
        p.warn(int(rows[i]), "geometry", f"{int(vertices[i]):,} vertices",
               f"has more than {max_vertices:,.0f} vertices (norm geometry.vertices_max)",
               "simplify the outline (e.g. QGIS Vector ▸ Geometry Tools ▸ Simplify), or accept "
               "the warning if the detail is real")
    km2 = np.zeros(len(geoms))
    km2[areal] = gpd.GeoSeries(geoms[areal], crs=4326).to_crs(CHINA_ALBERS).area.to_numpy() / 1e6
    if study_area is not None:
        ratio = norms.number("geometry.area_max_study_area_ratio")
        area_km2 = gpd.GeoSeries([study_area], crs=4326).to_crs(CHINA_ALBERS).area.iloc[0] / 1e6
        limit, what = ratio * area_km2, (f"{ratio:g} × the study area ({area_km2:,.0f} km²; norm "
                                        "geometry.area_max_study_area_ratio)")
    else:
        limit = norms.number("geometry.area_max_km2")
        what = f"{limit:,.0f} km², more than any county (norm geometry.area_max_km2)"
    for i in np.flatnonzero(areal & (km2 > limit)):
        p.warn(int(rows[i]), "geometry", f"{km2[i]:,.0f} km²", f"covers more than {what}",
               "check the coordinates and --crs (a wrong coordinate system inflates areas), or "
               "accept the warning if the area is real")


def _check_dates(gdf, p: Problems, norms: Norms) -> None:
    today = dt.date.today()
    year_min = int(norms.number("date.year_min"))
    future = today + dt.timedelta(days=norms.number("date.future_days_max"))
    ahead_years = norms.number("date.deadline_years_ahead_max")
    ahead = today + dt.timedelta(days=round(365.25 * ahead_years))
    for row, deadline, found in zip(gdf["_row"], gdf["deadline"], gdf["discovered_on"],
                                    strict=True):
        for name, d in (("discovered_on", found), ("deadline", deadline)):
            if d is not None and d.year < year_min:
                p.warn(int(row), name, d.isoformat(),
                       f"is before {year_min} (norm date.year_min)",
                       "check the date (a blank or zero date often becomes year 1 or 1900); "
                       "accept the warning if it is right")
        if found is not None and found > future:
            p.warn(int(row), "discovered_on", found.isoformat(),
                   f"is in the future (today is {today.isoformat()})",
                   "give the date the hazard was found; accept the warning if it is right")
        if deadline is not None and deadline > ahead:
            p.warn(int(row), "deadline", deadline.isoformat(),
                   f"is more than {ahead_years:g} years ahead (norm "
                   "date.deadline_years_ahead_max)",
                   "check the year; accept the warning if the deadline is really that far")
        if deadline is not None and found is not None and deadline < found:
            p.warn(int(row), "deadline", deadline.isoformat(),
                   f"is before the hazard was discovered ({found.isoformat()})",
                   "check both dates (day and month swapped? wrong year?); accept the warning "
                   "if they are right")


# --- layer-specific rules --------------------------------------------------------------------

def _shelter_rules(gdf, p: Problems, notes, norms: Norms) -> None:
    derived = 0
    has_columns = gdf["capacity"].notna().any() or gdf["effective_area_m2"].notna().any()
    if not has_columns:
        notes.append("the file gives neither capacity nor effective area: capacities recorded as "
                     "unknown")
    caps, sources = [], []
    cap_field = LAYERS["shelters"].field("capacity")
    cap_lo, cap_hi = cap_field.range
    said = (gdf["capacity_source"] if "capacity_source" in gdf.columns
            else pd.Series([None] * len(gdf), index=gdf.index))
    for row, cap, area, dur, src in zip(gdf["_row"], gdf["capacity"], gdf["effective_area_m2"],
                                        gdf["duration_class"], said, strict=True):
        if src == "area" and area is not None and not pd.isna(area) and dur is not None:
            cap = None  # emgis's own export: derived from the area, so derive it again
        if cap is not None and not pd.isna(cap):
            caps.append(int(cap))
            sources.append("given")
        elif area is not None and not pd.isna(area) and dur is not None:
            per = norms.number(f"shelter.m2_per_person.{dur}")
            cap = int(area // per)
            if not cap_lo <= cap <= cap_hi:
                p.error(int(row), "effective_area_m2", fmt_number(area),
                        f"gives a capacity of {cap:,} at {per:g} m² per person, outside the "
                        f"range {describe_range(cap_field)} of capacity",
                        "check the area's unit (m², not cm² or mm²), or give the capacity")
                cap = None
            caps.append(cap)
            sources.append("area")
            derived += 1
        else:
            if has_columns:
                p.warn(int(row), "capacity", None,
                       "is empty and there is no effective area to derive it from",
                       "give 容纳人数 (capacity) or 有效面积 (effective area in m²); accept to "
                       "load it as unknown")
            caps.append(None)
            sources.append("unknown")
    gdf["capacity"] = objects(gdf, caps)
    gdf["capacity_source"] = sources
    gdf["occupancy"] = objects(gdf,
                                [0 if o is None or pd.isna(o) else int(o)
                                 for o in gdf["occupancy"]])
    for row, cap, occ in zip(gdf["_row"], gdf["capacity"], gdf["occupancy"], strict=True):
        if cap is not None and occ > cap:
            p.warn(int(row), "occupancy", occ, f"exceeds the capacity of {cap}",
                   "check the figures; accept the warning if the shelter is really overfull")
    if derived:
        notes.append(f"{derived} shelter capacit{'y' if derived == 1 else 'ies'} derived from "
                     "effective area ÷ m² per person for the duration class (norms "
                     "shelter.m2_per_person.*)")


def _team_rules(gdf, p: Problems, notes, norms: Norms) -> None:
    gdf["specialities"] = objects(gdf,
                                   [None if s is None
                                    else sorted(set(filter(None, LIST_SPLIT.split(s))))
                                         for s in gdf["specialities"]])
    for row, t, fc in zip(gdf["_row"], gdf["team_type"], gdf["fire_class"], strict=True):
        if fc is not None and t not in (None, "fire_station"):
            p.warn(int(row), "fire_class", fc, f"is set but the team type is {t}, not fire_station",
                   "clear fire_class, or set team_type to fire_station")


def _risk_rules(gdf, p: Problems, notes, norms: Norms) -> None:
    from emgis.risk.assess import score_points  # the risk package owns methods and bands

    factors = ("L", "E", "C", "S")
    refused = {x.row for x in p.errors if x.field in factors}
    if not refused:
        score_points(gdf, p, notes, norms)
        return
    # a factor already refused (outside its range) is not reported again as missing; the
    # file has errors, so only the other rows' problems matter
    score_points(gdf[~gdf["_row"].isin(refused)].copy(), p, [], norms)
    for c in ("inputs", "score", "band_version"):
        gdf[c] = None


def _hazard_rules(gdf, p: Problems, notes, norms: Norms) -> None:
    _check_dates(gdf, p, norms)
    today = dt.date.today()
    for row, state, resp, deadline, measures in zip(gdf["_row"], gdf["state"], gdf["responsible"],
                                                    gdf["deadline"], gdf["measures"], strict=True):
        if state == "closed" and (not resp or not measures):
            p.error(int(row), "responsible" if not resp else "measures", None,
                    "is empty for a closed-out hazard",
                    "a hazard is closed out only with a responsible person and measures")
        if state in ("confirmed", "under_control", "rectifying") and not resp:
            p.warn(int(row), "responsible", None, f"is empty for a hazard in state {state}",
                   "name the responsible person (责任人)")
        if deadline is not None and state != "closed" and deadline < today:
            notes.append(f"row {row}: hazard is overdue (deadline {deadline})")


_LAYER_RULES = {
    "shelters": _shelter_rules,
    "team_bases": _team_rules,
    "risk_points": _risk_rules,
    "hazards": _hazard_rules,
}
