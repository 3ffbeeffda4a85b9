"""`emgis coverage | gaps | site`: who is within reach of shelters, depots, fire stations and
teams, and where new ones should go.

Registered on the command line by `emgis.api.cli`. The work is `emgis.shelters.service`
(coverage, siting) over the cores in shelters/coverage.py, capacity.py, gaps.py and
shelters/siting/; this module parses the options, prints the answer and writes the files.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import geopandas as gpd
import numpy as np
import pandas as pd
import typer
from rich.table import Table

from emgis.api.cli.base import (
    LangOpt,
    _check_lang,
    _command,
    _norms,
    _report_input_error,
    _settings,
    app,
    console,
    err,
)
from emgis.layers.problems import InputError, MissingData
from emgis.layers.text import spreadsheet_safe
from emgis.shelters.coverage import KINDS
from emgis.shelters.service import (
    DEFAULT_CLASS,
    LAYERS,
    MODELS,
    SitingRequest,
    TeamSelection,
    compute_coverage,
    compute_gaps,
    coverage_table,
    facilities_of,
    run_siting,
    standards_note,
    team_selection,
)
from emgis.shelters.siting.matrix import covered as covered_by_sites

LayerOpt = Annotated[str, typer.Option("--layer", help=" | ".join(KINDS))]
TypeOpt = Annotated[str | None, typer.Option(
    "--type", help="teams only (--layer teams | team_bases | fire): a team type (water_rescue, "
                   "hazchem … or 水域救援, 危化 …)")]
SpecialityOpt = Annotated[str | None, typer.Option(
    "--speciality", help="teams only: a speciality the team must have")]


def _text(v) -> str:
    """A cell as people read it: '—' for a missing value, never 'nan'/'None'."""
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA \
        or str(v).strip() in ("", "nan", "None", "<NA>") else str(v)


def _check_layer(layer: str) -> None:
    if layer not in KINDS:
        err.print(f"[red]--layer {layer!r} is not known[/]; use one of: {', '.join(KINDS)}")
        raise typer.Exit(2)


def _selection(layer: str, team_type: str | None,
               speciality: str | None) -> tuple[str, TeamSelection]:
    """The kind and the teams asked for (`shelters.service.team_selection`); exit 2 naming the
    known layers or team types on a wrong one."""
    from emgis.layers.problems import BadArgument

    try:
        return team_selection(layer, team_type, speciality)
    except BadArgument as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _title(layer: str, team: TeamSelection) -> str:
    return LAYERS[layer] + (f" ({team.label()})" if team else "")


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
            inputs = load_coverage_inputs(db.engine, network=network, home=dbs.home, year=year,
                                          norms=norms)
            yield db, norms, inputs
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    except (RoadNetworkNotFound, MissingData) as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None


def _write(frame: gpd.GeoDataFrame, path: Path, workbook) -> None:
    """``.xlsx``: ``workbook(path)`` (a `shelters.workbooks` writer); ``.csv``: the table with
    its machine keys and lon/lat; anything else: a vector layer."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        workbook(path)
    elif suffix == ".csv":
        plain = pd.DataFrame(frame.drop(columns="geometry"))
        plain["lon"], plain["lat"] = frame.geometry.x, frame.geometry.y
        spreadsheet_safe(plain).to_csv(path, index=False, encoding="utf-8-sig")
    else:
        frame.to_file(path)
    console.print(f"wrote {path}")


