"""Read a user's file into a frame, whatever its format and encoding.

Every frame comes back with a ``_row`` column: the row as the user sees it (the line in
a CSV counting the header, the feature number in a vector file), so that problems can
point at it. Nothing here judges the content; that is ``layers.load.loaders``' job.
"""

from __future__ import annotations

import codecs
import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from emgis.layers.load.readers.kml import read_kml
from emgis.layers.load.readers.sniff import kind_of, mismatch
from emgis.layers.load.readers.table import read_text_table, read_workbook
from emgis.layers.problems import Problems
from emgis.layers.text import GB18030, UTF8, decode_text, is_utf8

VECTOR_SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip", ".fgb", ".kml"}
TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx", ".xls"}


@dataclass
class RawInput:
    frame: pd.DataFrame  # a GeoDataFrame for vector files
    kind: str  # 'vector' | 'table'
    crs: object | None  # the CRS the file declares (pyproj CRS) or None
    encoding: str | None
    row_label: str  # 'row' for tables, 'feature' for vector files


def _fix_latin1_strings(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Re-decode strings read as latin-1 from a .dbf without .cpg: UTF-8 if valid, else GBK.

    The field names are re-decoded with the values (a GBK .dbf names its fields 名称, 容纳人数 in
    GBK too). The order and the labels are those of :func:`layers.text.decode_text`, applied to
    every string of the table at once (a .dbf has one encoding).
    """
    cols = [c for c in df.columns if c != "geometry" and pd.api.types.is_string_dtype(df[c])]
    raw = {c: [v.encode("latin-1") if isinstance(v, str) else v for v in df[c]] for c in cols}
    try:
        names = {c: c.encode("latin-1") for c in df.columns if c != "geometry"}
    except UnicodeEncodeError:  # names GDAL did not read as latin-1: leave them
        names = {}
    for enc in ("utf-8", "gb18030"):
        try:
            decoded = {c: [v.decode(enc) if isinstance(v, bytes) else v for v in vals]
                       for c, vals in raw.items()}
            renamed = {c: b.decode(enc) for c, b in names.items()}
        except UnicodeDecodeError:
            continue
        out = df.copy()
        for c, vals in decoded.items():
            out[c] = vals
        return out.rename(columns=renamed), (UTF8 if enc == "utf-8" else GB18030)
    return df, "latin-1"


def read_input(path: str | Path, problems: Problems, *, encoding: str | None = None,
               layer: str | None = None) -> RawInput | None:
    """Read ``path``; on failure record a problem and return None.

    ``encoding`` (``--encoding``) decides how text is decoded in every format that has a
    choice: CSV/TSV, a Shapefile's .dbf (bare or zipped), GeoJSON and KML; a GeoPackage,
    FlatGeobuf and workbooks are UTF-8 or Unicode by definition. ``layer`` (``--layer``) picks
    one layer of a GeoPackage, or one Shapefile of a zip, that holds several.
    """
    path = Path(path)
    if not path.exists():
        problems.error(None, None, str(path), "does not exist", "check the path and the file name")
        return None
    if path.is_dir():
        problems.error(None, None, str(path), "is a directory, not a file", "give the file itself")
        return None
    if path.stat().st_size == 0:
        problems.error(None, None, None, "the file is empty (0 bytes)",
                       "export the layer again; the file has no content")
        return None
    if encoding is not None:
        try:
            encoding = codecs.lookup(encoding).name
        except LookupError:
            problems.error(None, "--encoding", encoding, "is not a text encoding emgis knows",
                           "give a codec name such as utf-8, gbk, gb18030, big5 or utf-16")
            return None
    suffix = path.suffix.lower()
    if suffix in (".gz", ".bz2") or path.name.endswith((".osm.pbf", ".osm")):
        problems.error(None, None, path.name, "is an OpenStreetMap extract, not a layer file",
                       "load road networks with `emgis load roads FILE`; layers come as GeoJSON, "
                       "GeoPackage, Shapefile or CSV")
        return None
    if suffix not in TABLE_SUFFIXES and suffix not in VECTOR_SUFFIXES:
        problems.error(None, None, path.suffix or path.name,
                       "is not a file type emgis reads",
                       "give GeoJSON (.geojson), GeoPackage (.gpkg), Shapefile (.shp with "
                       ".dbf/.shx) or CSV/XLSX with longitude and latitude columns")
        return None
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    seems = mismatch(suffix, head)
    if seems is not None:
        _say_mismatch(path, seems, problems)
        return None
    if suffix in TABLE_SUFFIXES:
        return _read_table(path, problems, encoding)
    return _read_vector(path, problems, encoding, layer)


def _say_mismatch(path: Path, seems: str, problems: Problems) -> None:
    if seems.startswith("an HTML page"):
        fix = ("the download failed or a web page was saved instead of the file: download or "
               "export the file again")
    elif seems.startswith("a text"):
        fix = ("if it is a table with longitude and latitude columns, name it .csv; otherwise "
               "export the layer again")
    else:
        fix = "give the file the extension of what it really is, or export the layer again"
    if path.suffix.lower() in (".csv", ".tsv", ".txt") and not seems.startswith(
            ("an HTML", "an XML", "a KML", "a JSON")):
        seems += ": binary, not a text CSV"
        fix = "export the table as CSV (UTF-8 or GBK), or give the file its own extension"
    problems.error(None, None, path.name,
                   f"is named {path.suffix} but seems to be {seems}", fix)


def _read_table(path: Path, problems: Problems, encoding: str | None) -> RawInput | None:
    if path.suffix.lower() in (".xlsx", ".xls"):
        df = read_workbook(path, problems)
        return None if df is None else RawInput(df, "table", None, None, "row")
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04" or (b"\x00" in data[:2048] and kind_of(data)[0] != "text"):
        problems.error(None, None, path.name, "is binary, not a text CSV",
                       "export the table as CSV (UTF-8 or GBK), or give the .xlsx file with its "
                       "own extension")
        return None
    got = read_text_table(path, data, problems, encoding)
    if got is None:
        return None
    return RawInput(got[0], "table", None, got[1], "row")


def _zip_target(path: Path, problems: Problems, layer: str | None) -> tuple[str, bool] | None:
    """The /vsizip/ path of the Shapefile inside a zip, and whether a .cpg comes with it."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        problems.error(None, None, path.name, f"is a damaged or incomplete zip archive ({exc})",
                       "zip the Shapefile's parts again, or copy the file again")
        return None
    shp = [n for n in names if n.lower().endswith(".shp") and not n.startswith("__MACOSX")]
    if not shp:
        from emgis.layers.load.readers.sniff import _describe_zip

        what = _describe_zip(path.read_bytes())
        inside = "" if what == "a zip archive" else f"; it seems to be {what}"
        problems.error(None, None, path.name, f"is a zip without a .shp inside{inside}",
                       "zip the Shapefile's .shp, .shx, .dbf, .prj (and .cpg) together")
        return None
    if layer is not None:
        chosen = [n for n in shp if Path(n).stem == layer or n == layer]
        if not chosen:
            _unknown_layer(path, layer, [Path(n).stem for n in shp], problems)
            return None
        shp = chosen
    elif len(shp) > 1:
        _which_layer(path, [Path(n).stem for n in shp], problems)
        return None
    stem = shp[0][:-4]
    has_cpg = any(n.lower() == f"{stem}.cpg".lower() for n in names)
    return f"/vsizip/{path}/{shp[0]}", has_cpg


