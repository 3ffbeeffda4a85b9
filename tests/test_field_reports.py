"""Field reports (灾害信息员): states, who may do what, places outside the county, photos, the
township summary (not reported is not 0), promotion to a hazard, the OGC collection and the CLI.

Through the doors a user has: the app (``client``) and `emgis reports` (CliRunner), on the demo
county in PostGIS.
"""

from __future__ import annotations

import base64
import struct
import zlib

import pytest
import sqlalchemy as sa
from conftest import _token, table_checksums

pytestmark = pytest.mark.postgis


def _png(w: int = 2, h: int = 2) -> bytes:
    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * w for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def place(demo_db):
    """A point inside a village of the demo county, and its township's code."""
    with demo_db.engine.connect() as c:
        r = c.execute(sa.text(
            "SELECT ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)), parent_code "
            "FROM admin_units WHERE level = 'village' AND geom IS NOT NULL ORDER BY code "
            "LIMIT 1 OFFSET 5")).one()
    return float(r[0]), float(r[1]), r[2]


@pytest.fixture(scope="module")
def tokens(demo_db):
    e = demo_db.engine
    return {"rep": _token(e, "reporter"), "rep2": _token(e, "reporter"),
            "viewer": _token(e, "viewer"), "planner": _token(e, "planner")}


def _report(pt, **kw) -> dict:
    lon, lat, _ = pt
    body = {"kind": "quick_report", "location": {"type": "Point", "coordinates": [lon, lat]},
            "incident_type": "山洪", "place": "三组"}
    body.update(kw)
    return body


def _post(client, tokens, pt, who="rep", **kw):
    return client.post("/field-reports", json=_report(pt, **kw), headers=tokens[who][1])


def test_report_gets_its_township_and_keeps_unknown_counts_null(client, tokens, place):
    r = _post(client, tokens, place, deaths=0, injured=2)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["state"] == "initial" and body["township_code"] == place[2]
    assert body["reporter"] == tokens["rep"][0]
    assert body["deaths"] == 0 and body["injured"] == 2
    assert body["missing"] is None and body["houses_damaged"] is None  # not reported, not 0


def test_legal_states_initial_follow_up_verified(client, demo_db, tokens, place):
    rid = _post(client, tokens, place).json()["id"]
    r = client.patch(f"/field-reports/{rid}", json={"relocated": 40, "note": "续报"},
                     headers=tokens["rep"][1])
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "follow_up" and r.json()["relocated"] == 40
    r = client.patch(f"/field-reports/{rid}", json={"state": "follow_up", "relocated": 45},
                     headers=tokens["rep"][1])
    assert r.json()["relocated"] == 45
    r = client.patch(f"/field-reports/{rid}", json={"state": "verified"},
                     headers=tokens["planner"][1])
    assert r.status_code == 200 and r.json()["state"] == "verified"
    hist = client.get(f"/field-reports/{rid}").json()["events"]
    assert [(e["from_state"], e["to_state"]) for e in hist] == [
        (None, "initial"), ("initial", "follow_up"), ("follow_up", "follow_up"),
        ("follow_up", "verified")]
    assert hist[1]["changes"] == {"relocated": 40} and hist[-1]["actor"] == tokens["planner"][0]
    with demo_db.engine.connect() as c:
        actors = c.execute(sa.text("SELECT actor FROM audit_log WHERE table_name = "
                                   "'field_reports' AND row_key = :k ORDER BY id"),
                           {"k": str(rid)}).scalars().all()
    assert actors == [tokens["rep"][0]] * 3 + [tokens["planner"][0]]


@pytest.mark.bad_input
@pytest.mark.parametrize(("first", "then"), [("verified", "follow_up"), ("rejected", "verified"),
                                             ("verified", "rejected")],
                         ids=["verified-then-follow-up", "rejected-then-verified",
                              "verified-then-rejected"])
def test_illegal_state_changes_are_422_and_change_nothing(client, demo_db, tokens, place,
                                                          first, then):
    rid = _post(client, tokens, place).json()["id"]
    assert client.patch(f"/field-reports/{rid}", json={"state": first},
                        headers=tokens["planner"][1]).status_code == 200
    before = table_checksums(demo_db.engine, ["field_reports", "field_report_events"])
    r = client.patch(f"/field-reports/{rid}", json={"state": then, "deaths": 3},
                     headers=tokens["planner"][1])
    assert r.status_code == 422, r.text
    assert r.json()["problems"][0]["field"] == "state"
    assert table_checksums(demo_db.engine, ["field_reports", "field_report_events"]) == before


