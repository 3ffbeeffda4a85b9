"""CQL2 filters (OGC API – Features Part 3) as SQL with bound parameters.

The text is parsed by the ``cql2`` package (the parser tipg uses) into CQL2 JSON; this module
walks that tree and writes SQL: property names only from the collection's queryables (plus its
geometry), every literal a bound parameter. Supported: comparison (=, <>, <, <=, >, >=), AND /
OR / NOT, LIKE, IN, BETWEEN, IS NULL, and the spatial predicates S_INTERSECTS, S_WITHIN,
S_CONTAINS, S_DISJOINT with WKT / BBOX literals (in ``filter-crs``, CRS84 by default).
"""

from __future__ import annotations

import json
from typing import Any

from emgis.api.http.errors import BadRequest
from emgis.api.http.features_query import Collection, Crs

_CMP = {"=": "=", "<>": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_SPATIAL = {"s_intersects": "ST_Intersects", "s_within": "ST_Within",
            "s_contains": "ST_Contains", "s_disjoint": "ST_Disjoint"}
_LANGS = ("cql2-text", "cql2-json")


def parse(text: str, lang: str | None) -> dict:
    """CQL2 text (or JSON) → the CQL2 JSON tree; BadRequest naming the error."""
    import cql2

    lang = lang or "cql2-text"
    if lang not in _LANGS:
        raise BadRequest(f"filter-lang={lang!r} is not supported; use cql2-text or cql2-json")
    try:
        expr = cql2.parse_text(text) if lang == "cql2-text" else cql2.parse_json(text)
        return expr.to_json()
    except Exception as exc:  # the parser raises its own ValueError subclasses
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadRequest(f"filter={text!r} is not valid {lang}: {first}; e.g. "
                         "filter=status = 'open' AND capacity > 100") from None


class _Sql:
    def __init__(self, coll: Collection, crs: Crs) -> None:
        self.coll, self.crs = coll, crs
        self.params: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"q{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def prop(self, node: Any) -> tuple[str, dict | None]:
        """(SQL, JSON Schema) of a property reference, a literal, or a geometry."""
        if isinstance(node, dict) and "property" in node:
            name = node["property"]
            if name in (self.coll.geom, "geometry", "geom"):
                return f"t.{self.coll.geom}", {"format": "geometry"}
            if name not in self.coll.queryables:
                raise BadRequest(f"filter: {name!r} is not a queryable of {self.coll.id}; "
                                 f"see /collections/{self.coll.id}/queryables "
                                 f"({', '.join(self.coll.queryables)})")
            return f"t.{name}", self.coll.queryables[name]
        if isinstance(node, dict) and ("type" in node or "bbox" in node):
            return self.geometry(node), {"format": "geometry"}
        if isinstance(node, dict) and ("timestamp" in node or "date" in node):
            kind = "timestamptz" if "timestamp" in node else "date"
            return f"CAST({self.bind(node.get('timestamp') or node.get('date'))} AS {kind})", None
        if isinstance(node, bool | int | float | str) or node is None:
            return self.bind(node), None
        raise BadRequest(f"filter: {json.dumps(node)[:80]} is not supported here")

    def geometry(self, node: dict) -> str:
        srid = self.crs.srid
        if "bbox" in node:
            b = list(node["bbox"])
            if len(b) == 6:
                b = [b[0], b[1], b[3], b[4]]
            if self.crs.flip:
                b = [b[1], b[0], b[3], b[2]]
            args = ", ".join(self.bind(float(v)) for v in b)
            g = f"ST_MakeEnvelope({args}, {srid})"
        else:
            g = f"ST_SetSRID(ST_GeomFromGeoJSON({self.bind(json.dumps(node))}), {srid})"
            if self.crs.flip:
                g = f"ST_FlipCoordinates({g})"
        return g if srid == 4326 else f"ST_Transform({g}, 4326)"

    def value(self, node: Any, schema: dict | None) -> str:
        """A literal compared with a property: bound with the property's type."""
        sql, _ = self.prop(node)
        if schema is None or not sql.startswith(":"):
            return sql
        lit = self.params[sql[1:]]
        kind = schema.get("type")
        if kind in ("integer", "number") and not isinstance(lit, int | float):
            raise BadRequest(f"filter: {lit!r} is not a number")
        if kind == "string" and not isinstance(lit, str):
            self.params[sql[1:]] = (str(int(lit)) if isinstance(lit, float) and lit.is_integer()
                                    else str(lit))
        if kind == "string" and schema.get("format") == "date-time":
            return f"CAST({sql} AS timestamptz)"
        return sql

    def expr(self, node: Any) -> str:
        if isinstance(node, bool):
            return "TRUE" if node else "FALSE"
        if not isinstance(node, dict) or "op" not in node:
            raise BadRequest(f"filter: {json.dumps(node)[:80]} is not a condition")
        op, args = node["op"].lower(), node.get("args", [])
        if op in ("and", "or"):
            return "(" + f" {op.upper()} ".join(self.expr(a) for a in args) + ")"
        if op == "not":
            return f"(NOT {self.expr(args[0])})"
        if op in _CMP:
            left, schema = self.prop(args[0])
            return f"({left} {_CMP[op]} {self.value(args[1], schema)})"
        if op == "like":
            left, schema = self.prop(args[0])
            return f"({left}::text LIKE {self.value(args[1], {'type': 'string'})})"
        if op == "between":
            left, schema = self.prop(args[0])
            return (f"({left} BETWEEN {self.value(args[1], schema)} "
                    f"AND {self.value(args[2], schema)})")
        if op == "in":
            left, schema = self.prop(args[0])
            items = ", ".join(self.value(v, schema) for v in args[1])
            return f"({left} IN ({items}))"
        if op == "isnull":
            left, _ = self.prop(args[0])
            return f"({left} IS NULL)"
        if op in _SPATIAL:
            a, _ = self.prop(args[0])
            b, _ = self.prop(args[1])
            return f"{_SPATIAL[op]}({a}, {b})"
        raise BadRequest(f"filter: the operator {op!r} is not supported; use comparisons, "
                         f"AND/OR/NOT, LIKE, IN, BETWEEN, IS NULL, "
                         f"{', '.join(k.upper() for k in _SPATIAL)}")


def to_sql(coll: Collection, tree: dict, crs: Crs) -> tuple[str, dict[str, Any]]:
    """A CQL2 JSON tree → (SQL condition over alias ``t``, its bound parameters)."""
    s = _Sql(coll, crs)
    return s.expr(tree), s.params
