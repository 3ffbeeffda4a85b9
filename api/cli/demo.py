"""`emgis demo`: the synthetic demo county, loaded through the loaders a user would use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.table import Table

from emgis.api.cli.base import _report_input_error, _settings, app, console
from emgis.layers.db import open_database
from emgis.layers.load.study_area import read_boundary, save_study_area
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.layers.problems import InputError

# (layer, file attribute of DemoFiles, --crs as a clerk would pass it; None = the file says)
DEMO_LOADS = [
    ("admin_units", "admin_units", None),
    ("hazard_zones", "hazard_zones", None),
    ("shelters", "shelters", "gcj02"),        # geocoded with Amap: GCJ-02 in a plain CSV
    ("depots", "depots", None),               # Shapefile, GBK text, CGCS2000 geographic
    ("depot_stock", "depot_stock", None),
    ("team_bases", "team_bases", None),       # GeoPackage in a CGCS2000 3° Gauss-Kruger zone
    ("risk_points", "risk_points", None),
    ("hazards", "hazards", None),
    ("experts", "experts", None),             # layers/demo/readiness.py: CSV, Chinese headers
    ("team_equipment", "team_equipment", None),
]


def run_demo(out: Path, *, seed: int, console: Console, actor: str = "demo", serve: bool = True,
             host: str | None = None, port: int | None = None) -> dict[str, int]:
    """Write the demo files to ``out``, load them into a fresh demo database, run the analyses
    and (with ``serve``) start the API and its map pages until Ctrl-C."""
    from emgis.layers.demo.county import write_demo_county
    from emgis.layers.settings import DatabaseSettings

    files = write_demo_county(Path(out), seed=seed)
    console.print(f"[bold]{files.county_name}[/] — synthetic data (seed {seed}), files in {out}")
    home = DatabaseSettings().home
    with open_database() as db:
        counts = load_demo(db, files, console=console, actor=actor, home=home)
        counts.update(analyse_demo(db, files, console=console, actor=actor))
        counts.update(plan_demo(db, home, console=console, actor=actor))
        _summary(db, console)
        if serve:
            _serve(db, console, host=host, port=port)
    console.print("The database server was stopped; `emgis db start` keeps it running for "
                  "exploring.")
    return counts


def _serve(db, console: Console, *, host: str | None, port: int | None) -> None:
    import uvicorn

    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    api = ApiSettings()
    host = host or api.host
    port = port or api.port
    app = create_app(api, engine=db.engine, db_settings=DatabaseSettings())
    console.print(f"\n[bold green]emgis is serving the demo county[/]: "
                  f"open [bold]http://{host}:{port}/maps/live[/] "
                  f"(all pages: http://{host}:{port}/maps, API: http://{host}:{port}/docs). "
                  f"Ctrl-C stops it.")
    uvicorn.run(app, host=host, port=port, log_level="warning")


#: The demo's incidents: a reported fire at a village, and a flood over a township's low ground.
DEMO_INCIDENTS = (
    ("DEMO-FIRE-1", "村庄火情 Village fire", "fire", "III", "reported", "point", 3),
    ("DEMO-FLOOD-1", "内涝 Flooding", "flood", "II", "responding", "area", 17),
)


def plan_demo(db, home: Path, *, console: Console, actor: str = "demo") -> dict[str, int]:
    """Incidents, coverage and gaps of shelters and fire stations, and three new shelters sited by
    MCLP; the pages go to ``EMGIS_HOME/maps`` (served at ``/maps/saved``)."""

    from emgis.api.cli.base import _norms
    from emgis.maps.coverage_map import write_coverage_map, write_siting_map
    from emgis.shelters.coverage import KINDS
    from emgis.shelters.gaps import uncovered_clusters
    from emgis.shelters.service import (
        SitingRequest,
        compute_coverage,
        coverage_table,
        facilities_of,
        run_siting,
        standards_note,
    )
    from emgis.shelters.store import load_coverage_inputs

    with db.engine.begin() as c:
        c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
        for ext, title, kind, level, status, shape, nth in DEMO_INCIDENTS:
            geom = "ST_PointOnSurface(geom)" if shape == "point" else \
                "ST_Intersection(geom, ST_Buffer(ST_PointOnSurface(geom)::geography, 900)" \
                "::geometry)"
            c.execute(sa.text(
                f"INSERT INTO incidents (ext_id, title, incident_type, level, status, geom) "
                f"SELECT :e, :t, :k, :l, :s, "
                f"ST_Multi({geom}) FROM admin_units WHERE level = 'village' AND geom IS NOT NULL "
                "ORDER BY code OFFSET :n LIMIT 1") if shape == "area" else sa.text(
                f"INSERT INTO incidents (ext_id, title, incident_type, level, status, geom) "
                f"SELECT :e, :t, :k, :l, :s, "
                f"{geom} FROM admin_units WHERE level = 'village' AND geom IS NOT NULL "
                f"ORDER BY code OFFSET :n LIMIT 1"),
                {"e": ext, "t": title, "k": kind, "l": level, "s": status, "n": nth})
    console.print(f"  incidents: {len(DEMO_INCIDENTS)} (a village fire, a flooded area)")
    norms = _norms(db.engine)
    inputs = load_coverage_inputs(db.engine, network="default", home=home, norms=norms)
    out = Path(home) / "maps"
    d = inputs.demand
    pages = 0
    for layer, label in ((k, KINDS[k].label) for k in ("shelters", "fire")):
        cov = compute_coverage(inputs, layer, norms)
        covered = cov["covered"].to_numpy()
        # as `emgis coverage --map`
        frame = coverage_table(inputs, cov, layer).assign(time_s=cov["time_s"].to_numpy())
        pop = float(frame["population"].sum())
        share = float(frame.loc[covered, "population"].sum()) / pop if pop else float("nan")
        write_coverage_map(out / f"coverage_{layer}.html", frame, facilities_of(inputs, layer),
                           clusters=uncovered_clusters(d, covered), kind_label=label,
                           explain=standards_note(layer, norms),
                           title=f"覆盖与缺口 Coverage and gaps: {label}")
        console.print(f"  coverage of {label}: {share:.1%} of {pop:,.0f} people "
                      f"within the standard")
        pages += 1
    sr = run_siting(db.engine, inputs, norms, SitingRequest(layer="shelters", model="mclp", add=3,
                                                            candidates="grid:1000", time_limit=60))
    if not sr.check.ok:
        raise RuntimeError(f"demo siting failed its independent check: {sr.check.problems}")
    w = sr.w
    before, after = sr.before, sr.after
    write_siting_map(sr, out / "siting_shelters.html", d, kind_label=KINDS["shelters"].label,
                 title="选址 Siting (MCLP, 3 new shelters)")
    console.print(f"  siting (MCLP, 3 new shelters on a 1 km grid): "
                  f"{w[before].sum():,.0f} → {w[after].sum():,.0f} "
                  f"people within the standard ({sr.result.status}, "
                  f"gap {sr.result.mip_gap:.2%}); "
                  f"maps in {out}")
    if sr.own_class is not None:
        console.print(f"  (siting holds every shelter to the emergency standard: "
                      f"{w[before].sum():,.0f} before; coverage holds each to its own class's: "
                      f"{w[sr.own_class].sum():,.0f} — see the note on the maps)")
    return {"incidents": len(DEMO_INCIDENTS), "map pages": pages + 1}


def load_demo(db, files, *, console: Console, actor: str = "demo",
              home: Path | None = None) -> dict[str, int]:
    """Load the written demo files into ``db`` (emptied first) through the ordinary loaders.

    With ``home`` (emgis's directory) the road layer is built into the routing network too.
    """
    counts: dict[str, int] = {}
    with db.engine.begin() as c:  # the demo owns its database: start from a clean slate
        tables = ", ".join(["population", "code_list", "hazard_events", "hazards", "risk_areas",
                            "risk_points", "hazard_zones", "depot_stock", "depots", "team_bases",
                            "shelters", "incidents", "admin_units", "study_area", "audit_log",
                            "loads", "experts", "team_equipment"])
        c.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    area = read_boundary(files.county, county_code=files.county_code)
    save_study_area(db.engine, area, boundary_file=str(files.county), actor=actor)
    console.print(f"study area {area.name}: {area.area_km2:,.0f} km², "
                  f"metric CRS EPSG:{area.metric_epsg}")
    for layer, attr, crs in DEMO_LOADS:
        path = getattr(files, attr)
        res = load_layer(db.engine, layer, path, LoadOptions(crs=crs), actor=actor)
        counts[layer] = res.rows
        console.print(f"  loaded {res.rows:>4} {layer:<12} from {Path(path).name} "
                      f"({res.source_crs or 'no geometry'})")
    counts.update(_load_census(db, files, console, actor))
    counts.update(_load_plans(db, files, console, actor))
    if home is not None:
        counts.update(_load_roads(db, files, console, home))
    return counts


def _load_plans(db, files, console: Console, actor: str) -> dict[str, int]:
    from emgis.api.cli.plans import load_demo_plans
    from emgis.layers.demo.plans import SAMPLE

    out = load_demo_plans(db.engine, Path(files.out_dir), actor=actor)
    console.print(f"  loaded {out['plans']:>4} plans ({out['plan tasks']} tasks) from {SAMPLE}, "
                  f"{out['drills']} drills with {out['drill findings']} findings")
    return out


def _load_roads(db, files, console: Console, home: Path) -> dict[str, int]:
    import geopandas as gpd

    from emgis.geo.network import graph_from_lines
    from emgis.geo.store import save_network

    lines = gpd.read_file(files.roads)
    graph = graph_from_lines(lines, class_field="highway", speed_field="maxspeed",
                             oneway_field="oneway", source=Path(files.roads).name)
    save_network(db.engine, graph, name="default", source_file=files.roads, home=home)
    console.print(f"  loaded {graph.n_edges:>5} road edges ({graph.n_nodes:,} nodes, "
                  f"{graph.report.components} components) from {Path(files.roads).name}")
    return {"road edges": graph.n_edges}


def analyse_demo(db, files, *, console: Console, actor: str = "demo") -> dict[str, int]:
    """Colour the four-colour map (villages and a 1 km grid) and write it beside the demo files."""
    from emgis.maps.risk_map import write_risk_map
    from emgis.risk.store import compute_areas, read_areas, read_points

    villages = compute_areas(db.engine, kind="admin", level="village", actor=actor)
    grid = compute_areas(db.engine, kind="grid", cell_m=1000, actor=actor)
    areas = read_areas(db.engine, "admin")
    page = write_risk_map(Path(files.out_dir) / "risk_map.html", areas, read_points(db.engine))
    console.print(f"  four-colour map: {len(villages)} villages and {len(grid)} grid cells "
                  f"of 1 km coloured (rule: highest level); map written to {page}")
    return {"risk areas (villages)": len(villages), "risk areas (grid)": len(grid)}


def _load_census(db, files, console: Console, actor: str) -> dict[str, int]:
    from emgis.layers.load.census.write import load_census, load_codes

    out = {}
    for vintage, path in ((2020, files.codes_2020), (2023, files.codes_2023)):
        out[f"codes {vintage}"] = load_codes(db.engine, path, vintage=vintage, actor=actor).rows
    for year, path in ((2020, files.census_2020), (2023, files.census_2023)):
        res = load_census(db.engine, path, year=year, actor=actor)
        out[f"census {year}"] = res.rows
        console.print(f"  loaded {res.rows:>4} census rows for {year} from {Path(path).name} "
                      f"(total {res.total:,})")
    return out


def _summary(db, console: Console) -> None:
    t = Table("what", "count", title="demo county")
    queries = {
        "villages": "SELECT count(*) FROM admin_units WHERE level = 'village'",
        "population (latest year)": "SELECT coalesce(sum(population), 0) FROM population "
                                    "WHERE year = :year",
        "shelters (capacity)": "SELECT count(*) || ' (' || coalesce(sum(capacity), 0) || "
                               "' persons)' FROM shelters",
        "depots": "SELECT count(*) FROM depots",
        "team bases (personnel)": "SELECT count(*) || ' (' || coalesce(sum(personnel), 0) || ')' "
                                  "FROM team_bases",
        "risk points red/orange/yellow/blue": "SELECT string_agg(n::text, '/' ORDER BY o) "
                                              "FROM (SELECT CASE level WHEN 'red' THEN 1 "
                                              "WHEN 'orange' THEN 2 WHEN 'yellow' THEN 3 "
                                              "ELSE 4 END o, count(*) n "
                                              "FROM risk_points GROUP BY 1) s",
        "open hazards (overdue)": "SELECT count(*) FILTER (WHERE state <> 'closed') || ' (' || "
                                  "count(*) FILTER (WHERE state <> 'closed' "
                                  "AND deadline < current_date) || ')' FROM hazards",
        "road network (nodes / edges)": "SELECT coalesce(max(nodes), 0) || ' / ' || "
                                        "coalesce(max(edges), 0) FROM road_networks",
        "villages red/orange/yellow/blue/none": "SELECT string_agg(n::text, '/' ORDER BY o) "
                                                "FROM (SELECT CASE level WHEN 'red' THEN 1 "
                                                "WHEN 'orange' THEN 2 WHEN 'yellow' THEN 3 "
                                                "WHEN 'blue' THEN 4 ELSE 5 END o, count(*) n "
                                                "FROM risk_areas WHERE unit_kind = 'admin' "
                                                "GROUP BY 1) s",
    }
    from emgis.layers.db import latest_census_year

    with db.engine.connect() as c:
        year = {"year": latest_census_year(c)}
        for label, q in queries.items():
            t.add_row(label, str(c.execute(sa.text(q), year if ":year" in q else {}).scalar()))
    console.print(t)


@app.command("demo")
def demo(
    out: Annotated[Path | None, typer.Option(
        help="where to write the demo files (default EMGIS_HOME/demo)")] = None,
    seed: int = 20250801,
    serve: Annotated[bool, typer.Option(
        help="start the API and map pages afterwards (Ctrl-C stops it)")] = True,
    host: Annotated[str | None, typer.Option(
        help="address to serve on (default EMGIS_API_HOST or 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default EMGIS_API_PORT or 8000)")] = None,
) -> None:
    ("The whole demo: the synthetic county loaded through the ordinary loaders, analyses run, "
     "map pages served.")
    dbs, ls = _settings()
    out = out or dbs.home / "demo"
    try:
        run_demo(out, seed=seed, console=console, actor=ls.actor, serve=serve, host=host, port=port)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None


