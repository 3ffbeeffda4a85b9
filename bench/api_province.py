"""Nearest-k at province scale through the API's serving function: trees vs the bounded store.

Run ``python -m bench.api --province`` (about 2 minutes on 2 cores) or
``python -m bench.api_province``. A synthetic province-sized road graph (``--nodes``, 1 million
by default, `geo.synthetic`) and ``--facilities`` team bases (a tenth out on a call, four team
types) are put in the app's memory as a warm server holds them (network version, facilities,
norms: no database), and ``api.http.analyses._nearest`` (what ``GET /analyses/nearest`` runs:
on the event loop when everything is kept, else in the thread pool) answers ``--queries`` random
places, k=3:

* before: the facility trees do not fit ``EMGIS_API_ROUTE_TREES_MB`` (256), so every request
  searches (``EMGIS_API_TOPK_MB=0``);
* after: the bounded nearest-k store (K = ``EMGIS_API_NEAREST_K_MAX``, 5), built in the
  background after the first request (its build time is printed).

Printed: memory (the trees the facilities would need, what each setting keeps), p50/p95 latency,
and whether the answers are the same (facilities, times, route geometry); then the same for a
team-type filter (the store answers when enough teams of the type are among a node's K, else the
request searches: the share is printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TYPES = ("fire_station", "water_rescue", "hazchem", "medical")


class _Feed:
    """A change feed that is listening and never hears of a change (a warm, quiet server)."""

    listening = True

    def version(self, tables):
        return tuple(0 for _ in tables)

    def touch(self, *tables):
        pass


def _facilities(graph, n: int, seed: int):
    """``n`` team bases on the main network: (lon, lat, usable, team type)."""
    rng = np.random.default_rng(seed)
    nodes = rng.choice(np.flatnonzero(~graph.orphan), n, replace=False)
    lon = graph.node_lon[nodes] + rng.uniform(-0.001, 0.001, n)
    lat = graph.node_lat[nodes] + rng.uniform(-0.001, 0.001, n)
    return lon, lat, rng.random(n) > 0.1, rng.choice(TYPES, n)


def _app(graph, teams, **settings):
    """The real app, its memory filled as a warm server's: no database is asked."""
    import sqlalchemy as sa

    from emgis.api.http import analyses
    from emgis.api.http.app import create_app
    from emgis.api.http.changes import Memo
    from emgis.geo.store import FacilityPoints
    from emgis.layers.norms import default_norms
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    lon, lat, usable, kinds = teams

    def facilities(engine, layer, *, usable_only=True, team_type=None, speciality=None,
                   equipment=None):
        keep = (usable | (not usable_only)) & ((kinds == team_type) if team_type else True)
        idx = np.flatnonzero(keep)
        return FacilityPoints(layer, idx + 1, [f"T{i}" for i in idx], [f"team {i}" for i in idx],
                              lon[idx], lat[idx], int((~keep).sum()))

    analyses.facilities = facilities  # the one read the warm path would make
    app = create_app(ApiSettings(**settings), engine=sa.create_engine("sqlite://"),
                     db_settings=DatabaseSettings(home=Path("/nonexistent")))
    app.state.memo = Memo(_Feed())  # type: ignore[arg-type]
    built = dt.datetime(2024, 1, 1)
    app.state.memo.get(("built_at", "default"), ("road_networks",), lambda: built)
    app.state.memo.get(("norms",), ("norm_overrides",), default_norms)
    app.state.graphs._graphs["default"] = (built, graph)
    return app


def _serve(app, places, team_type=None):
    """Answer each place as the endpoint does; (seconds each, bodies)."""
    from starlette.requests import Request

    from emgis.api.http import analyses
    from emgis.api.http.changes import NotKept

    req = Request({"type": "http", "app": app, "method": "GET", "path": "/analyses/nearest",
                   "headers": [], "query_string": b""})
    secs, bodies = [], []
    for lon, lat in places:
        q = analyses.NearestQuery(lon, lat, "team_bases", 3, None, "from_facility", None,
                                  (team_type, None))
        t0 = time.perf_counter()
        try:
            r = analyses._nearest(req, q, peek=True)  # on the event loop
        except NotKept:
            r = analyses._nearest(req, q)  # in the thread pool
        secs.append(time.perf_counter() - t0)
        bodies.append(r.body)
    return np.array(secs), bodies


