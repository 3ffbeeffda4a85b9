"""Load a user's layer file into PostGIS: check everything, then write it all or nothing.

``prepare_layer`` reads and judges a file and returns canonical rows in EPSG:4326 with
every problem found; ``load_layer`` writes them in one transaction (COPY into a staging
table, then one INSERT), records the load and its source CRS, and writes one audit entry.
A file with any error changes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from emgis.geo import crs as gcrs
from emgis.geo.geometry import polygonal, repair
from emgis.layers.load.crs_hints import check_source
from emgis.layers.load.readers import read_input
from emgis.layers.load.rules import apply_rules
from emgis.layers.load.values import convert, parse_coordinate
from emgis.layers.load.values import objects as _objects  # noqa: F401 (write.py imports it here)
from emgis.layers.norms import Norms, default_norms
from emgis.layers.problems import InputError, Problem, Problems
from emgis.layers.schema import (
    COMPOSITE_KEYS,
    LAT_ALIASES,
    LAYER_ALIASES,
    LAYERS,
    LON_ALIASES,
    LayerSpec,
    find_lonlat,
    map_headers,
    normalise_header,
)
from emgis.layers.text import is_utf8

MODES = ("append", "replace", "upsert")
_COORD_MAX = 1e8


@dataclass
class Prepared:
    spec: LayerSpec
    file: str
    frame: gpd.GeoDataFrame  # canonical columns + geometry (EPSG:4326) + _row
    source_crs: str
    problems: Problems
    notes: list[str] = field(default_factory=list)
    #: the fields the file itself gives (None: all); an upsert or replace leaves the others of a
    #: stored row as they are (occupancy or a status set through the API is not reset by a file
    #: without that column)
    given: frozenset[str] | None = None


@dataclass(frozen=True)
class AreaCheck:
    """Where a layer's locations should be: the study area (None: anywhere in China)."""

    study_area: object = None       # a shapely polygon in EPSG:4326
    metric_epsg: int | None = None  # the study area's metric CRS, for the margin
    margin_km: float = 30.0         # points this far outside are warnings, farther errors


@dataclass
class LoadResult:
    layer: str
    file: str
    rows: int
    load_id: int
    source_crs: str
    warnings: list[Problem]
    notes: list[str]


def layer_spec(layer: str) -> LayerSpec:
    try:
        return LAYERS[LAYER_ALIASES.get(layer, layer)]
    except KeyError:
        raise InputError([Problem("command line", None, "layer", layer,
                                  "is not a layer emgis loads",
                                  f"use one of: {', '.join(LAYERS)}")],
                         source="emgis load") from None


# --- geometry --------------------------------------------------------------------------------

def _resolve_crs(raw_crs, crs_option: str | None, p: Problems, notes: list[str],
                 kind: str) -> gcrs.CrsSpec | None:
    declared = None
    if raw_crs is not None:
        epsg = raw_crs.to_epsg()
        declared = gcrs.parse_crs(f"EPSG:{epsg}") if epsg else gcrs.parse_crs(raw_crs.to_wkt())
    if crs_option:
        try:
            spec = gcrs.parse_crs(crs_option)
        except ValueError as exc:
            p.error(None, "--crs", crs_option, "is not a coordinate system emgis knows", str(exc))
            return None
        if declared is not None and declared.label != spec.label:
            notes.append(f"the file declares {declared.label}; --crs {crs_option} given, so its "
                         f"coordinates are read as {spec.label}")
        if spec.warning:
            notes.append(spec.warning)
        return spec
    if declared is not None:
        if declared.warning:
            notes.append(declared.warning)
        return declared
    if kind == "table":
        notes.append("the CSV says nothing of its coordinate system; read as WGS84 (EPSG:4326). "
                     "Pass --crs gcj02 for Amap/Tencent coordinates, --crs bd09 for Baidu, or an "
                     "EPSG code")
    return gcrs.parse_crs("EPSG:4326")


def _wkt_column(columns) -> str | None:
    """The column of WKT geometries (``wkt``, ``geometry``, ``几何``) a table has, if any."""
    for c in columns:
        if normalise_header(c) in ("wkt", "geometry", "geom", "几何", "空间位置"):
            return c
    return None


