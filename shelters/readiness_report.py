"""The readiness report (应急队伍建设达标情况报告): each township against the team norms.

`emgis report readiness` and ``GET /reports/readiness`` write it; this module decides what it
says (`readiness_report` → a `layers.document.Document`) from `shelters.readiness.assess` — the
same answer as `emgis readiness` and ``/analyses/readiness``:

一、总体情况 townships by compliance · 二、分乡镇达标情况 one row per township: its comprehensive
team (≥ ``team.min_personnel.township``), village squads (≥ ``team.min_personnel.village``),
full-time firefighters (``fire.firefighters_per_1000`` of its people), equipment against the
minimum lists, social forces assessed, plans and drills · 三、达标情况示意图 · 四、未达标事项 what
fails or is unknown, and why · 五、村级应急救援队伍 the villages short of a squad · 规范依据 · 说明.
An unknown value (no census population, no equipment list) is 未知, never 0.
"""

from __future__ import annotations

from datetime import UTC, datetime

from emgis.layers.document import (
    UNKNOWN,
    Document,
    Figure,
    MapLayer,
    Section,
    Table,
    fmt,
    missing,
    norm_table,
    numbered,
    pct,
)
from emgis.shelters.readiness import (
    COLOURS,
    COMPLIANT,
    NOT_APPLICABLE,
    NOT_COMPLIANT,
    NOT_STORED,
    Readiness,
)
from emgis.shelters.readiness import (
    UNKNOWN as UNKNOWN_STATUS,
)

__all__ = ["CHECK_ORDER", "readiness_report", "township_cells"]

#: the township checks, in the order of the table's columns
CHECK_ORDER = ("township_team", "village_squads", "firefighters", "equipment",
               "social_assessed", "plans")
#: how many villages short of a squad the report lists
VILLAGES = 40


def _num(v, digits: int = 0) -> str:
    """A number, ``digits`` decimals at most (trailing zeros dropped); unknown is 未知."""
    if missing(v):
        return UNKNOWN
    return f"{float(v):,.{digits}f}".rstrip("0").rstrip(".") if digits else fmt(v)


def _cell(check: dict) -> str:
    """One check as a table cell: what there is / what the norm asks (conclusion)."""
    c, st, zh = check["check"], check["status"], check["status_zh"]
    if st == NOT_APPLICABLE:
        return "不适用"
    if c == "plans":
        return zh
    v, req = check["value"], check["required"]
    if c == "township_team" and check["note"] == "no comprehensive team stored":
        have = "无综合性队伍"
    elif c == "social_assessed":
        have = pct(v, 0)
    else:
        have = _num(v)
    need = pct(req, 0) if c == "social_assessed" else _num(req, 1)
    unit = {"village_squads": " 村", "equipment": " 队"}.get(c, "")
    return f"{have}/{need}{unit}（{zh}）"


def township_cells(r: Readiness) -> dict[str, dict[str, str]]:
    """``{township code: {check: cell}}`` of the township table."""
    out: dict[str, dict[str, str]] = {}
    towns = r.checks[r.checks["level"] == "township"] if len(r.checks) else r.checks
    for row in towns.to_dict("records"):
        out.setdefault(row["code"], {})[row["check"]] = _cell(row)
    return out


def _norm_value(r: Readiness, key: str) -> str:
    for n in r.norms:
        if n["key"] == key:
            v = n["value"]
            return f"{v:g}" if isinstance(v, float) else str(v)
    return UNKNOWN


def _summary(r: Readiness) -> Section:
    t = r.townships
    rows = []
    for key, (_, label) in COLOURS.items():
        names = t.loc[t["compliance"] == key, "name"].tolist() if len(t) else []
        rows.append([label.split(" ")[0], fmt(len(names)), "、".join(names) or "—"])
    v = r.villages
    ok = int((v["status"] == COMPLIANT).sum()) if len(v) else 0
    counts = {k: int((t["compliance"] == k).sum()) if len(t) else 0 for k in COLOURS}
    lead = (f"截至 {r.as_of:%Y年%m月%d日}，全县 {len(t)} 个乡镇（街道）中达标 "
            f"{counts['compliant']} 个、基本达标 {counts['mostly']} 个、不达标 "
            f"{counts['not_compliant']} 个、无法判定（数据缺失）{counts['unknown']} 个；"
            f"{len(v)} 个村中村级应急救援队伍达到 {_norm_value(r, 'team.min_personnel.village')}"
            f" 人的有 {ok} 个。")
    return Section("总体情况", lead, [Table(["达标情况", "乡镇数", "乡镇"], rows)])


