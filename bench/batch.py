"""Benchmark `emgis batch` and the bounded nearest-k store on the synthetic province.

Run ``python -m bench.batch`` (the 100-county province, > 2 M road nodes; the timed runs take
the first ``--counties`` counties, 20 by default) or ``python -m bench.batch --quick`` (9 small
counties). Prints, in one run:

* batch coverage: sequential in-process vs Dask with 1 worker vs 2 workers — counties per
  minute, speed-up over sequential, peak memory (RSS) per worker; the road pieces are cut once
  before the timed runs (the partition cache), so each run times the county tasks; every run's
  results must equal the sequential run's, county by county;
* nearest-k at province scale: the facility trees a server would keep (12 bytes per node per
  facility node, `geo.routing.FacilityTrees`; over its 256 MB budget it searches instead) vs
  the bounded top-k store (`geo.topk`, K × nodes × 12 bytes) — memory, and p95 latency of a
  query (search fallback vs store lookup), with the answers checked equal.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emgis.layers.norms import default_norms
from emgis.shelters.batch.province import ProvinceSpec, write_province
from emgis.shelters.batch.run import BatchRequest, run_batch

FULL = ProvinceSpec()  # 10 x 10 counties, 21,000 road nodes each
QUICK = ProvinceSpec(rows=3, cols=3, nodes_per_county=3000, county_km=15.0, villages=60)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sequential(args) -> tuple[float, float, int]:
    req, home = args
    t0 = time.perf_counter()
    rep = run_batch(req, norms=default_norms(), home=home)
    return time.perf_counter() - t0, _peak_mb(), len(rep.summary)


def _dask(req: BatchRequest, home: Path, workers: int) -> tuple[float, list[float], int]:
    from dask.distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0")
    client = Client(cluster)
    client.run(lambda: __import__("emgis.shelters.batch.county"))  # warm imports, not timed
    try:
        t0 = time.perf_counter()
        rep = run_batch(req, norms=default_norms(), home=home, client=client)
        secs = time.perf_counter() - t0
        peaks = sorted(client.run(_peak_mb).values())
    finally:
        client.close()
        cluster.close()
    return secs, peaks, len(rep.summary)


def _same(a: Path, b: Path) -> bool:
    import geopandas as gpd

    files = sorted(p.name for p in a.glob("*.parquet"))
    if files != sorted(p.name for p in b.glob("*.parquet")):
        return False
    return all(gpd.read_parquet(a / f).equals(gpd.read_parquet(b / f)) for f in files)


def bench_batch(province: Path, work: Path, codes: str) -> None:
    home = work / "home"
    ref = BatchRequest("coverage", province, work / "seq", codes, engine="sequential")
    t0 = time.perf_counter()
    run_batch(ref, norms=default_norms(), home=home)  # cuts the pieces once (cached)
    print(f"partition + a first sequential run: {time.perf_counter() - t0:.1f} s")
    with mp.get_context("spawn").Pool(1) as pool:  # sequential in a fresh process: its peak
        secs, peak, n = pool.map(_sequential, [(ref, home)])[0]
    rows = [("sequential in-process", secs, [peak], n)]
    for w in (1, 2):
        req = BatchRequest("coverage", province, work / f"dask{w}", codes, engine="local",
                           workers=w)
        s, peaks, n = _dask(req, home, w)
        same = _same(work / f"dask{w}" / "coverage-shelters", work / "seq" / "coverage-shelters")
        rows.append((f"dask {w} worker{'s' if w > 1 else ''}" + ("" if same else " (DIFFERS)"),
                     s, peaks, n))
    print(f"\nbatch coverage, {n} counties (halo from the norm batch.halo_km)")
    print(f"{'engine':<26}{'seconds':>9}{'counties/min':>14}{'speed-up':>10}  peak MB/worker")
    for name, s, peaks, n in rows:
        print(f"{name:<26}{s:>9.1f}{60 * n / s:>14.1f}{rows[0][1] / s:>9.2f}x  "
              f"{', '.join(f'{p:,.0f}' for p in peaks)}")


def bench_topk(province: Path, n_fac: int, queries: int, k: int = 3) -> None:
    from emgis.geo.compiled import CompiledGraph
    from emgis.geo.routing import nearest_k, snap, snap_facilities
    from emgis.geo.topk import build_topk

    g = CompiledGraph.load(province / "roads.npz")
    rng = np.random.default_rng(1)
    import geopandas as gpd

    teams = gpd.read_parquet(province / "team_bases.parquet")
    teams = teams.iloc[np.sort(rng.choice(len(teams), min(n_fac, len(teams)), replace=False))]
    fac = snap_facilities(g, teams.geometry.x.to_numpy(), teams.geometry.y.to_numpy())
    t0 = time.perf_counter()
    store = build_topk(g, fac, k=k)
    build_s = time.perf_counter() - t0
    trees_b = 12 * g.n_nodes * np.unique(fac.nodes).size  # FacilityTrees: 12 B/node/tree
    keep = np.flatnonzero(~g.orphan)
    places = rng.choice(keep, queries, replace=False)
    t_search, t_store, same = [], [], 0
    for node in places.tolist():
        place = (float(g.node_lon[node]), float(g.node_lat[node]))
        t0 = time.perf_counter()
        routes = nearest_k(g, place, fac, k)  # no trees: over budget, the server searches
        t_search.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        here = snap(g, *place)
        _, f = store.nearest(here.node, k)
        t_store.append(time.perf_counter() - t0)
        same += [r.facility for r in routes] == f.tolist()
    p95 = lambda t: 1000 * float(np.percentile(t, 95))  # noqa: E731
    print(f"\nnearest-{k} at province scale: {g.n_nodes:,} nodes, {len(teams)} team bases, "
          f"{queries} queries (store built in {build_s:.0f} s)")
    print(f"{'store':<40}{'memory MB':>11}{'p95 ms':>9}")
    print(f"{'facility trees (before; > budget: search)':<40}{trees_b / 2**20:>11,.0f}"
          f"{p95(t_search):>9.2f}")
    print(f"{'bounded top-k store (after)':<40}{store.nbytes / 2**20:>11,.0f}"
          f"{p95(t_store):>9.2f}")
    print(f"memory {trees_b / store.nbytes:.1f}x smaller, p95 {p95(t_search) / p95(t_store):.0f}x "
          f"faster; same answers {same}/{queries}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--province", type=Path, help="reuse (or write) the province here")
    ap.add_argument("--counties", type=int, default=20, help="counties in the timed runs")
    ap.add_argument("--topk-facilities", type=int, default=40)
    ap.add_argument("--queries", type=int, default=100)
    a = ap.parse_args(argv)
    spec = QUICK if a.quick else FULL
    work = Path(tempfile.mkdtemp(prefix="emgis-bench-batch-"))
    province = a.province or work / "province"
    t0 = time.perf_counter()
    if not (province / "province.json").exists():
        write_province(province, spec)
        print(f"province written in {time.perf_counter() - t0:.0f} s")
    import json

    meta = json.loads((province / "province.json").read_text(encoding="utf-8"))
    print(f"province: {meta['counties']} counties, {meta['road_nodes']:,} road nodes "
          f"({province})")
    codes = ",".join(spec.county_codes()[:min(a.counties, meta["counties"])])
    bench_batch(province, work, codes)
    bench_topk(province, a.topk_facilities, a.queries if not a.quick else 30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
