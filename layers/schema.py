"""What each loadable layer contains: its fields, their aliases and allowed values.

One table read by the loaders (to map a file's headers and check its values), the
exporters (to name columns) and the API. Headers are matched after normalising case,
spaces and a trailing unit in brackets, so ``有效面积(平方米)`` matches ``有效面积``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

from emgis.layers import vocab
from emgis.layers.vocab import Term

_NUMERIC = re.compile(r"numeric\((\d+)\s*,\s*(\d+)\)")


def column_range(db_type: str) -> tuple[float, float]:
    """The values a PostgreSQL column type can hold: int4, int8, float8, numeric(p,s), jsonb.

    A value outside it would reach the database as an error, so the loader refuses it first.
    """
    t = db_type.replace(" ", "").lower()
    if t in ("int2", "int4", "int8"):
        bits = {"int2": 15, "int4": 31, "int8": 63}[t]
        return (-2**bits, 2**bits - 1)
    if t in ("float8", "jsonb"):  # JSON numbers are float8 here; neither holds NaN/infinity
        return (-sys.float_info.max, sys.float_info.max)
    m = _NUMERIC.fullmatch(t)
    if m:
        p, s = int(m[1]), int(m[2])
        top = round(10 ** (p - s) - 10 ** -s, s)
        return (-top, top)
    raise ValueError(f"no range known for column type {db_type!r}")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | int | float | enum | enum_list | date | code | ref
    required: bool = False
    aliases: tuple[str, ...] = ()
    terms: dict[str, Term] | None = None
    minimum: float | None = None  # the domain's range (inclusive); the column's limits apply too
    ref_layer: str | None = None  # for kind 'ref': the layer whose ext_id this names
    help: str = ""
    # Used when the whole column is absent from a file (never for a blank cell): the loader
    # fills it and says so. "=ext_id" copies the row's id.
    default: str | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False  # True: the value must be above ``minimum`` (an area > 0)
    # the column's type where it limits values: int4 (default for int), float8 (default for
    # float), int8, numeric(p,s), jsonb; varchar(n) for text
    db_type: str | None = None
    verbatim: bool = False  # free text kept exactly as given (leading/trailing spaces included)

    @property
    def column_type(self) -> str:
        return self.db_type or {"int": "int4", "float": "float8"}.get(self.kind, "text")

    @property
    def max_length(self) -> int | None:
        """Characters a text field's column holds (varchar(n)); None for unbounded text."""
        m = re.fullmatch(r"varchar\((\d+)\)", self.db_type or "")
        return int(m[1]) if m else None

    @property
    def range(self) -> tuple[float | None, float | None]:
        """(lowest, highest) allowed: the domain's range within the column's hard limits."""
        if self.kind not in ("int", "float"):
            return (None, None)
        lo, hi = column_range(self.column_type)
        if self.minimum is not None:
            lo = max(lo, self.minimum)
        if self.maximum is not None:
            hi = min(hi, self.maximum)
        return (lo, hi)


@dataclass(frozen=True)
class LayerSpec:
    name: str
    table: str
    zh: str
    geometry: str | None  # point | polygon | any | optional_point | None
    fields: tuple[Field, ...]
    key: str = "ext_id"
    extra_columns: tuple[str, ...] = field(default=())

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


ID = Field("ext_id", "text", True,
           ("id", "编号", "序号", "代码", "标识", "fid", "objectid", "sid", "uid"),
           help="a unique id per row")
NAME = Field("name", "text", True, ("名称", "名字", "name_zh", "场所名称", "单位名称", "队伍名称"),
             default="=ext_id", verbatim=True)
UNIT = Field("unit_code", "code", False,
             ("所属区划代码", "区划代码", "行政区划代码", "unit", "admin_code", "村代码"))

LON_ALIASES = ("lon", "lng", "long", "longitude", "x", "经度", "东经", "lon_wgs84", "lon_gcj02",
               "lng_gcj02", "lon_bd09")
LAT_ALIASES = ("lat", "latitude", "y", "纬度", "北纬", "lat_wgs84", "lat_gcj02", "lat_bd09")

