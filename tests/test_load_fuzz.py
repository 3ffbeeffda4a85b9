"""The loader fuzz test: whatever file `emgis load` is given, it reads it or raises InputError.

Hypothesis makes the files: random bytes under every suffix, a valid CSV in random encodings and
line endings, random cells in every column of each layer's CSV template, random GeoJSON
geometries. `prepare_layer` must return (its problems then say what is wrong) or raise the
project's InputError — never a traceback from pandas, GDAL or GEOS. A few examples go through
`load_layer` on the demo county: a load that fails changes nothing.

Bounded: derandomized, no example database, a fixed number of examples per property (the whole
module takes about a minute on two cores).
"""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from conftest import table_checksums
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emgis.layers.load.loaders import prepare_layer
from emgis.layers.load.readers import TABLE_SUFFIXES, VECTOR_SUFFIXES
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.layers.problems import InputError
from emgis.layers.schema import LAYERS

pytestmark = pytest.mark.bad_input


def _settings(n: int):
    return settings(max_examples=n, derandomize=True, database=None, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture,
                                           HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def _judge(layer: str, path, **kw):
    """prepare_layer returns or raises InputError; anything else fails the test."""
    try:
        prep = prepare_layer(layer, path, **kw)
    except InputError:
        return None
    for p in prep.problems:
        str(p)  # every problem can be shown
    return prep


# --- random bytes under each suffix ----------------------------------------------------------

MAGIC = [b"", b"PK\x03\x04", b"PK\x05\x06" + bytes(18), b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
         b"SQLite format 3\x00", b"\x00\x00\x27\x0a", b"fgb\x03fgb\x00", b"{", b'{"type":',
         b"<?xml version='1.0'?><kml>", b"<html>", b"\xef\xbb\xbf", b"\xff\xfe", b"%PDF"]
SUFFIXES = sorted(TABLE_SUFFIXES | VECTOR_SUFFIXES)


@_settings(160)
@given(suffix=st.sampled_from(SUFFIXES), magic=st.sampled_from(MAGIC),
       body=st.binary(max_size=600))
def test_random_bytes_under_each_suffix(workdir, suffix, magic, body):
    path = workdir / f"random{suffix}"
    path.write_bytes(magic + body)
    _judge("shelters", path)


# --- a valid CSV in random encodings and line endings ----------------------------------------

HEADER = ("编号,名称,行政级别,设计类别,时长类别,灾种,空间类型,有效面积(平方米),容纳人数,状态,"
          "在避人数,地址,所属区划代码,经度,纬度")
ROWS = ["S1,城关镇中心小学操场,乡镇级,紧急,紧急,地震;洪涝,室外,\"3,200\",,开放,0,城关镇,"
        "339901100000,119.8512,31.0023",
        "S2,县体育中心,县级,固定,短期,地震,室内,12000,5000,开放,120,县城,339901001000,119.8701,"
        "31.0105"]


@_settings(60)
@given(encoding=st.sampled_from(["utf-8", "utf-8-sig", "gbk", "big5", "utf-16", "latin-1"]),
       option=st.sampled_from(["none", "right", "wrong"]),
       ending=st.sampled_from(["\n", "\r\n", "\r"]), mixed=st.booleans(),
       blank_lines=st.integers(0, 3))
def test_valid_csv_in_any_encoding_and_line_ending(workdir, encoding, option, ending, mixed,
                                                   blank_lines):
    lines = [HEADER, *ROWS] + [""] * blank_lines
    text = ending.join(lines) if not mixed else lines[0] + "\r\n" + "\r".join(lines[1:])
    data = text.encode(encoding, errors="replace")
    path = workdir / "enc.csv"
    path.write_bytes(data)
    given_enc = {"none": None, "right": encoding,
                 "wrong": "utf-16" if encoding != "utf-16" else "gbk"}[option]
    prep = _judge("shelters", path, encoding=given_enc)
    representable = encoding in ("utf-8", "utf-8-sig", "gbk", "utf-16")
    if representable and option != "wrong" and prep is not None:
        assert not prep.problems.errors, "\n".join(map(str, prep.problems.errors))
        assert list(prep.frame["ext_id"]) == ["S1", "S2"]
        assert prep.frame["name"].iloc[1] == "县体育中心"


# --- random cells in every column of each layer's CSV template -------------------------------

NASTY = ["", " ", "nan", "NaN", "inf", "-inf", "1e309", "-1", "-0", "0", "1e400", "9" * 40,
         "1,000", "1，000", "\\N", '{}"\\', "=1+1", "+1", "@SUM(A1)", "\t=1", "\r", "\n", "\x00",
         "\x1b[31m", "\u202e", "\ud800", "3.39901E+11", "NULL", "None", "😀" * 5, "'", '"',
         "a,b", "\ufeff", "2025-02-30", "0000-00-00", "99999999999999999999.5", "-0.0",
         "119.8512", "31.0023", "181", "-91", "1e-320"]
CELL = st.one_of(st.sampled_from(NASTY), st.text(max_size=12),
                 st.floats(allow_nan=True, allow_infinity=True).map(repr),
                 st.integers(min_value=-(10 ** 30), max_value=10 ** 30).map(str))


def _base_value(f) -> str:
    if f.kind in ("enum", "enum_list"):
        return next(iter(f.terms))
    return {"text": "x", "ref": "R1", "int": "1", "float": "1.5", "date": "2025-06-30",
            "code": "339901100000"}[f.kind]


def _template(layer: str) -> tuple[list[str], list[str]]:
    spec = LAYERS[layer]
    header = [f.name for f in spec.fields] + ["lon", "lat"]
    row = [_base_value(f) for f in spec.fields] + ["119.85", "31.0"]
    return header, row


def _csv_bytes(header, rows, encoding="utf-8", ending="\n") -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=ending)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode(encoding, errors="surrogatepass")


