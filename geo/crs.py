"""Convert between the coordinate systems found in Chinese emergency-management data.

Three families meet at ingest:

* EPSG coordinate systems that PROJ knows: WGS84 (4326), CGCS2000 (4490) and its
  Gauss-Kruger zones (4491-4554), UTM, legacy Xi'an 1980 / Beijing 1954.
* GCJ-02 ("Mars" coordinates of Amap, Tencent, Google China): WGS84 plus a
  non-linear offset of 50-700 m, using the public (leaked) algorithm.
* BD-09 (Baidu): a further polar perturbation of GCJ-02.

Points outside the rough China bounding box `CHINA_BBOX` are never obfuscated, so
every GCJ-02/BD-09 function returns them unchanged, as all public implementations do.
All converters are vectorised with numpy and accept scalars or arrays of any shape.

All projected CGCS2000 coordinate systems declare their axes as (northing, easting);
this module always builds transformers with ``always_xy=True`` so arrays are (x=easting
or lon, y=northing or lat) everywhere.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pyproj
import shapely
from pyproj import CRS, Transformer

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = [
    "ACCEPTED_FORMS",
    "CHINA_BBOX",
    "CrsSpec",
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "from_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "geoseries_from_wgs84",
    "geoseries_to_wgs84",
    "gk_epsg",
    "gk_zone",
    "guess_gk_epsg",
    "in_china",
    "looks_swapped",
    "metric_crs_for",
    "parse_crs",
    "to_wgs84",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

#: Rough bounding box (min lon, min lat, max lon, max lat) inside which GCJ-02 applies.
#: It is the "outOfChina" test of the public algorithm: it also covers parts of
#: neighbouring countries, and that is what Amap/Baidu do too.
CHINA_BBOX: tuple[float, float, float, float] = (72.004, 0.8293, 137.8347, 55.8271)

# Constants of the public GCJ-02 / BD-09 algorithm (not norms: they define the cipher).
_GCJ_A = 6378245.0  # Krasovsky 1940 semi-major axis
_GCJ_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_BD_X_PI = np.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006

# The iterative inverses stop once the forward image is this close to the input
# (degrees; 1e-10 deg is about 0.01 mm), or after this many rounds.
_INVERSE_TOL_DEG = 1e-10
_INVERSE_MAX_ITER = 30

# Gauss-Kruger zones covered by the CGCS2000 EPSG range (central meridians 75E-135E).
_GK3_ZONES = (25, 45)
_GK6_ZONES = (13, 23)
_GK_EPSG = {  # (width, prefixed) -> (EPSG of the first zone, first zone number)
    (3, True): (4513, 25),
    (3, False): (4534, 25),
    (6, True): (4491, 13),
    (6, False): (4502, 13),
}

_LEGACY_WARNING = (
    "{name} is a legacy datum: converting it to WGS84/CGCS2000 needs the 7-parameter "
    "transformation published by the provincial surveying and mapping bureau (省测绘局); "
    "PROJ has no accurate one, so positions may be off by about 100 m. Ask for the data in "
    "CGCS2000 (国家2000) or convert it with the bureau's parameters first."
)


# --- bounding box ----------------------------------------------------------------------------

def in_china(lon: Any, lat: Any) -> np.ndarray:
    """Return True where (lon, lat) lies inside `CHINA_BBOX`.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees, scalars or arrays (broadcast together).

    Returns
    -------
    numpy.ndarray
        Boolean array of the broadcast shape (0-d for scalars); NaN gives False.
    """
    lon, lat = _as_float(lon, lat)
    x0, y0, x1, y1 = CHINA_BBOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def looks_swapped(lon: Any, lat: Any) -> np.ndarray:
    """Return True where (lat, lon) is inside China's bbox but (lon, lat) is not.

    Parameters
    ----------
    lon, lat
        The values as read from the "longitude" and "latitude" fields.

    Returns
    -------
    numpy.ndarray
        Boolean array: True means the two columns were most likely swapped.
    """
    return in_china(lat, lon) & ~in_china(lon, lat)


# --- GCJ-02 and BD-09 ------------------------------------------------------------------------

def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat to GCJ-02 (Amap, Tencent) with the public algorithm.

    Parameters
    ----------
    lon, lat
        WGS84 degrees, scalars or arrays.

    Returns
    -------
    tuple
        (lon, lat) in GCJ-02; points outside `CHINA_BBOX` unchanged.
    """
    lon, lat = _as_float(lon, lat)
    inside = in_china(lon, lat)
    dlon, dlat = _gcj_offset(lon, lat)
    return _out(np.where(inside, lon + dlon, lon)), _out(np.where(inside, lat + dlat, lat))


