"""What a feature collection is, and the SQL that reads its features (OGC API – Features).

A `Collection` is a whitelisted source (a table, or a fixed SELECT over tables for the joined
collections: incident points / areas, depot stock at its depot, population by unit) with one
key, one geometry column of one geometry type and typed property columns (some hidden: never
served, never filterable). Every name in the SQL comes from a `Collection`; every value from
the request is a bound parameter.

Paging is by key: a page is found on the key index (``WHERE key > :after`` for the ``next``
link, or ``ORDER BY key OFFSET`` over keys only), and only that page's rows are turned into
JSON, so the last page of a 30,000-row layer costs what the first does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from emgis.api.http.errors import BadRequest

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/"
#: CGCS2000 lon/lat; its EPSG axis order is latitude first.
CGCS2000 = 4490
#: CGCS2000 3-degree Gauss-Krüger zones without the zone prefix (EPSG: northing first).
GK3_RANGE = range(4534, 4555)

#: JSON Schema of a SQL column type (queryables); None: not filterable (JSON, arrays).
_SCHEMA = (
    (sa.Boolean, {"type": "boolean"}),
    (sa.Integer, {"type": "integer"}),
    (sa.Float, {"type": "number"}),
    (sa.Numeric, {"type": "number"}),
    (sa.DateTime, {"type": "string", "format": "date-time"}),
    (sa.Date, {"type": "string", "format": "date"}),
    (sa.String, {"type": "string"}),
)


def json_schema(col_type: Any) -> dict | None:
    """The JSON Schema of a column type, or None when it cannot be filtered on."""
    if isinstance(col_type, sa.ARRAY | sa.JSON):
        return None
    for cls, schema in _SCHEMA:
        if isinstance(col_type, cls):
            return dict(schema)
    return None


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    description: str
    key: str                  # the feature id column of `source`
    key_is_int: bool
    geom: str                 # the one geometry column of `source`
    geom_type: str            # GeoJSON type of every geometry (or "Geometry")
    source: str               # a table name or "(SELECT ...)"
    props: dict[str, dict | None] = field(default_factory=dict)  # served columns: JSON Schema
    hidden: tuple[str, ...] = ()  # columns of `source` never served
    table: str | None = None  # the table written by Part 4 (None: read-only)

    # kept for code that read the old single-table collection
    @property
    def geoms(self) -> tuple[str, ...]:
        return (self.geom,)

    @property
    def queryables(self) -> dict[str, dict]:
        return {k: v for k, v in self.props.items() if v is not None}

    def props_sql(self) -> str:
        drop = [self.geom, *self.hidden]
        return "(to_jsonb(t) - ARRAY[" + ", ".join(f"'{c}'" for c in drop) + "]::text[])"

    def geometry_type_doc(self) -> str:
        return self.geom_type


# --- CRS -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Crs:
    uri: str
    srid: int
    flip: bool    # axis order of the CRS is northing/latitude first


def crs_uri(srid: int | None) -> str:
    return CRS84 if srid is None else f"{EPSG_URI}{srid}"


def gk_srid(engine) -> int | None:
    """The study area's CGCS2000 3° Gauss-Krüger zone (EPSG 4534-4554), or None before init."""
    from emgis.geo.crs import gk_epsg

    with engine.connect() as c:
        row = c.execute(sa.text("SELECT metric_epsg, ST_X(ST_Centroid(geom)) FROM study_area "
                                "ORDER BY id LIMIT 1")).first()
    if row is None:
        return None
    if row[0] in GK3_RANGE:
        return int(row[0])
    try:
        return int(gk_epsg(float(row[1]), width=3, prefixed=False))
    except ValueError:
        return None


def supported_crs(engine) -> list[Crs]:
    out = [Crs(CRS84, 4326, False), Crs(crs_uri(CGCS2000), CGCS2000, True),
           Crs(crs_uri(4326), 4326, True)]
    gk = gk_srid(engine)
    if gk is not None:
        out.append(Crs(crs_uri(gk), gk, True))
    return out


def parse_crs(engine, value: str | None, param: str) -> Crs:
    """``crs=`` / ``bbox-crs=``: a URI of the collection's list (``EPSG:n`` is read too)."""
    if value is None or value == "":
        return Crs(CRS84, 4326, False)
    known = supported_crs(engine)
    text = value.strip().strip("[]")
    if text.upper().startswith("EPSG:"):
        text = EPSG_URI + text[5:]
    if text.upper() in ("CRS84", "OGC:CRS84"):
        text = CRS84
    for crs in known:
        if crs.uri == text:
            return crs
    raise BadRequest(f"{param}={value!r} is not served; use one of "
                     f"{', '.join(c.uri for c in known)}")


def geom_out(coll: Collection, crs: Crs) -> str:
    g = f"t.{coll.geom}"
    if crs.srid != 4326:
        g = f"ST_Transform({g}, {crs.srid})"
    if crs.flip:
        g = f"ST_FlipCoordinates({g})"
    return g


