"""Warnings with acknowledgement (叫应): contacts loaded with Chinese headers, a warning's
recipients are the contacts of the units inside its area (checked against shapely on the demo
county), answers by code or by a duty officer are recorded and shown, phones are redacted below
commander; through the API, `emgis load contacts` and `emgis warning`.
"""

from __future__ import annotations

import json

import pytest
import shapely
import sqlalchemy as sa
from conftest import _token, table_checksums

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def county(demo_db, tmp_path_factory):
    """Contacts of the demo county loaded through the loader (Chinese headers) and an area
    around one village's inside point (about 300 m) that touches few units."""
    import geopandas as gpd
    from typer.testing import CliRunner

    from emgis.api.cli import app

    e = demo_db.engine
    units = gpd.read_postgis("SELECT code, name, level, parent_code, geom FROM admin_units "
                             "WHERE geom IS NOT NULL AND level IN ('village', 'township')", e,
                             geom_col="geom")
    villages = units[units.level == "village"].sort_values("code")
    target = villages.iloc[40]
    area = target.geom.representative_point().buffer(0.003)
    inside_v = set(villages[villages.intersects(area)].code)
    towns = units[units.level == "township"]
    inside_t = set(towns[towns.intersects(area)].code) | set(
        villages[villages.code.isin(inside_v)].parent_code)
    outside_v = villages[~villages.code.isin(inside_v)].iloc[0]
    outside_t = sorted(set(towns.code) - inside_t)[0]
    rows = [("C1", "王支书", target.code, "村支书", "13800001111"),
            ("C2", "李网格", target.code, "网格员", "13800002222"),
            ("C3", "赵值班", target.parent_code, "乡镇值班", "05710000333"),
            ("C4", "外村人", outside_v.code, "村支书", "13800004444"),
            ("C5", "外镇人", outside_t, "乡镇值班", "13800005555")]
    path = tmp_path_factory.mktemp("contacts") / "联系人.csv"
    lines = ["编号,姓名,区划代码,职务,联系电话", *(",".join(r) for r in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    mp = pytest.MonkeyPatch()
    mp.setenv("EMGIS_DATABASE_URL", demo_db.url)
    mp.setenv("EMGIS_HOME", str(demo_db.home))
    res = CliRunner().invoke(app, ["load", "contacts", str(path)])
    mp.undo()
    assert res.exit_code == 0, res.output
    return {"area": area, "villages": inside_v, "townships": inside_t, "target": target.code,
            "contacts": {r[0]: r for r in rows}}


def _ids(engine) -> dict[str, int]:
    with engine.connect() as c:
        return dict(c.execute(sa.text("SELECT ext_id, id FROM contacts")).all())


def _issue(client, demo_db, county, **kw):
    _, h = _token(demo_db.engine, "commander")
    body = {"area": shapely.geometry.mapping(county["area"]), "level": "橙",
            "text": "预计3小时内强降雨，请立即组织转移"}
    body.update(kw)
    return client.post("/warnings", json=json.loads(json.dumps(body)), headers=h)


def test_recipients_are_the_contacts_of_the_units_inside(client, demo_db, county):
    # hand-check on the demo county: the area lies within one township, around one village
    assert county["target"] in county["villages"] and len(county["townships"]) == 1
    r = _issue(client, demo_db, county)
    assert r.status_code == 201, r.text
    ans = r.json()
    assert ans["level"] == "orange" and ans["level_zh"] == "橙色预警"
    ids = _ids(demo_db.engine)
    expected = {ids[k] for k, row in county["contacts"].items()
                if row[2] in county["villages"] | county["townships"]}
    assert {r_["contact_id"] for r_ in ans["recipients"]} == expected == {
        ids["C1"], ids["C2"], ids["C3"]}
    assert all(len(r_["code"]) == 6 for r_ in ans["recipients"])  # shown once, to the issuer
    assert {u["code"] for u in ans["units_without_contacts"]} == (
        county["villages"] | county["townships"]) - {county["target"], county["contacts"]["C3"][2]}
    assert ans["acknowledged"] == 0 and len(ans["not_acknowledged"]) == 3


def test_acks_are_recorded_and_shown_with_the_unacknowledged(client, demo_db, county):
    ans = _issue(client, demo_db, county).json()
    wid, ids = ans["id"], _ids(demo_db.engine)
    code = {r["contact_id"]: r["code"] for r in ans["recipients"]}
    r = client.post(f"/warnings/{wid}/ack", json={"contact_id": ids["C1"],
                                                 "code": code[ids["C1"]], "channel": "sms"})
    assert r.status_code == 200, r.text
    assert r.json()["acknowledged_by"] == "王支书" and r.json()["channel"] == "sms"
    officer, h = _token(demo_db.engine, "planner")
    r = client.post(f"/warnings/{wid}/ack", json={"contact_id": ids["C3"]}, headers=h)
    assert r.status_code == 200 and r.json()["channel"] == "phone"
    assert r.json()["acknowledged_by"] == f"{officer} (for 赵值班)"
    st = client.get(f"/warnings/{wid}").json()
    assert st["acknowledged"] == 2
    assert [x["contact_id"] for x in st["not_acknowledged"]] == [ids["C2"]]
    assert "code" not in st["recipients"][0]
    pending = client.get("/warnings/unacknowledged").json()["features"]
    mine = [f for f in pending if f["properties"]["warning_id"] == wid]
    assert [f["properties"]["unit_code"] for f in mine] == [county["target"]]
    assert mine[0]["properties"]["names"] == "李网格 (网格员)" and mine[0]["geometry"]
    listed = next(w for w in client.get("/warnings").json() if w["id"] == wid)
    assert (listed["recipients"], listed["acknowledged"]) == (3, 2)
    with demo_db.engine.connect() as c:  # audited
        assert c.execute(sa.text("SELECT count(*) FROM audit_log WHERE table_name = "
                                 "'warning_recipients' AND action = 'update'")).scalar() >= 2


def test_phones_only_for_commanders(client, demo_db, county):
    wid = _issue(client, demo_db, county).json()["id"]
    phones = {r["name"]: r["phone"] for r in client.get(f"/warnings/{wid}").json()["recipients"]}
    assert phones["王支书"] == "*******1111"
    _, hv = _token(demo_db.engine, "planner")
    assert "13800001111" not in client.get(f"/warnings/{wid}", headers=hv).text
    _, hc = _token(demo_db.engine, "commander")
    phones = {r["name"]: r["phone"]
              for r in client.get(f"/warnings/{wid}", headers=hc).json()["recipients"]}
    assert phones["王支书"] == "13800001111"


@pytest.mark.bad_input
@pytest.mark.parametrize(("case", "status", "field"), [
    ("wrong-code", 422, "code"), ("no-code-no-token", 422, "code"),
    ("not-a-recipient", 404, None), ("reporter-token", 403, None), ("bad-channel", 422, "channel"),
], ids=["wrong-code", "no-code-no-token", "not-a-recipient", "reporter-token-records",
        "bad-channel"])
def test_bad_acks_are_refused_and_change_nothing(client, demo_db, county, case, status, field):
    ans = _issue(client, demo_db, county).json()
    wid, ids = ans["id"], _ids(demo_db.engine)
    code = {r["contact_id"]: r["code"] for r in ans["recipients"]}
    body, h = {"contact_id": ids["C2"]}, {}
    if case == "wrong-code":
        body["code"] = "x" + code[ids["C2"]][1:]
    elif case == "not-a-recipient":
        body = {"contact_id": ids["C4"], "code": "123456"}
    elif case == "reporter-token":
        h = _token(demo_db.engine, "reporter")[1]
    elif case == "bad-channel":
        body.update(code=code[ids["C2"]], channel="pigeon")
    before = table_checksums(demo_db.engine, ["warning_recipients"])
    r = client.post(f"/warnings/{wid}/ack", json=body, headers=h)
    assert r.status_code == status, r.text
    if field:
        assert r.json()["problems"][0]["field"] == field
    assert table_checksums(demo_db.engine, ["warning_recipients"]) == before


@pytest.mark.bad_input
@pytest.mark.parametrize(("change", "status", "field"), [
    ({"level": "紫"}, 422, "level"), ({"text": " "}, 422, "text"),
    ({"area": {"type": "Polygon", "coordinates": [[[100, 40], [100.1, 40], [100.1, 40.1],
                                                   [100, 40]]]}}, 422, "area"),
    ({"incident": 1}, 422, "area"),
], ids=["unknown-level", "blank-text", "area-outside-county", "area-and-incident"])
def test_bad_warnings_are_refused_and_write_nothing(client, demo_db, county, change, status,
                                                    field):
    before = table_checksums(demo_db.engine, ["warnings", "warning_recipients"])
    r = _issue(client, demo_db, county, **change)
    assert r.status_code == status, r.text
    assert r.json()["problems"][0]["field"] == field
    _, hp = _token(demo_db.engine, "planner")
    assert client.post("/warnings", json={"incident": 1, "level": "红", "text": "x"},
                       headers=hp).status_code == 403
    assert table_checksums(demo_db.engine, ["warnings", "warning_recipients"]) == before


def test_cli_warning_issue_status_ack(demo_db, county, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    monkeypatch.setenv("COLUMNS", "200")
    with demo_db.engine.connect() as c:
        inc = c.execute(sa.text("SELECT id FROM incidents WHERE title = 'seed flood'")).scalar()
    res = CliRunner().invoke(app, ["warning", "issue", "--incident", str(inc), "--level", "红",
                                   "--text", "山洪红色预警"])
    assert res.exit_code == 0, res.output
    assert "红色预警" in res.output
    with demo_db.engine.connect() as c:
        wid = c.execute(sa.text("SELECT max(id) FROM warnings")).scalar()
        assert c.execute(sa.text("SELECT incident_id FROM warnings WHERE id = :w"),
                         {"w": wid}).scalar() == inc
    res = CliRunner().invoke(app, ["warning", "status", str(wid)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["warning", "issue", "--incident", str(inc), "--level", "紫",
                                   "--text", "x"])
    assert res.exit_code == 2 and "level" in res.output
    res = CliRunner().invoke(app, ["warning", "list"])
    assert res.exit_code == 0 and "山洪红色预警" in res.output