def gcj02_to_wgs84(lon: Any, lat: Any, *, exact: bool = True) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat back to WGS84.

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees, scalars or arrays.
    exact
        If True (default), iterate the forward transform to a fixed point (error far
        below 1 cm). If False, use the one-step inverse (error up to about 5 m,
        median 1.7 m, measured on a 1-degree grid over China).

    Returns
    -------
    tuple
        (lon, lat) in WGS84; points outside `CHINA_BBOX` unchanged.
    """
    lon, lat = _as_float(lon, lat)
    inside = in_china(lon, lat)
    wlon, wlat = _invert(_gcj_forward, lon, lat, exact=exact)
    return _out(np.where(inside, wlon, lon)), _out(np.where(inside, wlat, lat))


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert GCJ-02 lon/lat to BD-09 (Baidu).

    Parameters
    ----------
    lon, lat
        GCJ-02 degrees, scalars or arrays.

    Returns
    -------
    tuple
        (lon, lat) in BD-09; points outside `CHINA_BBOX` unchanged.
    """
    lon, lat = _as_float(lon, lat)
    inside = in_china(lon, lat)
    blon, blat = _bd_forward(lon, lat)
    return _out(np.where(inside, blon, lon)), _out(np.where(inside, blat, lat))


def bd09_to_gcj02(lon: Any, lat: Any, *, exact: bool = True) -> tuple[Any, Any]:
    """Convert BD-09 lon/lat back to GCJ-02.

    Parameters
    ----------
    lon, lat
        BD-09 degrees, scalars or arrays.
    exact
        If True (default), iterate to a fixed point; if False, use the usual
        one-step formula (error about 1e-6 degree, a few decimetres).

    Returns
    -------
    tuple
        (lon, lat) in GCJ-02; points outside `CHINA_BBOX` unchanged.
    """
    lon, lat = _as_float(lon, lat)
    inside = in_china(lon, lat)
    glon, glat = _invert(_bd_forward, lon, lat, exact=exact, first=_bd_rough_inverse)
    return _out(np.where(inside, glon, lon)), _out(np.where(inside, glat, lat))


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat to BD-09 (Baidu) through GCJ-02.

    Parameters
    ----------
    lon, lat
        WGS84 degrees, scalars or arrays.

    Returns
    -------
    tuple
        (lon, lat) in BD-09; points outside `CHINA_BBOX` unchanged.
    """
    lon, lat = _as_float(lon, lat)
    inside = in_china(lon, lat)
    blon, blat = _bd_forward(*_gcj_forward(lon, lat))
    return _out(np.where(inside, blon, lon)), _out(np.where(inside, blat, lat))


def bd09_to_wgs84(lon: Any, lat: Any, *, exact: bool = True) -> tuple[Any, Any]:
    """Convert BD-09 lon/lat back to WGS84 through GCJ-02.

    Parameters
    ----------
    lon, lat
        BD-09 degrees, scalars or arrays.
    exact
        If True (default), both inverse steps iterate to a fixed point; if False,
        both use their one-step formulas (error up to about 5 m).

    Returns
    -------
    tuple
        (lon, lat) in WGS84; points outside `CHINA_BBOX` unchanged.
    """
    lon, lat = _as_float(lon, lat)
    inside = in_china(lon, lat)
    glon, glat = _invert(_bd_forward, lon, lat, exact=exact, first=_bd_rough_inverse)
    wlon, wlat = _invert(_gcj_forward, glon, glat, exact=exact)
    return _out(np.where(inside, wlon, lon)), _out(np.where(inside, wlat, lat))


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the GCJ-02 offset in degrees (dlon, dlat) at WGS84 (lon, lat), no bbox test."""
    x = lon - 105.0
    y = lat - 35.0
    sx = np.sqrt(np.abs(x))
    common = 20.0 * np.sin(6.0 * np.pi * x) + 20.0 * np.sin(2.0 * np.pi * x)
    dlat_m = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sx
        + (common + 20.0 * np.sin(np.pi * y) + 40.0 * np.sin(np.pi * y / 3.0)
           + 160.0 * np.sin(np.pi * y / 12.0) + 320.0 * np.sin(np.pi * y / 30.0)) * 2.0 / 3.0
    )
    dlon_m = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sx
        + (common + 20.0 * np.sin(np.pi * x) + 40.0 * np.sin(np.pi * x / 3.0)
           + 150.0 * np.sin(np.pi * x / 12.0) + 300.0 * np.sin(np.pi * x / 30.0)) * 2.0 / 3.0
    )
    rad = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad) ** 2
    # Metres per degree of latitude / longitude on the Krasovsky ellipsoid.
    m_per_deg_lat = np.radians(_GCJ_A * (1.0 - _GCJ_EE) / magic ** 1.5)
    m_per_deg_lon = np.radians(_GCJ_A * np.cos(rad) / np.sqrt(magic))
    return dlon_m / m_per_deg_lon, dlat_m / m_per_deg_lat


