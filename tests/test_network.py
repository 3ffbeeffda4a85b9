"""Road networks: OSM extracts and line layers to a compiled graph; synthetic networks."""

from __future__ import annotations

import dataclasses
import socket

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from conftest import shared

from emgis.geo.compiled import CompiledGraph
from emgis.geo.network import graph_from_lines, graph_from_osm, parse_maxspeed, road_speeds
from emgis.geo.osm import drivable_class, read_drivable_ways
from emgis.geo.routing import nearest_facility_times, snap
from emgis.geo.synthetic import synthetic_network
from emgis.layers.norms import default_norms
from emgis.layers.problems import InputError

REAL = [
    "osm/liechtenstein_osm2pgsql_2013.osm.pbf",
    "osm/andorra_valhalla_bench_2020.osm.pbf",
    "osm/cn_shenzhen_longgang_map.osm",
    "osm/cn_fujian_ninghua_county_map.osm",
    "osm/campo_grande_br_graphhopper.osm.gz",
]


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Any outbound connection (Overpass, Nominatim, tiles) fails the test."""
    def deny(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", deny)


@pytest.mark.parametrize("rel", REAL)
def test_real_extract_loads_and_routes(rel):
    g = graph_from_osm(shared(rel))
    r = g.report
    assert r.nodes == g.n_nodes > 40 and r.edges == g.n_edges
    assert r.components >= 1 and r.largest_component_nodes <= r.nodes
    # every edge has a class speed from the norms or a parsed maxspeed, and a positive time
    assert (g.edge_speed_kmh > 0).all() and (g.edge_time_s >= 0).all()
    # route from the node nearest the middle of the network: most of its component is reached
    s = snap(g, float(np.median(g.node_lon)), float(np.median(g.node_lat)))
    assert not g.orphan[s.node]
    times, fac = nearest_facility_times(g, [s.node], direction="from_facility")
    comp = g.component == g.component[s.node]
    assert np.isfinite(times[comp]).mean() > 0.5
    assert (fac[np.isfinite(times)] == 0).all() and times[s.node] == 0


def test_clipped_extract_is_split_not_failed():
    # campo_grande has ways whose nodes lie outside the file: plain ox.graph_from_xml fails
    g = graph_from_osm(shared("osm/campo_grande_br_graphhopper.osm.gz"))
    assert g.report.clipped_ways_split > 100
    assert np.isfinite(g.geom_coords).all()


def _osmnx_reference(path, speeds):
    """Build the same drive network with osmnx's own XML reader and speed logic."""
    import osmnx as ox

    ox.settings.use_cache = False
    ox.settings.useful_tags_way = [*ox.settings.useful_tags_way, "motor_vehicle", "motorcar"]
    G = ox.graph_from_xml(path, simplify=False, retain_all=True, bidirectional=False)
    drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
            if drivable_class({t: (x[0] if isinstance(x, list) else x) for t, x in d.items()},
                              speeds) is None]
    # OSM implies oneway=yes on motorways; osmnx does not, so drop its reversed copies
    # (no fixture here tags a motorway oneway=no)
    drop += [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True)
             if d.get("highway") in ("motorway", "motorway_link") and d.get("reversed")]
    G.remove_edges_from(drop)
    hwy = dict(speeds)
    hwy.update({f"{c}_link": s for c, s in speeds.items()})
    hwy.update({"living_street": speeds["residential"], "road": speeds["unclassified"]})
    G = ox.routing.add_edge_speeds(G, hwy_speeds=hwy)
    return ox.routing.add_edge_travel_times(G)


@pytest.mark.parametrize("rel", ["osm/cn_shenzhen_longgang_map.osm",
                                 "osm/cn_fujian_ninghua_county_map.osm"])
def test_travel_times_agree_with_osmnx_graph(rel):
    path = shared(rel)
    speeds = road_speeds()
    G = _osmnx_reference(path, speeds)
    g = graph_from_osm(path)
    ids = g.node_ids.tolist()
    rng = np.random.default_rng(3)
    for src in rng.choice(np.flatnonzero(~g.orphan), 5, replace=False):
        ref = nx.single_source_dijkstra_path_length(G, ids[src], weight="travel_time")
        ours, _ = nearest_facility_times(g, [src], direction="from_facility")
        common = [i for i, n in enumerate(ids) if n in ref]
        assert len(common) > 0.8 * np.isfinite(ours).sum()
        diff = np.abs(ours[common] - np.array([ref[ids[i]] for i in common]))
        assert diff.max() < 1.0, f"max difference {diff.max():.3f} s"


