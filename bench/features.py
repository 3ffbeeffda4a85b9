"""Benchmark the feature API: page through the whole road layer, emgis against tipg.

Run ``python -m bench.features`` (a few minutes: it builds the demo county first).

A throwaway PostGIS gets the demo county (bench/api.py's `_demo_database`); emgis's API runs
as its own uvicorn process, and tipg (1.6.1, the reference OGC API – Features server on
PostGIS) serves the same ``road_edges`` table from the same database in the same run. tipg
is not a dependency of emgis: it runs from a throwaway virtual environment
(``--tipg-venv``, default ``$TMPDIR/emgis-bench-tipg``, created with ``pip install tipg==1.6.1
uvicorn`` when missing; its pins agree with requirements.lock, but emgis does not need
asyncpg, morecantile & co. at run time).

Printed: for each page size (100, and the maximum 10,000), the seconds to fetch every page
of road_edges by following ``next`` links, for emgis and tipg, and their ratio (target: emgis
within 1.5× of tipg or faster); then emgis's time for one page of 100 at offset 0 and at the
last page (median of 7; target: less than 2× apart). Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TIPG = "tipg==1.6.1"
TARGET_RATIO = 1.5
TARGET_LAST_PAGE = 2.0


def _tipg_python(venv: Path) -> Path:
    py = venv / "bin" / "python"
    if not py.exists():
        print(f"creating {venv} with {TIPG} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", TIPG, "uvicorn"], check=True)
    return py


@contextlib.contextmanager
def _tipg(py: Path, url: str, logdir: Path):
    import httpx

    from bench.api import _free_port, _stop_group

    port = _free_port()
    env = dict(os.environ, DATABASE_URL=url.replace("postgresql+psycopg2", "postgresql"),
               TIPG_DB_SCHEMAS='["public"]',
               TIPG_MAX_FEATURES_PER_QUERY="10000")
    log = logdir / "tipg.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(py), "-m", "uvicorn", "tipg.main:app", "--host",
                                 "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"tipg stopped: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/collections", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"tipg did not start: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        _stop_group(proc)


def page_through(http, url: str) -> tuple[float, int, int]:
    """(seconds, features, pages) to follow every ``next`` link from ``url``."""
    t0 = time.perf_counter()
    n = pages = 0
    while url:
        r = http.get(url)
        r.raise_for_status()
        fc = r.json()
        n += len(fc["features"])
        pages += 1
        url = next((link["href"] for link in fc.get("links", []) if link["rel"] == "next"),
                   None)
        if not fc["features"]:
            break
    return time.perf_counter() - t0, n, pages


def _page_ms(http, url: str, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        http.get(url).raise_for_status()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    import httpx

    from bench.api import _demo_database, _server

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tipg-venv", type=Path,
                    default=Path(tempfile.gettempdir()) / "emgis-bench-tipg")
    args = ap.parse_args(argv)
    py = _tipg_python(args.tipg_venv)
    ok = True
    with (tempfile.TemporaryDirectory(prefix="emgis-bench-features-") as logs,
          _demo_database() as (db, home, _incident),
          _server(db.url, home, 1, Path(logs)) as ours,
          _tipg(py, db.url, Path(logs)) as tipg,
          httpx.Client(timeout=120) as http):
        n = http.get(f"{ours.base}/collections/road_edges/items?limit=1").json()["numberMatched"]
        ids = [c["id"] for c in http.get(f"{tipg}/collections?limit=1000").json()["collections"]]
        road = next((i for i in ids if i.endswith("road_edges")), None)
        if road is None:
            raise RuntimeError(f"tipg does not serve road_edges; it serves {ids}")
        print(f"road_edges: {n:,} features", flush=True)
        for limit in (100, 10_000):
            # one warm-up page each (connections, caches), then the whole layer
            http.get(f"{ours.base}/collections/road_edges/items?limit={limit}")
            http.get(f"{tipg}/collections/{road}/items?limit={limit}")
            s_ours, n_ours, p_ours = page_through(
                http, f"{ours.base}/collections/road_edges/items?limit={limit}")
            s_tipg, n_tipg, p_tipg = page_through(
                http, f"{tipg}/collections/{road}/items?limit={limit}")
            ratio = s_ours / s_tipg
            ok &= ratio <= TARGET_RATIO and n_ours == n_tipg == n
            print(f"limit {limit:>6}: emgis {s_ours:7.2f} s ({p_ours} pages, {n_ours:,})  "
                  f"tipg {s_tipg:7.2f} s ({p_tipg} pages, {n_tipg:,})  ratio {ratio:.2f} "
                  f"(target <= {TARGET_RATIO})", flush=True)
        first = _page_ms(http, f"{ours.base}/collections/road_edges/items?limit=100&offset=0")
        last = _page_ms(http, f"{ours.base}/collections/road_edges/items?limit=100"
                              f"&offset={n - 100}")
        ok &= last / first < TARGET_LAST_PAGE
        print(f"emgis page of 100: offset 0 {first:.1f} ms, last page (offset {n - 100:,}) "
              f"{last:.1f} ms: {last / first:.2f}x (target < {TARGET_LAST_PAGE}x)", flush=True)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
