"""Write census tables and official code lists to PostGIS (the checking is in census.py/codes.py).

Both writes are one transaction each: COPY into a temp stage, then one INSERT ... ON CONFLICT.
Population is keyed by (code, year): loading a new year keeps the old ones; loading the same
year again replaces that year's rows for the codes in the file, and says so.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from layers.codes import CODE_LIST_COLUMNS, parse_code_list
from layers.problems import Problem


@dataclass
class CensusLoad:
    rows: int
    year: int
    total: int
    load_id: int
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class CodesLoad:
    rows: int
    vintage: int
    load_id: int
    notes: list[str] = field(default_factory=list)


def _copy(conn: Connection, table: str, frame: pd.DataFrame, key: list[str]) -> None:
    cols = list(frame.columns)
    conn.execute(sa.text(f"CREATE TEMP TABLE _stage ON COMMIT DROP AS SELECT {', '.join(cols)} FROM {table} WITH NO DATA"))
    buf = io.StringIO()
    frame.to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    cur = conn.connection.dbapi_connection.cursor()
    cur.copy_expert(f"COPY _stage ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)
    cur.close()
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _stage "
                         f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"))


def _begin_load(conn: Connection, layer: str, path: Path, rows: int, actor: str, warnings: list[Problem]) -> int:
    from layers.loaders import _sha256

    conn.execute(sa.text("SELECT set_config('emgis.actor', :a, true), set_config('emgis.bulk', 'on', true)"), {"a": actor})
    load_id = conn.execute(sa.text(
        "INSERT INTO loads (layer, file, sha256, rows, source_crs, mode, actor, warnings) "
        "VALUES (:l, :f, :s, :r, NULL, 'upsert', :a, CAST(:w AS jsonb)) RETURNING id"),
        {"l": layer, "f": str(path.resolve()), "s": _sha256(str(path)), "r": rows, "a": actor,
         "w": json.dumps([w.as_dict() for w in warnings], ensure_ascii=False)}).scalar_one()
    conn.execute(sa.text("INSERT INTO audit_log (actor, action, table_name, row_key, detail) "
                         "VALUES (:a, 'load', :t, :k, :d)"),
                 {"a": actor, "t": layer, "k": str(load_id),
                  "d": json.dumps({"file": str(path), "rows": rows}, ensure_ascii=False)})
    return load_id


def load_codes(engine: Engine, path: str | Path, *, vintage: int | None = None, actor: str = "cli") -> CodesLoad:
    """Check and store an official code list (``emgis load codes``)."""
    path = Path(path)
    frame, problems = parse_code_list(path, vintage=vintage)
    problems.raise_if_errors(accept_warnings=True)
    frame = frame[CODE_LIST_COLUMNS].copy()
    the_vintage = int(frame["vintage"].iloc[0]) if len(frame) else int(vintage or 0)
    notes = [str(w) for w in problems.warnings]
    with engine.begin() as conn:
        load_id = _begin_load(conn, "code_list", path, len(frame), actor, problems.warnings)
        frame["load_id"] = load_id
        _copy(conn, "code_list", frame, ["code", "vintage"])
        older = conn.execute(sa.text("SELECT max(vintage) FROM code_list WHERE vintage < :v"), {"v": the_vintage}).scalar()
        if older is not None:
            withdrawn = conn.execute(sa.text(
                "SELECT count(*) FROM code_list o WHERE o.vintage = :o AND NOT EXISTS "
                "(SELECT 1 FROM code_list n WHERE n.vintage = :v AND n.code = o.code)"),
                {"o": older, "v": the_vintage}).scalar()
            notes.append(f"{withdrawn} code(s) of the {older} list are not in the {the_vintage} list (withdrawn or recoded)")
    return CodesLoad(len(frame), the_vintage, load_id, notes)


def code_list_for(conn: Connection, year: int) -> pd.DataFrame | None:
    """Return the newest stored code list not newer than ``year`` (or the oldest one)."""
    vintage = conn.execute(sa.text(
        "SELECT coalesce(max(vintage) FILTER (WHERE vintage <= :y), min(vintage)) FROM code_list"), {"y": year}).scalar()
    if vintage is None:
        return None
    return pd.read_sql(sa.text(f"SELECT {', '.join(CODE_LIST_COLUMNS)} FROM code_list WHERE vintage = :v"),
                       conn, params={"v": vintage})


def load_census(engine: Engine, path: str | Path, *, year: int, accept_warnings: bool = False,
                actor: str = "cli", encoding: str | None = None) -> CensusLoad:
    """Check a census table against the stored code list and study county, then store it."""
    from layers.census import read_census

    path = Path(path)
    with engine.connect() as c:
        codes = code_list_for(c, year)
        county = c.execute(sa.text("SELECT county_code FROM study_area ORDER BY id DESC LIMIT 1")).scalar()
    kwargs = {"encoding": encoding} if encoding else {}
    res = read_census(path, year=year, code_list=codes, county_code=county, **kwargs)
    res.problems.raise_if_errors(accept_warnings=accept_warnings)
    frame = res.frame[["code", "year", "population", "households", "age_0_14", "age_15_64", "age_65_plus",
                       "urban_rural_class"]].copy()
    for col in ("population", "households", "age_0_14", "age_15_64", "age_65_plus"):
        frame[col] = frame[col].astype("Int64")
    notes = list(res.notes)
    with engine.begin() as conn:
        replaced = conn.execute(sa.text("SELECT count(*) FROM population WHERE year = :y AND code = ANY(:c)"),
                                {"y": year, "c": list(frame["code"])}).scalar()
        if replaced:
            notes.append(f"{replaced} row(s) of {year} were already stored and are replaced by this file")
        load_id = _begin_load(conn, "population", path, len(frame), actor, res.problems.warnings)
        frame["load_id"] = load_id
        _copy(conn, "population", frame, ["code", "year"])
    return CensusLoad(len(frame), year, int(frame["population"].sum()), load_id, res.problems.warnings, notes)
