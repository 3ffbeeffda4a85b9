"""What a request must be before an endpoint acts on it: its body's fields and its geometries.

- `RequestBody`, the base of every JSON body model: unknown fields are refused, numbers must be
  JSON numbers (``true`` or ``"1"`` is not a count: pydantic's strict mode), and no text may hold
  a lone surrogate (``"\\ud800"`` is valid JSON but not text; PostgreSQL cannot store it);
- `posted_geometry`: a GeoJSON geometry in lon/lat, refused with the field, the reason and the
  fix when it is malformed, empty, not finite, outside -180..180 / -90..90, at (0, 0) (where a
  missing position lands), has more vertices than the norm ``api.geometry_vertices_max``, or lies
  more than ``EMGIS_STUDY_AREA_MARGIN_KM`` outside the study area.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ConfigDict, field_validator

from emgis.layers.problems import Problems

#: The norm that bounds a posted geometry's vertices (layers/norms_default.csv).
VERTICES_NORM = "api.geometry_vertices_max"


def has_surrogate(value: Any) -> bool:
    """Whether ``value`` (text, or lists and objects of it, keys too) holds a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_surrogate(v) for v in value)
    return False


def printable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX`` escapes (safe to encode as UTF-8)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class RequestBody(BaseModel):
    """A JSON request body: no unknown fields, strict numbers, text that is text."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if has_surrogate(value):
            raise ValueError("holds a lone surrogate (\\ud800-\\udfff), which is not text; "
                             "send the text as UTF-8")
        return value


# --- geometries ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """Where a posted geometry may be: the study area in its metric CRS and how far beyond."""

    area_m: Any            # the study area (metric CRS), or None when none is recorded
    metric_epsg: int | None
    margin_km: float
    max_vertices: int


def place(request: Request) -> Place:
    """The limits in force for ``request``'s app (kept until the study area or norms change)."""
    from emgis.api.http.analyses import _norms_in_force

    def load() -> tuple[Any, int | None]:
        import shapely
        from pyproj import Transformer

        from emgis.layers.load.study_area import load_study_area

        sa_ = load_study_area(request.app.state.engine)
        if sa_ is None:
            return None, None
        t = Transformer.from_crs(4326, sa_.metric_epsg, always_xy=True)
        return shapely.transform(sa_.geom, t.transform, interleaved=False), sa_.metric_epsg

    area_m, epsg = request.app.state.memo.get(("study_area_m",), ("study_area",), load)
    max_vertices = int(_norms_in_force(request).number(VERTICES_NORM))
    return Place(area_m, epsg, getattr(request.app.state, "margin_km", 30.0), max_vertices)


def posted_geometry(request: Request, p: Problems, field: str, value: Any,
                    allowed: tuple[str, ...]) -> str | None:
    """Check a posted GeoJSON geometry (lon/lat); return it as JSON text (2D), or None after
    recording its problems in ``p``."""
    import numpy as np
    import shapely
    from shapely.geometry import shape

    if (not isinstance(value, dict) or value.get("type") not in allowed
            or has_surrogate(value)):
        p.error(None, field, _short(value), "is not a GeoJSON geometry of an allowed type",
                f"give {{\"type\": \"{allowed[0]}\", \"coordinates\": [...]}} "
                f"(one of {', '.join(allowed)}), lon/lat WGS84")
        return None
    lim = place(request)
    n = _count_positions(value.get("coordinates"))
    if n > lim.max_vertices:
        p.error(None, field, f"{value['type']} of {n} vertices",
                f"has more than {lim.max_vertices} vertices (norm {VERTICES_NORM})",
                "simplify the outline (e.g. to 10 m in QGIS: Vector > Geometry Tools > Simplify), "
                f"or raise the limit: emgis norms set {VERTICES_NORM} N")
        return None
    try:
        g = shape(value)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError,
            shapely.errors.ShapelyError) as exc:
        p.error(None, field, _short(value), f"is not a valid {value['type']}: {exc}",
                "give coordinates as [lon, lat] pairs; a polygon's ring must close")
        return None
    if g.is_empty:
        p.error(None, field, _short(value), "is empty", "give at least one position")
        return None
    g = shapely.force_2d(g)  # heights are not stored
    xy = shapely.get_coordinates(g)
    if not np.isfinite(xy).all():
        p.error(None, field, _short(value), "has a coordinate that is not a finite number "
                "(NaN, Infinity or too large)", "give [longitude, latitude] in WGS84 degrees")
        return None
    x0, y0, x1, y1 = g.bounds
    if not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
        p.error(None, field, _short(value), "has coordinates outside lon -180..180 / lat -90..90",
                "give [longitude, latitude] in WGS84 degrees, longitude first")
        return None
    if ((xy[:, 0] == 0) & (xy[:, 1] == 0)).any():
        p.error(None, field, _short(value), "has a position at (0, 0), where a missing "
                "position lands", "give the real [longitude, latitude] of the place")
        return None
    if not g.is_valid:
        from shapely.validation import explain_validity

        p.error(None, field, _short(value), f"is not a valid geometry ({explain_validity(g)})",
                "fix self-intersections; close each ring")
        return None
    if not _near_study_area(p, field, value, g, lim):
        return None
    return json.dumps(shapely.geometry.mapping(g))


def _near_study_area(p: Problems, field: str, value: Any, g, lim: Place) -> bool:
    if lim.area_m is None:
        return True
    import shapely
    from pyproj import Transformer

    t = Transformer.from_crs(4326, lim.metric_epsg, always_xy=True)
    km = shapely.transform(g, t.transform, interleaved=False).distance(lim.area_m) / 1000
    if km <= lim.margin_km:
        return True
    p.error(None, field, _short(value),
            f"is {km:.0f} km outside the study area (more than EMGIS_STUDY_AREA_MARGIN_KM = "
            f"{lim.margin_km:g} km)",
            "check the coordinates are [longitude, latitude] in WGS84 degrees (not swapped, not "
            "projected); a place farther away belongs to another county's service")
    return False


def _count_positions(coords: Any, limit: int = 10**7) -> int:
    """How many positions a GeoJSON ``coordinates`` array holds (without building anything)."""
    stack, n = [coords], 0
    while stack and n <= limit:
        c = stack.pop()
        if isinstance(c, list | tuple):
            if c and not isinstance(c[0], list | tuple):
                n += 1
            else:
                stack.extend(c)
    return n


def _short(value: Any) -> str:
    s = json.dumps(value, default=str) if not isinstance(value, str) else printable(value)
    return s if len(s) <= 120 else s[:117] + "..."
