"""/analyses/nearest from the bounded nearest-k stores (api/http/nearest_store.py, geo/topk.py).

With no memory for facility trees (``route_trees_mb=0``) the API answers from a store of the K
fastest facilities of every road node, built in the background: the same facilities, times and
routes as with the trees, for both directions, with an incident area's roads closed and with a
team-type filter; a facility that moves or is added changes the answer; a status change does not
rebuild the store; ``k`` above K searches.
"""

from __future__ import annotations

import json
import time
import warnings

import pytest
import sqlalchemy as sa
from conftest import _token

with warnings.catch_warnings():  # starlette asks for httpx2; httpx still works (test extra)
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from emgis.api.http.app import create_app
from emgis.layers.settings import ApiSettings, DatabaseSettings

pytestmark = pytest.mark.postgis

K = 4


@pytest.fixture(scope="module")
def apps(demo_db):
    """Three apps on one database: trees (the default), the store (no tree memory), search."""
    def app(**kw):
        return TestClient(create_app(ApiSettings(**kw), engine=demo_db.engine,
                                     db_settings=DatabaseSettings(home=demo_db.home)))

    with (app() as trees, app(route_trees_mb=0, nearest_k_max=K) as store,
          app(route_trees_mb=0, topk_mb=0) as search):
        yield trees, store, search


def _places(engine, n: int, order: str = "code") -> list[tuple[float, float]]:
    with engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p, code FROM admin_units "
            f"WHERE level = 'village' AND geom IS NOT NULL ORDER BY {order} LIMIT :n) s"),
            {"n": n}).all()]


def _flood(engine) -> tuple[int, tuple[float, float]]:
    """The demo's area incident and a point inside it."""
    with engine.connect() as c:
        i, x, y = c.execute(sa.text(
            "SELECT id, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM incidents WHERE GeometryType(geom) = 'POLYGON' ORDER BY id LIMIT 1")).one()
    return int(i), (float(x), float(y))