def _geometries_from_wkt(df: pd.DataFrame, col: str, optional: bool,
                         p: Problems) -> gpd.GeoSeries:
    """Each row's geometry from its WKT cell (an area in a table: `emgis export` writes one)."""
    geoms = []
    for row, raw in zip(df["_row"], df[col], strict=True):
        text = "" if raw is None or (isinstance(raw, float) and math.isnan(raw)) else str(raw)
        if not text.strip():
            if not optional:
                p.error(int(row), col, "", "is empty", "give the geometry as WKT, e.g. "
                        "POLYGON ((119.9 30.1, 120.0 30.1, 120.0 30.2, 119.9 30.1))")
            geoms.append(None)
            continue
        try:
            geoms.append(shapely.from_wkt(text.strip()))
        except shapely.errors.GEOSException as exc:
            p.error(int(row), col, text[:60], f"is not WKT ({exc})",
                    "give the geometry as WKT, e.g. POINT (119.9 30.1), or longitude and "
                    "latitude columns")
            geoms.append(None)
    return gpd.GeoSeries(geoms, index=df.index)


def _geometries_from_table(df: pd.DataFrame, spec: LayerSpec, p: Problems) -> gpd.GeoSeries | None:
    optional = spec.geometry in ("optional_point", "any")
    wkt = _wkt_column(df.columns)
    if wkt is not None:  # the shape itself beats a representative point
        return _geometries_from_wkt(df, wkt, optional, p)
    lon_col, lat_col = find_lonlat(list(df.columns))
    if lon_col is None or lat_col is None:
        if optional:
            return gpd.GeoSeries([None] * len(df), index=df.index)
        p.error(None, "longitude/latitude", ", ".join(map(str, df.columns[1:])),
                "no longitude and latitude columns were found",
                "name them 经度 and 纬度 (or lon/lat, longitude/latitude, x/y)")
        return None
    geoms = []
    for row, lon_raw, lat_raw in zip(df["_row"], df[lon_col], df[lat_col], strict=True):
        lon_t, lat_t = str(lon_raw).strip(), str(lat_raw).strip()
        if not lon_t and not lat_t and optional:
            geoms.append(None)
            continue
        (lon, lon_bad), (lat, lat_bad) = parse_coordinate(lon_t), parse_coordinate(lat_t)
        if lon is not None and lat is not None:
            geoms.append(shapely.Point(lon, lat))
            continue
        bad_field, bad, message = ((lon_col, lon_t, lon_bad) if lon_bad
                                   else (lat_col, lat_t, lat_bad))
        p.error(int(row), bad_field, bad, message,
                "give decimal degrees such as 119.9123 (not 119°54'44\")")
        geoms.append(None)
    return gpd.GeoSeries(geoms, index=df.index)


def _finite_2d(geoms: gpd.GeoSeries, rows: pd.Series, p: Problems,
               notes: list[str]) -> gpd.GeoSeries:
    """Drop Z and M (said in a note); a geometry with a NaN or infinite coordinate, or at
    (0, 0), is a problem of its feature (source coordinates, before any conversion)."""
    arr = np.asarray(geoms.to_numpy(), dtype=object)
    present = ~shapely.is_missing(arr)
    if not present.any():
        return geoms
    for test, what in ((shapely.has_z, "a height (Z)"), (shapely.has_m, "a measure (M)")):
        n = int(test(arr[present]).sum())
        if n:
            notes.append(f"{n} geometr{'y has' if n == 1 else 'ies have'} {what}; loaded in 2D "
                         "(the extra coordinate is dropped)")
    arr[present] = shapely.force_2d(arr[present])
    coords, index = shapely.get_coordinates(arr[present], return_index=True)
    where = np.flatnonzero(present)
    nan = np.bincount(index, np.isnan(coords).any(axis=1), minlength=len(where)) > 0
    # no coordinate system reaches 10⁸ (the Earth is 4·10⁷ m round): such a number is garbage
    huge = np.abs(np.nan_to_num(coords, nan=0.0)) > _COORD_MAX
    inf = np.bincount(index, huge.any(axis=1), minlength=len(where)) > 0
    zero = np.bincount(index, (coords == 0).all(axis=1), minlength=len(where))
    count = np.bincount(index, minlength=len(where))
    at_zero = (zero == count) & (count > 0)
    for j in np.flatnonzero(nan | inf | at_zero):
        i = where[j]
        if nan[j] or inf[j]:
            p.error(int(rows.iloc[i]), "geometry", None,
                    "has a coordinate that is " + ("not a number (NaN)" if nan[j] else
                                                   "infinite or too large for any coordinate "
                                                   "system"),
                    "export the feature again with real coordinates, or remove it")
        else:
            p.error(int(rows.iloc[i]), "geometry", "(0, 0)",
                    "is at (0, 0), where blank or zeroed coordinates end up, not a place in "
                    "the county",
                    "give the feature's real longitude and latitude (经度/纬度)")
        arr[i] = None
    return gpd.GeoSeries(arr, index=geoms.index, crs=geoms.crs)


