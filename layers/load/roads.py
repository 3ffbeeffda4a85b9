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
# Column names tried (case-insensitive, in this order) when the option is not given: the road
# class (Geofabrik shapefiles call it fclass, transport models link_type, Chinese layers 道路等级
# or 等级), the one-way code, and the directional speed pairs (along, against the line).
CLASS_FIELD_GUESSES = ("道路等级", "等级", "公路等级", "技术等级", "行政等级", "类别", "道路类型",
                       "highway", "fclass", "roadclass", "road_class", "grade", "link_type",
                       "class", "type", "kind")
ONEWAY_FIELD_GUESSES = ("oneway", "one_way", "单行", "单向", "方向", "通行方向", "direction", "dir")
SPEED_PAIR_GUESSES = (("speed_ab", "speed_ba"), ("ab_speed", "ba_speed"),
                      ("ft_speed", "tf_speed"), ("ft_spd", "tf_spd"), ("spd_ab", "spd_ba"))
#: Default margin (km) around the study area within which OSM roads are kept.
CLIP_MARGIN_KM = 5.0


@dataclass(frozen=True)
class RoadSource:
    """How to read a road file (the options of `emgis load roads`)."""

    file: Path
    name: str = "default"
    class_field: str | None = None   # line layers: the road class column (primary, 县道 ...)
    speed_field: str | None = None   # line layers: the speed column, km/h ("ab,ba": per direction)
    oneway_field: str | None = None  # line layers: one-way codes (yes/-1/no, 双向/正向 ...)
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
    coverage: AreaCoverage | None = None  # when a study area is recorded


#: A network covering less of the study area than this (share of its 1 km cells within 1 km of a
#: road), or whose largest connected part holds less than this share of the nodes, is a fragment.
FRAGMENT_COVER_SHARE = 0.5
FRAGMENT_LARGEST_SHARE = 0.8


@dataclass(frozen=True)
class AreaCoverage:
    """How much of the study area a road network covers."""

    cells: int            # the study area's cells (cell_m squares whose centre is inside it)
    cells_near_road: int  # ... whose centre lies within reach_m of a road
    road_km: float        # road length inside the study area (a road split per direction once)
    area_km2: float
    largest_share: float  # share of the nodes in the largest connected part
    cell_m: float = 1000.0
    reach_m: float = 1000.0

    @property
    def share(self) -> float:
        return self.cells_near_road / self.cells if self.cells else 0.0

    @property
    def km_per_km2(self) -> float:
        return self.road_km / self.area_km2 if self.area_km2 else 0.0

    def warnings(self) -> list[str]:
        """What makes the network a fragment of the study area, with what to do."""
        out = []
        if self.share < FRAGMENT_COVER_SHARE:
            out.append(f"the network is a fragment of the study area: only {self.share:.0%} of "
                       f"its {self.cell_m / 1000:g} km cells lie within {self.reach_m / 1000:g} "
                       "km of a road; places elsewhere are routed from far off the road. Load a "
                       "file that covers the whole county (not a town extract), or record the "
                       "right study area (emgis init --boundary)")
        if self.largest_share < FRAGMENT_LARGEST_SHARE:
            out.append(f"the network is a fragment: its largest connected part holds only "
                       f"{self.largest_share:.0%} of the nodes; places on other parts cannot "
                       "reach facilities on it. Check that lines meet at shared vertices at "
                       "junctions, or fill the gaps in the file")
        return out


