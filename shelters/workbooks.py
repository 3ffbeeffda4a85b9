"""The coverage, gap and siting workbooks (`emgis coverage | gaps | site --out x.xlsx`) as a
bureau attaches them: the column dictionary of their tables and the notes saying what went in.

The tables are the analyses' own (`shelters.service.coverage_table`, `gap_tables`, the shelter
assignment, `SitingRun.chosen`, the placement summary); `layers.workbook.write_workbook` writes
them with Chinese (or English) headers, minutes, percentages, names beside codes, and a notes
sheet: the command, the inputs (road network, census year, villages, facilities), the norms the
analysis read with their sources, and how many people are placed only approximately.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emgis.layers import vocab
from emgis.layers.workbook import Column, Notes, Sheet, write_workbook
from emgis.shelters.coverage import KINDS
from emgis.shelters.placement import METHODS, PLACEMENT_TEXT
from emgis.shelters.service import standards_note

__all__ = ["COLUMNS", "DISTRICT_COLUMNS", "analysis_notes", "coverage_workbook",
           "districts_workbook", "gaps_workbook", "network_notes", "relief_workbook",
           "site_workbook"]

_QUALITY = {"exact": ("准确", "exact"), "approximate": ("估算", "approximate"),
            "not_placed": ("未定位", "not placed")}
_PLACED = {k: (zh, PLACEMENT_TEXT[k]) for k, zh in (
    ("boundary", "村界"), ("point", "村点位"), ("township_weighted", "乡镇内已定位村（加权）"),
    ("township_polygon", "乡镇范围"), ("township_seat", "乡镇驻地"), ("county_outline", "仅县界"),
    ("grid_roads", "网格（按道路）"), ("grid_raster", "网格（人口栅格）"),
    ("grid_area", "网格（按面积）"), ("code_only", "未定位"))}
_METHOD = {k: (zh, METHODS[k]) for k, zh in (
    ("village_census", "村级普查"), ("township_census", "乡镇普查数按代理分摊到网格"),
    ("county_raster", "县总数按人口栅格分摊"), ("county_proxy", "县总数按代理分摊"))}
_CLASSES = {**{k: (t.zh, k) for k, t in vocab.SHELTER_DURATION_CLASS.items()},
            "province": ("省级", "province"), "city": ("市级", "city"),
            "county": ("县级", "county"), "township": ("乡镇级", "township"),
            "village": ("村级", "village")}

#: the columns of the coverage, gap and placement tables (village rows)
COLUMNS: dict[str, Column] = {
    "code": Column("村代码", "village code", "code", names="name"),
    "name": Column("村名", "village", "name"),
    "township": Column("乡镇代码", "township code", "code", names="township_name"),
    "township_code": Column("乡镇代码", "township code", "code", names="township_name"),
    "township_name": Column("乡镇", "township", "name"),
    "population": Column("人口", "population", "count"),
    "facility": Column("最近设施", "nearest facility", "name"),
    "time_min": Column("最近设施用时（分钟）", "time to nearest (min)", "minutes"),
    "standard_min": Column("标准时间（分钟）", "standard (min)", "minutes"),
    "covered": Column("标准内覆盖", "covered within standard", "flag"),
    "covered_by": Column("达标设施", "covered by", "name"),
    "snap_m": Column("离路距离（米）", "distance to road (m)", "metres"),
    "sheltered": Column("容量内安置（人）", "sheltered within capacity", "count"),
    "capacity_unknown": Column("覆盖但容量未知（人）", "covered, capacity unknown", "count"),
    "unserved": Column("未安置（人）", "unserved", "count"),
    "uncovered": Column("未覆盖（人）", "uncovered", "count"),
    "underserved": Column("覆盖但无位（人）", "under-served", "count"),
    "gap": Column("缺口（人）", "gap", "count"),
    "gap_share": Column("缺口比例", "gap share", "percent"),
    "villages": Column("村数", "villages", "count"),
    "villages_with_gap": Column("有缺口村数", "villages with a gap", "count"),
    "hazard_types": Column("灾害类型", "hazard types", "text"),
    "hazard_levels": Column("危险等级", "hazard levels", "text"),
    "time_s": Column("最近避难场所用时（分钟）", "time to nearest shelter (min)", "minutes",
                     from_seconds=True),
    "standard_s": Column("标准时间（分钟）", "standard (min)", "minutes", from_seconds=True),
    "lon": Column("经度", "longitude", "coord"),
    "lat": Column("纬度", "latitude", "coord"),
    # placement (shelters.placement.placement_summary)
    "quality": Column("定位质量", "placed", labels=_QUALITY),
    "placement": Column("定位方式", "placement", labels=_PLACED),
    "population_method": Column("人口来源", "population method", labels=_METHOD),
    "points": Column("点数", "points", "count"),
    "people": Column("人数", "people", "count"),
}

#: the shelters sheet (shelters.capacity.Assignment.shelters): unknown capacity is 未知, not 0
SHELTER_COLUMNS = {
    "id": Column("数据库编号", "database id", "code"),  # the id the API and maps use
    "ext_id": Column("编号", "ID", "code", names="name"),
    "name": Column("避难场所", "shelter", "name"),
    "duration_class": Column("避难期类别", "duration class", labels=_CLASSES),
    "capacity": Column("可用容量（人）", "places available", "count", unknown=True),
    "capacity_known": Column("容量已知", "capacity known", "flag"),
    "load": Column("容量内安置（人）", "sheltered", "count"),
    "utilisation": Column("利用率", "utilisation", "percent", unknown=True),
    "nearest_load": Column("就近分配人数", "nearest-assignment load", "count"),
    "overload": Column("就近分配超员（人）", "nearest-assignment overload", "count",
                       unknown=True),
}

#: the new-sites sheet (`SitingRun.chosen`)
SITE_COLUMNS = {
    "ext_id": Column("编号", "ID", "code", names="name"),
    "name": Column("选址", "site", "name"),
    "kind": Column("候选来源", "candidate kind"),
    "kind_zh": Column("候选类型", "candidate type"),
    "area_m2": Column("面积（平方米）", "area (m²)", "count", unknown=True),
    "duration_class": Column("避难期类别", "duration class", labels=_CLASSES),
    "covers_new_people": Column("新增覆盖（人）", "newly covered people", "count"),
}

_PLACEMENT = ("定位", "placement")


def _class_columns(frame: pd.DataFrame, layer: str) -> dict[str, Column]:
    """``time_min.<class>``: the time to the nearest facility of each class."""
    out = {}
    for col in frame.columns:
        if str(col).startswith("time_min."):
            zh, en = _CLASSES.get(col[9:], (col[9:], col[9:]))
            what = KINDS[layer].label_zh
            out[col] = Column(f"至最近{zh}{what}用时（分钟）", f"time to nearest {en} (min)",
                              "minutes")
    return out


def _placement_sheet(inputs) -> list[Sheet]:
    p = getattr(inputs, "placement", None)
    if not p or not p.get("by_township"):
        return []
    # "how" is placement / population_method in words: the two columns say it, in --lang
    rows = pd.DataFrame(p["by_township"]).drop(columns=["how"], errors="ignore")
    return [Sheet(*_PLACEMENT, rows)]


def _plain(frame) -> pd.DataFrame:
    """A (Geo)DataFrame of points without its geometry, with lon and lat."""
    if "geometry" not in frame.columns:
        return pd.DataFrame(frame)
    out = pd.DataFrame(frame.drop(columns="geometry"))
    geom = frame.geometry
    ok = ~(geom.isna() | geom.is_empty)
    out["lon"] = np.where(ok, geom.x.where(ok), np.nan)
    out["lat"] = np.where(ok, geom.y.where(ok), np.nan)
    return out


def analysis_notes(engine, command: str, inputs, layer: str, norms, *, network: str,
                   facilities: int | None = None, team_label: str = "") -> Notes:
    """The notes sheet of an analysis over `shelters.store.CoverageInputs`: the command, the
    inputs, the norms ``norms`` has been read for so far (`Norms.read_keys`) and the estimates.
    Call it after the analysis ran, so every norm it read is listed."""
    n = Notes().run(command)
    kind = KINDS[layer]
    n.add("inputs", "分析对象", "facilities", kind.label + (f" ({team_label})" if team_label
                                                         else ""))
    if facilities is not None:
        n.add("inputs", "计入设施数", "facilities counted", facilities)
    network_notes(n, engine, network)
    d = inputs.demand
    n.add("inputs", "人口普查年份", "census year", d.attrs.get("year"))
    n.add("inputs", "村（需求点）数", "villages (demand points)", len(d))
    n.add("inputs", "人口", "population", float(d["population"].sum()))
    if layer == "shelters" and len(getattr(inputs, "hazard_zones", [])):
        n.add("inputs", "危险区", "hazard zones", len(inputs.hazard_zones))
    n.norms(norms, norms.read_keys())
    _estimates(n, getattr(inputs, "placement", None))
    n.lines("notes", "分析说明", "analysis note", list(getattr(inputs, "notes", [])))
    if KINDS[layer].class_col is not None:  # why coverage and siting count differently
        n.text("notes", "覆盖与选址的口径", "coverage vs siting",
               standards_note(layer, norms, lang="zh") or "",
               standards_note(layer, norms) or "")
    return n


def network_notes(n: Notes, engine, network: str) -> Notes:
    """The road network's name, when it was built, from which file and its size."""
    from emgis.geo.store import list_networks

    net = next((r for r in list_networks(engine) if r["name"] == network), None)
    n.add("inputs", "道路网络", "road network", network)
    if net is not None:
        built = net.get("built_at")
        if built is not None:
            n.add("inputs", "道路网络生成时间", "road network built",
                  built.astimezone().strftime("%Y-%m-%d %H:%M %z"))
        if net.get("source_file"):
            n.add("inputs", "道路数据文件", "road file", str(net["source_file"]))
        n.add("inputs", "道路网络节点 / 路段", "road nodes / edges",
              f"{net['nodes']:,} / {net['edges']:,}")
    return n


