"""Every file `emgis load` is given reads correctly or gives a clear problem (issue #14).

The cases come from files people really hand over: the demo's own shelters.csv with a blank
line or odd line endings, a Big5 table, two columns with the same header, a GeoPackage with two
layers, a legacy .xls, a KML whose attributes sit in ExtendedData, and files that are not what
their extension says. None touches the database (`prepare_layer` only reads and judges).
"""

from __future__ import annotations

import struct
import zipfile

import geopandas as gpd
import pyogrio
import pytest
import shapely

from emgis.layers.demo.county import write_demo_county
from emgis.layers.load.loaders import prepare_layer


@pytest.fixture(scope="module")
def shelters_csv(tmp_path_factory) -> bytes:
    """The demo generator's shelters.csv (GBK, CRLF, 45 shelters), as bytes."""
    files = write_demo_county(tmp_path_factory.mktemp("demo"))
    return files.shelters.read_bytes()


def _errors(prep) -> str:
    return "\n".join(str(p) for p in prep.problems.errors)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n")


# --- blank lines, line endings, BOM ----------------------------------------------------------

def _blank_line(lines):
    return b"\r\n".join([*lines[:3], b"", *lines[3:]])


def _commas_line(lines):
    return b"\r\n".join([*lines[:3], b",,,,,,,,,,,,,,", *lines[3:]])


def _whitespace_line(lines):
    return b"\r\n".join([*lines[:3], b"  \t ,  , ", *lines[3:]])


def _cr_only(lines):
    return b"\r".join(lines)


def _lf_only(lines):
    return b"\n".join(lines)


def _mixed_endings(lines):
    return b"\r\n".join(lines[:10]) + b"\n" + b"\r".join(lines[10:30]) + b"\n" + b"\n".join(
        lines[30:])


def _utf8_bom(lines):
    return b"\xef\xbb\xbf" + b"\r\n".join(lines).decode("gbk").encode("utf-8")


def _trailing_blank_lines(lines):
    return b"\r\n".join(lines) + b"\r\n" * 20 + b",,,\r\n" * 20


SHAPES = {"blank-line": _blank_line, "commas-only-line": _commas_line,
          "whitespace-only-line": _whitespace_line, "cr-only-endings": _cr_only,
          "lf-only-endings": _lf_only, "mixed-endings": _mixed_endings, "utf8-bom": _utf8_bom,
          "trailing-blank-lines": _trailing_blank_lines}


NOT_BAD = ("lf-only-endings", "utf8-bom")  # ordinary files, checked beside the odd ones


@pytest.mark.parametrize("shape", [
    pytest.param(s, id=s, marks=() if s in NOT_BAD else pytest.mark.bad_input) for s in SHAPES])
def test_demo_shelters_csv_reshaped_still_loads(shelters_csv, tmp_path, shape):
    path = _write(tmp_path, "shelters.csv", SHAPES[shape](_lines(shelters_csv)))
    prep = prepare_layer("shelters", path, crs="gcj02")
    assert not prep.problems.errors, _errors(prep)
    assert len(prep.frame) == 45
    assert prep.frame["ext_id"].iloc[0] == "BN001"
    assert prep.frame["name"].iloc[0] == "示范县体育中心"


@pytest.mark.bad_input
def test_blank_line_keeps_row_numbers_as_the_user_sees_them(shelters_csv, tmp_path):
    lines = _lines(shelters_csv)
    bad = lines[4].replace(b"\xbf\xaa\xb7\xc5", b"XX")  # 开放 → an unknown status, line 6
    path = _write(tmp_path, "s.csv", b"\r\n".join([*lines[:3], b"", bad, *lines[5:]]))
    prep = prepare_layer("shelters", path, crs="gcj02")
    assert [p.row for p in prep.problems.errors] == [5]


@pytest.mark.bad_input
def test_one_row_then_megabytes_of_empty_lines(shelters_csv, tmp_path):
    lines = _lines(shelters_csv)
    path = _write(tmp_path, "s.csv", b"\r\n".join(lines[:2]) + b"\r\n" * 3_000_000)
    prep = prepare_layer("shelters", path, crs="gcj02")
    assert not prep.problems.errors, _errors(prep)
    assert list(prep.frame["ext_id"]) == ["BN001"]


