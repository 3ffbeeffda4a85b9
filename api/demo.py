"""`emgis demo`: the synthetic demo county, loaded through the loaders a user would use."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from layers.db import open_database
from layers.loaders import load_layer
from layers.study_area import read_boundary, save_study_area

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
]


def run_demo(out: Path, *, seed: int, console: Console, actor: str = "demo") -> dict[str, int]:
    """Write the demo files to ``out`` and load them into a fresh demo database."""
    from layers.demo import write_demo_county

    files = write_demo_county(Path(out), seed=seed)
    console.print(f"[bold]{files.county_name}[/] — synthetic data (seed {seed}), files in {out}")
    from layers.settings import DatabaseSettings

    with open_database() as db:
        counts = load_demo(db, files, console=console, actor=actor, home=DatabaseSettings().home)
        counts.update(analyse_demo(db, files, console=console, actor=actor))
        _summary(db, console)
    console.print("The database server was stopped; `emgis db start` keeps it running for exploring.")
    return counts


def load_demo(db, files, *, console: Console, actor: str = "demo", home: Path | None = None) -> dict[str, int]:
    """Load the written demo files into ``db`` (emptied first) through the ordinary loaders.

    With ``home`` (emgis's directory) the road layer is built into the routing network too.
    """
    counts: dict[str, int] = {}
    with db.engine.begin() as c:  # the demo owns its database: start from a clean slate
        tables = ", ".join(["population", "code_list", "hazard_events", "hazards", "risk_areas", "risk_points",
                            "hazard_zones", "depot_stock", "depots", "team_bases", "shelters", "incidents",
                            "admin_units", "study_area", "audit_log", "loads"])
        c.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    area = read_boundary(files.county, county_code=files.county_code)
    save_study_area(db.engine, area, boundary_file=str(files.county), actor=actor)
    console.print(f"study area {area.name}: {area.area_km2:,.0f} km², metric CRS EPSG:{area.metric_epsg}")
    for layer, attr, crs in DEMO_LOADS:
        path = getattr(files, attr)
        res = load_layer(db.engine, layer, path, crs=crs, actor=actor)
        counts[layer] = res.rows
        console.print(f"  loaded {res.rows:>4} {layer:<12} from {Path(path).name} ({res.source_crs or 'no geometry'})")
    counts.update(_load_census(db, files, console, actor))
    if home is not None:
        counts.update(_load_roads(db, files, console, home))
    return counts


def _load_roads(db, files, console: Console, home: Path) -> dict[str, int]:
    import geopandas as gpd

    from geo.network import graph_from_lines
    from geo.store import save_network

    lines = gpd.read_file(files.roads)
    graph = graph_from_lines(lines, class_field="highway", speed_field="maxspeed", oneway_field="oneway",
                             source=Path(files.roads).name)
    save_network(db.engine, graph, name="default", source_file=files.roads, home=home)
    console.print(f"  loaded {graph.n_edges:>5} road edges ({graph.n_nodes:,} nodes, "
                  f"{graph.report.components} components) from {Path(files.roads).name}")
    return {"road edges": graph.n_edges}


def analyse_demo(db, files, *, console: Console, actor: str = "demo") -> dict[str, int]:
    """Colour the four-colour map (villages and a 1 km grid) and write it beside the demo files."""
    from maps.risk_map import write_risk_map
    from risk.store import compute_areas, read_areas, read_points

    villages = compute_areas(db.engine, kind="admin", level="village", actor=actor)
    grid = compute_areas(db.engine, kind="grid", cell_m=1000, actor=actor)
    areas = read_areas(db.engine, "admin")
    page = write_risk_map(Path(files.out_dir) / "risk_map.html", areas, read_points(db.engine))
    console.print(f"  four-colour map: {len(villages)} villages and {len(grid)} grid cells of 1 km coloured "
                  f"(rule: highest level); map written to {page}")
    return {"risk areas (villages)": len(villages), "risk areas (grid)": len(grid)}


def _load_census(db, files, console: Console, actor: str) -> dict[str, int]:
    from layers.census_load import load_census, load_codes

    out = {}
    for vintage, path in ((2020, files.codes_2020), (2023, files.codes_2023)):
        out[f"codes {vintage}"] = load_codes(db.engine, path, vintage=vintage, actor=actor).rows
    for year, path in ((2020, files.census_2020), (2023, files.census_2023)):
        res = load_census(db.engine, path, year=year, actor=actor)
        out[f"census {year}"] = res.rows
        console.print(f"  loaded {res.rows:>4} census rows for {year} from {Path(path).name} (total {res.total:,})")
    return out


def _summary(db, console: Console) -> None:
    t = Table("what", "count", title="demo county")
    queries = {
        "villages": "SELECT count(*) FROM admin_units WHERE level = 'village'",
        "population (latest year)": "SELECT coalesce(sum(population), 0) FROM population WHERE year = (SELECT max(year) FROM population)",
        "shelters (capacity)": "SELECT count(*) || ' (' || coalesce(sum(capacity), 0) || ' persons)' FROM shelters",
        "depots": "SELECT count(*) FROM depots",
        "team bases (personnel)": "SELECT count(*) || ' (' || coalesce(sum(personnel), 0) || ')' FROM team_bases",
        "risk points red/orange/yellow/blue": "SELECT string_agg(n::text, '/' ORDER BY o) FROM (SELECT CASE level WHEN 'red' THEN 1 WHEN 'orange' THEN 2 WHEN 'yellow' THEN 3 ELSE 4 END o, count(*) n FROM risk_points GROUP BY 1) s",
        "open hazards (overdue)": "SELECT count(*) FILTER (WHERE state <> 'closed') || ' (' || count(*) FILTER (WHERE state <> 'closed' AND deadline < current_date) || ')' FROM hazards",
        "road network (nodes / edges)": "SELECT coalesce(max(nodes), 0) || ' / ' || coalesce(max(edges), 0) FROM road_networks",
        "villages red/orange/yellow/blue/none": "SELECT string_agg(n::text, '/' ORDER BY o) FROM (SELECT CASE level WHEN 'red' THEN 1 WHEN 'orange' THEN 2 WHEN 'yellow' THEN 3 WHEN 'blue' THEN 4 ELSE 5 END o, count(*) n FROM risk_areas WHERE unit_kind = 'admin' GROUP BY 1) s",
    }
    with db.engine.connect() as c:
        for label, q in queries.items():
            t.add_row(label, str(c.execute(sa.text(q)).scalar()))
    console.print(t)
