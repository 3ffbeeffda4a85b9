"""The demo county's risks: hazard zones, risk points with LEC / matrix inputs, the register.

Risk inputs are drawn from tables grouped by the colour they were meant to illustrate; the
analysis, not the generator, decides the colour from the norms. The hidden-hazard register
has closed, open and overdue entries around :data:`REFERENCE_DATE`.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.random import Generator
from pyproj import Transformer
from shapely.geometry import LineString, Point, Polygon

from emgis.geo.geometry import repair_polygons
from emgis.layers.demo.common import (
    REFERENCE_DATE,
    RIVER,
    World,
    blob,
    invent_names,
    largest_line,
    place_near,
    sample,
)


def draw_hazard_zones(rng: Generator, outline: Polygon, river: LineString, hills: Polygon,
                      epsg: int):
    flood = [river.buffer(d).intersection(outline) for d in (250.0, 600.0, 1100.0)]
    shapely.prepare(hills)
    med_c = sample(rng, hills.buffer(-1500.0), 4, min_dist=3500.0)
    med = shapely.union_all([blob(rng, x, y, r, r * rng.uniform(0.7, 1.0), amp=0.15, kmax=5)
                             for (x, y), r in zip(med_c, rng.uniform(1800, 2600, 4), strict=True)])
    med = med.intersection(hills)
    high_c = sample(rng, med.buffer(-400.0), 6, min_dist=1200.0)
    high = shapely.union_all([blob(rng, x, y, r, r * rng.uniform(0.6, 1.0), amp=0.15, kmax=4, n=60)
                              for (x, y), r in zip(high_c, rng.uniform(450, 900, 6), strict=True)])
    high = high.intersection(hills)
    rows = [
        ("flood", "high", flood[0]),
        ("flood", "medium", flood[1].difference(flood[0])),
        ("flood", "low", flood[2].difference(flood[1])),
        *(("landslide", "high", g) for g in shapely.get_parts(high)),
        *(("landslide", "medium", g) for g in shapely.get_parts(med.difference(high))),
        ("landslide", "low", hills.difference(med).difference(high)),
    ]
    zones = gpd.GeoDataFrame(rows, columns=["hazard_type", "level", "geometry"],
                             geometry="geometry", crs=epsg)
    zones["geometry"], _ = repair_polygons(zones.geometry)
    zones = zones[zones.area > 10_000].reset_index(drop=True)  # drop slivers under 1 ha
    danger = shapely.union_all([flood[1], med])
    shapely.prepare(danger)
    return zones, danger


_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾"


def _person(rng: Generator) -> str:
    return _SURNAMES[int(rng.integers(len(_SURNAMES)))] + "某某"


# (L, E, C) recipes for LEC and (L, S) for the risk matrix, grouped by the tier they were
# drawn to illustrate; the analysis, not this table, decides the colour from the norms.
_LEC = {
    "red": [(6, 6, 15), (3, 6, 40), (10, 6, 7), (6, 3, 40), (3, 10, 15), (1, 6, 100)],
    "orange": [(3, 6, 15), (6, 6, 7), (1, 6, 40), (6, 3, 15), (10, 3, 7), (3, 10, 7)],
    "yellow": [(3, 6, 7), (1, 6, 15), (3, 3, 15), (6, 2, 7), (1, 3, 40)],
    "blue": [(1, 6, 7), (1, 3, 7), (3, 2, 3), (0.5, 6, 15), (1, 2, 15), (0.2, 3, 40), (0.5, 3, 7),
             (0.1, 6, 40), (3, 1, 7), (6, 1, 3), (1, 0.5, 40), (3, 6, 1)],
}
_MATRIX = {
    "red": [(4, 5), (5, 4), (5, 5)],
    "orange": [(3, 4), (4, 3), (2, 5), (3, 5), (4, 4)],
    "yellow": [(2, 3), (3, 3), (2, 4), (1, 5), (2, 2), (3, 2)],
    "blue": [(1, 2), (1, 3), (2, 1), (1, 1), (3, 1)],
}
_TIERS = ("red", "orange", "yellow", "blue")
_TIER_P = {
    "hazchem": (0.35, 0.35, 0.2, 0.1), "mine": (0.25, 0.35, 0.25, 0.15),
    "industrial": (0.08, 0.25, 0.4, 0.27), "fuel_station": (0.05, 0.25, 0.4, 0.3),
    "crowded": (0.07, 0.2, 0.43, 0.3),
    "high": (0.35, 0.4, 0.2, 0.05), "medium": (0.1, 0.4, 0.4, 0.1), "low": (0.0, 0.15, 0.45, 0.4),
}


def draw_risk_points(rng: Generator, w: World) -> pd.DataFrame:
    rows: list[dict] = []
    park = w.park.intersection(w.inner)
    taken = {str(v)[:2] for v in w.villages["name"]} | set(w.towns["base"])
    firms = iter(invent_names(rng, 40, taken))
    for xy in sample(rng, park, 6, min_dist=250.0):
        rows.append(("hazchem",
                     next(firms) + rng.choice(["化工有限公司", "气体有限公司",
                                               "新材料科技有限公司"]), xy))
    inds = ["纺织有限公司", "机械制造有限公司", "木业有限公司", "食品有限公司", "塑料制品有限公司",
            "五金有限公司"]
    for xy in sample(rng, park, 8, min_dist=200.0, existing=np.array([r[2] for r in rows])):
        rows.append(("industrial", next(firms) + rng.choice(inds), xy))
    rural = w.towns[w.towns["kind"] != "street"]
    for _, t in rural.iloc[:4].iterrows():
        rows.append(("industrial", next(firms) + rng.choice(inds),
                     place_near(rng, w, (t["x"], t["y"]), 800)))
    fuel: list[np.ndarray] = []
    for _ in range(2000):
        if len(fuel) == 12:
            break
        road = w.roads[int(rng.integers(len(w.roads)))]
        p = road.interpolate(rng.uniform(0.1, 0.9), normalized=True)
        xy = place_near(rng, w, p.coords[0], 30, avoid=False)
        if all(np.hypot(*(xy - f)) > 1500 for f in fuel):
            fuel.append(xy)
    for i, xy in enumerate(fuel):
        brand = "中国石化" if i % 3 else "中国石油"
        rows.append(("fuel_station", f"{brand}{_place(w, xy)}加油站", xy))
    ls_zones = w.zones[w.zones["hazard_type"] == "landslide"]
    ls_hot = shapely.union_all(ls_zones.geometry[ls_zones["level"] != "low"].to_numpy())
    ls_hot = ls_hot.intersection(w.inner)
    hills = w.hills.intersection(w.inner)
    pts = np.vstack([sample(rng, ls_hot, 11, min_dist=600.0),
                     sample(rng, hills, 7, min_dist=600.0)])
    for xy in pts:
        rows.append(("landslide",
                     f"{_place(w, xy)}{rng.choice(['后山', '山塘', '岭脚', '公路边坡'])}滑坡隐患点",
                     xy))
    river = largest_line(w.river.intersection(w.inner))
    for frac in np.sort(rng.uniform(0.03, 0.97, 14)):
        p = np.array(river.interpolate(frac, normalized=True).coords[0])
        xy = place_near(rng, w, p, 350, avoid=False)
        kind = rng.choice(['河段易涝点', '堤防险段', '低洼易涝区'])
        rows.append(("flood", f"{_place(w, xy)}{RIVER}{kind}", xy))
    crowded = ["县人民医院", "示范县第一中学", "示范县实验小学", "县汽车客运站", "万象商贸城",
               "城南农贸市场", "县人民大会堂", "县中医院", "示范县职业技术学校", "新世纪购物广场",
               "城北农贸市场", "县图书馆"]
    sites = sample(rng, w.inner, len(crowded), min_dist=300.0, around=tuple(w.seat), sd=1200.0,
                   avoid=w.danger)
    for name, xy in zip(crowded, sites, strict=True):
        rows.append(("crowded", name, xy))
    for _, t in rural.iloc[:2].iterrows():
        rows.append(("crowded", f"{t['name']}中心学校", place_near(rng, w, (t["x"], t["y"]), 400)))
    for xy in sample(rng, hills, 4, min_dist=2000.0, avoid=ls_hot):
        rows.append(("mine", f"{_place(w, xy)}{rng.choice(['建筑石料矿', '石灰石矿', '萤石矿'])}",
                     xy))

    out = []
    for i, (cat, name, xy) in enumerate(rows):
        key = cat if cat not in ("landslide", "flood") else _zone_level(w, cat, xy)
        tier = _TIERS[int(rng.choice(4, p=_TIER_P[key]))]
        matrix = ((cat in ("landslide", "flood") and rng.random() < 0.8)
                  or (cat == "crowded" and rng.random() < 0.5))
        rec = {"id": f"FX{i + 1:03d}", "name": name, "category": cat,
               "method": "matrix" if matrix else "LEC",
               "L": np.nan, "E": np.nan, "C": np.nan, "S": np.nan, "x": xy[0], "y": xy[1]}
        if matrix:
            rec["L"], rec["S"] = _MATRIX[tier][int(rng.integers(len(_MATRIX[tier])))]
        else:
            rec["L"], rec["E"], rec["C"] = _LEC[tier][int(rng.integers(len(_LEC[tier])))]
        rec["tier"] = tier
        out.append(rec)
    df = pd.DataFrame(out)
    df["name"] = _unique(df["name"].tolist())
    # Guarantee a few reds for the four-colour map even with an unlucky seed.
    short = 5 - int((df["tier"] == "red").sum())
    if short > 0:
        cand = np.flatnonzero(df["category"].isin(["hazchem", "mine"])
                              & (df["tier"] != "red"))[:short]
        red = ["LEC", 6.0, 6.0, 15.0, np.nan, "red"]
        for i in cand:
            df.loc[i, ["method", "L", "E", "C", "S", "tier"]] = red
    for c in "LECS":
        df[c] = df[c].astype(float)
    return df


def _unique(names: list[str]) -> list[str]:
    """Number repeated names the way registers do: 某某点, 某某点（二）, 某某点（三）."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}（{'一二三四五六七八九十'[min(seen[n], 10) - 1]}）")
    return out