def area_coverage(graph: Any, area: Any, *, cell_m: float = 1000.0,
                  reach_m: float = 1000.0) -> AreaCoverage:
    """Share of the study area's ``cell_m`` cells whose centre is within ``reach_m`` of a road,
    road km inside the area, and the largest connected part's share of the nodes."""
    import geopandas as gpd
    import numpy as np
    import shapely

    poly = gpd.GeoSeries([area.geom], crs=4326).to_crs(area.metric_epsg).iloc[0]
    shapely.prepare(poly)
    x0, y0, x1, y1 = poly.bounds
    gx, gy = np.meshgrid(np.arange(x0 + cell_m / 2, x1, cell_m),
                         np.arange(y0 + cell_m / 2, y1, cell_m))
    inside = shapely.contains_xy(poly, gx.ravel(), gy.ravel())
    pts = shapely.points(gx.ravel()[inside], gy.ravel()[inside])
    if pts.size == 0:
        pts = np.array([poly.representative_point()])
    lines = gpd.GeoSeries(graph.edge_lines(), crs=4326).to_crs(area.metric_epsg).values
    near = shapely.STRtree(lines).query(pts, predicate="dwithin", distance=reach_m)
    # a road split into one one-way edge per direction counts once
    u, v = graph.edge_u.astype(np.int64), graph.edge_v.astype(np.int64)
    key = np.column_stack([np.minimum(u, v), np.maximum(u, v),
                           np.round(graph.edge_length_m).astype(np.int64)])
    _, inv, cnt = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    weight = np.where(graph.edge_oneway, 1.0 / cnt[inv.ravel()], 1.0)
    inside_len = shapely.length(shapely.intersection(lines, poly))
    nodes = max(graph.n_nodes, 1)
    return AreaCoverage(cells=int(pts.size), cells_near_road=int(np.unique(near[0]).size),
                        road_km=float((inside_len * weight).sum() / 1000),
                        area_km2=float(poly.area / 1e6),
                        largest_share=graph.report.largest_component_nodes / nodes,
                        cell_m=cell_m, reach_m=reach_m)


def is_osm_file(path: Path) -> bool:
    """True when ``path`` is named like an OSM extract (not a GIS line layer)."""
    return not path.name.lower().endswith(LINE_SUFFIXES)


def read_line_layer(src: RoadSource) -> tuple[Any, RoadSource, list[str]]:
    """Read a road line layer and settle which columns hold class, speeds and one-way codes;
    raise InputError.

    Returns the frame in WGS84, ``src`` with the columns filled in when they were found by their
    usual names (`settle_fields`), and notes for the user.
    """
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
    else:
        notes.extend(_check_declared_crs(gdf, path.name, p))
    given = src.oneway_field
    src, more = settle_fields(cols, src, p)
    p.raise_if_errors()
    if src.oneway_field is not None:
        from dataclasses import replace

        from emgis.geo.road_fields import oneway_scheme

        values = gdf[src.oneway_field].dropna().unique().tolist()
        scheme = oneway_scheme(values)
        odd = [v for v in values if scheme.code(v) in (None, -9)]
        if odd and given is None:  # a column named like one that holds something else
            more.append(f"column {src.oneway_field!r} holds values that are not one-way codes "
                        f"(e.g. {', '.join(map(repr, odd[:3]))}): roads read as two-way "
                        "(--oneway-field names the one-way column)")
            src = replace(src, oneway_field=None)
        else:
            more.append(f"one-way codes read from column {src.oneway_field!r} as "
                        f"{scheme.description} (--oneway-field chooses another)")
    return gdf, src, notes + more


def speed_columns(speed_field: str | None) -> str | tuple[str, str] | None:
    """``--speed-field``: one column, or two separated by a comma (along, against the line)."""
    if speed_field is None or "," not in speed_field:
        return speed_field
    a, b = (s.strip() for s in speed_field.split(",", 1))
    return a, b


