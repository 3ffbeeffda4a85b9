"""Small database helpers shared by the risk modules that write PostGIS.

Why a module of its own: :mod:`risk.store`, :mod:`risk.hazard_log`, :mod:`risk.lists` and
:mod:`risk.zoning` each write or read tables the same way — who did it (``emgis.actor``,
picked up by the audit trigger), the bulk-write protocol (per-row auditing off, one summary
``audit_log`` entry), object columns that keep None, polygon-only geometries for the
MultiPolygon columns. Kept here once, not copied into each of them; nothing here knows
about risk.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection


def set_actor(c: Connection, actor: str, *, bulk: bool = False) -> None:
    """Name who writes in this transaction; ``bulk`` switches per-row auditing off."""
    c.execute(sa.text("SELECT set_config('emgis.actor', :a, true)"), {"a": actor})
    if bulk:
        c.execute(sa.text("SELECT set_config('emgis.bulk', 'on', true)"))


def bulk_done(c: Connection, actor: str, action: str, table: str, key: str, detail: str) -> None:
    """Switch per-row auditing back on and write the one summary entry of a bulk write."""
    c.execute(sa.text("SELECT set_config('emgis.bulk', 'off', true)"))
    c.execute(sa.text("INSERT INTO audit_log (actor, action, table_name, row_key, detail) "
                      "VALUES (:a, :act, :t, :k, :d)"),
              {"a": actor, "act": action, "t": table, "k": key, "d": detail})


def obj(values: Iterable[object]) -> pd.Series:
    """An object column (None stays None, not NaN as in pandas 3 string columns)."""
    return pd.Series(list(values), dtype=object)


def multipolygon(g: shapely.Geometry | None) -> shapely.MultiPolygon | None:
    """Keep the polygonal parts of ``g`` as a MultiPolygon (None if there are none)."""
    if g is None or g.is_empty:
        return None
    if g.geom_type == "Polygon":
        return shapely.MultiPolygon([g])
    if g.geom_type == "MultiPolygon":
        return g
    parts = [p for p in getattr(g, "geoms", []) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in (p.geoms if p.geom_type == "MultiPolygon" else [p])]
    return shapely.MultiPolygon(polys) if polys else None
