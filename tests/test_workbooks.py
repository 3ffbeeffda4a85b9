"""The analysis workbooks a bureau attaches (`emgis coverage | gaps | site --out x.xlsx`):
Chinese headers by default and English with --lang en, names beside codes, minutes and
percentages, a frozen header and fitted widths, a notes sheet with the inputs, the norms read
(with their sources) and the estimates; an unknown is never written as 0."""

from __future__ import annotations

import io

import numpy as np
import openpyxl
import pandas as pd
import pytest
from typer.testing import CliRunner

from emgis.api.cli import app
from emgis.layers.norms import default_norms
from emgis.layers.workbook import Column, Notes, Sheet, display_width, write_workbook
from emgis.shelters.service import compute_coverage
from emgis.shelters.store import load_coverage_inputs


def _run(*args):
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return res


def _header(ws) -> list:
    return [c.value for c in ws[1]]


def _column(ws, header: str) -> list:
    j = _header(ws).index(header) + 1
    return [ws.cell(row=i, column=j) for i in range(2, ws.max_row + 1)]


def _notes(ws) -> pd.DataFrame:
    rows = list(ws.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


# --- the writer on its own --------------------------------------------------------------------

def test_writer_formats_converts_and_never_writes_unknown_as_zero():
    cols = {"code": Column("乡镇代码", "township code", "code", names="township_name"),
            "township_name": Column("乡镇", "township", "name"),
            "travel_s": Column("用时（分钟）", "time (min)", "minutes", from_seconds=True),
            "share": Column("比例", "share", "percent"),
            "people": Column("人数", "people", "count"),
            "capacity": Column("容量", "capacity", "count", unknown=True),
            "covered": Column("覆盖", "covered", "flag")}
    frame = pd.DataFrame({"code": ["339901001", "339901002"], "travel_s": [90.0, np.nan],
                          "share": [0.25, 1.0], "people": [1200.0, 3.0],
                          "capacity": [np.nan, 50.0], "covered": [True, False],
                          "extra": ["=1+1", None]})
    notes = Notes().run("emgis test").add("inputs", "人口普查年份", "census year", 2020)
    notes.norms(default_norms(), ["fire.response_min"])
    for lang in ("zh", "en"):
        data = write_workbook(None, [Sheet("表", "table", frame)], cols, lang=lang, notes=notes,
                              names={"township_name": {"339901001": "城关镇"}})
        wb = openpyxl.load_workbook(io.BytesIO(data))
        ws = wb.worksheets[0]
        assert ws.title == ("表" if lang == "zh" else "table")
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:H3"
        head = _header(ws)
        # the name column is put right beside its code
        assert head[:2] == (["乡镇代码", "乡镇"] if lang == "zh" else ["township code", "township"])
        assert [ws.cell(2, 2).value, ws.cell(3, 2).value] == ["城关镇", "—"]
        t = _column(ws, head[2])
        assert t[0].value == pytest.approx(1.5) and t[0].number_format == "0.0"
        assert t[1].value is None  # no route: empty, not 0
        share = _column(ws, head[3])
        assert [c.value for c in share] == [0.25, 1.0] and share[0].number_format == "0.0%"
        assert _column(ws, head[4])[0].number_format == "#,##0"
        cap = [c.value for c in _column(ws, head[5])]
        assert cap == ["未知" if lang == "zh" else "unknown", 50]
        assert [c.value for c in _column(ws, head[6])] == (["是", "否"] if lang == "zh"
                                                            else ["yes", "no"])
        assert [c.value for c in _column(ws, "extra")] == ["'=1+1", "—"]  # formula-safe
        assert ws.column_dimensions["B"].width >= display_width("城关镇") + 2
        assert wb.sheetnames[-1] == ("说明" if lang == "zh" else "Notes")
        n = _notes(wb.worksheets[-1])
        norm = n[n.iloc[:, 1] == "fire.response_min"].iloc[0]
        assert norm.iloc[2] == 5 and "GB 51080" in norm.iloc[4]
    assert display_width("村a") == 3


# --- through the command line on the demo county ---------------------------------------------

@pytest.mark.postgis
def test_coverage_workbook_chinese_by_default_english_on_request(demo_env, tmp_path):
    zh, en = tmp_path / "zh.xlsx", tmp_path / "en.xlsx"
    _run("coverage", "--out", str(zh))
    _run("coverage", "--out", str(en), "--lang", "en")
    _run("coverage", "--out", str(tmp_path / "raw.csv"))
    raw = pd.read_csv(tmp_path / "raw.csv", dtype={"code": str})  # CSV keeps machine keys
    wz, we = openpyxl.load_workbook(zh), openpyxl.load_workbook(en)
    assert wz.sheetnames == ["村庄", "避难场所", "定位", "说明"]
    assert we.sheetnames == ["villages", "shelters", "placement", "Notes"]
    vz, ve = wz["村庄"], we["villages"]
    assert _header(vz)[:4] == ["村代码", "村名", "乡镇代码", "乡镇"]
    assert _header(ve)[:4] == ["village code", "village", "township code", "township"]
    for ws in (*wz.worksheets, *we.worksheets):
        assert ws.freeze_panes == "A2"
        assert ws.cell(1, 1).font.bold
        assert all(ws.column_dimensions[c].width for c in "AB")
    # Chinese headers and the CJK width: the township-name column fits its longest name
    names = [c.value for c in _column(vz, "乡镇")]
    assert all(isinstance(n, str) and n and n != "—" for n in names)
    assert vz.column_dimensions["D"].width >= max(display_width(n) for n in names)
    # minutes: the analysis' seconds / 60, with a minutes format
    db, _ = demo_env
    norms = default_norms()
    inputs = load_coverage_inputs(db.engine, home=tmp_path / "home", norms=norms)
    seconds = compute_coverage(inputs, "shelters", norms)["time_s"].to_numpy()
    minutes = _column(vz, "最近设施用时（分钟）")
    assert minutes[0].number_format == "0.0"
    assert [c.value for c in minutes] == pytest.approx(
        [s / 60 if np.isfinite(s) else None for s in seconds], abs=0.01)
    assert [c.value for c in _column(ve, "time to nearest (min)")] == pytest.approx(
        [c.value for c in minutes])
    codes = [c.value for c in _column(vz, "村代码")]
    assert codes == raw["code"].tolist()
    # covered is 是/否, never True/1
    assert {c.value for c in _column(vz, "标准内覆盖")} <= {"是", "否"}
    # shelters: utilisation is a fraction shown as a percentage; the standard in minutes
    util = [c for c in _column(wz["避难场所"], "利用率") if isinstance(c.value, int | float)]
    assert util and all(c.number_format == "0.0%" for c in util)
    assert all(0 <= c.value <= 5 for c in util)
    std = {c.value for c in _column(wz["避难场所"], "标准时间（分钟）")}
    assert std <= {norms.number(f"shelter.service_time_min.{k}")
                   for k in ("emergency", "short", "medium", "long")}
    # the notes: command, inputs, the norms read with their sources, the estimate statement
    nz, ne = _notes(wz["说明"]), _notes(we["Notes"])
    items = dict(zip(nz["项目"], nz["值"], strict=False))
    assert items["命令"].startswith("emgis coverage --out")
    assert items["道路网络"] == "default" and "道路网络生成时间" in items
    assert items["人口普查年份"] == 2020 or isinstance(items["人口普查年份"], int)
    assert items["村（需求点）数"] == len(raw)
    norms_rows = nz[nz["部分"] == "规范"]
    assert "shelter.service_time_min.emergency" in set(norms_rows["项目"])
    row = norms_rows[norms_rows["项目"] == "shelter.service_time_min.emergency"].iloc[0]
    assert row["值"] == norms.number("shelter.service_time_min.emergency")
    assert row["单位"] == "min" and row["标准"] and row["确定性"].endswith("(S)")
    assert "fire.response_min" not in set(norms_rows["项目"])  # only the norms read
    # why `emgis site` counts other people within the standard (issue #18 item 7)
    assert "自身等级" in str(items["覆盖与选址的口径"])
    assert "own duration_class" in str(dict(zip(ne.iloc[:, 1], ne.iloc[:, 2], strict=False))
                                       ["coverage vs siting"])
    est = nz[nz["部分"] == "估算"]
    assert est["值"].astype(str).str.contains("估算定位").any()
    assert ne[ne["section"] == "Estimates"]["value"].astype(str).str.contains(
        "approximately").any()
    assert set(ne[ne["section"] == "Norms"]["item"]) == set(norms_rows["项目"])


@pytest.mark.postgis
def test_gaps_workbook_names_townships_and_shows_percentages(demo_env, tmp_path):
    out = tmp_path / "gaps.xlsx"
    res = _run("gaps", "--out", str(out))
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["村庄", "乡镇", "定位", "危险区村庄", "说明"]
    t = wb["乡镇"]
    assert _header(t)[:2] == ["乡镇代码", "乡镇"]
    codes = [c.value for c in _column(t, "乡镇代码")]
    names = [c.value for c in _column(t, "乡镇")]
    assert all(isinstance(c, str) and len(c) == 9 for c in codes)
    assert all(n and n != "—" for n in names) and names[0] in res.output
    share = _column(t, "缺口比例")
    assert all(c.number_format == "0.0%" and 0 <= c.value <= 1 for c in share)
    gap = [c.value for c in _column(t, "缺口（人）")]
    pop = [c.value for c in _column(t, "人口")]
    assert [c.value for c in share] == pytest.approx(
        [g / p if p else 0 for g, p in zip(gap, pop, strict=True)])
    h = wb["危险区村庄"]
    assert "最近避难场所用时（分钟）" in _header(h) and "facility_id" not in _header(h)
    en = tmp_path / "gaps_en.xlsx"
    _run("gaps", "--out", str(en), "--lang", "en")
    sheets = pd.read_excel(en, sheet_name=None, dtype={"village code": str,
                                                       "township code": str})
    assert {"villages", "townships", "placement", "hazard_villages", "Notes"} <= set(sheets)
    v, te = sheets["villages"], sheets["townships"]
    assert v["gap"].sum() == pytest.approx(te["gap"].sum())
    # the hazard sheet's minutes are the check's seconds / 60
    hz = sheets["hazard_villages"]
    if len(hz):
        assert (hz["time to nearest shelter (min)"].dropna() < 24 * 60).all()


@pytest.mark.postgis
def test_site_workbook_and_unknown_capacity_is_not_zero(demo_env, tmp_path):
    import sqlalchemy as sa

    db, _ = demo_env
    out = tmp_path / "site.xlsx"
    _run("site", "--model", "mclp", "--add", "3", "--candidates", "grid:1500", "--out", str(out),
         "--time-limit", "30")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "新选址" and wb.sheetnames[-1] == "说明"
    assert {"选址", "新增覆盖（人）", "经度", "纬度"} <= set(_header(wb["新选址"]))
    area = [c.value for c in _column(wb["新选址"], "面积（平方米）")]
    assert 0 not in area and None not in area  # grid cells: area unknown, not 0
    n = _notes(wb["说明"])
    assert {"模型", "候选点（排除）"} <= set(n["项目"])
    assert "shelter.service_time_min.emergency" in set(n[n["部分"] == "规范"]["项目"])

    with db.engine.begin() as c:
        c.execute(sa.text("UPDATE shelters SET capacity = NULL, effective_area_m2 = NULL"))
    cov = tmp_path / "cov.xlsx"
    _run("coverage", "--out", str(cov))
    ws = openpyxl.load_workbook(cov)["避难场所"]
    for head in ("可用容量（人）", "利用率", "就近分配超员（人）"):
        assert {c.value for c in _column(ws, head)} == {"未知"}, head
    assert {c.value for c in _column(ws, "容量已知")} == {"否"}


@pytest.mark.postgis
def test_a_wrong_language_is_refused(demo_env, tmp_path):
    res = CliRunner().invoke(app, ["coverage", "--out", str(tmp_path / "x.xlsx"), "--lang", "fr"])
    assert res.exit_code == 2 and "fr" in res.output
    assert not (tmp_path / "x.xlsx").exists()
