"""The coverage report (覆盖分析报告): who is within the standard of each kind of facility.

`emgis report coverage` and ``GET /reports/coverage`` write it; this module decides what it says
(`coverage_report` → a `layers.document.Document`), from the same computation as `emgis
coverage` (`shelters.service.compute_coverage` / `coverage_table` / `compute_gaps`), so every
figure in it is the analysis' own answer:

一、总体情况 one line per kind of facility · then per kind: the lead (standard, people within it),
a map (villages coloured covered / not, the facilities), the table by township (names, people,
people within the standard, %) and the worst-served villages · 人口定位 how the people counted
were placed (exactly, or approximately and how) · 规范依据 the norms applied · 说明 every estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from emgis.layers.document import (
    UNKNOWN,
    Document,
    Figure,
    MapLayer,
    Section,
    Table,
    fmt,
    minutes,
    norm_table,
    numbered,
    ratio,
)
from emgis.shelters.coverage import KINDS, Kind
from emgis.shelters.service import standards_note

__all__ = ["COVERED", "UNCOVERED", "LayerCoverage", "by_township", "coverage_report",
           "layer_coverage"]

COVERED, UNCOVERED = "#1a9641", "#d7191c"
FACILITY_COLOUR = "#222222"
#: how many of the worst-served villages the report lists
WORST = 15
#: a demand point's placement and population method in words (`shelters.placement`)
PLACEMENT_ZH = {
    "boundary": "村界", "point": "村点", "township_weighted": "按乡镇已定位村加权",
    "township_polygon": "乡镇范围", "township_seat": "乡镇驻地", "county_outline": "仅县界",
    "grid_roads": "网格（按道路分摊）", "grid_raster": "网格（按人口栅格分摊）",
    "grid_area": "网格（按面积分摊）", "code_only": "未定位"}
METHOD_ZH = {"village_census": "村级统计", "township_census": "乡镇统计按代理分摊",
             "county_raster": "县总数按人口栅格分摊", "county_proxy": "县总数按代理分摊"}
QUALITY_ZH = {"exact": "精确", "approximate": "估算", "not_placed": "未定位"}


@dataclass
class LayerCoverage:
    """One kind's answer: `coverage_table`'s rows with the travel seconds beside them, the
    facilities counted, the shelters' capacity assignment (shelters only) and the notes."""

    kind: Kind
    frame: pd.DataFrame        # code, name, population, facility, time_min, standard_min,
    #                            covered, … + time_s, standard_s, township, township_name
    facilities: Any
    assignment: Any = None
    notes: tuple[str, ...] = ()


def _township_name(code: str, names: dict[str, str]) -> str:
    return names.get(code) or f"未知乡镇（{code}）"


def layer_coverage(inputs, layer: str, norms) -> LayerCoverage:
    """Coverage of ``layer`` as `emgis coverage` computes it (`MissingData` when none of its
    facilities is usable)."""
    from emgis.shelters.service import compute_coverage, compute_gaps, coverage_table, facilities_of

    c = compute_coverage(inputs, layer, norms)
    frame = pd.DataFrame(coverage_table(inputs, c, layer).drop(columns="geometry"))
    frame["time_s"] = c["time_s"].to_numpy(dtype=float)
    frame["standard_s"] = c["standard_s"].to_numpy(dtype=float)
    frame["township"] = [str(x)[:9] for x in frame["code"]]
    names = getattr(inputs, "township_names", {}) or {}
    frame["township_name"] = [_township_name(t, names) for t in frame["township"]]
    assignment = compute_gaps(inputs, c, layer, norms).assignment
    return LayerCoverage(KINDS[layer], frame, facilities_of(inputs, layer), assignment,
                         tuple(c.attrs.get("notes", [])))


def by_township(frame: pd.DataFrame) -> pd.DataFrame:
    """Per township (ranked by people outside the standard): villages, people, people within
    the standard, their share, villages outside."""
    f = frame.assign(population=frame["population"].astype(float),
                     inside=np.where(frame["covered"], frame["population"].astype(float), 0.0),
                     villages_out=(~frame["covered"].astype(bool)).astype(int), villages=1)
    t = (f.groupby(["township", "township_name"], sort=True)[
        ["villages", "population", "inside", "villages_out"]].sum().reset_index())
    t["outside"] = t["population"] - t["inside"]
    return t.sort_values(["outside", "township"], ascending=[False, True],
                         kind="stable").reset_index(drop=True)


def standard_text(kind: Kind, frame: pd.DataFrame) -> str:
    """The standards the villages were held to: ``10 / 15 分钟`` (depots: ``6 小时``)."""
    s = sorted({float(v) for v in frame["standard_s"] if np.isfinite(v)})
    if not s:
        return UNKNOWN
    if kind.unit_s == 3600:
        return " / ".join(f"{v / 3600:g} 小时" for v in s)
    return " / ".join(f"{v / 60:g} 分钟" for v in s)


