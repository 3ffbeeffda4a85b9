"""`emgis coverage | gaps`: who is within reach of shelters, depots, fire stations and teams.

Registered on `api.cli.app` by the import at the bottom of api/cli.py. The cores are in
shelters/coverage.py (and shelters/siting.py for `emgis site`); this module reads the
inputs from PostGIS, calls them, prints the answer and writes the files.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from emgis.api.cli import _norms, _report_input_error, _settings, app, console, err
from emgis.layers.problems import InputError

LAYERS = {"shelters": "避难场所 shelters", "fire": "消防站 fire stations", "depots": "物资储备库 depots",
          "teams": "救援队伍 teams"}
LayerOpt = Annotated[str, typer.Option("--layer", help="shelters | fire | depots | teams")]


def _check_layer(layer: str) -> None:
    if layer not in LAYERS:
        err.print(f"[red]--layer {layer!r} is not known[/]; use one of: {', '.join(LAYERS)}")
        raise typer.Exit(2)


def facilities_of(inputs, layer: str):
    """The facility table a layer's coverage is measured from."""
    if layer == "shelters":
        return inputs.shelters
    if layer == "depots":
        return inputs.depots
    teams = inputs.team_bases
    if layer == "fire" and "team_type" in teams.columns:
        return teams[teams["team_type"] == "fire_station"]
    return teams


def compute_coverage(inputs, layer: str, norms) -> pd.DataFrame:
    from emgis.shelters import coverage as cov

    fn = {"shelters": cov.shelter_coverage, "fire": cov.fire_coverage, "depots": cov.depot_coverage,
          "teams": cov.team_coverage}[layer]
    fac = inputs.shelters if layer == "shelters" else inputs.depots if layer == "depots" else inputs.team_bases
    if not len(facilities_of(inputs, layer)):
        raise typer.BadParameter(f"no usable {LAYERS[layer]} are stored; load them first (emgis load ...)")
    return fn(inputs.graph, inputs.demand, fac, norms=norms)


@contextlib.contextmanager
def coverage_inputs(network: str, year: int | None):
    """Open the database and read what coverage needs; bad or missing inputs exit with code 2."""
    from emgis.geo.store import RoadNetworkNotFound
    from emgis.layers.db import open_database
    from emgis.shelters.store import load_coverage_inputs

    dbs, _ = _settings()
    try:
        with open_database() as db:
            norms = _norms(db.engine)
            inputs = load_coverage_inputs(db.engine, network=network, home=dbs.home, year=year, norms=norms)
            yield db, norms, inputs
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    except RoadNetworkNotFound as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _result_frame(inputs, c: pd.DataFrame, layer: str) -> gpd.GeoDataFrame:
    d = inputs.demand
    fac = facilities_of(inputs, layer)
    label = dict(zip(fac["id"], fac["name"].fillna(fac["ext_id"]), strict=True)) if "id" in fac else {}
    out = gpd.GeoDataFrame({
        "code": d["code"].to_numpy(), "name": d["name"].to_numpy(), "population": d["population"].to_numpy(),
        "facility": [label.get(f, f) for f in c["facility_id"].astype(object)], "time_min": np.round(c["time_s"].to_numpy() / 60, 2),
        "standard_min": np.round(c["standard_s"].to_numpy(dtype=float) / 60, 2), "covered": c["covered"].to_numpy(),
        "snap_m": np.round(d["snap_m"].to_numpy(dtype=float), 1),
    }, geometry=d.geometry.to_numpy(), crs=4326)
    out["time_min"] = out["time_min"].where(np.isfinite(out["time_min"]), None)
    # a shelter class's own standard decides coverage: keep the time to the nearest of each class
    for col in [k for k in c.columns if k.startswith("time_s.") and layer in ("shelters", "depots")]:
        t = np.round(c[col].to_numpy(dtype=float) / 60, 2)
        out[f"time_min.{col[7:]}"] = np.where(np.isfinite(t), t, np.nan)
    out["covered_by"] = [None if pd.isna(f) or f == -1 else label.get(f, f) for f in c["covered_by_id"].astype(object)]
    return out


