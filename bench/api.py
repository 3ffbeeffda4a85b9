"""Benchmark the nearest-resources endpoint under load: 50 concurrent clients on loopback.

Run ``python -m bench.api`` (about 5 minutes) or ``python -m bench.api --quick`` (under a minute).

A throwaway PostGIS gets the demo county (roads, 20-odd thousand nodes: county scale) and one
area incident (a closed flooded area); the API runs as its own process (``python -m uvicorn
--factory api.app:create_app`` with ``EMGIS_DATABASE_URL``, ``--workers 1`` then ``2`` on a 2-core
machine) and this process is the load generator: ``--clients`` asyncio clients (a lean keep-alive
HTTP/1.1 client, one connection each; ``--httpx`` for httpx), each asking
``GET /analyses/nearest?lon=..&lat=..&layer=..&k=3`` for random places in the county (a
village's point, jittered by up to ~300 m) until ``--requests`` answers have come back.
Before each run every connection is warmed up (so every worker has loaded its road graph and
grown its facilities' trees); warm-up answers are not timed.
``--uncached`` adds runs with the API's memory off (``EMGIS_API_CACHE=false``,
``EMGIS_API_ROUTE_TREES_MB=0``, ``EMGIS_API_TOPK_MB=0``: a database read and a Dijkstra search per
request), to compare. ``--province`` runs bench/api_province.py instead: the serving function on a
province-sized graph, facility trees over their budget (search) vs the bounded nearest-k store.
Only 127.0.0.1 is contacted; every run is bounded in count and in time (``--time-limit``).

Runs per worker setting: team bases, shelters, team bases with ``avoid`` (the incident's area
closes its roads), and team bases with people clicking (each client waits ``--think`` seconds,
exponential, between requests); plus one client alone, which is the service time without queueing.

Printed per run: requests, errors (with their status codes), throughput, p50 / p95 / p99 / max
latency, CPU seconds per request in the server and in this load generator, and the issue's
target (p95 under 100 ms at county scale). ``--profile N`` also profiles the endpoint's handler
alone (no HTTP) for N requests in this process (cProfile) to show where a request's time goes.

The server and the cluster are stopped on every exit (Ctrl-C and SIGTERM included).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_P95_MS = 100.0

#: uvicorn runs on uvloop (a dependency), which sets TCP_NODELAY on every connection; on plain
#: asyncio ``--workers 2`` or more would leave Nagle on (Kludex/uvicorn#3149, +40 ms an answer).
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the database -------------------------------------------------------------------------------

@contextlib.contextmanager
def _demo_database():
    """A throwaway cluster with the demo county, its road network and one area incident.

    Yields ``(db, home, incident_id)``; the cluster and its directory are gone afterwards.
    """
    import sqlalchemy as sa
    from rich.console import Console

    from emgis.api.cli.demo import load_demo
    from emgis.layers.db import open_database
    from emgis.layers.demo.county import write_demo_county
    from emgis.layers.settings import DatabaseSettings

    with tempfile.TemporaryDirectory(prefix="emgis-bench-api-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        Path(tmp).chmod(0o755)
        home.chmod(0o755)
        with open_database(DatabaseSettings(home=home, database_url=None)) as db:
            files = write_demo_county(Path(tmp) / "files")
            load_demo(db, files, console=Console(quiet=True), home=home)
            # a flooded area (~1 km across) around the village nearest the centre
            with db.engine.begin() as c:
                incident = c.execute(sa.text(
                    "WITH v AS (SELECT ST_PointOnSurface(geom) p FROM admin_units "
                    "WHERE level = 'village' AND geom IS NOT NULL), "
                    "ctr AS (SELECT ST_Centroid(ST_Collect(p)) c FROM v) "
                    "INSERT INTO incidents (title, incident_type, level, status, geom) "
                    "SELECT 'bench flood', 'flood', 'III', 'responding', ST_Buffer(v.p, 0.005) "
                    "FROM v, ctr ORDER BY v.p <-> ctr.c LIMIT 1 RETURNING id")).scalar_one()
                size = c.execute(sa.text(
                    "SELECT (SELECT nodes FROM road_networks WHERE name = 'default'), "
                    "(SELECT edges FROM road_networks WHERE name = 'default'), "
                    "(SELECT count(*) FROM admin_units WHERE level = 'village'), "
                    "(SELECT count(*) FROM team_bases), (SELECT count(*) FROM shelters)")).one()
            print("county: road network {:,} nodes / {:,} edges, {} villages, {} team bases, "
                  "{} shelters".format(*size),
                  flush=True)
            yield db, home, int(incident)


def _places(db, n: int, seed: int) -> list[tuple[float, float]]:
    """``n`` random places in the county: a village's point moved by up to ~300 m."""
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