def norm_keys(kind: Kind, norms) -> list[str]:
    """The norms a kind's standard is read from (each class's, for a kind with classes)."""
    if kind.class_col is None:
        return [kind.norm]
    return [k for k in norms if k.startswith(kind.norm + ".")]


def _summary(layers: list[LayerCoverage], total: float, villages: int,
             year: int | None) -> Section:
    rows = []
    for lc in layers:
        f = lc.frame
        inside = float(f.loc[f["covered"], "population"].sum())
        finite = f["time_s"].to_numpy()[np.isfinite(f["time_s"].to_numpy())]
        rows.append([lc.kind.label_zh, fmt(len(lc.facilities)), standard_text(lc.kind, f),
                     fmt(inside), ratio(inside, total), fmt(total - inside),
                     fmt(int((~f["covered"]).sum())),
                     minutes(np.median(finite)) if finite.size else "不可达"])
    best = ", ".join(f"{lc.kind.label_zh} {r[4]}" for lc, r in zip(layers, rows, strict=True))
    lead = (f"全县共 {fmt(villages)} 个村（点），人口 {fmt(total)} 人（{year or UNKNOWN}年统计）。"
            f"按道路车程计，在规范时限内可到达的人口比例：{best}。")
    return Section("总体情况", lead, [Table(
        ["设施类型", "设施数", "规范时限", "时限内人口", "覆盖率", "时限外人口",
         "时限外村（点）数", "车程中位数（分钟）"], rows)])


def _figure(lc: LayerCoverage, villages, demand, n: int) -> Figure:
    f = lc.frame
    status = dict(zip(f["code"].astype(str), f["covered"].astype(bool), strict=True))
    layers = []
    drawn: set[str] = set()
    if villages is not None and len(villages):
        codes = villages["code"].astype(str).tolist()
        keep = [i for i, c in enumerate(codes) if c in status]
        drawn = {codes[i] for i in keep}
        layers.append(MapLayer([villages.geometry.iloc[i] for i in keep], "fill",
                               [COVERED if status[codes[i]] else UNCOVERED for i in keep],
                               alpha=0.75, edge="#ffffff"))
    rest = [i for i, c in enumerate(demand["code"].astype(str)) if c not in drawn]
    if rest:  # demand points with no village outline: a dot each
        layers.append(MapLayer([demand.geometry.iloc[i] for i in rest], "point",
                               [COVERED if status.get(str(demand["code"].iloc[i]))
                                else UNCOVERED for i in rest], size=3))
    layers.append(MapLayer(list(lc.facilities.geometry), "point", FACILITY_COLOUR,
                           f"{lc.kind.label_zh}（{len(lc.facilities)} 处）", size=6,
                           marker="^", edge="#ffffff"))
    std = standard_text(lc.kind, f)
    return Figure(f"{lc.kind.label_zh}覆盖示意图（时限 {std}）", layers,
                  [(COVERED, "时限内可到达", "fill"), (UNCOVERED, "超出时限或不可达", "fill")],
                  caption=f"图{n} {lc.kind.label_zh}覆盖：各村（点）按道路车程是否在 {std} 内")


def _worst(lc: LayerCoverage) -> Table:
    f = lc.frame
    out = f[~f["covered"]].sort_values(["population", "code"], ascending=[False, True])
    if len(out):
        lead = (f"时限外的村（点）共 {len(out)} 个，按人口从多到少列出前 "
                f"{min(WORST, len(out))} 个：")
    else:
        ratio_ = f["time_s"] / f["standard_s"]
        out = f.assign(r=ratio_).sort_values(["r", "code"], ascending=[False, True])
        lead = f"所有村（点）均在时限内；车程与时限之比最高的 {min(WORST, len(out))} 个："
    rows = [[r["name"] or r["code"], r["township_name"], fmt(r["population"]),
             r["facility"] if isinstance(r["facility"], str) and r["facility"] else "无",
             minutes(r["time_s"]), minutes(r["standard_s"], 0),
             "是" if r["covered"] else "否"] for _, r in out.head(WORST).iterrows()]
    return Table(["村（点）", "乡镇", "人口", "最近设施", "车程（分钟）", "时限（分钟）",
                  "时限内"], rows, title="（二）服务最差的村（点）", lead=lead)