def test_line_layer_from_osm_routes_like_the_osm_graph(tmp_path):
    path = shared("osm/liechtenstein_osm2pgsql_2013.osm.pbf")
    g_osm = graph_from_osm(path)
    # one line feature per OSM way, as a GIS export of the roads would hold them
    w = read_drivable_ways(path, classes=road_speeds().keys())
    lines, rows = [], []
    for i in range(len(w.highway)):
        s, e = w.offsets[i], w.offsets[i + 1]
        xy = np.column_stack([w.lon[s:e], w.lat[s:e]])
        if np.isnan(xy).any():
            continue
        lines.append(shapely.LineString(xy))
        rows.append({"highway": w.highway[i],
                     "oneway": {1: "yes", -1: "-1", 0: "no"}[int(w.oneway[i])],
                     "maxspeed": parse_maxspeed(w.maxspeed[i]) if w.maxspeed[i] else np.nan})
    gdf = gpd.GeoDataFrame(rows, geometry=lines, crs=4326)
    gdf.to_file(tmp_path / "roads.gpkg")
    back = gpd.read_file(tmp_path / "roads.gpkg")
    g_lin = graph_from_lines(back, class_field="highway", speed_field="maxspeed",
                             oneway_field="oneway")
    assert g_lin.n_nodes == g_osm.n_nodes and g_lin.n_edges == g_osm.n_edges

    # the same node in both graphs, matched by position
    def key(g):
        return np.round(g.node_lon, 7) * 1e9 + np.round(g.node_lat, 7)
    k_osm, k_lin = key(g_osm), key(g_lin)
    order = np.argsort(k_lin)
    pos = order[np.searchsorted(k_lin[order], k_osm)]
    assert np.allclose(k_lin[pos], k_osm)
    rng = np.random.default_rng(0)
    src = rng.choice(np.flatnonzero(~g_osm.orphan), 10, replace=False)
    for direction in ("from_facility", "to_facility"):
        t_osm, f_osm = nearest_facility_times(g_osm, src, direction=direction)
        t_lin, f_lin = nearest_facility_times(g_lin, pos[src], direction=direction)
        t_lin = t_lin[pos]
        assert np.array_equal(np.isfinite(t_osm), np.isfinite(t_lin))
        ok = np.isfinite(t_osm)
        assert np.abs(t_osm[ok] - t_lin[ok]).max() < 1.0
        assert (f_osm[ok] == f_lin[pos][ok]).mean() > 0.99  # ties may pick either


def test_boundary_clips_the_network():
    path = shared("osm/liechtenstein_osm2pgsql_2013.osm.pbf")
    full = graph_from_osm(path)
    box = shapely.box(9.50, 47.10, 9.56, 47.18)
    g = graph_from_osm(path, boundary=box)
    assert 0 < g.n_nodes < full.n_nodes
    assert shapely.contains_xy(box.buffer(1e-9), g.geom_coords[:, 0], g.geom_coords[:, 1]).all()


def test_maxspeed_parsing():
    assert parse_maxspeed("50") == 50
    assert parse_maxspeed("50 km/h") == 50
    assert parse_maxspeed("30 mph") == pytest.approx(48.28, abs=0.01)
    assert parse_maxspeed("50;70") == 60
    for text in ("CN:urban", "none", "walk", "", "0", None):
        assert parse_maxspeed(text) is None


def test_road_classes_and_speeds_come_from_norms():
    speeds = road_speeds(default_norms())
    assert "offroad" not in speeds and "walk" not in speeds
    assert drivable_class({"highway": "primary_link"}, speeds) == "primary"
    assert drivable_class({"highway": "track"}, speeds) == "track"
    assert drivable_class({"route": "ferry"}, speeds) == "ferry"
    assert drivable_class({"highway": "footway"}, speeds) is None
    assert drivable_class({"highway": "service", "service": "parking_aisle"}, speeds) is None
    assert drivable_class({"highway": "residential", "access": "private"}, speeds) is None


