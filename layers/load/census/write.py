"""Write census tables and official code lists to PostGIS (checked by census.read and codes).

Both writes are one transaction each: COPY into a temp stage, then one INSERT ... ON CONFLICT.
Population is keyed by (code, year): loading a new year keeps the old ones; loading the same
year again replaces that year's rows for the codes in the file and says so, and says how many
stored rows of that year the file does not have (kept; ``mode="replace"`` deletes them, so the
year then holds exactly the file). Every load reports what the year holds after it, so the
total printed is the total stored.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from emgis.layers.load.codes import CODE_LIST_COLUMNS, parse_code_list
from emgis.layers.problems import Problem


@dataclass
class CensusLoad:
    rows: int               # rows in the file
    year: int
    total: int              # population of the file's rows
    load_id: int
    warnings: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stored_rows: int = 0    # rows the year holds after the load
    stored_total: int = 0   # their population
    kept: int = 0           # stored rows of the year that the file does not have (kept)
    deleted: int = 0        # stored rows of the year that the file does not have (deleted)


@dataclass
class CodesLoad:
    rows: int
    vintage: int
    load_id: int
    notes: list[str] = field(default_factory=list)


Progress = Callable[[str, int, int], None]  # (stage, done, total)


class _Reporting(io.StringIO):
    """A COPY source that reports how much of itself the server has read."""

    def __init__(self, text: str, progress: Progress, stage: str) -> None:
        super().__init__(text)
        self.total, self.progress, self.stage = len(text), progress, stage

    def read(self, size: int = -1) -> str:
        chunk = super().read(size)
        self.progress(self.stage, self.tell(), self.total)
        return chunk


def _copy_in(conn: Connection, target: str, cols: list[str], frame: pd.DataFrame,
             progress: Progress | None = None) -> None:
    text = frame.to_csv(index=False, header=False, na_rep="\\N")
    buf = (_Reporting(text, progress, f"writing {len(frame):,} rows") if progress
           else io.StringIO(text))
    cur = conn.connection.dbapi_connection.cursor()
    cur.copy_expert(f"COPY {target} ({', '.join(cols)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                    buf, size=1 << 20)
    cur.close()


def _copy(conn: Connection, table: str, frame: pd.DataFrame, key: list[str], *,
          partition: tuple[str, int], progress: Progress | None = None) -> int:
    """Write ``frame`` to ``table``; return how many stored rows it replaced.

    When nothing is stored yet for ``partition`` (a census year, a code-list vintage), the
    rows go straight into the table with one COPY; otherwise COPY into a stage and upsert.
    """
    cols = list(frame.columns)
    col, value = partition
    if conn.execute(sa.text(f"SELECT NOT EXISTS (SELECT 1 FROM {table} WHERE {col} = :v)"),
                    {"v": value}).scalar():
        _copy_in(conn, table, cols, frame.sort_values(key), progress)
        return 0
    conn.execute(sa.text(f"CREATE TEMP TABLE _stage ON COMMIT DROP AS SELECT {', '.join(cols)} "
                         f"FROM {table} WITH NO DATA"))
    _copy_in(conn, "_stage", cols, frame, progress)
    on = " AND ".join(f"t.{k} = s.{k}" for k in key)
    replaced = conn.execute(sa.text(f"SELECT count(*) FROM {table} t "
                                    f"JOIN _stage s ON {on}")).scalar()
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols if c not in key)
    conn.execute(sa.text(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} "
                         f"FROM _stage ORDER BY {', '.join(key)} "
                         f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"))
    return int(replaced)


def _begin_load(conn: Connection, layer: str, path: Path, rows: int, actor: str,
                warnings: list[Problem]) -> int:
    from emgis.layers.load.write import _sha256

    conn.execute(sa.text("SELECT set_config('emgis.actor', :a, true), "
                         "set_config('emgis.bulk', 'on', true)"), {"a": actor})
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


def load_codes(engine: Engine, path: str | Path, *, vintage: int | None = None, actor: str = "cli",
               progress: Progress | None = None) -> CodesLoad:
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
        _copy(conn, "code_list", frame, ["code", "vintage"], partition=("vintage", the_vintage),
              progress=progress)
        older = conn.execute(sa.text("SELECT max(vintage) FROM code_list WHERE vintage < :v"),
                             {"v": the_vintage}).scalar()
        if older is not None:
            withdrawn = conn.execute(sa.text(
                "SELECT count(*) FROM code_list o WHERE o.vintage = :o AND NOT EXISTS "
                "(SELECT 1 FROM code_list n WHERE n.vintage = :v AND n.code = o.code)"),
                {"o": older, "v": the_vintage}).scalar()
            notes.append(f"{withdrawn} code(s) of the {older} list are not in the {the_vintage} "
                         "list (withdrawn or recoded)")
    return CodesLoad(len(frame), the_vintage, load_id, notes)


def code_list_for(conn: Connection, year: int) -> pd.DataFrame | None:
    """Return the newest stored code list not newer than ``year`` (or the oldest one)."""
    vintage = conn.execute(sa.text(
        "SELECT coalesce(max(vintage) FILTER (WHERE vintage <= :y), min(vintage)) FROM code_list"),
        {"y": year}).scalar()
    if vintage is None:
        return None
    buf = io.StringIO()  # COPY out: several times faster than a cursor fetch for 700k rows
    cur = conn.connection.dbapi_connection.cursor()
    cur.copy_expert(f"COPY (SELECT {', '.join(CODE_LIST_COLUMNS)} FROM code_list "
                    f"WHERE vintage = {int(vintage)}) "
                    "TO STDOUT WITH (FORMAT csv, HEADER)", buf)
    cur.close()
    buf.seek(0)
    frame = pd.read_csv(buf, dtype=object, keep_default_na=False, na_values=[""])
    frame = frame.astype(object).where(frame.notna(), None)
    frame["vintage"] = frame["vintage"].astype(int)
    return frame


CENSUS_MODES = ("append", "upsert", "replace")


def load_census(engine: Engine, path: str | Path, *, year: int, accept_warnings: bool = False,
                actor: str = "cli", encoding: str | None = None,
                progress: Progress | None = None, mode: str = "upsert") -> CensusLoad:
    """Check a census table against the stored code list and study county, then store it.

    ``mode`` "append"/"upsert" update the year's rows for the file's codes and keep the others
    (counted in ``kept``); "replace" makes the year hold exactly the file.
    """
    from emgis.layers.load.census.read import read_census
    from emgis.layers.problems import InputError

    path = Path(path)
    if mode not in CENSUS_MODES:
        raise InputError([Problem("command line", None, "--mode", mode, "is not a load mode",
                                  f"use one of: {', '.join(CENSUS_MODES)}")], source="emgis load")
    with engine.connect() as c:
        codes = code_list_for(c, year)
        county = c.execute(sa.text("SELECT county_code FROM study_area ORDER BY id DESC "
                                   "LIMIT 1")).scalar()
    kwargs = {"encoding": encoding} if encoding else {}
    if progress:
        progress(f"reading and checking {path.name}", 0, 0)
    res = read_census(path, year=year, code_list=codes, county_code=county, **kwargs)
    res.problems.raise_if_errors(accept_warnings=accept_warnings)
    frame = res.frame[["code", "year", "population", "households", "age_0_14", "age_15_64",
                       "age_65_plus", "urban_rural_class"]].copy()
    for col in ("population", "households", "age_0_14", "age_15_64", "age_65_plus"):
        frame[col] = frame[col].astype("Int64")
    notes = list(res.notes)
    with engine.begin() as conn:
        load_id = _begin_load(conn, "population", path, len(frame), actor, res.problems.warnings)
        frame["load_id"] = load_id
        deleted = 0
        if mode == "replace":
            deleted = conn.execute(sa.text(
                "DELETE FROM population WHERE year = :y AND NOT (code = ANY(:c))"),
                {"y": year, "c": frame["code"].astype(str).tolist()}).rowcount
        replaced = _copy(conn, "population", frame, ["code", "year"], partition=("year", year),
                         progress=progress)
        if replaced:
            notes.append(f"{replaced} row(s) of {year} were already stored and are replaced by "
                         "this file")
        stored_rows, stored_total = conn.execute(sa.text(
            "SELECT count(*), coalesce(sum(population), 0) FROM population WHERE year = :y"),
            {"y": year}).one()
        kept = int(stored_rows) - len(frame)
        if deleted:
            notes.append(f"{deleted} stored row(s) of {year} were not in this file and are "
                         "deleted (--mode replace)")
            _audit_deleted(conn, actor, load_id, deleted, year)
        if kept:
            notes.append(f"{kept} stored row(s) of {year} are not in this file and are kept: "
                         f"{year} now holds {int(stored_rows):,} rows, total "
                         f"{int(stored_total):,} (pass --mode replace to make {year} hold exactly "
                         "this file)")
    return CensusLoad(len(frame), year, int(frame["population"].sum()), load_id,
                      res.problems.warnings, notes, int(stored_rows), int(stored_total),
                      kept, int(deleted))


def _audit_deleted(conn: Connection, actor: str, load_id: int, deleted: int, year: int) -> None:
    conn.execute(sa.text("INSERT INTO audit_log (actor, action, table_name, row_key, detail) "
                         "VALUES (:a, 'delete', 'population', :k, :d)"),
                 {"a": actor, "k": str(load_id),
                  "d": json.dumps({"year": year, "deleted": deleted, "reason": "--mode replace"})})