_COERCED_TO_POINT = ("Polygon", "MultiPolygon", "LineString", "MultiLineString", "MultiPoint",
                     "GeometryCollection")


def _check_geometries(geoms: gpd.GeoSeries, rows: pd.Series, spec: LayerSpec, p: Problems,
                      notes: list[str], reported: set[int] = frozenset()) -> gpd.GeoSeries:
    """Repair, coerce to the layer's geometry type, or record a problem (source CRS).

    ``reported``: rows whose location already has a problem (not said twice)."""
    arr = np.asarray(geoms.to_numpy(), dtype=object)
    none = shapely.is_missing(arr)
    missing = none | shapely.is_empty(arr)
    # a feature without geometry is allowed where the location is optional; an empty one never
    report_missing = missing & ~(none & (spec.geometry in ("optional_point", "any")))
    report_missing &= ~np.isin(rows.to_numpy(), list(reported))
    arr[missing] = None
    arr, repaired = repair(arr)
    types = np.array([None if g is None else g.geom_type for g in arr], dtype=object)
    not_area = np.zeros(len(arr), dtype=bool)
    coerced = 0
    if spec.geometry in ("point", "optional_point"):
        to_point = np.isin(types, _COERCED_TO_POINT)
        with np.errstate(invalid="ignore"):  # a degenerate polygon has no point inside
            arr[to_point] = shapely.point_on_surface(arr[to_point])
        # ...and comes back as POINT EMPTY or NaN: report it as missing, as GEOS would choke
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(shapely.bounds(arr)).all(axis=1)  # NaN for empty and missing
        no_point = to_point & ~shapely.is_missing(arr) & ~finite
        arr[no_point] = None
        report_missing |= no_point
        coerced = int(to_point.sum() - no_point.sum())
    elif spec.geometry == "polygon":
        areas = polygonal(arr, multi=True)
        not_area = ~missing & shapely.is_missing(areas)
        arr = areas
    single = shapely.get_type_id(arr) == 3  # Polygon: the tables hold MultiPolygons
    if single.any():
        arr[single] = shapely.multipolygons(arr[single], indices=np.arange(int(single.sum())))
    for i in np.flatnonzero(report_missing | not_area):
        if report_missing[i]:
            p.error(int(rows.iloc[i]), "geometry", None, "is missing or empty",
                    "give the feature a location")
        else:
            p.error(int(rows.iloc[i]), "geometry", types[i], "is not an area",
                    "give polygons for this layer")
    if repaired:
        notes.append(f"{repaired} invalid geometr{'y was' if repaired == 1 else 'ies were'} "
                     "repaired with make_valid")
    if coerced:
        notes.append(f"{coerced} non-point geometr{'y' if coerced == 1 else 'ies'} replaced by a "
                     "point inside it")
    return gpd.GeoSeries(arr, index=geoms.index)