def _write(frame: gpd.GeoDataFrame, path: Path, sheets: dict[str, pd.DataFrame] | None = None) -> None:
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        with pd.ExcelWriter(path) as xw:
            plain = pd.DataFrame(frame.drop(columns="geometry"))
            plain["lon"], plain["lat"] = frame.geometry.x, frame.geometry.y
            plain.to_excel(xw, sheet_name="villages", index=False)
            for name, sheet in (sheets or {}).items():
                sheet.to_excel(xw, sheet_name=name[:31], index=False)
    elif suffix == ".csv":
        plain = pd.DataFrame(frame.drop(columns="geometry"))
        plain["lon"], plain["lat"] = frame.geometry.x, frame.geometry.y
        plain.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_file(path)
    console.print(f"wrote {path}")


@app.command("coverage")
def coverage_cmd(
    layer: LayerOpt = "shelters",
    out: Annotated[Path | None, typer.Option(help="villages with their nearest facility: .geojson, .gpkg, .csv, .xlsx")] = None,
    map_: Annotated[Path | None, typer.Option("--map", help="write the offline coverage map (HTML)")] = None,
    network: Annotated[str, typer.Option(help="road network")] = "default",
    year: Annotated[int | None, typer.Option(help="census year (default: the latest)")] = None,
) -> None:
    """Travel time from every village to the nearest facility of LAYER, checked against its standard."""
    from emgis.shelters import coverage as cov

    _check_layer(layer)
    with coverage_inputs(network, year) as (_, norms, inputs):
        c = compute_coverage(inputs, layer, norms)
        assignment = (cov.shelter_assignment(inputs.graph, inputs.demand, inputs.shelters, norms=norms)
                      if layer == "shelters" else None)
    frame = _result_frame(inputs, c, layer)
    pop = frame["population"].astype(float)
    covered = pop[frame["covered"]].sum()
    t = Table("", "value", title=f"coverage: {LAYERS[layer]}", header_style="bold")
    t.add_row("villages", f"{len(frame):,}")
    t.add_row("population", f"{pop.sum():,.0f}")
    t.add_row("within the standard", f"{covered:,.0f} ({covered / max(pop.sum(), 1):.1%})")
    times = c["time_s"].to_numpy()
    finite = times[np.isfinite(times)]
    if finite.size:
        t.add_row("travel time median / 90% / max", " / ".join(f"{v / 60:.1f} min" for v in
                                                                 np.percentile(finite, [50, 90, 100])))
    t.add_row("villages out of reach", f"{int((~frame['covered']).sum()):,}")
    sheets = {}
    if assignment is not None:
        served = float(assignment.demand["assigned"].sum())
        unserved = float(assignment.demand["unserved"].sum())
        over = assignment.shelters[assignment.shelters["overload"] > 0]
        t.add_row("sheltered within capacity", f"{served:,.0f} (unserved {unserved:,.0f})")
        t.add_row("shelters nearest-assignment would overload", f"{len(over)}")
        frame["sheltered"] = np.round(assignment.demand["assigned"].to_numpy(), 0)
        frame["unserved"] = np.round(assignment.demand["unserved"].to_numpy(), 0)
        sheets["shelters"] = assignment.shelters
    console.print(t)
    worst = frame[~frame["covered"]].sort_values("population", ascending=False).head(10)
    if len(worst):
        w = Table("code", "village", "population", "nearest", "time", "standard", title="largest villages out of reach")
        for _, r in worst.iterrows():
            w.add_row(str(r["code"]), str(r["name"]), f"{r['population']:,.0f}", str(r["facility"]),
                      "—" if r["time_min"] is None else f"{r['time_min']:.1f} min", f"{r['standard_min']:.0f} min")
        console.print(w)
    for note in inputs.notes:
        console.print(f"  note: {note}")
    if out:
        _write(frame, out, sheets)
    if map_:
        from emgis.maps.coverage_map import write_coverage_map

        page = write_coverage_map(map_, frame.assign(time_s=c["time_s"].to_numpy()),
                                  facilities_of(inputs, layer), kind_label=LAYERS[layer],
                                  title=f"覆盖分析 Coverage: {LAYERS[layer]}")
        console.print(f"wrote {page}")


