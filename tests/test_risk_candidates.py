"""Candidate risk points from OSM extracts: found, scored, and coloured to grids and areas."""

from __future__ import annotations

import gzip
import socket

import geopandas as gpd
import numpy as np
import pytest
import shapely

from emgis.risk.aggregate import aggregate, make_grid
from emgis.risk.candidates import DEFAULT_RULES, CandidateRule, find_candidates
from emgis.risk.levels import LEVEL_KEYS

TINY_OSM = ("""<?xml version='1.0' encoding='UTF-8'?>
<osm version="0.6" generator="hand">
  <node id="1" lat="31.000" lon="119.900"><tag k="amenity" v="fuel"/>"""
            """<tag k="name" v="中石化长兴站"/></node>
  <node id="2" lat="31.001" lon="119.901"><tag k="man_made" v="storage_tank"/></node>
  <node id="3" lat="31.002" lon="119.902"><tag k="hazard" v="explosion"/></node>
  <node id="4" lat="31.003" lon="119.903"><tag k="amenity" v="bench"/></node>
  <node id="5" lat="31.003" lon="119.904"><tag k="shop" v="supermarket"/></node>
  <node id="10" lat="31.010" lon="119.910"/>
  <node id="11" lat="31.010" lon="119.912"/>
  <node id="12" lat="31.012" lon="119.912"/>
  <node id="13" lat="31.012" lon="119.910"/>
  <node id="20" lat="31.020" lon="119.920"/>
  <node id="21" lat="31.020" lon="119.924"/>
  <node id="22" lat="31.024" lon="119.924"/>
  <node id="23" lat="31.024" lon="119.920"/>
  <node id="30" lat="31.030" lon="119.930"/>
  <node id="31" lat="31.030" lon="119.936"/>
  <node id="32" lat="31.036" lon="119.936"/>
  <node id="33" lat="31.036" lon="119.930"/>
  <way id="100"><nd ref="10"/><nd ref="11"/><nd ref="12"/><nd ref="13"/><nd ref="10"/>
    <tag k="amenity" v="school"/><tag k="name" v="实验小学"/></way>
  <way id="101"><nd ref="20"/><nd ref="21"/><nd ref="22"/><nd ref="23"/><nd ref="20"/>
    <tag k="landuse" v="industrial"/><tag k="industrial" v="chemical"/></way>
  <way id="102"><nd ref="30"/><nd ref="31"/><nd ref="32"/><nd ref="33"/><nd ref="30"/></way>
  <relation id="200"><member type="way" ref="102" role="outer"/>
    <tag k="type" v="multipolygon"/><tag k="landuse" v="industrial"/></relation>
</osm>
""")


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a network connection."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(params=[".osm", ".osm.gz"])
def tiny_osm(request, tmp_path):
    path = tmp_path / f"tiny{request.param}"
    data = TINY_OSM.encode()
    path.write_bytes(gzip.compress(data) if request.param.endswith(".gz") else data)
    return path


def test_tiny_extract_by_hand(tiny_osm, no_network):
    c = find_candidates(tiny_osm).set_index("ext_id")
    assert sorted(c.index) == ["osm:n1", "osm:n2", "osm:n3", "osm:n5", "osm:r200", "osm:w100",
                               "osm:w101"]
    expect = {  # kind, category, method, score, level — from the documented default table
        "osm:n1": ("fuel_station", "fuel_station", "LEC", 270, "orange"),
        "osm:n2": ("storage_tank", "hazchem", "LEC", 720, "red"),
        "osm:n3": ("hazard_tagged", "hazchem", "LEC", 240, "orange"),
        "osm:n5": ("supermarket", "crowded", "matrix", 3, "blue"),
        "osm:w100": ("school", "crowded", "matrix", 8, "yellow"),
        "osm:w101": ("hazchem_plant", "hazchem", "LEC", 720, "red"),  # chemical wins over land
        "osm:r200": ("industrial_land", "industrial", "LEC", 90, "yellow"),
    }
    for ext_id, (kind, cat, method, score, level) in expect.items():
        row = c.loc[ext_id]
        assert (row["kind"], row["category"], row["method"], row["score"], row["level"]) == (
            kind, cat, method, score, level), ext_id
    assert c.loc["osm:n1", "name"] == "中石化长兴站" and c.loc["osm:w100", "kind_zh"] == "学校"
    assert c.loc["osm:w101", "matched_tag"] == "industrial=chemical"
    assert c.loc["osm:w100", "geometry"].equals_exact(shapely.Point(119.911, 31.011), 1e-9)
    assert c.loc["osm:r200", "geometry"].equals_exact(shapely.Point(119.933, 31.033), 1e-9)
    assert c.loc["osm:r200", "osm_type"] == "relation" and c.loc["osm:r200", "osm_id"] == 200
    assert c.crs.to_epsg() == 4326
    assert c.loc["osm:n1", "inputs"] == {"L": 3, "E": 6, "C": 15}


