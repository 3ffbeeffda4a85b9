"""Raster hazard zoning: slope from a DEM, reclassification, overlay, polygons, stored zones.

All rasters are :class:`Raster` values: a float array with NaN as nodata, an affine
transform (north-up) and a CRS. A DEM in EPSG:4326 has cells in degrees; slope and areas
use metre cell sizes that depend on latitude (ellipsoidal radii of curvature for slope,
exact ellipsoidal zone areas for cell areas).

Sea in a DEM without nodata: ASTER GDEM and similar tiles store the sea as 0 m and declare
no nodata, so a naive slope map shows the sea as perfectly flat land. :func:`read_dem`
therefore masks cells at or below ``mask_at_or_below`` (default 0 m) as nodata. Pass
``mask_at_or_below=None`` for inland DEMs with real land at or below sea level (e.g. the
Turpan depression) and give a proper sea/land mask instead. Land cells next to masked
cells keep a slope: a missing neighbour is replaced by the centre cell (as
``gdaldem -compute_edges`` does), so the coast is not lost.

Reclassification bins are closed on the left: with breaks ``b``, class 1 is ``v < b[0]``,
class k+1 is ``b[k-1] ≤ v < b[k]``, and the last class is ``v ≥ b[-1]``. Class numbers run
from 1 (lowest hazard) upward; ``labels`` name them in the same order.

Stored zones: :func:`zone_slope` runs the slope zoning on a DEM file and keeps the result in
``hazard_zones`` (one multipolygon per level, ``ext_id`` 'slope:<level>'), beside the zones
loaded from files; :func:`stored_zone_areas` reads their areas back. They live here, beside
the raster steps they chain, because a slope zone is defined by those steps: the breaks, the
class labels and the cell areas it reports are this module's. Like the other bulk writes of
emgis, the store switches per-row auditing off and writes one ``audit_log`` entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import rasterio.warp
import rasterio.windows
import shapely
import sqlalchemy as sa
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.risk._db import bulk_done, multipolygon, set_actor


@dataclass(frozen=True)
class Raster:
    """A single-band grid: ``data`` (float, NaN = nodata), north-up ``transform``, ``crs``.

    ``labels`` names class values 1..k of a reclassified raster.
    """

    data: np.ndarray
    transform: Affine
    crs: CRS
    labels: tuple[str, ...] | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape  # type: ignore[return-value]


def _pyproj(crs: object) -> CRS:
    return CRS.from_user_input(crs.to_wkt() if hasattr(crs, "to_wkt") else crs)


def _check_north_up(t: Affine) -> None:
    if t.b != 0 or t.d != 0 or t.e >= 0:
        raise ValueError(f"transform {tuple(t)[:6]} is rotated or south-up; warp the raster to a "
                         "north-up grid first (gdalwarp)")


def read_dem(
    path: str | Path,
    *,
    bounds: tuple[float, float, float, float] | None = None,
    mask_at_or_below: float | None = 0.0,
) -> Raster:
    """Read band 1 of a DEM, optionally a window, with nodata and sea as NaN.

    Parameters
    ----------
    path
        A GeoTIFF or any raster GDAL reads.
    bounds
        ``(west, south, east, north)`` in the raster's CRS; the whole raster when None.
    mask_at_or_below
        Elevations at or below this are nodata (sea stored as 0); None keeps them.
    """
    with rasterio.open(path) as src:
        window = None
        if bounds is not None:
            window = rasterio.windows.from_bounds(*bounds, transform=src.transform)
            window = window.round_offsets().round_lengths()
            window = window.intersection(rasterio.windows.Window(0, 0, src.width, src.height))
        arr = src.read(1, window=window, masked=True)
        transform = src.transform
        if window is not None:  # not src.window_transform: it warns under affine >= 3.1
            transform = transform @ Affine.translation(window.col_off, window.row_off)
        crs = _pyproj(src.crs)
    data = np.ma.filled(arr.astype("float64"), np.nan)
    if mask_at_or_below is not None:
        data[data <= mask_at_or_below] = np.nan
    return Raster(data, transform, crs)


def _ellipsoid(crs: CRS) -> tuple[float, float]:
    ell = crs.ellipsoid
    if ell is None:
        raise ValueError(f"CRS {crs.to_string()!r} has no ellipsoid; give the DEM a proper CRS")
    a = ell.semi_major_metre
    f = 1.0 / ell.inverse_flattening if ell.inverse_flattening else 0.0
    return a, f * (2 - f)


def _row_latitudes(t: Affine, nrow: int) -> np.ndarray:
    return t.f + t.e * (np.arange(nrow) + 0.5)


def cell_sizes_m(raster: Raster) -> tuple[np.ndarray, np.ndarray]:
    """Return the east-west and north-south cell size in metres of each row (1-D arrays)."""
    t, (nrow, _) = raster.transform, raster.shape
    _check_north_up(t)
    if raster.crs.is_geographic:
        a, e2 = _ellipsoid(raster.crs)
        phi = np.radians(_row_latitudes(t, nrow))
        w = 1.0 - e2 * np.sin(phi) ** 2
        n_radius = a / np.sqrt(w)               # prime vertical
        m_radius = a * (1.0 - e2) / w ** 1.5    # meridian
        return np.radians(abs(t.a)) * n_radius * np.cos(phi), np.radians(abs(t.e)) * m_radius
    unit = raster.crs.axis_info[0].unit_conversion_factor if raster.crs.axis_info else 1.0
    return np.full(nrow, abs(t.a) * unit), np.full(nrow, abs(t.e) * unit)


def cell_area_m2(raster: Raster) -> np.ndarray:
    """Return the area in m² of the cells of each row (1-D array, exact on the ellipsoid)."""
    t, (nrow, _) = raster.transform, raster.shape
    _check_north_up(t)
    if not raster.crs.is_geographic:
        dx, dy = cell_sizes_m(raster)
        return dx * dy
    a, e2 = _ellipsoid(raster.crs)
    e = np.sqrt(e2)

    def g(phi: np.ndarray) -> np.ndarray:  # authalic zone integral per radian of longitude
        s = np.sin(phi)
        if e == 0:
            return 2 * s
        return s / (1 - e2 * s * s) + np.log((1 + e * s) / (1 - e * s)) / (2 * e)

    top = np.radians(t.f + t.e * np.arange(nrow))
    bottom = np.radians(t.f + t.e * (np.arange(nrow) + 1))
    return np.radians(abs(t.a)) * a * a * (1 - e2) / 2 * np.abs(g(top) - g(bottom))


def slope(dem: Raster) -> Raster:
    """Return slope in degrees (Horn's 3 × 3 method) with metre cell sizes per row."""
    z = dem.data.astype("float64")
    dx, dy = cell_sizes_m(dem)
    p = np.pad(z, 1, constant_values=np.nan)
    nrow, ncol = z.shape

    def nb(di: int, dj: int) -> np.ndarray:
        v = p[1 + di:1 + di + nrow, 1 + dj:1 + dj + ncol]
        return np.where(np.isnan(v), z, v)  # missing neighbour → centre value

    a, b, c = nb(-1, -1), nb(-1, 0), nb(-1, 1)
    d, f = nb(0, -1), nb(0, 1)
    g, h, i = nb(1, -1), nb(1, 0), nb(1, 1)
    dzdx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * dx[:, None])
    dzdy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * dy[:, None])
    out = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    out[np.isnan(z)] = np.nan
    return Raster(out, dem.transform, dem.crs)