def _zone_level(w: World, hazard: str, xy) -> str:
    z = w.zones[(w.zones["hazard_type"] == hazard) & w.zones.contains(Point(xy))]
    return str(z["level"].iloc[0]) if len(z) else "low"


def _place(w: World, xy) -> str:
    """Return the short name of the village at ``xy`` (for naming a site after its place)."""
    villages = w.units.loc[w.units["level"] == "village"]
    return str(villages.loc[lambda u: u.contains(Point(xy)), "name"]
               .pipe(lambda s: s.iloc[0] if len(s) else "示范")
               .replace("社区居委会", "").replace("村委会", ""))


_HAZARD_TEXT = {
    "hazchem": [("储罐区可燃气体报警器失效", "更换报警探头并联网至园区监控平台"),
                ("危化品仓库超量储存", "清理超量物料，按核定储量管理"),
                ("装卸区静电接地装置损坏", "修复静电接地，装卸前检测")],
    "industrial": [("除尘系统未定期清理", "建立清扫制度，每班清理并记录"),
                   ("有限空间作业未审批", "落实作业审批和监护人制度"),
                   ("消防通道堆放杂物", "清理通道，设置禁止堆放标识")],
    "fuel_station": [("油罐区防雷检测过期", "委托检测机构完成防雷检测"),
                     ("卸油口未设防溢措施", "加装防溢流阀")],
    "landslide": [("坡体出现拉张裂缝", "设置警示牌，雨季专人巡查，裂缝封填"),
                  ("截排水沟堵塞", "清理截排水沟"),
                  ("坡脚住户未搬迁", "汛期前组织避让搬迁")],
    "flood": [("堤防渗漏", "汛前完成防渗处理，备足抢险物料"),
              ("排涝泵站设备老化", "更新水泵机组并试运行"),
              ("河道行洪断面被侵占", "拆除阻水建筑，恢复行洪断面")],
    "crowded": [("安全出口被锁闭", "立即打开安全出口，落实巡查"),
                ("疏散指示标志损坏", "更换疏散指示标志和应急照明"),
                ("消防设施未定期维保", "委托维保单位按月维保")],
    "mine": [("边坡超高超陡", "按设计削坡减载，设置监测点"),
             ("爆破器材管理不规范", "完善出入库登记，专人保管")],
}


