"""The risk report (安全风险评估报告): the four-colour picture of the county for its plan.

`emgis report risk` and ``GET /reports/risk`` write it; this module decides what it says
(`risk_report` → a `layers.document.Document`) from what `risk.store` and `risk.hazard_log`
keep — the same rows as `emgis risk list`, `emgis risk map` and `emgis hazard list`:

一、总体情况 risk points by level (重大 / 较大 / 一般 / 低, and 未评估 apart: an unassessed point is
not a low one) · 二、分乡镇风险点 by township and level · 三、四色风险分布 the stored coloured
areas and the points in the norms' colours · 四、重点风险点 the highest ranked · 五、隐患排查治理
hazards by state, and the overdue ones · 规范依据 the level bands and colours · 说明.
"""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.layers.document import (
    UNKNOWN,
    Document,
    Figure,
    MapLayer,
    Section,
    Table,
    fmt,
    norm_table,
    numbered,
    ratio,
)
from emgis.layers.norms import Norms
from emgis.risk import hazards as hz
from emgis.risk.hazard_log import hazard_list
from emgis.risk.levels import LEVEL_KEYS, RANK, risk_levels
from emgis.risk.store import read_areas, read_points

__all__ = ["TOP", "points_by_township", "risk_report"]

#: how many risk points the report lists as the highest ranked
TOP = 15
NONE_COLOUR = "#d9d9d9"
COLOUR_WORD = {"red": "红", "orange": "橙", "yellow": "黄", "blue": "蓝"}
SHORT = {"red": "重大", "orange": "较大", "yellow": "一般", "blue": "低"}
NOT_ASSESSED = "未评估"
OUTSIDE = "不在任何乡镇内"
#: the aggregation rules (`risk.aggregate.RULES`) in words
RULE_ZH = {"max": "取区域内风险点的最高等级", "count_weighted": "按各等级风险点数加权平均",
           "population_weighted": "按风险点数加权并按人口调整"}


def read_townships(engine: Engine) -> gpd.GeoDataFrame:
    """The townships' outlines (code, name; EPSG:4326); none stored: an empty frame."""
    with engine.connect() as c:
        rows = c.execute(sa.text(
            "SELECT code, name, ST_AsBinary(geom) FROM admin_units WHERE level = 'township' "
            "AND geom IS NOT NULL ORDER BY code")).all()
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows]},
                            geometry=gpd.GeoSeries([shapely.from_wkb(bytes(r[2])) for r in rows],
                                                   crs=4326), crs=4326)


