"""Benchmark the census loader: parse and check ~700,000 synthetic village rows.

Run ``python -m bench.census [N_ROWS]``. It builds a synthetic but structurally valid code
list (villages under townships under counties, segments inside the documented ranges),
writes a census CSV in GBK with Chinese headers and a 合计 row to a temporary directory,
and times ``layers.load.census.read.read_census`` (decode + parse + every check against the
code list). Pass ``db_writer`` to :func:`run` to time the database write of the clean frame too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from emgis.layers.load.census.read import CensusResult, read_census
from emgis.layers.load.codes import PROVINCES, URBAN_RURAL_CLASS

VILLAGES_PER_TOWNSHIP = 20
TOWNSHIPS_PER_COUNTY = 15


def make_code_list(n_villages: int, *, vintage: int = 2022) -> pd.DataFrame:
    """Build a code list of counties, townships and ``n_villages`` villages with a consistent
    hierarchy."""
    per_county = VILLAGES_PER_TOWNSHIP * TOWNSHIPS_PER_COUNTY
    n_counties = -(-n_villages // per_county)
    provinces = np.array(sorted(PROVINCES), dtype=np.int64)
    k = np.arange(n_counties, dtype=np.int64)
    county = provinces[k // (20 * 18)] * 10**4 + (k // 18 % 20 + 1) * 100 + (k % 18 + 1)
    town_seg = np.array([1, 2, 3, 4, *range(101, 109), 200, 201, 202], dtype=np.int64)
    town = (county[:, None] * 1000 + town_seg[None, :TOWNSHIPS_PER_COUNTY]).ravel()
    vill_seg = np.r_[1:6, 200:200 + VILLAGES_PER_TOWNSHIP - 5].astype(np.int64)
    village = (town[:, None] * 1000 + vill_seg[None, :]).ravel()[:n_villages]
    parts = []
    for level, num, scale, parent_scale in (("county", county, 10**6, 10**8),
                                            ("township", town, 1000, 10**6),
                                            ("village", village, 1, 1000)):
        code = num * scale
        parts.append(pd.DataFrame({
            "code": np.char.zfill(code.astype("U12"), 12),
            "level": level,
            "name": np.char.add(f"{level[0].upper()}", code.astype("U12")),
            "parent_code": np.char.zfill((code // parent_scale * parent_scale).astype("U12"), 12),
            "vintage": vintage,
            "urban_rural_class": None,
        }))
    return pd.concat(parts, ignore_index=True)


def write_census_csv(path: Path, code_list: pd.DataFrame, *, seed: int = 0) -> int:
    """Write a GBK census CSV for the list's villages; return the population total."""
    rng = np.random.default_rng(seed)
    v = code_list[code_list["level"] == "village"]
    n = len(v)
    pop = rng.integers(50, 5000, n)
    young = (pop * rng.uniform(0.08, 0.2, n)).astype(np.int64)
    old = (pop * rng.uniform(0.1, 0.25, n)).astype(np.int64)
    frame = pd.DataFrame({
        "统计用区划代码": v["code"].to_numpy(), "名称": v["name"].to_numpy(), "常住人口": pop,
        "户数": (pop / rng.uniform(2.2, 3.2, n)).astype(np.int64), "0-14岁": young,
        "15-64岁": pop - young - old, "65岁及以上": old,
        "城乡分类代码": rng.choice(list(URBAN_RURAL_CLASS), n),
    })
    frame.to_csv(path, index=False, encoding="gbk")
    with path.open("a", encoding="gbk") as f:
        f.write(f",合计,{int(pop.sum())},,,,,\n")
    return int(pop.sum())


def run(n_rows: int = 700_000, *, db_writer: Callable[[CensusResult], object] | None = None,
        workdir: str | Path | None = None, year: int = 2020) -> dict[str, float]:
    """Generate, parse and check ``n_rows`` villages; return timings and rows per second.

    Parameters
    ----------
    db_writer
        Called with the :class:`CensusResult` after parsing; its time is reported as
        ``write_s`` / ``write_rows_per_s``.
    """
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "census_gbk.csv"
        t0 = time.perf_counter()
        code_list = make_code_list(n_rows)
        total = write_census_csv(path, code_list)
        t1 = time.perf_counter()
        result = read_census(path, year=year, code_list=code_list)
        t2 = time.perf_counter()
        out = {
            "rows": float(len(result.frame)), "file_mb": path.stat().st_size / 1e6,
            "generate_s": t1 - t0, "parse_validate_s": t2 - t1,
            "parse_validate_rows_per_s": len(result.frame) / (t2 - t1),
            "errors": float(len(result.problems.errors)),
            "warnings": float(len(result.problems.warnings)),
        }
        if len(result.frame) != n_rows or int(result.frame["population"].sum()) != total:
            raise AssertionError("benchmark file did not parse cleanly: "
                                 f"{result.problems.items[:5]}")
        if db_writer is not None:
            t3 = time.perf_counter()
            db_writer(result)
            out["write_s"] = time.perf_counter() - t3
            out["write_rows_per_s"] = len(result.frame) / out["write_s"]
    return out


