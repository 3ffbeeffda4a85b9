"""Coordinates that are probably in another system than the file says.

Chinese web maps shift their coordinates: Amap and Tencent use GCJ-02 (300–700 m from WGS84),
Baidu BD-09 (a further ~0.5–1 km). Files exported from them usually say nothing, or say
WGS84 (a GeoJSON is CRS84 by definition), and go in hundreds of metres off with every point
still inside the county. Three checks, each a warning that stops the load until it is accepted
or ``--crs`` is given:

* `name_hint` — the file's columns or name say which system (``lon_gcj02``, ``bd09``, 高德,
  百度, ``gcj`` …);
* `road_offset_hint` — with a road network stored, the points sit systematically off the roads
  and converting them from GCJ-02 (or BD-09) brings them onto the roads;
* `degrees_under_projected` — the coordinates are degrees although the file declares a
  projected system (a real road file declared UTM zone 49N and held degrees).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emgis.geo import crs as gcrs

_NAME_PATTERNS = {
    "gcj02": re.compile(r"gcj|高德|amap|autonavi|腾讯|tencent|火星", re.IGNORECASE),
    "bd09": re.compile(r"bd-?09|baidu|百度", re.IGNORECASE),
}
LABEL = {"gcj02": "GCJ-02 (Amap, Tencent)", "bd09": "BD-09 (Baidu)"}

#: the road-offset test: how many points at most, how far from the roads they must sit (median,
#: metres) and how many times closer the conversion must bring them. On a dense network a
#: 500 m shift lands near another road (the demo county: 44 m as read, 0 m converted), so the
#: test is the gain, not the distance; points truly in WGS84 gain nothing from a conversion.
SAMPLE = 300
MIN_OFFSET_M = 30.0
MIN_GAIN = 3.0


def name_hint(columns: Iterable[Any], file_name: str) -> tuple[str, str] | None:
    """``(system, what said so)`` when a column or the file name names GCJ-02 or BD-09."""
    for system, pattern in _NAME_PATTERNS.items():
        hits = [str(c) for c in columns if pattern.search(str(c))]
        if hits:
            return system, f"column(s) {', '.join(hits[:4])}"
        if pattern.search(file_name):
            return system, f"the file name {file_name}"
    return None


def degrees_under_projected(bounds: np.ndarray, source: gcrs.CrsSpec) -> bool:
    """True when ``bounds`` (n × 4) look like lon/lat degrees in China but ``source`` is a
    projected system (whose metre coordinates are in the hundreds of thousands)."""
    if source.crs is None or source.crs.is_geographic or source.kind in ("gcj02", "bd09"):
        return False
    if not len(bounds):
        return False
    x, y = bounds[:, 0], bounds[:, 1]
    return bool(np.all(gcrs.in_china(x, y)))


@dataclass(frozen=True)
class OffsetHint:
    system: str          # gcj02 | bd09
    off_m: float         # median distance of the points to the nearest road, as read
    converted_m: float   # the same after converting them from ``system``
    points: int


def road_offset_hint(conn, lon: np.ndarray, lat: np.ndarray) -> OffsetHint | None:
    """Compare the points' distances to the stored roads as read and as GCJ-02/BD-09.

    None when no roads are stored, fewer than 5 points, or the points sit on the roads.
    """
    import sqlalchemy as sa

    ok = np.isfinite(lon) & np.isfinite(lat) & gcrs.in_china(lon, lat)
    lon, lat = np.asarray(lon)[ok], np.asarray(lat)[ok]
    if lon.size < 5 or not conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM road_edges)")
                                        ).scalar():
        return None
    if lon.size > SAMPLE:
        pick = np.random.default_rng(0).choice(lon.size, SAMPLE, replace=False)
        lon, lat = lon[pick], lat[pick]
    sql = sa.text(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY d) FROM ("
        " SELECT (SELECT ST_Distance(e.geom::geography, p.g::geography) FROM road_edges e"
        "         ORDER BY e.geom <-> p.g LIMIT 1) AS d"
        " FROM (SELECT ST_SetSRID(ST_MakePoint(x, y), 4326) AS g"
        "       FROM unnest(CAST(:x AS float8[]), CAST(:y AS float8[])) AS t(x, y)) p) q")

    def median(x: np.ndarray, y: np.ndarray) -> float:
        v = conn.execute(sql, {"x": [float(a) for a in x], "y": [float(b) for b in y]}).scalar()
        return float("inf") if v is None else float(v)

    as_read = median(lon, lat)
    if as_read < MIN_OFFSET_M:
        return None
    best = None
    for system, convert in (("gcj02", gcrs.gcj02_to_wgs84), ("bd09", gcrs.bd09_to_wgs84)):
        d = median(*convert(lon, lat))
        if d * MIN_GAIN <= as_read and (best is None or d < best.converted_m):
            best = OffsetHint(system, as_read, d, int(lon.size))
    return best


def check_source(p, columns: Iterable[Any], file_name: str, crs_option: str | None,
                 source: gcrs.CrsSpec, bounds: np.ndarray) -> bool:
    """Record what the file's names and numbers say against its coordinate system; return
    False when the coordinates cannot be read as declared (an error was recorded)."""
    if crs_option is None and degrees_under_projected(bounds, source):
        p.error(None, "geometry", source.label,
                "holds longitude/latitude degrees, but the file declares a projected system",
                "pass --crs 4326 (or --crs gcj02 / bd09 if they come from Amap/Tencent/Baidu)")
        return False
    if crs_option is not None or source.kind in ("gcj02", "bd09"):
        return True
    if source.crs is not None and source.crs.to_epsg() not in (4326, 4490):
        return True  # a projected or other declared system: the names are not about it
    hint = name_hint(columns, file_name)
    if hint is not None:
        system, why = hint
        p.warn(None, "geometry", why,
               f"suggests {LABEL[system]} coordinates, read here as {source.label}; they would "
               "go in 300–1,000 m off",
               f"pass --crs {system} to convert them, or --crs 4326 if they really are WGS84")
    return True


def check_against_roads(conn, p, lon: np.ndarray, lat: np.ndarray) -> None:
    """Warn when the points sit off the stored roads the way GCJ-02/BD-09 points do."""
    hint = road_offset_hint(conn, lon, lat)
    if hint is None:
        return
    p.warn(None, "geometry", f"median {hint.off_m:,.0f} m from the nearest road",
           f"the points look like {LABEL[hint.system]} coordinates: converted from it their "
           f"median distance to the stored roads is {hint.converted_m:,.0f} m "
           f"({hint.points} points compared)",
           f"pass --crs {hint.system} to convert them, or --crs 4326 if they really are WGS84")
