"""Relief over HTTP and the command line, on the demo county in a real PostGIS.

Figures are checked independently: needs against the census in SQL and the norms, shipments
against the stock in SQL and the arrival limits, the 10-hour check against totals (need − stock)
and against straight-line distances (a village too far from every depot for the fastest road).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import _token
from typer.testing import CliRunner

from emgis.layers.norms import default_norms

pytestmark = pytest.mark.postgis


def _incident(engine, title: str) -> int:
    with engine.connect() as c:
        return int(c.execute(sa.text("SELECT id FROM incidents WHERE title = :t ORDER BY id "
                                     "LIMIT 1"), {"t": title}).scalar())


def _stock(engine) -> pd.DataFrame:
    with engine.connect() as c:
        return pd.read_sql(sa.text("SELECT s.depot_id, s.item, s.quantity, d.level, d.status "
                                   "FROM depot_stock s JOIN depots d ON d.id = s.depot_id"), c)


def test_incident_relief_needs_allocation_and_shortfalls(client, demo_db):
    norms = default_norms()
    flood = _incident(demo_db.engine, "seed flood")
    r = client.get(f"/incidents/{flood}/relief")
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["displaced_share"]["key"] == "relief.displaced_share.flood"
    share = ans["displaced_share"]["value"]
    with demo_db.engine.connect() as c:
        pop = dict(c.execute(sa.text(
            "SELECT u.code, p.population FROM admin_units u JOIN population p ON p.code = u.code "
            "AND p.year = (SELECT max(year) FROM population) JOIN incidents i ON i.id = :i "
            "WHERE u.level = 'village' AND ST_Intersects(u.geom, i.geom)"), {"i": flood}).all())
    assert {v["dest_id"] for v in ans["needs"]} == set(pop)
    hh = norms.number("relief.household_size")
    for n in ans["needs"]:
        people = pop[n["dest_id"]] * share
        want = {"帐篷": people / hh, "棉被": people, "折叠床": people, "饮用水": people * 3,
                "方便食品": people * 0.5}[n["item"]]
        assert n["need"] == math.ceil(want - 1e-9), n
    al = ans["allocation"]
    assert al["check"] == "passed"
    st = _stock(demo_db.engine)
    have = st.set_index(["depot_id", "item"])["quantity"]
    level = st.groupby("depot_id")["level"].first()
    ship = pd.DataFrame(al["shipments"])
    assert len(ship)
    used = ship.groupby(["depot_id", "item"])["quantity"].sum()
    assert (used <= have.reindex(used.index)).all()
    for s in al["shipments"]:
        assert s["hours"] <= norms.number(f"depot.delivery_h.{level[s['depot_id']]}") + 1e-9
        assert s["hours"] >= norms.number("relief.dispatch_h")
    got = ship.groupby(["dest_id", "item"])["quantity"].sum()
    short = {(x["dest_id"], x["item"]): x["unmet"] for x in al["shortfalls"]}
    for n in ans["needs"]:
        k = (n["dest_id"], n["item"])
        assert got.get(k, 0.0) + short.get(k, 0.0) == pytest.approx(n["need"])


def test_relief_delivered_to_the_shelters_people_are_sent_to(client, demo_db):
    flood = _incident(demo_db.engine, "seed flood")
    by_village = client.get(f"/incidents/{flood}/relief").json()
    r = client.get(f"/incidents/{flood}/relief", params={"to": "shelters"})
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["destinations"] == "shelters" and ans["allocation"]["check"] == "passed"
    wa = client.get("/analyses/warning-area", params={"incident": flood,
                                                      "close_roads": "true"}).json()
    sent = {f"shelter:{v['shelter_id']}" for v in wa["villages"] if v["shelter_id"]}
    dests = {n["dest_id"] for n in ans["needs"]}
    assert sent and sent <= dests
    assert dests - sent <= {v["code"] for v in wa["villages"] if not v["shelter_id"]}
    assert ans["displaced_total"] == by_village["displaced_total"]
    assert {s["dest_id"] for s in ans["allocation"]["shipments"]} <= dests


def test_closed_roads_never_make_a_depot_arrive_sooner(demo_db):
    import shapely

    from emgis.geo.routing import closures_from_polygons
    from emgis.geo.store import load_network
    from emgis.shelters.relief_service import _depots, arrival_hours, people_in_area

    norms = default_norms()
    g = load_network(demo_db.engine, "default", home=demo_db.home)
    depots, _ = _depots(demo_db.engine)
    d0 = depots.iloc[0]
    area = shapely.Point(d0["lon"], d0["lat"]).buffer(0.03)
    people = people_in_area(demo_db.engine, area, lambda: g, norms)
    assert len(people)
    open_ = arrival_hours(g, depots, people, norms, max_h=24).set_index(["depot_id", "dest_id"])
    closed = arrival_hours(g, depots, people, norms, max_h=24,
                           closures=closures_from_polygons(g, area)).set_index(
        ["depot_id", "dest_id"])
    both = open_.join(closed.rename(columns={"hours": "hours_closed"}), how="inner")
    assert len(both) and (both["hours_closed"] >= both["hours"] - 1e-9).all()
    assert (both["hours_closed"] > both["hours"] + 1e-6).any()  # the area's roads mattered


def test_ten_hour_check_hand_checked_totals(client, demo_db):
    """Every active depot reaches the whole demo county within 10 h, so what cannot be met is
    exactly need − stock per item; items with enough stock leave no village short."""
    r = client.get("/analyses/relief-check")
    assert r.status_code == 200, r.text
    ans = r.json()
    assert ans["hours"] == 10 and ans["relocated"] == 30000
    st = _stock(demo_db.engine)
    stock = st[st["status"] == "active"].groupby("item")["quantity"].sum()
    by = {x["item"]: x for x in ans["allocation"]["by_item"]}
    short_items = set()
    for item, x in by.items():
        assert x["reachable_stock"] == x["stock"] == stock.get(item, 0.0)
        assert x["unmet"] == pytest.approx(max(0.0, x["need"] - x["stock"]))
        if x["unmet"] > 0:
            short_items.add(item)
    assert short_items == {"帐篷", "折叠床"}  # demo stock: water, food, quilts suffice
    listed = ans["villages_short"]
    assert listed and all(set(v["items_short"]) <= short_items for v in listed)
    for item in short_items:
        assert sum(v["items_short"].get(item, 0) for v in listed) == pytest.approx(
            by[item]["unmet"])


def test_ten_hour_check_lists_villages_no_depot_can_reach(client, demo_db):
    """With 1.05 h (1 h dispatch + 3 min), a village more than 5 km in a straight line from
    every depot (100 km/h is the fastest road) gets nothing: listed, unreachable, every item."""
    from pyproj import Geod

    r = client.get("/analyses/relief-check", params={"hours": 1.05})
    assert r.status_code == 200, r.text
    ans = r.json()
    listed = {v["dest_id"]: v for v in ans["villages_short"]}
    with demo_db.engine.connect() as c:
        dep = np.array(c.execute(sa.text(
            "SELECT ST_X(geom), ST_Y(geom) FROM depots WHERE status = 'active' AND id IN "
            "(SELECT depot_id FROM depot_stock WHERE quantity > 0)")).all(), dtype=float)
        vil = c.execute(sa.text(
            "SELECT u.code, ST_X(ST_PointOnSurface(u.geom)), ST_Y(ST_PointOnSurface(u.geom)) "
            "FROM admin_units u JOIN population p ON p.code = u.code AND p.population > 0 "
            "WHERE u.level = 'village' AND u.placement = 'boundary'")).all()
    geod = Geod(ellps="WGS84")
    far = []
    for code, x, y in vil:
        _, _, dist = geod.inv(np.full(len(dep), x), np.full(len(dep), y), dep[:, 0], dep[:, 1])
        if dist.min() > 5000:
            far.append(code)
    assert len(far) > 10
    for code in far:
        assert code in listed, code
        assert listed[code]["reachable"] is False
        assert set(listed[code]["items_short"]) == {"帐篷", "棉被", "折叠床", "饮用水", "方便食品"}


def test_depot_stock_is_readable(client, demo_db):
    st = _stock(demo_db.engine)
    d = int(st["depot_id"].iloc[0])
    one = client.get(f"/depots/{d}/stock")
    assert one.status_code == 200
    mine = st[st["depot_id"] == d].set_index("item")["quantity"].to_dict()
    assert {x["item"]: x["quantity"] for x in one.json()["items"]} == mine
    rows = client.get("/depot_stock", params={"item": "帐篷"}).json()
    assert len(rows) == int((st["item"] == "帐篷").sum()) and all(x["item"] == "帐篷"
                                                                  for x in rows)
    rows = client.get("/depot_stock", params={"depot": d}).json()
    assert {x["item"] for x in rows} == set(mine)


@pytest.mark.bad_input
@pytest.mark.parametrize(("path", "status"), [
    ("/incidents/999999/relief", 404),
    ("/incidents/0/relief", 422),
    ("/incidents/1/relief?needs=sphere", 422),
    ("/incidents/1/relief?to=hospitals", 422),
    ("/depots/999999/stock", 404),
    ("/depot_stock?depot=999999", 404),
    ("/analyses/relief-check?hours=0", 422),
    ("/analyses/relief-check?hours=-3", 422),
    ("/analyses/relief-check?relocated=-1", 422),
], ids=["unknown incident", "incident 0", "unknown needs set", "unknown destinations",
        "unknown depot stock", "unknown depot filter", "zero hours", "negative hours",
        "negative relocated"])
def test_bad_requests_name_the_problem(client, path, status):
    r = client.get(path)
    assert r.status_code == status, r.text
    assert r.json()["detail"]


@pytest.mark.bad_input
def test_negative_stock_is_refused_and_changes_nothing(client, demo_db):
    st = _stock(demo_db.engine)
    row = st.iloc[0]
    _, auth = _token(demo_db.engine, "planner")
    r = client.patch(f"/depot_stock/{int(row['depot_id'])}/{row['item']}", headers=auth,
                     json={"quantity_delta": -(row["quantity"] + 1)})
    assert r.status_code == 409 and "less than 0" in r.json()["detail"]
    r = client.patch(f"/depot_stock/{int(row['depot_id'])}/{row['item']}", headers=auth,
                     json={"quantity_delta": "-5"})
    assert r.status_code == 422
    after = client.get(f"/depots/{int(row['depot_id'])}/stock").json()["items"]
    assert {x["item"]: x["quantity"] for x in after}[row["item"]] == row["quantity"]


# --- the command line ---------------------------------------------------------------------------

@pytest.fixture
def cli_env(demo_db, monkeypatch):
    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    from emgis.api.cli import app

    return app


def test_cli_needs_allocate_check(cli_env, demo_db, tmp_path):
    flood = _incident(demo_db.engine, "seed flood")
    run = CliRunner()
    res = run.invoke(cli_env, ["relief", "needs", "--incident", str(flood)])
    assert res.exit_code == 0, res.output
    assert "relief.displaced_share.flood" in res.output and "帐篷" in res.output
    out = tmp_path / "alloc.xlsx"
    res = run.invoke(cli_env, ["relief", "allocate", "--incident", str(flood), "--to",
                               "shelters", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "check passed" in res.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) >= {"调拨", "缺口", "物资", "需求", "说明"}  # Chinese by default
    assert {"储备库", "目的地", "物资", "调拨数量"} <= set(sheets["调拨"].columns)
    assert any(k.startswith("relief.") for k in sheets["说明"]["项目"])  # the norms read
    res = run.invoke(cli_env, ["relief", "allocate", "--incident", str(flood), "--to",
                               "shelters", "--out", str(out), "--lang", "en"])
    assert res.exit_code == 0, res.output
    sheets = pd.read_excel(out, sheet_name=None)
    assert set(sheets) >= {"shipments", "shortfalls", "by item", "Notes"}
    js = tmp_path / "check.json"
    res = run.invoke(cli_env, ["relief", "check", "--hours", "10", "--out", str(js)])
    assert res.exit_code == 0, res.output
    ans = json.loads(js.read_text(encoding="utf-8"))
    assert ans["hours"] == 10 and "village(s) short" in res.output


def test_cli_needs_for_an_area_file(cli_env, demo_db, tmp_path):
    with demo_db.engine.connect() as c:
        gj = c.execute(sa.text("SELECT ST_AsGeoJSON(geom) FROM incidents WHERE title = "
                               "'seed flood'")).scalar()
    f = tmp_path / "area.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": json.loads(gj)}]}), encoding="utf-8")
    res = CliRunner().invoke(cli_env, ["relief", "needs", "--area", str(f), "--type", "地震"])
    assert res.exit_code == 0, res.output
    assert "relief.displaced_share.earthquake" in res.output


@pytest.mark.bad_input
@pytest.mark.parametrize("args", [
    ["relief", "allocate", "--incident", "999999"],
    ["relief", "needs"],
    ["relief", "check", "--hours", "0"],
    ["relief", "check", "--out", "x.txt"],
], ids=["unknown incident", "no area", "zero hours", "wrong out suffix"])
def test_cli_bad_input_exits_2(cli_env, args):
    res = CliRunner().invoke(cli_env, args)
    assert res.exit_code == 2, res.output
