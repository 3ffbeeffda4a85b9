"""The offline base map: roads, outlines and place names from PostGIS, as Mapbox Vector Tiles.

An intranet with no internet has everything a base map needs already in the database: the road
network (``road_edges``), the county, township and village outlines (``admin_units``,
``study_area``) and their names. `base_tile` cuts one tile with ``ST_AsMVT`` (two layers,
``roads`` with ``rank`` 1 (fastest) … 5 and ``boundaries`` with ``level``); `place_labels` gives
the names to write at a zoom. What is drawn grows with the zoom (`roads_at`, `levels_at`), so a
county-wide tile stays small.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: (minimum zoom, highest rank drawn): the fast roads first, the village lanes last.
ROAD_RANKS: tuple[tuple[int, int], ...] = ((0, 1), (8, 2), (10, 3), (11, 4), (13, 5))
#: (minimum zoom, admin levels outlined)
BOUNDARY_LEVELS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("province", "prefecture", "county")), (9, ("province", "prefecture", "county",
                                                    "township")),
    (12, ("province", "prefecture", "county", "township", "village")))
#: (minimum zoom, admin levels named)
LABEL_LEVELS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (0, ("county",)), (10, ("county", "township")), (13, ("township", "village")))
MAX_ZOOM = 22
MAX_LABELS = 400
EXTENT = 4096
BUFFER = 64

# a road's rank from its speed (km/h): every source has a speed, not every one a known class
_RANK = ("CASE WHEN e.speed_kmh >= 80 THEN 1 WHEN e.speed_kmh >= 60 THEN 2 "
         "WHEN e.speed_kmh >= 45 THEN 3 WHEN e.speed_kmh >= 30 THEN 4 ELSE 5 END")

_TILE_SQL = f"""
WITH b AS (SELECT ST_TileEnvelope(:z, :x, :y) AS env,
                  ST_Transform(ST_TileEnvelope(:z, :x, :y, margin => 0.02), 4326) AS box),
roads AS (
  SELECT ST_AsMVTGeom(ST_Transform(ST_Simplify(e.geom, :tol), 3857), b.env, {EXTENT},
                      {BUFFER}, true) AS geom,
         {_RANK} AS rank, e.road_class AS class, e.name
  FROM road_edges e, b
  WHERE e.network = :net AND e.geom && b.box AND {_RANK} <= :max_rank
),
bounds AS (
  SELECT ST_AsMVTGeom(ST_Transform(ST_Boundary(ST_Simplify(u.geom, :tol)), 3857), b.env,
                      {EXTENT}, {BUFFER}, true) AS geom, u.level, u.name
  FROM admin_units u, b
  WHERE u.geom IS NOT NULL AND u.geom && b.box AND u.level = ANY(:levels)
  UNION ALL
  SELECT ST_AsMVTGeom(ST_Transform(ST_Boundary(ST_Simplify(s.geom, :tol)), 3857), b.env,
                      {EXTENT}, {BUFFER}, true), 'county', s.name
  FROM study_area s, b WHERE s.geom && b.box
)
SELECT COALESCE((SELECT ST_AsMVT(r.*, 'roads', {EXTENT}, 'geom') FROM roads r
                 WHERE r.geom IS NOT NULL), ''::bytea)
    || COALESCE((SELECT ST_AsMVT(o.*, 'boundaries', {EXTENT}, 'geom') FROM bounds o
                 WHERE o.geom IS NOT NULL), ''::bytea)
"""


def _at(table: tuple[tuple[int, Any], ...], z: int) -> Any:
    out = table[0][1]
    for zmin, value in table:
        if z >= zmin:
            out = value
    return out


def roads_at(z: int) -> int:
    """The highest road rank drawn at zoom ``z``."""
    return int(_at(ROAD_RANKS, z))


def levels_at(z: int) -> tuple[str, ...]:
    """The admin levels outlined at zoom ``z``."""
    return tuple(_at(BOUNDARY_LEVELS, z))


def check_tile(z: int, x: int, y: int) -> None:
    """ValueError unless z/x/y names a tile of the Web Mercator grid."""
    if not 0 <= z <= MAX_ZOOM:
        raise ValueError(f"zoom {z} is outside 0..{MAX_ZOOM}")
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        raise ValueError(f"tile {z}/{x}/{y} does not exist: x and y run from 0 to {n - 1} at "
                         f"zoom {z}")


def base_tile(engine: Engine, z: int, x: int, y: int, *, network: str = "default") -> bytes:
    """One vector tile (MVT bytes; empty where nothing is stored) of the offline base map."""
    check_tile(z, x, y)
    # simplify to about a quarter of a pixel at this zoom (degrees)
    tol = 360.0 / (256 << z) / 4
    with engine.connect() as c:
        data = c.execute(sa.text(_TILE_SQL), {
            "z": z, "x": x, "y": y, "net": network, "tol": tol, "max_rank": roads_at(z),
            "levels": list(levels_at(z))}).scalar_one()
    return bytes(data or b"")


def place_labels(engine: Engine, bbox: tuple[float, float, float, float],
                 z: int) -> dict[str, Any]:
    """The names to write in ``bbox`` (lon/lat) at zoom ``z``, as a GeoJSON FeatureCollection.

    Each unit's label point is its stored point, else a point on its outline's surface; at most
    `MAX_LABELS`, the higher levels first.
    """
    levels = list(_at(LABEL_LEVELS, z))
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT code, name, level, ST_X(p), ST_Y(p) FROM ("
            "  SELECT code, name, level, COALESCE(point, ST_PointOnSurface(geom)) AS p "
            "  FROM admin_units WHERE level = ANY(:levels) AND name IS NOT NULL "
            "  AND COALESCE(point, geom) && ST_MakeEnvelope(:a, :b, :c, :d, 4326)) q "
            "WHERE p && ST_MakeEnvelope(:a, :b, :c, :d, 4326) "
            "ORDER BY array_position(:levels, level::text), code LIMIT :n"),
            {"levels": levels, "a": bbox[0], "b": bbox[1], "c": bbox[2], "d": bbox[3],
             "n": MAX_LABELS}).all()
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": r[0], "geometry": {"type": "Point", "coordinates": [r[3], r[4]]},
         "properties": {"name": r[1], "level": r[2]}} for r in rows]}