def draw_hazards(rng: Generator, w: World, risks: pd.DataFrame,
                 to_wgs: Transformer) -> pd.DataFrame:
    weight = risks["tier"].map({"red": 4.0, "orange": 3.0, "yellow": 1.5, "blue": 0.5}).to_numpy()
    idx = np.sort(rng.choice(len(risks), 23, replace=False, p=weight / weight.sum()))
    states = np.array(["closed"] * 6 + ["rectifying"] * 6 + ["under_control"] * 4
                      + ["confirmed"] * 4 + ["discovered"] * 3 + ["rectifying", "confirmed"])
    states = states[rng.permutation(len(states))]
    open_ = np.flatnonzero(states != "closed")
    overdue = set(rng.choice(open_, 4, replace=False).tolist())
    rows = []
    sources = [(risks.iloc[i]["id"], risks.iloc[i]["category"], risks.iloc[i]["x"],
                risks.iloc[i]["y"]) for i in idx]
    for _ in range(2):  # hazards found on patrol that belong to no registered risk point
        xy = sample(rng, w.hills.intersection(w.inner), 1)[0]
        sources.append(("", "landslide", xy[0], xy[1]))
    for k, ((rid, cat, x, y), state) in enumerate(zip(sources, states, strict=True)):
        title, measures = _HAZARD_TEXT[cat][int(rng.integers(len(_HAZARD_TEXT[cat])))]
        if not rid:
            title = "公路边坡落石"
            measures = "清理危岩，设置防护网"
        if state == "closed":
            found = REFERENCE_DATE - dt.timedelta(days=int(rng.integers(150, 420)))
            deadline = found + dt.timedelta(days=int(rng.integers(30, 90)))
        elif k in overdue:
            deadline = REFERENCE_DATE - dt.timedelta(days=int(rng.integers(5, 90)))
            found = deadline - dt.timedelta(days=int(rng.integers(30, 120)))
        else:
            deadline = REFERENCE_DATE + dt.timedelta(days=int(rng.integers(10, 150)))
            found = REFERENCE_DATE - dt.timedelta(days=int(rng.integers(3, 90)))
        lon, lat = to_wgs.transform(x + rng.normal(0, 20), y + rng.normal(0, 20))
        rows.append({"id": f"YH{k + 1:03d}", "title": title, "risk_point_id": rid, "state": state,
                     "responsible": _person(rng), "deadline": deadline.isoformat(),
                     "measures": measures, "discovered_on": found.isoformat(),
                     "lon": round(lon, 6), "lat": round(lat, 6)})
    return pd.DataFrame(rows)