# --- the server, its own process ----------------------------------------------------------------

@dataclass
class Server:
    base: str
    proc: subprocess.Popen
    log: Path

    def cpu_s(self) -> float:
        """CPU seconds (user + system) of the server's processes (its own process group)."""
        total = 0
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            f = stat[stat.rindex(")") + 2:].split()
            if int(f[2]) == self.proc.pid:  # pgrp (field 5)
                total += int(f[11]) + int(f[12])  # utime, stime (fields 14, 15)
        return total / CLK_TCK


@contextlib.contextmanager
def _server(url: str, home: Path, workers: int, logdir: Path, cached: bool = True):
    """Run the API with uvicorn in a process group of its own; stopped (the whole group) on exit."""
    import httpx

    port = _free_port()
    env = dict(os.environ, EMGIS_DATABASE_URL=url, EMGIS_HOME=str(home), EMGIS_MAP_TILES="none")
    if not cached:
        env.update(EMGIS_API_CACHE="false", EMGIS_API_ROUTE_TREES_MB="0", EMGIS_API_TOPK_MB="0")
    log = logdir / f"uvicorn-{workers}{'' if cached else '-uncached'}.log"
    # a file, not a pipe: a chatty server must never block on a full pipe
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "emgis.api.http.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
             "--log-level", "warning", "--no-access-log"],
            env=env, cwd=str(ROOT), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)  # Ctrl-C reaches us only; we stop the group in order
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server stopped (exit {proc.returncode}): "
                                   f"{log.read_text()[-2000:]}")
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not answer /health within 90 s: "
                                   f"{log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Server(base, proc, log)
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # uvicorn's supervisor is gone; its workers too, or kill what is left of the group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


# --- the load generator (this process) ----------------------------------------------------------

@dataclass
class Result:
    lat_ms: np.ndarray
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    # share of all cores busy during the run (every process, Postgres included)
    machine_busy: float = 0.0
    timed_out: bool = False
    # idle keep-alive connections the server had closed, reopened and the request resent
    reopened: int = 0


def _machine_ticks() -> tuple[int, int]:
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = f[3] + f[4]
    return sum(f) - idle, sum(f)