@pytest.mark.bad_input
def test_nan_and_inf_coordinates_are_problems_not_tracebacks(shelters_csv, tmp_path):
    lines = _lines(shelters_csv)
    text = b"\r\n".join(lines[:3]).decode("gbk").split("\r\n")
    text[1] = ",".join([*text[1].split(",")[:-2], "nan", "nan"])
    text[2] = ",".join([*text[2].split(",")[:-2], "inf", "31.0"])
    prep = prepare_layer("shelters", _write(tmp_path, "s.csv", "\n".join(text).encode()))
    assert {p.row for p in prep.problems.errors} == {2, 3}, _errors(prep)
    assert "is NaN" in _errors(prep) and "is infinite" in _errors(prep)


# --- encodings -------------------------------------------------------------------------------

def _big5_csv(shelters_csv: bytes) -> bytes:
    """The demo's first shelters in Big5: English headers and terms, traditional names."""
    lines = shelters_csv.decode("gbk").split("\r\n")
    rows = ["ext_id,name,duration_class,status,capacity,address,lon,lat"]
    for n, line in enumerate(lines[1:4]):
        cells = line.split(",")
        name = "臺北路避難場所" if n == 0 else f"避難場所{n}"
        rows.append(",".join([cells[0], name, "short", "open", "100", "臺北路", *cells[-2:]]))
    return "\r\n".join(rows).encode("big5")


def test_big5_csv_with_encoding_option(shelters_csv, tmp_path):
    path = _write(tmp_path, "s.csv", _big5_csv(shelters_csv))
    prep = prepare_layer("shelters", path, crs="gcj02", encoding="big5")
    assert not prep.problems.errors, _errors(prep)
    assert prep.frame["name"].iloc[0] == "臺北路避難場所"


def _depots_frame(name="臺北路倉庫"):
    # English terms: 县 and 启 are not in Big5
    return gpd.GeoDataFrame({"id": ["D1"], "name": [name], "level": ["county"],
                             "status": ["active"]},
                            geometry=[shapely.Point(119.86, 31.01)], crs=4326)


@pytest.mark.parametrize("zipped", [False, True], ids=["shp", "zip"])
def test_big5_shapefile_without_cpg_with_encoding_option(tmp_path, zipped):
    pyogrio.write_dataframe(_depots_frame(), tmp_path / "d.shp", encoding="big5")
    (tmp_path / "d.cpg").unlink(missing_ok=True)
    path = tmp_path / "d.shp"
    if zipped:
        path = tmp_path / "d.zip"
        with zipfile.ZipFile(path, "w") as z:
            for part in ("shp", "shx", "dbf", "prj"):
                z.write(tmp_path / f"d.{part}", f"d.{part}")
    prep = prepare_layer("depots", path, encoding="big5")
    assert not prep.problems.errors, _errors(prep)
    assert prep.frame["name"].iloc[0] == "臺北路倉庫"


def test_big5_geojson_with_encoding_option(tmp_path):
    text = _depots_frame().to_json(ensure_ascii=False)
    path = _write(tmp_path, "d.geojson", text.encode("big5"))
    prep = prepare_layer("depots", path, encoding="big5")
    assert not prep.problems.errors, _errors(prep)
    assert prep.frame["name"].iloc[0] == "臺北路倉庫"


@pytest.mark.bad_input
@pytest.mark.parametrize("encoding, expected", [
    ("big-five-please", "is not a text encoding"),
    ("utf-8", "could not be decoded"),
], ids=["unknown-encoding-name", "wrong-encoding"])
def test_bad_encoding_option_is_a_clear_problem(shelters_csv, tmp_path, encoding, expected):
    path = _write(tmp_path, "s.csv", _big5_csv(shelters_csv))
    prep = prepare_layer("shelters", path, crs="gcj02", encoding=encoding)
    assert expected in _errors(prep)
    assert "--encoding" in _errors(prep)


@pytest.mark.bad_input
def test_unknown_encoding_name_for_a_shapefile(tmp_path):
    pyogrio.write_dataframe(_depots_frame(), tmp_path / "d.shp")
    prep = prepare_layer("depots", tmp_path / "d.shp", encoding="nope-9")
    assert "is not a text encoding" in _errors(prep)


# --- duplicate headers -----------------------------------------------------------------------

@pytest.mark.bad_input
@pytest.mark.parametrize("old, new, names", [
    ("地址", "名称", ("名称", "名称")),
    ("地址", "name", ("名称", "name")),
    ("纬度", "lon", ("经度", "lon")),
], ids=["same-header-twice", "header-and-its-alias", "two-longitude-columns"])
def test_duplicate_headers_are_an_error_naming_both(shelters_csv, tmp_path, old, new, names):
    text = shelters_csv.decode("gbk")
    header, rest = text.split("\r\n", 1)
    path = _write(tmp_path, "s.csv", (header.replace(old, new) + "\r\n" + rest).encode("gbk"))
    prep = prepare_layer("shelters", path, crs="gcj02")
    errors = _errors(prep)
    assert all(n in errors for n in names), errors
    assert "both" in errors


