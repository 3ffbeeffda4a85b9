"""Repair geometries and keep their polygonal parts: one rule for every area emgis handles.

A user's boundary file, a hazard zone drawn by hand, an isochrone reprojected from metres:
each can come with a self-touching ring or a bow-tie, which PostGIS, overlays and GeoJSON
readers then reject or misread. ``shapely.make_valid`` repairs them without losing area
(``buffer(0)`` can drop a lobe of a bow-tie), but it may leave lines and points where a ring
collapsed; an area layer wants only the polygons. :func:`repair_polygons` does both, over an
array at once, and says how many geometries needed the repair, so that callers can tell the
user.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

__all__ = ["polygonal", "repair", "repair_polygons"]

_POLYGON, _MULTIPOLYGON = 3, 6  # shapely.get_type_id


def repair(geoms: Any) -> tuple[np.ndarray, int]:
    """Make every invalid geometry valid with ``shapely.make_valid``; valid ones are kept as is.

    Parameters
    ----------
    geoms
        A geometry, a sequence or array of them, or a GeoSeries; None stays None.

    Returns
    -------
    (numpy.ndarray, int)
        The geometries (object array, the input's order) and how many were repaired.
    """
    arr = _array(geoms)
    bad = ~shapely.is_missing(arr) & ~shapely.is_valid(arr)
    if bad.any():
        arr[bad] = shapely.make_valid(arr[bad])
    return arr, int(bad.sum())


def polygonal(geoms: Any, *, multi: bool = False) -> np.ndarray:
    """Keep only the polygonal parts of each geometry (the lines and points are dropped).

    Parameters
    ----------
    geoms
        Valid geometries (see :func:`repair`): a geometry, a sequence or array, a GeoSeries.
    multi
        Return every result as a MultiPolygon (what the area tables store); by default a
        result with one part is a Polygon.

    Returns
    -------
    numpy.ndarray
        One geometry per input (object array): a Polygon or MultiPolygon, or None where the
        input was None or has no polygonal part. Overlapping polygons of a collection are
        merged, so every result is valid.
    """
    arr = _array(geoms)
    out = np.full(len(arr), None, dtype=object)
    # two levels of parts: a collection may hold a MultiPolygon
    parts, owner = shapely.get_parts(arr, return_index=True)
    keep = np.isin(shapely.get_type_id(parts), (_POLYGON, _MULTIPOLYGON))
    polys, sub = shapely.get_parts(parts[keep], return_index=True)
    owner = owner[keep][sub]
    area = ~shapely.is_empty(polys)
    polys, owner = polys[area], owner[area]
    if not len(polys):
        return out
    rows, first, count = np.unique(owner, return_index=True, return_counts=True)
    single = count == 1
    if not multi:
        out[rows[single]] = polys[first[single]]
    several = rows if multi else rows[~single]
    if len(several):
        pick = np.isin(owner, several)
        shapely.multipolygons(polys[pick], indices=owner[pick], out=out)
    # parts that overlap (a valid GeometryCollection allows it) are merged into one area
    overlapping = ~shapely.is_missing(out) & ~shapely.is_valid(out)
    for i in np.flatnonzero(overlapping):
        merged = shapely.union_all(shapely.get_parts(out[i]))
        out[i] = _as_multi(merged) if multi else merged
    return out


def repair_polygons(geoms: Any, *, multi: bool = False) -> tuple[np.ndarray, int]:
    """Repair invalid geometries and keep their polygonal parts; return them and the repair count.

    :func:`repair`, then :func:`polygonal`: the result holds a valid Polygon or MultiPolygon
    per input, or None where there was no geometry or no area left.
    """
    arr, repaired = repair(geoms)
    return polygonal(arr, multi=multi), repaired


def _array(geoms: Any) -> np.ndarray:
    if isinstance(geoms, shapely.Geometry) or geoms is None:
        geoms = [geoms]
    values = getattr(geoms, "values", geoms)  # a GeoSeries' GeometryArray
    arr = np.empty(len(values), dtype=object)
    arr[:] = list(values)
    return arr


def _as_multi(geom: shapely.Geometry) -> shapely.Geometry:
    if isinstance(geom, shapely.Polygon):
        return shapely.MultiPolygon([geom])
    return geom