def _layer_section(lc: LayerCoverage, inputs, n: int) -> Section:
    f = lc.frame
    total = float(f["population"].sum())
    inside = float(f.loc[f["covered"], "population"].sum())
    unreachable = int((~np.isfinite(f["time_s"].to_numpy())).sum())
    lead = (f"以道路车程 {standard_text(lc.kind, f)} 为时限（规范 {lc.kind.norm}），"
            f"{len(lc.facilities)} 处{lc.kind.label_zh}在时限内可服务 {fmt(inside)} 人，"
            f"占 {ratio(inside, total)}；{int((~f['covered']).sum())} 个村（点）"
            f"{fmt(total - inside)} 人在时限外")
    lead += f"，其中 {unreachable} 个经道路无法到达。" if unreachable else "。"
    a = lc.assignment
    if a is not None:
        lead += (f"按场所容量安置：可安置 {fmt(a.served)} 人，无处安置 {fmt(a.unserved)} 人")
        unknown = int((~a.shelters["capacity_known"]).sum())
        lead += (f"；另有 {fmt(a.capacity_unknown)} 人只能到达 {unknown} 处容量未知的场所"
                 "（容量未知，不计为 0）。" if unknown else "。")
    t = by_township(f)
    towns = Table(["乡镇", "村（点）数", "人口", "时限内人口", "覆盖率", "时限外人口",
                   "时限外村（点）数"],
                  [[r.township_name, fmt(int(r.villages)), fmt(r.population), fmt(r.inside),
                    ratio(r.inside, r.population), fmt(r.outside), fmt(int(r.villages_out))]
                   for r in t.itertuples()],
                  title="（一）分乡镇覆盖情况", lead="按时限外人口从多到少排列。")
    return Section(f"{lc.kind.label_zh}覆盖情况", lead, [towns, _worst(lc)],
                   _figure(lc, getattr(inputs, "villages", None), inputs.demand, n))


def _placement(inputs, total: float) -> tuple[Section, list[str]]:
    p = getattr(inputs, "placement", None) or {}
    if not p:
        return Section("人口定位情况", "人口的定位方式未记录（未知）。"), [
            "人口的定位方式未记录：覆盖人数按各村（点）的位置计算，其精度未知。"]
    lead = (f"参与计算的 {fmt(p['total'])} 人中，按村界或村点精确定位 {fmt(p['exact'])} 人"
            f"（{ratio(p['exact'], p['total'])}），位置为估算的 {fmt(p['approximate'])} 人，"
            f"未能定位的 {fmt(p['not_placed'])} 人（不计入任何覆盖范围）。")
    notes = []
    if p["approximate"] or p["not_placed"]:
        notes.append(f"{fmt(p['approximate'])} 人的位置为估算（如按乡镇驻地或网格分摊），"
                     f"{fmt(p['not_placed'])} 人未定位；其覆盖结论随之为估算，见“人口定位情况”。")
    rows = [[r.get("township_name") or (f"未知乡镇（{r['township_code']}）"
                                        if r.get("township_code") else "无乡镇"),
             QUALITY_ZH.get(r["quality"], r["quality"]),
             PLACEMENT_ZH.get(r["placement"], r["placement"]),
             METHOD_ZH.get(r["population_method"], r["population_method"]),
             fmt(r["points"]), fmt(r["people"])] for r in p.get("by_township", [])]
    return Section("人口定位情况", lead, [Table(
        ["乡镇", "定位", "位置来源", "人口来源", "点数", "人口"], rows)]), notes


def coverage_report(inputs, norms, layers: list[str] | tuple[str, ...] = ("shelters",), *,
                    census_year: int | None = None, network: str = "default",
                    generated_at: datetime | None = None) -> Document:
    """The coverage report of ``layers`` (kind names of `shelters.coverage.KINDS`) from the
    stored inputs (`shelters.store.load_coverage_inputs`) and the norms in force."""
    at = generated_at or datetime.now(UTC)
    answers = [layer_coverage(inputs, layer, norms) for layer in dict.fromkeys(layers)]
    d = inputs.demand
    total = float(d["population"].astype(float).sum())
    sections = [_summary(answers, total, len(d), census_year)]
    sections += [_layer_section(lc, inputs, i) for i, lc in enumerate(answers, start=1)]
    placed, notes = _placement(inputs, total)
    sections.append(placed)
    for s, heading in zip(sections, numbered(s.heading for s in sections), strict=True):
        s.heading = heading
    keys = [k for lc in answers for k in norm_keys(lc.kind, norms)]
    if "shelters" in layers:
        keys += [k for k in norms if k.startswith("shelter.m2_per_person.")]
    keys += ["road.speed_kmh.offroad", "demand.snap_warn_m"]
    notes += [
        f"人口为 {census_year or UNKNOWN} 年统计数；车程按路网“{network}”的道路等级限速计算，"
        "村（点）到最近道路的一段按步行速度（road.speed_kmh.offroad）计。",
        "“时限内”指车程不超过该类设施的规范时限；避难场所按各自类别的时限，任一场所在其时限内"
        "可到达即为覆盖。",
        "不可达：村（点）所在道路与设施所在道路不连通；未知：数据缺失，不按 0 计。",
    ]
    notes += [n for n in (standards_note(lc.kind.name, norms, lang="zh") for lc in answers) if n]
    notes += [f"分析记录：{n}" for n in inputs.notes]
    notes += [f"分析记录：{n}" for lc in answers for n in lc.notes]
    labels = "、".join(lc.kind.label_zh for lc in answers)
    return Document(f"应急设施覆盖分析报告（{labels}）",
                    f"生成时间 {at:%Y-%m-%d %H:%M} UTC · 人口 {census_year or UNKNOWN} 年 · "
                    f"路网 {network}", sections, at, notes,
                    norm_table(norms, keys, lead="本报告使用的时限、速度与面积指标及其来源："))