def _gcj_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    dlon, dlat = _gcj_offset(lon, lat)
    return lon + dlon, lat + dlat


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _BD_X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _BD_X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_rough_inverse(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta), z * np.sin(theta)


# A vectorised (lon, lat) -> (lon, lat) conversion.
_Convert = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _invert(forward: _Convert, lon: np.ndarray, lat: np.ndarray, *, exact: bool,
            first: _Convert | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Invert ``forward`` near the identity by fixed-point iteration (Caijun 2014)."""
    if first is None:
        flon, flat = forward(lon, lat)
        first_lon, first_lat = lon - (flon - lon), lat - (flat - lat)
    else:
        first_lon, first_lat = first(lon, lat)
    if not exact:
        return first_lon, first_lat
    ilon, ilat = np.array(first_lon, dtype=float), np.array(first_lat, dtype=float)
    for _ in range(_INVERSE_MAX_ITER):
        flon, flat = forward(ilon, ilat)
        dlon, dlat = flon - lon, flat - lat
        ilon = ilon - dlon
        ilat = ilat - dlat
        err = np.maximum(np.abs(dlon), np.abs(dlat))
        # NaN input stays NaN; it must not keep the loop going.
        if not np.any(err > _INVERSE_TOL_DEG):
            break
    return ilon, ilat


def _as_float(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    blon, blat = np.broadcast_arrays(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return blon, blat


def _out(a: np.ndarray) -> Any:
    """Return a 0-d result as a numpy scalar, arrays unchanged."""
    a = np.asarray(a)
    return a[()] if a.ndim == 0 else a


# --- Gauss-Kruger zones ----------------------------------------------------------------------

def gk_zone(lon: Any, *, width: int = 3) -> Any:
    """Return the Gauss-Kruger zone number covering a longitude.

    Parameters
    ----------
    lon
        Longitude in degrees, scalar or array.
    width
        Zone width in degrees: 3 (zone n has central meridian 3n) or 6 (zone n has
        central meridian 6n - 3).

    Returns
    -------
    int or numpy.ndarray
        Zone number(s).
    """
    _check_width(width)
    lon = np.asarray(lon, dtype=float)
    if not np.all(np.isfinite(lon)):
        raise ValueError(f"gk_zone: lon={_show(lon)} holds NaN or infinite values; "
                         "pass finite longitudes in degrees")
    zone = np.floor(lon / 3.0 + 0.5) if width == 3 else np.floor(lon / 6.0) + 1
    zone = zone.astype(int)
    return int(zone) if zone.ndim == 0 else zone


def gk_epsg(lon: Any, *, width: int = 3, prefixed: bool = False) -> Any:
    """Return the EPSG code of the CGCS2000 Gauss-Kruger zone covering a longitude.

    Parameters
    ----------
    lon
        Longitude in degrees, scalar or array; must fall in a zone with central
        meridian 75E-135E (the range EPSG defines for CGCS2000).
    width
        Zone width, 3 or 6 degrees.
    prefixed
        If True, the CRS whose false easting carries the zone number
        (e.g. 39 500 000); if False (default), the "CM xxxE" CRS with false easting 500 000.

    Returns
    -------
    int or numpy.ndarray
        EPSG code(s): 3-degree 4513-4533 / 4534-4554, 6-degree 4491-4501 / 4502-4512.
    """
    zone = np.asarray(gk_zone(lon, width=width))
    lo, hi = _GK3_ZONES if width == 3 else _GK6_ZONES
    bad = (zone < lo) | (zone > hi)
    if np.any(bad):
        lons = np.broadcast_to(np.asarray(lon, dtype=float), zone.shape)
        raise ValueError(
            f"gk_epsg: lon={_show(lons[bad])} falls in "
            f"{width}-degree zone {_show(zone[bad])}, outside the CGCS2000 zones "
            f"{lo}-{hi} (central meridians 75E-135E); use metric_crs_for() to get UTM outside China"
        )
    base, first = _GK_EPSG[(width, prefixed)]
    code = base + (zone - first)
    return int(code) if code.ndim == 0 else code


def metric_crs_for(geometry_or_bounds: Any, *, prefer: str = "gk") -> CRS:
    """Choose a metric projected CRS for data given in WGS84 lon/lat.

    Parameters
    ----------
    geometry_or_bounds
        A shapely geometry, a GeoSeries/GeoDataFrame in EPSG:4326, or bounds
        ``(min lon, min lat, max lon, max lat)``.
    prefer
        ``"gk"`` (default): the CGCS2000 3-degree Gauss-Kruger zone without zone prefix
        (false easting 500 000) covering the centre when it lies in China's bbox, else
        UTM. ``"utm"``: always the WGS84 UTM zone of the centre.

    Returns
    -------
    pyproj.CRS
        The projected CRS. Its axes may be (northing, easting): transform with
        ``always_xy=True``.
    """
    if prefer not in ("gk", "utm"):
        raise ValueError(f"metric_crs_for: prefer={prefer!r} is not known; "
                         "pass prefer='gk' or prefer='utm'")
    lon, lat = _centre(geometry_or_bounds)
    # The CGCS2000 zones stop at CM 135E; the bbox reaches 137.8E, so clamp into the last zone.
    if prefer == "gk" and bool(in_china(lon, lat)):
        lon_gk = min(max(lon, 73.5), 136.4999)
        return CRS.from_epsg(gk_epsg(lon_gk, width=3, prefixed=False))
    zone = int(np.clip(np.floor((lon + 180.0) / 6.0) + 1, 1, 60))
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _centre(obj: Any) -> tuple[float, float]:
    if isinstance(obj, shapely.Geometry):
        if obj.is_empty:
            raise ValueError("metric_crs_for: the geometry is empty; "
                             "pass a geometry with coordinates")
        c = obj.centroid
        return float(c.x), float(c.y)
    bounds = getattr(obj, "total_bounds", None)
    if bounds is None:
        bounds = obj
    try:
        b = np.asarray(bounds, dtype=float).ravel()
    except (TypeError, ValueError):
        b = np.array([])
    if b.size != 4 or not np.all(np.isfinite(b)):
        raise ValueError(
            f"metric_crs_for: geometry_or_bounds={obj!r:.120} is neither a shapely geometry, "
            "a non-empty GeoSeries/GeoDataFrame nor (min lon, min lat, max lon, max lat); "
            "pass one of those in WGS84"
        )
    if abs(b[0]) > 180 or abs(b[2]) > 180 or abs(b[1]) > 90 or abs(b[3]) > 90:
        raise ValueError(
            f"metric_crs_for: bounds {tuple(b.round(3))} are not longitude/latitude degrees; "
            "convert the data to WGS84 (EPSG:4326) first"
        )
    return float((b[0] + b[2]) / 2), float((b[1] + b[3]) / 2)


def _check_width(width: int) -> None:
    if width not in (3, 6):
        raise ValueError(f"width={width!r} is not a Gauss-Kruger zone width; "
                         "pass width=3 or width=6")


def _show(a: Any) -> str:
    a = np.asarray(a).ravel()
    txt = ", ".join(f"{v:g}" for v in a[:5])
    return f"[{txt}{', ...' if a.size > 5 else ''}]" if a.size != 1 else txt


def guess_gk_epsg(x: Any, y: Any) -> int | None:
    """Guess the CGCS2000 zone-prefixed Gauss-Kruger EPSG code of projected coordinates.

    Survey data often carries eastings with the zone number in front
    (e.g. 39 512 345.6 in 3-degree zone 39) and northings of 1-6.3 million metres.
    Either column may hold the easting (Chinese survey order is X = northing).

    Parameters
    ----------
    x, y
        Coordinates as read, arrays or scalars. NaN values are ignored.

    Returns
    -------
    int or None
        The prefixed EPSG code (3-degree zones 25-45 -> 4513-4533, 6-degree zones
        13-23 -> 4491-4501) when every finite point points to the same zone, else None.
    """
    x, y = _as_float(x, y)
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    x, y = x[ok], y[ok]
    for easting, northing in ((x, y), (y, x)):
        zone = np.floor(easting / 1e6)
        within = easting - zone * 1e6
        if not (np.all(zone == zone[0]) and np.all((within > 1e5) & (within < 9e5))
                and np.all((northing > 1e6) & (northing < 6.3e6))):
            continue
        z = int(zone[0])
        if _GK3_ZONES[0] <= z <= _GK3_ZONES[1]:
            return _GK_EPSG[(3, True)][0] + z - _GK3_ZONES[0]
        if _GK6_ZONES[0] <= z <= _GK6_ZONES[1]:
            return _GK_EPSG[(6, True)][0] + z - _GK6_ZONES[0]
    return None


# --- parsing user input ----------------------------------------------------------------------

@dataclass(frozen=True)
class CrsSpec:
    """A coordinate system named by the user.

    Attributes
    ----------
    kind
        ``"epsg"`` for anything PROJ knows, ``"gcj02"`` or ``"bd09"`` for the obfuscated
        Chinese web-map systems.
    crs
        The pyproj CRS, or None for GCJ-02 / BD-09.
    label
        What to record as the source CRS of a load, e.g. ``"EPSG:4549"``, ``"GCJ-02"``.
    warning
        A message to show the user (legacy datums), or None.
    """

    kind: str
    crs: CRS | None
    label: str
    warning: str | None = None


_GCJ_NAMES = {"gcj02", "gcj-02", "gcj", "gcj02ll", "amap", "autonavi", "gaode", "tencent", "qq",
              "mars", "火星", "火星坐标", "火星坐标系", "高德", "高德坐标", "腾讯", "腾讯坐标",
              "国测局", "国测局坐标"}
_BD_NAMES = {"bd09", "bd-09", "bd09ll", "baidu", "百度", "百度坐标", "百度坐标系"}
_EPSG_NAMES = {
    "wgs84": 4326, "wgs-84": 4326, "wgs 84": 4326, "gps": 4326,
    "cgcs2000": 4490, "cgcs-2000": 4490, "cgcs 2000": 4490, "国家2000": 4490,
    "2000坐标系": 4490, "2000国家大地坐标系": 4490, "国家2000坐标系": 4490,
    "xian80": 4610, "xian1980": 4610, "xi'an 1980": 4610, "xian 1980": 4610, "西安80": 4610,
    "西安1980": 4610, "beijing54": 4214, "beijing1954": 4214, "beijing 1954": 4214,
    "北京54": 4214, "北京1954": 4214,
}
_GK_RE = re.compile(r"^cgcs2000-(?:gk([36])|([36])deg)-(zone|cm)?(\d{2,3})$")

ACCEPTED_FORMS = (
    "an EPSG code ('4326', 'EPSG:4549'); 'wgs84'; "
    "'cgcs2000' / '国家2000' / '2000坐标系' (EPSG:4490); "
    "'gcj02' / 'gcj-02' / 'amap' / 'gaode' / 'tencent' / 'mars' / '火星坐标' / '高德' (GCJ-02); "
    "'bd09' / 'bd-09' / 'baidu' / '百度' (BD-09); CGCS2000 Gauss-Kruger zones 'cgcs2000-gk3-39' or "
    "'cgcs2000-3deg-zone39' (3-degree zone 39, easting with zone prefix), 'cgcs2000-gk3-cm117' "
    "(central meridian 117E, false easting 500000), "
    "'cgcs2000-gk6-20' / 'cgcs2000-gk6-cm117' (6-degree); "
    "legacy 'xian80' / 'beijing54' (with a warning); or any PROJ string or WKT"
)


def parse_crs(text: str | int | CRS) -> CrsSpec:
    """Parse a coordinate-system name given by a user (the loaders' ``--crs`` option).

    Parameters
    ----------
    text
        See `ACCEPTED_FORMS`: EPSG codes, names such as ``"wgs84"``, ``"gcj02"``,
        ``"baidu"``, ``"国家2000"``, CGCS2000 Gauss-Kruger zone names such as
        ``"cgcs2000-gk3-39"``, PROJ strings or WKT; an int is read as an EPSG code.

    Returns
    -------
    CrsSpec
        ``warning`` is set for Xi'an 1980 and Beijing 1954 based systems.

    Raises
    ------
    ValueError
        If the text names no coordinate system; the message lists the accepted forms.
    """
    if isinstance(text, CRS):
        return _epsg_spec(text)
    if isinstance(text, int | np.integer):
        text = str(int(text))
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"crs={text!r} is empty or not text; give one of: {ACCEPTED_FORMS}")
    raw = text.strip()
    key = re.sub(r"[\s_]+", " ", raw.lower())
    dashed = key.replace(" ", "-")
    if key in _GCJ_NAMES or dashed in _GCJ_NAMES:
        return CrsSpec("gcj02", None, "GCJ-02")
    if key in _BD_NAMES or dashed in _BD_NAMES:
        return CrsSpec("bd09", None, "BD-09")
    if key in _EPSG_NAMES:
        return _epsg_spec(CRS.from_epsg(_EPSG_NAMES[key]))
    if re.fullmatch(r"(epsg:)?\d{4,6}", key.replace(" ", "")):
        return _epsg_spec(_pyproj_crs(raw, "EPSG:" + key.replace(" ", "").removeprefix("epsg:")))
    m = _GK_RE.match(dashed)
    if m:
        return _epsg_spec(CRS.from_epsg(_gk_code(raw, int(m[1] or m[2]), m[3], int(m[4]))))
    return _epsg_spec(_pyproj_crs(raw, raw), raw)


def _gk_code(raw: str, width: int, how: str | None, n: int) -> int:
    if how == "cm":
        lo, hi = _GK3_ZONES if width == 3 else _GK6_ZONES
        zone = n / 3 if width == 3 else (n + 3) / 6
        if zone != int(zone) or not lo <= zone <= hi:
            valid = "75, 78, ..., 135" if width == 3 else "75, 81, ..., 135"
            raise ValueError(f"crs={raw!r}: {n} is not a central meridian of a CGCS2000 "
                             f"{width}-degree Gauss-Kruger zone; use one of {valid}")
        return gk_epsg(float(n), width=width, prefixed=False)
    lo, hi = _GK3_ZONES if width == 3 else _GK6_ZONES
    if not lo <= n <= hi:
        raise ValueError(f"crs={raw!r}: CGCS2000 {width}-degree Gauss-Kruger zones are "
                         f"{lo}-{hi}, not {n}; write e.g. 'cgcs2000-gk{width}-{(lo + hi) // 2}' "
                         "for a zone number or "
                         f"'cgcs2000-gk{width}-cm117' for a central meridian")
    return _GK_EPSG[(width, True)][0] + n - lo


def _pyproj_crs(raw: str, text: str) -> CRS:
    try:
        return CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"crs={raw!r} is not a coordinate system emgis or PROJ knows ({first}); "
                         f"give one of: {ACCEPTED_FORMS}") from None


def _epsg_spec(crs: CRS, raw: str | None = None) -> CrsSpec:
    try:
        # Catches CRSs PROJ knows but cannot relate to WGS84, e.g. "mars2000" (a Mars datum).
        _transformer(crs, _WGS84)
    except pyproj.exceptions.ProjError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"crs={raw or crs.name!r} cannot be converted to WGS84 ({first}); "
                         f"give one of: {ACCEPTED_FORMS}") from None
    code = crs.to_epsg()
    if code is not None:
        label = f"EPSG:{code}"
    else:
        auth = crs.to_authority()
        label = f"{auth[0]}:{auth[1]}" if auth else _short_text(crs)
    geodetic = crs.geodetic_crs
    datum = geodetic.datum.name if geodetic is not None and geodetic.datum is not None else ""
    warning = None
    for legacy in ("Xian 1980", "Beijing 1954"):
        if legacy.lower() in datum.lower():
            warning = _LEGACY_WARNING.format(name=f"{crs.name} ({label})")
    return CrsSpec("epsg", crs, label, warning)


def _short_text(crs: CRS) -> str:
    srs = crs.srs.strip()
    if srs.startswith("+") and len(srs) <= 200:
        return srs
    return crs.name or "custom CRS"


# --- converting coordinates ------------------------------------------------------------------

def _transformer(src: CRS, dst: CRS) -> Transformer:
    # pyproj transformers must not be shared between threads (the API serves from several).
    return _cached_transformer(src, dst, threading.get_ident())


@lru_cache(maxsize=128)
def _cached_transformer(src: CRS, dst: CRS, _thread: int) -> Transformer:
    return Transformer.from_crs(src, dst, always_xy=True)


_WGS84 = CRS.from_epsg(4326)


def _proj_crs(spec: CrsSpec) -> CRS:
    """The PROJ coordinate system of ``spec``; GCJ-02 and BD-09 have none (handle them first)."""
    if spec.crs is None:
        raise ValueError(f"{spec.label} ({spec.kind}) is not a coordinate system PROJ knows; "
                         "convert it with the GCJ-02/BD-09 functions of emgis.geo.crs")
    return spec.crs


def to_wgs84(x: Any, y: Any, spec: CrsSpec | str) -> tuple[Any, Any]:
    """Convert coordinates in the coordinate system ``spec`` to WGS84 lon/lat.

    Parameters
    ----------
    x, y
        Easting/longitude and northing/latitude (x first even for CRSs that declare
        northing first), scalars or arrays.
    spec
        A `CrsSpec`, or text for `parse_crs`.

    Returns
    -------
    tuple
        (lon, lat) in degrees.
    """
    spec = parse_crs(spec) if not isinstance(spec, CrsSpec) else spec
    x, y = _as_float(x, y)
    if spec.kind == "gcj02":
        return gcj02_to_wgs84(x, y)
    if spec.kind == "bd09":
        return bd09_to_wgs84(x, y)
    lon, lat = _transformer(_proj_crs(spec), _WGS84).transform(x, y)
    return _out(lon), _out(lat)


def from_wgs84(lon: Any, lat: Any, spec: CrsSpec | str) -> tuple[Any, Any]:
    """Convert WGS84 lon/lat to the coordinate system ``spec``.

    Parameters
    ----------
    lon, lat
        WGS84 degrees, scalars or arrays.
    spec
        A `CrsSpec`, or text for `parse_crs`.

    Returns
    -------
    tuple
        (x, y): easting/longitude first, whatever axis order the CRS declares.
    """
    spec = parse_crs(spec) if not isinstance(spec, CrsSpec) else spec
    lon, lat = _as_float(lon, lat)
    if spec.kind == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if spec.kind == "bd09":
        return wgs84_to_bd09(lon, lat)
    x, y = _transformer(_WGS84, _proj_crs(spec)).transform(lon, lat)
    return _out(x), _out(y)


def geoseries_to_wgs84(geoseries: gpd.GeoSeries, spec: CrsSpec | str) -> gpd.GeoSeries:
    """Convert a GeoSeries of any geometry type from ``spec`` to WGS84.

    Parameters
    ----------
    geoseries : geopandas.GeoSeries
        Geometries whose coordinates are in ``spec`` (a CRS set on the series is
        overridden: ``spec`` is what the user said the coordinates are).
    spec
        A `CrsSpec`, or text for `parse_crs`.

    Returns
    -------
    geopandas.GeoSeries
        Same index and name, CRS EPSG:4326. Missing and empty geometries are kept.
    """
    import geopandas as gpd

    spec = parse_crs(spec) if not isinstance(spec, CrsSpec) else spec
    if spec.kind == "epsg":
        return geoseries.set_crs(spec.crs, allow_override=True).to_crs(_WGS84)
    inverse = gcj02_to_wgs84 if spec.kind == "gcj02" else bd09_to_wgs84
    geoms = shapely.transform(np.asarray(geoseries.values, dtype=object), _per_coords(inverse),
                              include_z=None)
    return gpd.GeoSeries(geoms, index=geoseries.index, name=geoseries.name, crs=_WGS84)


def geoseries_from_wgs84(geoseries: gpd.GeoSeries, spec: CrsSpec | str) -> gpd.GeoSeries:
    """Convert a GeoSeries of any geometry type from WGS84 to ``spec``.

    Parameters
    ----------
    geoseries : geopandas.GeoSeries
        Geometries in EPSG:4326 (assumed when the series has no CRS; another CRS
        set on the series is converted from).
    spec
        A `CrsSpec`, or text for `parse_crs`.

    Returns
    -------
    geopandas.GeoSeries
        Same index and name; CRS ``spec.crs``, or None for GCJ-02 / BD-09, which
        PROJ does not know.
    """
    import geopandas as gpd

    spec = parse_crs(spec) if not isinstance(spec, CrsSpec) else spec
    gs = geoseries.set_crs(_WGS84) if geoseries.crs is None else geoseries
    if spec.kind == "epsg":
        return gs.to_crs(spec.crs)
    if not gs.crs.equals(_WGS84):
        gs = gs.to_crs(_WGS84)
    forward = wgs84_to_gcj02 if spec.kind == "gcj02" else wgs84_to_bd09
    geoms = shapely.transform(np.asarray(gs.values, dtype=object), _per_coords(forward),
                              include_z=None)
    return gpd.GeoSeries(geoms, index=geoseries.index, name=geoseries.name, crs=None)


def _per_coords(func: Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]
                ) -> Callable[[np.ndarray], np.ndarray]:
    """Wrap a (lon, lat) -> (lon, lat) converter for `shapely.transform` (z passes through)."""
    def apply(coords: np.ndarray) -> np.ndarray:
        out = np.array(coords, dtype=float, copy=True)
        lon, lat = func(coords[:, 0], coords[:, 1])
        out[:, 0], out[:, 1] = lon, lat
        return out
    return apply