def _estimates(n: Notes, p: dict | None) -> None:
    """How many people are placed exactly, approximately (and how) or not at all."""
    if not p:
        n.add("estimates", "人口定位", "people placed", "未知 unknown: no placement summary")
        return
    n.text("estimates", "人口定位（估算说明）", "people placed (estimate statement)",
           f"准确定位 {p['exact']:,.0f} 人，估算定位 {p['approximate']:,.0f} 人，无法定位 "
           f"{p['not_placed']:,.0f} 人（共 {p['total']:,.0f} 人）；估算定位的人口按其估算位置计入",
           f"people placed exactly {p['exact']:,.0f}, approximately {p['approximate']:,.0f}, "
           f"not placed {p['not_placed']:,.0f} (of {p['total']:,.0f}); people placed "
           "approximately count where their estimated point lies")
    n.add("estimates", "准确定位人口", "people placed exactly", p["exact"])
    n.add("estimates", "估算定位人口", "people placed approximately", p["approximate"])
    n.add("estimates", "无法定位人口", "people not placed", p["not_placed"])
    for how, people in p.get("approximate_by", {}).items():
        n.add("estimates", f"估算方式：{how}", f"approximately by {how}", people)


def coverage_workbook(path: Path, frame, inputs, layer: str, notes: Notes, *, lang: str = "zh",
                      assignment: Any = None) -> None:
    """`emgis coverage --out x.xlsx`: 村庄 villages, 避难场所 shelters (capacities), 定位
    placement and 说明 notes."""
    d = inputs.demand
    v = _plain(frame)
    if "township_code" in d.columns:
        at = list(v.columns).index("name") + 1
        v.insert(at, "township", d["township_code"].to_numpy())
        v.insert(at + 1, "township_name", d["township_name"].to_numpy())
    sheets = [Sheet("村庄", "villages", v, _class_columns(v, layer))]
    if assignment is not None:
        sh = assignment.shelters.drop(columns=["standard_s"], errors="ignore")
        sh["standard_min"] = assignment.shelters["standard_s"].to_numpy(dtype=float) / 60
        sheets.append(Sheet("避难场所", "shelters", sh, SHELTER_COLUMNS))
    sheets += _placement_sheet(inputs)
    write_workbook(path, sheets, COLUMNS, lang=lang, notes=notes,
                   names={"township_name": getattr(inputs, "township_names", {}) or {}})


