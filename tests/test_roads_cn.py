"""Chinese road layers out of the box (issue #15, part 1).

Road grades (CJJ 37 urban grades, estate roads, highway administrative and technical grades) with
their speeds from the norms; one-way and direction columns in their common forms; directional
speeds; `emgis load roads` and `emgis load-roads` as one command; how much of the study area the
network covers. The real Kunming counties of ../shared/data/roads_cn load through the CLI.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pytest
import shapely
import sqlalchemy as sa
from conftest import shared
from typer.testing import CliRunner

import emgis.api.cli.db  # (registers `emgis init`)
import emgis.api.cli.load  # (registers `emgis load`)
import emgis.api.cli.roads  # noqa: F401  (registers `emgis load-roads`)
from emgis.api.cli import app
from emgis.api.cli import base as cli
from emgis.geo.network import graph_from_lines
from emgis.layers.load.roads import RoadSource, build_line_graph
from emgis.layers.norms import Norm, default_norms
from emgis.layers.problems import InputError

COUNTIES = [("jinning", "530115"), ("anning", "530181"), ("fumin", "530124")]

# every canonical grade, and the common ways of writing it
GRADES = {
    "快速路": ["快速路", "城市快速路"], "主干路": ["主干路", "主干道", "城市主干路"],
    "次干路": ["次干路", "次干道"], "支路": ["支路", "城市支路"],
    "内部道路": ["内部道路", "小区道路"], "高速公路": ["高速公路", "高速"],
    "一级公路": ["一级公路", "一级"], "二级公路": ["二级公路", "二级"],
    "三级公路": ["三级公路", "三级"], "四级公路": ["四级公路", "四级"],
    "等外公路": ["等外公路", "等外"],
    "国道": ["国道"], "省道": ["省道"], "县道": ["县道"], "乡道": ["乡道"], "村道": ["村道"],
    "专用公路": ["专用公路"],
}


def _parallel(values: dict[str, list], n: int | None = None) -> gpd.GeoDataFrame:
    """n separate west-to-east lines, 1.1 km apart, each 1 km long, with the given columns."""
    n = n or len(next(iter(values.values())))
    lines = [shapely.LineString([(120.0, 30.0 + 0.01 * i), (120.0104, 30.0 + 0.01 * i)])
             for i in range(n)]
    return gpd.GeoDataFrame(values, geometry=lines, crs=4326)


def _arcs(g) -> dict[int, dict[str, float]]:
    """For each line (by latitude), the speed west->east ('we') and east->west ('ew')."""
    out: dict[int, dict[str, float]] = {}
    tails = g.arc_tails()
    for a in range(g.n_arcs):
        t, h = int(tails[a]), int(g.indices[a])
        i = round((g.node_lat[t] - 30.0) / 0.01)
        key = "we" if g.node_lon[h] > g.node_lon[t] else "ew"
        e = int(g.arc_edge[a])
        out.setdefault(i, {})[key] = round(float(g.edge_length_m[e] / g.weights[a] * 3.6), 6)
    return out


# --- road grades ---------------------------------------------------------------------------------

GRADE_IDS = ["urban-expressway", "urban-arterial", "urban-collector", "urban-local", "estate-road",
             "expressway", "class-1", "class-2", "class-3", "class-4", "substandard", "national",
             "provincial", "county", "township", "village", "special-purpose"]


@pytest.mark.parametrize("grade", list(GRADES), ids=GRADE_IDS)
def test_every_chinese_grade_has_its_norm_speed(grade):
    norms = default_norms()
    norm = norms[f"road.speed_kmh.cn.{grade}"]
    assert norm.standard and norm.status in "VSU" and norm.note  # source, certainty, why
    g = graph_from_lines(_parallel({"道路等级": GRADES[grade]}), class_field="道路等级")
    assert set(g.edge_speed_kmh.tolist()) == {norms.number(f"road.speed_kmh.cn.{grade}")}


def test_urban_grade_speeds_sit_within_cjj37_design_speeds():
    norms = default_norms()
    design = {"快速路": (60, 100), "主干路": (40, 60), "次干路": (30, 50), "支路": (20, 40)}
    for grade, (lo, hi) in design.items():
        assert lo <= norms.number(f"road.speed_kmh.cn.{grade}") <= hi
    assert norms.number("road.speed_kmh.cn.内部道路") < norms.number("road.speed_kmh.cn.支路")


def test_grade_speeds_are_overridable_and_new_grades_can_be_added():
    norms = default_norms().with_overrides([
        Norm("road.speed_kmh.cn.主干路", 45.0, "", "", "", ""),
        Norm("road.speed_kmh.cn.街巷", 12.0, "km/h", "local decision", "", "L")])
    g = graph_from_lines(_parallel({"等级": ["主干道", "街巷"]}), class_field="等级", norms=norms)
    assert sorted(g.edge_speed_kmh.tolist()) == [12.0, 45.0]


def test_osm_classes_still_have_their_speeds():
    speeds = default_norms().group("road.speed_kmh")
    g = graph_from_lines(_parallel({"fclass": ["primary", "residential_link"]}),
                         class_field="fclass")
    assert sorted(g.edge_speed_kmh.tolist()) == sorted(
        [speeds["primary"], speeds["residential"]])


@pytest.mark.bad_input
def test_unknown_grades_are_one_error_with_counts_and_the_known_grades():
    gdf = _parallel({"道路等级": ["主干路"] * 3 + ["小路"] * 5 + ["foo"] * 2})
    with pytest.raises(InputError) as exc:
        graph_from_lines(gdf, class_field="道路等级")
    problems = exc.value.problems
    assert len(problems) == 1, [p.message for p in problems]
    text = str(exc.value)
    assert "'小路' (5 lines)" in text and "'foo' (2 lines)" in text
    assert "内部道路" in text and "县道" in text and "primary" in text  # the known ones


# --- one-way and direction columns ---------------------------------------------------------------

# (column, values, expected directions): 'both', 'along' (west->east only), 'against'
ONEWAY_FORMS = {
    "oneway-yes-no": ("oneway", ["yes", "no", "-1"], ["along", "both", "against"]),
    "oneway-true-false": ("oneway", ["true", "false", "1"], ["along", "both", "along"]),
    "oneway-1-0--1": ("oneway", [1, 0, -1], ["along", "both", "against"]),
    "oneway-T-F": ("oneway", ["T", "F", "T"], ["along", "both", "along"]),
    "oneway-geofabrik-B-F-T": ("oneway", ["B", "F", "T"], ["both", "along", "against"]),
    "oneway-FT-TF-B": ("oneway", ["FT", "TF", "B"], ["along", "against", "both"]),
    "fangxiang-both-along-against": ("方向", ["双向", "正向", "逆向"],
                                     ["both", "along", "against"]),
    "danxing-yes-no": ("单行", ["是", "否", "是"], ["along", "both", "along"]),
    "direction-1-0--1": ("direction", [1, 0, -1], ["along", "both", "against"]),
    "direction-navinfo-0-1-2-3": ("direction", [0, 1, 2, 3], ["both", "both", "along", "against"]),
}
_EXPECT = {"both": {"we", "ew"}, "along": {"we"}, "against": {"ew"}}


@pytest.mark.parametrize("form", list(ONEWAY_FORMS))
def test_oneway_forms_are_detected_and_read(form, tmp_path):
    column, values, expected = ONEWAY_FORMS[form]
    path = tmp_path / "roads.gpkg"
    _parallel({"道路等级": ["支路"] * len(values), column: values}).to_file(path)
    g, src, notes = build_line_graph(RoadSource(path), default_norms())
    assert src.oneway_field == column
    assert any(repr(column) in n and "one-way" in n for n in notes), notes
    arcs = _arcs(g)
    assert [set(arcs[i]) for i in range(len(values))] == [_EXPECT[e] for e in expected]


@pytest.mark.bad_input
def test_unknown_oneway_values_are_listed(tmp_path):
    gdf = _parallel({"道路等级": ["支路"] * 3, "oneway": ["yes", "maybe", "maybe"]})
    with pytest.raises(InputError, match="maybe"):
        graph_from_lines(gdf, class_field="道路等级", oneway_field="oneway")


def test_a_column_named_direction_holding_bearings_is_not_taken_for_one_way(tmp_path):
    path = tmp_path / "roads.gpkg"
    _parallel({"道路等级": ["支路"] * 3, "direction": [45.0, 90.0, 270.0]}).to_file(path)
    g, src, notes = build_line_graph(RoadSource(path), default_norms())
    assert src.oneway_field is None and any("not one-way codes" in n for n in notes)
    assert all(set(a) == {"we", "ew"} for a in _arcs(g).values())
    with pytest.raises(InputError, match="not one-way values"):  # named: its values must read
        build_line_graph(RoadSource(path, oneway_field="direction"), default_norms())


# --- directional speeds --------------------------------------------------------------------------

SPEED_FORMS = {"speed_ab/speed_ba": ("speed_ab", "speed_ba"),
               "FT_speed/TF_speed": ("FT_speed", "TF_speed"),
               "FT_SPEED/TF_SPEED": ("FT_SPEED", "TF_SPEED")}


@pytest.mark.parametrize("form", list(SPEED_FORMS))
def test_directional_speeds_are_used_per_direction(form, tmp_path):
    ab, ba = SPEED_FORMS[form]
    path = tmp_path / "roads.gpkg"
    _parallel({"道路等级": ["主干路"] * 4, ab: [50.0, 40.0, 0.0, np.nan],
               ba: [30.0, 0.0, 35.0, np.nan]}).to_file(path)
    g, _, notes = build_line_graph(RoadSource(path), default_norms())
    assert any(ab in n and ba in n for n in notes), notes
    arcs = _arcs(g)
    main = default_norms().number("road.speed_kmh.cn.主干路")
    assert arcs[0] == pytest.approx({"we": 50.0, "ew": 30.0})
    assert arcs[1] == pytest.approx({"we": 40.0})  # no speed against: one-way along
    assert arcs[2] == pytest.approx({"ew": 35.0})  # no speed along: one-way against
    assert arcs[3] == pytest.approx({"we": main, "ew": main})  # none: the grade's speed


def test_direction_and_directional_speeds_together(tmp_path):
    """A transport model's links: link_type, direction 1/0/-1, speed_ab/speed_ba."""
    path = tmp_path / "links.gpkg"
    _parallel({"link_type": ["primary", "secondary", "tertiary"], "direction": [0, 1, -1],
               "speed_ab": [60.0, 50.0, 40.0], "speed_ba": [55.0, 50.0, 30.0]}).to_file(path)
    g, src, _ = build_line_graph(RoadSource(path), default_norms())
    assert src.class_field == "link_type"
    arcs = _arcs(g)
    assert arcs[0] == pytest.approx({"we": 60.0, "ew": 55.0})
    assert arcs[1] == pytest.approx({"we": 50.0})
    assert arcs[2] == pytest.approx({"ew": 30.0})