@app.command("gaps")
def gaps_cmd(
    layer: LayerOpt = "shelters",
    out: Annotated[Path | None, typer.Option(help="ranked gap tables (.xlsx: villages, townships, hazard check)")] = None,
    clusters: Annotated[Path | None, typer.Option(help="polygons of clusters of uncovered people (.geojson/.gpkg)")] = None,
    radius_m: Annotated[float, typer.Option(help="uncovered villages closer than twice this form one cluster")] = 1500.0,
    map_: Annotated[Path | None, typer.Option("--map", help="write the offline gap map (HTML)")] = None,
    network: str = "default",
    year: int | None = None,
) -> None:
    """Uncovered and under-served people per village and township, their clusters, and hazard-zone villages."""
    from emgis.shelters import coverage as cov

    _check_layer(layer)
    if out is not None and out.suffix.lower() != ".xlsx":
        err.print(f"[red]{out.name}[/]: gap tables are written as .xlsx (one sheet per table)")
        raise typer.Exit(2)
    with coverage_inputs(network, year) as (_, norms, inputs):
        c = compute_coverage(inputs, layer, norms)
        unserved = None
        if layer == "shelters":
            unserved = cov.shelter_assignment(inputs.graph, inputs.demand, inputs.shelters,
                                              norms=norms).demand["unserved"].to_numpy()
    villages, townships = cov.gap_tables(inputs.demand, c["covered"].to_numpy(), unserved)
    blobs = cov.uncovered_clusters(inputs.demand, c["covered"].to_numpy(), radius_m=radius_m)
    t = Table("township", "villages with a gap", "population", "uncovered", "under-served", "gap",
              title=f"gaps: {LAYERS[layer]} (ranked)", header_style="bold")
    for _, r in townships.head(15).iterrows():
        t.add_row(str(r["township"]), f"{int(r['villages_with_gap'])}/{int(r['villages'])}", f"{r['population']:,.0f}",
                  f"{r['uncovered']:,.0f}", f"{r['underserved']:,.0f}", f"{r['gap']:,.0f} ({r['gap_share']:.0%})")
    console.print(t)
    console.print(f"{len(blobs)} cluster(s) of uncovered people; largest: "
                  + (", ".join(f"{p:,.0f}" for p in blobs["population"].head(5)) or "none"))
    sheets = {"townships": townships}
    if layer == "shelters":
        check = cov.hazard_shelter_check(inputs.demand, c, inputs.hazard_zones, villages=inputs.villages)
        console.print(f"villages in high/medium hazard zones: {check.attrs.get('in_hazard', 0)}; "
                      f"without a usable shelter within its standard: {len(check)}")
        sheets["hazard_villages"] = check
    if out:
        with pd.ExcelWriter(out) as xw:
            villages.to_excel(xw, sheet_name="villages", index=False)
            for name, sheet in sheets.items():
                sheet.to_excel(xw, sheet_name=name, index=False)
        console.print(f"wrote {out}")
    if clusters:
        blobs.to_file(clusters)
        console.print(f"wrote {clusters}")
    if map_:
        from emgis.maps.coverage_map import write_coverage_map

        frame = _result_frame(inputs, c, layer)
        page = write_coverage_map(map_, frame, facilities_of(inputs, layer), clusters=blobs,
                                  kind_label=LAYERS[layer], title=f"覆盖缺口 Gaps: {LAYERS[layer]}")
        console.print(f"wrote {page}")


# --- siting ----------------------------------------------------------------------------------

MODELS = ("mclp", "lscp", "pmedian", "cmclp", "cpmedian")
DEFAULT_CLASS = {"shelters": "emergency", "depots": "county"}


def standard_seconds(layer: str, norms, site_class: str | None) -> float:
    """The standard new sites are held to: the norm of the kind (and class) from the norms table."""
    from emgis.shelters.coverage import KINDS

    kind = KINDS[layer]
    key = kind.norm if kind.class_col is None else f"{kind.norm}.{site_class or DEFAULT_CLASS[layer]}"
    return float(norms.number(key)) * kind.unit_s