def reclassify(raster: Raster, breaks: Sequence[float], *,
               labels: Sequence[str] | None = None) -> Raster:
    """Return class numbers 1..len(breaks)+1 by left-closed bins (NaN stays NaN)."""
    b = np.asarray(breaks, dtype=float)
    if b.ndim != 1 or len(b) == 0 or np.any(np.diff(b) <= 0):
        raise ValueError(f"breaks={list(breaks)!r} must be one or more strictly increasing "
                         "numbers, e.g. [8, 15, 25] for slope degrees")
    if labels is not None and len(labels) != len(b) + 1:
        raise ValueError(f"labels={list(labels)!r} has {len(labels)} names but {len(b)} breaks "
                         f"make {len(b) + 1} classes; give one label per class, lowest first")
    v = raster.data
    cls = (np.digitize(np.nan_to_num(v, nan=-np.inf), b, right=False) + 1).astype("float64")
    cls[np.isnan(v)] = np.nan
    return Raster(cls, raster.transform, raster.crs, tuple(labels) if labels is not None else None)


def _align(src: Raster, like: Raster, resampling: Resampling) -> Raster:
    if (src.shape == like.shape and src.transform.almost_equals(like.transform)
            and src.crs == like.crs):
        return src
    dst = np.full(like.shape, np.nan)
    rasterio.warp.reproject(
        src.data.astype("float64"), dst, src_transform=src.transform, src_crs=src.crs.to_wkt(),
        dst_transform=like.transform, dst_crs=like.crs.to_wkt(), src_nodata=np.nan,
        dst_nodata=np.nan, resampling=resampling,
    )
    return Raster(dst, like.transform, like.crs, src.labels)