def feature_sql(coll: Collection, crs: Crs) -> str:
    """One Feature as JSON text (RFC 7946 in CRS84; id = the key), written by PostgreSQL."""
    digits = 3 if crs.srid in GK3_RANGE else 9
    return (f"json_build_object('type', 'Feature', 'id', t.{coll.key}, "
            f"'geometry', ST_AsGeoJSON({geom_out(coll, crs)}, {digits})::json, "
            f"'properties', {coll.props_sql()})::text")


def parse_bbox(bbox: str | None, crs: Crs | None = None) -> tuple[float, ...] | None:
    """Parse ``minx,miny,maxx,maxy`` (or the 6-number 3D form), in the axis order of ``crs``
    (CRS84: lon first); return it as lon/lat or easting/northing. BadRequest if malformed."""
    if bbox is None or bbox == "":
        return None
    lonlat = crs is None or crs.srid in (4326, CGCS2000)
    parts = bbox.split(",")
    try:
        nums = [float(p) for p in parts]
    except ValueError:
        raise BadRequest(f"bbox={bbox!r} is not a list of numbers; "
                         f"give minLon,minLat,maxLon,maxLat "
                         "e.g. bbox=119.9,29.9,120.1,30.1") from None
    if len(nums) == 6:
        nums = [nums[0], nums[1], nums[3], nums[4]]
    if len(nums) != 4 or not all(abs(n) < float("inf") for n in nums):
        raise BadRequest(f"bbox={bbox!r} must have 4 numbers: minLon,minLat,maxLon,maxLat")
    if crs is not None and crs.flip:
        nums = [nums[1], nums[0], nums[3], nums[2]]
    minx, miny, maxx, maxy = nums
    if lonlat and not (-180 <= minx <= 180 and -180 <= maxx <= 180
                       and -90 <= miny <= 90 and -90 <= maxy <= 90):
        raise BadRequest(f"bbox={bbox!r} is outside longitude -180..180 / latitude -90..90 "
                         f"(CRS84: lon first)")
    if miny > maxy or minx > maxx:
        raise BadRequest(f"bbox={bbox!r}: the minimum must come before the maximum "
                         f"(minLon,minLat,maxLon,maxLat)")
    return minx, miny, maxx, maxy


def bbox_sql(coll: Collection, srid: int) -> str:
    env = f"ST_MakeEnvelope(:minx, :miny, :maxx, :maxy, {srid})"
    if srid != 4326:
        env = f"ST_Transform({env}, 4326)"
    return f"ST_Intersects(t.{coll.geom}, {env})"


# --- property filters and sorting ----------------------------------------------------------------

def typed(coll: Collection, name: str, value: str) -> Any:
    """A query-string value as the queryable's type (BadRequest when it is not one)."""
    kind = coll.queryables[name].get("type")
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
    except ValueError:
        raise BadRequest(f"{name}={value!r} is not a {kind}") from None
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise BadRequest(f"{name}={value!r} is not true or false")
        return value.lower() == "true"
    return value


def sort_sql(coll: Collection, sortby: str | None) -> list[str]:
    """``sortby=name,-capacity`` → ORDER BY terms (the key is always the last one)."""
    terms = []
    for raw in (sortby or "").split(","):
        name = raw.strip()
        if not name:
            continue
        desc = name.startswith("-")
        name = name.lstrip("+-").strip()
        if name not in coll.queryables:
            raise BadRequest(f"sortby={sortby!r}: {name!r} is not a property of {coll.id}; "
                             f"sort by one of {', '.join(coll.queryables)}")
        terms.append(f"t.{name} {'DESC' if desc else 'ASC'} NULLS LAST")
    return terms


@dataclass
class Page:
    """A page request: where, order, limit and either an offset or the last key seen."""

    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    limit: int = 100
    offset: int = 0
    after: Any = None


def read_page(conn, coll: Collection, page: Page, crs: Crs) -> tuple[int, list[str], Any]:
    """(numberMatched, the page's features as JSON text, the last key of the page)."""
    where = " AND ".join(page.where) or "TRUE"
    params = {**page.params, "lim": page.limit, "off": page.offset}
    matched = conn.execute(sa.text(f"SELECT count(*) FROM {coll.source} t WHERE {where}"),
                           params).scalar_one()
    order = ", ".join([*page.order, f"t.{coll.key}"])
    keyset = ""
    if page.after is not None:
        keyset = f" AND t.{coll.key} > :after"
        params["after"] = page.after
    # the page's keys come from the key index alone; only their rows become JSON
    rows = conn.execute(sa.text(
        f"SELECT {feature_sql(coll, crs)}, t.{coll.key} FROM {coll.source} t "
        f"JOIN (SELECT t.{coll.key} AS k FROM {coll.source} t WHERE {where}{keyset} "
        f"ORDER BY {order} LIMIT :lim OFFSET :off) p ON t.{coll.key} = p.k "
        f"ORDER BY {order}"), params).all()
    return matched, [r[0] for r in rows], (rows[-1][1] if rows else None)


def key_value(coll: Collection, text: str, what: str) -> Any:
    if not coll.key_is_int:
        return text
    if not (text.isascii() and text.lstrip("-").isdigit()) or abs(int(text)) > 2**31 - 1:
        raise BadRequest(f"{what}={text!r}: the ids of {coll.id} are integers")
    return int(text)


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)