LAYERS: dict[str, LayerSpec] = {}


def _layer(spec: LayerSpec) -> None:
    LAYERS[spec.name] = spec


_layer(LayerSpec("admin_units", "admin_units", "行政区划", "any", (
    Field("code", "code", True, ("区划代码", "统计用区划代码", "代码", "adcode", "gb", "编码")),
    NAME,
    Field("level", "enum", True, ("级别", "层级", "类型"), vocab.ADMIN_LEVEL),
    Field("parent_code", "code", False, ("上级代码", "上级区划代码", "parent", "父级代码")),
    Field("urban_rural_class", "text", False, ("城乡分类代码", "城乡分类", "urban_rural"),
          db_type="varchar(3)", help="the 3-digit urban-rural class code (城乡分类代码), e.g. 111"),
), key="code"))

_layer(LayerSpec("shelters", "shelters", "应急避难场所", "point", (
    ID, NAME,
    Field("admin_level", "enum", False, ("行政级别", "分级", "级别"), vocab.ADMIN_LEVEL),
    Field("design_class", "enum", False, ("设计类别", "类别", "场所类别", "class"),
          vocab.SHELTER_DESIGN_CLASS),
    Field("duration_class", "enum", True, ("时长类别", "避难时长", "duration", "时长"),
          vocab.SHELTER_DURATION_CLASS,
          help="how long people can stay: emergency / short / medium / long", default="emergency"),
    Field("hazard_types", "enum_list", False, ("灾种", "避难种类", "hazards"), vocab.HAZARD_TYPE),
    Field("space_type", "enum", False, ("空间类型", "space"), vocab.SPACE_TYPE),
    Field("effective_area_m2", "float", False,
          ("有效面积", "有效避难面积", "area", "area_m2", "面积"), minimum=0.0,
          exclusive_minimum=True),  # the table's check: effective_area_m2 > 0
    Field("capacity", "int", False,
          ("容纳人数", "可容纳人数", "capacity_persons", "避难人数", "容量"), minimum=0),
    Field("status", "enum", True, ("状态", "开放状态"), vocab.SHELTER_STATUS, default="open"),
    Field("occupancy", "int", False, ("在避人数", "当前人数", "occupancy"), minimum=0),
    Field("address", "text", False, ("地址", "位置"), verbatim=True),
    # written by `emgis export`: 'area' says the capacity was derived from the area, so the
    # file loads back the same (derived again with the norms in force, not frozen as given)
    Field("capacity_source", "enum", False, ("容量来源",), vocab.CAPACITY_SOURCE),
    UNIT,
)))

_layer(LayerSpec("depots", "depots", "应急物资储备库", "point", (
    ID, NAME,
    Field("level", "enum", True, ("级别", "层级", "储备级别"), vocab.ADMIN_LEVEL),
    Field("area_m2", "float", False, ("面积", "建筑面积", "库容面积", "area"), minimum=0.0),
    Field("status", "enum", True, ("状态",), vocab.DEPOT_STATUS),
    UNIT,
)))

_layer(LayerSpec("depot_stock", "depot_stock", "储备物资", None, (
    Field("depot_id", "ref", True, ("储备库编号", "库编号", "depot"), ref_layer="depots"),
    Field("item", "text", True, ("物资", "物资名称", "品名", "名称")),
    Field("quantity", "float", True, ("数量", "库存", "qty"), minimum=0.0),
    Field("unit", "text", False, ("单位", "计量单位")),
), key="depot_id"))

_layer(LayerSpec("team_bases", "team_bases", "救援队伍驻地", "point", (
    ID, NAME,
    Field("team_type", "enum", True, ("队伍类型", "类型", "type"), vocab.TEAM_TYPE),
    Field("specialities", "text", False, ("专业", "专长", "特长", "specialty")),
    Field("personnel", "int", True, ("人数", "队员人数", "人员", "personnel_count"), minimum=0),
    Field("vehicles", "int", False, ("车辆", "车辆数", "装备车辆"), minimum=0),
    Field("status", "enum", True, ("状态", "值守状态"), vocab.TEAM_STATUS),
    Field("fire_class", "enum", False, ("消防站等级", "站级", "fire_station_class"),
          vocab.FIRE_CLASS),
    UNIT,
    Field("assessed_on", "date", False, ("考核日期", "测评日期", "评估日期", "assessed"),
          help="the date the team last passed its assessment (社会救援力量测评)"),
)))