@pytest.mark.bad_input
@pytest.mark.parametrize(("who", "action", "status"), [
    ("viewer", "post", 403), ("none", "post", 401), ("rep", "verify", 403),
    ("rep2", "follow-up-of-another", 403), ("rep", "promote", 403)],
    ids=["viewer-posts", "no-token-posts", "reporter-verifies", "reporter-follows-up-another",
         "reporter-promotes"])
def test_reporter_may_post_and_follow_up_own_only(client, demo_db, tokens, place, who, action,
                                                  status):
    rid = _post(client, tokens, place, kind="hazard").json()["id"]
    before = table_checksums(demo_db.engine, ["field_reports", "hazards"])
    h = tokens[who][1] if who in tokens else {}
    if action == "post":
        r = client.post("/field-reports", json=_report(place), headers=h)
    elif action == "verify":
        r = client.patch(f"/field-reports/{rid}", json={"state": "verified"}, headers=h)
    elif action == "promote":
        r = client.post(f"/field-reports/{rid}/hazard", headers=h)
    else:
        r = client.patch(f"/field-reports/{rid}", json={"deaths": 1}, headers=h)
    assert r.status_code == status, r.text
    assert table_checksums(demo_db.engine, ["field_reports", "hazards"]) == before


def test_planner_follows_up_any_report(client, tokens, place):
    rid = _post(client, tokens, place).json()["id"]
    r = client.patch(f"/field-reports/{rid}", json={"missing": 1}, headers=tokens["planner"][1])
    assert r.status_code == 200 and r.json()["missing"] == 1


@pytest.mark.bad_input
@pytest.mark.parametrize(("change", "field"), [
    ({"location": {"type": "Point", "coordinates": [100.0, 40.0]}}, "location"),
    ({"location": {"type": "Point", "coordinates": [0, 0]}}, "location"),
    ({"deaths": -1}, "deaths"),
    ({"kind": "rumour"}, "kind"),
    ({"incident_type": None}, "incident_type"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
], ids=["outside-county", "at-0-0", "negative-deaths", "unknown-kind", "quick-report-no-type",
        "bad-time"])
def test_bad_reports_are_422_naming_the_field(client, demo_db, tokens, place, change, field):
    before = table_checksums(demo_db.engine, ["field_reports", "field_report_photos"])
    body = _report(place)
    body.update(change)
    if body.get("incident_type") is None:
        body.pop("incident_type")
    r = client.post("/field-reports", json=body, headers=tokens["rep"][1])
    assert r.status_code == 422, r.text
    j = r.json()
    fields = [p["field"] for p in j.get("problems", [])] or [str(d["loc"][-1])
                                                             for d in j["detail"]]
    assert field in fields, j
    assert table_checksums(demo_db.engine, ["field_reports", "field_report_photos"]) == before


def test_photo_is_stored_apart_and_served(client, demo_db, tokens, place):
    png = _png()
    r = _post(client, tokens, place,
              photo="data:image/png;base64," + base64.b64encode(png).decode())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["photo_type"] == "image/png" and body["photo_bytes"] == len(png)
    got = client.get(f"/field-reports/{body['id']}/photo")
    assert got.status_code == 200 and got.content == png
    assert got.headers["content-type"] == "image/png"
    feat = client.get(f"/collections/field_reports/items/{body['id']}").json()
    assert "photo" not in feat["properties"] and "data" not in feat["properties"]
    with demo_db.engine.connect() as c:  # the audit log does not copy the image
        after = c.execute(sa.text("SELECT after::text FROM audit_log WHERE table_name = "
                                  "'field_reports' AND row_key = :k"),
                          {"k": str(body["id"])}).scalar()
    assert len(after) < 2000


@pytest.mark.bad_input
@pytest.mark.parametrize(("photo", "why"), [
    ("data:image/png;base64," + base64.b64encode(b"GIF89a" + b"\0" * 20).decode(), "not"),
    ("data:image/jpeg;base64," + base64.b64encode(_png()).decode(), "says it is"),
    ("data:image/png;base64,@@@", "base64"),
    ("http://example.org/a.jpg", "data URL"),
    ("data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff" + b"\0" * (2049 * 1024)).decode(),
     "larger than"),
], ids=["gif-is-not-an-allowed-type", "png-sent-as-jpeg", "bad-base64", "not-a-data-url",
        "too-large"])
def test_photo_size_and_type_refused(client, demo_db, tokens, place, photo, why):
    before = table_checksums(demo_db.engine, ["field_reports", "field_report_photos"])
    r = _post(client, tokens, place, photo=photo)
    assert r.status_code == 422, r.text
    (p,) = r.json()["problems"]
    assert p["field"] == "photo" and why in p["message"], p
    assert table_checksums(demo_db.engine, ["field_reports", "field_report_photos"]) == before


