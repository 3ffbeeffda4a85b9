"""Values in layer files: stored exactly, or refused naming the row, the field and its range.

Covers issue #14 (values side and plausibility): coordinates with Z/M, NaN or infinities;
numbers that are not finite, too large for their column or outside the field's range; number
and date formats people type (thousands separators, full-width digits, units, Chinese dates);
text that COPY's format treats specially, array elements with braces and quotes, NUL and lone
surrogates; and plausibility warnings (dates far in the future or past, deadlines before
discovery, places at (0, 0), absurd polygons) that stop a load until accepted.
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pytest
import shapely
import sqlalchemy as sa
from conftest import table_checksums

from emgis.layers.load.loaders import prepare_layer
from emgis.layers.load.study_area import read_boundary, save_study_area
from emgis.layers.load.write import LoadOptions, load_layer
from emgis.layers.problems import InputError
from emgis.layers.schema import LAYERS

SHELTER_HEADER = "id,name,duration_class,status,capacity,effective_area_m2,occupancy,lon,lat"
SHELTER_ROW = "S1,学校,紧急,开放,100,,0,119.85,31.0"
TEAM_HEADER = "id,name,team_type,specialities,personnel,vehicles,status,lon,lat"
HAZARD_HEADER = "id,title,state,responsible,deadline,discovered_on,lon,lat"


def _csv(tmp_path, lines, name="f.csv"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _geojson(tmp_path, features, name="f.geojson", raw: str | None = None):
    p = tmp_path / name
    if raw is not None:
        p.write_text(raw, encoding="utf-8")
        return p
    fc = {"type": "FeatureCollection",
          "features": [{"type": "Feature", "properties": props, "geometry": geom}
                       for props, geom in features]}
    p.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    return p


def _problems(layer, path, **kw):
    prep = prepare_layer(layer, path, **kw)
    return prep, [str(x) for x in prep.problems.items]


def _snapshot(engine):
    return table_checksums(engine)


def _rejected(db, layer, path, *fragments, **kw):
    before = _snapshot(db.engine)
    with pytest.raises(InputError) as info:
        load_layer(db.engine, layer, path, LoadOptions(**kw))
    text = str(info.value)
    for frag in fragments:
        assert frag in text, f"{frag!r} not in:\n{text}"
    assert "Fix:" in text and "Traceback" not in text
    assert _snapshot(db.engine) == before, "a failed load changed the database"
    return info.value


def _county(db, tmp_path):
    boundary = gpd.GeoDataFrame({"code": ["339901"], "name": ["示范县"]},
                                geometry=[shapely.box(119.7, 30.9, 120.0, 31.1)], crs=4326)
    bpath = tmp_path / "county.geojson"
    boundary.to_file(bpath)
    save_study_area(db.engine, read_boundary(bpath, county_code="339901"), boundary_file=str(bpath))


# --- geometry: Z, M, NaN, infinities, empty -------------------------------------------------------

SHELTER_PROPS = {"id": "S1", "name": "学校", "duration_class": "紧急", "status": "开放",
                 "capacity": 100}


@pytest.mark.bad_input
@pytest.mark.parametrize("geom", [
    {"type": "Point", "coordinates": [119.85, 31.0, 12.5]},
    {"type": "Polygon", "coordinates": [[[119.85, 31.0, 5], [119.851, 31.0, 5],
                                         [119.851, 31.001, 5], [119.85, 31.0, 5]]]},
], ids=["geojson-point-with-z", "geojson-polygon-with-z-on-point-layer"])
def test_z_coordinates_load_in_2d_with_a_note(db, tmp_path, geom):
    res = load_layer(db.engine, "shelters", _geojson(tmp_path, [(SHELTER_PROPS, geom)]))
    assert res.rows == 1
    assert any("height (Z)" in n for n in res.notes), res.notes
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT ST_NDims(geom) FROM shelters")).scalar() == 2


@pytest.mark.bad_input
def test_m_coordinates_load_in_2d_with_a_note(db, tmp_path, monkeypatch):
    # pyogrio cannot write measured geometries, so the reader hands one over as GDAL would
    import emgis.layers.load.loaders as loaders

    real = loaders.read_input

    def read_input(path, problems, **kw):
        raw = real(path, problems, **kw)
        raw.frame = raw.frame.set_geometry(gpd.GeoSeries(
            [shapely.from_wkt("POINT ZM (119.85 31.0 5 7)")], crs=raw.frame.crs))
        return raw

    monkeypatch.setattr(loaders, "read_input", read_input)
    path = _geojson(tmp_path, [(SHELTER_PROPS, {"type": "Point", "coordinates": [119.8, 31.0]})])
    res = load_layer(db.engine, "shelters", path)
    assert any("measure (M)" in n for n in res.notes), res.notes
    with db.engine.connect() as c:
        assert c.execute(sa.text("SELECT ST_NDims(geom) FROM shelters")).scalar() == 2


_BAD_COORDS = '{"type": "Point", "coordinates": [%s, %s]}'


@pytest.mark.bad_input
# GDAL warns of NaN and empty coordinates as it reads them; the load goes on (as it does outside
# the tests, where warnings are not errors)
@pytest.mark.filterwarnings("ignore::RuntimeWarning",
                            "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("geometry,fragment", [
    (_BAD_COORDS % ("NaN", "31.0"), "not a number"),
    (_BAD_COORDS % ("119.85", "NaN"), "not a number"),
    (_BAD_COORDS % ("Infinity", "31.0"), "infinite"),
    (_BAD_COORDS % ("119.85", "-Infinity"), "infinite"),
    (_BAD_COORDS % ("1e308", "31.0"), "too large"),
    ('{"type": "Polygon", "coordinates": [[[119.8, 31.0], [NaN, 31.0], [119.9, 31.1], '
     '[119.8, 31.0]]]}', "not a number"),
    ('{"type": "Point", "coordinates": []}', "missing or empty"),
    ('{"type": "MultiPoint", "coordinates": []}', "missing or empty"),
], ids=["geojson-lon-nan", "geojson-lat-nan", "geojson-lon-inf", "geojson-lat-minus-inf",
        "geojson-lon-1e308", "geojson-polygon-nan-vertex", "geojson-empty-point",
        "geojson-empty-multipoint"])
def test_non_finite_or_empty_coordinates_are_a_problem_per_feature(tmp_path, geometry, fragment):
    good = '{"type": "Point", "coordinates": [119.85, 31.0]}'
    raw = ('{"type": "FeatureCollection", "features": ['
           '{"type": "Feature", "properties": {"id": "S1", "name": "a", "capacity": 1}, '
           f'"geometry": {good}}}, '
           '{"type": "Feature", "properties": {"id": "S2", "name": "b", "capacity": 1}, '
           f'"geometry": {geometry}}}]}}')
    prep, probs = _problems("shelters", _geojson(tmp_path, [], raw=raw))
    errors = prep.problems.errors
    assert [e.row for e in errors] == [2], probs
    assert fragment in errors[0].message and errors[0].field == "geometry"
    assert "projected" not in " ".join(probs)


@pytest.mark.bad_input
@pytest.mark.parametrize("lon,lat,fragment", [
    ("nan", "31.0", "not a number"),
    ("NaN", "31.0", "not a number"),
    ("119.85", "nan", "not a number"),
    ("inf", "31.0", "infinite"),
    ("119.85", "-Infinity", "infinite"),
    ("1e400", "31.0", "infinite"),
], ids=["csv-lon-nan", "csv-lon-NaN", "csv-lat-nan", "csv-lon-inf", "csv-lat-minus-infinity",
        "csv-lon-overflow"])
def test_csv_coordinates_that_are_not_finite_say_so(tmp_path, lon, lat, fragment):
    path = _csv(tmp_path, [SHELTER_HEADER, f"S1,学校,紧急,开放,100,,0,{lon},{lat}"])
    prep, probs = _problems("shelters", path)
    assert len(prep.problems.errors) == 1, probs
    e = prep.problems.errors[0]
    assert e.row == 2 and fragment in e.message and "projected" not in e.message, probs
    assert e.field in ("lon", "lat")


# --- numbers: finite, in the column's and the field's range ---------------------------------------

def test_every_numeric_field_has_a_range_within_its_column():
    import emgis.layers.models as models
    from emgis.layers.schema import column_range

    tables = {m.__tablename__: m.__table__ for m in models.Base.__subclasses__()
              if hasattr(m, "__tablename__")}
    for spec in LAYERS.values():
        for f in spec.fields:
            if f.kind not in ("int", "float"):
                continue
            lo, hi = f.range
            assert lo is not None and hi is not None, f"{spec.name}.{f.name} has no range"
            hard_lo, hard_hi = column_range(f.column_type)
            assert hard_lo <= lo <= hi <= hard_hi
            if f.column_type != "jsonb":  # risk factors are kept in the inputs document
                col = tables[spec.table].columns[f.name]
                assert col.type.compile().lower() in {
                    "int4": ("integer",), "float8": ("float", "double precision"),
                }[f.column_type], f"{spec.name}.{f.name}: {col.type} is not {f.column_type}"


def test_every_text_field_fits_its_column():
    import emgis.layers.models as models

    tables = {m.__tablename__: m.__table__ for m in models.Base.__subclasses__()
              if hasattr(m, "__tablename__")}
    for spec in LAYERS.values():
        for f in spec.fields:
            col = tables[spec.table].columns.get(f.name)
            if f.kind != "text" or col is None:
                continue
            length = getattr(col.type, "length", None)
            assert f.max_length == length, f"{spec.name}.{f.name}: column {col.type}"


@pytest.mark.bad_input
@pytest.mark.parametrize("value", ["城镇中心区", "1111"], ids=["urban-rural-words", "four-digits"])
def test_text_longer_than_its_column_is_refused(db, tmp_path, value):
    path = _csv(tmp_path, ["code,name,level,urban_rural_class,lon,lat",
                           f"339901001001,村,村级,{value},119.85,31.0"])
    _rejected(db, "admin_units", path, "urban_rural_class", "at most 3 characters")


def test_column_ranges():
    from emgis.layers.schema import column_range

    assert column_range("int4") == (-2**31, 2**31 - 1)
    assert column_range("int8") == (-2**63, 2**63 - 1)
    assert column_range("numeric(5,2)") == (-999.99, 999.99)
    assert column_range("float8")[1] == pytest.approx(1.7976931348623157e308)


@pytest.mark.bad_input
@pytest.mark.parametrize("layer,column,value,fragments", [
    ("shelters", "capacity", "inf", ("capacity", "not a finite number", "0–2147483647")),
    ("shelters", "capacity", "-inf", ("capacity", "not a finite number")),
    ("shelters", "capacity", "NaN", ("capacity", "not a finite number")),
    ("shelters", "capacity", "99999999999", ("capacity", "outside", "0–2147483647")),
    ("shelters", "capacity", "2147483648", ("capacity", "outside", "0–2147483647")),
    ("shelters", "capacity", "1e400", ("capacity", "too large", "0–2147483647")),
    ("shelters", "occupancy", "-1", ("occupancy", "outside", "0–2147483647")),
    ("shelters", "effective_area_m2", "0", ("effective_area_m2", "outside")),
    ("shelters", "effective_area_m2", "1e309", ("effective_area_m2", "too large")),
    ("shelters", "effective_area_m2", "infinity", ("effective_area_m2", "not a finite number")),
    ("team_bases", "personnel", "3000000000", ("personnel", "outside", "0–2147483647")),
    ("team_bases", "vehicles", "1e12", ("vehicles", "outside")),
    ("depots", "area_m2", "-5", ("area_m2", "outside")),
    ("depot_stock", "quantity", "nan", ("quantity", "not a finite number")),
    ("risk_points", "L", "1e400", ("L", "too large")),
    ("risk_points", "C", "1000", ("C", "outside", "1–100")),
], ids=["capacity-inf", "capacity-minus-inf", "capacity-nan", "capacity-above-int4",
        "capacity-int4-max-plus-one", "capacity-overflow-1e400", "occupancy-negative",
        "effective-area-zero", "effective-area-overflow", "effective-area-infinity",
        "personnel-above-int4", "vehicles-1e12", "depot-area-negative", "stock-quantity-nan",
        "risk-L-overflow", "risk-C-above-range"])
def test_numbers_outside_their_range_are_refused_with_it(tmp_path, layer, column, value,
                                                          fragments):
    rows = {
        "shelters": [SHELTER_HEADER, SHELTER_ROW],
        "team_bases": [TEAM_HEADER, "T1,队,综合,,12,2,待命,119.85,31.0"],
        "depots": ["id,name,level,status,area_m2,lon,lat", "D1,库,县级,启用,100,119.85,31.0"],
        "depot_stock": ["depot_id,item,quantity", "D1,帐篷,10"],
        "risk_points": ["id,name,category,method,L,E,C,lon,lat",
                        "R1,点,危化品,LEC,3,6,15,119.85,31.0"],
    }[layer]
    header = rows[0].split(",")
    cells = rows[1].split(",")
    cells[header.index(column)] = value
    prep, probs = _problems(layer, _csv(tmp_path, [rows[0], ",".join(cells)]))
    errors = [e for e in prep.problems.errors if e.field == column]
    assert len(errors) == 1, probs
    text = str(errors[0])
    for frag in fragments:
        assert frag in text, f"{frag!r} not in {text}"
    assert "fractional" not in text


@pytest.mark.bad_input
def test_too_large_number_never_reaches_postgresql(db, tmp_path):
    path = _csv(tmp_path, [SHELTER_HEADER, SHELTER_ROW.replace(",100,", ",99999999999,")])
    _rejected(db, "shelters", path, "capacity", "0–2147483647")


@pytest.mark.bad_input
def test_zero_effective_area_is_refused_before_the_database(db, tmp_path):
    path = _csv(tmp_path, [SHELTER_HEADER, SHELTER_ROW.replace(",100,,", ",,0,")])
    _rejected(db, "shelters", path, "effective_area_m2", "outside")


@pytest.mark.bad_input
def test_capacity_derived_from_a_huge_area_never_overflows_the_column(db, tmp_path):
    path = _csv(tmp_path, [SHELTER_HEADER, SHELTER_ROW.replace(",100,,", ",,1e12,")])
    _rejected(db, "shelters", path, "effective_area_m2", "capacity", "0–2147483647")


@pytest.mark.parametrize("text,expected", [
    ("1,200", 1200), ("1，200", 1200), ("１２００", 1200), ("-0", 0), ("1e3", 1000),
    ("1.2E3", 1200), ("+15", 15), (" 15 ", 15), ("12.0", 12),
], ids=["thousands-comma", "thousands-fullwidth-comma", "fullwidth-digits", "negative-zero",
        "exponent", "exponent-upper", "plus-sign", "spaces-around", "integral-decimal"])
def test_number_formats_people_type_are_read(tmp_path, text, expected):
    path = _csv(tmp_path, [SHELTER_HEADER,
                           SHELTER_ROW.replace(",100,", f',"{text}",')])
    prep, probs = _problems("shelters", path)
    assert not prep.problems.errors, probs
    got = prep.frame["capacity"].iloc[0]
    assert got == expected and isinstance(got, int)


def test_negative_zero_area_is_stored_as_zero_not_minus_zero(tmp_path):
    path = _csv(tmp_path, ["depot_id,item,quantity", "D1,帐篷,-0.0"])
    prep, probs = _problems("depot_stock", path)
    assert not prep.problems.errors, probs
    q = prep.frame["quantity"].iloc[0]
    assert q == 0 and str(q) == "0.0"


@pytest.mark.bad_input
@pytest.mark.parametrize("text,fragment,fix", [
    ("500人", "has a unit", "500"),
    ("1.2万", "万", "12000"),
    ("3千", "千", "3000"),
    ("1_000", "not a number", "1200"),
    ("0x10", "not a number", "1200"),
    ("1 200", "not a number", "1200"),
    ("1,20", "not a number", "1200"),
    ("١٢٠٠", "not a number", "1200"),
    ("12.5.1", "not a number", "1200"),
    ("True", "not a number", "1200"),
], ids=["unit-ren", "unit-wan", "unit-qian", "underscore-separator", "hexadecimal",
        "space-separator", "bad-thousands-group", "arabic-indic-digits", "two-decimal-points",
        "boolean-word"])
def test_number_formats_that_are_refused_clearly(tmp_path, text, fragment, fix):
    path = _csv(tmp_path, [SHELTER_HEADER, SHELTER_ROW.replace(",100,", f',"{text}",')])
    prep, probs = _problems("shelters", path)
    errors = [e for e in prep.problems.errors if e.field == "capacity"]
    assert len(errors) == 1, probs
    assert fragment in errors[0].message and fix in errors[0].fix, probs


@pytest.mark.bad_input
@pytest.mark.parametrize("value", [True, 1e20, float("inf")],
                         ids=["geojson-boolean-capacity", "geojson-1e20-capacity",
                              "geojson-inf-capacity"])
def test_typed_values_from_vector_files(tmp_path, value):
    props = dict(SHELTER_PROPS, capacity=value)
    p = tmp_path / "s.geojson"
    p.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": props,
         "geometry": {"type": "Point", "coordinates": [119.85, 31.0]}}]}))
    prep, probs = _problems("shelters", p)
    assert [e.field for e in prep.problems.errors] == ["capacity"], probs


def test_list_properties_and_full_width_codes_from_vector_files(tmp_path):
    props = dict(SHELTER_PROPS, hazard_types=["地震", "洪涝"], unit_code="３３９９０１１０００００")
    path = _geojson(tmp_path, [(props, {"type": "Point", "coordinates": [119.85, 31.0]})])
    prep, probs = _problems("shelters", path)
    assert not prep.problems.errors, probs
    assert prep.frame["hazard_types"].iloc[0] == ["earthquake", "flood"]
    assert prep.frame["unit_code"].iloc[0] == "339901100000"


# --- dates ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2025-06-30", "2025/6/30", "2025.6.30", "20250630", "2025年6月30日", "2025年06月30号",
    "２０２５－０６－３０", "2025-06-30 00:00:00", "2025-06-30T08:00:00+08:00", "2025/06/30 14:05",
], ids=["iso", "slashes", "dots", "compact", "chinese", "chinese-hao", "fullwidth",
        "xlsx-datetime", "iso-with-zone", "slashes-with-time"])
def test_dates_in_common_chinese_formats_are_read(tmp_path, text):
    path = _csv(tmp_path, [HAZARD_HEADER, f"H1,护栏缺失,整改,张三,{text},2025-01-02,119.85,31.0"])
    prep, probs = _problems("hazards", path)
    assert not prep.problems.errors, probs
    assert prep.frame["deadline"].iloc[0] == dt.date(2025, 6, 30)


@pytest.mark.bad_input
@pytest.mark.parametrize("text,fragment", [
    ("-2025-01-01", "not a date"),
    ("2025", "no month and day"),
    ("2025年6月", "no day"),
    ("45838", "spreadsheet serial"),
    ("03/04/2025", "day and month"),
    ("10000-01-01", "not a date"),
    ("二〇二五年六月三十日", "not a date"),
    ("2025-02-30", "not a date"),
    ("下个月", "not a date"),
], ids=["negative-year", "year-only", "year-month-only", "excel-serial-number",
        "ambiguous-day-month", "year-10000", "chinese-numeral-date", "february-30",
        "words"])
def test_dates_that_are_refused_clearly(tmp_path, text, fragment):
    path = _csv(tmp_path, [HAZARD_HEADER, f"H1,护栏缺失,整改,张三,{text},2025-01-02,119.85,31.0"])
    prep, probs = _problems("hazards", path)
    errors = [e for e in prep.problems.errors if e.field == "deadline"]
    assert len(errors) == 1, probs
    assert fragment in errors[0].message and "YYYY-MM-DD" in errors[0].fix, probs


@pytest.mark.bad_input
def test_null_date_from_a_geopackage_is_empty_not_an_error(tmp_path):
    gdf = gpd.GeoDataFrame({"id": ["H1"], "title": ["t"], "state": ["整改"],
                            "responsible": ["张三"],
                            "deadline": [None], "discovered_on": [dt.date(2025, 1, 2)]},
                           geometry=[shapely.Point(119.85, 31.0)], crs=4326)
    gdf["deadline"] = gdf["deadline"].astype("datetime64[ms]")
    path = tmp_path / "h.gpkg"
    gdf.to_file(path)
    prep, probs = _problems("hazards", path)
    assert not prep.problems.errors, probs
    assert prep.frame["deadline"].iloc[0] is None


# --- text: COPY specials, arrays, NUL, lone surrogates -------------------------------------------

SPECIAL_TEXT = [
    "\\N", "\\.", "a\\b", "\\", "\\\\N", 'say "hi"', '"', "a,b", "tab\there", "line\nbreak",
    "cr\rhere", "crlf\r\nx", "  leading and trailing  ", "NULL", "null", "", "😀 emoji 𠀀",
    "café ﬁ", "\u200b zero width", "'; DROP TABLE shelters; --",
]


def test_copy_special_text_round_trips_exactly(db, tmp_path):
    feats = [({"id": f"S{i}", "name": f"n{i}", "address": text, "duration_class": "紧急",
               "status": "开放", "capacity": 1},
              {"type": "Point", "coordinates": [119.85 + i * 1e-4, 31.0]})
             for i, text in enumerate(SPECIAL_TEXT)]
    # names too (required text), where an empty value cannot be tested
    for i, (props, _) in enumerate(feats):
        if SPECIAL_TEXT[i].strip():
            props["name"] = SPECIAL_TEXT[i]
    load_layer(db.engine, "shelters", _geojson(tmp_path, feats))
    with db.engine.connect() as c:
        got = dict((r[0], (r[1], r[2])) for r in c.execute(
            sa.text("SELECT ext_id, name, address FROM shelters")))
    for i, text in enumerate(SPECIAL_TEXT):
        name, address = got[f"S{i}"]
        expected_address = text if text.strip() else None
        assert address == expected_address, (i, text, address)
        if text.strip():
            assert name == text, (i, text, name)


def test_copy_special_text_round_trips_exactly_from_csv(db, tmp_path):
    import csv
    import io

    texts = [t for t in SPECIAL_TEXT if t.strip()]
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["id", "name", "duration_class", "status", "capacity", "address", "lon", "lat"])
    for i, text in enumerate(texts):
        w.writerow([f"S{i}", text, "紧急", "开放", 1, text, 119.85, 31.0])
    path = tmp_path / "special.csv"
    path.write_bytes(buf.getvalue().encode("utf-8"))
    load_layer(db.engine, "shelters", path)
    with db.engine.connect() as c:
        got = {r[0]: (r[1], r[2]) for r in c.execute(
            sa.text("SELECT ext_id, name, address FROM shelters"))}
    assert got == {f"S{i}": (text, text) for i, text in enumerate(texts)}


@pytest.mark.bad_input
@pytest.mark.parametrize("specialities", [
    "搜救;{绳索}", 'say "hi";水域', "back\\slash;登山", "a,b{c}", "{}", 'x"};{"y', "NULL",
], ids=["braces", "double-quotes", "backslash", "comma-and-braces", "empty-braces",
        "quote-brace-injection", "null-word"])
def test_team_specialities_round_trip_through_the_array(db, tmp_path, specialities):
    props = {"id": "T1", "name": "队", "team_type": "综合", "specialities": specialities,
             "personnel": 12, "status": "待命"}
    res = load_layer(db.engine, "team_bases", _geojson(tmp_path, [
        (props, {"type": "Point", "coordinates": [119.85, 31.0]})]))
    assert res.rows == 1
    prep = prepare_layer("team_bases", _geojson(tmp_path, [
        (props, {"type": "Point", "coordinates": [119.85, 31.0]})], name="again.geojson"))
    with db.engine.connect() as c:
        stored = c.execute(sa.text("SELECT specialities FROM team_bases")).scalar()
    assert stored == prep.frame["specialities"].iloc[0]
    assert "".join(stored) == "".join(
        sorted(set(filter(None, __import__("re").split(r"[;,；，、|/\s]+", specialities)))))


def test_specialities_array_with_every_special_character_round_trips(db, tmp_path):
    from emgis.layers.load.write import _pg_array

    values = ['{', '}', '"', '\\', 'NULL', 'a b', '', "x'y", '\\"}{']
    with db.engine.connect() as c:
        back = c.execute(sa.text("SELECT CAST(:a AS text[])"), {"a": _pg_array(values)}).scalar()
    assert back == values


@pytest.mark.bad_input
@pytest.mark.parametrize("field,value,fragment", [
    ("name", "bad\x00name", "NUL"),
    ("address", "a\x00", "NUL"),
    ("name", "lone \ud800 surrogate", "surrogate"),
    ("address", "x\udcff", "surrogate"),
], ids=["nul-in-name", "nul-in-address", "lone-high-surrogate", "lone-low-surrogate"])
def test_text_postgresql_cannot_store_is_a_problem(tmp_path, monkeypatch, field, value, fragment):
    import pandas as pd

    import emgis.layers.load.loaders as loaders

    real = loaders.read_input

    def read_input(path, problems, **kw):
        raw = real(path, problems, **kw)
        raw.frame[field] = pd.Series([value], dtype=object)
        return raw

    monkeypatch.setattr(loaders, "read_input", read_input)
    path = _csv(tmp_path, ["id,name,duration_class,status,capacity,address,lon,lat",
                           "S1,学校,紧急,开放,100,x,119.85,31.0"])
    prep, probs = _problems("shelters", path)
    errors = prep.problems.errors
    assert len(errors) == 1 and errors[0].row == 2 and errors[0].field == field, probs
    assert fragment in errors[0].message


# --- plausibility warnings -----------------------------------------------------------------------

@pytest.mark.bad_input
@pytest.mark.parametrize("deadline,discovered,field,fragment", [
    ("", "2099-01-01", "discovered_on", "in the future"),
    ("", (dt.date.today() + dt.timedelta(days=5)).isoformat(), "discovered_on", "in the future"),
    ("2099-12-31", "2025-01-01", "deadline", "years ahead"),
    ("0001-01-01", "", "deadline", "before 1949"),
    ("", "1900-05-01", "discovered_on", "before 1949"),
    ("2025-01-01", "2025-06-01", "deadline", "before the hazard was discovered"),
], ids=["discovered-2099", "discovered-next-week", "deadline-2099", "deadline-year-1",
        "discovered-1900", "deadline-before-discovery"])
def test_implausible_dates_are_warnings_that_stop_a_load(db, tmp_path, deadline, discovered,
                                                         field, fragment):
    path = _csv(tmp_path, [HAZARD_HEADER, f"H1,护栏缺失,整改,张三,{deadline},{discovered},"
                                          "119.85,31.0"])
    err = _rejected(db, "hazards", path, field, fragment)
    assert {p.severity for p in err.problems} == {"warning"}
    res = load_layer(db.engine, "hazards", path, LoadOptions(accept_warnings=True))
    assert res.rows == 1


@pytest.mark.bad_input
@pytest.mark.parametrize("with_area", [False, True], ids=["null-island-no-study-area",
                                                          "null-island-with-study-area"])
def test_place_at_zero_zero_is_named(db, tmp_path, with_area):
    if with_area:
        _county(db, tmp_path)
    path = _csv(tmp_path, ["id,title,incident_type,status,lon,lat", "I1,火,火灾,处置中,0,0"])
    _rejected(db, "incidents", path, "row 2", "(0, 0)")


@pytest.mark.bad_input
def test_polygon_with_absurd_vertex_count_is_a_warning(db, tmp_path):
    import numpy as np

    n = 120_000
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    ring = np.c_[119.85 + 0.01 * np.cos(t), 31.0 + 0.01 * np.sin(t)]
    zone = shapely.Polygon(ring)
    gdf = gpd.GeoDataFrame({"hazard_type": ["洪涝"]}, geometry=[zone], crs=4326)
    path = tmp_path / "z.gpkg"
    gdf.to_file(path)
    err = _rejected(db, "hazard_zones", path, "vertices", "geometry.vertices_max")
    assert {p.severity for p in err.problems} == {"warning"}


@pytest.mark.bad_input
@pytest.mark.parametrize("layer,props,with_area", [
    ("hazard_zones", {"hazard_type": "洪涝"}, True),
    ("incidents", {"title": "火", "incident_type": "火灾", "status": "处置中"}, True),
    ("hazard_zones", {"hazard_type": "洪涝"}, False),
    ("admin_units", {"code": "339901001", "name": "镇", "level": "乡镇级"}, False),
], ids=["zone-larger-than-study-area", "incident-larger-than-study-area",
        "zone-larger-than-any-county", "admin-unit-larger-than-any-county"])
def test_polygon_with_absurd_area_is_a_warning(db, tmp_path, layer, props, with_area):
    if with_area:
        _county(db, tmp_path)
        huge = shapely.box(119.0, 30.0, 121.0, 32.0)  # ~40,000 km² around a ~900 km² county
        key = "geometry.area_max_study_area_ratio"
    else:
        huge = shapely.box(100.0, 25.0, 115.0, 40.0)  # ~2 million km²
        key = "geometry.area_max_km2"
    path = _geojson(tmp_path, [(props, shapely.geometry.mapping(huge))])
    err = _rejected(db, layer, path, "geometry", key,
                    margin_km=1000)
    assert {p.severity for p in err.problems} == {"warning"}, [str(p) for p in err.problems]


def test_plausibility_thresholds_are_norms_that_can_be_overridden(tmp_path):
    from emgis.layers.norms import Norm, default_norms

    norms = default_norms()
    for key in ("date.year_min", "date.deadline_years_ahead_max", "date.future_days_max",
                "geometry.vertices_max", "geometry.area_max_study_area_ratio",
                "geometry.area_max_km2"):
        assert norms[key].status == "L" and "local practice" in norms[key].standard
    path = _csv(tmp_path, [HAZARD_HEADER, "H1,护栏缺失,整改,张三,,1940-05-01,119.85,31.0"])
    prep, _ = _problems("hazards", path)
    assert [w.field for w in prep.problems.warnings] == ["discovered_on"]
    relaxed = norms.with_overrides([Norm("date.year_min", 1900.0, "", "", "", "")])
    prep, _ = _problems("hazards", path, norms=relaxed)
    assert not prep.problems.warnings