@app.command("coverage")
def coverage_cmd(
    ctx: typer.Context,
    layer: LayerOpt = "shelters",
    out: Annotated[Path | None, typer.Option(
        help="villages with their nearest facility: .xlsx (headers in --lang, minutes, a "
             "notes sheet), .csv (machine keys, as .geojson/.gpkg)")] = None,
    map_: Annotated[Path | None, typer.Option(
        "--map", help="write the offline coverage map (HTML)")] = None,
    network: Annotated[str, typer.Option(help="road network")] = "default",
    year: Annotated[int | None, typer.Option(help="census year (default: the latest)")] = None,
    team_type: TypeOpt = None,
    speciality: SpecialityOpt = None,
    lang: LangOpt = "zh",
) -> None:
    ("Travel time from every village to the nearest facility of LAYER, checked against its "
     "standard (teams of one type or speciality with --type / --speciality).")
    from emgis.shelters.workbooks import analysis_notes, coverage_workbook

    layer, team = _selection(layer, team_type, speciality)
    lang = _check_lang(lang)
    with coverage_inputs(network, year) as (db, norms, inputs):
        c = compute_coverage(inputs, layer, norms, team)
        assignment = compute_gaps(inputs, c, layer, norms).assignment
        notes = analysis_notes(db.engine, _command(ctx), inputs, layer, norms, network=network,
                               facilities=len(facilities_of(inputs, layer, team)),
                               team_label=team.label() if team else "")
    frame = coverage_table(inputs, c, layer, team)
    pop = frame["population"].astype(float)
    covered = pop[frame["covered"]].sum()
    t = Table("", "value", title=f"coverage: {_title(layer, team)}", header_style="bold")
    t.add_row("facilities counted", f"{len(facilities_of(inputs, layer, team)):,}")
    std = sorted({float(v) for v in frame["standard_min"] if np.isfinite(v)})
    if std:
        t.add_row("standard", " / ".join(f"{v:g} min" for v in std))
    t.add_row("villages", f"{len(frame):,}")
    t.add_row("population", f"{pop.sum():,.0f}")
    t.add_row("within the standard", f"{covered:,.0f} ({covered / max(pop.sum(), 1):.1%})")
    times = c["time_s"].to_numpy()
    finite = times[np.isfinite(times)]
    if finite.size:
        t.add_row("travel time median / 90% / max",
                  " / ".join(f"{v / 60:.1f} min" for v in np.percentile(finite, [50, 90, 100])))
    t.add_row("villages out of reach", f"{int((~frame['covered']).sum()):,}")
    if assignment is not None:
        a = assignment
        over = a.shelters[a.shelters["overload"] > 0]
        unknown_shelters = int((~a.shelters["capacity_known"]).sum())
        t.add_row("sheltered within capacity", f"{a.served:,.0f} (unserved {a.unserved:,.0f})")
        if unknown_shelters:
            t.add_row("covered, capacity unknown",
                      f"{a.capacity_unknown:,.0f} ({unknown_shelters} of {len(a.shelters)} "
                      "shelters have no capacity: give capacity or effective_area_m2)")
        t.add_row("shelters nearest-assignment would overload", f"{len(over)}")
        frame["sheltered"] = np.round(a.demand["assigned"].to_numpy(), 0)
        frame["capacity_unknown"] = np.round(a.demand["capacity_unknown"].to_numpy(), 0)
        frame["unserved"] = np.round(a.demand["unserved"].to_numpy(), 0)
    console.print(t)
    worst = frame[~frame["covered"]].sort_values("population", ascending=False).head(10)
    if len(worst):
        w = Table("code", "village", "population", "nearest", "time", "standard",
                  title="largest villages out of reach")
        for _, r in worst.iterrows():
            w.add_row(str(r["code"]), _text(r["name"]), f"{r['population']:,.0f}",
                      _text(r["facility"]),
                      "—" if r["time_min"] is None else f"{r['time_min']:.1f} min",
                      f"{r['standard_min']:.0f} min")
        console.print(w)
    explain = standards_note(layer, norms)
    for note in [*inputs.notes, *([explain] if explain else [])]:
        console.print(f"  note: {note}")
    if out:
        _write(frame, out, lambda p: coverage_workbook(p, frame, inputs, layer, notes, lang=lang,
                                                       assignment=assignment))
    if map_:
        from emgis.maps.coverage_map import write_coverage_map

        page = write_coverage_map(map_, frame.assign(time_s=c["time_s"].to_numpy()),
                                  facilities_of(inputs, layer, team),
                                  kind_label=_title(layer, team), explain=explain,
                                  title=f"覆盖分析 Coverage: {_title(layer, team)}")
        console.print(f"wrote {page}")