def _same(a: list[bytes], b: list[bytes]) -> tuple[int, int]:
    """(answers with the same facilities and times to 0.1 s, of which byte-identical)."""
    import orjson

    same = exact = 0
    for x, y in zip(a, b, strict=True):
        fx, fy = orjson.loads(x)["features"], orjson.loads(y)["features"]
        key = [(f["id"], f["properties"]["time_s"], f["geometry"]["coordinates"][0],
                f["geometry"]["coordinates"][-1]) for f in fx]
        ok = key == [(f["id"], f["properties"]["time_s"], f["geometry"]["coordinates"][0],
                      f["geometry"]["coordinates"][-1]) for f in fy]
        same += ok
        exact += ok and x == y
    return same, exact


def run(nodes: int, n_fac: int, queries: int, trees_mb: int = 256, seed: int = 1) -> None:
    from emgis.geo.synthetic import synthetic_network

    t0 = time.perf_counter()
    g = synthetic_network(n_nodes=nodes, spacing_m=300.0, seed=seed)
    teams = _facilities(g, n_fac, seed)
    rng = np.random.default_rng(seed + 1)
    at = rng.choice(np.flatnonzero(~g.orphan), queries, replace=False)
    places = [(float(g.node_lon[i]) + 0.0005, float(g.node_lat[i])) for i in at]
    print(f"graph: {g.n_nodes:,} nodes, {g.n_edges:,} edges (made in "
          f"{time.perf_counter() - t0:.0f} s); {n_fac} team bases, {int(teams[2].sum())} usable",
          flush=True)
    before = _app(g, teams, topk_mb=0, route_trees_mb=trees_mb)
    after = _app(g, teams, route_trees_mb=trees_mb)
    stores = after.state.nearest_stores
    p = lambda s, q: 1000 * float(np.percentile(s, q))  # noqa: E731
    for label, tt in (("all teams", None), (f"team_type={TYPES[0]}", TYPES[0])):
        need = 12 * g.n_nodes * np.unique(_snap_nodes(g, teams, tt)).size
        t0 = time.perf_counter()
        _serve(after, places[:1], tt)  # the first request asks for the store
        stores.wait(3600)
        build = time.perf_counter() - t0
        s0, b0 = _serve(before, places, tt)
        answered = stores.answered
        s1, b1 = _serve(after, places, tt)
        told = stores.answered - answered
        same, exact = _same(b0, b1)
        mb = lambda app: (app.state.graphs.trees_bytes() / 2**20,  # noqa: E731
                          app.state.nearest_stores.status()["bytes"] / 2**20)
        print(f"\nnearest-3 from_facility, {label}, {queries} places (ready "
              f"{build:.0f} s after the first request); trees these facilities would need: "
              f"{need / 2**20:,.0f} MB (budget {trees_mb} MB)")
        print(f"{'':40}{'trees MB':>9}{'stores MB':>10}{'p50 ms':>8}{'p95 ms':>8}")
        for name, app, s in (("before: no store (EMGIS_API_TOPK_MB=0)", before, s0),
                             (f"after: bounded stores (K={stores.k})", after, s1)):
            t, k = mb(app)
            print(f"{name:40}{t:>9,.0f}{k:>10,.0f}{p(s, 50):>8.2f}{p(s, 95):>8.2f}")
        print(f"answered from the store {told}/{queries} (the rest searched); same facilities "
              f"and times {same}/{queries}, byte-identical answers {exact}/{queries}", flush=True)


def _snap_nodes(g, teams, team_type):
    from emgis.geo.routing import snap_facilities

    keep = teams[2] & ((teams[3] == team_type) if team_type else True)
    return snap_facilities(g, teams[0][keep], teams[1][keep]).nodes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--facilities", type=int, default=160)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--trees-mb", type=int, default=256,
                    help="EMGIS_API_ROUTE_TREES_MB of both servers (default 256)")
    a = ap.parse_args(argv)
    run(a.nodes, a.facilities, a.queries, a.trees_mb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