def township_of(points: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> list[str]:
    """Each point's township name: the township of its registered unit (``unit_code``), else
    the one its location falls in, else `OUTSIDE`."""
    by_code = {str(c)[:9]: n for c, n in zip(towns["code"], towns["name"], strict=True)}
    out = []
    for code, geom in zip(points["unit_code"], points.geometry, strict=True):
        name = by_code.get(str(code)[:9]) if isinstance(code, str) and code else None
        if name is None and geom is not None and len(towns):
            hit = towns[towns.geometry.contains(geom)]
            name = hit["name"].iloc[0] if len(hit) else None
        out.append(name or OUTSIDE)
    return out


def points_by_township(points: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> pd.DataFrame:
    """Risk points counted by township and level (columns ``red`` … ``blue``, ``none`` for the
    unassessed, ``total``), the township with most red (then orange …) first."""
    f = pd.DataFrame({"township": township_of(points, towns),
                      "level": [lv if lv in RANK else "none" for lv in points["level"]]})
    t = pd.crosstab(f["township"], f["level"]) if len(f) else pd.DataFrame()
    for k in (*LEVEL_KEYS, "none"):
        if k not in t.columns:
            t[k] = 0
    names = [n for n in towns["name"] if n not in t.index]
    t = pd.concat([t, pd.DataFrame(0, index=names, columns=t.columns)])
    t = t[[*LEVEL_KEYS, "none"]].astype(int)
    t["total"] = t.sum(axis=1)
    t = t.rename_axis("township").reset_index()
    return t.sort_values([*LEVEL_KEYS, "township"], ascending=[False] * 4 + [True],
                         kind="stable").reset_index(drop=True)


def _summary(points, hazards: pd.DataFrame, as_of: dt.date) -> Section:
    n = len(points)
    counts = {k: int((points["level"] == k).sum()) for k in LEVEL_KEYS}
    none = n - sum(counts.values())
    rows = [[vocab.RISK_LEVEL[k].zh, COLOUR_WORD[k], fmt(counts[k]), ratio(counts[k], n)]
            for k in LEVEL_KEYS]
    if none:
        rows.append([NOT_ASSESSED, "—", fmt(none), ratio(none, n)])
    rows.append(["合计", "", fmt(n), ratio(n, n)])
    open_ = hazards[hazards["state"] != "closed"] if len(hazards) else hazards
    lead = (f"截至 {as_of:%Y年%m月%d日}，全县登记风险点 {n} 个：重大 {counts['red']} 个、较大 "
            f"{counts['orange']} 个、一般 {counts['yellow']} 个、低 {counts['blue']} 个"
            + (f"，另有 {none} 个尚未评估（不计为低风险）" if none else "") + "。"
            f"登记隐患 {len(hazards)} 项，未销号 {len(open_)} 项，"
            f"其中超过整改期限 {int(open_['overdue'].sum()) if len(open_) else 0} 项。")
    return Section("总体情况", lead, [Table(["风险等级", "颜色", "风险点数", "占比"], rows)])


def _townships(table: pd.DataFrame) -> Section:
    rows = [[r["township"], *(fmt(int(r[k])) for k in (*LEVEL_KEYS, "none")),
             fmt(int(r["total"]))] for _, r in table.iterrows()]
    sums = table[[*LEVEL_KEYS, "none", "total"]].sum()
    rows.append(["合计", *(fmt(int(sums[k])) for k in (*LEVEL_KEYS, "none", "total"))])
    worst = table[table["red"] > 0]["township"].tolist()
    lead = ("重大风险点分布在：" + "、".join(worst) + "。") if worst else "无重大风险点。"
    return Section("分乡镇风险点", lead, [Table(
        ["乡镇", *(SHORT[k] for k in LEVEL_KEYS), NOT_ASSESSED, "合计"], rows,
        lead="按重大、较大、一般、低风险点数依次排序。")])


def _map(points, areas, towns, levels) -> Section:
    colour = {lv.key: lv.colour for lv in levels}
    layers = []
    if len(areas):
        layers.append(MapLayer(list(areas.geometry), "fill",
                               [colour.get(lv, NONE_COLOUR) if isinstance(lv, str) else
                                NONE_COLOUR for lv in areas["level"]], alpha=0.55,
                               edge="#ffffff"))
    if len(towns):
        layers.append(MapLayer(list(towns.geometry), "fill", "none", edge="#555555",
                               names=list(towns["name"])))
    if len(points):
        layers.append(MapLayer(list(points.geometry), "point",
                               [colour.get(lv, "#ffffff") if isinstance(lv, str) else "#ffffff"
                                for lv in points["level"]], size=5, edge="#000000"))
    legend = [(lv.colour, f"{lv.zh}（{COLOUR_WORD[lv.key]}）", "fill") for lv in levels]
    legend.append((NONE_COLOUR, "无风险点 / 未评估", "fill"))
    if len(areas):
        unit = "网格" if str(areas["unit_kind"].iloc[0]) == "grid" else "行政区"
        n = {k: int((areas["level"] == k).sum()) for k in LEVEL_KEYS}
        rule = str(areas["rule"].iloc[0])
        lead = (f"四色区域按{unit}划分，共 {len(areas)} 个"
                f"（着色规则 {rule}：{RULE_ZH.get(rule, rule)}）："
                f"红 {n['red']}、橙 {n['orange']}、黄 {n['yellow']}、蓝 {n['blue']}，"
                f"无风险点 {len(areas) - sum(n.values())} 个（灰色，不着蓝色）。"
                "圆点为风险点，颜色为其等级。")
    else:
        lead = "尚未生成四色区域（emgis risk areas），图中只画出风险点。"
    return Section("四色风险分布", lead, figure=Figure(
        "安全风险四色分布图", layers, legend, caption="图1 安全风险四色分布（区域与风险点）"))


def _top(points, towns) -> Section:
    p = points.assign(township=township_of(points, towns),
                      rank=[RANK.get(lv, 0) if isinstance(lv, str) else 0
                            for lv in points["level"]])
    p = p.sort_values(["rank", "score", "ext_id"], ascending=[False, False, True],
                      na_position="last", kind="stable").head(TOP)
    rows = [[r["ext_id"], r["name"] or UNKNOWN,
             vocab.RISK_CATEGORY[r["category"]].zh if r["category"] in vocab.RISK_CATEGORY
             else (r["category"] or UNKNOWN), r["township"],
             vocab.RISK_METHOD[r["method"]].zh if r["method"] in vocab.RISK_METHOD
             else (r["method"] or UNKNOWN), fmt(r["score"], 1),
             vocab.RISK_LEVEL[r["level"]].zh if r["level"] in RANK else NOT_ASSESSED]
            for _, r in p.iterrows()]
    return Section("重点风险点", f"按风险等级、再按分值从高到低，列出前 {len(rows)} 个：",
                   [Table(["编号", "名称", "类别", "乡镇", "评估方法", "分值", "等级"], rows)])


def _hazards(h: pd.DataFrame, as_of: dt.date) -> Section:
    rows = []
    for s in hz.STATES:
        here = h[h["state"] == s] if len(h) else h
        rows.append([hz.label(s), fmt(len(here)),
                     "—" if s == "closed" else fmt(int(here["overdue"].sum()) if len(here) else 0)])
    rows.append(["合计", fmt(len(h)), fmt(int(h["overdue"].sum()) if len(h) else 0)])
    late = h[h["overdue"]] if len(h) else h
    late_rows = [[r["ext_id"], r["title"] or UNKNOWN, r["unit_name"] or UNKNOWN,
                  r["responsible"] or UNKNOWN, str(r["deadline"]), hz.label(r["state"]),
                  fmt((as_of - r["deadline"]).days)] for _, r in late.iterrows()]
    lead = ("隐患按“发现—确认—管控—整改—销号”闭环管理；超期指已过整改期限仍未销号。"
            if len(h) else "尚未登记隐患（emgis load hazards FILE）。")
    return Section("隐患排查治理", lead, [
        Table(["状态", "隐患数", "其中超期"], rows),
        Table(["编号", "隐患", "所在单位", "责任人", "整改期限", "状态", "超期天数"], late_rows,
              title="超期未销号的隐患",
              lead="" if late_rows else f"截至 {as_of:%Y-%m-%d} 无超期未销号的隐患。")])


def risk_report(engine: Engine, norms: Norms, *, as_of: dt.date | None = None,
                generated_at: datetime | None = None) -> Document:
    """The risk report from the stored risk points, coloured areas and hazards."""
    at = generated_at or datetime.now(UTC)
    as_of = as_of or at.date()
    points, areas, towns = read_points(engine), read_areas(engine), read_townships(engine)
    hazards = hazard_list(engine, today=as_of)
    levels = risk_levels(norms)
    sections = [_summary(points, hazards, as_of), _townships(points_by_township(points, towns)),
                _map(points, areas, towns, levels), _top(points, towns),
                _hazards(hazards, as_of)]
    for s, heading in zip(sections, numbered(s.heading for s in sections), strict=True):
        s.heading = heading
    methods = {m for m in points["method"] if isinstance(m, str)} if len(points) else set()
    keys = [k for k in norms if k.startswith("risk.colour.")]
    keys += [k for k in norms if k.startswith("risk.lec.") and ("LEC" in methods or not methods)]
    keys += [k for k in norms if k.startswith("risk.matrix.")
             and ("matrix" in methods or not methods)]
    scores = points["score"].to_numpy(dtype=float) if len(points) else np.array([])
    notes = [
        "风险等级由各风险点的评估分值按规范分级（见“规范依据”）：作业条件危险性评价法 D=L×E×C，"
        "风险矩阵法 R=L×S；颜色取自规范表（低风险为蓝色，不用绿色）。",
        "未评估的风险点单列为“未评估”，不计入低风险；无风险点的区域不着色（灰色）。",
        "乡镇按风险点登记的所属单位确定，未登记的按其位置所在乡镇；" + OUTSIDE + "的单列。",
        f"隐患超期按 {as_of:%Y-%m-%d} 计。",
    ]
    if int(np.isnan(scores).sum()):
        notes.append(f"{int(np.isnan(scores).sum())} 个风险点无评估分值，分值写作“未知”。")
    return Document("安全风险评估报告", f"生成时间 {at:%Y-%m-%d %H:%M} UTC · 截至 {as_of:%Y-%m-%d}",
                    sections, at, notes,
                    norm_table(norms, keys, lead="风险分级的分值界限与四色的颜色："))