def test_centroid_connectors_of_a_transport_model_are_left_out():
    gdf = _parallel({"link_type": ["primary", "centroid_connector", "secondary"]})
    g = graph_from_lines(gdf, class_field="link_type")
    assert sorted(_arcs(g)) == [0, 2] and "centroid_connector" not in g.highway_names


@pytest.mark.bad_input
def test_a_line_open_neither_way_is_an_error():
    gdf = _parallel({"道路等级": ["支路", "支路"], "oneway": ["yes", "no"],
                     "speed_ab": [0.0, 30.0], "speed_ba": [30.0, 30.0]})
    with pytest.raises(InputError, match="open neither way") as exc:
        graph_from_lines(gdf, class_field="道路等级", speed_field=("speed_ab", "speed_ba"),
                         oneway_field="oneway")
    assert [p.row for p in exc.value.problems] == [1]


@pytest.mark.bad_input
def test_a_bad_directional_speed_is_an_error():
    gdf = _parallel({"道路等级": ["支路", "支路"], "speed_ab": ["fast", "30"],
                     "speed_ba": ["-5", "30"]})
    with pytest.raises(InputError) as exc:
        graph_from_lines(gdf, class_field="道路等级", speed_field=("speed_ab", "speed_ba"))
    assert sorted((p.row, p.field) for p in exc.value.problems) == [
        (1, "speed_ab"), (1, "speed_ba")]