@app.command("gaps")
def gaps_cmd(
    ctx: typer.Context,
    layer: LayerOpt = "shelters",
    out: Annotated[Path | None, typer.Option(
        help="ranked gap tables (.xlsx: villages, townships, placement, hazard check, notes; "
             "headers in --lang)")] = None,
    clusters: Annotated[Path | None, typer.Option(
        help="polygons of clusters of uncovered people (.geojson/.gpkg)")] = None,
    radius_m: Annotated[float, typer.Option(
        help="uncovered villages closer than twice this form one cluster")] = 1500.0,
    map_: Annotated[Path | None, typer.Option(
        "--map", help="write the offline gap map (HTML)")] = None,
    network: str = "default",
    year: int | None = None,
    team_type: TypeOpt = None,
    speciality: SpecialityOpt = None,
    lang: LangOpt = "zh",
) -> None:
    ("Uncovered and under-served people per village and township, their clusters, and "
     "hazard-zone villages (teams of one type or speciality with --type / --speciality).")
    from emgis.shelters.gaps import hazard_shelter_check, uncovered_clusters
    from emgis.shelters.workbooks import analysis_notes, gaps_workbook

    layer, team = _selection(layer, team_type, speciality)
    lang = _check_lang(lang)
    if out is not None and out.suffix.lower() != ".xlsx":
        err.print(f"[red]{out.name}[/]: gap tables are written as .xlsx (one sheet per table)")
        raise typer.Exit(2)
    with coverage_inputs(network, year) as (db, norms, inputs):
        c = compute_coverage(inputs, layer, norms, team)
        g = compute_gaps(inputs, c, layer, norms)
        notes = analysis_notes(db.engine, _command(ctx), inputs, layer, norms, network=network,
                               facilities=len(facilities_of(inputs, layer, team)),
                               team_label=team.label() if team else "")
    villages, townships = g.villages, g.townships
    blobs = uncovered_clusters(inputs.demand, c["covered"].to_numpy(), radius_m=radius_m)
    t = Table("township", "villages with a gap", "population", "uncovered", "under-served", "gap",
              title=f"gaps: {_title(layer, team)} (ranked)", header_style="bold")
    for _, r in townships.head(15).iterrows():
        label = (f"{r['township_name']} ({r['township']})" if pd.notna(r["township_name"])
                 else str(r["township"]))
        t.add_row(label, f"{int(r['villages_with_gap'])}/{int(r['villages'])}",
                  f"{r['population']:,.0f}", f"{r['uncovered']:,.0f}", f"{r['underserved']:,.0f}",
                  f"{r['gap']:,.0f} ({r['gap_share']:.0%})")
    console.print(t)
    unknown = villages[villages["capacity_unknown"] > 0].sort_values(
        ["capacity_unknown", "code"], ascending=[False, True], kind="stable")
    if len(unknown):
        console.print(f"{unknown['capacity_unknown'].sum():,.0f} people in {len(unknown):,} "
                      "village(s) are within reach only of shelters of unknown capacity (not "
                      "counted as a gap, nor as sheltered); largest: "
                      + ", ".join(f"{r['name'] or r['code']} {r['capacity_unknown']:,.0f}"
                                  for _, r in unknown.head(5).iterrows()))
    console.print(f"{len(blobs)} cluster(s) of uncovered people; largest: "
                  + (", ".join(f"{p:,.0f}" for p in blobs["population"].head(5)) or "none"))
    check = None
    if layer == "shelters":
        check = hazard_shelter_check(inputs.demand, c, inputs.hazard_zones,
                                     villages=inputs.villages)
        console.print(f"villages in high/medium hazard zones: {check.attrs.get('in_hazard', 0)}; "
                      f"without a usable shelter within its standard: {len(check)}")
    if out:
        fac = facilities_of(inputs, layer, team)
        gaps_workbook(out, villages, townships, inputs, notes, lang=lang, hazard=check,
                      facility_names=dict(zip(fac["id"], fac["name"].fillna(fac["ext_id"]),
                                              strict=True)))
        console.print(f"wrote {out}")
    if clusters:
        blobs.to_file(clusters)
        console.print(f"wrote {clusters}")
    if map_:
        from emgis.maps.coverage_map import write_coverage_map

        frame = coverage_table(inputs, c, layer, team)
        page = write_coverage_map(map_, frame, facilities_of(inputs, layer, team), clusters=blobs,
                                  kind_label=_title(layer, team),
                                  title=f"覆盖缺口 Gaps: {_title(layer, team)}")
        console.print(f"wrote {page}")


# --- siting ----------------------------------------------------------------------------------

def _save(chosen: gpd.GeoDataFrame, layer: str, model: str, site_class: str | None) -> None:
    from emgis.layers.db import open_database
    from emgis.shelters.sited import save_sites

    dbs, ls = _settings()
    cls = site_class or DEFAULT_CLASS.get(layer) or ("class2" if layer == "fire" else "")
    with open_database() as db:
        try:
            res = save_sites(db.engine, chosen, layer, model, cls, _norms(db.engine), dbs.home,
                             actor=ls.actor)
        except InputError as exc:
            _report_input_error(exc, "nothing was saved")
            raise typer.Exit(2) from None
    console.print(f"[green]saved[/] {res.rows} proposed {LAYERS[layer]} (ext_id SITED-…, load "
                  f"#{res.load_id}); analyses now count them and say so")