# --- GeoPackage layers -----------------------------------------------------------------------

@pytest.fixture
def two_layer_gpkg(tmp_path):
    path = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(_depots_frame("一号库"), path, layer="depots_a")
    pyogrio.write_dataframe(_depots_frame("二号库"), path, layer="depots_b")
    return path


@pytest.mark.bad_input
def test_geopackage_with_two_layers_asks_which(two_layer_gpkg):
    prep = prepare_layer("depots", two_layer_gpkg)
    errors = _errors(prep)
    assert "depots_a" in errors and "depots_b" in errors and "--layer" in errors


def test_geopackage_layer_option_picks_the_layer(two_layer_gpkg):
    prep = prepare_layer("depots", two_layer_gpkg, source_layer="depots_b")
    assert not prep.problems.errors, _errors(prep)
    assert prep.frame["name"].iloc[0] == "二号库"


@pytest.mark.bad_input
def test_geopackage_layer_option_unknown_layer(two_layer_gpkg):
    prep = prepare_layer("depots", two_layer_gpkg, source_layer="nope")
    errors = _errors(prep)
    assert "nope" in errors and "depots_a, depots_b" in errors


# --- legacy .xls -----------------------------------------------------------------------------

def _biff_record(rtype: int, data: bytes) -> bytes:
    return struct.pack("<HH", rtype, len(data)) + data


def _biff8_workbook(rows: list[list[str]]) -> bytes:
    """A BIFF8 workbook stream: one sheet of text cells (LABEL records)."""
    def bof(kind):
        return _biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))

    name = b"\x06\x00Sheet1"
    codepage = _biff_record(0x0042, struct.pack("<H", 1200))
    sheet_at = len(bof(5)) + len(codepage) + 4 + 6 + len(name) + 4
    book = (bof(5) + codepage + _biff_record(0x0085, struct.pack("<IBB", sheet_at, 0, 0) + name)
            + _biff_record(0x000A, b""))
    cells = b"".join(
        _biff_record(0x0204, struct.pack("<HHHHB", r, c, 0, len(v), 1) + v.encode("utf-16-le"))
        for r, row in enumerate(rows) for c, v in enumerate(row))
    dims = _biff_record(0x0200, struct.pack("<IIHHH", 0, len(rows), 0, len(rows[0]), 0))
    return book + bof(0x10) + dims + cells + _biff_record(0x000A, b"")