def _which_layer(path: Path, layers: list[str], problems: Problems) -> None:
    problems.error(None, "--layer", None,
                   f"{path.name} holds {len(layers)} layers: {', '.join(layers)}",
                   "say which one to load with --layer NAME")


def _unknown_layer(path: Path, layer: str, layers: list[str], problems: Problems) -> None:
    problems.error(None, "--layer", layer, f"is not a layer of {path.name}",
                   f"use one of: {', '.join(layers)}")


def _pick_layer(path: Path, target: str, problems: Problems,
                layer: str | None) -> tuple[bool, str | None]:
    """(ok, layer to read) for a container that may hold several layers."""
    try:
        names = [str(n) for n in pyogrio.list_layers(target)[:, 0]]
    except Exception:  # the read below reports an unreadable file with its own message
        return True, layer
    if layer is not None:
        if layer not in names:
            _unknown_layer(path, layer, names, problems)
            return False, None
        return True, layer
    if len(names) > 1:
        _which_layer(path, names, problems)
        return False, None
    return True, None


_FORMAT_NAMES = {".gpkg": "a GeoPackage", ".shp": "a Shapefile", ".zip": "a zipped Shapefile",
                 ".geojson": "GeoJSON", ".json": "GeoJSON", ".fgb": "FlatGeobuf"}