def gaps_workbook(path: Path, villages, townships, inputs, notes: Notes, *, lang: str = "zh",
                  hazard: pd.DataFrame | None = None, facility_names=None) -> None:
    """`emgis gaps --out x.xlsx`: 村庄 villages, 乡镇 townships (ranked), 定位 placement, 危险区
    村庄 hazard villages (shelters) and 说明 notes."""
    sheets = [Sheet("村庄", "villages", villages), Sheet("乡镇", "townships", townships)]
    sheets += _placement_sheet(inputs)
    if hazard is not None:
        h = hazard.copy()
        names = facility_names or {}
        at = list(h.columns).index("facility_id")
        h.insert(at, "facility", [None if pd.isna(f) or f == -1 else names.get(f, f)
                                  for f in h["facility_id"].astype(object)])
        h = h.drop(columns="facility_id")
        sheets.append(Sheet("危险区村庄", "hazard_villages", h))
    write_workbook(path, sheets, COLUMNS, lang=lang, notes=notes,
                   names={"township_name": getattr(inputs, "township_names", {}) or {}})


def site_workbook(path: Path, chosen, inputs, notes: Notes, *, lang: str = "zh") -> None:
    """`emgis site --out x.xlsx`: 新选址 new sites, 定位 placement and 说明 notes."""
    sheets = [Sheet("新选址", "new_sites", _plain(chosen), SITE_COLUMNS),
              *_placement_sheet(inputs)]
    write_workbook(path, sheets, COLUMNS, lang=lang, notes=notes)