def _compound_file(stream: bytes) -> bytes:
    """The OLE2 container (CFB version 3, 512-byte sectors) around a 'Workbook' stream."""
    stream = stream.ljust(max(4096, -(-len(stream) // 512) * 512), b"\x00")
    n = len(stream) // 512
    end, free, fatsect, nostream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
    fat = [fatsect, end] + [3 + i for i in range(n - 1)] + [end]
    fat += [free] * (128 - len(fat))
    header = (bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16)
              + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
              + struct.pack("<9I", 0, 1, 1, 0, 4096, end, 0, end, 0)
              + struct.pack("<I", 0) + struct.pack("<I", free) * 108)

    def entry(name, kind, child, start, size):
        raw = name.encode("utf-16-le") + b"\x00\x00"
        return (raw.ljust(64, b"\x00") + struct.pack("<HBB", len(raw), kind, 1)
                + struct.pack("<III", nostream, nostream, child) + bytes(36)
                + struct.pack("<III", start, size, 0))

    dirs = (entry("Root Entry", 5, 1, end, 0) + entry("Workbook", 2, nostream, 2, len(stream))
            + bytes(256))
    return header + struct.pack("<128I", *fat) + dirs + stream


def test_legacy_xls_is_read(tmp_path):
    rows = [["编号", "名称", "级别", "状态", "经度", "纬度"],
            ["D1", "一号库", "县级", "启用", "119.86", "31.01"],
            ["D2", "二号库", "乡镇级", "启用", "119.87", "31.02"]]
    path = _write(tmp_path, "d.xls", _compound_file(_biff8_workbook(rows)))
    prep = prepare_layer("depots", path)
    assert not prep.problems.errors, _errors(prep)
    assert list(prep.frame["name"]) == ["一号库", "二号库"]
    assert prep.frame.geometry.iloc[1].equals(shapely.Point(119.87, 31.02))


# --- KML ExtendedData ------------------------------------------------------------------------

KML = """<?xml version="1.0" encoding="UTF-8"?>
<kml xmlns="http://www.opengis.net/kml/2.2"><Document>
<Schema name="depots" id="depots"><SimpleField name="编号" type="string"/></Schema>
<Folder><name>仓库</name>
<Placemark id="pm1"><name>一号库</name><ExtendedData><SchemaData schemaUrl="#depots">
  <SimpleData name="编号">D1</SimpleData><SimpleData name="级别">县级</SimpleData>
  <SimpleData name="状态">启用</SimpleData></SchemaData></ExtendedData>
  <Point><coordinates>119.86,31.01,0</coordinates></Point></Placemark>
<Placemark><name>二号库</name><ExtendedData><Data name="编号"><value>D2</value></Data>
  <Data name="级别"><value>乡镇级</value></Data><Data name="状态"><value>启用</value></Data>
  </ExtendedData><Point><coordinates> 119.87,31.02 </coordinates></Point></Placemark>
</Folder></Document></kml>
"""


def test_kml_extended_data_are_fields(tmp_path):
    prep = prepare_layer("depots", _write(tmp_path, "d.kml", KML.encode()))
    assert not prep.problems.errors, _errors(prep)
    assert list(prep.frame["ext_id"]) == ["D1", "D2"]
    assert list(prep.frame["level"]) == ["county", "township"]
    assert prep.frame.geometry.iloc[1].equals(shapely.Point(119.87, 31.02))


@pytest.mark.bad_input
def test_kml_entity_expansion_is_refused(tmp_path):
    bomb = ('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            '<kml><Placemark><name>&b;</name></Placemark></kml>')
    prep = prepare_layer("depots", _write(tmp_path, "d.kml", bomb.encode()))
    assert "DOCTYPE" in _errors(prep)


@pytest.mark.bad_input
@pytest.mark.parametrize("coordinates", ["nan,nan", "119.86,inf", "119.86", ""],
                         ids=["nan", "inf", "one-number", "empty"])
def test_kml_bad_coordinates_are_problems(tmp_path, coordinates):
    kml = KML.replace("119.86,31.01,0", coordinates)
    prep = prepare_layer("depots", _write(tmp_path, "d.kml", kml.encode()))
    errors = _errors(prep)
    assert "feature 1, field geometry" in errors, errors


# --- files that are not what their extension says --------------------------------------------

def _zip_bytes(names: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n, data in names.items():
            z.writestr(n, data)
    return buf.getvalue()


def _gpkg_bytes(tmp_path) -> bytes:
    _depots_frame().to_file(tmp_path / "whole.gpkg")
    return (tmp_path / "whole.gpkg").read_bytes()


HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body></body></html>"
MISLABELLED = {
    "csv-named-geojson": ("d.geojson", lambda t: b"id,name\nD1,x\n", "CSV"),
    "text-named-shp": ("d.shp", lambda t: b"hello world\n", "text"),
    "text-named-gpkg": ("d.gpkg", lambda t: b"hello world\n", "text"),
    "text-named-xlsx": ("d.xlsx", lambda t: b"hello world\n", "text"),
    "text-named-xls": ("d.xls", lambda t: b"id,name\nD1,x\n", "CSV"),
    "text-named-zip": ("d.zip", lambda t: b"hello world\n", "text"),
    "html-page-named-csv": ("d.csv", lambda t: HTML, "HTML"),
    "html-page-named-xls": ("d.xls", lambda t: HTML, "HTML"),
    "geojson-named-csv": ("d.csv", lambda t: b'{"type": "FeatureCollection"}', "JSON"),
    "zip-without-shp": ("d.zip", lambda t: _zip_bytes({"a.txt": b"hi"}), "without a .shp"),
    "corrupt-zip": ("d.zip", lambda t: b"PK\x03\x04" + bytes(60), "zip"),
    "xlsx-named-zip": ("d.zip", lambda t: _zip_bytes({"xl/workbook.xml": b"<x/>"}), "workbook"),
    "pdf-named-csv": ("d.csv", lambda t: b"%PDF-1.7\n" + bytes(40), "PDF"),
    "truncated-gpkg": ("d.gpkg", lambda t: _gpkg_bytes(t)[:4096], "GeoPackage"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", list(MISLABELLED), ids=list(MISLABELLED))
def test_file_not_what_its_extension_says(tmp_path, case):
    name, make, seems = MISLABELLED[case]
    (tmp_path / "src").mkdir()
    path = _write(tmp_path, name, make(tmp_path / "src"))
    prep = prepare_layer("depots", path)
    errors = _errors(prep)
    assert errors, "a mislabelled file was accepted"
    assert seems in errors, errors