def _townships(r: Readiness) -> Section:
    cells = township_cells(r)
    headers = ["乡镇",
               f"综合性救援队伍（人，≥{_norm_value(r, 'team.min_personnel.township')}）",
               f"村级队伍达标村（≥{_norm_value(r, 'team.min_personnel.village')} 人）",
               f"专职消防员（实有/应配，{_norm_value(r, 'fire.firefighters_per_1000')}‰）",
               "装备达标队伍", "社会力量测评比例", "预案与演练", "结论"]
    rows = [[t["name"], *(cells.get(t["code"], {}).get(c, UNKNOWN) for c in CHECK_ORDER),
             t["compliance_zh"].split(" ")[0]] for t in r.townships.to_dict("records")]
    return Section("分乡镇达标情况", "每格为“实有/规范要求（结论）”；未知为数据缺失，不按 0 计。",
                   [Table(headers, rows)])


def _figure(r: Readiness, towns) -> Section:
    by = {t["code"]: t for t in r.townships.to_dict("records")}
    keep = [i for i, c in enumerate(towns["code"]) if c in by] if towns is not None else []
    layers = [MapLayer([towns.geometry.iloc[i] for i in keep], "fill",
                       [by[towns["code"].iloc[i]]["colour"] for i in keep], alpha=0.8,
                       edge="#ffffff", names=[by[towns["code"].iloc[i]]["name"] for i in keep])]
    legend = [(c, label.split(" ")[0], "fill") for c, label in COLOURS.values()]
    lead = ("各乡镇按已知检查项着色：全部达标为绿，至少一半达标为橙，少于一半为红，"
            "无不达标但有未知项为灰。" if keep
            else "未录入乡镇界线，无法绘图（emgis load admin_units）。")
    return Section("达标情况示意图", lead, figure=Figure(
        "应急队伍建设达标情况", layers, legend, caption="图1 各乡镇应急队伍建设达标情况"))


def _failing(r: Readiness) -> Section:
    c = r.checks
    bad = c[(c["level"] == "township") & c["status"].isin(
        [NOT_COMPLIANT, UNKNOWN_STATUS, NOT_STORED])] if len(c) else c
    rows = [[x["name"], x["check_zh"], _cell(x), x["note"] or "", x["source"] or ""]
            for x in bad.to_dict("records")]
    return Section("未达标与未知事项", f"共 {len(rows)} 项：" if rows else "无未达标或未知事项。",
                   [Table(["乡镇", "检查项", "实有/要求（结论）", "说明", "依据"], rows)])


def _villages(r: Readiness) -> Section:
    v = r.villages
    short = v[v["status"] != COMPLIANT] if len(v) else v
    rows = [[x["name"], x["township"], fmt(x["squad_personnel"]), _num(x["required"]),
             _num(x["population"]), "未录入村级队伍" if x["note"] == "no village squad stored"
             else x["note"]] for x in short.head(VILLAGES).to_dict("records")]
    lead = (f"村级应急救援队伍不足 {_norm_value(r, 'team.min_personnel.village')} 人的村共 "
            f"{len(short)} 个" + (f"，列出前 {VILLAGES} 个" if len(short) > VILLAGES else "")
            + "：") if len(short) else "各村均有达到人数要求的村级应急救援队伍。"
    return Section("村级应急救援队伍", lead,
                   [Table(["村", "乡镇", "队伍人数", "要求（人）", "人口", "说明"], rows)])


def readiness_report(r: Readiness, norms, towns=None, *,
                     generated_at: datetime | None = None) -> Document:
    """The readiness report of the assessment ``r`` (`shelters.readiness.assess`); ``towns``:
    the townships' outlines (`readiness_store.read_townships`) for the map."""
    at = generated_at or datetime.now(UTC)
    sections = [_summary(r), _townships(r), _figure(r, towns), _failing(r), _villages(r)]
    for s, heading in zip(sections, numbered(s.heading for s in sections), strict=True):
        s.heading = heading
    notes = [
        f"人口为 {r.census_year or UNKNOWN} 年统计数；无人口数据的乡镇，专职消防员应配人数为"
        "“未知”，不按 0 计。",
        "达标：全部已知检查项达标；基本达标：至少一半达标；不达标：少于一半；未知：无不达标项但有"
        "数据缺失的项。不适用的检查项不参与判定。",
        "装备：队伍类型有最低配置清单（规范 equipment.min.<类型>.<装备>）的，按完好（ok）数量核对；"
        "未录入装备清单的队伍为“未知”。",
        "村级队伍：登记在村的综合性或志愿者队伍（不含乡镇自身的综合性队伍）；满编要求 "
        f"{_norm_value(r, 'team.min_personnel.village_full')} 人另列于检查明细"
        "（emgis readiness --out 工作簿）。",
    ]
    if len(r.checks) and (r.checks["status"] == NOT_STORED).any():
        notes.append("预案与演练：数据库未录入预案（emgis load plans），记为“未录入”，不计为达标。")
    keys = [n["key"] for n in r.norms]
    return Document("应急队伍建设达标情况报告",
                    f"生成时间 {at:%Y-%m-%d %H:%M} UTC · 评估日期 {r.as_of:%Y-%m-%d}", sections,
                    at, notes, norm_table(norms, keys, lead="本报告核对的规范指标及其来源："))
