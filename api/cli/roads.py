"""`emgis` commands for road networks: load roads, route to the nearest facilities, isochrones.

Registered on the command line by `emgis.api.cli`. ``emgis load roads FILE`` and
``emgis load-roads FILE`` both run `load_roads_command` (the work is `emgis.layers.load.roads`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from emgis.api.cli.base import _norms, _report_input_error, _settings, app, console, err
from emgis.geo.store import check_network_name
from emgis.layers.load.roads import RoadSource
from emgis.layers.problems import InputError, Problem, Problems

SNAP_WARN_M = 500.0


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(message)
    return typer.Exit(code)


# --- load roads ----------------------------------------------------------------------------------

def load_roads_command(file: Path, src: RoadSource | None = None) -> None:
    """Build and store a road network from FILE, then print its report (what ``emgis load roads
    FILE`` and ``emgis load-roads FILE`` run); exits with code 2 on bad input."""
    from emgis.layers.db import open_database
    from emgis.layers.load.roads import check_road_file, load_roads

    dbs, _ = _settings()
    src = src or RoadSource(Path(file))
    try:
        check_network_name(src.name)
        check_road_file(src.file)  # say so before starting a database
        with open_database() as db:
            res = load_roads(db.engine, src, _norms(db.engine), dbs.home)
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    r = res.graph.report
    console.print(f"[green]loaded[/] road network [bold]{src.name}[/] from {src.file.name}: "
                  f"{r.nodes:,} nodes, {r.edges:,} edges, {r.components:,} components "
                  f"in {res.total_s:.1f} s (build {res.build_s:.1f} s)")
    t = Table("", "count", header_style="bold")
    rows = [
        ("ways read", r.ways_read), ("drivable ways", r.drivable_ways), ("nodes", r.nodes),
        ("edges", r.edges), ("arcs (directed)", r.arcs), ("components", r.components),
        ("largest component, nodes", r.largest_component_nodes),
        ("orphan islands (not snapped to)", r.orphan_components), ("orphan nodes", r.orphan_nodes),
        ("ways split at the extract's border", r.clipped_ways_split),
        ("duplicate edges dropped", r.duplicates_dropped),
        ("self-loops dropped", r.self_loops_dropped),
        ("maxspeed values not understood (class speed used)", r.maxspeed_unparsed),
    ]
    for label, v in rows:
        t.add_row(label, f"{v:,}")
    console.print(t)
    cov = res.coverage
    warnings = cov.warnings() if cov is not None else []
    if cov is not None:
        console.print(f"  covers {cov.share:.0%} of the study area's {cov.cell_m / 1000:g} km "
                      f"cells (their centre within {cov.reach_m / 1000:g} km of a road): "
                      f"{cov.cells_near_road:,} of {cov.cells:,}; {cov.road_km:,.0f} km of road "
                      f"in the {cov.area_km2:,.0f} km² study area, "
                      f"{cov.km_per_km2:.2f} km of road per km²")
    for w in warnings:
        console.print(f"  [yellow]warning[/]: {w}")
    if r.nodes and r.largest_component_nodes < 0.9 * r.nodes and not any(
            "connected part" in w for w in warnings):
        console.print(f"  [yellow]note[/]: the largest connected part holds only "
                      f"{r.largest_component_nodes / r.nodes:.0%} of the nodes; places on other "
                      "parts cannot reach facilities on it (check the file covers the whole "
                      "county and its lines meet at junctions)")
    for n in res.notes:
        console.print(f"  note: {n}")
    console.print(f"  graph saved to {res.path}; edges in table road_edges "
                  f"(network = '{src.name}')")


# The road options of `emgis load roads` (api/cli/load.py) and `emgis load-roads`: one set.
NAME_HELP = "roads: network name (routing uses 'default' unless told)"
CLASS_HELP = ("roads, line layers: column with the road class (primary, 主干路, 县道 ...); "
              "found by name when not given (道路等级, 等级, fclass, link_type ...)")
SPEED_HELP = ("roads, line layers: column with the speed in km/h, or two columns A,B with the "
              "speed along and against the line (found by name: speed_ab,speed_ba, "
              "FT_speed,TF_speed)")
ONEWAY_HELP = ("roads, line layers: column with one-way codes (oneway yes/no/1/0/-1/T/F, "
               "FT/TF/B, 方向 双向/正向/逆向, direction 1/0/-1 or NavInfo 0-3; found by name)")
CLIP_HELP = "roads, OSM: keep only roads within the study area plus 5 km"


@app.command("load-roads")
def load_roads(
    file: Annotated[Path, typer.Argument(
        help="OSM extract (.osm.pbf/.osm/.osm.gz/.osm.bz2) or road lines "
             "(.gpkg/.shp/.geojson)")],
    name: Annotated[str, typer.Option(help=NAME_HELP)] = "default",
    class_field: Annotated[str | None, typer.Option(help=CLASS_HELP)] = None,
    speed_field: Annotated[str | None, typer.Option(help=SPEED_HELP)] = None,
    oneway_field: Annotated[str | None, typer.Option(help=ONEWAY_HELP)] = None,
    clip: Annotated[bool, typer.Option("--clip/--no-clip", help=CLIP_HELP)] = True,
    crs: Annotated[str | None, typer.Option(
        help="line layers: CRS of the coordinates "
             "(4490, cgcs2000-gk3-39, gcj02, bd09 ...)")] = None,
    encoding: Annotated[str | None, typer.Option(
        help="line layers: text encoding (utf-8, gbk)")] = None,
) -> None:
    """Build the road network from FILE and store it for routing (the same command as
    `emgis load roads FILE`, with the same options)."""
    load_roads_command(file, RoadSource(file, name, class_field, speed_field, oneway_field, clip,
                                        crs, encoding))


# --- shared by route and isochrones ---------------------------------------------------------------

def _parse_point(text: str, crs: str | None) -> tuple[float, float]:
    from emgis.geo import crs as gcrs

    parts = [s.strip() for s in text.replace("，", ",").split(",")]
    try:
        x, y = (float(parts[0]), float(parts[1])) if len(parts) == 2 else (None, None)
    except ValueError:
        x = y = None
    if x is None or not (np.isfinite(x) and np.isfinite(y)):
        raise InputError([Problem("--from", None, "--from", text, "is not a point LON,LAT",
                                  "give longitude then latitude, e.g. --from 119.91,30.99")],
                         source="--from")
    if crs:
        try:
            x, y = gcrs.to_wgs84(x, y, crs)
        except ValueError as exc:
            raise InputError([Problem("--crs", None, "--crs", crs, "is not a coordinate system",
                                      f"give wgs84, gcj02, bd09 or an EPSG code ({exc})")],
                             source="--crs") from None
        x, y = float(x), float(y)
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise InputError([Problem("--from", None, "--from", text, "is not a lon/lat point",
                                  "give WGS84 longitude then latitude (e.g. 119.91,30.99), "
                                  "or --crs for other systems")],
                         source="--from")
    return x, y


def _read_avoid(path: Path):
    """Read polygons to avoid (a flooded area ...) as a GeoSeries in EPSG:4326."""
    from emgis.layers.load.readers import read_input

    p = Problems(path.name, row_label="feature")
    raw = read_input(path, p)
    p.raise_if_errors()
    gdf = raw.frame
    if not hasattr(gdf, "geometry") or raw.kind != "vector":
        p.error(None, "geometry", None, "has no polygons",
                "give the area to avoid as GeoJSON, GeoPackage or Shapefile polygons")
        p.raise_if_errors()
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    geoms = gdf.geometry.to_crs(4326)
    polys = geoms[geoms.notna() & geoms.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polys.empty:
        p.error(None, "geometry", ", ".join(sorted(set(geoms.geom_type.dropna()))),
                "holds no polygon", "give the area to avoid (e.g. the flooded area) as polygons")
        p.raise_if_errors()
    return polys


def _open_network(db, network: str):
    from emgis.geo.store import RoadNetworkNotFound, load_network

    dbs, _ = _settings()
    try:
        return load_network(db.engine, network, home=dbs.home)
    except RoadNetworkNotFound as exc:
        raise _fail(f"[red]{exc}[/]") from None


TYPE_HELP = "teams only: a team type (fire_station, hazchem, water_rescue … or 消防, 危化 …)"
SPECIALITY_HELP = "teams only: a speciality the team must have"


def team_filter(layer: str, team_type: str | None,
                speciality: str | None) -> tuple[str, str | None, str | None]:
    """`shelters.needs.team_filter` for --to/--layer and --type/--speciality; exit 2 on a wrong
    one."""
    from emgis.layers.problems import BadArgument
    from emgis.shelters.needs import team_filter as resolve

    try:
        return resolve(layer, team_type, speciality)
    except BadArgument as exc:
        raise _fail(f"[red]{exc}[/]") from None


def _facility_points(db, layer: str, team_type: str | None = None,
                     speciality: str | None = None, equipment: str | None = None):
    from emgis.geo.store import USABLE_STATUS, facilities

    layer, team_type, speciality = team_filter(layer, team_type, speciality)
    equipment = equipment_kind(layer, equipment)
    fac = facilities(db.engine, layer, team_type=team_type, speciality=speciality,
                     equipment=equipment)
    if len(fac) == 0 and (team_type or speciality or equipment):
        raise _fail(f"[red]no usable teams of type {team_type or 'any'}"
                    + (f" with speciality {speciality}" if speciality else "")
                    + (f" holding {equipment}" if equipment else "")
                    + "[/] in the database")
    if len(fac) == 0:
        why = (f" ({fac.skipped} rows, none with status {' or '.join(USABLE_STATUS[layer])})"
               if fac.skipped else "")
        raise _fail(f"[red]no usable {layer} in the database{why}[/]; load them with "
                    f"`emgis load {layer} FILE`")
    if fac.skipped:
        console.print(f"  note: {fac.skipped} {layer} left out "
                      f"(status not {' / '.join(USABLE_STATUS[layer])})")
    return fac


EQUIPMENT_HELP = "teams only: an equipment kind the team must hold (冲锋舟, 救生衣 …)"


def equipment_kind(layer: str, equipment: str | None) -> str | None:
    """`shelters.needs.equipment_filter` for --equipment; exit 2 on a wrong one."""
    from emgis.layers.problems import BadArgument
    from emgis.shelters.coverage import kind
    from emgis.shelters.needs import equipment_filter

    table = layer if layer in ("team_bases", "shelters", "depots") else kind(layer).table
    try:
        return equipment_filter(table, equipment)
    except BadArgument as exc:
        raise _fail(f"[red]{exc}[/]") from None


def _direction(layer: str, direction: str | None) -> str:
    if direction is None:
        # people go to shelters; teams and supplies go from their base or depot to the place
        return "to_facility" if layer == "shelters" else "from_facility"
    d = direction.replace("-", "_")
    if d not in ("to_facility", "from_facility"):
        raise _fail(f"[red]--direction {direction!r}[/] is not known; "
                    f"use to-facility (people go to it) "
                    "or from-facility (it is dispatched to the place)")
    return d


def _polygonal(geom):
    """``geom`` valid and polygonal (reprojecting a buffered area can pinch a ring)."""
    from emgis.geo.geometry import repair_polygons

    fixed, _ = repair_polygons(geom)
    return geom if fixed[0] is None else fixed[0]


def _write_geojson(path: Path, features: list[dict]) -> None:
    if path.suffix.lower() not in (".geojson", ".json"):
        raise _fail(f"[red]--out {path}[/]: write GeoJSON (a .geojson file name); "
                    f"export other formats from it")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"type": "FeatureCollection", "features": features}, f, ensure_ascii=False)


# --- route ---------------------------------------------------------------------------------------

@app.command("route")
def route(
    from_: Annotated[str, typer.Option("--from", help="the place: LON,LAT (WGS84 unless --crs)")],
    to: Annotated[str, typer.Option(
        "--to", help="team_bases | depots | shelters | fire | teams")] = "team_bases",
    team_type: Annotated[str | None, typer.Option("--type", help=TYPE_HELP)] = None,
    speciality: Annotated[str | None, typer.Option(help=SPECIALITY_HELP)] = None,
    equipment: Annotated[str | None, typer.Option(help=EQUIPMENT_HELP)] = None,
    k: Annotated[int, typer.Option("-k", "--k", help="how many nearest facilities", min=1)] = 3,
    avoid: Annotated[Path | None, typer.Option(
        help="polygons whose roads are closed (e.g. a flooded area)")] = None,
    out: Annotated[Path | None, typer.Option(
        help="write the routes as GeoJSON LineStrings")] = None,
    crs: Annotated[str | None, typer.Option(
        help="coordinate system of --from: wgs84 (default), gcj02, bd09, EPSG")] = None,
    direction: Annotated[str | None, typer.Option(
        help="from-facility (default for teams/depots) or to-facility "
             "(default for shelters)")] = None,
    network: Annotated[str, typer.Option(help="road network name")] = "default",
) -> None:
    """Find the K fastest facilities for a place, with their routes over the road network."""
    from emgis.geo.routing import closures_from_polygons, nearest_k, snap, snap_facilities
    from emgis.layers.db import open_database

    try:
        lon, lat = _parse_point(from_, crs)
        polys = _read_avoid(avoid) if avoid is not None else None
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    d = _direction(to, direction)
    team_filter(to, team_type, speciality)  # a wrong name is said before a database starts
    equipment_kind(to, equipment)
    with open_database() as db:
        norms = _norms(db.engine)
        graph = _open_network(db, network)
        fac = _facility_points(db, to, team_type, speciality, equipment)
    closures = closures_from_polygons(graph, polys) if polys is not None else None
    n_closed = int(closures.sum()) if closures is not None else 0
    snapped = snap_facilities(graph, fac.lon, fac.lat, norms=norms)
    here = snap(graph, lon, lat, norms=norms)
    routes = nearest_k(graph, (lon, lat), snapped, k, closures=closures, direction=d, norms=norms)

    console.print(f"place ({lon:.6f}, {lat:.6f}) joins the road {here.distance_m:,.0f} m away; "
                  f"{len(fac)} usable {to}; {'from' if d == 'from_facility' else 'to'} the facility"
                  + (f"; {n_closed} road edges closed by {avoid.name}"
                     if avoid is not None else ""))
    if here.distance_m > SNAP_WARN_M:
        console.print(f"  [yellow]note[/]: the place is {here.distance_m:,.0f} m from the "
                      "nearest road; check the coordinates (and --crs for GCJ-02/BD-09 points)")
    t = Table("rank", "id", "name", "time (min)", "distance (km)", "facility to road (m)",
              header_style="bold")
    features = []
    for rank, r in enumerate(routes, 1):
        i = r.facility
        t.add_row(str(rank), str(fac.ext_ids[i]), str(fac.names[i]), f"{r.time_s / 60:.1f}",
                  f"{r.length_m / 1000:.2f}", f"{float(snapped.distance_m[i]):,.0f}")
        coords = r.coords if len(r.coords) > 1 else r.coords * 2
        features.append({
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": coords},
            "properties": {
                "rank": rank, "layer": to, "facility_id": str(fac.ext_ids[i]),
                "name": str(fac.names[i]),
                "time_min": round(r.time_s / 60, 3), "time_s": r.time_s,
                "distance_km": round(r.length_m / 1000, 4),
                "facility_snap_m": round(float(snapped.distance_m[i]), 1),
                "place_snap_m": round(float(here.distance_m), 1), "direction": d,
                "from_lon": lon, "from_lat": lat, "closed_edges": n_closed, "network": network,
            },
        })
    console.print(t)
    if not routes:
        console.print(f"  [yellow]no usable {to} can be reached[/] from this place"
                      + (" with the closed roads" if n_closed else "")
                      + " (different network parts?)")
    elif len(routes) < min(k, len(fac)):
        console.print(f"  [yellow]only {len(routes)} of {min(k, len(fac))} {to} can be reached[/]")
    if out is not None:
        _write_geojson(out, features)
        console.print(f"wrote {len(features)} routes to {out}")


# --- isochrones ----------------------------------------------------------------------------------

@app.command("isochrones")
def isochrones(
    layer: Annotated[str, typer.Option(
        help="shelters | depots | team_bases | fire | teams")] = "shelters",
    team_type: Annotated[str | None, typer.Option("--type", help=TYPE_HELP)] = None,
    speciality: Annotated[str | None, typer.Option(help=SPECIALITY_HELP)] = None,
    minutes: Annotated[str, typer.Option(
        help="time bands in minutes, comma-separated")] = "5,10,15",
    out: Annotated[Path | None, typer.Option(help="write the areas as GeoJSON polygons")] = None,
    each: Annotated[bool, typer.Option(
        "--each", help="one area per facility and band instead of one per band")] = False,
    avoid: Annotated[Path | None, typer.Option(
        help="polygons whose roads are closed (e.g. a flooded area)")] = None,
    direction: Annotated[str | None, typer.Option(
        help="to-facility (default for shelters) or from-facility "
             "(default for teams/depots)")] = None,
    buffer_m: Annotated[float, typer.Option(
        help="half-width of the area drawn around reached roads (m)", min=1)] = 100.0,
    network: Annotated[str, typer.Option(help="road network name")] = "default",
) -> None:
    """Draw the areas within each time band of the facilities of LAYER (service areas).

    By default one area per band: the places within that many minutes of any usable
    facility (bands nest: 15 min contains 10 contains 5). --each draws one per facility.
    """
    import shapely

    from emgis.geo.routing import closures_from_polygons, service_areas
    from emgis.layers.db import open_database

    try:
        bands = sorted({float(m) for m in minutes.replace("，", ",").split(",") if m.strip()})
    except ValueError:
        bands = []
    if not bands or not all(np.isfinite(b) and b > 0 for b in bands):
        raise _fail(f"[red]--minutes {minutes!r}[/] is not a list of positive minutes; "
                    f"give e.g. --minutes 5,10,15")
    try:
        polys = _read_avoid(avoid) if avoid is not None else None
    except InputError as exc:
        _report_input_error(exc)
        raise typer.Exit(2) from None
    d = _direction(layer, direction)
    team_filter(layer, team_type, speciality)
    with open_database() as db:
        norms = _norms(db.engine)
        graph = _open_network(db, network)
        fac = _facility_points(db, layer, team_type, speciality)
    closures = closures_from_polygons(graph, polys) if polys is not None else None
    groups = ([(None, np.arange(len(fac)))] if not each
              else [(i, np.array([i])) for i in range(len(fac))])
    features = []
    t = Table("facility" if each else "facilities", "minutes", "area (km²)", header_style="bold")
    for i, idx in groups:
        gdf = service_areas(graph, (fac.lon[idx], fac.lat[idx]), bands, closures=closures,
                            direction=d,
                            buffer_m=buffer_m, norms=norms)
        for m, a, geom in zip(gdf["minutes"], gdf["area_km2"], gdf.geometry, strict=True):
            props = {"minutes": float(m), "area_km2": round(float(a), 4), "layer": layer,
                     "direction": d, "network": network}
            if i is None:
                props["facilities"] = len(fac)
                label = f"{len(fac)} {layer}"
            else:
                props["facility_id"], props["name"] = str(fac.ext_ids[i]), str(fac.names[i])
                label = f"{fac.ext_ids[i]} {fac.names[i]}"
            t.add_row(label, f"{m:g}", f"{a:,.2f}")
            features.append({"type": "Feature", "properties": props,
                              "geometry": json.loads(shapely.to_geojson(_polygonal(geom)))})
    console.print(t)
    # (a triple-quoted f-string: Python 3.11 lets only those break a line inside a {field})
    console.print(f"""{'one area per facility and band' if each
                       else 'one area per band (all facilities together)'}, """
                  f"{'to' if d == 'to_facility' else 'from'} the facility, "
                  f"roads buffered by {buffer_m:g} m")
    if out is not None:
        _write_geojson(out, features)
        console.print(f"wrote {len(features)} areas to {out}")