@app.command("site")
def site_cmd(
    ctx: typer.Context,
    layer: LayerOpt = "shelters",
    model: Annotated[str, typer.Option(
        help="mclp | lscp | pmedian | cmclp (capacitated) | cpmedian")] = "mclp",
    add: Annotated[int, typer.Option(help="how many new sites (not for lscp)")] = 5,
    candidates: Annotated[str, typer.Option(
        help="grid:METRES | osm:EXTRACT | a layer file of candidate sites")] = "grid:1000",
    site_class: Annotated[str | None, typer.Option(
        "--class",
        help="class of the new sites (shelter duration class, depot level)")] = None,
    capacity: Annotated[float, typer.Option(
        help="persons per new site when its area is unknown (capacitated models)")] = 2000,
    time_limit: Annotated[float, typer.Option(help="solver time limit, seconds")] = 60,
    out: Annotated[Path | None, typer.Option(
        help="the chosen new sites: .geojson, .gpkg, .csv (machine keys), .xlsx (headers in "
             "--lang, a notes sheet)")] = None,
    map_: Annotated[Path | None, typer.Option(
        "--map", help="write the before/after map (HTML)")] = None,
    save: Annotated[bool, typer.Option(
        "--save", help="store the new sites as facilities (a starter set for a county with "
                       "none registered; marked SITED-, 拟建)")] = False,
    network: str = "default",
    year: int | None = None,
    lang: LangOpt = "zh",
) -> None:
    ("Choose new sites from candidates, keeping existing facilities; hazard zones and risk "
     "points excluded.")
    from emgis.shelters import siting
    from emgis.shelters.workbooks import analysis_notes, site_workbook

    _check_layer(layer)
    lang = _check_lang(lang)
    if model not in MODELS:
        err.print(f"[red]--model {model!r} is not known[/]; use one of: {', '.join(MODELS)}")
        raise typer.Exit(2)
    with coverage_inputs(network, year) as (db, norms, inputs):
        try:
            sr = run_siting(db.engine, inputs, norms, SitingRequest(
                layer=layer, model=model, add=add, candidates=candidates, site_class=site_class,
                capacity=capacity, time_limit=time_limit))
        except MissingData as exc:
            err.print(f"[red]{exc}[/]")
            raise typer.Exit(2) from None
        except (siting.SolutionCheckError, siting.SolverError) as exc:
            # an answer that fails the independent check is an error, never a result
            err.print(f"[red]siting failed:[/] {exc}")
            raise typer.Exit(1) from None
        notes = analysis_notes(db.engine, _command(ctx), inputs, layer, norms, network=network,
                               facilities=len(sr.existing))
        notes.add("inputs", "候选点（排除）", "candidates (excluded)",
                  f"{len(sr.candidates):,} ({int((sr.why != '').sum()):,})")
        notes.add("inputs", "模型", "model", model)
    res, check, T, w, std = sr.result, sr.check, sr.T, sr.w, sr.standard_s
    ex, cand, why, existing_idx = sr.existing, sr.candidates, sr.why, sr.existing_idx
    n_ex = len(ex)
    before = covered_by_sites(T, existing_idx, std)
    after = covered_by_sites(T, res.chosen, std)
    pop = w.sum()
    t = Table("", "value", title=f"siting: {model} for {LAYERS[layer]}", header_style="bold")
    cls = ("" if KINDS[layer].class_col is None
           else f" ({site_class or DEFAULT_CLASS[layer]}; existing sites held to it too)")
    t.add_row("standard", (f"{std / 60:g} min" if std < 3600 * 2 else f"{std / 3600:g} h") + cls)
    t.add_row("candidates (excluded)",
              f"{len(cand):,} ({int((why != '').sum()):,}: hazard zones, risk-point buffers)")
    t.add_row("existing kept", f"{n_ex}")
    t.add_row("new sites", f"{len(res.new)}")
    t.add_row("population within the standard",
              f"{w[before].sum():,.0f} ({w[before].sum() / pop:.1%}) → "
              f"{w[after].sum():,.0f} ({w[after].sum() / pop:.1%})")
    if sr.own_class is not None:
        t.add_row("… by each site's own class (as `emgis coverage` counts)",
                  f"{w[sr.own_class].sum():,.0f} ({w[sr.own_class].sum() / pop:.1%}) before")
    t.add_row("objective / bound / gap",
              f"{res.objective:,.1f} / {res.bound:,.1f} / {res.mip_gap:.3%} ({res.status})")
    t.add_row("model build + solve", f"{res.build_s:.2f} s + {res.solve_s:.2f} s")
    t.add_row("independent check", "ok" if check.ok else "; ".join(check.problems))
    console.print(t)
    if sr.note:
        console.print(f"  note: {sr.note}")
    if not check.ok:
        raise typer.Exit(1)
    chosen = sr.chosen()
    n = Table("site", "kind", "area m²", "newly covered", title="new sites")
    for _, r in chosen.sort_values("covers_new_people", ascending=False).iterrows():
        n.add_row(str(r["name"]), str(r["kind_zh"]),
                  "—" if pd.isna(r["area_m2"]) else f"{r['area_m2']:,.0f}",
                  f"{r['covers_new_people']:,.0f}")
    console.print(n)
    if out:
        _write(chosen, out, lambda p: site_workbook(p, chosen, inputs, notes, lang=lang))
    if save and len(chosen):
        _save(chosen, layer, model, site_class)
    if map_:
        from emgis.maps.coverage_map import write_siting_map

        page = write_siting_map(sr, map_, inputs.demand, kind_label=LAYERS[layer], chosen=chosen,
                            title=f"选址 Siting ({model}): {LAYERS[layer]}")
        console.print(f"wrote {page}")