def _check_locations(gdf: gpd.GeoDataFrame, p: Problems, study_area, margin_km: float,
                     metric_epsg: int | None) -> None:
    """Points far outside the study area (or China) are errors; swapped axes are named."""
    arr = np.asarray(gdf.geometry.to_numpy(), dtype=object)
    has = pd.Series(~shapely.is_missing(arr) & ~shapely.is_empty(arr), index=gdf.index)
    if not has.any():
        return
    with np.errstate(invalid="ignore"):  # a degenerate polygon has no point inside
        reps = shapely.point_on_surface(arr[has.to_numpy()])
        finite = np.isfinite(shapely.bounds(reps)).all(axis=1)
    rows = gdf["_row"][has].to_numpy()
    for r in rows[~finite]:
        p.error(int(r), "geometry", None, "has no point inside it (a degenerate shape)",
                "give the feature a proper location or outline")
    reps, rows = reps[finite], rows[finite]
    lon, lat = shapely.get_x(reps), shapely.get_y(reps)
    if study_area is None:
        inside = gcrs.in_china(lon, lat)
        swapped = gcrs.looks_swapped(lon, lat)
        for i in np.flatnonzero(~inside):
            if swapped[i]:
                p.error(int(rows[i]), "geometry", f"({lon[i]:.5f}, {lat[i]:.5f})",
                        "looks like latitude and longitude are swapped",
                        "swap the longitude (经度, ~73–135 in China) and latitude (纬度, ~18–54) "
                        "columns")
            else:
                p.error(int(rows[i]), "geometry", f"({lon[i]:.5f}, {lat[i]:.5f})",
                        "is outside China",
                        "check the coordinates and --crs, or run `emgis init` with the study area "
                        "first")
        return
    inside = shapely.contains_xy(study_area, lon, lat)
    if inside.all():
        return
    metric = gpd.GeoSeries([study_area], crs=4326).to_crs(metric_epsg)
    near_area = metric.buffer(margin_km * 1000).to_crs(4326).iloc[0]
    near = shapely.contains_xy(near_area, lon, lat)
    swapped_in = shapely.contains_xy(study_area, lat, lon)
    for i in np.flatnonzero(~inside):
        where = f"({lon[i]:.5f}, {lat[i]:.5f})"
        if swapped_in[i]:
            p.error(int(rows[i]), "geometry", where,
                    "looks like latitude and longitude are swapped",
                    "swap the longitude (经度) and latitude (纬度) columns")
        elif near[i]:
            p.warn(int(rows[i]), "geometry", where,
                   f"is outside the study area but within {margin_km:g} km of it",
                   "check the location; accept the warning if the facility really serves the "
                   "county from outside")
        else:
            p.error(int(rows[i]), "geometry", where,
                    f"is more than {margin_km:g} km outside the study area",
                    "check the coordinates and the --crs option (GCJ-02/BD-09 shift points by "
                    "0.3–1.4 km; a wrong EPSG moves them far away)")


# --- preparing a layer -----------------------------------------------------------------------