# --- through the command line (PostGIS) ----------------------------------------------------------

@pytest.fixture
def env(db, tmp_path, monkeypatch):
    monkeypatch.setenv("EMGIS_DATABASE_URL", db.url)
    monkeypatch.setenv("EMGIS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cli.console, "_width", 300)
    monkeypatch.setattr(cli.err, "_width", 300)
    return db


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _flat(res) -> str:
    return " ".join(res.output.split())


@pytest.mark.postgis
def test_link_type_layer_loads_through_emgis_load_roads(env, tmp_path):
    path = tmp_path / "links.gpkg"
    _parallel({"link_type": ["primary", "secondary"], "direction": [1, 0],
               "speed_ab": [60.0, 50.0], "speed_ba": [0.0, 45.0]}).to_file(path)
    res = run("load", "roads", path)
    assert res.exit_code == 0, res.output
    out = _flat(res)
    assert "'link_type'" in out and "'direction'" in out and "'speed_ab'" in out
    with env.engine.connect() as c:
        rows = c.execute(sa.text("SELECT road_class, speed_kmh, oneway FROM road_edges "
                                 "ORDER BY speed_kmh")).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("secondary", 45.0, True), ("secondary", 50.0, True), ("primary", 60.0, True)]


@pytest.mark.postgis
def test_load_roads_and_load_dash_roads_have_the_same_options(env, tmp_path):
    path = tmp_path / "roads.gpkg"
    _parallel({"kind": ["主干路", "支路"], "v": [np.nan, 33.0], "ow": ["yes", "no"]}).to_file(path)
    for cmd in (["load", "roads"], ["load-roads"]):
        res = run(*cmd, path, "--name", "town", "--class-field", "kind", "--speed-field", "v",
                  "--oneway-field", "ow", "--no-clip", "--crs", "4326", "--encoding", "utf-8")
        assert res.exit_code == 0, (cmd, res.output)
    with env.engine.connect() as c:
        rows = c.execute(sa.text("SELECT speed_kmh, oneway FROM road_edges WHERE network = 'town' "
                                 "ORDER BY speed_kmh")).all()
    main = default_norms().number("road.speed_kmh.cn.主干路")
    assert sorted((float(s), bool(o)) for s, o in rows) == sorted([(33.0, False), (main, True)])


