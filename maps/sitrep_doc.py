"""The situation report as a document: Word (python-docx), HTML, or PDF (Chromium prints the HTML).

One content model (`emgis.shelters.sitrep.Situation`), three renderings with the same sections:

一、基本情况 the incident · 二、影响范围与受灾人口 the area and the people in it · 三、群众生活需求
relief needs · 四、救援力量 teams proposed and resources dispatched with ETAs · 五、缺口
shortfalls · 六、处置经过 the timeline · 说明 notes (every estimate and unknown, the norms used).

The content becomes a `layers.document.Document` (`document`), written by `maps.report_doc` like
every other report; its map (the incident, its area, the first team's route of each type) is
drawn there from the stored data — no tiles, nothing fetched.
"""

from __future__ import annotations

from pathlib import Path

from emgis.layers.document import Document, Figure, MapLayer, Section, Table, fmt
from emgis.maps import report_doc
from emgis.maps.report_doc import FORMATS, MEDIA, PrinterMissing
from emgis.shelters.sitrep import Situation

__all__ = ["FORMATS", "MEDIA", "SECTIONS", "PrinterMissing", "document", "render"]

#: (heading, key) of the document's sections in order
SECTIONS = (
    ("一、基本情况", "incident"),
    ("二、影响范围与受灾人口", "affected"),
    ("三、群众生活需求", "needs"),
    ("四、救援力量", "teams"),
    ("五、物资与力量缺口", "shortfalls"),
    ("六、处置经过", "timeline"),
    ("说明", "notes"),
)


def title(sit: Situation) -> str:
    inc = sit.incident
    return f"关于{inc['title'] or ('事件 #' + str(inc['id']))}的情况报告"


def tables(sit: Situation) -> dict[str, tuple[list[str], list[list[str]], str]]:
    """Each section but the notes as (headers, rows, lead sentence)."""
    inc, a = sit.incident, sit.affected or {}
    kind = inc["kind_zh"] or f"{inc['incident_type'] or '未知'}（未识别类型）"
    reported = inc["reported_at"].strftime("%Y-%m-%d %H:%M") if inc["reported_at"] else "未知"
    where = (f"面状区域，约 {fmt(a.get('area', {}).get('area_km2'), 2)} km²" if inc["is_area"]
             else f"点位 {inc['lon']:.5f}, {inc['lat']:.5f}")
    out: dict[str, tuple[list[str], list[list[str]], str]] = {}
    out["incident"] = (["项目", "内容"], [
        ["事件", f"#{inc['id']} {inc['title'] or ''}"], ["类型", kind],
        ["响应等级", inc["level"] or "未定"], ["状态", inc["status"] or "未知"],
        ["接报时间", reported], ["位置", where]], "")
    villages = sorted(a.get("villages", []), key=lambda v: -(v.get("population") or 0))
    rows = [[v.get("name") or v.get("code") or "", v.get("township_name") or
             str(v.get("township_code") or ""), fmt(v.get("population")),
             v.get("shelter") or "无", fmt(v.get("time_min"), 1)] for v in villages[:25]]
    lead = (f"影响范围：{sit.affected_rule}。涉及 {a.get('villages_total', 0)} 个村（点），"
            f"人口约 {fmt(a.get('population_total'))} 人（{a.get('census_year') or '未知'}年"
            f"统计）。" if sit.affected else "影响范围未能计算。")
    if len(villages) > 25:
        lead += f"下表列出人口最多的 25 个，共 {len(villages)} 个。"
    out["affected"] = (["村（点）", "乡镇", "人口", "最近避难场所", "车程（分钟）"], rows, lead)
    out["needs"] = (["物资", "单位", "需求量", "依据"],
                    [[n["item"], n.get("unit") or "", fmt(n.get("quantity")),
                      n.get("source") or ""] for n in sit.needs],
                    "" if sit.needs else "尚未计算群众生活需求（emgis relief needs）。")
    rows = [[t["team_type"], fmt(t["rank"]), t["team"], fmt(t["eta_min"], 1),
             fmt(t["km"], 1)] for t in sit.teams]
    lead = f"按事件类型需要的队伍（{sit.team_source}），各类最近的可用队伍："
    if sit.assignments:
        lead += f"已派出 {len(sit.assignments)} 项，见下方“已派出”。"
    out["teams"] = (["队伍类型", "序", "队伍", "预计到达（分钟）", "里程（km）"], rows, lead)
    if sit.assignments:
        out["assignments"] = (["资源", "类型", "数量", "状态", "预计到达（分钟）"],
                              [[x["resource"], x["kind"],
                                f"{fmt(x.get('quantity'))} {x.get('unit') or ''}".strip()
                                if x.get("quantity") is not None else "—", x["state"],
                                fmt(x.get("eta_min"), 1)] for x in sit.assignments], "")
    out["shortfalls"] = (["物资/力量", "村（点）", "缺口", "单位"],
                         [[s["item"], s.get("where") or "", fmt(s.get("quantity")),
                           s.get("unit") or ""] for s in sit.shortfalls],
                         "" if sit.shortfalls else
                         "未发现缺口，或尚未计算物资调配（emgis relief allocate）。")
    out["timeline"] = (["时间", "人员", "事项"],
                       [[t["at"].strftime("%m-%d %H:%M") if hasattr(t["at"], "strftime")
                         else str(t["at"]), t.get("actor") or "", t.get("text") or ""]
                        for t in sit.timeline],
                       "" if sit.timeline else "尚无处置记录。")
    return out


def map_figure(sit: Situation) -> Figure:
    """The incident, its affected area and the first team's route of each type."""
    layers = []
    if sit.area is not None:
        layers.append(MapLayer([sit.area], "fill", "#d73027", "影响范围", alpha=0.18,
                               edge="#d73027"))
    if sit.routes:
        layers.append(MapLayer([r["line"] for r in sit.routes], "line", "#4575b4",
                               "各类首选队伍路线", size=3.6,
                               names=[r["name"] for r in sit.routes]))
    if sit.geometry is not None:
        layers.append(MapLayer([sit.geometry.representative_point()], "point", "#b2182b",
                               "事件", size=14, marker="*"))
    return Figure(title(sit), layers, caption="图1 事件位置、影响范围与救援力量路线")


def document(sit: Situation) -> Document:
    """The report's content as a `layers.document.Document` (the renderer's input)."""
    parts = tables(sit)
    sections = []
    for heading, key in SECTIONS:
        if key == "notes":
            continue
        headers, rows, lead = parts[key]
        ts = [Table(headers, rows)]
        if key == "teams" and "assignments" in parts:
            a_headers, a_rows, a_lead = parts["assignments"]
            ts.append(Table(a_headers, a_rows, title="已派出", lead=a_lead))
        sections.append(Section(heading, lead, ts,
                                map_figure(sit) if key == "incident" else None))
    return Document(title(sit), f"生成时间 {sit.generated_at:%Y-%m-%d %H:%M} UTC · 事件 "
                                f"#{sit.incident['id']}", sections, sit.generated_at,
                    notes=list(sit.notes), notes_heading=SECTIONS[-1][0])


def render(sit: Situation, fmt: str, chromium: str | Path | None = None) -> bytes:
    """The report as ``docx``, ``html`` or ``pdf`` bytes (`maps.report_doc.render`)."""
    return report_doc.render(document(sit), fmt, chromium)