def test_rules_can_be_replaced_and_are_checked(tiny_osm):
    only_fuel = [CandidateRule("fuel_station", "加油站", "fuel_station", (("amenity", ("fuel",)),),
                               "matrix", {"L": 3, "S": 4})]
    c = find_candidates(tiny_osm, rules=only_fuel)
    assert list(c["ext_id"]) == ["osm:n1"] and c["score"].iloc[0] == 12
    with pytest.raises(ValueError, match="must give exactly L, E, C"):
        CandidateRule("x", "x", "other", (("a", None),), "LEC", {"L": 1})
    with pytest.raises(ValueError, match="category='depot'"):
        CandidateRule("x", "x", "depot", (("a", None),), "LEC", {"L": 1, "E": 1, "C": 1})


def test_missing_or_unknown_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_candidates(tmp_path / "none.osm.pbf")
    bad = tmp_path / "x.geojson"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="unknown suffix"):
        find_candidates(bad)


def _colour_everywhere(c: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    boundary = shapely.box(*c.total_bounds).buffer(0.005)
    fine = make_grid(boundary, 500)
    coarse = make_grid(boundary, 5000, prefix="A")  # stands in for admin units
    return aggregate(c, fine), aggregate(c, coarse, code_col="code")


def _check_coloured(c: gpd.GeoDataFrame, out: gpd.GeoDataFrame) -> None:
    assert out.attrs["points_outside"] == 0
    assert out["n_points"].sum() == len(c)
    for lv in LEVEL_KEYS:
        assert out[f"n_{lv}"].sum() == (c["level"] == lv).sum()
    worst = c["level"].map({"red": 4, "orange": 3, "yellow": 2, "blue": 1}).max()
    assert out["level"].dropna().map({"red": 4, "orange": 3, "yellow": 2, "blue": 1}).max() == worst
    assert out.loc[out["n_points"] == 0, "level"].isna().all()
    assert out["risk_rank"].min() == 1


@pytest.mark.shared_data
def test_liechtenstein_candidates_scored_and_coloured(shared_data, no_network):
    c = find_candidates(shared_data("osm/liechtenstein_osm2pgsql_2013.osm.pbf"))
    kinds = c["kind"].value_counts()
    # counts checked by hand against the tag tallies of this extract (nodes + ways)
    assert kinds["fuel_station"] == 16 and kinds["industrial_land"] == 14
    assert {"school", "worship", "hospital", "venue", "supermarket"} <= set(kinds.index)
    assert c["ext_id"].is_unique and c["level"].isin(LEVEL_KEYS).all()
    assert (c.loc[c["kind"] == "fuel_station", "score"] == 270).all()
    bounds = c.total_bounds
    assert bounds[0] > 9.47 and bounds[2] < 9.64 and bounds[1] > 47.04 and bounds[3] < 47.28
    fine, coarse = _colour_everywhere(c)
    _check_coloured(c, fine)
    _check_coloured(c, coarse)
    assert len(fine) > len(coarse) > 4


@pytest.mark.shared_data
def test_kyoto_candidates_scored_and_coloured(shared_data, no_network):
    c = find_candidates(shared_data("osm/kyoto_jp_sumo_saga.osm.gz"))
    kinds = c["kind"].value_counts()
    assert kinds["fuel_station"] == 11 and kinds["hospital"] == 6
    assert kinds["industrial_land"] == 23
    assert set(c["category"]) <= {r.category for r in DEFAULT_RULES}
    assert np.isfinite(c["score"]).all()
    fine, coarse = _colour_everywhere(c)
    _check_coloured(c, fine)
    _check_coloured(c, coarse)