def weighted_overlay(rasters: Sequence[Raster], weights: Sequence[float], *,
                     resampling: Resampling = Resampling.nearest) -> Raster:
    """Return ``Σ w_i·x_i / Σ w_i`` on the first raster's grid (others are resampled).

    Use reclassified rasters (class numbers) as inputs, then :func:`reclassify` the
    result. A cell that is nodata in any input is nodata in the result.
    """
    if len(rasters) == 0 or len(rasters) != len(weights):
        raise ValueError(f"got {len(rasters)} rasters and {len(weights)} weights; give one "
                         "weight per raster")
    w = np.asarray(weights, dtype=float)
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights={list(weights)!r} must be ≥ 0 with a positive sum")
    like = rasters[0]
    total = np.zeros(like.shape)
    for r, wi in zip(rasters, w, strict=True):
        total += wi * _align(r, like, resampling).data
    return Raster(total / w.sum(), like.transform, like.crs)


def _local_equal_area(bounds: np.ndarray) -> CRS:
    lon = (bounds[0] + bounds[2]) / 2
    lat = (bounds[1] + bounds[3]) / 2
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m "
                          "+no_defs")


def vectorise(raster: Raster, *, connectivity: int = 4) -> gpd.GeoDataFrame:
    """Return one polygon per connected patch of a class raster, EPSG:4326, with areas.

    Columns: ``class`` (int), ``level`` (the label, or the class number as text),
    ``area_m2`` (in a local Lambert azimuthal equal-area CRS), geometry.
    """
    valid = ~np.isnan(raster.data)
    if not valid.any():
        return gpd.GeoDataFrame({"class": [], "level": [], "area_m2": []}, geometry=[],
                                crs="EPSG:4326")
    cls = np.where(valid, raster.data, 0).astype("int32")
    geoms, values = [], []
    for geom, value in rasterio.features.shapes(cls, mask=valid, transform=raster.transform,
                                                connectivity=connectivity):
        geoms.append(shapely.geometry.shape(geom))
        values.append(int(value))
    series = gpd.GeoSeries(geoms, crs=raster.crs).to_crs("EPSG:4326")
    values_a = np.array(values)
    labels = raster.labels
    level = [labels[v - 1] if labels and 0 < v <= len(labels) else str(v) for v in values]
    area = series.to_crs(_local_equal_area(series.total_bounds)).area.to_numpy()
    return gpd.GeoDataFrame({"class": values_a, "level": level, "area_m2": area},
                            geometry=series.to_numpy(), crs="EPSG:4326")


def class_areas(raster: Raster) -> dict[int, float]:
    """Return ``{class: area_m2}`` from cell counts × cell areas of a class raster."""
    row_area = cell_area_m2(raster)
    out: dict[int, float] = {}
    for v in np.unique(raster.data[~np.isnan(raster.data)]):
        out[int(v)] = float(((raster.data == v).sum(axis=1) * row_area).sum())
    return out


def slope_zones(dem: Raster, breaks: Sequence[float], *, labels: Sequence[str] | None = None,
                connectivity: int = 4) -> tuple[Raster, gpd.GeoDataFrame]:
    """Return the slope class raster and its polygons (slope → reclassify → vectorise)."""
    classes = reclassify(slope(dem), breaks, labels=labels)
    return classes, vectorise(classes, connectivity=connectivity)


# --- stored slope zones ------------------------------------------------------------------------

#: ``ext_id`` prefix of the slope zones :func:`zone_slope` stores in ``hazard_zones``.
SLOPE_PREFIX = "slope:"