def test_summary_keeps_unknown_apart_from_zero(client, demo_db, tokens, place):
    with demo_db.engine.begin() as c:  # this test counts from a clean slate
        c.execute(sa.text("DELETE FROM field_reports"))
    lon, lat, town = place
    _post(client, tokens, place, deaths=0, injured=1)
    _post(client, tokens, place, injured=2)               # deaths not reported
    _post(client, tokens, place, kind="hazard", text="裂缝")
    rid = _post(client, tokens, place, deaths=5).json()["id"]
    client.patch(f"/field-reports/{rid}", json={"state": "rejected"}, headers=tokens["planner"][1])
    with demo_db.engine.begin() as c:  # a report in no township (the study area's margin)
        c.execute(sa.text("INSERT INTO field_reports (kind, reporter, incident_type, geom) "
                          "VALUES ('quick_report', 'x', '山洪', "
                          "ST_SetSRID(ST_MakePoint(:x, :y), 4326))"),
                  {"x": lon + 0.5, "y": lat + 0.5})
    s = client.get("/field-reports/summary", params={"by": "township"}).json()["townships"]
    t = next(r for r in s if r["township_code"] == town)
    assert (t["reports"], t["quick_reports"], t["hazard_reports"], t["rejected"]) == (4, 3, 1, 1)
    assert t["deaths"] == 0 and t["deaths_unknown"] == 1     # 0 reported by one, unknown by one
    assert t["injured"] == 3 and t["injured_unknown"] == 0
    assert t["missing"] is None and t["missing_unknown"] == 2  # nobody reported it: not 0
    nowhere = [r for r in s if r["township_code"] is None]
    assert len(nowhere) == 1 and nowhere[0]["reports"] == 1
    assert client.get("/field-reports/summary", params={"by": "village"}).status_code == 422


def test_hazard_report_becomes_a_hazard(client, demo_db, tokens, place):
    rid = _post(client, tokens, place, kind="hazard", text="山体裂缝").json()["id"]
    r = client.post(f"/field-reports/{rid}/hazard", headers=tokens["planner"][1])
    assert r.status_code == 201, r.text
    assert r.json()["hazard_ext_id"] == f"FR-{rid}"
    with demo_db.engine.connect() as c:
        h = c.execute(sa.text("SELECT title, state FROM hazards WHERE ext_id = :e"),
                      {"e": f"FR-{rid}"}).one()
    assert tuple(h) == ("山体裂缝", "discovered")
    again = client.post(f"/field-reports/{rid}/hazard", headers=tokens["planner"][1])
    assert again.status_code == 422 and again.json()["problems"][0]["field"] == "hazard_id"
    quick = _post(client, tokens, place).json()["id"]
    r = client.post(f"/field-reports/{quick}/hazard", headers=tokens["planner"][1])
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "kind"


def test_reports_are_an_ogc_collection_and_a_list(client, tokens, place):
    rid = _post(client, tokens, place).json()["id"]
    items = client.get("/collections/field_reports/items", params={"limit": 10000}).json()
    assert rid in [f["id"] for f in items["features"]]
    assert client.get("/field-reports", params={"state": "initial"}).status_code == 200
    assert client.get("/field-reports/999999").status_code == 404


def test_cli_reports_list_summary_verify(demo_db, tokens, place, client, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    monkeypatch.setenv("EMGIS_HOME", str(demo_db.home))
    monkeypatch.setenv("COLUMNS", "200")
    rid = _post(client, tokens, place, place="CLI村").json()["id"]
    res = CliRunner().invoke(app, ["reports", "list", "--state", "initial"])
    assert res.exit_code == 0, res.output
    assert "CLI村" in res.output
    res = CliRunner().invoke(app, ["reports", "verify", str(rid), "--note", "电话核实"])
    assert res.exit_code == 0, res.output
    assert "verified" in res.output
    res = CliRunner().invoke(app, ["reports", "verify", str(rid), "--reject"])
    assert res.exit_code == 2 and "final" in res.output
    res = CliRunner().invoke(app, ["reports", "summary"])
    assert res.exit_code == 0 and place[2] in res.output, res.output


def test_token_create_reporter_role(demo_db, monkeypatch):
    from typer.testing import CliRunner

    from emgis.api.cli import app

    monkeypatch.setenv("EMGIS_DATABASE_URL", demo_db.url)
    res = CliRunner().invoke(app, ["token", "create", "信息员张三", "--role", "reporter"])
    assert res.exit_code == 0, res.output
    with demo_db.engine.connect() as c:
        assert c.execute(sa.text("SELECT role FROM api_tokens WHERE name = '信息员张三'")
                         ).scalar() == "reporter"
