"""The plan's documents (#18, Build 6): `emgis report coverage | risk | readiness` and
``GET /reports/…`` on the demo county.

Each Word document is opened with python-docx and checked like a reader would: the title, the
numbered sections, a map, the norms cited with their sources, and figures that are the analysis'
own answer, computed here independently (covered people per township from `compute_coverage`,
risk points per township and level and hazards per state from SQL, compliance from `assess`).
The PDF is printed by Chromium and opened with pypdfium2 (its first page saved in
tests/artifacts/readiness_report_page1.png); without Chromium it is skipped locally and fails
under CI=true.
"""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import missing
from typer.testing import CliRunner

from emgis.api.cli import app

pytestmark = pytest.mark.postgis
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _word(data: bytes):
    from docx import Document

    return Document(io.BytesIO(data))


def _text(doc) -> str:
    return "\n".join(p.text for p in doc.paragraphs)


def _tables(doc, first: str) -> list[dict[str, list[str]]]:
    """The tables whose first header is ``first``: each as ``{first column: row}``."""
    out = []
    for t in doc.tables:
        if t.rows[0].cells[0].text == first:
            head = [c.text for c in t.rows[0].cells]
            out.append({"": head} | {r.cells[0].text: [c.text for c in r.cells]
                                     for r in t.rows[1:]})
    return out


def _norms_cited(doc) -> dict[str, list[str]]:
    (norms,) = _tables(doc, "规范项")
    return norms


# --- coverage ------------------------------------------------------------------------------------

def _covered_by_township(engine, home, layer: str) -> dict[str, float]:
    """People within the standard per township name, from `compute_coverage` directly."""
    from emgis.layers.norms import norms_in_force
    from emgis.shelters.service import compute_coverage
    from emgis.shelters.store import load_coverage_inputs

    norms = norms_in_force(engine)
    inputs = load_coverage_inputs(engine, home=home, norms=norms)
    c = compute_coverage(inputs, layer, norms)
    out: dict[str, float] = {}
    for code, pop, ok in zip(inputs.demand["code"], inputs.demand["population"], c["covered"],
                             strict=True):
        name = inputs.township_names[str(code)[:9]]
        out[name] = out.get(name, 0.0) + (float(pop) if ok else 0.0)
    return out