#: the fire-district sheet (`shelters.districts.fire_districts` table): an unchecked area or
#: reach is 未知, never a pass or 0
DISTRICT_COLUMNS = {
    "station_id": Column("数据库编号", "database id", "code"),
    "ext_id": Column("编号", "ID", "code", names="name"),
    "name": Column("消防站", "fire station", "name"),
    "fire_class": Column("消防站类别", "station class",
                         labels={k: (t.zh, k) for k, t in vocab.FIRE_CLASS.items()}),
    "nodes": Column("辖区路网节点数", "road nodes", "count"),
    "nodes_within": Column("标准时间内节点数", "nodes within the standard", "count"),
    "max_time_min": Column("最远节点用时（分钟）", "longest time (min)", "minutes",
                           unknown=True),
    "area_km2": Column("辖区面积（平方公里）", "area (km²)", "area"),
    "reach_share": Column("标准时间内可达面积比例", "area reached within the standard",
                          "percent", unknown=True),
    "limit_km2": Column("面积上限（平方公里）", "area limit (km²)", "area", unknown=True),
    "limit_norm": Column("面积上限规范键", "area limit norm"),
    "area_ok": Column("面积达标", "area ok", "flag", unknown=True),
    "reach_ok": Column("可达达标", "reach ok", "flag", unknown=True),
    "ok": Column("达标", "ok", "flag"),
    "check": Column("检查说明", "check"),
}


def districts_workbook(path: Path, d, notes: Notes, *, lang: str = "zh") -> None:
    """`emgis fire-districts --out x.xlsx`: 消防站辖区 districts and 说明 notes (the method of
    the polygons, the unreachable part and the norms read)."""
    n = notes
    n.add("estimates", "不可达路网节点", "unreachable road nodes", int(d.unreachable.size))
    n.add("estimates", "不可达面积（平方公里）", "unreachable area (km²)",
          round(float(d.unreachable_km2), 3))
    n.add("estimates", "辖区多边形方法", "district polygons", d.method)
    n.lines("notes", "分析说明", "analysis note", list(d.notes))
    table = pd.DataFrame(d.table.drop(columns="geometry"))
    write_workbook(path, [Sheet("消防站辖区", "districts", table)], DISTRICT_COLUMNS, lang=lang,
                   notes=n)


#: the relief workbooks (`emgis relief needs / allocate / check`, shelters/relief_service.py)
RELIEF_COLUMNS = {
    "dest_id": Column("目的地代码", "destination code", "code"),
    "name": Column("名称", "name", "name"),
    "destination": Column("目的地", "destination", "name"),
    "depot_id": Column("储备库编号", "depot id", "code"),
    "depot": Column("储备库", "depot", "name"),
    "population": Column("人口", "population", "count"),
    "displaced": Column("转移安置人数", "relocated", "number"),
    "households": Column("户数", "households", "number"),
    "item": Column("物资", "item", "name"),
    "unit": Column("单位", "unit"),
    "need": Column("需求量", "need", "number"),
    "received": Column("已分配", "received", "number"),
    "unmet": Column("缺口", "unmet", "number"),
    "stock": Column("库存", "stock", "number"),
    "reachable_stock": Column("时限内可达库存", "stock within the limit", "number"),
    "quantity": Column("调拨数量", "quantity", "number"),
    "hours": Column("到达用时（小时）", "hours", "number", fmt="0.0"),
    "village": Column("村代码", "village code", "code", names="name"),
    "reachable": Column("时限内可达", "reachable in time", "flag", unknown=True),
    "short": Column("缺少物资", "short of"),
    "check": Column("检查项", "check"),
    "provided": Column("提供量", "provided", "number", fmt="#,##0.00"),
    "minimum": Column("最低标准", "minimum", "number", fmt="#,##0.00"),
    "ok": Column("达标", "ok", "flag", unknown=True),
    "key": Column("规范键", "norm"),
    "keys": Column("规范键", "norms"),
    "source": Column("依据", "source"),
}


def relief_workbook(path: Path, sheets: dict[tuple[str, str], list[dict]], notes: Notes, *,
                    lang: str = "zh") -> None:
    """A relief answer's tables (``{(Chinese name, English name): rows}``) and its notes."""
    write_workbook(path, [Sheet(zh, en, pd.DataFrame(rows)) for (zh, en), rows in sheets.items()],
                   RELIEF_COLUMNS, lang=lang, notes=notes)
