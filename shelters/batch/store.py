"""The batch's results in PostGIS (migration 0011): ``batch_results`` partitioned by county and
``batch_summary``, one line per county.

A county is written in one transaction: its partition is made when missing, its previous rows
of this analysis and layer are deleted and the new ones inserted, its summary line replaced,
and one audit entry says who ran it and how many rows it wrote (the row trigger is off for
the rows, as for a load). A rerun therefore replaces that county and nothing else.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import sqlalchemy as sa

from emgis.shelters.batch.county import CountyResult

__all__ = ["read_summary", "write_county", "write_failure"]

_CODE = re.compile(r"^[0-9]{6}$")
_COLUMNS = ("name", "population", "facility", "time_min", "standard_min", "covered",
            "covered_by", "snap_m", "uncovered", "underserved", "gap")
_SUMMARY = ("demand_points", "population", "covered_population", "coverage_share",
            "gap_population", "road_nodes", "facilities", "seconds")


def _partition(conn, code: str) -> None:
    if not _CODE.match(code):  # the code becomes part of a table name
        raise ValueError(f"county code {code!r} is not 6 digits")
    conn.execute(sa.text(f"CREATE TABLE IF NOT EXISTS batch_results_{code} PARTITION OF "
                         f"batch_results FOR VALUES IN ('{code}')"))


def _begin(conn, actor: str) -> None:
    conn.execute(sa.text("SELECT set_config('emgis.actor', :a, true), "
                         "set_config('emgis.bulk', 'on', true)"), {"a": actor})


def _value(v):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return None
    if isinstance(v, np.generic):
        return v.item()
    return v if not pd.isna(v) else None


def _summary_row(code: str, analysis: str, layer: str, status: str, error: str | None,
                 summary: dict) -> dict:
    row = {"c": code, "a": analysis, "l": layer, "status": status, "error": error}
    row.update({k: _value(summary.get(k)) for k in _SUMMARY})
    return row


def _upsert_summary(conn, row: dict) -> None:
    cols = ", ".join(_SUMMARY)
    vals = ", ".join(f":{k}" for k in _SUMMARY)
    sets = ", ".join(f"{k} = EXCLUDED.{k}" for k in ("status", "error", *_SUMMARY))
    conn.execute(sa.text(
        f"INSERT INTO batch_summary (county_code, analysis, layer, status, error, {cols}) "
        f"VALUES (:c, :a, :l, :status, :error, {vals}) ON CONFLICT (county_code, analysis, "
        f"layer) DO UPDATE SET {sets}, computed_at = now()"), row)


def _audit(conn, actor: str, code: str, detail: dict) -> None:
    conn.execute(sa.text(
        "INSERT INTO audit_log (actor, action, table_name, row_key, after) "
        "VALUES (:actor, 'batch', 'batch_results', :code, CAST(:after AS jsonb))"),
        {"actor": actor, "code": code, "after": json.dumps(detail, ensure_ascii=False)})


def write_county(engine, analysis: str, layer: str, result: CountyResult, *,
                 actor: str = "batch") -> int:
    """Replace county ``result.code``'s rows of ``analysis``/``layer``; return the row count."""
    rows = result.rows
    geom = rows.geometry
    records = []
    for i in range(len(rows)):
        rec = {"c": result.code, "a": analysis, "l": layer, "code": str(rows["code"].iloc[i]),
               "lon": _value(geom.x.iloc[i]), "lat": _value(geom.y.iloc[i])}
        for col in _COLUMNS:
            rec[col] = _value(rows[col].iloc[i]) if col in rows.columns else None
        records.append(rec)
    with engine.begin() as conn:
        _begin(conn, actor)
        _partition(conn, result.code)
        conn.execute(sa.text("DELETE FROM batch_results WHERE county_code = :c AND "
                             "analysis = :a AND layer = :l"),
                     {"c": result.code, "a": analysis, "l": layer})
        if records:
            cols = ", ".join(_COLUMNS)
            vals = ", ".join(f":{k}" for k in _COLUMNS)
            conn.execute(sa.text(
                f"INSERT INTO batch_results (county_code, analysis, layer, code, {cols}, geom) "
                f"VALUES (:c, :a, :l, :code, {vals}, CASE WHEN :lon IS NULL THEN NULL ELSE "
                f"ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END)"), records)
        _upsert_summary(conn, _summary_row(result.code, analysis, layer, "ok", None,
                                           result.summary))
        _audit(conn, actor, result.code, {"analysis": analysis, "layer": layer,
                                          "rows": len(records)})
    return len(records)


def write_failure(engine, analysis: str, layer: str, code: str, error: str, *,
                  actor: str = "batch") -> None:
    """Record a county that failed: its summary line says so (its old rows are removed, so
    no stale result passes for a new one)."""
    with engine.begin() as conn:
        _begin(conn, actor)
        if _CODE.match(code):
            conn.execute(sa.text("DELETE FROM batch_results WHERE county_code = :c AND "
                                 "analysis = :a AND layer = :l"),
                         {"c": code, "a": analysis, "l": layer})
        _upsert_summary(conn, _summary_row(code, analysis, layer, "failed", error, {}))
        _audit(conn, actor, code, {"analysis": analysis, "layer": layer, "error": error})


def read_summary(engine, analysis: str | None = None) -> pd.DataFrame:
    """The province summary table (all counties; one analysis when given)."""
    sql = "SELECT * FROM batch_summary"
    params = {}
    if analysis:
        sql += " WHERE analysis = :a"
        params["a"] = analysis
    with engine.connect() as conn:
        return pd.read_sql(sa.text(sql + " ORDER BY county_code, analysis, layer"), conn,
                           params=params)
