"""The demo county's facilities: shelters, supply depots with stock, rescue-team bases.

Placed where a county would put them (near the seat, the township seats, populous villages,
outside the danger zones where possible), with the mistakes a gap analysis should find:
two flood shelters inside the high flood zone, teams below the staffing norm.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.random import Generator
from shapely.geometry import LineString, Point

from emgis.layers.demo.common import World, codes_at, largest_line, off, place_near, town_name


def _unit_at(w: World, xy) -> str:
    """Return the 2023 village code at ``xy``."""
    return codes_at(w, gpd.GeoSeries([Point(xy)]))[0]


def _pick_villages(rng: Generator, w: World, mask: np.ndarray, k: int) -> pd.DataFrame:
    """Return ``k`` distinct villages among ``mask``, drawn with probability ~ population."""
    vil = w.villages[mask & (w.villages["pop_2023"] > 0) & (w.villages["safe_km2"] > 0.2)]
    p = vil["pop_2023"].to_numpy(dtype=float)
    idx = rng.choice(len(vil), size=min(k, len(vil)), replace=False, p=p / p.sum())
    return vil.iloc[np.sort(idx)]


def draw_shelters(rng: Generator, w: World) -> pd.DataFrame:
    rows: list[dict] = []
    seat = w.seat

    def add(name, admin, design, duration, hazards, space, area, xy):
        rows.append({"name": name, "admin": admin, "design": design, "duration": duration,
                     "hazards": hazards, "space": space, "area": round(float(area), -1),
                     "x": xy[0], "y": xy[1]})

    add("示范县体育中心", "县级", "中心", "长期", "地震;洪涝;地质灾害;台风;火灾", "室外",
        rng.uniform(55_000, 65_000), place_near(rng, w, off(seat, 200, 1300), 200))
    add("示范县第一中学操场", "县级", "固定", "中期", "地震;火灾", "室外",
        rng.uniform(14_000, 20_000), place_near(rng, w, off(seat, -900, 900), 300))
    add("人民公园", "县级", "固定", "短期", "地震;火灾", "室外",
        rng.uniform(24_000, 30_000), place_near(rng, w, off(seat, 1200, 1400), 300))
    add("示范县全民健身中心体育馆", "县级", "固定", "中期", "地震;洪涝;台风", "室内",
        rng.uniform(5000, 7000), place_near(rng, w, off(seat, -300, 2000), 300))
    tp = w.villages.groupby("township")["pop_2023"].sum()
    towns = w.towns[w.towns["kind"] != "street"].copy()
    towns["pop"] = towns["code"].map(tp)
    for _, t in towns.sort_values("pop", ascending=False, kind="stable").head(3).iterrows():
        add(f"{t['name']}中学", "乡镇级", "固定", "短期", "地震;火灾", "室外",
            rng.uniform(8000, 14_000), place_near(rng, w, (t["x"], t["y"]), 500))
    for _, t in towns.iterrows():
        add(f"{t['name']}中心小学操场", "乡镇级", "紧急", "紧急", "地震;火灾", "室外",
            rng.uniform(2500, 6000), place_near(rng, w, (t["x"], t["y"]), 400))
    urban = w.villages["urban_rural"].isin(["111", "112"]).to_numpy()
    for _, v in _pick_villages(rng, w, urban, 8).iterrows():
        kind = "文化广场" if rng.random() < 0.6 else "口袋公园"
        add(v["short"] + kind, "村级", "紧急", "紧急", "地震", "室外",
            rng.uniform(1200, 4000), place_near(rng, w, (v["x"], v["y"]), 250, region=_in(w, v)))
    rural = w.villages["urban_rural"].isin(["122", "123", "210", "220"]).to_numpy()
    for i, (_, v) in enumerate(_pick_villages(rng, w, rural, 18).iterrows()):
        xy = place_near(rng, w, (v["x"], v["y"]), 250, region=_in(w, v))
        if i % 2:
            add(v["short"] + "文化礼堂", "村级", "紧急", "短期",
                "洪涝;台风;地质灾害" if v["hilly"] else "洪涝;台风",
                "室内", rng.uniform(350, 900), xy)
        else:
            add(v["short"] + "村民广场", "村级", "紧急", "紧急", "地震;火灾", "室外",
                rng.uniform(1500, 3500), xy)
    # Two realistic mistakes for the gap analysis: flood shelters sited inside the flood corridor.
    flood = w.zones[w.zones["hazard_type"] == "flood"]
    high = flood.geometry[flood["level"] == "high"].iloc[0]
    wet = w.villages[w.villages.intersects(high) & (w.villages["pop_2023"] > 0)]
    wet = wet.iloc[np.argsort(-wet.intersection(high).area.to_numpy(), kind="stable")[:2]]
    for (_, v), (suffix, space, dur, area) in zip(
            wet.iterrows(),
            (("河滨广场", "室外", "紧急", 2500), ("沿河文化礼堂", "室内", "短期", 600)),
            strict=True):
        region = high.intersection(_in(w, v)).intersection(w.inner)
        add(v["short"] + suffix, "村级", "紧急", dur,
            "地震;洪涝" if space == "室外" else "洪涝;台风", space,
            area * rng.uniform(0.8, 1.2),
            place_near(rng, w, region.representative_point().coords[0], 150,
                       avoid=False, region=region))
    df = pd.DataFrame(rows)
    n = len(df)
    df["status"] = "开放"
    village_rows = np.flatnonzero(df["admin"] == "村级")[:-2]
    pick = rng.choice(village_rows, 4, replace=False)
    df.loc[pick, "status"] = ["关闭", "关闭", "不可用", "规划"]
    df.loc[df.index[6], "status"] = "规划"  # the third township middle school is still being built
    df["capacity"] = pd.array([pd.NA] * n, dtype="Int64")
    stated = rng.random(n) < 0.5
    ratio = rng.uniform(1.2, 3.0, n)  # m² per person the owner assumed; some below the norm
    df.loc[stated, "capacity"] = (np.floor(df["area"] / ratio / 10) * 10).astype(np.int64)[stated]
    df["occupancy"] = 0
    open_ = np.flatnonzero(df["status"] == "开放")
    df.loc[rng.choice(open_, 2, replace=False), "occupancy"] = rng.integers(20, 150, 2)
    return df


def _in(w: World, v: pd.Series) -> shapely.Geometry:
    """Return the 2023 polygon holding village ``v`` (its own, or the one it merged into)."""
    code = w.merged[1] if v["code"] == w.merged[0] else v["code"]
    return w.units.geometry[w.units["code"] == code].iloc[0].intersection(w.inner)


def draw_depots(rng: Generator, w: World) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [{"name": "示范县救灾物资储备库", "level": "县级",
             "area_m2": round(rng.uniform(650, 800)),
             "status": "启用", "xy": place_near(rng, w, off(w.seat, 2200, 1200), 300)}]
    for _, t in w.towns.iterrows():
        rows.append({"name": f"{t['name']}应急物资储备点", "level": "乡镇级",
                     "area_m2": round(rng.uniform(120, 400)),
                     "status": "启用", "xy": place_near(rng, w, (t["x"], t["y"]), 300)})
    for i in rng.choice(np.arange(1, len(w.towns)), 2, replace=False):
        rows[1 + int(i)]["status"] = "停用"
    rural = (w.villages["urban_rural"] == "220").to_numpy()
    for j, (_, v) in enumerate(_pick_villages(rng, w, rural, 10).iterrows()):
        rows.append({"name": f"{v['short']}应急物资储备点", "level": "村级",
                     "area_m2": round(rng.uniform(30, 90)),
                     "status": "停用" if j == 3 else "启用",
                     "xy": place_near(rng, w, (v["x"], v["y"]), 200, region=_in(w, v))})
    # A real city or provincial depot would lie outside the county. To keep every demo file
    # inside the study area, both are placed just inside the outline (0.3-2 km from its
    # edge), on the side facing the (imaginary) city to the north-east / province to the east.
    for name, level, angle in (("示范市救灾物资储备库（合成）", "市级", 40.0),
                               ("省救灾物资储备库示范分库（合成）", "省级", 5.0)):
        rows.append({"name": name, "level": level,
                     "area_m2": round(rng.uniform(3000, 4500) * (1 if level == "市级" else 2)),
                     "status": "启用", "xy": _edge_point(rng, w, angle)})
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"CK{i + 1:03d}" for i in range(len(df))])
    base = {"县级": 1.0, "市级": 3.0, "省级": 6.0, "乡镇级": 0.1, "村级": 0.015}
    items = (("帐篷", "顶", 450), ("棉被", "床", 3000), ("折叠床", "张", 1100),
             ("饮用水", "L", 30_000),              ("方便食品", "kg", 7500), ("发电机", "台", 15))
    stock = []
    for _, d in df[df["status"] == "启用"].iterrows():
        for item, unit, q in items:
            qty = q * base[d["level"]] * rng.uniform(0.6, 1.4)
            if qty >= 1:
                stock.append({"depot_id": d["id"], "item": item,
                              "quantity": int(round(qty, -1) if qty > 100 else round(qty)),
                              "unit": unit})
    return df, pd.DataFrame(stock)


def _edge_point(rng: Generator, w: World, angle_deg: float) -> np.ndarray:
    c = np.array(w.outline.centroid.coords[0])
    a = np.radians(angle_deg + rng.uniform(-10, 10))
    ray = LineString([c, c + 60_000 * np.array([np.cos(a), np.sin(a)])])
    hit = np.array(largest_line(ray.intersection(w.outline)).coords[-1])
    inward = (c - hit) / np.hypot(*(c - hit))
    return hit + inward * rng.uniform(700, 1500)


_TEAM_SPECS = {
    "fire_station": "灭火;抢险救援",
    "comprehensive": "抢险救援;人员搜救;转移安置",
    "forest_fire": "森林灭火;以水灭火;隔离带开设",
    "water_rescue": "水域救援;潜水搜救;冲锋舟",
    "flood": "抗洪抢险;堤防巡查;排涝",
    "hazchem": "危化品处置;侦检;洗消",
    "medical": "紧急医学救援;现场救护;防疫",
    "mine": "矿山救护;边坡抢险",
    "volunteer": "应急救护;人员搜救;物资转运",
}


def draw_teams(rng: Generator, w: World) -> pd.DataFrame:
    rows: list[dict] = []
    seat = w.seat

    def add(name, kind, xy, personnel, vehicles, fire_class=None, spec=None):
        rows.append({"name": name, "team_type": kind, "specialities": spec or _TEAM_SPECS[kind],
                     "personnel": int(personnel), "vehicles": int(vehicles),
                     "fire_class": fire_class,                      "xy": xy})

    add("城东消防救援站", "fire_station", place_near(rng, w, off(seat, 1500, 500), 300),
        rng.integers(45, 61),
        rng.integers(8, 11), "class1", "灭火;抢险救援;危化品处置")
    add("城西消防救援站", "fire_station", place_near(rng, w, off(seat, -1600, 200), 300),
        rng.integers(30, 41),
        rng.integers(5, 8), "class2")
    park = np.array(w.park.centroid.coords[0])
    add("工业园区消防救援站", "fire_station", place_near(rng, w, off(park, -900, 0), 200),
        rng.integers(30, 41),
        rng.integers(5, 8), "class2", "灭火;抢险救援;危化品处置")
    rural = w.towns[w.towns["kind"] != "street"]
    for _, t in rural.iloc[:2].iterrows():
        add(f"{t['name']}专职消防队", "fire_station", place_near(rng, w, (t["x"], t["y"]), 300),
            rng.integers(15, 21), 3,
            "small")
    staff = rng.integers(30, 41, len(w.towns))
    # two teams below the 30-person norm
    staff[rng.choice(len(w.towns), 2, replace=False)] = rng.integers(20, 29, 2)
    for (_, t), n in zip(w.towns.iterrows(), staff, strict=True):
        add(f"{t['name']}综合性应急救援队", "comprehensive",
            place_near(rng, w, (t["x"], t["y"]), 400), n,
            rng.integers(2, 6))
    hill_region = w.hills.intersection(w.inner)
    add("示范县森林消防专业队", "forest_fire",
        place_near(rng, w, hill_region.representative_point().coords[0], 800, region=hill_region),
        rng.integers(30, 41), rng.integers(4, 7))
    hill_towns = rural[shapely.intersects(np.array(rural["geometry"]), w.hills)]
    for _, t in hill_towns.head(2).iterrows():
        add(f"{t['name']}半专业扑火队", "forest_fire", place_near(rng, w, (t["x"], t["y"]), 400),
            rng.integers(20, 31),
            rng.integers(1, 4))
    for name, frac in (("示范县水上救援队", None), ("下游水域救援分队", 0.8)):
        add(name, "water_rescue", _river_bank(rng, w, frac), rng.integers(15, 26),
            rng.integers(2, 5))
    add("示范县防汛抢险突击队", "flood", place_near(rng, w, off(seat, 0, -800), 300),
        rng.integers(50, 81),
        rng.integers(4, 9))
    xy = _river_bank(rng, w, 0.3)
    add(f"{town_name(w, _unit_at(w, xy))}防汛抢险队", "flood", xy, rng.integers(30, 51),
        rng.integers(2, 5))
    add("工业园区危化品应急救援队", "hazchem", place_near(rng, w, park, 300, region=w.park),
        rng.integers(20, 31),
        rng.integers(3, 6))
    add("县人民医院卫生应急救援队", "medical", place_near(rng, w, off(seat, -500, 600), 250),
        rng.integers(20, 31),
        rng.integers(3, 7))
    add("示范县矿山救护队", "mine",
        place_near(rng, w, hill_region.centroid.coords[0], 1500, region=hill_region),
        rng.integers(15, 26), rng.integers(2, 5))
    add("示范县蓝天救援队", "volunteer", place_near(rng, w, off(seat, 800, -300), 400),
        rng.integers(40, 61),
        rng.integers(3, 7))
    add("示范县红十字应急救护队", "volunteer", place_near(rng, w, off(seat, -200, 300), 300),
        rng.integers(20, 41),
        rng.integers(1, 4))
    t = rural.iloc[3]
    add(f"{t['name']}民兵应急分队", "volunteer", place_near(rng, w, (t["x"], t["y"]), 400),
        rng.integers(25, 46),
        rng.integers(1, 3))
    df = pd.DataFrame(rows)
    df.insert(0, "id", [f"DW{i + 1:03d}" for i in range(len(df))])
    df["status"] = "available"
    others = np.flatnonzero(df["team_type"] != "comprehensive")
    pick = rng.choice(others, 3, replace=False)
    df.loc[pick, "status"] = ["deployed", "deployed", "unavailable"]
    return df


def _river_bank(rng: Generator, w: World, frac: float | None) -> np.ndarray:
    """Return a point about 0.9 km from the river (low flood zone), near ``frac`` of its course."""
    river = largest_line(w.river.intersection(w.inner))
    if frac is None:  # the reach closest to the county seat
        frac = river.project(Point(w.seat)) / river.length
    p = np.array(river.interpolate(frac, normalized=True).coords[0])
    side = np.sign((w.seat - p)[1]) or 1.0  # the bank facing the seat
    return place_near(rng, w, off(p, 0.0, side * 900.0), 100)