def settle_fields(cols: list[Any], src: RoadSource, p: Problems) -> tuple[RoadSource, list[str]]:
    """Check the columns named by the options and find the others by their usual names.

    Returns ``src`` with the class, speed and one-way columns filled in, and notes saying which
    columns were found; problems (a named column that is not there, no class or speed column)
    go to ``p``.
    """
    from dataclasses import replace

    lower = {str(c).lower(): c for c in cols}
    notes: list[str] = []
    speeds = speed_columns(src.speed_field)
    named = [("--class-field", src.class_field), ("--oneway-field", src.oneway_field)]
    named += [("--speed-field", f)
              for f in ((speeds,) if isinstance(speeds, str) else speeds or ())]
    for opt, f in named:
        if f is not None and f not in cols:
            p.error(None, opt, f, "is not a column of the layer", f"use one of the columns {cols}")
    class_field, oneway_field, speed_field = src.class_field, src.oneway_field, src.speed_field
    if class_field is None:
        class_field = next((lower[g] for g in CLASS_FIELD_GUESSES if g in lower), None)
        if class_field is not None:
            notes.append(f"road class read from column {class_field!r} (--class-field chooses "
                         "another)")
    if speed_field is None:
        pair = next(((lower[a], lower[b]) for a, b in SPEED_PAIR_GUESSES
                     if a in lower and b in lower), None)
        if pair is not None:
            speed_field = f"{pair[0]},{pair[1]}"
            notes.append(f"speeds read per direction from columns {pair[0]!r} (along the line) "
                         f"and {pair[1]!r} (against it); 0 or empty one way: one-way "
                         "(--speed-field chooses others)")
    if oneway_field is None:
        oneway_field = next((lower[g] for g in ONEWAY_FIELD_GUESSES if g in lower), None)
    if class_field is None and speed_field is None:
        p.error(None, "--class-field", None,
                "the layer has no road-class or speed column emgis recognises",
                f"pass --class-field F (OSM class such as primary, or a grade such as 主干路, "
                f"县道) or --speed-field F (km/h) naming one of the columns {cols}")
    return replace(src, class_field=class_field, speed_field=speed_field,
                   oneway_field=oneway_field), notes


def build_line_graph(src: RoadSource, norms: Any) -> tuple[Any, RoadSource, list[str]]:
    """Read the line layer ``src.file``, settle its columns and build its graph (no database).

    Returns the `CompiledGraph`, ``src`` with the columns used, and notes for the user.
    """
    from emgis.geo.network import graph_from_lines

    gdf, src, notes = read_line_layer(src)
    graph = graph_from_lines(gdf, class_field=src.class_field,
                             speed_field=speed_columns(src.speed_field),
                             oneway_field=src.oneway_field, norms=norms, source=src.file.name)
    return graph, src, notes


def _check_declared_crs(gdf: Any, file_name: str, p: Problems) -> list[str]:
    """Degrees under a projected label (a real county road file declared UTM 49N and held
    degrees) are an error; names saying GCJ-02/BD-09 come back as notes (`crs_hints`)."""
    import numpy as np

    from emgis.geo import crs as gcrs
    from emgis.layers.load.crs_hints import check_source

    spec = gcrs.parse_crs(gdf.crs)
    cols = [c for c in gdf.columns if c != gdf.geometry.name]
    seen = len(p.warnings)
    check_source(p, cols, file_name, None, spec, np.asarray(gdf.geometry.dropna().bounds))
    p.raise_if_errors()
    return [f"warning: {w.value} {w.message}; {w.fix}" for w in p.warnings[seen:]]


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
    (.gpkg, .shp, .geojson) need a class or speed column (`settle_fields` finds the class, one-way
    and per-direction speed columns by their usual names: 道路等级, fclass, link_type, oneway,
    方向, speed_ab/speed_ba ...) and a CRS (``src.crs`` when the file has none, or to override it:
    gcj02, bd09, EPSG codes). With a study area recorded, ``coverage`` says how much of it the
    network covers (`area_coverage`). Raises `InputError` on bad input.
    """
    from emgis.geo.network import graph_from_osm
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
        graph, src, more = build_line_graph(src, norms)
        notes.extend(more)
    build_s = time.perf_counter() - t0
    from emgis.layers.load.study_area import load_study_area

    area = load_study_area(engine)
    coverage = area_coverage(graph, area) if area is not None else None
    path = save_network(engine, graph, name=src.name, source_file=src.file, home=home)
    return RoadLoad(graph, path, build_s, time.perf_counter() - t0, notes, coverage)
