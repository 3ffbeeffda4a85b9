"""Road networks from files: an OSM extract or a surveyed road line layer → a compiled graph
stored for routing (`emgis load roads FILE`, the demo, a bureau's own county).

The edges (`emgis.api.cli.roads`) parse options and print the report; this module reads the
file, settles which columns hold the road class, speed and one-way flag, builds the graph
(`emgis.geo.network`) and stores it (`emgis.geo.store`). Bad input raises `InputError` with
every problem at once; nothing is stored then.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emgis.layers.problems import Problems

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.gz", ".osm.bz2", ".osm.xml", ".xml", ".xml.gz",
                ".xml.bz2")
LINE_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".zip", ".fgb")
# Column names tried for the road class of a line layer when --class-field is not given
# (Geofabrik shapefiles call it fclass; Chinese layers 道路等级 or 等级).
CLASS_FIELD_GUESSES = ("highway", "fclass", "road_class", "class", "roadclass", "type", "kind",
                       "道路等级", "等级", "道路类型", "公路等级", "技术等级")
#: Default margin (km) around the study area within which OSM roads are kept.
CLIP_MARGIN_KM = 5.0


@dataclass(frozen=True)
class RoadSource:
    """How to read a road file (the options of `emgis load roads`)."""

    file: Path
    name: str = "default"
    class_field: str | None = None   # line layers: the road class column (primary, 县道 ...)
    speed_field: str | None = None   # line layers: the speed column, km/h
    oneway_field: str | None = None  # line layers: yes / -1 / no one-way values
    clip: bool = True                # OSM: keep only roads within the study area plus the margin
    crs: str | None = None           # line layers: CRS of the coordinates
    encoding: str | None = None      # line layers: text encoding
    margin_km: float = CLIP_MARGIN_KM


@dataclass
class RoadLoad:
    """A stored network: the graph (with its build report), where it was saved, notes to show."""

    graph: Any
    path: Path
    build_s: float
    total_s: float
    notes: list[str] = field(default_factory=list)


def is_osm_file(path: Path) -> bool:
    """True when ``path`` is named like an OSM extract (not a GIS line layer)."""
    return not path.name.lower().endswith(LINE_SUFFIXES)


def read_line_layer(src: RoadSource) -> tuple[Any, RoadSource, list[str]]:
    """Read a road line layer and settle which fields hold class / speed; raise InputError.

    Returns the frame in WGS84, ``src`` with the class field filled in when it was guessed,
    and notes for the user.
    """
    from dataclasses import replace

    from emgis.layers.load.readers import read_input

    path = src.file
    p = Problems(path.name, row_label="feature")
    raw = read_input(path, p, encoding=src.encoding)
    p.raise_if_errors()
    gdf = raw.frame
    if "_row" in gdf.columns:
        gdf = gdf.drop(columns="_row")
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    notes = []
    if src.crs is not None:
        from emgis.geo import crs as gcrs

        try:
            spec = gcrs.parse_crs(src.crs)
        except ValueError as exc:
            p.error(None, "--crs", src.crs, "is not a coordinate system",
                    f"give e.g. 4490, cgcs2000, gcj02 ({exc})")
            p.raise_if_errors()
        gdf = gdf.set_geometry(gcrs.geoseries_to_wgs84(gdf.geometry, spec))
        notes.append(f"coordinates read as {spec.label} (--crs) and converted to WGS84")
    elif gdf.crs is None:
        p.error(None, "geometry", None, "the layer does not say its coordinate system",
                "pass --crs (e.g. 4490, cgcs2000-gk3-39, gcj02 for Amap/Tencent lines, bd09 for "
                "Baidu)")
        p.raise_if_errors()
    class_field = src.class_field
    if class_field is None and src.speed_field is None:
        lower = {str(c).lower(): c for c in cols}
        class_field = next((lower[g] for g in CLASS_FIELD_GUESSES if g in lower), None)
        if class_field is None:
            p.error(None, "--class-field", None,
                    "the layer has no road-class or speed column emgis recognises",
                    f"pass --class-field F (OSM class such as primary, or a grade such as 县道) or "
                    f"--speed-field F (km/h) naming one of the columns {cols}")
            p.raise_if_errors()
        notes.append(f"road class read from column {class_field!r} (pass --class-field to choose "
                     "another)")
    return gdf, replace(src, class_field=class_field), notes


def study_boundary(engine: Any, margin_km: float) -> tuple[Any, Any]:
    """The study area and its outline buffered by ``margin_km`` (EPSG:4326), or (None, None)."""
    import geopandas as gpd

    from emgis.layers.load.study_area import load_study_area

    area = load_study_area(engine)
    if area is None:
        return None, None
    buffered = gpd.GeoSeries([area.geom], crs=4326).to_crs(area.metric_epsg).buffer(
        margin_km * 1000)
    return area, buffered.to_crs(4326).iloc[0]


def check_road_file(file: Path) -> None:
    """Raise InputError when ``file`` is not there (said before any database is started)."""
    if not file.is_file():
        p = Problems(str(file))
        p.error(None, None, None, "does not exist or is not a file",
                "give the path of an OSM extract (.osm.pbf, .osm, .osm.gz, .osm.bz2) or of a road "
                "line layer (.gpkg, .shp, .geojson)")
        p.raise_if_errors()


def load_roads(engine: Any, src: RoadSource, norms: Any, home: Path) -> RoadLoad:
    """Build road network ``src.name`` from ``src.file`` and store it.

    OSM extracts (.osm.pbf, .osm, .osm.gz, .osm.bz2) keep the drivable roads, clipped to the
    study area plus ``src.margin_km`` when one is recorded and ``src.clip``; line layers
    (.gpkg, .shp, .geojson) need a class or speed field (a column named like highway, fclass or
    等级 is found without one) and a CRS (``src.crs`` when the file has none, or to override it:
    gcj02, bd09, EPSG codes). Raises `InputError` on bad input.
    """
    from emgis.geo.network import graph_from_lines, graph_from_osm
    from emgis.geo.store import check_network_name, save_network

    t0 = time.perf_counter()
    check_network_name(src.name)
    check_road_file(src.file)
    notes: list[str] = []
    if is_osm_file(src.file):
        if src.class_field or src.speed_field or src.oneway_field or src.crs:
            notes.append("--class-field/--speed-field/--oneway-field/--crs apply to line layers; "
                         "an OSM extract's highway, maxspeed and oneway tags are used")
        boundary = None
        if src.clip:
            area, boundary = study_boundary(engine, src.margin_km)
            if area is not None:
                notes.append(f"clipped to the study area {area.name} plus {src.margin_km:g} km "
                             "(--no-clip keeps the whole extract)")
            else:
                notes.append("no study area recorded (`emgis init`): the whole extract is kept")
        graph = graph_from_osm(src.file, boundary=boundary, norms=norms)
    else:
        gdf, src, more = read_line_layer(src)
        notes.extend(more)
        graph = graph_from_lines(gdf, class_field=src.class_field, speed_field=src.speed_field,
                                 oneway_field=src.oneway_field, norms=norms, source=src.file.name)
    build_s = time.perf_counter() - t0
    path = save_network(engine, graph, name=src.name, source_file=src.file, home=home)
    return RoadLoad(graph, path, build_s, time.perf_counter() - t0, notes)