_layer(LayerSpec("risk_points", "risk_points", "风险点", "point", (
    ID, NAME,
    Field("category", "enum", True, ("类别", "风险类别", "类型"), vocab.RISK_CATEGORY),
    Field("method", "enum", False, ("评估方法", "方法"), vocab.RISK_METHOD),
    # the factors' ranges over both methods (LEC L 0.1–10, matrix L 1–5); risk.methods checks
    # the allowed scores themselves. They are kept in the inputs document (jsonb).
    Field("L", "float", False, ("l", "可能性", "likelihood"), minimum=0.1, maximum=10,
          db_type="jsonb"),
    Field("E", "float", False, ("e", "暴露", "频繁程度", "exposure"), minimum=0.5, maximum=10,
          db_type="jsonb"),
    Field("C", "float", False, ("c", "后果", "consequence"), minimum=1, maximum=100,
          db_type="jsonb"),
    Field("S", "float", False, ("s", "严重性", "severity"), minimum=1, maximum=5, db_type="jsonb"),
    Field("level", "enum", False, ("风险等级", "等级"), vocab.RISK_LEVEL),
    UNIT,
)))

_layer(LayerSpec("hazards", "hazards", "隐患", "optional_point", (
    ID,
    Field("title", "text", True, ("名称", "隐患名称", "隐患描述", "描述", "name"), verbatim=True),
    Field("risk_point_id", "ref", False, ("风险点编号", "risk_point"), ref_layer="risk_points"),
    Field("state", "enum", True, ("状态", "环节", "status"), vocab.HAZARD_STATE),
    Field("responsible", "text", False, ("责任人", "负责人"), verbatim=True),
    Field("deadline", "date", False, ("整改期限", "期限", "截止日期")),
    Field("measures", "text", False, ("整改措施", "措施"), verbatim=True),
    Field("discovered_on", "date", False, ("发现日期", "发现时间", "discovered")),
)))

_layer(LayerSpec("hazard_zones", "hazard_zones", "灾害风险区", "polygon", (
    Field("ext_id", "text", False, ID.aliases),
    Field("hazard_type", "enum", True, ("灾种", "类型", "type"), vocab.ZONE_HAZARD),
    Field("level", "enum", False, ("等级", "风险等级"), vocab.ZONE_LEVEL),
    Field("source", "text", False, ("来源", "数据来源"), verbatim=True),
)))

_layer(LayerSpec("incidents", "incidents", "突发事件", "any", (
    Field("ext_id", "text", False, ID.aliases),
    Field("title", "text", True, ("名称", "事件名称", "标题", "name"), verbatim=True),
    Field("incident_type", "text", True, ("类型", "事件类型", "type")),
    Field("level", "text", False, ("级别", "等级")),
    Field("status", "enum", True, ("状态",), vocab.INCIDENT_STATUS),
)))

# the people responsible for a village or township, warned when a warning covers it (migration
# 0008; shelters/alerts.py)
_layer(LayerSpec("contacts", "contacts", "责任人联系人", None, (
    ID,
    Field("name", "text", True, ("姓名", "名字", "联系人", "责任人"), verbatim=True),
    Field("unit_code", "code", True, ("所属区划代码", "区划代码", "行政区划代码", "村代码",
                                      "乡镇代码", "unit", "admin_code")),
    Field("role", "text", False, ("职务", "岗位", "角色", "身份", "duty"), verbatim=True,
          help="e.g. 村支书, 网格员, 乡镇值班"),
    Field("phone", "text", False, ("电话", "手机", "手机号", "联系电话", "mobile", "tel"),
          db_type="varchar(40)"),
)))