def _lines(extra=()):
    # a 3x3 grid of 0.001-degree blocks (a vertex at every crossing) plus what the test adds
    lines, cls = [], []
    steps = [0.0, 0.001, 0.002, 0.003]
    for i in range(4):
        lines.append(shapely.LineString([(120 + 0.001 * i, 30 + s) for s in steps]))
        lines.append(shapely.LineString([(120 + s, 30 + 0.001 * i) for s in steps]))
        cls += ["residential", "tertiary"]
    for geom, c in extra:
        lines.append(geom)
        cls.append(c)
    return gpd.GeoDataFrame({"kind": cls}, geometry=lines, crs=4326)


def test_lines_are_noded_at_shared_vertices_and_islands_reported():
    island = shapely.LineString([(120.010, 30.010), (120.0105, 30.010)])
    bridge = shapely.LineString([(119.999, 30.0015), (120.004, 30.0015)])  # crosses, no vertex
    g = graph_from_lines(_lines([(island, "track"), (bridge, "primary")]), class_field="kind")
    # 16 grid crossings + 2 island ends + 2 bridge ends; 8 grid lines x 3 pieces + 2
    assert g.n_nodes == 20 and g.n_edges == 26
    assert g.report.components == 3 and g.report.orphan_nodes == 4
    s = snap(g, 120.0102, 30.0101)  # right by the island
    assert not g.orphan[s.node] and s.distance_m > 500


def test_snap_tolerance_joins_nearly_touching_lines():
    # ~0.2 m off the grid corner
    near = shapely.LineString([(120.003 + 2e-6, 30.0), (120.005, 30.0)])
    g = graph_from_lines(_lines([(near, "track")]), class_field="kind", snap_tolerance_m=0.5)
    assert g.report.components == 1
    g2 = graph_from_lines(_lines([(near, "track")]), class_field="kind", snap_tolerance_m=0.05)
    assert g2.report.components == 2


def test_save_and_load_round_trip(tmp_path):
    g = graph_from_osm(shared("osm/cn_fujian_ninghua_county_map.osm"))
    p = g.save(tmp_path / "ninghua")
    h = CompiledGraph.load(p)
    for name in CompiledGraph._ARRAYS:
        assert np.array_equal(getattr(g, name), getattr(h, name)), name
    assert h.crs == g.crs and h.report == g.report and h.highway_names == g.highway_names
    gdf = h.edges_gdf()
    assert list(gdf.columns) == ["u", "v", "highway", "speed_kmh", "length_m", "travel_time_s",
                                 "oneway", "geometry"]
    assert gdf.crs.to_epsg() == 4326 and len(gdf) == h.n_edges
    # Ninghua is in China: the metric CRS is a CGCS2000 Gauss-Kruger zone
    assert "CGCS2000" in h.crs.name


def test_saved_arrays_are_all_the_graph_arrays():
    # save/load write and read the arrays named in _ARRAYS: every array field must be there
    other = {"crs", "highway_names", "report", "_cache"}
    arrays = [f.name for f in dataclasses.fields(CompiledGraph) if f.name not in other]
    assert sorted(CompiledGraph._ARRAYS) == sorted(arrays)


def test_load_rejects_other_files(tmp_path):
    bad = tmp_path / "x.npz"
    np.savez(bad, a=np.arange(3))
    with pytest.raises(ValueError, match="not a compiled road graph"):
        CompiledGraph.load(bad)
    with pytest.raises(FileNotFoundError, match="emgis load roads"):
        CompiledGraph.load(tmp_path / "missing.npz")


# --- bad input -------------------------------------------------------------------------------

def test_empty_file(tmp_path):
    p = tmp_path / "empty.osm.pbf"
    p.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        graph_from_osm(p)


@pytest.mark.parametrize(("name", "content"), [("notes.osm", b"hello, not xml"),
                                               ("roads.osm.pbf", b"PK\x03\x04zipzipzip"),
                                               ("roads.csv", b"a,b\n1,2\n")])
def test_not_an_osm_file(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError, match=r"OSM") as exc:
        graph_from_osm(p)
    assert exc.value.problems[0].fix