def _ask(client, **params) -> dict:
    r = client.get("/analyses/nearest", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _from_store(store, **params) -> dict:
    """The store app's answer once its store is built (the first request asks for it)."""
    stores = store.app.state.nearest_stores
    _ask(store, **params)
    assert stores.wait(120), "the store was not built in time"
    before = stores.answered
    body = _ask(store, **params)
    assert stores.answered == before + 1, "not answered from the store"
    return body


CASES = [  # (layer, direction, k, extra parameters)
    ("team_bases", "from_facility", 3, {}),
    ("shelters", "to_facility", 3, {}),
    ("depots", "from_facility", 2, {}),
    ("team_bases", "to_facility", 4, {}),
    ("team_bases", "from_facility", 1, {"team_type": "fire_station"}),
]


@pytest.mark.parametrize("closed", [False, True], ids=["open", "avoid-area"])
@pytest.mark.parametrize("layer,direction,k,extra", CASES,
                         ids=[f"{c[0]}-{c[1]}{'-filtered' if c[3] else ''}" for c in CASES])
def test_store_answers_as_the_trees(apps, demo_db, layer, direction, k, extra, closed):
    trees, store, search = apps
    places = _places(demo_db.engine, 6)
    avoid = {}
    if closed:
        iid, inside = _flood(demo_db.engine)
        avoid = {"avoid": iid}
        places = [inside, *_places(demo_db.engine, 5, "code DESC")]  # near the closed area
    told = 0
    for lon, lat in places:
        params = {"lon": lon, "lat": lat, "layer": layer, "direction": direction, "k": k,
                  **extra, **avoid}
        stores = store.app.state.nearest_stores
        _ask(store, **params)
        assert stores.wait(120)
        before = stores.answered
        got = _ask(store, **params)
        told += stores.answered - before
        want = _ask(trees, **params)
        assert got == want  # the same facilities, times and routes, to the last coordinate
        slow = _ask(search, **params)
        assert [f["id"] for f in got["features"]] == [f["id"] for f in slow["features"]]
        for a, b in zip(got["features"], slow["features"], strict=True):
            assert a["properties"]["time_s"] == pytest.approx(b["properties"]["time_s"], abs=0.11)
    # the store cannot tell when fewer than k usable ones (of the type asked) are among a
    # node's K (teams out on a call, other team types): those requests search
    assert told >= (1 if extra or k == K else len(places) // 2)
    if closed:
        assert got["closed_edges"] > 0


def _seen(client, params: dict, ok) -> dict:
    """``client``'s answer once ``ok(answer)`` (another app sees a write when PostgreSQL's
    notification arrives)."""
    deadline = time.monotonic() + 5
    while not ok(body := _ask(client, **params)):
        assert time.monotonic() < deadline, "the change is not seen"
        time.sleep(0.02)
    return body


def _ids(body: dict) -> list[int]:
    return [f["id"] for f in body["features"]]


def test_k_above_the_store_searches(apps, demo_db):
    trees, store, _ = apps
    (lon, lat), = _places(demo_db.engine, 1)
    params = {"lon": lon, "lat": lat, "layer": "shelters", "k": K + 2}
    _from_store(store, **{**params, "k": K})
    stores = store.app.state.nearest_stores
    before = stores.answered
    got = _ask(store, **params)
    assert stores.answered == before and len(got["features"]) == K + 2
    want = _ask(trees, **params)["features"]
    assert [f["id"] for f in got["features"]] == [f["id"] for f in want]


def test_facility_changes_reach_the_store(apps, demo_db):
    """A team moved through the API, a shelter added in SQL: new answers (a new store); a team's
    status: a new answer from the same store."""
    trees, store, _ = apps
    stores = store.app.state.nearest_stores
    (lon, lat), = _places(demo_db.engine, 1, "code DESC OFFSET 3")
    team = {"lon": lon, "lat": lat, "layer": "team_bases", "k": 3}
    first = [f["id"] for f in _from_store(store, **team)["features"]]
    _, auth = _token(demo_db.engine, "planner")
    with demo_db.engine.connect() as c:
        home = c.execute(sa.text("SELECT ST_AsGeoJSON(geom) FROM team_bases WHERE id = :i"),
                         {"i": first[2]}).scalar()
    built = stores.built
    try:
        # a status change: the store (of every team) stays; the team is left out at once
        r = store.patch(f"/team_bases/{first[0]}", json={"status": "deployed"}, headers=auth)
        assert r.status_code == 200, r.text
        got = _ask(store, **team)
        assert first[0] not in [f["id"] for f in got["features"]]
        assert stores.wait(60) and stores.built == built
        assert _from_store(store, **team) == _seen(trees, team, lambda b: first[0] not in _ids(b))
        store.patch(f"/team_bases/{first[0]}", json={"status": "available"}, headers=auth)
        # a team that moves next to the place: its first answer (searched) and the new store's
        r = store.patch(f"/team_bases/{first[2]}", headers=auth, json={
            "position": {"type": "Point", "coordinates": [lon + 0.0003, lat]}})
        assert r.status_code == 200, r.text
        assert _ask(store, **team)["features"][0]["id"] == first[2]
        moved = _from_store(store, **team)
        assert moved["features"][0]["id"] == first[2] and stores.built == built + 1
        assert moved == _seen(trees, team, lambda b: _ids(b)[0] == first[2])
    finally:
        store.patch(f"/team_bases/{first[2]}", json={"position": json.loads(home)},
                    headers=auth)
    shelter = {"lon": lon, "lat": lat, "layer": "shelters", "k": 3}
    _from_store(store, **shelter)
    with demo_db.engine.begin() as c:  # another writer (the API adds shelters by loading files)
        new = c.execute(sa.text(
            "INSERT INTO shelters (ext_id, name, duration_class, status, capacity_source, geom) "
            "VALUES ('TOPK-1', 'test shelter', 'emergency', 'open', 'unknown', "
            "ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"),
            {"x": lon + 0.0002, "y": lat + 0.0002}).scalar_one()
    try:
        _seen(store, shelter, lambda b: _ids(b)[0] == new)  # the change feed's notification
        got = _from_store(store, **shelter)
        assert _ids(got)[0] == new and got == _seen(trees, shelter, lambda b: _ids(b)[0] == new)
    finally:
        with demo_db.engine.begin() as c:
            c.execute(sa.text("DELETE FROM shelters WHERE id = :i"), {"i": new})


def test_health_reports_what_is_kept(apps):
    trees, store, _ = apps
    kept = store.get("/health").json()["kept"]
    assert kept["route_trees_bytes"] == 0
    s = kept["nearest_stores"]
    assert s["stores"] >= 1 and s["bytes"] > 0 and s["k"] == K and s["building"] == 0
    assert s["bytes"] <= s["budget_bytes"]
    assert trees.get("/health").json()["kept"]["route_trees_bytes"] > 0