def read_candidates(spec: str, engine, area_metric_epsg: int | None):
    """``grid:1000`` | ``osm:FILE`` | a layer FILE (points or polygons) → candidate points."""
    from emgis.layers.load.study_area import load_study_area
    from emgis.shelters.candidates import grid_candidates, osm_candidates

    area = load_study_area(engine)
    if spec.startswith("grid:"):
        if area is None:
            raise typer.BadParameter("grid candidates need a study area: run `emgis init` first")
        return grid_candidates(area.geom, float(spec[5:]), area.metric_epsg)
    if spec.startswith("osm:"):
        return osm_candidates(spec[4:], boundary=None if area is None else area.geom)
    gdf = gpd.read_file(spec).to_crs(4326)
    gdf = gdf.set_geometry(gdf.geometry.representative_point())
    gdf["ext_id"] = gdf.get("id", pd.Series([f"cand:{i}" for i in range(len(gdf))], index=gdf.index)).astype(str)
    gdf["name"] = gdf.get("name", gdf["ext_id"])
    gdf["kind"], gdf["kind_zh"] = "given", "指定"
    gdf["area_m2"] = pd.to_numeric(gdf.get("area_m2", np.nan), errors="coerce")
    return gdf[["ext_id", "name", "kind", "kind_zh", "area_m2", "geometry"]]


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

    @property
    def before(self) -> np.ndarray:
        return _covered(self.T, self.existing_idx, self.standard_s)

    @property
    def after(self) -> np.ndarray:
        return _covered(self.T, self.result.chosen, self.standard_s)

    def chosen(self) -> gpd.GeoDataFrame:
        """The new sites with the people each newly brings within the standard."""
        before = self.before
        out = self.sites.iloc[self.result.new].copy()
        out["covers_new_people"] = [float(self.w[_covered(self.T, [j], self.standard_s) & ~before].sum())
                                    for j in self.result.new]
        return out

    def write_map(self, path: Path, demand, *, kind_label: str, title: str, chosen=None) -> Path:
        """The before/after map: every demand point covered before and after, existing and new sites."""
        from emgis.maps.coverage_map import write_coverage_map

        frame = gpd.GeoDataFrame({"code": demand["code"].to_numpy(), "name": demand["name"].to_numpy(),
                                  "population": self.w, "covered": self.before, "covered_after": self.after},
                                 geometry=demand.geometry.to_numpy(), crs=4326)
        return write_coverage_map(path, frame, self.existing, new_sites=self.chosen() if chosen is None else chosen,
                                  kind_label=kind_label, standard=f"standard {self.standard_s / 60:g} min",
                                  title=title)