def _read_vector(path: Path, problems: Problems, encoding: str | None,
                 layer: str | None) -> RawInput | None:
    suffix = path.suffix.lower()
    if suffix == ".kml":
        gdf = read_kml(path.read_bytes(), path.name, problems, encoding)
        if gdf is None or problems.errors:
            return None
        return RawInput(gdf, "vector", gdf.crs, encoding, "feature")
    target: object = str(path)
    has_cpg = path.with_suffix(".cpg").exists()
    if suffix == ".zip":
        got = _zip_target(path, problems, layer)
        if got is None:
            return None
        target, has_cpg = got
        layer = None
    if suffix == ".shp":
        for part in (".shx", ".dbf"):
            if not path.with_suffix(part).exists():
                problems.error(None, None, path.with_suffix(part).name,
                               "is missing beside the .shp",
                               "copy all the Shapefile's parts (.shp, .shx, .dbf, .prj, .cpg) "
                               "together")
                return None
    if suffix == ".gpkg":
        ok, layer = _pick_layer(path, str(target), problems, layer)
        if not ok:
            return None
    elif layer is not None and suffix != ".zip":
        problems.error(None, "--layer", layer, f"{path.name} has only one layer",
                       "leave out --layer")
        return None
    kwargs = {} if layer is None else {"layer": layer}
    try:
        with warnings.catch_warnings():
            # GDAL's notes on what it repaired or skipped (an unclosed ring, a null geometry for
            # an unknown type) are warnings; what they leave behind is judged by the loader
            warnings.simplefilter("ignore")
            gdf, used = _read_ogr(path, target, encoding, has_cpg, kwargs)
    except UnicodeDecodeError as exc:
        problems.error(None, "--encoding", encoding,
                       f"the file could not be decoded as {encoding} ({exc.reason})",
                       "pass --encoding with the right one (utf-8, gbk, big5 ...), or leave it "
                       "out to detect it")
        return None
    except Exception as exc:  # pyogrio/GDAL errors are varied
        what = _FORMAT_NAMES.get(suffix, "a vector layer")
        problems.error(None, None, path.name,
                       f"could not be read as {what}: it seems damaged or incomplete ({exc})",
                       "copy or export the file again; check that it is complete")
        return None
    if not isinstance(gdf, gpd.GeoDataFrame):
        problems.error(None, None, path.name, "has no geometry column",
                       "give a spatial layer, or a CSV with longitude and latitude columns")
        return None
    gdf.insert(0, "_row", range(1, len(gdf) + 1))
    return RawInput(gdf, "vector", gdf.crs, used, "feature")


def _read_ogr(path: Path, target: object, encoding: str | None, has_cpg: bool,
              kwargs: dict) -> tuple[object, str | None]:
    """Read through GDAL; return the frame and the encoding the text was read with."""
    suffix = path.suffix.lower()
    shapefile = suffix in (".shp", ".zip")
    if shapefile and encoding is None and not has_cpg:
        gdf = pyogrio.read_dataframe(target, encoding="ISO-8859-1",
                                     **kwargs)  # GDAL knows this name
        return _fix_latin1_strings(gdf)
    if suffix in (".geojson", ".json") and encoding and not is_utf8(encoding):
        # GeoJSON is UTF-8 by its standard; GDAL reads nothing else, so recode it first
        text = decode_text(path.read_bytes(), encoding)[0]
        return pyogrio.read_dataframe(io.BytesIO(text.encode("utf-8")), **kwargs), encoding
    return pyogrio.read_dataframe(target, encoding=encoding if shapefile else None,
                                  **kwargs), encoding