def prepare_layer(layer: str, path: str | Path, *, crs: str | None = None,
                  encoding: str | None = None, source_layer: str | None = None,
                  norms: Norms | None = None, area: AreaCheck | None = None) -> Prepared:
    """Read and judge ``path`` as ``layer``; never writes anything.

    ``encoding`` and ``source_layer`` are `emgis load`'s --encoding and --layer (which layer of
    a GeoPackage, or which Shapefile of a zip, holding several); ``area`` the study area the
    locations are checked against (China when there is none).
    """
    area = area or AreaCheck()
    spec = layer_spec(layer)
    path = Path(path)
    p = Problems(path.name)
    notes: list[str] = []
    norms = norms or default_norms()
    raw = read_input(path, p, encoding=encoding, layer=source_layer)
    empty = gpd.GeoDataFrame({"_row": []}, geometry=gpd.GeoSeries([], crs=4326))
    if raw is None:
        return Prepared(spec, str(path), empty, "", p, notes)
    df = raw.frame
    p.row_label = raw.row_label
    if raw.encoding and not is_utf8(raw.encoding):
        notes.append(f"text read as {raw.encoding.upper()}")
    mapping, unmatched = map_headers([c for c in df.columns if c not in ("_row", "geometry")], spec)
    _check_same_field(mapping, unmatched, spec, p)
    if p.errors:
        return Prepared(spec, str(path), empty, "", p, notes)
    lon_col, lat_col = find_lonlat(unmatched)
    if spec.name == "admin_units" and "code" in mapping.values() \
            and "level" not in mapping.values():  # a seat list has codes only: level from them
        from emgis.layers.load.codes import parse_codes

        parsed = parse_codes(df[next(k for k, v in mapping.items() if v == "code")].to_numpy())
        df = df.assign(_level_of_code=np.where(parsed.ok, parsed.level, None))
        mapping["_level_of_code"] = "level"
        notes.append("column level is absent: read from each code (…000 township, "
                     "…000000 county, else village)")
    unmatched = [c for c in unmatched if c not in (lon_col, lat_col)]
    if unmatched:
        notes.append(f"columns not used: {', '.join(map(str, unmatched))}")
    absent = [f for f in spec.fields if f.name not in mapping.values()]
    given = frozenset(f.name for f in spec.fields if f.name in mapping.values())
    defaulted = [f for f in absent if f.default is not None
                 and (f.default != "=ext_id" or "ext_id" in mapping.values())]
    for f in defaulted:
        col = f"_default_{f.name}"
        df = df.assign(**{col: df[next(k for k, v in mapping.items() if v == "ext_id")]
                          if f.default == "=ext_id" else f.default})
        mapping[col] = f.name
        what = "the row's id" if f.default == "=ext_id" else repr(f.default)
        notes.append(f"column {f.name} is absent: new rows set to {what}, stored rows keep "
                     "theirs")
    missing_fields = [f for f in absent if f.required and f not in defaulted]
    for f in missing_fields:
        p.error(None, f.name, None, "column is missing",
                f"add a column named {f.name}" + (f" or {f.aliases[0]}" if f.aliases else ""))
    if len(df) == 0:
        p.error(None, None, None, "the file has a header but no rows",
                "export the layer again with its data")
    if p.errors:
        return Prepared(spec, str(path), empty, "", p, notes)

    # geometry and CRS
    if spec.geometry is None:
        geoms = gpd.GeoSeries([None] * len(df), index=df.index)
        source = None
    else:
        before = len(p.items)
        geoms = df.geometry if raw.kind == "vector" else _geometries_from_table(df, spec, p)
        if geoms is None:
            return Prepared(spec, str(path), empty, "", p, notes)
        source = _resolve_crs(raw.crs, crs, p, notes, raw.kind)
        if source is None or not check_source(
                p, list(df.columns), path.name, crs, source,
                np.asarray(gpd.GeoSeries(geoms).dropna().bounds)):
            return Prepared(spec, str(path), empty, "", p, notes)
        geoms = _finite_2d(gpd.GeoSeries(geoms, index=df.index), df["_row"], p, notes)
        geoms = _to_wgs84(geoms, source, df["_row"], p)
        reported = {x.row for x in p.items[before:] if x.row is not None}
        geoms = _check_geometries(geoms, df["_row"], spec, p, notes, reported)

    # attributes
    reverse = {v: k for k, v in mapping.items()}
    out = {"_row": df["_row"].astype(int).to_numpy()}
    for f in spec.fields:
        col = reverse.get(f.name)
        values = df[col].tolist() if col is not None else [None] * len(df)
        out[f.name] = [convert(f, v, int(r), p) for v, r in zip(values, df["_row"], strict=True)]
    # object columns keep None for "absent" (pandas 3 would infer str dtype and turn None into NaN)
    frame = pd.DataFrame({k: pd.Series(v, index=df.index, dtype=object if k != "_row" else None)
                          for k, v in out.items()})
    gdf = gpd.GeoDataFrame(frame, geometry=geoms.to_numpy(), crs=4326)
    if spec.geometry is not None:
        _check_locations(gdf, p, area.study_area, area.margin_km, area.metric_epsg)
    _check_duplicates(gdf, spec, p)
    apply_rules(gdf, spec, p, notes, norms, area.study_area)
    label = source.label if spec.geometry is not None and source is not None else ""
    return Prepared(spec, str(path), gdf, label, p, notes, given)


def _check_same_field(mapping: dict[str, str], unmatched: list[str], spec: LayerSpec,
                      p: Problems) -> None:
    """Two columns that give the same field (a header and its alias, or two longitudes) are an
    error naming both: reading one and dropping the other silently loses data."""
    first_of = {v: k for k, v in mapping.items()}
    for col in unmatched:
        again, _ = map_headers([col], spec)
        target = again.get(col)
        if target is not None and target in first_of:
            p.error(None, target, None,
                    f"is given by both column {first_of[target]!r} and column {col!r}",
                    "keep one of the two columns (rename or delete the other)")
    for which, aliases in (("longitude", LON_ALIASES), ("latitude", LAT_ALIASES)):
        norm = {normalise_header(a) for a in aliases}
        cols = [c for c in unmatched if normalise_header(c) in norm]
        if len(cols) > 1:
            p.error(None, which, None,
                    f"is given by both column {cols[0]!r} and column {cols[1]!r}",
                    "keep one of the two columns (rename or delete the other)")


