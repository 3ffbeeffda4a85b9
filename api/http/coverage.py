"""Coverage and gap summaries over HTTP (``/analyses/coverage``, ``/analyses/gaps``).

The same computation as `emgis coverage` / `emgis gaps` (api/cli_shelters.py, shelters/coverage.py,
shelters/gaps.py) on the stored layers, cached per (network version, layer, last change of the
data): a page or a dashboard asking again gets the answer at once, an edit to a shelter or a new
census load makes a new one. The coverage map page (api/pages.py) uses the same cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from emgis.api.http.errors import Conflict, error_responses
from emgis.geo.store import NETWORK_NAME_PATTERN
from emgis.layers.db import latest_census_year
from emgis.shelters.coverage import kind_names, kinds_help
from emgis.shelters.service import TeamSelection, team_selection

router = APIRouter(prefix="/analyses", tags=["analyses"])

GEOJSON = "application/geo+json"
TEAM_TYPE_HELP = ("teams only (layer teams, team_bases or fire): a team type (water_rescue, "
                  "hazchem … or 水域救援, 危化 …); an unknown one is a 400 naming the known types")
SPECIALITY_HELP = "teams only: a speciality the team must have"
#: every name of shelters.coverage.KINDS, aliases too (``team_bases`` means ``teams``)
Layer = Literal[kind_names(aliases=True)]  # type: ignore[valid-type]


@dataclass
class CoverageResult:
    layer: str
    frame: gpd.GeoDataFrame     # one row per demand point: `emgis coverage`'s columns plus
                                # time_s, standard_s
    facilities: gpd.GeoDataFrame
    clusters: gpd.GeoDataFrame
    villages: pd.DataFrame      # gap table per village (ranked)
    townships: pd.DataFrame     # gap table per township (ranked)
    census_year: int | None
    capacity: dict | None = None  # shelters: persons with a place, without, capacity unknown
    placement: dict | None = None  # people placed exactly / approximately / not at all
    team: TeamSelection | None = None  # the teams counted (type, speciality); None: all
    note: str | None = None  # why `emgis site` may count differently (`standards_note`)


def data_stamp(engine) -> str:
    """Changes whenever any stored row changes (audit log) or a file is loaded (cache key)."""
    with engine.connect() as c:
        row = c.execute(sa.text(
            "SELECT (SELECT count(*) || ':' || COALESCE(max(at)::text, '') FROM audit_log), "
            "(SELECT COALESCE(max(loaded_at)::text, '') FROM loads)")).first()
    return json.dumps(list(row)) if row else ""


def cache_key(request: Request, what: str, layer: str, network: str | None,
              team: TeamSelection | None = None) -> tuple:
    """What a coverage answer depends on: the network's version, the layer, the teams counted
    (type, speciality), the data's last change."""
    name = network or request.app.state.settings.network
    _, version = request.app.state.graphs.versioned(request.app.state.engine, name,
                                                    request.app.state.home,
                                                    memo=request.app.state.memo)
    team = team or TeamSelection()
    return (what, version, layer, team.team_type, team.speciality,
            data_stamp(request.app.state.engine))


def selection(layer: str, team_type: str | None,
              speciality: str | None) -> tuple[str, TeamSelection]:
    """The kind and the teams asked for; a wrong layer or team type is a `BadArgument` (400)
    naming the known ones (`shelters.service.team_selection`)."""
    return team_selection(layer, team_type, speciality)


def coverage_result(request: Request, layer: str, network: str | None = None,
                    team: TeamSelection | None = None) -> CoverageResult:
    """Compute (or take from the cache) the coverage of ``layer`` (of ``team`` only, when
    given)."""
    from emgis.layers.norms import norms_in_force
    from emgis.shelters.gaps import uncovered_clusters
    from emgis.shelters.service import (
        compute_coverage,
        compute_gaps,
        coverage_table,
        facilities_of,
        standards_note,
    )
    from emgis.shelters.store import load_coverage_inputs

    engine = request.app.state.engine
    name = network or request.app.state.settings.network
    key = cache_key(request, "coverage", layer, network, team)
    cache = request.app.state.results
    hit = cache.get(key)
    if hit is not None:
        return hit
    norms = norms_in_force(engine)
    inputs = load_coverage_inputs(engine, network=name, home=request.app.state.home, norms=norms)
    fac = facilities_of(inputs, layer, team)
    if not len(fac):
        which = f" ({team.label()})" if team else ""
        raise Conflict(f"no usable {layer}{which} are stored; load some (emgis load ...) "
                       f"or set their status")
    c = compute_coverage(inputs, layer, norms, team)
    d = inputs.demand
    covered = c["covered"].to_numpy(dtype=bool)
    # the CLI's table, with the times unrounded
    frame = coverage_table(inputs, c, layer, team).assign(
        population=d["population"].to_numpy(dtype=float), covered=covered,
        time_s=c["time_s"].to_numpy(dtype=float), standard_s=c["standard_s"].to_numpy(dtype=float))
    g = compute_gaps(inputs, c, layer, norms)
    villages, townships = g.villages, g.townships
    with engine.connect() as conn:
        year = latest_census_year(conn)
    a = g.assignment
    capacity = None if a is None else {
        "sheltered": round(a.served, 1), "unserved": round(a.unserved, 1),
        "capacity_unknown": round(a.capacity_unknown, 1),
        "shelters_of_unknown_capacity": int((~a.shelters["capacity_known"]).sum())}
    placement = None if inputs.placement is None else {
        k: inputs.placement[k] for k in ("total", "exact", "approximate", "not_placed",
                                         "approximate_by", "by_township")}
    res = CoverageResult(layer, frame, fac, uncovered_clusters(d, covered), villages, townships,
                         year, capacity, placement, team, standards_note(layer, norms))
    cache.put(key, res)
    return res