def _client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class _RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams: ``get(path) -> (status, body)``.

    A load generator sharing 2 cores with the server must be cheap: httpx's pool costs about
    10 ms of CPU a request at 50 connections (3-4 ms at one), a third of a core at these rates;
    this costs well under 1 ms. ``--httpx`` uses httpx instead, to cross-check.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reopened = 0

    async def get(self, path: str) -> tuple[int, bytes]:
        reused = self.writer is not None
        try:
            return await self._get(path)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                raise
            # the server closed the idle keep-alive connection (uvicorn: after 5 s): once more on a
            # new one, as HTTP clients do; the time lost is part of the latency
            self.reopened += 1
            return await self._get(path)

    async def _get(self, path: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(f"GET {path} HTTP/1.1\r\n"
                              f"Host: {self.host}:{self.port}\r\n\r\n".encode())
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            headers = {}
            for line in lines[1:]:
                if b":" in line:
                    k, v = line.split(b":", 1)
                    headers[k.strip().lower()] = v.strip().lower()
            if b"content-length" in headers:
                body = await self.reader.readexactly(int(headers[b"content-length"]))
            elif headers.get(b"transfer-encoding") == b"chunked":
                parts = []
                while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    parts.append(await self.reader.readexactly(size + 2))
                await self.reader.readuntil(b"\r\n")
                body = b"".join(p[:-2] for p in parts)
            else:
                body = await self.reader.read()
                headers[b"connection"] = b"close"
            if headers.get(b"connection") == b"close":
                self.close()
            return status, body
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(server: Server, urls: list[str], warmup: list[str], clients: int,
                time_limit_s: float, think_s: float, seed: int, use_httpx: bool = False) -> Result:
    lat: list[float] = []
    res = Result(np.empty(0))
    rng = random.Random(seed)
    queue: asyncio.Queue[str] = asyncio.Queue()
    host, port = server.base.removeprefix("http://").split(":")
    shared = None
    if use_httpx:
        import httpx

        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        shared = httpx.AsyncClient(base_url=server.base, limits=limits, timeout=30)

    async def one(conn, u: str) -> None:
        t0 = time.perf_counter()
        try:
            if shared is not None:
                r = await shared.get(u)
                status, body = r.status_code, r.content
            else:
                status, body = await asyncio.wait_for(conn.get(u), 30)
            ok = status == 200 and bool(json.loads(body)["features"])
            key = None if ok else f"HTTP {status}" + ("" if status != 200 else " (no features)")
            if key and not res.first_error:
                res.first_error = f"{u}: {status} {body[:300].decode(errors='replace')}"
        except Exception as exc:
            # refused, reset, timed out, not JSON: counted by kind, never raised
            key = type(exc).__name__
            if not res.first_error:
                res.first_error = f"{u}: {exc!r}"[:400]
        dt = (time.perf_counter() - t0) * 1000
        if key:
            res.errors[key] = res.errors.get(key, 0) + 1
        else:
            lat.append(dt)

    async def client(conn, stop_at: float, think: float) -> None:
        if think:  # people do not all click at the same moment: start after a first pause
            await asyncio.sleep(rng.expovariate(1.0 / think))
        while time.monotonic() < stop_at:
            try:
                u = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await one(conn, u)
            if think:  # a person reads the answer before clicking again
                await asyncio.sleep(rng.expovariate(1.0 / think))

    conns = [_RawConnection(host, int(port)) for _ in range(clients)]
    try:
        # warm-up: all connections at once, so each worker process gets some and loads its graph
        for u in warmup:
            queue.put_nowait(u)
        await asyncio.gather(*(client(c, time.monotonic() + 120, 0.0) for c in conns))
        lat.clear()
        res.errors.clear()
        res.first_error = ""
        for u in urls:
            queue.put_nowait(u)
        cpu_c, cpu_s, (busy0, all0) = _client_cpu(), server.cpu_s(), _machine_ticks()
        t0 = time.perf_counter()
        await asyncio.gather(*(client(c, time.monotonic() + time_limit_s, think_s) for c in conns))
        res.wall_s = time.perf_counter() - t0
        busy1, all1 = _machine_ticks()
        res.client_cpu_s, res.server_cpu_s = _client_cpu() - cpu_c, server.cpu_s() - cpu_s
        res.machine_busy = (busy1 - busy0) / max(all1 - all0, 1)
        res.timed_out = not queue.empty()
        res.reopened = sum(c.reopened for c in conns)
    finally:
        for c in conns:
            c.close()
        if shared is not None:
            await shared.aclose()
    res.lat_ms = np.array(lat)
    return res


def _report(label: str, r: Result, judge: bool = True) -> bool:
    n = r.lat_ms.size
    done = n + sum(r.errors.values())
    if n:
        p50, p95, p99 = np.percentile(r.lat_ms, [50, 95, 99])
        mx = r.lat_ms.max()
    else:
        p50 = p95 = p99 = mx = float("nan")
    ok = n > 0 and not r.errors and p95 < TARGET_P95_MS
    errs = ", ".join(f"{k} x{v}" for k, v in sorted(r.errors.items())) or "0"
    print(f"{label}: {done} requests, errors {errs}, {n / r.wall_s:6.1f} req/s, p50 {p50:7.1f} ms, "
          f"p95 {p95:7.1f} ms, p99 {p99:7.1f} ms, max {mx:7.1f} ms | CPU/request: server "
          f"{1000 * r.server_cpu_s / max(done, 1):5.1f} ms, "
          f"load generator {1000 * r.client_cpu_s / max(done, 1):4.1f} ms;"
          f" cores busy {100 * r.machine_busy:3.0f}% | "
          + (f"target p95 < {TARGET_P95_MS:.0f} ms: {'OK' if ok else 'MISS'}" if judge
             else "(to compare)")
          + f"{' (stopped at the time limit)' if r.timed_out else ''}", flush=True)
    if r.reopened:
        print(f"    {r.reopened} requests found their idle keep-alive connection closed by the "
              "server and were sent again on a new one (timed from the first try)", flush=True)
    if r.first_error:
        print(f"    first error: {r.first_error}", flush=True)
    return not r.errors


# --- where a request's time goes (in this process) ----------------------------------------------

def _profile(db, home: Path, places: list[tuple[float, float]], n: int, incident: int) -> None:
    """Time and cProfile the endpoint's handler alone (no HTTP, no uvicorn) for ``n`` places."""
    import cProfile
    import io
    import pstats

    from starlette.requests import Request

    from emgis.api.http import analyses
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    app = create_app(ApiSettings(), engine=db.engine, db_settings=DatabaseSettings(home=home))
    app.state.changes.start()  # what the app's lifespan does when served
    req = Request({"type": "http", "app": app, "method": "GET", "path": "/analyses/nearest",
                   "headers": [], "query_string": b""})

    def call(lon, lat, avoid):
        q = analyses.NearestQuery(lon, lat, "team_bases", 3, avoid, "from_facility", None)
        r = analyses._nearest(req, q)  # what the async endpoint runs
        assert r.status_code == 200
        return r

    for avoid in (None, incident):
        for lon, lat in places[:20]:
            call(lon, lat, avoid)
        t0 = time.perf_counter()
        for lon, lat in places[20:20 + n]:
            call(lon, lat, avoid)
        plain = (time.perf_counter() - t0) / n * 1000
        prof = cProfile.Profile()
        prof.enable()
        for lon, lat in places[20:20 + n]:
            call(lon, lat, avoid)
        prof.disable()
        print(f"\nthe handler alone (api.analyses._nearest, no HTTP), {n} places, avoid={avoid}: "
              f"{plain:.2f} ms a request; where it goes (cProfile, cumulative then own time):")
        for sort, lines in (("cumulative", 30), ("tottime", 12)):
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(sort).print_stats(lines)
            body = out.getvalue()
            print(body[body.find("ncalls"):].rstrip().replace(str(ROOT) + "/", "").replace(
                str(Path(sys.prefix)) + "/lib/", ""))
    app.state.changes.close()


# --- main ---------------------------------------------------------------------------------------

def _scenarios(a, incident: int) -> list[tuple[str, str, int, float]]:
    """(label, query tail, clients, think seconds) for each run."""
    runs = [(f"{a.clients:2d} clients {layer:10}", f"&layer={layer}", a.clients, 0.0)
            for layer in a.layers.split(",")]
    if not a.no_avoid:
        runs.append((f"{a.clients:2d} clients team_bases avoid={incident} (area closes roads)",
                     f"&layer=team_bases&avoid={incident}", a.clients, 0.0))
    if a.think > 0:
        runs.append((f"{a.clients:2d} clients team_bases, {a.think:g} s think", "&layer=team_bases",
                     a.clients, a.think))
    if a.baseline:
        runs.insert(0, (" 1 client  team_bases (service time)", "&layer=team_bases", 1, 0.0))
    return runs


def _on_sigterm(signum, frame):  # make SIGTERM unwind like Ctrl-C, through every finally
    raise KeyboardInterrupt


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=50, help="concurrent clients (default 50)")
    ap.add_argument("--requests", type=int, default=2000,
                    help="timed requests per run (default 2000)")
    ap.add_argument("--workers", default="1,2",
                    help="uvicorn worker counts to try, comma-separated (default 1,2)")
    ap.add_argument("--layers", default="team_bases,shelters", help="layers to run back-to-back")
    ap.add_argument("--no-avoid", action="store_true",
                    help="skip the run with an area incident's roads closed")
    ap.add_argument("--think", type=float, default=1.0,
                    help="also a run where each client waits this long (mean, exponential) "
                         "between requests, as people clicking do; 0 = no such run (default 1)")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false",
                    help="skip the one-client run")
    ap.add_argument("--quick", action="store_true",
                    help="300 requests, 1 worker, team bases (+ avoid) only")
    ap.add_argument("--httpx", action="store_true",
                    help="load with httpx.AsyncClient (costlier) instead of "
                         "the built-in keep-alive client")
    ap.add_argument("--uncached", action="store_true",
                    help="also run each setting with the API's memory off "
                         "(a database read and a search per request), to compare")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=120,
                    help="stop a run after this many seconds")
    ap.add_argument("--profile", type=int, default=0, metavar="N",
                    help="also profile N sequential requests in this process (cProfile)")
    ap.add_argument("--province", action="store_true",
                    help="nearest-k at province scale instead (bench/api_province.py): memory "
                         "and p95 of the serving function, trees over budget vs the bounded store")
    a = ap.parse_args(argv)
    if a.province:
        from bench.api_province import main as province

        return province([])
    if a.quick:
        a.requests, a.workers, a.layers, a.think = min(a.requests, 300), "1", "team_bases", 0.0
    signal.signal(signal.SIGTERM, _on_sigterm)
    print(f"machine: {os.cpu_count()} cores; "
          f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
          flush=True)
    t0 = time.perf_counter()
    clean = True
    try:
        with (_demo_database() as (db, home, incident),
              tempfile.TemporaryDirectory(prefix="emgis-bench-log-") as logs):
            print(f"demo county loaded in {time.perf_counter() - t0:.0f} s (not timed); "
                  f"area incident {incident}",
                  flush=True)
            n_warm = 2 * a.clients
            places = _places(db, a.requests + n_warm, a.seed)
            if a.profile:
                _profile(db, home, places, a.profile, incident)
                print()
            settings = [(int(w), cached) for w in a.workers.split(",") for cached in (True, False)
                        if cached or a.uncached]
            for workers, cached in settings:
                with _server(db.url, home, workers, Path(logs), cached) as server:
                    what = "" if cached else (", memory off (EMGIS_API_CACHE=false, "
                                              "EMGIS_API_ROUTE_TREES_MB=0, "
                                              "EMGIS_API_TOPK_MB=0)")
                    print(f"-- uvicorn --workers {workers}{what} (pid {server.proc.pid}), "
                          f"load average {os.getloadavg()[0]:.2f}", flush=True)
                    for i, (label, tail, clients, think) in enumerate(_scenarios(a, incident)):
                        urls = [f"/analyses/nearest?lon={lon:.6f}&lat={lat:.6f}&k=3{tail}"
                                for lon, lat in places]
                        n = a.requests if clients > 1 else min(a.requests, 300)
                        res = asyncio.run(_load(server, urls[n_warm:n_warm + n], urls[:n_warm],
                                                clients, a.time_limit, think, a.seed + i, a.httpx))
                        clean &= _report(f"workers {workers}{'' if cached else ' uncached'} "
                                         f"{label}", res, judge=cached)
                    if server.proc.poll() is not None:
                        raise RuntimeError(f"the server died: {server.log.read_text()[-2000:]}")
    except KeyboardInterrupt:
        print("interrupted; server and cluster stopped", file=sys.stderr)
        return 130
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"total {time.perf_counter() - t0:.0f} s")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
