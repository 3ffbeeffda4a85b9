"""The situation report as a document: Word (python-docx), HTML, or PDF (Chromium prints the HTML).

One content model (`emgis.shelters.sitrep.Situation`), three renderings with the same sections:

一、基本情况 the incident · 二、影响范围与受灾人口 the area and the people in it · 三、群众生活需求
relief needs · 四、救援力量 teams proposed and resources dispatched with ETAs · 五、缺口
shortfalls · 六、处置经过 the timeline · 说明 notes (every estimate and unknown, the norms used).

The map image is drawn with matplotlib from the stored data (the incident, its area, the affected
villages, the first team's route of each type) — no tiles, nothing fetched.
"""

from __future__ import annotations

import base64
import html as h
import io
import math
import tempfile
from pathlib import Path
from typing import Any

from emgis.maps.chromium import PrinterMissing, capture
from emgis.shelters.sitrep import Situation

__all__ = ["FORMATS", "MEDIA", "PrinterMissing", "render"]

CJK_FONTS = ["Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
DOC_FONT = "宋体"

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


def _fmt(v: Any, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "未知"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def title(sit: Situation) -> str:
    inc = sit.incident
    return f"关于{inc['title'] or ('事件 #' + str(inc['id']))}的情况报告"


def tables(sit: Situation) -> dict[str, tuple[list[str], list[list[str]], str]]:
    """Each section as (headers, rows, lead sentence); the one source of every rendering."""
    inc, a = sit.incident, sit.affected or {}
    kind = inc["kind_zh"] or f"{inc['incident_type'] or '未知'}（未识别类型）"
    reported = inc["reported_at"].strftime("%Y-%m-%d %H:%M") if inc["reported_at"] else "未知"
    where = (f"面状区域，约 {_fmt(a.get('area', {}).get('area_km2'), 2)} km²" if inc["is_area"]
             else f"点位 {inc['lon']:.5f}, {inc['lat']:.5f}")
    out: dict[str, tuple[list[str], list[list[str]], str]] = {}
    out["incident"] = (["项目", "内容"], [
        ["事件", f"#{inc['id']} {inc['title'] or ''}"], ["类型", kind],
        ["响应等级", inc["level"] or "未定"], ["状态", inc["status"] or "未知"],
        ["接报时间", reported], ["位置", where]], "")
    villages = sorted(a.get("villages", []), key=lambda v: -(v.get("population") or 0))
    rows = [[v.get("name") or v.get("code") or "", v.get("township_name") or
             str(v.get("township_code") or ""), _fmt(v.get("population")),
             v.get("shelter") or "无", _fmt(v.get("time_min"), 1)] for v in villages[:25]]
    lead = (f"影响范围：{sit.affected_rule}。涉及 {a.get('villages_total', 0)} 个村（点），"
            f"人口约 {_fmt(a.get('population_total'))} 人（{a.get('census_year') or '未知'}年"
            f"统计）。" if sit.affected else "影响范围未能计算。")
    if len(villages) > 25:
        lead += f"下表列出人口最多的 25 个，共 {len(villages)} 个。"
    out["affected"] = (["村（点）", "乡镇", "人口", "最近避难场所", "车程（分钟）"], rows, lead)
    out["needs"] = (["物资", "单位", "需求量", "依据"],
                    [[n["item"], n.get("unit") or "", _fmt(n.get("quantity")),
                      n.get("source") or ""] for n in sit.needs],
                    "" if sit.needs else "尚未计算群众生活需求（emgis relief needs）。")
    rows = [[t["team_type"], _fmt(t["rank"]), t["team"], _fmt(t["eta_min"], 1),
             _fmt(t["km"], 1)] for t in sit.teams]
    lead = f"按事件类型需要的队伍（{sit.team_source}），各类最近的可用队伍："
    if sit.assignments:
        lead += f"已派出 {len(sit.assignments)} 项，见下方“已派出”。"
    out["teams"] = (["队伍类型", "序", "队伍", "预计到达（分钟）", "里程（km）"], rows, lead)
    if sit.assignments:
        out["assignments"] = (["资源", "类型", "数量", "状态", "预计到达（分钟）"],
                              [[x["resource"], x["kind"],
                                f"{_fmt(x.get('quantity'))} {x.get('unit') or ''}".strip()
                                if x.get("quantity") is not None else "—", x["state"],
                                _fmt(x.get("eta_min"), 1)] for x in sit.assignments], "")
    out["shortfalls"] = (["物资/力量", "村（点）", "缺口", "单位"],
                         [[s["item"], s.get("where") or "", _fmt(s.get("quantity")),
                           s.get("unit") or ""] for s in sit.shortfalls],
                         "" if sit.shortfalls else
                         "未发现缺口，或尚未计算物资调配（emgis relief allocate）。")
    out["timeline"] = (["时间", "人员", "事项"],
                       [[t["at"].strftime("%m-%d %H:%M") if hasattr(t["at"], "strftime")
                         else str(t["at"]), t.get("actor") or "", t.get("text") or ""]
                        for t in sit.timeline],
                       "" if sit.timeline else "尚无处置记录。")
    out["notes"] = (["说明"], [[n] for n in sit.notes] + [[
        f"本报告由 emgis 于 {sit.generated_at:%Y-%m-%d %H:%M} UTC 生成；估算值均已注明。"]], "")
    return out


def map_png(sit: Situation, *, width_in: float = 6.3, dpi: int = 150) -> bytes:
    """The incident, its affected area, villages and the teams' routes, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely

    plt.rcParams["font.sans-serif"] = CJK_FONTS
    plt.rcParams["axes.unicode_minus"] = False
    fig, ax = plt.subplots(figsize=(width_in, width_in * 0.7), dpi=dpi)
    try:
        geoms = [g for g in (sit.area, sit.geometry) if g is not None]
        if sit.area is not None:
            for poly in getattr(sit.area, "geoms", [sit.area]):
                if poly.geom_type == "Polygon":
                    x, y = poly.exterior.xy
                    ax.fill(x, y, color="#d73027", alpha=0.18, lw=1.2, ec="#d73027",
                            label=None)
        for r in sit.routes:
            x, y = r["line"].xy
            ax.plot(x, y, color="#4575b4", lw=1.8)
            ax.annotate(r["name"], (x[0], y[0]), fontsize=7, color="#4575b4")
            geoms.append(r["line"])
        g = sit.geometry
        if g is not None:
            p = g.representative_point()
            ax.plot(p.x, p.y, marker="*", ms=14, color="#b2182b", mec="k", zorder=4)
        minx, miny, maxx, maxy = shapely.GeometryCollection(geoms).bounds
        pad = max(maxx - minx, maxy - miny, 0.01) * 0.12
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
        ax.set_aspect(1 / max(0.2, math.cos(math.radians((miny + maxy) / 2))))
        ax.set_title(title(sit), fontsize=10)
        ax.tick_params(labelsize=6)
        ax.text(0.99, 0.01, "★ 事件  ■ 影响范围  — 各类首选队伍路线", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=7,
                bbox={"fc": "white", "alpha": 0.8, "lw": 0})
        ax.annotate("N ↑", xy=(0.02, 0.92), xycoords="axes fraction", fontsize=9)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(fig)


def docx_bytes(sit: Situation) -> bytes:
    """The report as a Word document (.docx)."""
    from docx import Document
    from docx.oxml.ns import qn
    from docx.shared import Inches, Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = DOC_FONT
    style.font.size = Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), DOC_FONT)
    for name in ("Title", "Heading 1", "Heading 2"):
        st = doc.styles[name]
        st.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")
    doc.add_heading(title(sit), level=0)
    doc.add_paragraph(f"生成时间 {sit.generated_at:%Y-%m-%d %H:%M} UTC · "
                      f"事件 #{sit.incident['id']}")
    doc.add_picture(io.BytesIO(map_png(sit)), width=Inches(6.0))
    parts = tables(sit)
    for heading, key in SECTIONS:
        doc.add_heading(heading, level=1)
        keys = [key, "assignments"] if key == "teams" and "assignments" in parts else [key]
        for k in keys:
            headers, rows, lead = parts[k]
            if k == "assignments":
                doc.add_heading("已派出", level=2)
            if lead:
                doc.add_paragraph(lead)
            if rows:
                t = doc.add_table(rows=1, cols=len(headers))
                t.style = "Table Grid"
                for cell, text in zip(t.rows[0].cells, headers, strict=True):
                    cell.text = text
                for r in rows:
                    for cell, text in zip(t.add_row().cells, r, strict=True):
                        cell.text = text
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-family: 'Noto Serif CJK SC', 'Noto Sans CJK SC', serif; font-size: 11pt; }
h1 { font-size: 18pt; text-align: center; font-family: 'Noto Sans CJK SC', sans-serif; }
h2 { font-size: 13pt; margin: 14pt 0 4pt; font-family: 'Noto Sans CJK SC', sans-serif; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; font-size: 9.5pt; }
th, td { border: 1px solid #555; padding: 2pt 4pt; text-align: left; }
th { background: #eee; } img { width: 100%; } .meta { text-align: center; color: #444; }
"""


def html_text(sit: Situation) -> str:
    """The report as one self-contained HTML page (the map embedded; nothing fetched)."""
    parts = tables(sit)
    img = base64.b64encode(map_png(sit)).decode()
    body = [f"<h1>{h.escape(title(sit))}</h1>",
            f'<p class="meta">生成时间 {sit.generated_at:%Y-%m-%d %H:%M} UTC · 事件 '
            f"#{sit.incident['id']}</p>",
            f'<img alt="态势图 map" src="data:image/png;base64,{img}">']
    for heading, key in SECTIONS:
        body.append(f"<h2>{h.escape(heading)}</h2>")
        keys = [key, "assignments"] if key == "teams" and "assignments" in parts else [key]
        for k in keys:
            headers, rows, lead = parts[k]
            if k == "assignments":
                body.append("<h3>已派出</h3>")
            if lead:
                body.append(f"<p>{h.escape(lead)}</p>")
            if rows:
                body.append("<table><tr>" + "".join(f"<th>{h.escape(x)}</th>" for x in headers)
                            + "</tr>" + "".join("<tr>" + "".join(
                                f"<td>{h.escape(x)}</td>" for x in r) + "</tr>" for r in rows)
                            + "</table>")
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<link rel="icon" href="data:,"><title>{h.escape(title(sit))}</title>'
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def pdf_bytes(sit: Situation, chromium: str | Path | None = None) -> bytes:
    """The HTML report printed to PDF by headless Chromium (Debian's ``chromium``)."""
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "report.html", Path(d) / "report.pdf"
        src.write_text(html_text(sit), encoding="utf-8")
        capture(src.as_uri(), out, exe=chromium, wait_ms=2000)
        return out.read_bytes()


FORMATS = {".docx": "docx", ".html": "html", ".htm": "html", ".pdf": "pdf"}
MEDIA = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def render(sit: Situation, fmt: str, chromium: str | Path | None = None) -> bytes:
    if fmt == "docx":
        return docx_bytes(sit)
    if fmt == "html":
        return html_text(sit).encode("utf-8")
    if fmt == "pdf":
        return pdf_bytes(sit, chromium)
    raise ValueError(f"format {fmt!r}: use docx, html or pdf")