CSV_LAYERS = sorted(LAYERS)


@_settings(150)
@given(layer=st.sampled_from(CSV_LAYERS), data=st.data())
def test_random_cells_in_each_layer_template(workdir, layer, data):
    header, row = _template(layer)
    rows = []
    for _ in range(data.draw(st.integers(1, 3), label="rows")):
        r = list(row)
        for i in data.draw(st.sets(st.integers(0, len(r) - 1), min_size=1, max_size=4),
                           label="columns"):
            r[i] = data.draw(CELL, label=header[i])
        rows.append(r)
    path = workdir / f"{layer}.csv"
    path.write_bytes(_csv_bytes(header, rows))
    _judge(layer, path)


# --- random GeoJSON geometries ---------------------------------------------------------------

COORD = st.one_of(st.floats(119.7, 120.0), st.floats(30.9, 31.1),
                  st.floats(allow_nan=True, allow_infinity=True),
                  st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 40487500.0]))
POSITION = st.lists(COORD, min_size=0, max_size=5)
NEAR = st.tuples(st.floats(119.7, 120.0), st.floats(30.9, 31.1)).map(list)
RING = st.one_of(st.lists(st.one_of(POSITION, NEAR), max_size=8),
                 st.integers(3, 3000).map(lambda n: [
                     [119.8 + 0.05 * math.cos(2 * math.pi * k / n),
                      31.0 + 0.05 * math.sin(2 * math.pi * k / n)] for k in range(n)]
                     + [[119.85, 31.0]]))


def _geometry(kind: str, data) -> object:
    if kind == "Point":
        return {"type": kind, "coordinates": data.draw(st.one_of(NEAR, POSITION))}
    if kind in ("LineString", "MultiPoint"):
        return {"type": kind, "coordinates": data.draw(RING)}
    if kind == "Polygon":
        return {"type": kind, "coordinates": data.draw(st.lists(RING, max_size=2))}
    if kind == "MultiPolygon":
        return {"type": kind, "coordinates": [data.draw(st.lists(RING, max_size=2))]}
    if kind == "GeometryCollection":
        return {"type": kind, "geometries": [_geometry("Point", data), _geometry("Polygon", data)]}
    if kind == "wrong-type":
        return {"type": "Circle", "coordinates": [119.8, 31.0], "radius": 3}
    if kind == "not-an-object":
        return data.draw(st.sampled_from(["POINT (119.8 31)", 7, [119.8, 31.0], {}]))
    return None


GEOJSON_LAYERS = ["shelters", "hazard_zones", "admin_units", "incidents", "risk_points"]