def test_coverage_report_from_the_command_line(env, tmp_path):
    out = tmp_path / "coverage"  # no extension: Word
    res = CliRunner().invoke(app, ["report", "coverage", "--layer", "shelters", "--layer", "fire",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    doc = _word((tmp_path / "coverage.docx").read_bytes())
    text = _text(doc)
    assert "应急设施覆盖分析报告（避难场所、消防站）" in text
    for heading in ("一、总体情况", "二、避难场所覆盖情况", "三、消防站覆盖情况",
                    "四、人口定位情况", "规范依据", "说明"):
        assert heading in text, heading
    assert len(doc.inline_shapes) == 2  # a map per kind
    # the township tables carry compute_coverage's people within the standard, by name
    shelters_t, fire_t = [t for t in _tables(doc, "乡镇") if "时限内人口" in t[""]]
    col = shelters_t[""].index("时限内人口")
    for layer, table in (("shelters", shelters_t), ("fire", fire_t)):
        want = _covered_by_township(env.engine, env.home, layer)
        got = {k: v[col] for k, v in table.items() if k}
        assert got == {k: f"{v:,.0f}" for k, v in want.items()}, layer
        assert all(v[4].endswith("%") for k, v in table.items() if k)  # a share, not 0.95
    (summary,) = _tables(doc, "设施类型")
    total = sum(_covered_by_township(env.engine, env.home, "fire").values())
    assert summary["消防站"][3] == f"{total:,.0f}" and summary["消防站"][2] == "5 分钟"
    # the worst-served villages: names, minutes
    worst = [t for t in _tables(doc, "村（点）") if "车程（分钟）" in t[""]]
    assert len(worst) == 2 and all(not k.isdigit() for k in worst[1] if k)
    # the norms cited, with the standard each comes from and how certain it is
    norms = _norms_cited(doc)
    assert norms["fire.response_min"][3] == "建标152-2017 / GB 51080-2015"
    assert norms["shelter.service_time_min.emergency"][5] == "二手来源"
    # every estimate: how the people were placed
    (placed,) = _tables(doc, "乡镇")[-1:]
    assert placed[""][:3] == ["乡镇", "定位", "位置来源"]
    assert "精确定位" in text and "未知：数据缺失，不按 0 计" in text
    assert "wrote" in res.output and "norms cited" in res.output


def test_coverage_report_over_http_as_html(env, client):
    res = client.get("/reports/coverage", params={"format": "html", "layer": "depots"})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/html")
    page = res.text
    assert "物资储备库覆盖情况" in page and page.count("<img") == 1
    assert "规范依据" in page and "depot.delivery_h.county" in page
    assert "http://" not in page.replace('lang="zh-CN"', "")  # nothing fetched
    word = client.get("/reports/coverage")
    assert word.status_code == 200 and word.headers["content-type"].startswith(DOCX)
    assert "attachment" in word.headers["content-disposition"]
    assert "避难场所覆盖情况" in _text(_word(word.content))


# --- risk ----------------------------------------------------------------------------------------

def test_risk_report_over_http(env, client):
    res = client.get("/reports/risk", params={"format": "docx"})
    assert res.status_code == 200, res.text
    doc = _word(res.content)
    text = _text(doc)
    assert "安全风险评估报告" in text
    for heading in ("一、总体情况", "二、分乡镇风险点", "三、四色风险分布", "四、重点风险点",
                    "五、隐患排查治理", "规范依据", "说明"):
        assert heading in text, heading
    assert len(doc.inline_shapes) == 1
    with env.engine.connect() as c:
        by_level = dict(c.execute(sa.text(
            "SELECT level, count(*) FROM risk_points GROUP BY level")).all())
        by_town = c.execute(sa.text(
            "SELECT t.name, p.level, count(*) FROM risk_points p JOIN admin_units t "
            "ON t.level = 'township' AND left(t.code, 9) = left(p.unit_code, 9) "
            "GROUP BY 1, 2")).all()
        by_state = dict(c.execute(sa.text("SELECT state, count(*) FROM hazards GROUP BY 1")).all())
    (levels,) = _tables(doc, "风险等级")
    assert {k: v[2] for k, v in levels.items() if k not in ("", "合计")} == {
        "重大风险": str(by_level.get("red", 0)), "较大风险": str(by_level.get("orange", 0)),
        "一般风险": str(by_level.get("yellow", 0)), "低风险": str(by_level.get("blue", 0))}
    towns = next(t for t in _tables(doc, "乡镇") if t[""][1:5] == ["重大", "较大", "一般", "低"])
    col = {"red": 1, "orange": 2, "yellow": 3, "blue": 4}
    for name, level, n in by_town:
        assert towns[name][col[level]] == str(n), (name, level)
    assert towns["合计"][6] == str(sum(by_level.values()))
    (states,) = _tables(doc, "状态")
    assert {k: v[1] for k, v in states.items() if k not in ("", "合计")} == {
        "发现": str(by_state.get("discovered", 0)), "确认": str(by_state.get("confirmed", 0)),
        "管控": str(by_state.get("under_control", 0)), "整改": str(by_state.get("rectifying", 0)),
        "销号": str(by_state.get("closed", 0))}
    norms = _norms_cited(doc)
    assert {"risk.lec.red_above", "risk.matrix.red_min", "risk.colour.blue"} <= set(norms)
    assert norms["risk.lec.red_above"][3].startswith("LEC")


# --- readiness -----------------------------------------------------------------------------------

def test_readiness_report_over_http(env, client):
    from emgis.layers.norms import norms_in_force
    from emgis.shelters.readiness import assess
    from emgis.shelters.readiness_store import read_inputs

    res = client.get("/reports/readiness")
    assert res.status_code == 200, res.text
    doc = _word(res.content)
    text = _text(doc)
    assert "应急队伍建设达标情况报告" in text
    for heading in ("一、总体情况", "二、分乡镇达标情况", "三、达标情况示意图",
                    "四、未达标与未知事项", "五、村级应急救援队伍", "规范依据", "说明"):
        assert heading in text, heading
    assert len(doc.inline_shapes) == 1
    r = assess(read_inputs(env.engine), norms_in_force(env.engine))
    towns = next(t for t in _tables(doc, "乡镇") if t[""][-1] == "结论")
    assert towns[""][1].startswith("综合性救援队伍（人，≥30")
    for t in r.townships.to_dict("records"):
        row = towns[t["name"]]
        assert row[-1] == t["compliance_zh"].split(" ")[0]
        assert row[1].startswith(f"{t['township_team_personnel']}/30")
    cells = [c for k, row in towns.items() if k for c in row]
    assert any("（未知）" in c for c in cells)  # a team without an equipment list
    norms = _norms_cited(doc)
    assert norms["team.min_personnel.township"][1:4] == ["30", "persons", "county plans (seed 002)"]
    assert norms["fire.firefighters_per_1000"][1] == "0.4"


def test_readiness_report_as_pdf_from_the_command_line(env, tmp_path):
    import pypdfium2 as pdfium

    if not shutil.which("chromium"):
        missing("chromium is not installed (scripts/bootstrap.sh --browser)")
    out = tmp_path / "readiness.pdf"
    res = CliRunner().invoke(app, ["report", "readiness", "--out", str(out)])
    assert res.exit_code == 0, res.output
    pdf = pdfium.PdfDocument(str(out))
    assert len(pdf) >= 2
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    assert "应急队伍建设达标情况报告" in text and "总体情况" in text
    ARTIFACTS.mkdir(exist_ok=True)
    img = page.render(scale=1.5).to_pil()
    img.save(ARTIFACTS / "readiness_report_page1.png")
    assert img.getextrema() != ((255, 255), (255, 255), (255, 255))


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.bad_input
@pytest.mark.parametrize("args, says", [
    (["report", "coverage", "--out", "x.odt"], "write .docx, .html or .pdf"),
    (["report", "coverage", "--layer", "hospitals", "--out", "x.docx"], "unknown facility kind"),
    (["report", "coverage", "--network", "nosuch", "--out", "x.docx"],
     "no road network named 'nosuch'"),
    (["report", "risk", "--as-of", "tomorrow", "--out", "x.docx"], "is not a date"),
], ids=["unknown-format", "unknown-layer", "no-network", "bad-date"])
def test_report_refuses_bad_requests_on_the_command_line(env, args, says, tmp_path,
                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2, res.output
    assert says in " ".join(res.output.split())
    assert not list(tmp_path.iterdir())


@pytest.mark.bad_input
def test_report_refuses_bad_requests_over_http(env, client, monkeypatch):
    assert client.get("/reports/risk", params={"format": "odt"}).status_code == 422
    assert client.get("/reports/coverage", params={"layer": "hospitals"}).status_code == 422
    res = client.get("/reports/coverage", params={"network": "nosuch"})
    assert res.status_code == 409 and "emgis load roads" in res.json()["detail"]
    # no Chromium to print with: a 409 saying what to do, at once; the CLI exits 2 before work
    monkeypatch.setenv("EMGIS_CHROMIUM", "/nonexistent/chromium")
    res = client.get("/reports/readiness", params={"format": "pdf"})
    assert res.status_code == 409 and "Chromium" in res.json()["detail"]
    cli = CliRunner().invoke(app, ["report", "risk", "--out", "/nonexistent/x.pdf"])
    assert cli.exit_code == 2 and "EMGIS_CHROMIUM" in " ".join(cli.output.split())


@pytest.mark.bad_input
def test_reports_of_an_empty_database(db, tmp_path):
    """No road network at all: the coverage report is a 409 naming the command that loads one.
    Nothing stored for the others: documents that say so, not errors and not zeros passed off as
    findings."""
    from emgis.api.http.app import create_app
    from emgis.layers.settings import ApiSettings, DatabaseSettings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    api = create_app(ApiSettings(), engine=db.engine, db_settings=DatabaseSettings(home=tmp_path))
    with TestClient(api) as c:
        res = c.get("/reports/coverage")
        risk = c.get("/reports/risk", params={"format": "html"})
        ready = c.get("/reports/readiness", params={"format": "html"})
    assert res.status_code == 409, res.text
    assert "no road network" in res.json()["detail"]
    assert "emgis load roads" in res.json()["detail"]
    assert risk.status_code == 200, risk.text
    assert "全县登记风险点 0 个" in risk.text and "尚未登记隐患" in risk.text
    assert ready.status_code == 200, ready.text
    assert "全县 0 个乡镇" in ready.text and "未录入乡镇界线" in ready.text
