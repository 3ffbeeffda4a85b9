"""Coverage and siting as services: what `emgis coverage | gaps | site`, the HTTP API's
/analyses/coverage and /analyses/gaps, the coverage page and the demo all ask for, computed once
here from the stored inputs (`shelters.store.load_coverage_inputs`) and the norms in force.

The edges parse their arguments, call these and render the result; errors are the domain's
(`MissingData`, `InputError`), which each edge maps to its own way of saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from emgis.layers.problems import MissingData
from emgis.shelters.coverage import KINDS
from emgis.shelters.siting.matrix import covered as covered_by_sites

# the kinds, their labels and default classes are shelters.coverage.KINDS; these are views of it
LAYERS = {k.name: k.label for k in KINDS.values()}
DEFAULT_CLASS = {k.name: k.default_class for k in KINDS.values() if k.default_class}


@dataclass(frozen=True)
class TeamSelection:
    """Which teams count: a team type key (`layers.vocab.TEAM_TYPE`) and/or a speciality; the
    empty selection keeps every facility of the layer."""

    team_type: str | None = None
    speciality: str | None = None

    def __bool__(self) -> bool:
        return bool(self.team_type or self.speciality)

    def label(self) -> str:
        """``水域救援队伍 water_rescue / speciality 舟艇`` for titles ('' when empty)."""
        from emgis.layers import vocab

        parts = []
        if self.team_type:
            parts.append(f"{vocab.TEAM_TYPE[self.team_type].zh} {self.team_type}")
        if self.speciality:
            parts.append(f"speciality {self.speciality}")
        return " / ".join(parts)


def team_selection(layer: str, team_type: str | None = None,
                   speciality: str | None = None) -> tuple[str, TeamSelection]:
    """``(kind name, selection)`` for a coverage layer and a team type / speciality as typed
    (key, Chinese name or alias); `BadArgument` naming the known layers or team types
    (`shelters.needs.team_filter`, the rule nearest and isochrones use too)."""
    from emgis.shelters.coverage import kind
    from emgis.shelters.needs import team_filter

    _, key, spec = team_filter(layer, team_type, speciality)
    k = kind(layer)
    return k.name, TeamSelection(None if key == k.team_type else key, spec)


def _has_speciality(values, speciality: str) -> np.ndarray:
    return np.array([v is not None and not (isinstance(v, float) and np.isnan(v))
                     and speciality in list(v) for v in values], dtype=bool)


def facilities_of(inputs, layer: str, team: TeamSelection | None = None):
    """The facility table a layer's coverage is measured from (of ``team``'s type and
    speciality, when given)."""
    kind = KINDS[layer]
    fac = getattr(inputs, kind.table)
    if kind.team_type is not None and "team_type" in fac.columns:
        fac = fac[fac["team_type"] == kind.team_type]
    if team and team.team_type:
        fac = fac[fac["team_type"] == team.team_type]
    if team and team.speciality:
        fac = fac[_has_speciality(fac.get("specialities", [None] * len(fac)), team.speciality)]
    return fac


def compute_coverage(inputs, layer: str, norms, team: TeamSelection | None = None) -> pd.DataFrame:
    """Coverage of ``layer`` for every demand point (`shelters.coverage.coverage`), counting
    only the teams of ``team`` when given (the kind's standard still applies: a team is held to
    ``team.response_min``, a fire station to ``fire.response_min``)."""
    from emgis.shelters.coverage import coverage

    kind = KINDS[layer]
    fac = facilities_of(inputs, layer, team)
    if not len(fac):
        which = f" ({team.label()})" if team else ""
        raise MissingData(f"no usable {LAYERS[layer]}{which} are stored; load them first "
                          f"(emgis load {kind.table} FILE) or set their status")
    out = coverage(inputs.graph, inputs.demand, fac.reset_index(drop=True) if team else
                   getattr(inputs, kind.table), kind, norms=norms)
    if team:
        out.attrs["notes"] = [*out.attrs.get("notes", []), f"only {team.label()}"]
    return out


def coverage_table(inputs, c: pd.DataFrame, layer: str,
                   team: TeamSelection | None = None) -> gpd.GeoDataFrame:
    """One row per demand point: its nearest facility by name, minutes, the standard, covered."""
    d = inputs.demand
    fac = facilities_of(inputs, layer, team)
    label = (dict(zip(fac["id"], fac["name"].fillna(fac["ext_id"]), strict=True)) if "id" in fac
             else {})
    out = gpd.GeoDataFrame({
        "code": d["code"].to_numpy(), "name": d["name"].to_numpy(),
        "population": d["population"].to_numpy(),
        "facility": [label.get(f, f) for f in c["facility_id"].astype(object)],
        "time_min": np.round(c["time_s"].to_numpy() / 60, 2),
        "standard_min": np.round(c["standard_s"].to_numpy(dtype=float) / 60, 2),
        "covered": c["covered"].to_numpy(),
        "snap_m": np.round(d["snap_m"].to_numpy(dtype=float), 1),
    }, geometry=d.geometry.to_numpy(), crs=4326)
    out["time_min"] = out["time_min"].where(np.isfinite(out["time_min"]), None)
    # a shelter class's own standard decides coverage: keep the time to the nearest of each class
    for col in [k for k in c.columns if k.startswith("time_s.") and KINDS[layer].class_col]:
        t = np.round(c[col].to_numpy(dtype=float) / 60, 2)
        out[f"time_min.{col[7:]}"] = np.where(np.isfinite(t), t, np.nan)
    out["covered_by"] = [None if pd.isna(f) or f == -1 else label.get(f, f)
                         for f in c["covered_by_id"].astype(object)]
    return out


@dataclass
class Gaps:
    """Who is out of reach or without a place, per village and township (ranked), and the
    shelter assignment under capacities behind it (shelters only)."""

    villages: pd.DataFrame
    townships: pd.DataFrame
    assignment: Any = None  # shelters.capacity.Assignment for shelters, else None


def compute_gaps(inputs, c: pd.DataFrame, layer: str, norms) -> Gaps:
    """The gap tables of ``layer`` (`shelters.gaps.gap_tables`); for shelters, people in reach
    but without a place under the shelters' capacities are under-served, and those relying on
    shelters of unknown capacity are counted apart ("capacity unknown"), never as 0 places."""
    from emgis.shelters.capacity import shelter_assignment
    from emgis.shelters.gaps import gap_tables

    assignment = None
    unserved = unknown = None
    if layer == "shelters":
        assignment = shelter_assignment(inputs.graph, inputs.demand, inputs.shelters, norms=norms)
        unserved = assignment.demand["unserved"].to_numpy()
        unknown = assignment.demand["capacity_unknown"].to_numpy()
    villages, townships = gap_tables(inputs.demand, c["covered"].to_numpy(), unserved, unknown,
                                     getattr(inputs, "township_names", None))
    return Gaps(villages, townships, assignment)


MODELS = ("mclp", "lscp", "pmedian", "cmclp", "cpmedian")


def standard_seconds(layer: str, norms, site_class: str | None) -> float:
    """The standard new sites are held to: the norm of the kind (and class) from the norms table."""
    kind = KINDS[layer]
    key = (kind.norm if kind.class_col is None
           else f"{kind.norm}.{site_class or DEFAULT_CLASS[layer]}")
    return float(norms.number(key)) * kind.unit_s


def standards_note(layer: str, norms, site_class: str | None = None,
                   lang: str = "en") -> str | None:
    """Why `emgis coverage` and `emgis site` can count different people "within the standard"
    for the same facilities (None for a kind with one standard): coverage holds each facility to
    the standard of its own class, siting holds every site, existing ones too, to the standard
    of the class it sites (one number the model can cover against)."""
    kind = KINDS[layer]
    if kind.class_col is None:
        return None
    u = "min" if kind.unit_s == 60.0 else "h"
    per = ", ".join(f"{c} {float(v):g} {u}" for c, v in norms.group(kind.norm).items())
    sited = site_class or DEFAULT_CLASS[layer]
    if lang == "zh":
        return (f"覆盖分析按每处{kind.label_zh}自身等级（{kind.class_col}）的标准计"
                f"（{per}）；选址对所有场所（含现有）按拟建等级（{sited}）的同一标准计，"
                f"故选址“现状”的达标人数与覆盖分析不同：现有场所的标准比{sited}长时更少，"
                f"更短时更多")
    return (f"coverage holds each {kind.label_en[:-1]} to the standard of its own "
            f"{kind.class_col} ({per}); siting holds every site, existing ones too, to the "
            f"standard of the class it sites ({sited}), so its 'before' differs: fewer people "
            f"when existing sites have a longer standard than {sited}, more when shorter")


def read_candidates(spec: str, engine, area_metric_epsg: int | None):
    """``grid:1000`` | ``osm:FILE`` | a layer FILE (points or polygons) → candidate points."""
    from emgis.layers.load.study_area import load_study_area
    from emgis.shelters.candidates import grid_candidates, osm_candidates

    area = load_study_area(engine)
    if spec.startswith("grid:"):
        if area is None:
            raise MissingData("grid candidates need a study area: run `emgis init` first")
        return grid_candidates(area.geom, float(spec[5:]), area.metric_epsg)
    if spec.startswith("osm:"):
        return osm_candidates(spec[4:], boundary=None if area is None else area.geom)
    gdf = gpd.read_file(spec).to_crs(4326)
    gdf = gdf.set_geometry(gdf.geometry.representative_point())
    gdf["ext_id"] = gdf.get("id", pd.Series([f"cand:{i}" for i in range(len(gdf))],
                                            index=gdf.index)).astype(str)
    gdf["name"] = gdf.get("name", gdf["ext_id"])
    gdf["kind"], gdf["kind_zh"] = "given", "指定"
    gdf["area_m2"] = pd.to_numeric(gdf.get("area_m2", np.nan), errors="coerce")
    return gdf[["ext_id", "name", "kind", "kind_zh", "area_m2", "geometry"]]


def grid_onto_roads(cand: gpd.GeoDataFrame, graph, cell_m: float, norms,
                    area=None) -> gpd.GeoDataFrame:
    """Move each grid cell's candidate to the road node nearest its centre when that node is in
    the cell (a station or a shelter's entrance is on a road: a cell centre 600 m into the
    fields would start every trip with minutes of walking); cells with no road keep their
    centre, and so do cells whose nearest node is outside the study ``area``. Two cells on the
    same node keep one candidate."""
    import shapely

    from emgis.geo.routing import snap

    pts = cand.geometry
    s = snap(graph, pts.x.to_numpy(), pts.y.to_numpy(), norms=norms)
    on = np.asarray(s.distance_m) <= cell_m / 2 ** 0.5
    node = np.asarray(s.node)
    if area is not None:
        on &= shapely.contains_xy(area, np.asarray(graph.node_lon)[node],
                                  np.asarray(graph.node_lat)[node])
    lon = np.where(on, np.asarray(graph.node_lon)[node], pts.x.to_numpy())
    lat = np.where(on, np.asarray(graph.node_lat)[node], pts.y.to_numpy())
    out = cand.set_geometry(gpd.points_from_xy(lon, lat, crs=4326))
    key = np.where(on, node, -1 - np.arange(len(out)))
    return out[~pd.Series(key).duplicated().to_numpy()].reset_index(drop=True)


@dataclass
class SitingRun:
    """Everything `run_siting` computed: the result, its independent check and the inputs."""

    result: Any
    check: Any
    T: Any
    w: np.ndarray
    standard_s: float
    existing: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    why: pd.Series
    sites: gpd.GeoDataFrame
    existing_idx: np.ndarray
    #: each demand point within its nearest facility's own class standard (what `emgis
    #: coverage` counts), for a kind with classes; None otherwise (then it equals `before`)
    own_class: np.ndarray | None = None
    note: str | None = None  # `standards_note`: why `before` and `own_class` differ

    @property
    def before(self) -> np.ndarray:
        return covered_by_sites(self.T, self.existing_idx, self.standard_s)

    @property
    def after(self) -> np.ndarray:
        return covered_by_sites(self.T, self.result.chosen, self.standard_s)

    def chosen(self) -> gpd.GeoDataFrame:
        """The new sites with the people each newly brings within the standard."""
        before = self.before
        out = self.sites.iloc[self.result.new].copy()
        if "name" in out.columns:  # unnamed OSM sites and grid cells: say what and which
            out["name"] = [n if isinstance(n, str) and n.strip() else
                           f"未命名{k or ''} ({e})" for n, k, e in
                           zip(out["name"], out.get("kind_zh", [None] * len(out)),
                               out["ext_id"], strict=True)]
        out["covers_new_people"] = [
            float(self.w[covered_by_sites(self.T, [j], self.standard_s) & ~before].sum())
            for j in self.result.new]
        return out


@dataclass(frozen=True)
class SitingRequest:
    """What a planner asks of `run_siting` (the options of `emgis site`)."""

    layer: str = "shelters"
    model: str = "mclp"          # one of MODELS
    add: int = 5                 # new sites (not for lscp)
    candidates: str = "grid:1000"  # grid:METRES | osm:FILE | a layer file
    site_class: str | None = None  # class of the new sites (shelter duration class, depot level)
    capacity: float = 2000       # persons per new site when its area is unknown
    time_limit: float = 60       # solver time limit, seconds


def run_siting(engine, inputs, norms, request: SitingRequest) -> SitingRun:
    """Choose new sites (the work of `emgis site`, also run by `emgis demo`).

    Raises `MissingData` when there is no candidate site (or no study area for a grid).
    """
    layer, model, add, site_class = request.layer, request.model, request.add, request.site_class
    candidates, capacity, time_limit = request.candidates, request.capacity, request.time_limit
    from emgis.risk.store import read_points
    from emgis.shelters import siting
    from emgis.shelters.candidates import exclusions
    from emgis.shelters.coverage import demand_facility_times

    std = standard_seconds(layer, norms, site_class)
    cand = read_candidates(candidates, engine, None)
    if candidates.startswith("grid:") and len(cand):
        from emgis.layers.load.study_area import load_study_area

        area = load_study_area(engine)
        cand = grid_onto_roads(cand, inputs.graph, float(candidates[5:]), norms,
                               None if area is None else area.geom)
    why = exclusions(cand, hazard_zones=inputs.hazard_zones, risk_points=read_points(engine),
                     norms=norms)
    existing = facilities_of(inputs, layer)
    if cand.empty:
        raise MissingData(f"no candidate sites from {candidates}: give another source (grid:1000, "
                          "osm:FILE, a layer)")
    ex = gpd.GeoDataFrame({"ext_id": existing["ext_id"].astype(str).to_numpy(),
                           "name": existing["name"].to_numpy(),
                           "kind": "existing", "kind_zh": "现有", "area_m2": np.nan},
                          geometry=existing.geometry.to_numpy(), crs=4326)
    sites = pd.concat([ex, cand], ignore_index=True)
    sites = gpd.GeoDataFrame(sites, geometry="geometry", crs=4326)
    if layer == "shelters":
        sites["duration_class"] = site_class or DEFAULT_CLASS[layer]
    n_ex = len(ex)
    allowed = np.r_[np.ones(n_ex, dtype=bool), (why == "").to_numpy()]
    cutoff = std if model in ("mclp", "lscp", "cmclp") else max(3 * std, std + 1800)
    times = demand_facility_times(inputs.graph, inputs.demand, sites, cutoff_s=cutoff,
                                  direction=KINDS[layer].direction, norms=norms)
    T = siting.times_matrix(times)
    w = inputs.demand["population"].to_numpy(dtype=float)
    existing_idx = np.arange(n_ex)
    per = (norms.number(f"shelter.m2_per_person.{site_class or DEFAULT_CLASS[layer]}")
           if layer == "shelters" else None)
    cap = np.full(len(sites), float(capacity))
    if per:
        cap = np.where(sites["area_m2"].notna(), sites["area_m2"].fillna(0) / per, cap)
    if layer == "shelters" and n_ex:
        known = existing["capacity"].to_numpy(dtype=float)
        cap[:n_ex] = np.where(np.isfinite(known), known, cap[:n_ex])
    kw = dict(existing=existing_idx, allowed=allowed, options=siting.SolveOptions(time_limit))
    if model == "mclp":
        res = siting.mclp(T, w, std, add, **kw)
    elif model == "lscp":
        res = siting.lscp(T, std, weights=w, **kw)
    elif model == "pmedian":
        res = siting.p_median(T, w, add, unserved_s=cutoff, **kw)
    elif model == "cmclp":
        res = siting.capacitated_mclp(T, w, std, add, cap, **kw)
    else:
        res = siting.capacitated_p_median(T, w, add, cap, unserved_s=cutoff, **kw)
    # every model ran `check_solution` on its answer before returning it (and raised on a
    # failure); a capacitated model that found no solution at all has nothing to check
    check = res.check or siting.SolutionCheck(False, [f"no solution ({res.status})"], np.nan)
    own = None
    if KINDS[layer].class_col is not None and n_ex:
        own = compute_coverage(inputs, layer, norms)["covered"].to_numpy(dtype=bool)
    return SitingRun(res, check, T, w, std, ex, cand, why, sites, existing_idx, own,
                     standards_note(layer, norms, site_class))


def compute_fire_districts(engine, graph, norms):
    """The fire-station districts (`shelters.districts.fire_districts`) of the usable fire
    stations on ``graph``, clipped to the stored study area; what `emgis fire-districts` and
    ``/analyses/fire-districts`` both answer. `MissingData` when no fire station is usable."""
    from emgis.layers.load.study_area import load_study_area
    from emgis.shelters.districts import fire_districts
    from emgis.shelters.store import read_team_bases

    stations = read_team_bases(engine, team_types=[KINDS["fire"].team_type])
    if not len(stations):
        raise MissingData("no usable fire stations (team_bases with team_type fire_station and "
                          "status available) are stored; load them first (emgis load team_bases "
                          "FILE) or set their status")
    area = load_study_area(engine)
    out = fire_districts(graph, stations, norms=norms, area=None if area is None else area.geom)
    if area is None:
        out.notes.append("no study area is stored: districts are clipped to the convex hull of "
                         "the road network (emgis init sets the county outline)")
    return out


def districts_geojson(d) -> dict:
    """The districts as a GeoJSON FeatureCollection (dict) with the check per district and the
    unreachable part, as the API serves them and `emgis fire-districts --out x.geojson` writes
    them."""
    import json

    import shapely.geometry

    fc = json.loads(d.table.to_json(drop_id=True, ensure_ascii=False))
    lost = d.unreachable_area
    fc["unreachable"] = {
        "nodes": int(d.unreachable.size), "area_km2": round(d.unreachable_km2, 3),
        "sample_nodes": d.unreachable[:20].tolist(),
        "geometry": None if lost is None or lost.is_empty else shapely.geometry.mapping(lost)}
    fc["method"] = d.method
    fc["notes"] = list(d.notes)
    return fc