@_settings(120)
@given(layer=st.sampled_from(GEOJSON_LAYERS),
       kinds=st.lists(st.sampled_from(["Point", "LineString", "MultiPoint", "Polygon",
                                       "MultiPolygon", "GeometryCollection", "wrong-type",
                                       "not-an-object", "null"]), min_size=1, max_size=3),
       data=st.data())
def test_random_geojson_geometries(workdir, layer, kinds, data):
    header, row = _template(layer)
    props = dict(zip(header[:-2], row[:-2], strict=True))
    features = []
    for n, kind in enumerate(kinds):
        geom = _geometry(kind, data)
        features.append({"type": "Feature", "properties": {**props, "ext_id": f"F{n}"},
                         "geometry": geom})
    path = workdir / f"{layer}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    _judge(layer, path)


# --- a failed load changes nothing -----------------------------------------------------------

def _checksums(engine, table: str) -> dict[str, tuple]:
    return table_checksums(engine, (table, "loads", "audit_log"))


@_settings(6)
@given(data=st.data())
def test_failed_load_changes_nothing(demo_db, workdir, data):
    layer = data.draw(st.sampled_from(["shelters", "depots", "hazards"]), label="layer")
    header, row = _template(layer)
    status = header.index("status") if "status" in header else header.index("state")
    bad = list(row)
    bad[status] = "拆除了"  # never a known value: the load must fail
    rows = [bad]
    for n in range(data.draw(st.integers(0, 2), label="more rows")):
        r = list(row)
        r[0] = f"FUZZ{n}"
        i = data.draw(st.integers(1, len(r) - 1), label="column")
        r[i] = data.draw(CELL, label=header[i])
        rows.append(r)
    path = workdir / f"db_{layer}.csv"
    path.write_bytes(_csv_bytes(header, rows))
    before = _checksums(demo_db.engine, LAYERS[layer].table)
    with pytest.raises(InputError):
        load_layer(demo_db.engine, layer, path, LoadOptions(mode=data.draw(
            st.sampled_from(["append", "replace", "upsert"]), label="mode")))
    assert _checksums(demo_db.engine, LAYERS[layer].table) == before


# --- what longer runs of the properties above found, kept as fixed cases ----------------------

def _feature(geometry, n=0):
    header, row = _template("shelters")
    props = {**dict(zip(header[:-2], row[:-2], strict=True)), "ext_id": f"F{n}"}
    return {"type": "Feature", "properties": props, "geometry": geometry}


TRIANGLE = [[119.85, 31.0], [119.775, 31.0433], [119.775, 30.9567], [119.85, 31.0]]
FOUND = {
    "largest-float-longitude": ("csv", "1.7976931348623157e+308"),
    "polygon-with-an-empty-hole": ("geojson", [_feature({"type": "Polygon",
                                                         "coordinates": [TRIANGLE, []]})]),
    "area-with-an-empty-hole": ("geojson", [_feature({"type": "Polygon",
                                                      "coordinates": [TRIANGLE, []]})]),
    "date-nan": ("csv", "nan"),
    "date-year-minus-one": ("csv", "-1"),
    "collection-of-a-point-and-an-empty-polygon": ("geojson", [_feature({
        "type": "GeometryCollection", "geometries": [
            {"type": "Point", "coordinates": [120.0, 31.0]},
            {"type": "Polygon", "coordinates": []}]})]),
}


@pytest.mark.parametrize("case", list(FOUND), ids=list(FOUND))
def test_found_by_longer_fuzzing(workdir, case):
    kind, content = FOUND[case]
    layer = {"area-with-an-empty-hole": "hazard_zones", "date-nan": "hazards",
             "date-year-minus-one": "hazards"}.get(case, "shelters")
    if kind == "csv":
        header, row = _template(layer)
        row[header.index("lon" if layer == "shelters" else "deadline")] = content
        path = workdir / "found.csv"
        path.write_bytes(_csv_bytes(header, [row]))
    else:
        path = workdir / "found.geojson"
        header, row = _template(layer)
        props = dict(zip(header[:-2], row[:-2], strict=True))
        features = [{**f, "properties": {**props, "ext_id": f"F{n}"}}
                    for n, f in enumerate(content)]
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    _judge(layer, path)
