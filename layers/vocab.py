"""Controlled vocabularies: the allowed values of every class or level field.

One place for each fact: the loaders map Chinese and English spellings onto these keys,
the database checks them, and the API and map legends read their labels from here.
Keys are stable English identifiers; each value carries its Chinese label and aliases.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
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

#: Kinds of incident, for what an incident needs (norms ``incident.team_types.<key>``). An
#: incident's free-text type is matched by key, Chinese name or alias.
INCIDENT_TYPE = _vocab(
    Term("hazchem_leak", "危化品泄漏", ("危化", "危化品", "泄漏", "危险化学品", "hazchem",
                                     "chemical")),
    Term("fire", "火灾", ("火灾", "建筑火灾", "起火", "fire")),
    Term("forest_fire", "森林火灾", ("森林火灾", "山火", "林火", "wildfire")),
    Term("flood", "洪涝", ("洪涝", "洪水", "山洪", "内涝", "积水", "溃堤", "漫堤", "flood",
                          "flash_flood", "waterlogging")),
    Term("landslide", "地质灾害", ("地质灾害", "滑坡", "崩塌", "泥石流", "地灾", "landslide",
                                "debris_flow")),
    Term("earthquake", "地震", ("地震", "earthquake")),
    Term("traffic", "交通事故", ("交通事故", "车祸", "traffic")),
    Term("mine", "矿山事故", ("矿山", "矿难", "矿山事故", "mine")),
)


# --- relief stock items ---------------------------------------------------------------------------
# Stock items are a vocabulary too, but one a county extends: the table ``stock_items`` holds the
# items in use (migration 0006 seeds it with the list below; `emgis stock-items add` and
# ``POST /stock-items`` add more). A depot's stock names one of them; an unknown name is refused
# with the closest known ones (`closest_items`) instead of creating a junk item.

STOCK_KIND = _vocab(
    Term("shelter", "住宿类", ("帐篷", "住宿", "tent")),
    Term("bedding", "铺盖类", ("被服", "铺盖", "床具")),
    Term("clothing", "衣物类", ("衣物", "服装")),
    Term("food", "食品类", ("食品", "粮食")),
    Term("water", "饮水类", ("饮水", "水")),
    Term("sanitation", "卫生类", ("卫生", "环卫", "厕所")),
    Term("power", "电力照明类", ("电力", "照明", "发电")),
    Term("rescue", "救援装备类", ("救援", "装备", "抢险")),
    Term("medical", "医疗类", ("医疗", "药品")),
    Term("other", "其他", ("其他",)),
)


@dataclass(frozen=True)
class StockItem:
    name: str        # what depots call it (the key of depot_stock.item)
    unit: str        # how it is counted
    kind: str        # a key of STOCK_KIND
    name_en: str = ""


# The demo's items, the needs norms' items (shelters/supply.py NEED_ITEMS) and the common
# central-reserve relief items (中央救灾物资储备品种), each with its counting unit.
STOCK_ITEMS: tuple[StockItem, ...] = (
    StockItem("帐篷", "顶", "shelter", "tent"),
    StockItem("棉帐篷", "顶", "shelter", "cotton tent"),
    StockItem("单帐篷", "顶", "shelter", "single tent"),
    StockItem("棉被", "床", "bedding", "quilt"),
    StockItem("毛毯", "条", "bedding", "blanket"),
    StockItem("睡袋", "个", "bedding", "sleeping bag"),
    StockItem("折叠床", "张", "bedding", "folding bed"),
    StockItem("棉大衣", "件", "clothing", "padded coat"),
    StockItem("方便食品", "kg", "food", "instant food"),
    StockItem("大米", "kg", "food", "rice"),
    StockItem("饮用水", "L", "water", "drinking_water"),
    StockItem("瓶装水", "L", "water", "bottled water"),
    StockItem("清洁用水", "L", "water", "clean_water"),
    StockItem("家庭包", "个", "sanitation", "family_kits"),
    StockItem("移动厕所", "个", "sanitation", "toilets"),
    StockItem("发电机", "台", "power", "generator"),
    StockItem("应急灯", "个", "power", "emergency lamp"),
    StockItem("救生衣", "件", "rescue", "life jacket"),
    StockItem("冲锋舟", "艘", "rescue", "assault boat"),
    StockItem("急救包", "个", "medical", "first-aid kit"),
)

# how a name typed or read in the wrong encoding may be repaired: (encode as, decode as)
_MOJIBAKE = (("gb18030", "utf-8"), ("gbk", "utf-8"), ("big5", "utf-8"), ("latin-1", "utf-8"),
             ("cp1252", "utf-8"), ("utf-8", "gb18030"), ("latin-1", "gb18030"))


def redecoded(text: str) -> list[str]:
    """``text`` read back through the usual wrong encodings (UTF-8 bytes shown as GBK, GBK
    shown as Latin-1, ...): the readings that differ from it, best first."""
    out: list[str] = []
    for enc, dec in _MOJIBAKE:
        b = text.encode(enc, errors="ignore")
        t = b.decode(dec, errors="ignore").strip()
        if t and t != text and t not in out:
            out.append(t)
    return out


def closest_items(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The known item names closest to ``name``: a mojibake repair that hits a name exactly
    first, then spelling neighbours (difflib) of the name and of its repairs."""
    names = list(known)
    fixes = redecoded(name)
    exact = [t for t in fixes if t in names]
    near = difflib.get_close_matches(name, names, n=n, cutoff=0.5)
    for t in fixes:
        near += difflib.get_close_matches(t, names, n=n, cutoff=0.6)
    out: list[str] = []
    for t in exact + near:
        if t not in out:
            out.append(t)
    return out[:n]


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