def run_siting(engine, inputs, norms, *, layer: str = "shelters", model: str = "mclp", add: int = 5,
               candidates: str = "grid:1000", site_class: str | None = None, capacity: float = 2000,
               time_limit: float = 60) -> SitingRun:
    """Choose new sites (the work of `emgis site`, also run by `emgis demo`).

    Raises ``typer.BadParameter`` when there is no candidate site.
    """
    from emgis.risk.store import read_points
    from emgis.shelters import siting
    from emgis.shelters.candidates import exclusions
    from emgis.shelters.coverage import KINDS, demand_facility_times

    std = standard_seconds(layer, norms, site_class)
    cand = read_candidates(candidates, engine, None)
    why = exclusions(cand, hazard_zones=inputs.hazard_zones, risk_points=read_points(engine), norms=norms)
    existing = facilities_of(inputs, layer)
    if cand.empty:
        raise typer.BadParameter(f"no candidate sites from {candidates}: give another source (grid:1000, osm:FILE, "
                                 "a layer)")
    ex = gpd.GeoDataFrame({"ext_id": existing["ext_id"].astype(str).to_numpy(), "name": existing["name"].to_numpy(),
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
    per = norms.number(f"shelter.m2_per_person.{site_class or 'emergency'}") if layer == "shelters" else None
    cap = np.full(len(sites), float(capacity))
    if per:
        cap = np.where(sites["area_m2"].notna(), sites["area_m2"].fillna(0) / per, cap)
    if layer == "shelters" and n_ex:
        known = existing["capacity"].to_numpy(dtype=float)
        cap[:n_ex] = np.where(np.isfinite(known), known, cap[:n_ex])
    kw = dict(existing=existing_idx, allowed=allowed, time_limit_s=time_limit)
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
    check = siting.check_solution(res, T, w, standard_s=std if model in ("mclp", "lscp", "cmclp") else None,
                                  p=None if model == "lscp" else add, existing=existing_idx, allowed=allowed,
                                  capacity=cap if model.startswith("c") else None,
                                  unserved_s=cutoff if model in ("pmedian", "cpmedian") else None)
    return SitingRun(res, check, T, w, std, ex, cand, why, sites, existing_idx)


@app.command("site")
def site_cmd(
    layer: LayerOpt = "shelters",
    model: Annotated[str, typer.Option(help="mclp | lscp | pmedian | cmclp (capacitated) | cpmedian")] = "mclp",
    add: Annotated[int, typer.Option(help="how many new sites (not for lscp)")] = 5,
    candidates: Annotated[str, typer.Option(help="grid:METRES | osm:EXTRACT | a layer file of candidate sites")] = "grid:1000",
    site_class: Annotated[str | None, typer.Option("--class", help="class of the new sites (shelter duration class, depot level)")] = None,
    capacity: Annotated[float, typer.Option(help="persons per new site when its area is unknown (capacitated models)")] = 2000,
    time_limit: Annotated[float, typer.Option(help="solver time limit, seconds")] = 60,
    out: Annotated[Path | None, typer.Option(help="the chosen new sites: .geojson, .gpkg, .csv, .xlsx")] = None,
    map_: Annotated[Path | None, typer.Option("--map", help="write the before/after map (HTML)")] = None,
    network: str = "default",
    year: int | None = None,
) -> None:
    """Choose new sites from candidates, keeping existing facilities; hazard zones and risk points excluded."""
    from emgis.shelters import siting
    from emgis.shelters.coverage import KINDS

    _check_layer(layer)
    if model not in MODELS:
        err.print(f"[red]--model {model!r} is not known[/]; use one of: {', '.join(MODELS)}")
        raise typer.Exit(2)
    with coverage_inputs(network, year) as (db, norms, inputs):
        try:
            sr = run_siting(db.engine, inputs, norms, layer=layer, model=model, add=add, candidates=candidates,
                            site_class=site_class, capacity=capacity, time_limit=time_limit)
        except typer.BadParameter as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
        except (siting.SolutionCheckError, siting.SolverError) as exc:
            # an answer that fails the independent check is an error, never a result
            err.print(f"[red]siting failed:[/] {exc}")
            raise typer.Exit(1) from None
    res, check, T, w, std = sr.result, sr.check, sr.T, sr.w, sr.standard_s
    ex, cand, why, existing_idx = sr.existing, sr.candidates, sr.why, sr.existing_idx
    n_ex = len(ex)
    before = _covered(T, existing_idx, std)
    after = _covered(T, res.chosen, std)
    pop = w.sum()
    t = Table("", "value", title=f"siting: {model} for {LAYERS[layer]}", header_style="bold")
    cls = "" if KINDS[layer].class_col is None else f" ({site_class or DEFAULT_CLASS[layer]}; existing sites held to it too)"
    t.add_row("standard", (f"{std / 60:g} min" if std < 3600 * 2 else f"{std / 3600:g} h") + cls)
    t.add_row("candidates (excluded)", f"{len(cand):,} ({int((why != '').sum()):,}: hazard zones, risk-point buffers)")
    t.add_row("existing kept", f"{n_ex}")
    t.add_row("new sites", f"{len(res.new)}")
    t.add_row("population within the standard", f"{w[before].sum():,.0f} ({w[before].sum() / pop:.1%}) → "
              f"{w[after].sum():,.0f} ({w[after].sum() / pop:.1%})")
    t.add_row("objective / bound / gap", f"{res.objective:,.1f} / {res.bound:,.1f} / {res.mip_gap:.3%} ({res.status})")
    t.add_row("model build + solve", f"{res.build_s:.2f} s + {res.solve_s:.2f} s")
    t.add_row("independent check", "ok" if check.ok else "; ".join(check.problems))
    console.print(t)
    if not check.ok:
        raise typer.Exit(1)
    chosen = sr.chosen()
    n = Table("site", "kind", "area m²", "newly covered", title="new sites")
    for _, r in chosen.sort_values("covers_new_people", ascending=False).iterrows():
        n.add_row(str(r["name"] or r["ext_id"]), str(r["kind_zh"]),
                  "—" if pd.isna(r["area_m2"]) else f"{r['area_m2']:,.0f}", f"{r['covers_new_people']:,.0f}")
    console.print(n)
    if out:
        _write(chosen, out)
    if map_:
        page = sr.write_map(map_, inputs.demand, kind_label=LAYERS[layer], chosen=chosen,
                            title=f"选址 Siting ({model}): {LAYERS[layer]}")
        console.print(f"wrote {page}")


def _covered(T, cols, standard_s: float) -> np.ndarray:
    """Demand points with one of ``cols`` within ``standard_s`` in the sparse matrix ``T``."""
    sub = T[:, np.asarray(cols, dtype=np.int64)].tocsr() if len(cols) else None
    if sub is None:
        return np.zeros(T.shape[0], dtype=bool)
    hit = sub.copy()
    hit.data = (hit.data <= standard_s).astype(np.int8)
    return np.asarray(hit.sum(axis=1)).ravel() > 0