def _to_wgs84(geoms: gpd.GeoSeries, source: gcrs.CrsSpec, rows: pd.Series,
              p: Problems) -> gpd.GeoSeries:
    arr = np.asarray(geoms.to_numpy(), dtype=object)
    valid = pd.Series(~(shapely.is_missing(arr) | shapely.is_empty(arr)), index=geoms.index)
    if not valid.any():
        return geoms
    b = np.asarray(geoms[valid].bounds)
    geographic = source.kind in ("gcj02", "bd09") or (source.crs is not None
                                                      and source.crs.is_geographic)
    if geographic:
        # a latitude of 119 is a swapped pair, not a projected file: name those rows first
        swapped = (np.abs(b[:, 1]) > 90) & gcrs.looks_swapped(b[:, 0], b[:, 1])
        if swapped.any():
            vrows = rows[valid].to_numpy()
            for i in np.flatnonzero(swapped):
                p.error(int(vrows[i]), "geometry", f"({b[i, 0]:.5f}, {b[i, 1]:.5f})",
                        "looks like latitude and longitude are swapped",
                        "swap the longitude (经度, ~73–135 in China) and latitude (纬度, ~18–54) "
                        "columns")
            keep = valid.copy()
            keep[valid] = ~swapped
            valid, b = keep, b[~swapped]
            if not valid.any():
                return gpd.GeoSeries([None] * len(geoms), index=geoms.index)
    if geographic and (np.abs(b[:, [0, 2]]).max() > 180 or np.abs(b[:, [1, 3]]).max() > 90):
        with np.errstate(all="ignore"):  # 1.8e308 overflows; it is no GK zone either
            guess = gcrs.guess_gk_epsg(b[:, 0], b[:, 1])
        fix = (f"pass --crs EPSG:{guess} (CGCS2000 Gauss-Kruger with zone prefix)" if guess
               else "pass --crs with the projected coordinate system (EPSG code) the file is in")
        first = int(rows[valid].iloc[int(np.argmax(np.abs(b[:, 0])))])
        p.error(first, "geometry", f"({b[:, 0].max():.1f}, {b[:, 1].max():.1f})",
                f"holds projected metre coordinates, but the coordinate system is {source.label}",
                fix)
        return gpd.GeoSeries([None] * len(geoms), index=geoms.index)
    converted = gcrs.geoseries_to_wgs84(gpd.GeoSeries(geoms[valid]), source)
    out = gpd.GeoSeries([None] * len(geoms), index=geoms.index, crs=4326)
    out[valid] = converted.to_numpy()
    return out


def _check_duplicates(gdf: gpd.GeoDataFrame, spec: LayerSpec, p: Problems) -> None:
    key = spec.key
    if key not in gdf or spec.name in COMPOSITE_KEYS:
        if spec.name in COMPOSITE_KEYS:
            parent, item_col = COMPOSITE_KEYS[spec.name]
            owner = "depot" if spec.name == "depot_stock" else "team"
            dup = gdf.duplicated([parent, item_col], keep=False) & gdf[parent].notna()
            for (dep, item), grp in gdf[dup].groupby([parent, item_col]):
                p.error(int(grp["_row"].iloc[1]), item_col, item,
                        f"is listed twice for {owner} {dep} (rows "
                        f"{', '.join(map(str, grp['_row']))})",
                        "merge the rows into one with the total quantity")
        return
    vals = gdf[key]
    dup = vals.duplicated(keep=False) & vals.notna()
    for v, grp in gdf[dup].groupby(key):
        rows = ", ".join(map(str, grp["_row"]))
        p.error(int(grp["_row"].iloc[1]), key, v, f"is used by more than one row (rows {rows})",
                "give every row its own id")