# --- emergency plans (预案) and drills (演练): migration 0009, risk/plans.py, risk/drills.py -----

PLAN_KIND = _vocab(
    Term("general", "总体应急预案", ("总体", "总体预案", "总体应急预案")),
    Term("special", "专项应急预案", ("专项", "专项预案", "专项应急预案")),
    Term("department", "部门应急预案", ("部门", "部门预案", "部门应急预案")),
    Term("township", "乡镇应急预案", ("乡镇", "乡镇预案", "街道", "乡镇（街道）预案")),
    Term("village", "村级应急预案", ("村", "村级", "社区", "村（社区）", "村级预案")),
    Term("enterprise", "企业应急预案", ("企业", "企业预案", "企业应急预案")),
)

#: Response levels, most severe first (Ⅰ级 特别重大 … Ⅳ级 一般).
RESPONSE_LEVEL = _vocab(
    Term("I", "Ⅰ级", ("Ⅰ", "Ⅰ级", "1", "一级", "i")),
    Term("II", "Ⅱ级", ("Ⅱ", "Ⅱ级", "2", "二级", "ii")),
    Term("III", "Ⅲ级", ("Ⅲ", "Ⅲ级", "3", "三级", "iii")),
    Term("IV", "Ⅳ级", ("Ⅳ", "Ⅳ级", "4", "四级", "iv")),
)

#: What a plan's response-level trigger may measure (the incident's figures; area from its shape).
TRIGGER_FIELD = _vocab(
    Term("deaths", "死亡人数", ("死亡", "死亡人数", "遇难")),
    Term("injured", "受伤人数", ("受伤", "受伤人数", "伤员")),
    Term("missing", "失踪人数", ("失踪", "失踪人数", "失联")),
    Term("affected", "受灾人数", ("受灾", "受灾人数", "受影响人数")),
    Term("relocated", "转移安置人数", ("转移", "转移安置", "转移安置人数", "紧急转移人数")),
    Term("area_km2", "影响面积(km²)", ("面积", "影响面积", "影响面积km2", "影响面积(km2)")),
    Term("duration_h", "持续时间(h)", ("持续时间", "持续时间h", "持续时间(h)", "时长")),
    Term("hazard_level", "灾害强度", ("灾害强度", "强度", "震级", "预警级别数值")),
)

DRILL_KIND = _vocab(
    Term("tabletop", "桌面推演", ("桌面", "桌面推演", "桌面演练")),
    Term("live", "实战演练", ("实战", "实战演练", "实兵")),
    Term("double_blind", "双盲演练", ("双盲", "双盲演练")),
)