def zone_slope(
    engine: Engine,
    dem_path: str | Path,
    breaks: Sequence[float],
    labels: Sequence[str],
    *,
    actor: str,
    hazard_type: str = "landslide",
    bounds: tuple[float, float, float, float] | None = None,
    mask_at_or_below: float | None = 0.0,
) -> pd.DataFrame:
    """Zone a DEM by slope and store one ``hazard_zones`` multipolygon per level.

    ``labels`` name the ``len(breaks) + 1`` slope classes, lowest first, as zone levels
    (low/medium/high or 低/中/高; aliases such as 'very_high' → high). Classes with the same
    level are stored together. Earlier slope zones (``ext_id`` 'slope:…') are replaced.

    Returns
    -------
    pandas.DataFrame
        One row per level: ``level``, ``classes``, ``area_m2`` (raster cell counts × cell
        areas, :func:`class_areas`) and ``stored_area_m2`` (the stored polygons' geodesic
        area in PostGIS), ``ext_id``.
    """
    if len(labels) != len(breaks) + 1:
        raise ValueError(f"{len(breaks)} breaks make {len(breaks) + 1} slope classes but "
                         f"{len(labels)} labels were given; give one label per class, lowest "
                         "slope first")
    levels = []
    for lab in labels:
        key = vocab.lookup(vocab.ZONE_LEVEL, lab)
        if key is None:
            raise ValueError(f"label {lab!r} is not a zone level; use one of "
                             f"{vocab.describe(vocab.ZONE_LEVEL)}")
        levels.append(key)
    htype = vocab.lookup(vocab.ZONE_HAZARD, hazard_type)
    if htype is None:
        raise ValueError(f"hazard_type={hazard_type!r} is not a zone hazard; use one of "
                         f"{vocab.describe(vocab.ZONE_HAZARD)}")
    dem = read_dem(dem_path, bounds=bounds, mask_at_or_below=mask_at_or_below)
    classes, polys = slope_zones(dem, breaks, labels=levels)
    raster_area = class_areas(classes)
    src = Path(dem_path).name
    out_rows = []
    with engine.begin() as c:
        set_actor(c, actor, bulk=True)
        c.execute(sa.text("DELETE FROM hazard_zones WHERE ext_id LIKE :p"),
                  {"p": SLOPE_PREFIX + "%"})
        for lv in dict.fromkeys(levels):
            cls = [i + 1 for i, x in enumerate(levels) if x == lv]
            parts = polys[polys["class"].isin(cls)].geometry.to_numpy()
            area = float(sum(raster_area.get(k, 0.0) for k in cls))
            if not len(parts):
                out_rows.append({"level": lv, "classes": cls, "area_m2": area,
                                 "stored_area_m2": 0.0, "ext_id": None})
                continue
            geom = shapely.union_all(parts) if len(cls) > 1 else shapely.MultiPolygon(
                [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])])
            geom = multipolygon(geom)
            ranges = []
            for k in cls:
                lo = breaks[k - 2] if k > 1 else None
                hi = breaks[k - 1] if k <= len(breaks) else None
                ranges.append(f"<{hi:g}°" if lo is None else f"≥{lo:g}°" if hi is None
                              else f"{lo:g}–{hi:g}°")
            ext_id = f"{SLOPE_PREFIX}{lv}"
            stored = c.execute(sa.text(
                "INSERT INTO hazard_zones (ext_id, hazard_type, level, source, geom) VALUES "
                "(:e, :t, :l, :s, ST_Multi(ST_MakeValid(ST_GeomFromWKB(:wkb, 4326)))) "
                "RETURNING ST_Area(geom::geography)"),
                {"e": ext_id, "t": htype, "l": lv, "wkb": shapely.to_wkb(geom),
                 "s": f"slope of {src}, classes {', '.join(ranges)}"}).scalar_one()
            out_rows.append({"level": lv, "classes": cls, "area_m2": area,
                             "stored_area_m2": float(stored), "ext_id": ext_id})
        bulk_done(c, actor, "compute", "hazard_zones", SLOPE_PREFIX.rstrip(":"),
                  f"slope zones from {src}: breaks {list(breaks)}, levels {levels}")
    return pd.DataFrame(out_rows)


def stored_zone_areas(engine: Engine) -> dict[str, float]:
    """Return ``{level: geodesic area m²}`` of the stored slope zones."""
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT level, sum(ST_Area(geom::geography)) FROM hazard_zones "
                                 "WHERE ext_id LIKE :p GROUP BY level"),
                         {"p": SLOPE_PREFIX + "%"}).all()
    return {r[0]: float(r[1]) for r in rows}


__all__ = [
    "SLOPE_PREFIX", "Raster", "cell_area_m2", "cell_sizes_m", "class_areas", "read_dem",
    "reclassify", "slope", "slope_zones", "stored_zone_areas", "vectorise", "weighted_overlay",
    "zone_slope",
]