@pytest.mark.postgis
@pytest.mark.bad_input
def test_every_option_a_message_names_is_an_option_of_the_command(env, tmp_path):
    help_text = _flat(run("load", "--help"))
    plain = tmp_path / "plain.gpkg"
    _parallel({"foo": ["a", "b"]}).to_file(plain)
    unknown = tmp_path / "unknown.gpkg"
    _parallel({"道路等级": ["小路", "小路"]}).to_file(unknown)
    for path in (plain, unknown):
        res = run("load", "roads", path)
        assert res.exit_code == 2, res.output
        named = set(re.findall(r"--[a-z][a-z-]+", res.output))
        assert named, res.output
        for opt in named:
            assert opt in help_text, (opt, res.output)
    assert "(5 lines)" not in _flat(res) and "'小路' (2 lines)" in _flat(res)


@pytest.mark.postgis
def test_a_fragment_of_the_study_area_is_warned_about(env, tmp_path):
    area = tmp_path / "county.geojson"
    gpd.GeoDataFrame({"name": ["测试县"]}, geometry=[shapely.box(120.0, 30.0, 120.3, 30.3)],
                     crs=4326).to_file(area)
    path = tmp_path / "roads.gpkg"
    _parallel({"道路等级": ["支路"] * 3}).to_file(path)
    res = run("load", "roads", path)  # no study area yet: no coverage figures
    assert res.exit_code == 0, res.output
    assert "1 km cells" not in _flat(res)
    assert run("init", "--boundary", area).exit_code == 0
    res = run("load", "roads", path)
    assert res.exit_code == 0, res.output
    out = _flat(res)
    assert "1 km cells" in out and "km of road per km²" in out
    assert "fragment" in out


# --- the real counties ---------------------------------------------------------------------------

@pytest.mark.postgis
@pytest.mark.shared_data
@pytest.mark.parametrize(("county", "code"), COUNTIES, ids=[c for c, _ in COUNTIES])
def test_real_county_loads_with_speeds_from_its_grades(env, county, code):
    boundary = shared(f"roads_cn/{county}_{code}_boundary.geojson")
    roads = shared(f"roads_cn/{county}_{code}_roads.gpkg")
    res = run("init", "--boundary", boundary)
    assert res.exit_code == 0, res.output
    res = run("load", "roads", roads)
    assert res.exit_code == 0, res.output
    out = _flat(res)
    assert "'道路等级'" in out and "1 km cells" in out
    norms = default_norms()
    with env.engine.connect() as c:
        rows = c.execute(sa.text("SELECT road_class, speed_kmh, count(*) FROM road_edges "
                                 "GROUP BY 1, 2 ORDER BY 1, 2")).all()
        n_edges = sum(r[2] for r in rows)
    assert {r[0] for r in rows} == {"主干路", "次干路", "支路", "内部道路"}
    for cls, speed, _ in rows:
        assert speed == norms.number(f"road.speed_kmh.cn.{cls}"), (cls, speed)
    m = re.search(r"([\d,]+) nodes, ([\d,]+) edges, ([\d,]+) components", out)
    assert m and int(m[2].replace(",", "")) == n_edges
    cover = re.search(r"(\d+) ?% of the study area's 1 km cells", out)
    assert cover and int(cover[1]) >= 50, out
    print(f"{county} {code}: {m[1]} nodes, {m[2]} edges, {m[3]} components, "
          f"{cover[1]} % of 1 km cells within 1 km of a road")


@pytest.mark.postgis
@pytest.mark.bad_input
def test_degrees_under_a_projected_label_are_caught(env, tmp_path):
    """The source geodatabases of ../shared/data/roads_cn declared UTM zone 49N and held
    degrees: read as metres they would land off the coast of Africa."""
    path = tmp_path / "utm_label.gpkg"
    _parallel({"道路等级": ["主干路", "支路"]}).set_crs(32649, allow_override=True).to_file(path)
    res = run("load", "roads", path)
    assert res.exit_code == 2, res.output
    out = _flat(res)
    assert "degrees" in out and "--crs 4326" in out
    res = run("load", "roads", path, "--crs", "4326")
    assert res.exit_code == 0, res.output
    gcj = tmp_path / "roads_gcj02.gpkg"
    _parallel({"道路等级": ["主干路", "支路"]}).to_file(gcj)
    res = run("load", "roads", gcj)
    assert res.exit_code == 0, res.output
    assert "GCJ-02" in _flat(res) and "--crs gcj02" in _flat(res)