FINDING_STATE = _vocab(
    Term("open", "待整改", ("待整改", "未整改", "发现")),
    Term("rectifying", "整改中", ("整改", "整改中")),
    Term("closed", "已销号", ("销号", "已销号", "关闭", "闭环")),
)

CHECKLIST_STATE = _vocab(
    Term("open", "未完成", ("未完成", "待办")),
    Term("done", "已完成", ("完成", "已完成")),
)

# --- experts and team equipment (issue #17) -------------------------------------------------------

#: An expert's specialities (专家库 by the seed's list, seed 000 §(一)8). A county extends it by
#: adding a Term here (keys are stable; the table's column is a text[] checked by the loader).
EXPERT_SPECIALITY = _vocab(
    Term("emergency_management", "应急管理", ("应急", "应急管理", "综合应急")),
    Term("hazchem", "危化", ("危化", "危化品", "危险化学品", "化工")),
    Term("electrical", "电气", ("电气", "电力", "electric")),
    Term("mining", "矿山", ("矿山", "煤矿", "非煤矿山", "mine")),
    Term("mechanical", "机械", ("机械", "特种设备")),
    Term("transport", "交通", ("交通", "道路交通", "traffic")),
    Term("construction", "建筑", ("建筑", "建筑施工", "结构", "building")),
    Term("flood_control", "防汛", ("防汛", "防汛抗旱", "水利", "flood")),
    Term("disaster_relief", "减灾救灾", ("减灾救灾", "减灾", "救灾", "relief")),
    Term("seismic_geology", "地震地质", ("地震地质", "地震", "地质", "地质灾害", "geology")),
)

EXPERT_AVAILABILITY = _vocab(
    Term("available", "可调用", ("可调用", "可用", "在岗", "待命")),
    Term("limited", "受限", ("受限", "需协调", "外地")),
    Term("unavailable", "不可用", ("不可用", "出差", "休假", "病休")),
)

#: The equipment catalogue of rescue teams (队伍装备): what `team_equipment.kind` names, and what
#: ``/analyses/nearest?equipment=`` and the minimum lists (norms ``equipment.min.*``) ask for.
EQUIPMENT_KIND = _vocab(
    Term("assault_boat", "冲锋舟", ("冲锋舟", "橡皮艇", "救生艇", "boat")),
    Term("life_jacket", "救生衣", ("救生衣", "救生背心")),
    Term("breaching_kit", "破拆工具组", ("破拆工具组", "破拆工具", "破拆", "液压破拆")),
    Term("life_detector", "生命探测仪", ("生命探测仪", "生命探测", "雷达生命探测仪")),
    Term("generator", "发电机", ("发电机", "发电机组")),
    Term("lighting", "照明设备", ("照明设备", "照明", "应急照明", "照明灯组")),
    Term("water_pump", "抽水泵", ("抽水泵", "水泵", "排涝泵", "pump")),
    Term("satellite_phone", "卫星电话", ("卫星电话", "海事卫星电话")),
    Term("chainsaw", "油锯", ("油锯", "链锯")),
    Term("fire_extinguisher_blower", "风力灭火机", ("风力灭火机", "灭火机")),
    Term("gas_detector", "气体检测仪", ("气体检测仪", "有毒气体检测仪")),
    Term("protective_suit", "防化服", ("防化服", "防护服")),
    Term("stretcher", "担架", ("担架",)),
    Term("first_aid_kit", "急救箱", ("急救箱", "急救包")),
    Term("drone", "无人机", ("无人机", "uav")),
    Term("rescue_rope", "救援绳索", ("救援绳索", "绳索", "救生抛投器")),
)

EQUIPMENT_STATE = _vocab(
    Term("ok", "完好", ("完好", "正常", "可用", "在用")),
    Term("repair", "维修", ("维修", "待修", "故障")),
    Term("retired", "报废", ("报废", "退役", "停用")),
)


#: Where a shelter's capacity came from (``shelters.capacity_source``; emgis's own exports carry
#: it, so a capacity derived from the area loads back as derived, not as given).
CAPACITY_SOURCE = _vocab(
    Term("given", "填报", ("填报", "给定")),
    Term("area", "按面积推算", ("按面积推算", "面积推算", "推算")),
    Term("unknown", "未知", ("未知",)),
)
