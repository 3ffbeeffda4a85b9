"""The situation report (#16, Build 6): a real document a bureau can send upward.

Through both doors: ``GET /incidents/{id}/report`` (Word) opened with python-docx, every section
filled; ``emgis sitrep ID --out x.pdf`` opened with a PDF reader (pypdfium2) and its first page
saved as an image in tests/artifacts/sitrep_page1.png.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import _token, missing
from typer.testing import CliRunner

from emgis.api.cli import app
from emgis.maps.sitrep_doc import SECTIONS

pytestmark = pytest.mark.postgis
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _village(engine):
    with engine.connect() as c:
        return c.execute(sa.text(
            "SELECT u.name, ST_AsGeoJSON(ST_Buffer(u.geom, 0.002))::json FROM admin_units u "
            "JOIN population p ON p.code = u.code WHERE u.level = 'village' "
            "AND u.geom IS NOT NULL AND p.population > 0 ORDER BY u.code OFFSET 7 LIMIT 1")).one()


def _incident(client, engine, geometry, kind="山洪") -> int:
    _, auth = _token(engine, "commander")
    res = client.post("/incidents", headers=auth, json={
        "title": "河道漫堤", "incident_type": kind, "level": "III", "geometry": geometry})
    assert res.status_code in (200, 201), res.text
    return res.json()["id"]


def test_report_as_word_has_every_section_filled(env, client):
    from docx import Document

    name, area = _village(env.engine)
    iid = _incident(client, env.engine, area)
    # a water-rescue team sent: it is listed as dispatched with its ETA, and the timeline says so
    with env.engine.connect() as c:
        team = c.execute(sa.text("SELECT ext_id, name FROM team_bases WHERE status = 'available' "
                                 "AND team_type = 'water_rescue' ORDER BY id LIMIT 1")).one()
    _, auth = _token(env.engine, "commander")
    sent = client.post(f"/incidents/{iid}/assignments", headers=auth,
                       json={"kind": "team", "resource": team[0], "note": "沿县道进入"})
    assert sent.status_code in (200, 201), sent.text
    res = client.get(f"/incidents/{iid}/report")
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith(DOCX)
    doc = Document(io.BytesIO(res.content))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "关于河道漫堤的情况报告" in text
    for heading, _ in SECTIONS:
        assert heading in text
    assert len(doc.inline_shapes) == 1  # the map
    cells = {t.rows[0].cells[0].text: t for t in doc.tables}
    # the affected village is listed with its people; the flood's team types with ETAs
    villages = cells["村（点）"]
    assert name in [r.cells[0].text for r in villages.rows[1:]]
    teams = cells["队伍类型"]
    types = {r.cells[0].text for r in teams.rows[1:]}
    assert {"水域救援队伍", "防汛抗旱队伍"} <= types
    assert any(r.cells[3].text not in ("", "未知") for r in teams.rows[1:])
    assert "涉及" in text and "人口约" in text
    sent_rows = cells["资源"].rows[1:]
    assert [r.cells[3].text for r in sent_rows] == ["已派出"]
    assert team[1] in sent_rows[0].cells[0].text and sent_rows[0].cells[4].text != "未知"
    # relief needs by item with their norms, and what the stock in place cannot cover
    needs = cells["物资"].rows[1:]
    assert {"帐篷", "棉被", "饮用水"} <= {r.cells[0].text for r in needs}
    assert all(r.cells[3].text for r in needs)  # each need names its norm's source
    timeline = cells["时间"].rows[1:]
    assert timeline and any(team[1] in r.cells[2].text for r in timeline)


def test_report_of_a_point_says_its_radius_is_an_estimate(env, client):
    import shapely

    _, area = _village(env.engine)
    p = shapely.geometry.shape(area).centroid
    iid = _incident(client, env.engine, {"type": "Point", "coordinates": [p.x, p.y]}, "火灾")
    res = client.get(f"/incidents/{iid}/report", params={"format": "html"})
    assert res.status_code == 200
    assert "relief.point_radius_m" in res.text and "an estimate" in res.text
    assert "消防救援站" in res.text
    assert "http://" not in res.text.replace('lang="zh-CN"', "")  # nothing fetched


def test_report_as_pdf_from_the_command_line(env, client, tmp_path):
    import pypdfium2 as pdfium

    if not shutil.which("chromium"):
        missing("chromium is not installed (scripts/bootstrap.sh --browser)")
    _, area = _village(env.engine)
    iid = _incident(client, env.engine, area)
    out = tmp_path / "report.pdf"
    res = CliRunner().invoke(app, ["sitrep", str(iid), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "people affected" in res.output
    pdf = pdfium.PdfDocument(str(out))
    assert len(pdf) >= 1
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    assert "情况报告" in text and "基本情况" in text
    ARTIFACTS.mkdir(exist_ok=True)
    img = page.render(scale=1.5).to_pil()
    img.save(ARTIFACTS / "sitrep_page1.png")
    assert img.size[0] > 600 and img.getextrema() != ((255, 255), (255, 255), (255, 255))


@pytest.mark.bad_input
@pytest.mark.parametrize("args, says", [
    (["sitrep", "99999999", "--out", "x.docx"], "no incident 99999999"),
    (["sitrep", "1", "--out", "x.odt"], "write .docx, .html or .pdf"),
], ids=["unknown-incident", "unknown-format"])
def test_report_refuses_bad_requests_on_the_command_line(env, args, says, tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert says in " ".join(res.output.split())
    assert not (tmp_path / "x.docx").exists()


@pytest.mark.bad_input
def test_report_refuses_bad_requests_over_http(env, client):
    assert client.get("/incidents/99999999/report").status_code == 404
    assert client.get("/incidents/1/report", params={"format": "odt"}).status_code == 422
