"""The expert roster (issue #17, build 2) and team equipment (build 3).

Phone numbers are personal data: no route serves them to a reader without a commander (or
admin) token, and the OGC collection never serves them. Nearest experts rank by road time when a
network is stored, else by straight-line distance, and say which. Nearest teams can require an
equipment kind; the answer agrees with a brute-force search over the teams that hold it. Files
with bad rows report every problem and load nothing.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from conftest import _token, table_checksums
from typer.testing import CliRunner

from emgis.layers.load.write import load_layer
from emgis.layers.problems import InputError

pytestmark = pytest.mark.postgis

PHONE = "100-0000-"   # every demo expert's phone starts so (layers/demo/readiness.py)


def _incident(engine, title="seed fire") -> int:
    with engine.connect() as c:
        return c.execute(sa.text("SELECT id FROM incidents WHERE title = :t"),
                         {"t": title}).scalar_one()


def _expert_ids(engine) -> list[int]:
    with engine.connect() as c:
        return list(c.execute(sa.text("SELECT id FROM experts ORDER BY id")).scalars())


ROLES = [None, "viewer", "planner", "commander", "admin"]


def _routes(engine) -> list[str]:
    inc = _incident(engine)
    first = _expert_ids(engine)[0]
    return ["/experts", "/experts?speciality=危化", f"/incidents/{inc}/experts",
            f"/incidents/{inc}/experts?speciality=防汛&k=3",
            "/collections/experts/items", f"/collections/experts/items/{first}",
            "/collections/experts/items?limit=1000"]


@pytest.mark.parametrize("role", ROLES, ids=[r or "no-token" for r in ROLES])
def test_phone_numbers_only_for_commander_and_never_in_the_ogc_collection(client, demo_db,
                                                                          role):
    headers = _token(demo_db.engine, role)[1] if role else {}
    sees = role in ("commander", "admin")
    for path in _routes(demo_db.engine):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text)
        ogc = path.startswith("/collections")
        assert (PHONE in r.text) == (sees and not ogc), (role, path)
        assert ('"phone"' in r.text) == (sees and not ogc), (role, path)
        if not ogc:
            assert r.json()["phones_shown"] is sees


def test_an_unknown_token_is_refused_not_served_as_a_viewer(client, demo_db):
    r = client.get("/experts", headers={"Authorization": "Bearer emgis_nonsense"})
    assert r.status_code == 401 and PHONE not in r.text


def test_the_collection_lists_experts_without_phone(client):
    r = client.get("/collections/experts/items")
    feats = r.json()["features"]
    assert len(feats) == 12
    assert all("phone" not in f["properties"] for f in feats)
    assert {"name", "specialities", "availability", "unit", "title"} <= set(feats[0]["properties"])
    assert "experts" in [c["id"] for c in client.get("/collections").json()["collections"]]


def test_nearest_experts_by_road_with_a_network(client, demo_db):
    from emgis.geo.routing import nearest_k, snap_facilities
    from emgis.geo.store import load_network

    inc = _incident(demo_db.engine)
    r = client.get(f"/incidents/{inc}/experts", params={"speciality": "危化", "k": 5})
    body = r.json()
    assert r.status_code == 200 and body["method"] == "road" and body["speciality"] == "hazchem"
    # brute force: every available hazchem expert's road time
    with demo_db.engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT ext_id, ST_X(geom), ST_Y(geom) FROM experts WHERE availability = 'available' "
            "AND 'hazchem' = ANY(specialities) ORDER BY id")).all()
        lon, lat = c.execute(sa.text("SELECT ST_X(ST_PointOnSurface(geom)), "
                                     "ST_Y(ST_PointOnSurface(geom)) FROM incidents "
                                     "WHERE id = :i"), {"i": inc}).one()
    graph = load_network(demo_db.engine, "default", home=demo_db.home)
    routes = nearest_k(graph, (lon, lat), snap_facilities(graph, [r[1] for r in rows],
                                                          [r[2] for r in rows]),
                       len(rows), direction="from_facility")
    assert [e["ext_id"] for e in body["experts"]] == [rows[x.facility][0] for x in routes]
    assert [e["time_min"] for e in body["experts"]] == sorted(e["time_min"]
                                                              for e in body["experts"])
    assert all("hazchem" in e["specialities"] for e in body["experts"])
    # unavailable experts are never proposed
    every = client.get(f"/incidents/{inc}/experts", params={"k": 50}).json()["experts"]
    assert len(every) == 10 and {e["availability"] for e in every} == {"available"}


def test_nearest_experts_say_straight_line_without_a_network(demo_db):
    from emgis.shelters.experts import nearest_experts

    ans = nearest_experts(demo_db.engine, _incident(demo_db.engine), "防汛", k=3)
    assert ans.method == "straight-line" and "straight-line" in ans.note
    d = [e["distance_m"] for e in ans.experts]
    assert d == sorted(d) and len(d) == 2
    assert all("phone" not in e for e in ans.experts)


@pytest.mark.bad_input
@pytest.mark.parametrize("path", ["/experts?speciality=化学", "/incidents/{inc}/experts"
                                  "?speciality=astrology"], ids=["list", "nearest"])
def test_an_unknown_speciality_is_400_naming_the_choices(client, demo_db, path):
    r = client.get(path.format(inc=_incident(demo_db.engine)))
    assert r.status_code == 400 and "地震地质" in r.json()["detail"]


def test_nearest_experts_for_no_incident_is_404(client):
    assert client.get("/incidents/99999999/experts").status_code == 404


def test_cli_experts_hide_phones_unless_asked(demo_db, monkeypatch):
    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    inc = str(_incident(demo_db.engine))
    run = CliRunner().invoke
    near = run(app, ["experts", "near", inc, "--speciality", "防汛", "-k", "2"])
    assert near.exit_code == 0, near.output
    assert "by road" in near.output and PHONE not in near.output
    listed = run(app, ["experts", "list"])
    assert listed.exit_code == 0 and PHONE not in listed.output and "EXP012" in listed.output
    shown = run(app, ["experts", "list", "--speciality", "地震", "--phones"])
    assert PHONE in shown.output and "EXP011" in shown.output and "EXP001" not in shown.output
    assert run(app, ["experts", "near", inc, "--speciality", "astrology"]).exit_code == 2


# --- loads with bad rows ------------------------------------------------------------------------

EXPERT_HEADER = "编号,姓名,专业,工作单位,职称,联系电话,状态,经度,纬度\n"
GOOD_EXPERT = "X1,甲（合成）,危化,某单位,工程师,100-0000-9999,可调用,119.85,31.0\n"
EQUIPMENT_HEADER = "队伍编号,装备名称,装备类别,数量,状态\n"

BAD_FILES = [
    pytest.param("experts", EXPERT_HEADER + GOOD_EXPERT
                 + "X2,乙（合成）,占卜,某单位,工程师,,可调用,119.86,31.0\n"
                 + "X3,丙（合成）,防汛;炼金,某单位,工程师,,在家,119.87,31.0\n",
                 {(3, "specialities"), (4, "specialities"), (4, "availability")},
                 id="experts-unknown-speciality-and-availability"),
    pytest.param("equipment", EQUIPMENT_HEADER + "DW006,冲锋舟A,冲锋舟,-2,完好\n"
                 + "DW006,飞毯,魔法装备,1,完好\n" + "DW999,救生衣,救生衣,10,完好\n"
                 + "DW021,抽水泵,抽水泵,3,坏了\n",
                 {(2, "quantity"), (3, "kind"), (4, "team_base_id"), (5, "state")},
                 id="equipment-negative-quantity-unknown-kind-team-state"),
    pytest.param("equipment", EQUIPMENT_HEADER + "DW006,救生衣,救生衣,2,完好\n"
                 + "DW006,救生衣,救生衣,3,完好\n",
                 {(3, "item")}, id="equipment-the-same-item-twice"),
]


@pytest.mark.bad_input
@pytest.mark.parametrize(("layer", "text", "where"), BAD_FILES)
def test_bad_rows_are_all_reported_and_nothing_is_loaded(demo_db, tmp_path, layer, text, where):
    path = tmp_path / f"{layer}.csv"
    path.write_text(text, encoding="utf-8")
    before = table_checksums(demo_db.engine, ["experts", "team_equipment", "loads", "audit_log"])
    with pytest.raises(InputError) as exc:
        load_layer(demo_db.engine, layer, path)
    got = {(p.row, p.field) for p in exc.value.problems if p.severity == "error"}
    assert got == where, [str(p) for p in exc.value.problems]
    assert table_checksums(demo_db.engine, ["experts", "team_equipment", "loads",
                                            "audit_log"]) == before


def test_cli_load_equipment_reports_problems_and_exits_2(demo_db, monkeypatch, tmp_path):
    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    path = tmp_path / "eq.csv"
    path.write_text(EQUIPMENT_HEADER + "DW006,冲锋舟A,冲锋舟,-2,完好\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["load", "equipment", str(path)])
    assert res.exit_code == 2 and "quantity" in res.output


# --- team equipment: edits and the nearest-teams filter ---------------------------------------

def _boat_teams(engine) -> set[str]:
    """Brute force: the available teams holding a boat in state ok."""
    with engine.connect() as c:
        return set(c.execute(sa.text(
            "SELECT DISTINCT t.ext_id FROM team_bases t JOIN team_equipment e "
            "ON e.team_base_id = t.id WHERE e.kind = 'assault_boat' AND e.state = 'ok' "
            "AND e.quantity > 0 AND t.status = 'available'")).scalars())


def _place(engine):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM admin_units "
            "WHERE level = 'village' AND geom IS NOT NULL ORDER BY code OFFSET 30 LIMIT 1) q")
        ).one()


def _brute_force(demo_db, lon, lat, k):
    from emgis.geo.routing import nearest_k, snap_facilities
    from emgis.geo.store import load_network

    with demo_db.engine.connect() as c:
        rows = c.execute(sa.text("SELECT ext_id, ST_X(geom), ST_Y(geom) FROM team_bases "
                                 "WHERE ext_id = ANY(:e) ORDER BY id"),
                         {"e": sorted(_boat_teams(demo_db.engine))}).all()
    graph = load_network(demo_db.engine, "default", home=demo_db.home)
    routes = nearest_k(graph, (lon, lat), snap_facilities(graph, [r[1] for r in rows],
                                                          [r[2] for r in rows]),
                       len(rows), direction="from_facility")
    return [rows[x.facility][0] for x in routes][:k]


def test_nearest_teams_with_a_boat_agree_with_brute_force_and_follow_edits(client, demo_db):
    lon, lat = _place(demo_db.engine)
    boats = _boat_teams(demo_db.engine)
    assert len(boats) >= 2
    q = {"lon": lon, "lat": lat, "layer": "team_bases", "k": 5, "equipment": "冲锋舟"}
    r = client.get("/analyses/nearest", params=q)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"]["equipment"] == "assault_boat"
    got = [f["properties"]["ext_id"] for f in body["features"]]
    assert got == _brute_force(demo_db, lon, lat, 5) and set(got) == boats
    # a planner sends one team's boats to repair: it drops out of the answer at once
    name, auth = _token(demo_db.engine, "planner")
    team = got[0]
    with demo_db.engine.connect() as c:
        items = list(c.execute(sa.text(
            "SELECT e.item FROM team_equipment e JOIN team_bases t ON t.id = e.team_base_id "
            "WHERE t.ext_id = :t AND e.kind = 'assault_boat'"), {"t": team}).scalars())
    try:
        for item in items:
            p = client.patch(f"/team_bases/{team}/equipment/{item}", json={"state": "维修"},
                             headers=auth)
            assert p.status_code == 200 and p.json()["state"] == "repair", p.text
        again = [f["properties"]["ext_id"] for f in client.get("/analyses/nearest",
                                                               params=q).json()["features"]]
        assert team not in again and again == _brute_force(demo_db, lon, lat, 5)
        with demo_db.engine.connect() as c:
            audit = c.execute(sa.text(
                "SELECT actor, before->>'state', after->>'state' FROM audit_log "
                "WHERE table_name = 'team_equipment' ORDER BY id DESC LIMIT 1")).one()
        assert audit == (name, "ok", "repair")
    finally:
        for item in items:
            client.patch(f"/team_bases/{team}/equipment/{item}", json={"state": "ok"},
                         headers=auth)


def test_route_cli_with_equipment_agrees_with_brute_force(demo_db, monkeypatch, tmp_path):
    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    lon, lat = _place(demo_db.engine)
    out = tmp_path / "r.geojson"
    res = CliRunner().invoke(app, ["route", "--from", f"{lon},{lat}", "--to", "team_bases",
                                   "--equipment", "冲锋舟", "-k", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = [f["properties"]["facility_id"] for f in json.loads(out.read_text())["features"]]
    assert got == _brute_force(demo_db, lon, lat, 2)
    bad = CliRunner().invoke(app, ["route", "--from", f"{lon},{lat}", "--equipment", "飞毯"])
    assert bad.exit_code == 2 and "冲锋舟" in bad.output


@pytest.mark.bad_input
@pytest.mark.parametrize(("params", "status"), [
    ({"equipment": "飞毯"}, 400), ({"equipment": "冲锋舟", "layer": "depots"}, 400)],
    ids=["unknown-kind", "not-teams"])
def test_nearest_with_a_bad_equipment_kind_is_400(client, demo_db, params, status):
    lon, lat = _place(demo_db.engine)
    r = client.get("/analyses/nearest", params={"lon": lon, "lat": lat, **params})
    assert r.status_code == status, r.text


def test_equipment_patch_is_guarded_like_stock(client, demo_db):
    _, viewer = _token(demo_db.engine, "viewer")
    _, auth = _token(demo_db.engine, "planner")
    url = "/team_bases/DW006/equipment/救生衣"
    assert client.patch(url, json={"quantity_delta": 1}).status_code == 401
    assert client.patch(url, json={"quantity_delta": 1}, headers=viewer).status_code == 403
    have = client.get("/team_bases/DW006/equipment").json()["equipment"]
    q = {e["item"]: e["quantity"] for e in have}["救生衣"]
    r = client.patch(url, json={"quantity_delta": -(q + 1)}, headers=auth)
    assert r.status_code == 409 and r.json()["quantity"] == q
    r = client.patch(url, json={"quantity_delta": 2}, headers=auth)
    assert r.status_code == 200 and r.json()["quantity"] == q + 2
    client.patch(url, json={"quantity_delta": -2}, headers=auth)
    # a new line needs its kind from the catalogue
    new = "/team_bases/DW006/equipment/二号无人机"
    assert client.patch(new, json={"quantity_delta": 1}, headers=auth).status_code == 422
    assert client.patch(new, json={"quantity_delta": 1, "kind": "飞毯"},
                        headers=auth).status_code == 422
    r = client.patch(new, json={"quantity_delta": 1, "kind": "无人机"}, headers=auth)
    assert r.status_code == 200 and r.json()["kind"] == "drone"
    assert client.patch("/team_bases/NOPE/equipment/x", json={"quantity_delta": 1},
                        headers=auth).status_code == 404
    with demo_db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM team_equipment WHERE item = '二号无人机'"))


@pytest.mark.browser
def test_live_map_draws_experts_without_phones_and_lists_the_nearest(demo_db, browser_page):
    from conftest import _serve, watch_offline

    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings, MapSettings

    app = create_app(ApiSettings(), engine=demo_db.engine,
                     db_settings=DatabaseSettings(home=demo_db.home),
                     map_settings=MapSettings(tiles="none", refresh_s=1.0))
    page = browser_page
    errors, external = watch_offline(page)
    seen: list[str] = []
    page.on("response", lambda r: seen.append(r.url))
    with _serve(app) as base:
        page.goto(base + "/maps/live")
        page.wait_for_function("document.querySelectorAll('.emgis-experts').length === 12",
                               timeout=30000)
        page.click("#emgis-incidents li:has-text('seed fire')")
        page.wait_for_selector("div[data-ext=readiness] table.emgis-experts", timeout=15000)
        panel = page.inner_text("div[data-ext=readiness]")
        html = page.content()
    assert "应急专家 Experts" in panel and "min" in panel
    assert panel.count("（合成）") == 3
    assert PHONE not in html and PHONE not in panel
    assert any("/collections/experts/items" in u for u in seen)
    assert errors == [] and external == [], (errors, external)


@pytest.mark.parametrize("layer", ["experts", "team_equipment"])
def test_export_and_load_back_changes_nothing(demo_db, tmp_path, layer):
    from emgis.layers.load.exporters import export_layer
    from emgis.layers.load.write import LoadOptions

    path = tmp_path / f"{layer}.csv"
    n = export_layer(demo_db.engine, layer, path)
    data = ["experts", "team_equipment"]
    before = {t: v for t, v in table_checksums(demo_db.engine, data).items()}
    res = load_layer(demo_db.engine, layer, path, LoadOptions(mode="upsert"))
    assert res.counts["inserted"] == 0 and res.counts["updated"] == n
    after = table_checksums(demo_db.engine, data)
    assert after[layer][0] == before[layer][0]


@pytest.mark.bad_input
@pytest.mark.parametrize(("item", "body", "status"), [
    ("救生衣", {"state": "坏了"}, 422),
    ("救生衣", {}, 422),
    ("救生衣", {"quantity_delta": 1, "kind": "冲锋舟"}, 422),
    ("新装备", {"quantity_delta": 1, "kind": "魔法"}, 422),
    ("新装备", {"quantity_delta": -1}, 404),
    ("救生衣", {"quantity_delta": "1"}, 422),
], ids=["unknown-state", "nothing-to-change", "kind-differs-from-stored", "unknown-kind",
        "take-from-nothing", "delta-as-text"])
def test_a_bad_equipment_edit_changes_nothing(client, demo_db, item, body, status):
    _, auth = _token(demo_db.engine, "planner")
    before = table_checksums(demo_db.engine, ["team_equipment"])
    r = client.patch(f"/team_bases/DW006/equipment/{item}", json=body, headers=auth)
    assert r.status_code == status, r.text
    assert table_checksums(demo_db.engine, ["team_equipment"]) == before