def test_osm_file_without_roads(tmp_path):
    p = tmp_path / "pois.osm"
    p.write_text('<?xml version="1.0"?><osm version="0.6">'
                 '<node id="1" lat="30" lon="120"><tag k="amenity" v="school"/></node>'
                 '<node id="2" lat="30.001" lon="120"/>'
                 '<way id="5"><nd ref="1"/><nd ref="2"/><tag k="highway" v="footway"/></way></osm>')
    with pytest.raises(InputError, match="no drivable road"):
        graph_from_osm(p)


def test_no_drivable_road_inside_the_boundary():
    path = shared("osm/cn_fujian_ninghua_county_map.osm")
    far = shapely.box(100.0, 20.0, 100.1, 20.1)
    with pytest.raises(InputError, match="contains no drivable road") as exc:
        graph_from_osm(path, boundary=far)
    assert "EPSG:4326" in str(exc.value)
    with pytest.raises(ValueError, match="boundary"):
        graph_from_osm(path, boundary=shapely.Point(116.65, 26.27))


def test_line_layer_without_class_or_speed_field():
    gdf = _lines()
    with pytest.raises(InputError, match="no class_field and no speed_field") as exc:
        graph_from_lines(gdf)
    assert "kind" in str(exc.value)  # names the columns to choose from
    with pytest.raises(InputError, match="not a column"):
        graph_from_lines(gdf, class_field="grade")


@pytest.mark.bad_input
def test_line_layer_reports_every_bad_row():
    gdf = _lines()
    gdf.loc[2, "kind"] = "footpath"
    gdf.loc[5, "kind"] = "freeway"
    gdf["oneway"] = ["yes"] * 7 + ["maybe"]
    with pytest.raises(InputError) as exc:
        graph_from_lines(gdf, class_field="kind", oneway_field="oneway")
    # unknown classes and one-way values: one problem per column, each value with its count
    got = {p.field: p.value for p in exc.value.problems}
    assert set(got) == {"kind", "oneway"}
    assert "'footpath' (1 line)" in got["kind"] and "'freeway' (1 line)" in got["kind"]
    assert got["oneway"] == "'maybe' (1 line)"


def test_line_layer_chinese_classes_and_speed_field():
    gdf = _lines()
    gdf["kind"] = ["县道", "乡道"] * 4
    gdf["v"] = [np.nan] * 7 + [20.0]
    g = graph_from_lines(gdf, class_field="kind", speed_field="v")
    norms = default_norms()
    assert set(np.round(g.edge_speed_kmh)) == {norms.number("road.speed_kmh.cn.县道"),
                                               norms.number("road.speed_kmh.cn.乡道"), 20}


# --- synthetic --------------------------------------------------------------------------------

def test_synthetic_county_is_deterministic_and_realistic():
    g = synthetic_network("county", seed=7)
    h = synthetic_network("county", seed=7)
    assert np.array_equal(g.node_lon, h.node_lon) and np.array_equal(g.weights, h.weights)
    other = synthetic_network("county", seed=8)
    assert other.n_edges != g.n_edges or not np.array_equal(other.node_lon, g.node_lon)
    assert 15_000 < g.n_nodes < 25_000
    names = np.asarray(g.highway_names)[g.edge_highway]
    counts = {c: int((names == c).sum()) for c in set(names)}
    for c in ("motorway", "trunk", "primary", "secondary", "tertiary", "residential", "track",
              "ferry"):
        assert counts.get(c, 0) > 0, c
    # local roads outnumber collectors, which outnumber arterials
    assert counts["residential"] + counts["unclassified"] > counts["tertiary"] > counts["primary"]
    assert g.edge_oneway.any() and g.report.orphan_components > 0
    assert g.report.largest_component_nodes > 0.8 * g.n_nodes
    # placed at the default centre (Changxing), in a Gauss-Kruger CRS
    assert abs(np.median(g.node_lon) - 119.91) < 0.1 and abs(np.median(g.node_lat) - 31.03) < 0.1
    lines = synthetic_network("county", seed=7, n_nodes=2_000, as_lines=True)[1]
    assert {"highway", "speed_kmh", "oneway"} <= set(lines.columns)
