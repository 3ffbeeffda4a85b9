"""Controlled vocabularies: the allowed values of every class or level field.

One place for each fact: the loaders map Chinese and English spellings onto these keys,
the database checks them, and the API and map legends read their labels from here.
Keys are stable English identifiers; each value carries its Chinese label and aliases.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    key: str
    zh: str
    aliases: tuple[str, ...] = ()


def _vocab(*terms: Term) -> dict[str, Term]:
    return {t.key: t for t in terms}


ADMIN_LEVEL = _vocab(
    Term("province", "省级", ("省", "省级", "provincial")),
    Term("city", "市级", ("市", "市级", "地级", "municipal")),
    Term("county", "县级", ("县", "县级", "区县", "县区")),
    Term("township", "乡镇级", ("乡镇", "乡镇级", "街道", "乡镇（街道）", "乡镇(街道)级", "town")),
    Term("village", "村级", ("村", "村级", "社区", "村（社区）", "村(社区)级", "community")),
)

# GB 51143-2015 §3.1.4 design classes
SHELTER_DESIGN_CLASS = _vocab(
    Term("emergency", "紧急避难场所", ("紧急", "紧急避难场所")),
    Term("fixed", "固定避难场所", ("固定", "固定避难场所")),
    Term("central", "中心避难场所", ("中心", "中心避难场所")),
)

# GB/T 44013-2024 duration classes (also the key of per-capita area and service time norms)
SHELTER_DURATION_CLASS = _vocab(
    Term("emergency", "紧急", ("紧急", "临时")),
    Term("short", "短期", ("短期", "短期固定")),
    Term("medium", "中期", ("中期", "中期固定")),
    Term("long", "长期", ("长期", "长期固定")),
)

HAZARD_TYPE = _vocab(
    Term("earthquake", "地震", ("地震",)),
    Term("flood", "洪涝", ("洪涝", "洪水", "防汛", "内涝")),
    Term("geological", "地质灾害", ("地质灾害", "滑坡", "泥石流", "landslide")),
    Term("typhoon", "台风", ("台风", "风灾")),
    Term("fire", "火灾", ("火灾", "消防")),
    Term("hazchem", "危化品", ("危化", "危化品", "毒气")),
    Term("general", "综合", ("综合", "通用", "all")),
)

SPACE_TYPE = _vocab(
    Term("outdoor", "室外", ("室外", "场地型", "露天")),
    Term("indoor", "室内", ("室内", "场所型")),
    Term("mixed", "室内外", ("室内外", "综合")),
)

SHELTER_STATUS = _vocab(
    Term("open", "开放", ("开放", "启用", "可用", "正常")),
    Term("closed", "关闭", ("关闭", "未开放")),
    Term("planned", "规划", ("规划", "在建", "拟建")),
    Term("unusable", "不可用", ("不可用", "损毁", "停用")),
)

DEPOT_STATUS = _vocab(
    Term("active", "启用", ("启用", "正常", "在用", "开放", "open")),
    Term("inactive", "停用", ("停用", "关闭", "closed")),
    Term("planned", "规划", ("规划", "在建")),
)

TEAM_TYPE = _vocab(
    Term("comprehensive", "综合性应急救援队伍",
         ("综合", "综合救援", "综合性应急救援队伍", "综合应急救援队")),
    Term("fire_station", "消防救援站", ("消防站", "消防救援站", "消防", "fire")),
    Term("forest_fire", "森林消防队伍", ("森林消防", "森林消防队", "扑火队")),
    Term("hazchem", "危化救援队伍", ("危化", "危化救援", "矿山危化")),
    Term("flood", "防汛抗旱队伍", ("防汛", "防汛抗旱", "抗洪")),
    Term("water_rescue", "水域救援队伍", ("水域救援", "水上救援")),
    Term("medical", "卫生应急队伍", ("医疗", "卫生应急", "医疗救援")),
    Term("mine", "矿山救援队伍", ("矿山", "矿山救护")),
    Term("geological", "地质灾害应急队伍", ("地质灾害", "地灾")),
    Term("utility", "公用事业保障队伍", ("公用事业", "电力", "通信")),
    Term("volunteer", "社会救援力量", ("志愿者", "社会力量", "社会救援力量", "民兵")),
)

TEAM_STATUS = _vocab(
    Term("available", "待命", ("待命", "可用", "空闲", "在岗")),
    Term("deployed", "出动", ("出动", "执行任务", "已派出")),
    Term("unavailable", "不可用", ("不可用", "休整", "维修")),
)

FIRE_CLASS = _vocab(
    Term("class1", "一级站", ("一级", "一级站", "一级普通消防站")),
    Term("class2", "二级站", ("二级", "二级站", "二级普通消防站")),
    Term("small", "小型站", ("小型", "小型站")),
    Term("special", "特勤站", ("特勤", "特勤站")),
    Term("suburban", "近郊区普通站", ("近郊",)),
    Term("micro", "微型消防站", ("微型", "微型站", "微型消防站")),
)

RISK_CATEGORY = _vocab(
    Term("hazchem", "危险化学品", ("危化", "危化品", "危险化学品", "化工")),
    Term("fuel_station", "加油站", ("加油站", "加气站", "fuel")),
    Term("industrial", "工贸企业", ("工业", "工贸", "工贸企业", "企业")),
    Term("mine", "矿山", ("矿山", "尾矿库")),
    Term("landslide", "地质灾害隐患点", ("滑坡", "地质灾害", "地灾", "泥石流", "geological")),
    Term("flood", "洪涝风险点", ("洪涝", "内涝", "易涝点", "洪水")),
    Term("crowded", "人员密集场所", ("人员密集", "人员密集场所", "学校", "商场")),
    Term("fire", "火灾风险点", ("火灾", "消防")),
    Term("other", "其他", ("其他",)),
)

RISK_METHOD = _vocab(
    Term("LEC", "作业条件危险性评价法", ("lec", "LEC", "作业条件危险性评价法", "D=LEC")),
    Term("matrix", "风险矩阵法", ("matrix", "LS", "ls", "风险矩阵", "风险矩阵法", "R=LS")),
)

RISK_LEVEL = _vocab(
    Term("red", "重大风险", ("红", "红色", "重大", "重大风险", "major")),
    Term("orange", "较大风险", ("橙", "橙色", "较大", "较大风险", "significant")),
    Term("yellow", "一般风险", ("黄", "黄色", "一般", "一般风险", "general")),
    Term("blue", "低风险", ("蓝", "蓝色", "低", "低风险", "low")),
)

HAZARD_STATE = _vocab(
    Term("discovered", "发现", ("发现", "已发现", "新发现")),
    Term("confirmed", "确认", ("确认", "已确认")),
    Term("under_control", "管控", ("管控", "管控中", "监控")),
    Term("rectifying", "整改", ("整改", "整改中")),
    Term("closed", "销号", ("销号", "已销号", "关闭", "闭环")),
)

ZONE_LEVEL = _vocab(
    Term("high", "高", ("高", "高风险", "极高", "very_high")),
    Term("medium", "中", ("中", "中风险", "较高")),
    Term("low", "低", ("低", "低风险", "较低")),
)

ZONE_HAZARD = _vocab(
    Term("flood", "洪涝", ("洪涝", "洪水", "内涝")),
    Term("landslide", "地质灾害", ("滑坡", "地质灾害", "泥石流", "崩塌", "geological")),
    Term("earthquake", "地震", ("地震", "断裂带")),
    Term("composite", "综合", ("综合", "多灾种")),
    Term("other", "其他", ("其他",)),
)

INCIDENT_STATUS = _vocab(
    Term("reported", "接报", ("接报", "报告")),
    Term("responding", "处置中", ("处置", "处置中", "响应")),
    Term("contained", "已控制", ("控制", "已控制")),
    Term("closed", "结束", ("结束", "关闭", "已结束")),
)


def lookup(vocab: dict[str, Term], text: object) -> str | None:
    """Return the key for ``text`` (a key, a Chinese label or an alias), or None."""
    if text is None:
        return None
    s = str(text).strip()
    if not s:
        return None
    if s in vocab:
        return s
    low = s.lower()
    for t in vocab.values():
        if (low == t.key.lower() or s == t.zh or s in t.aliases
                or low in (a.lower() for a in t.aliases)):
            return t.key
    return None


def describe(vocab: dict[str, Term]) -> str:
    """Return 'key (中文), ...' for error messages."""
    return ", ".join(f"{t.key} ({t.zh})" for t in vocab.values())
