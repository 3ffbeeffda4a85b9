"""Benchmark the whole "your own county" path (README) on the three real Kunming counties, and
the road load against osmnx building a graph from the same lines, in one run.

Run ``python -m bench.real_county`` (``--quick``: 晋宁区 only). Each county gets a fresh database
of emgis's own cluster; every step is the CLI command a user types (run in-process, so Python's
start-up is not counted): init, load roads, township seats (BD-09), the county total, demand,
a 5-min LSCP of fire stations and a 10-site MCLP of shelters (both saved), coverage of each,
gaps. The peer for the road step is `bench.roads_cn.osmnx_build` after ``geopandas.read_file``
of the same file (osmnx has no file-to-stored-network step; emgis's step also writes the edges
to PostGIS and the graph to disk, so the comparison favours the peer). Prints each step's time
and the ratio peer / emgis for the road step; no pass/fail on time.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.roads_cn import COUNTIES, FIELD, SHARED, osmnx_build


def _total(code: str) -> int:
    with open(SHARED / "population" / "county_census2020_population_tudigong.csv",
              encoding="utf-8-sig") as f:
        return int(next(r for r in csv.DictReader(f) if r["CODE"] == code)["POPU"])


def _path(stem: str, tmp: Path) -> list[tuple[str, list[str]]]:
    code = stem.rsplit("_", 1)[1]
    total = tmp / "total.csv"
    total.write_text(f"统计用区划代码,名称,常住人口\n{code}000000,{stem},{_total(code)}\n",
                     encoding="utf-8")
    d = SHARED / "roads_cn"
    return [
        ("init", ["init", "--boundary", str(d / f"{stem}_boundary.geojson"), "--county", code]),
        ("load roads", ["load", "roads", str(d / f"{stem}_roads.gpkg")]),
        ("township seats", ["load", "admin_units", str(d / f"{stem}_townships_bd09.csv"),
                            "--crs", "bd09", "--accept-warnings"]),
        ("county total", ["load", "census", str(total), "--year", "2020"]),
        ("demand", ["population", "demand", str(tmp / "demand.csv")]),
        ("site fire LSCP", ["site", "--layer", "fire", "--model", "lscp", "--candidates",
                            "grid:1500", "--save"]),
        ("site shelters MCLP", ["site", "--layer", "shelters", "--model", "mclp", "--add", "10",
                                "--candidates", "grid:1500", "--save"]),
        ("coverage fire", ["coverage", "--layer", "fire"]),
        ("coverage shelters", ["coverage", "--layer", "shelters"]),
        ("gaps", ["gaps", "--layer", "shelters"]),
    ]


def _county(name: str, stem: str, speeds: dict[str, float]) -> None:
    import geopandas as gpd
    from typer.testing import CliRunner

    from emgis.api.cli import app
    from emgis.layers.db import open_database
    from emgis.layers.settings import DatabaseSettings

    with tempfile.TemporaryDirectory(prefix="emgis-bench-county-") as t:
        tmp = Path(t)
        with open_database(DatabaseSettings(home=tmp / "home", database_url=None)) as db:
            env = {"EMGIS_DATABASE_URL": db.url, "EMGIS_HOME": str(tmp / "home")}
            os.environ.update(env)
            times = {}
            for label, args in _path(stem, tmp):
                t0 = time.perf_counter()
                res = CliRunner().invoke(app, args)
                times[label] = time.perf_counter() - t0
                if res.exit_code != 0:
                    print(f"{name}: {label} failed ({res.exit_code}):\n{res.output}")
                    return
        t0 = time.perf_counter()
        gdf = gpd.read_file(SHARED / "roads_cn" / f"{stem}_roads.gpkg")
        osmnx_build(gdf, speeds)
        peer = time.perf_counter() - t0
    total = sum(times.values())
    steps = " | ".join(f"{k} {v:.2f}" for k, v in times.items())
    print(f"{name} {stem}: whole path {total:.1f} s ({steps})")
    print(f"{name} {stem}: road step emgis `load roads` {times['load roads']:.2f} s (read, build, "
          f"store) | osmnx read_file + graph_from_gdfs {peer:.2f} s (read, build) | "
          f"osmnx/emgis {peer / times['load roads']:.1f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="晋宁区 only")
    a = ap.parse_args(argv)
    if not (SHARED / "roads_cn").is_dir():
        print(f"no {SHARED / 'roads_cn'}: set EMGIS_SHARED_DATA")
        return 1
    from emgis.geo.road_fields import cn_road_speeds

    speeds = cn_road_speeds()
    print(f"the README's own-county path; roads by {FIELD}")
    for name, stem in COUNTIES[:1] if a.quick else COUNTIES:
        _county(name, stem, speeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