def _throwaway_database():
    """A migrated database in a throwaway cluster (or EMGIS_DATABASE_URL when set)."""
    import contextlib
    import os

    from emgis.layers.db import open_database
    from emgis.layers.settings import DatabaseSettings

    @contextlib.contextmanager
    def ctx():
        if os.environ.get("EMGIS_DATABASE_URL"):
            with open_database() as db:
                yield db
            return
        with tempfile.TemporaryDirectory(prefix="emgis-bench-") as home:
            Path(home).chmod(0o755)
            with open_database(DatabaseSettings(home=Path(home))) as db:
                yield db

    return ctx()


def run_database(n_rows: int = 700_000) -> dict[str, float]:
    """The whole ``emgis load census`` path into PostGIS, and pandas ``to_sql`` as the peer.

    The code list is stored first (``emgis load codes``); then ``load_census`` reads the
    GBK file, checks every row against the stored list and COPYs the clean frame in one
    transaction. The peer writes the same clean frame with ``DataFrame.to_sql`` (multi-row
    INSERTs, the way a pandas user writes a table) into a scratch table of the same shape.
    """
    import sqlalchemy as sa

    from emgis.layers.load.census.write import load_census, load_codes

    out: dict[str, float] = {}
    with _throwaway_database() as db, tempfile.TemporaryDirectory() as tmp:
        code_list = make_code_list(n_rows)
        codes_csv = Path(tmp) / "codes_2022.csv"
        code_list[["code", "name"]].to_csv(codes_csv, index=False)
        t0 = time.perf_counter()
        load_codes(db.engine, codes_csv, vintage=2022, actor="bench")
        out["codes_rows"] = float(len(code_list))
        out["codes_s"] = time.perf_counter() - t0
        path = Path(tmp) / "census_gbk.csv"
        total = write_census_csv(path, code_list)
        t1 = time.perf_counter()
        res = load_census(db.engine, path, year=2020, actor="bench")
        t2 = time.perf_counter()
        if res.rows != n_rows or res.total != total:
            raise AssertionError(f"census bench loaded {res.rows} rows / {res.total}, "
                                 f"expected {n_rows} / {total}")
        with db.engine.connect() as c:
            stored = c.execute(sa.text("SELECT count(*), sum(population) FROM population "
                                       "WHERE year = 2020")).one()
        if (int(stored[0]), int(stored[1])) != (n_rows, total):
            raise AssertionError(f"database holds {tuple(stored)}, expected {(n_rows, total)}")
        out["emgis_load_rows"] = float(res.rows)
        out["emgis_load_s"] = t2 - t1
        out["emgis_rows_per_s"] = res.rows / (t2 - t1)
        # the peer: pandas to_sql of the already-clean frame (no reading, no checks)
        with db.engine.connect() as c:
            frame = pd.read_sql(sa.text("SELECT code, year, population, households, age_0_14, "
                                        "age_15_64, age_65_plus, urban_rural_class "
                                        "FROM population WHERE year = 2020"), c)
        with db.engine.begin() as c:
            c.execute(sa.text("CREATE TABLE bench_population (LIKE population INCLUDING DEFAULTS)"))
        t3 = time.perf_counter()
        with db.engine.begin() as c:
            frame.to_sql("bench_population", c, if_exists="append", index=False, method="multi",
                         chunksize=5000)
        out["pandas_to_sql_s"] = time.perf_counter() - t3
        out["pandas_to_sql_rows_per_s"] = len(frame) / out["pandas_to_sql_s"]
        out["ratio_emgis_full_load_vs_pandas_write_only"] = (out["emgis_rows_per_s"]
                                                             / out["pandas_to_sql_rows_per_s"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_rows", nargs="?", type=int, default=700_000)
    ap.add_argument("--no-db", action="store_true", help="parse and check only; no PostGIS")
    args = ap.parse_args()
    res = run(args.n_rows)
    print("parse + check (no database)")
    for k, v in res.items():
        print(f"  {k:44s} {v:,.2f}")
    if not args.no_db:
        print("emgis load census into PostGIS (read + check + COPY, one transaction) "
              "vs pandas to_sql")
        for k, v in run_database(args.n_rows).items():
            print(f"  {k:44s} {v:,.2f}")


if __name__ == "__main__":
    main()
