"""Benchmark the nearest-resources endpoint under load: 50 concurrent clients on loopback.

Run ``python -m bench.api`` (about 2 minutes) or ``python -m bench.api --quick``.

A throwaway PostGIS gets the demo county (roads, 20-odd thousand nodes: county scale); the API
runs as its own process (uvicorn, ``--workers 1`` then ``2`` on this 2-core machine) and this
process is the load generator: ``--clients`` asyncio clients with keep-alive connections, each
asking ``GET /analyses/nearest?lon=..&lat=..&layer=team_bases&k=3`` for random places in the
county (a village's point) until ``--requests`` answers have come back. Only 127.0.0.1 is
contacted; every loop is bounded in count and time.

Printed per run: requests, errors, throughput, p50 / p95 / p99 / max latency, and the target
(issue: p95 under 100 ms at county scale).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_P95_MS = 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _demo_database():
    """A throwaway cluster with the demo county and its road network; yields (db, home)."""
    from rich.console import Console

    from api.demo import load_demo
    from layers.db import open_database
    from layers.demo import write_demo_county
    from layers.settings import DatabaseSettings

    with tempfile.TemporaryDirectory(prefix="emgis-bench-api-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        Path(tmp).chmod(0o755)
        home.chmod(0o755)
        settings = DatabaseSettings(home=home, database_url=None)
        with open_database(settings) as db:
            files = write_demo_county(Path(tmp) / "files")
            load_demo(db, files, console=Console(quiet=True), home=home)
            yield db, home


@contextlib.contextmanager
def _server(url: str, home: Path, workers: int):
    port = _free_port()
    env = dict(os.environ, EMGIS_DATABASE_URL=url, EMGIS_HOME=str(home), EMGIS_MAP_TILES="none")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "api.app:create_app", "--host", "127.0.0.1", "--port",
         str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=str(Path(__file__).resolve().parent.parent), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server stopped: {proc.stderr.read().decode()[-2000:]}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _load(base: str, urls: list[str], clients: int, warmup: int, time_limit_s: float, think_s: float = 0.0):
    import httpx

    lat: list[float] = []
    errors: dict[str, int] = {}
    rng = random.Random(0)
    queue: asyncio.Queue[str] = asyncio.Queue()
    for u in urls:
        queue.put_nowait(u)
    stop_at = time.monotonic() + time_limit_s

    async def client(c: httpx.AsyncClient) -> None:
        while time.monotonic() < stop_at:
            try:
                u = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter()
            try:
                r = await c.get(u)
                ok = r.status_code == 200 and r.json()["features"]
                key = None if ok else f"HTTP {r.status_code}"
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                key = type(exc).__name__
            dt = (time.perf_counter() - t0) * 1000
            if key:
                errors[key] = errors.get(key, 0) + 1
            else:
                lat.append(dt)
            if think_s:  # a person reads the answer before clicking again
                await asyncio.sleep(rng.expovariate(1.0 / think_s))

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:
        for u in urls[:warmup]:  # load the graph and warm the caches, not timed
            await c.get(u)
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c) for _ in range(clients)))
        wall = time.perf_counter() - t0
    return np.array(lat), errors, wall


def _places(db, n: int, seed: int) -> list[tuple[float, float]]:
    import sqlalchemy as sa

    with db.engine.connect() as c:
        pts = c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL) q")).all()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lon, lat = rng.choice(pts)
        out.append((lon + rng.uniform(-0.003, 0.003), lat + rng.uniform(-0.003, 0.003)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--workers", default="1,2", help="uvicorn worker counts to try, comma-separated")
    ap.add_argument("--layers", default="team_bases,shelters")
    ap.add_argument("--quick", action="store_true", help="500 requests, 1 worker, team bases only")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=180, help="stop a run after this many seconds")
    ap.add_argument("--think", default="0,1", help="seconds each client waits between requests (mean, "
                    "exponential), comma-separated runs: 0 = back-to-back saturation, 1 = people clicking")
    a = ap.parse_args(argv)
    if a.quick:
        a.requests, a.workers, a.layers, a.think = 500, "1", "team_bases", "0"
    print(f"machine: {os.cpu_count()} cores; load before: {os.getloadavg()[0]:.2f}", flush=True)
    t0 = time.perf_counter()
    with _demo_database() as (db, home):
        print(f"demo county loaded in {time.perf_counter() - t0:.0f} s (not timed)", flush=True)
        places = _places(db, a.requests + 50, a.seed)
        for workers in [int(w) for w in a.workers.split(",")]:
            with _server(db.url, home, workers) as base:
                for layer in a.layers.split(","):
                    for think in [float(t) for t in a.think.split(",")]:
                        urls = [f"/analyses/nearest?lon={lon:.6f}&lat={lat:.6f}&layer={layer}&k=3"
                                for lon, lat in places]
                        lat_ms, errors, wall = asyncio.run(_load(base, urls, a.clients, 50, a.time_limit, think))
                        n = lat_ms.size
                        p50, p95, p99 = (np.percentile(lat_ms, q) for q in (50, 95, 99)) if n else (np.nan,) * 3
                        ok = n > 0 and not errors and p95 < TARGET_P95_MS
                        print(f"workers {workers} {layer:10} clients {a.clients} think {think:g} s: {n} answers, "
                              f"errors {errors or 0}, {n / wall:6.1f} req/s, p50 {p50:6.1f} ms, p95 {p95:6.1f} ms, "
                              f"p99 {p99:6.1f} ms, max {lat_ms.max() if n else np.nan:6.1f} ms  "
                              f"target p95 < {TARGET_P95_MS:.0f} ms: {'OK' if ok else 'MISS'}", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f}; total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
