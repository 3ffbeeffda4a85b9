"""Writing a checked layer: one transaction, COPY into a stage table, one INSERT (append, upsert
or replace), a `loads` row and one audit entry (bulk loads skip the per-row audit trigger).

`prepare_layer` (layers/load/loaders.py) reads and checks a file without touching the database;
`load_layer` here runs both, so a file with errors, or unaccepted warnings, writes nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers.load.loaders import (
    MODES,
    AreaCheck,
    LoadResult,
    Prepared,
    _objects,
    prepare_layer,
)
from emgis.layers.load.replace import Staged, write_staged
from emgis.layers.load.stock_items import check_items
from emgis.layers.norms import Norms
from emgis.layers.problems import InputError, Problem, Problems
from emgis.layers.schema import COMPOSITE_KEYS, LAYERS, LayerSpec


@dataclass(frozen=True)
class LoadOptions:
    """How to read and judge a file (the options of `emgis load`)."""

    crs: str | None = None           # the coordinates' system when the file does not say
    mode: str = "append"             # append | upsert | replace
    encoding: str | None = None      # text encoding when detection is not wanted
    accept_warnings: bool = False    # load although warnings were found
    margin_km: float = 30.0          # points this far outside the study area are warnings
    delete_dependents: bool = False  # replace may delete rows that others depend on
    layer: str | None = None         # the layer of a GeoPackage (or zip) holding several


@dataclass
class WrittenLoad(LoadResult):
    """A load's result with what it did to the table: inserted, updated, deleted, and
    ``dependents_deleted`` / ``dependents_unlinked`` / ``dependents_orphaned`` by table."""

    counts: dict = field(default_factory=dict)


# --- writing ---------------------------------------------------------------------------------

def study_area_of(conn: Connection):
    row = conn.execute(sa.text("SELECT ST_AsBinary(geom), metric_epsg FROM study_area "
                               "ORDER BY id DESC LIMIT 1")).first()
    if row is None:
        return None, None
    return shapely.from_wkb(bytes(row[0])), int(row[1])


def load_layer(engine: Engine, layer: str, path: str | Path, options: LoadOptions | None = None,
               *, norms: Norms | None = None, actor: str = "cli") -> LoadResult:
    """Check ``path`` and write it as ``layer`` in one transaction, or raise InputError."""
    o = options or LoadOptions()
    crs, mode, encoding, accept_warnings, margin_km = (o.crs, o.mode, o.encoding,
                                                       o.accept_warnings, o.margin_km)
    if mode not in MODES:
        raise InputError([Problem("command line", None, "--mode", mode, "is not a load mode",
                                  f"use one of: {', '.join(MODES)}")], source="emgis load")
    with engine.connect() as c:
        area, metric_epsg = study_area_of(c)
    prep = prepare_layer(layer, path, crs=crs, encoding=encoding, source_layer=o.layer,
                         norms=norms, area=AreaCheck(area, metric_epsg, margin_km))
    if crs is None and prep.spec.geometry is not None and len(prep.frame):
        _check_against_roads(engine, prep)
    if prep.problems.errors and len(prep.frame):
        # a file refused anyway: say too which rows name nothing stored (every problem at once)
        with engine.connect() as c:
            _resolve_refs(c, prep.spec, prep.frame.copy(), prep.problems)
    prep.problems.raise_if_errors(accept_warnings=accept_warnings)
    with engine.begin() as conn:
        return write_prepared(conn, prep, mode=mode, actor=actor,
                              delete_dependents=o.delete_dependents)


def _kept(prep: Prepared, columns: list[str]) -> frozenset[str]:
    """The columns a stored row keeps on upsert/replace: fields the file does not give (and what
    is derived only from them)."""
    if prep.given is None:
        return frozenset()
    fields = {f.name for f in prep.spec.fields}
    # capacity_source follows capacity and area (rules.py), never a file's absence of it
    kept = {c for c in columns if c in fields and c not in prep.given and c != "capacity_source"}
    if prep.spec.name == "shelters" and {"capacity", "effective_area_m2"} <= kept:
        kept.add("capacity_source")
    return frozenset(kept)


def _check_against_roads(engine: Engine, prep: Prepared) -> None:
    """GCJ-02/BD-09 points read as WGS84 sit off the stored roads: warn (`crs_hints`)."""
    from emgis.layers.load.crs_hints import check_against_roads

    pts = prep.frame.geometry.dropna()
    pts = pts[pts.geom_type == "Point"]
    if len(pts):
        with engine.connect() as c:
            check_against_roads(c, prep.problems, pts.x.to_numpy(), pts.y.to_numpy())


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_prepared(conn: Connection, prep: Prepared, *, mode: str, actor: str,
                   delete_dependents: bool = False) -> WrittenLoad:
    """Write a prepared layer inside the caller's transaction.

    Rows are matched to stored ones by their external key and updated in place; ``replace``
    also deletes the rows the file no longer has, refusing (InputError, nothing written) when
    other rows depend on them unless ``delete_dependents`` (layers/load/replace.py).
    """
    spec, gdf = prep.spec, prep.frame.copy()
    p = Problems(Path(prep.file).name)
    conn.execute(sa.text("SELECT set_config('emgis.actor', :a, true), "
                         "set_config('emgis.bulk', 'on', true)"), {"a": actor})
    _resolve_refs(conn, spec, gdf, p)
    if spec.name == "depot_stock":  # items are a vocabulary (stock_items): no junk items
        _stock_items(conn, gdf, p)
    if mode == "append" and spec.name not in COMPOSITE_KEYS:
        _check_existing(conn, spec, gdf, p)
    if p.errors:
        raise InputError(p.items, source=p.file)
    load_id = conn.execute(sa.text(
        "INSERT INTO loads (layer, file, sha256, rows, source_crs, mode, actor, warnings) "
        "VALUES (:layer, :file, :sha, :rows, :crs, :mode, :actor, CAST(:warn AS jsonb)) "
        "RETURNING id"),
        {"layer": spec.name, "file": str(Path(prep.file).resolve()), "sha": _sha256(prep.file),
         "rows": len(gdf), "crs": prep.source_crs or None, "mode": mode, "actor": actor,
         "warn": json.dumps([w.as_dict() for w in prep.problems.warnings],
                            ensure_ascii=False)}).scalar_one()
    gdf["load_id"] = load_id
    columns = _copy_rows(conn, spec, gdf)
    counts, gone_keys, notes = write_staged(
        conn, Staged(spec, columns, Path(prep.file).name, load_id, _kept(prep, columns)),
        mode=mode, actor=actor,
        delete_dependents=delete_dependents)
    detail = {"file": prep.file, "rows": len(gdf), "mode": mode,
              "source_crs": prep.source_crs, **counts}
    if gone_keys:
        detail["deleted_keys"] = gone_keys[:1000]
        if len(gone_keys) > 1000:
            detail["deleted_keys_truncated"] = True
    conn.execute(sa.text(
        "INSERT INTO audit_log (actor, action, table_name, row_key, detail) "
        "VALUES (:a, 'load', :t, :k, :d)"),
        {"a": actor, "t": spec.table, "k": str(load_id),
         "d": json.dumps(detail, ensure_ascii=False)})
    return WrittenLoad(spec.name, prep.file, len(gdf), load_id, prep.source_crs,
                       prep.problems.warnings, [*prep.notes, *notes], counts)


def _stock_items(conn: Connection, gdf: gpd.GeoDataFrame, p: Problems) -> None:
    """Map each stock row's item to a known item (an English name to its Chinese one); two rows
    that name one item of one depot by different names are an error, as duplicates are."""
    gdf["item"] = _objects(gdf, check_items(
        conn, [(int(r), v) for r, v in zip(gdf["_row"], gdf["item"], strict=True)], p))
    seen: dict[tuple, int] = {}
    for row, dep, item in zip(gdf["_row"], gdf["depot_id"], gdf["item"], strict=True):
        if dep is None or item is None:
            continue
        first = seen.setdefault((dep, item), int(row))
        if first != int(row):
            p.error(int(row), "item", item, f"is listed twice for one depot (rows {first}, {row})",
                    "merge the rows into one with the total quantity")


def _resolve_refs(conn: Connection, spec: LayerSpec, gdf: gpd.GeoDataFrame, p: Problems) -> None:
    for f in spec.fields:
        if f.kind != "ref":
            continue
        target = LAYERS[f.ref_layer].table
        wanted = sorted({v for v in gdf[f.name] if v is not None})
        found = dict(conn.execute(sa.text(f"SELECT ext_id, id FROM {target} "
                                          "WHERE ext_id = ANY(:ids)"),
                                  {"ids": wanted}).all()) if wanted else {}
        for row, v in zip(gdf["_row"], gdf[f.name], strict=True):
            if v is not None and v not in found:
                p.error(int(row), f.name, v, f"names no {f.ref_layer} row in the database",
                        f"load {f.ref_layer} first, or correct the id")
        gdf[f.name] = _objects(gdf, [found.get(v) if v is not None else None for v in gdf[f.name]])


def _check_existing(conn: Connection, spec: LayerSpec, gdf: gpd.GeoDataFrame, p: Problems) -> None:
    keys = [k for k in gdf[spec.key] if k is not None]
    if not keys:
        return
    existing = set(conn.execute(sa.text(f"SELECT {spec.key} FROM {spec.table} "
                                        f"WHERE {spec.key} = ANY(:k)"),
                                {"k": keys}).scalars())
    for row, k in zip(gdf["_row"], gdf[spec.key], strict=True):
        if k in existing:
            p.error(int(row), spec.key, k, f"is already in {spec.table}",
                    "use --mode upsert to update existing rows, or --mode replace to replace the "
                    "whole layer")


def _pg_array(v) -> str | None:
    """A PostgreSQL text[] literal: every element quoted, with its backslashes and double quotes
    escaped, so braces, commas, quotes, backslashes and the word NULL come back exactly."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return "{" + ",".join('"' + str(x).replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for x in v) + "}"


def _csv_field(v) -> str:
    """One COPY CSV field: NULL unquoted and empty; every value quoted (quotes doubled), so
    \\N, \\., empty strings, separators, newlines and spaces are data, never markers."""
    if v is None:
        return ""
    return '"' + str(v).replace('"', '""') + '"'


def _db_columns(spec: LayerSpec, gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """Turn canonical fields into the table's columns."""
    df = pd.DataFrame(index=gdf.index)
    names = [f.name for f in spec.fields]
    if spec.name == "risk_points":
        names = ([n for n in names if n not in ("L", "E", "C", "S")]
                 + ["inputs", "score", "band_version"])
    if spec.name == "shelters":
        names += ["capacity_source"]
    for n in names:
        df[n] = gdf[n]
    df["load_id"] = gdf["load_id"]
    if spec.geometry is not None:
        geom = gdf.geometry
        if spec.name == "admin_units":
            is_pt = geom.geom_type == "Point"
            df["geom"] = [g if g is not None and g.geom_type != "Point" else None for g in geom]
            df["point"] = [g if g is not None and g.geom_type == "Point" else None for g in geom]
            df["placement"] = np.where(geom.isna(), "code_only",
                                       np.where(is_pt, "point", "boundary"))
            df["point"] = [g.representative_point() if g is not None and p is None else p
                           for g, p in zip(df["geom"], df["point"], strict=True)]
        else:
            df["geom"] = list(geom)
    return df


def _copy_rows(conn: Connection, spec: LayerSpec, gdf: gpd.GeoDataFrame) -> list[str]:
    df = _db_columns(spec, gdf)
    columns = list(df.columns)
    conn.execute(sa.text(f"CREATE TEMP TABLE _stage ON COMMIT DROP AS SELECT {', '.join(columns)} "
                         f"FROM {spec.table} WITH NO DATA"))
    buf = io.StringIO()
    geo_cols = {"geom", "point"}
    arrays = {"hazard_types", "specialities"}
    prepared = {}
    for c in columns:
        col = df[c]
        if c in geo_cols:
            arr = np.array(list(col), dtype=object)
            has = np.array([g is not None for g in arr])
            out = np.full(len(arr), None, dtype=object)
            if has.any():
                out[has] = shapely.to_wkb(shapely.set_srid(arr[has].astype(object), 4326), hex=True,
                                          include_srid=True)
            prepared[c] = out
        elif c in arrays:
            prepared[c] = [_pg_array(v) for v in col]
        elif c == "inputs":
            prepared[c] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in col]
        else:
            prepared[c] = [None if (v is None or (isinstance(v, float) and math.isnan(v))) else v
                           for v in col]
            # an integer column that pandas widened to float: write 12, not 12.0
            if col.dtype.kind == "f":
                prepared[c] = [int(v) if v is not None and abs(v) < 2**53
                               and float(v).is_integer() else v for v in prepared[c]]
    for i in range(len(df)):
        buf.write(",".join(_csv_field(prepared[c][i]) for c in columns))
        buf.write("\n")
    buf.seek(0)
    cur = conn.connection.dbapi_connection.cursor()
    cur.copy_expert(f"COPY _stage ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buf)
    cur.close()
    return columns
