"""The demo county's readiness data: an expert roster, team equipment lists, assessment dates.

All synthetic (every expert's name says 合成, phone numbers are in the unassigned 100-xxxx
range). Drawn from a generator of its own (``seed`` + `SEED_OFFSET`), after everything else, so
the rest of the demo county is the same with or without it. Planted findings for the readiness
report: two comprehensive teams short of their minimum list, two with no list at all (unknown),
one water-rescue team whose boats are in repair, one social rescue force never assessed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from numpy.random import PCG64, Generator

from emgis.layers import vocab
from emgis.layers.demo.common import World, place_near

SEED_OFFSET = 1017
ASSESSED = {"volunteer": ("2024-05-20", "2025-03-18", None)}

#: (name, specialities, unit, title) — 12 experts, the seed's ten specialities all present
EXPERTS = (
    ("王建国（合成）", "应急管理;减灾救灾", "示范县应急管理局", "高级工程师"),
    ("李明华（合成）", "危化", "示范县化工园区管委会", "注册安全工程师"),
    ("张志强（合成）", "危化;应急管理", "示范县某化工企业", "高级工程师"),
    ("刘海燕（合成）", "电气", "示范县供电公司", "高级工程师"),
    ("陈立新（合成）", "矿山", "示范县自然资源局", "工程师"),
    ("杨德胜（合成）", "机械", "示范县市场监管局", "高级工程师"),
    ("赵文博（合成）", "交通", "示范县交通运输局", "工程师"),
    ("黄国庆（合成）", "建筑", "示范县住房和城乡建设局", "高级工程师"),
    ("周水清（合成）", "防汛", "示范县水利局", "高级工程师"),
    ("吴长江（合成）", "防汛;减灾救灾", "示范县水利局", "工程师"),
    ("徐地宁（合成）", "地震地质", "示范县地震监测中心", "高级工程师"),
    ("孙明理（合成）", "地震地质;建筑", "示范县自然资源局", "工程师"),
)
AVAILABILITY = ("可调用",) * 10 + ("出差", "受限")

#: a full list per team type (kind, item name, quantity): what the norms' minimum lists ask
FULL = {
    "comprehensive": (("breaching_kit", "液压破拆工具组", 1),
                      ("life_detector", "雷达生命探测仪", 1), ("generator", "发电机组", 1),
                      ("lighting", "移动照明灯组", 2),
                      ("satellite_phone", "海事卫星电话", 1), ("life_jacket", "救生衣", 20)),
    "water_rescue": (("assault_boat", "冲锋舟", 2), ("life_jacket", "救生衣", 40),
                     ("rescue_rope", "救生抛投器", 4)),
    "flood": (("assault_boat", "冲锋舟", 1), ("water_pump", "排涝泵", 2),
              ("life_jacket", "救生衣", 30), ("lighting", "照明设备", 2)),
    "volunteer": (("first_aid_kit", "急救箱", 3), ("lighting", "照明设备", 1),
                  ("drone", "无人机", 1)),
}


def with_assessments(teams: pd.DataFrame) -> pd.DataFrame:
    """``teams`` with an ``assessed_on`` column: the social rescue forces' assessment dates (one
    never assessed), blank for the other teams."""
    out = teams.copy()
    dates: list[str | None] = [None] * len(out)
    vol = np.flatnonzero(out["team_type"].to_numpy() == "volunteer")
    for i, d in zip(vol, ASSESSED["volunteer"], strict=False):
        dates[i] = d
    out["assessed_on"] = dates
    return out


def draw_equipment(teams: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Equipment lists of the comprehensive, water-rescue, flood and volunteer teams."""
    rng = Generator(PCG64(int(seed) + SEED_OFFSET))
    rows = []
    comp = teams.index[teams["team_type"] == "comprehensive"].tolist()
    no_list = set(comp[-2:])          # two township teams never sent their list: unknown
    short = set(comp[2:4])            # two are short of their minimum list
    water = teams.index[teams["team_type"] == "water_rescue"].tolist()
    for i, t in teams.iterrows():
        full = FULL.get(t["team_type"])
        if full is None or i in no_list:
            continue
        for kind, item, n in full:
            qty, state = int(n + rng.integers(0, 2)), "完好"
            if i in short and kind in ("life_detector", "satellite_phone"):
                qty = 0
            if water and i == water[-1] and kind == "assault_boat":
                state = "维修"
            rows.append({"队伍编号": t["id"], "装备名称": item,
                         "装备类别": vocab.EQUIPMENT_KIND[kind].zh, "数量": qty, "状态": state})
    return pd.DataFrame(rows, columns=["队伍编号", "装备名称", "装备类别", "数量", "状态"])


def draw_experts(w: World, to_wgs, seed: int) -> pd.DataFrame:
    """Twelve experts based near the seat and the township centres."""
    rng = Generator(PCG64(int(seed) + SEED_OFFSET + 1))
    towns = w.towns.reset_index(drop=True)
    rows = []
    for i, (name, spec, unit, title) in enumerate(EXPERTS):
        base = w.seat if i % 3 == 0 else (towns.at[i % len(towns), "x"],
                                          towns.at[i % len(towns), "y"])
        x, y = place_near(rng, w, base, 600)
        lon, lat = to_wgs.transform(x, y)
        rows.append({"编号": f"EXP{i + 1:03d}", "姓名": name, "专业": spec, "工作单位": unit,
                     "职称": title, "联系电话": f"100-0000-{i + 1:04d}",
                     "状态": AVAILABILITY[i], "经度": round(lon, 6), "纬度": round(lat, 6)})
    return pd.DataFrame(rows)


def write_readiness_files(out: Path, w: World, to_wgs, teams: pd.DataFrame,
                          seed: int) -> dict[str, Path]:
    """Write experts.csv and team_equipment.csv (UTF-8 with BOM, as Excel saves) into ``out``."""
    paths = {"experts": Path(out) / "experts.csv",
             "team_equipment": Path(out) / "team_equipment.csv"}
    draw_experts(w, to_wgs, seed).to_csv(paths["experts"], index=False, encoding="utf-8-sig",
                                         lineterminator="\n")
    draw_equipment(teams, seed).to_csv(paths["team_equipment"], index=False,
                                       encoding="utf-8-sig", lineterminator="\n")
    return paths
