"""Read a user's file into a frame, whatever its format and encoding.

Every frame comes back with a ``_row`` column: the row as the user sees it (the line in
a CSV counting the header, the feature number in a vector file), so that problems can
point at it. Nothing here judges the content; that is ``layers.load.loaders``' job.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from emgis.layers.problems import Problems
from emgis.layers.text import GB18030, UTF8, decode_text

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

    The order and the labels are those of :func:`layers.text.decode_text`, applied to every
    string of the table at once (a .dbf has one encoding).
    """
    cols = [c for c in df.columns if c != "geometry" and pd.api.types.is_string_dtype(df[c])]
    raw = {c: [v.encode("latin-1") if isinstance(v, str) else v for v in df[c]] for c in cols}
    for enc in ("utf-8", "gb18030"):
        try:
            decoded = {c: [v.decode(enc) if isinstance(v, bytes) else v for v in vals]
                       for c, vals in raw.items()}
        except UnicodeDecodeError:
            continue
        out = df.copy()
        for c, vals in decoded.items():
            out[c] = vals
        return out, (UTF8 if enc == "utf-8" else GB18030)
    return df, "latin-1"


def read_input(path: str | Path, problems: Problems, *, encoding: str | None = None,
               layer: str | None = None) -> RawInput | None:
    """Read ``path``; on failure record a problem and return None."""
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
    suffix = path.suffix.lower()
    if suffix in (".gz", ".bz2") or path.name.endswith((".osm.pbf", ".osm")):
        problems.error(None, None, path.name, "is an OpenStreetMap extract, not a layer file",
                       "load road networks with `emgis load roads FILE`; layers come as GeoJSON, "
                       "GeoPackage, Shapefile or CSV")
        return None
    if suffix in TABLE_SUFFIXES:
        return _read_table(path, problems, encoding)
    if suffix in VECTOR_SUFFIXES:
        return _read_vector(path, problems, encoding, layer)
    problems.error(None, None, path.suffix or path.name,
                   "is not a file type emgis reads",
                   "give GeoJSON (.geojson), GeoPackage (.gpkg), Shapefile (.shp with .dbf/.shx) "
                   "or CSV/XLSX with longitude and latitude columns")
    return None


def _read_table(path: Path, problems: Problems, encoding: str | None) -> RawInput | None:
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xls"):
        try:
            df = pd.read_excel(path, dtype=str, keep_default_na=False)
        except Exception as exc:  # openpyxl raises many kinds
            problems.error(None, None, path.name, f"could not be read as a spreadsheet ({exc})",
                           "save it again from Excel/WPS as .xlsx, or export it as CSV")
            return None
        df.insert(0, "_row", range(2, len(df) + 2))
        return RawInput(df, "table", None, None, "row")
    data = path.read_bytes()
    if data[:4] == b"PK\x03\x04" or b"\x00" in data[:2048]:
        problems.error(None, None, path.name, "is binary, not a text CSV",
                       "export the table as CSV (UTF-8 or GBK), or give the .xlsx file with its "
                       "own extension")
        return None
    try:
        text, enc = decode_text(data, encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        problems.error(None, None, encoding, f"the file could not be decoded ({exc})",
                       "save it as UTF-8 or GBK, or pass --encoding with the right one")
        return None
    sep = "\t" if suffix == ".tsv" else None
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep,
                         engine="python" if sep is None else "c", skip_blank_lines=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        problems.error(None, None, path.name, f"is not a readable CSV ({exc})",
                       "check that every row has the same number of comma-separated fields")
        return None
    df.columns = [str(c).strip() for c in df.columns]
    df.insert(0, "_row", range(2, len(df) + 2))
    # blank lines come through as all-empty rows; drop them quietly (they are not data)
    values = df.drop(columns="_row").astype(str).apply(lambda s: s.str.strip())
    df = df[(values != "").any(axis=1)]
    return RawInput(df.reset_index(drop=True), "table", None, enc, "row")


def _read_vector(path: Path, problems: Problems, encoding: str | None,
                 layer: str | None) -> RawInput | None:
    target = path
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as z:
            shp = [n for n in z.namelist() if n.lower().endswith(".shp")]
        if not shp:
            problems.error(None, None, path.name, "is a zip without a .shp inside",
                           "zip the Shapefile's .shp, .shx, .dbf, .prj (and .cpg) together")
            return None
        target = f"/vsizip/{path}/{shp[0]}"
    if path.suffix.lower() == ".shp":
        for part in (".shx", ".dbf"):
            if not path.with_suffix(part).exists():
                problems.error(None, None, path.with_suffix(part).name,
                               "is missing beside the .shp",
                               "copy all the Shapefile's parts (.shp, .shx, .dbf, .prj, .cpg) "
                               "together")
                return None
    used = encoding
    kwargs = {}
    if layer is not None:
        kwargs["layer"] = layer
    try:
        if (path.suffix.lower() == ".shp" and encoding is None
                and not path.with_suffix(".cpg").exists()):
            gdf = pyogrio.read_dataframe(target, encoding="ISO-8859-1",
                                         **kwargs)  # GDAL knows this name
            gdf, used = _fix_latin1_strings(gdf)
        else:
            gdf = pyogrio.read_dataframe(target, encoding=encoding, **kwargs)
    except Exception as exc:  # pyogrio/GDAL errors are varied
        problems.error(None, None, path.name, f"could not be read as a vector layer ({exc})",
                       "check that the file is complete and in GeoJSON, GeoPackage or Shapefile "
                       "format")
        return None
    if not isinstance(gdf, gpd.GeoDataFrame):
        problems.error(None, None, path.name, "has no geometry column",
                       "give a spatial layer, or a CSV with longitude and latitude columns")
        return None
    gdf.insert(0, "_row", range(1, len(gdf) + 1))
    return RawInput(gdf, "vector", gdf.crs, used, "feature")