# --- experts and team equipment (issue #17, migration 0010) ---------------------------------

_layer(LayerSpec("experts", "experts", "应急专家", "point", (
    ID,
    Field("name", "text", True, ("姓名", "专家姓名", "名字"), verbatim=True),
    Field("specialities", "enum_list", True, ("专业", "专业领域", "专长", "specialty", "领域"),
          vocab.EXPERT_SPECIALITY, help="one or more specialities separated by ';'"),
    Field("unit", "text", False, ("工作单位", "单位", "所在单位"), verbatim=True),
    Field("title", "text", False, ("职称", "职务", "职称职务"), verbatim=True),
    Field("phone", "text", False, ("联系电话", "电话", "手机", "手机号", "tel", "mobile"),
          db_type="varchar(40)", help="personal data: shown to commander and above only"),
    Field("availability", "enum", True, ("状态", "可用状态", "是否可调用", "availability_status"),
          vocab.EXPERT_AVAILABILITY, default="available"),
    UNIT,
)))

_layer(LayerSpec("team_equipment", "team_equipment", "队伍装备", None, (
    Field("team_base_id", "ref", True, ("队伍编号", "驻地编号", "队伍", "team", "team_id"),
          ref_layer="team_bases"),
    Field("item", "text", True, ("装备", "装备名称", "名称", "品名"), verbatim=False),
    Field("kind", "enum", True, ("装备类别", "类别", "装备类型", "type"), vocab.EQUIPMENT_KIND),
    Field("quantity", "int", True, ("数量", "qty"), minimum=0),
    Field("state", "enum", True, ("状态", "装备状态", "status"), vocab.EQUIPMENT_STATE,
          default="ok"),
), key="team_base_id"))

#: Other names `emgis load` accepts for a layer.
LAYER_ALIASES: dict[str, str] = {"equipment": "team_equipment", "专家": "experts",
                                 "装备": "team_equipment"}

#: Layers whose rows are keyed by two columns (a parent's id and an item), not by one id.
COMPOSITE_KEYS: dict[str, tuple[str, str]] = {"depot_stock": ("depot_id", "item"),
                                              "team_equipment": ("team_base_id", "item")}


_BRACKETS = re.compile(r"[（(\[【].*?[)）\]】]")


def normalise_header(text: object) -> str:
    """Lower-case, strip, drop a bracketed unit: '有效面积(平方米)' -> '有效面积'."""
    s = _BRACKETS.sub("", str(text)).strip().lower()
    return re.sub(r"[\s_\-]+", "_", s)


#: The longest field name a Shapefile's .dbf holds.
SHP_NAME_MAX = 10


def shp_name(name: str) -> str:
    """A field's name in a Shapefile: its first 10 characters, as GDAL writes it."""
    return name[:SHP_NAME_MAX]


def map_headers(columns: list[str], spec: LayerSpec) -> tuple[dict[str, str], list[str]]:
    """Return ({file column: field name}, unmatched columns). First match wins."""
    lookup: dict[str, str] = {}
    for f in spec.fields:
        for a in (f.name, *f.aliases):
            lookup.setdefault(normalise_header(a), f.name)
    for f in spec.fields:
        # a Shapefile's 10-character field name (what GDAL and `emgis export` cut it to)
        lookup.setdefault(normalise_header(shp_name(f.name)), f.name)
    mapping: dict[str, str] = {}
    unmatched = []
    taken: set[str] = set()
    for col in columns:
        target = lookup.get(normalise_header(col))
        if target and target not in taken:
            mapping[col] = target
            taken.add(target)
        else:
            unmatched.append(col)
    return mapping, unmatched


def find_lonlat(columns: list[str]) -> tuple[str | None, str | None]:
    """Return the file's longitude and latitude columns, if any."""
    norm = {normalise_header(c): c for c in columns}
    lon = next((norm[a] for a in map(normalise_header, LON_ALIASES) if a in norm), None)
    lat = next((norm[a] for a in map(normalise_header, LAT_ALIASES) if a in norm), None)
    return lon, lat