def _num(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 2)


@router.get("/coverage", summary="Who is within the standard of a kind of facility, by township",
            responses=error_responses(400, 404, 409, said={
                409: "no road network, or no usable facility of the kind"}))
def coverage(request: Request,
             layer: Layer = Query("shelters", description=kinds_help()),
             top: int = Query(20, ge=0, le=1000,
                              description="how many of the worst villages to list"),
             network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN),
             team_type: str | None = Query(None, max_length=100, description=TEAM_TYPE_HELP),
             speciality: str | None = Query(None, max_length=100,
                                            description=SPECIALITY_HELP)) -> JSONResponse:
    layer, team = selection(layer, team_type, speciality)
    r = coverage_result(request, layer, network, team)
    f = r.frame
    pop = float(f["population"].sum())
    cov = float(f.loc[f["covered"], "population"].sum())
    t = np.where(np.isfinite(f["time_s"]), f["time_s"], np.nan)
    return JSONResponse({
        "layer": layer, "team_type": team.team_type, "speciality": team.speciality,
        "census_year": r.census_year, "facilities": len(r.facilities),
        "demand_points": len(f), "population": pop, "covered": cov, "uncovered": pop - cov,
        "covered_share": cov / pop if pop else None,
        # shelters: places under capacity; people near shelters of unknown capacity are apart
        "capacity": r.capacity,
        # how the people counted are placed: exactly, approximately (how), not at all
        "placement": r.placement,
        "standard_min": sorted({_num(s / 60) for s in f["standard_s"] if np.isfinite(s)}),
        # a kind with classes: each facility is held to its own class's standard, which siting
        # (one standard for all) does not do — why the two can count different people
        "standards_note": r.note,
        "time_min": {"median": _num(np.nanmedian(t) / 60) if np.isfinite(t).any() else None,
                     "p90": _num(np.nanpercentile(t, 90) / 60) if np.isfinite(t).any() else None,
                     "unreachable_points": int((~np.isfinite(f["time_s"])).sum())},
        "townships": json.loads(r.townships.to_json(orient="records", force_ascii=False)),
        "worst_villages": json.loads(r.villages[r.villages["gap"] > 0].head(top).to_json(
            orient="records", force_ascii=False)),
    })


@router.get("/gaps",
            summary="Out-of-reach villages (points) or clusters of them (polygons), ranked",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, **error_responses(400, 404, 409)})
def gaps(request: Request,
         layer: Layer = Query("shelters", description=kinds_help()),
         clusters: bool = Query(False, description="polygons around clusters of uncovered "
                                                   "villages instead of points"),
         network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN),
         team_type: str | None = Query(None, max_length=100, description=TEAM_TYPE_HELP),
         speciality: str | None = Query(None, max_length=100,
                                        description=SPECIALITY_HELP)) -> Response:
    layer, team = selection(layer, team_type, speciality)
    r = coverage_result(request, layer, network, team)
    if clusters:
        body = r.clusters.to_crs(4326).to_json(drop_id=True) if len(r.clusters) else \
            json.dumps({"type": "FeatureCollection", "features": []})
        return Response(body, media_type=GEOJSON)
    f = r.frame[~r.frame["covered"]].copy()
    f["time_min"] = [_num(t / 60) for t in f["time_s"]]
    f["standard_min"] = [_num(s / 60) for s in f["standard_s"]]
    f = f.sort_values(["population", "code"], ascending=[False, True], kind="stable")
    f["rank"] = np.arange(1, len(f) + 1)
    out = f[["rank", "code", "name", "population", "time_min", "standard_min", "geometry"]]
    return Response(out.to_json(drop_id=True, ensure_ascii=False) if len(out) else
                    json.dumps({"type": "FeatureCollection", "features": []}), media_type=GEOJSON)


@router.get("/fire-districts",
            summary="Fire-station districts (消防站辖区): each road node to its fastest station, "
                    "each district's area and 5-minute reach checked against the norms",
            response_class=Response,
            responses={200: {"content": {GEOJSON: {}}}, **error_responses(400, 404, 409, said={
                409: "no road network, or no usable fire station"})})
def fire_districts(request: Request,
                   network: str | None = Query(None, pattern=NETWORK_NAME_PATTERN)) -> Response:
    """A FeatureCollection: one district per usable fire station (area_km2, reach_share,
    limit_km2 and the norm it comes from, area_ok, reach_ok, check), ``unreachable`` (road
    nodes no station reaches, their area), ``method`` (how the polygons are drawn), ``notes``."""
    from emgis.layers.norms import norms_in_force
    from emgis.shelters.service import compute_fire_districts, districts_geojson

    engine = request.app.state.engine
    name = network or request.app.state.settings.network
    key = cache_key(request, "fire-districts", "fire", network)
    cache = request.app.state.results
    body = cache.get(key)
    if body is None:
        graph, _ = request.app.state.graphs.versioned(engine, name, request.app.state.home,
                                                      memo=request.app.state.memo)
        d = compute_fire_districts(engine, graph, norms_in_force(engine))  # MissingData: 409
        fc = districts_geojson(d)
        fc["query"] = {"network": name}
        body = json.dumps(fc, ensure_ascii=False)
        cache.put(key, body)
    return Response(body, media_type=GEOJSON)
