"""Read what the readiness report needs from PostGIS, and write it as a workbook.

`read_inputs` gathers townships, villages, the latest census population, the teams (each placed
in a township and, when registered to one, a village) and their equipment lists;
`readiness_xlsx` writes a `shelters.readiness.Readiness` as a workbook with Chinese headers
(乡镇汇总 one summary line per township, 检查明细 every check with the norm's value and
source, 村级队伍 villages, 规范依据 the norms cited).
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.shelters.readiness import COMPLIANT, NOT_COMPLIANT, Readiness, ReadinessInputs

_TEAMS = """
SELECT t.id, t.ext_id, t.name, t.team_type, t.personnel, t.status, t.assessed_on,
       coalesce(
         (SELECT CASE a.level WHEN 'township' THEN a.code WHEN 'village' THEN a.parent_code END
          FROM admin_units a WHERE a.code = t.unit_code),
         (SELECT a.code FROM admin_units a WHERE a.level = 'township' AND a.geom IS NOT NULL
          AND ST_Contains(a.geom, t.geom) ORDER BY a.code LIMIT 1)) AS township_code,
       (SELECT a.code FROM admin_units a WHERE a.code = t.unit_code AND a.level = 'village')
         AS village_code
FROM team_bases t ORDER BY t.id
"""


def plan_status_reader(engine: Engine):
    """Plan and drill status per township from the plan register (risk/plan_report.py: a
    township plan naming the township's code, not overdue for review, drilled in the window of
    ``plan.drill_window_days``); None when no plan is stored at all."""
    from emgis.risk.plan_report import plan_system

    with engine.connect() as c:
        if not c.execute(sa.text("SELECT EXISTS (SELECT 1 FROM plans)")).scalar_one():
            return None
    frame = plan_system(engine)
    towns = {r.code: r for r in frame[frame["unit_kind"] == "township"].itertuples()}

    def status(code: str) -> tuple[str, str]:
        r = towns.get(code)
        if r is None or not r.has_plan:
            return NOT_COMPLIANT, "no township plan (乡镇预案未录入)"
        if r.status == "ok":
            return COMPLIANT, f"{r.plans}: in review date, drilled {r.last_drill}"
        return NOT_COMPLIANT, f"{r.plans}: {r.status_zh}"
    return status


def read_inputs(engine: Engine) -> ReadinessInputs:
    """Townships, villages, the latest census year's population, teams and equipment."""
    with engine.connect() as c:
        towns = pd.read_sql(sa.text("SELECT code, name FROM admin_units WHERE level = 'township' "
                                    "ORDER BY code"), c)
        vils = pd.read_sql(sa.text("SELECT code, name, parent_code FROM admin_units "
                                   "WHERE level = 'village' ORDER BY code"), c)
        year = c.execute(sa.text("SELECT max(year) FROM population")).scalar()
        pop = dict(c.execute(sa.text("SELECT code, population FROM population WHERE year = :y "
                                     "AND population IS NOT NULL"), {"y": year}).all()) \
            if year is not None else {}
        teams = pd.read_sql(sa.text(_TEAMS), c)
        eq = pd.read_sql(sa.text("SELECT team_base_id, item, kind, quantity, state "
                                 "FROM team_equipment ORDER BY team_base_id, item"), c)
    teams["assessed_on"] = teams["assessed_on"].astype(object).where(teams["assessed_on"].notna(),
                                                                     None)
    plans = plan_status_reader(engine)
    return ReadinessInputs(towns, vils, {k: float(v) for k, v in pop.items()}, teams, eq,
                           int(year) if year is not None else None, plans)


TOWNSHIP_HEADERS = {"code": "乡镇代码", "name": "乡镇", "compliance_zh": "达标情况",
                    "township_team_personnel": "综合性救援队人数",
                    "villages_ok": "村级队伍达标村数", "villages": "村数",
                    "population": "户籍/普查人口", "firefighters": "专职消防员",
                    "firefighters_required": "专职消防员应配", "summary": "汇总"}
CHECK_HEADERS = {"level": "层级", "code": "代码", "name": "名称", "check_zh": "检查项",
                 "value": "实际值", "required": "规范要求", "status_zh": "结论", "norm": "规范键",
                 "source": "依据", "note": "说明"}
VILLAGE_HEADERS = {"code": "村代码", "name": "村", "township": "乡镇",
                   "squad_personnel": "村级队伍人数", "required": "要求(人)",
                   "status_zh": "结论", "full_build_required": "满编要求(人)",
                   "population": "人口", "note": "说明"}
NORM_HEADERS = {"key": "规范键", "value": "值", "unit": "单位", "source": "依据", "note": "说明"}


#: headers whose cells are counts of people or villages (``#,##0``); a missing one stays empty
_COUNTS = {"综合性救援队人数", "村级队伍达标村数", "村数", "户籍/普查人口", "专职消防员",
           "专职消防员应配", "村级队伍人数", "要求(人)", "满编要求(人)", "人口"}


def _sheet(name: str, frame: pd.DataFrame, headers: dict[str, str]):
    from emgis.layers.workbook import Sheet

    return Sheet(name, name, frame.reindex(columns=list(headers)).rename(columns=headers))


def readiness_xlsx(r: Readiness) -> bytes:
    """The report as a workbook (bytes), written by `layers.workbook` (frozen bold header,
    widths, counts formatted; Chinese headers only: 规范依据 is its notes sheet)."""
    from emgis.layers.workbook import Column, write_workbook

    notes = pd.DataFrame(r.norms, columns=list(NORM_HEADERS))
    extra = pd.DataFrame([
        {"key": "as_of", "value": r.as_of.isoformat(), "unit": "", "source": "报告日期",
         "note": ""},
        {"key": "census_year", "value": r.census_year, "unit": "", "source": "人口年份",
         "note": "no census: population unknown, never 0"},
        {"key": "rule", "value": "", "unit": "", "source": "",
         "note": "达标 = every known check passes; 基本达标 = at least half; 不达标 = fewer; "
                 "未知 = none fails but some are unknown"},
    ])
    sheets = [_sheet("乡镇汇总", r.townships, TOWNSHIP_HEADERS),
              _sheet("检查明细", r.checks, CHECK_HEADERS),
              _sheet("村级队伍", r.villages, VILLAGE_HEADERS),
              _sheet("规范依据", pd.concat([notes, extra], ignore_index=True), NORM_HEADERS)]
    heads = {h for d in (TOWNSHIP_HEADERS, CHECK_HEADERS, VILLAGE_HEADERS, NORM_HEADERS)
             for h in d.values()}
    columns = {h: Column(h, h, "count" if h in _COUNTS else "text", blank=True) for h in heads}
    data = write_workbook(None, sheets, columns, lang="zh")
    assert data is not None
    return data


def read_townships(engine: Engine):
    """The townships' outlines (code, name, geometry; EPSG:4326) for the readiness map."""
    import geopandas as gpd

    with engine.connect() as c:
        return gpd.read_postgis(sa.text("SELECT code, name, geom FROM admin_units "
                                        "WHERE level = 'township' AND geom IS NOT NULL "
                                        "ORDER BY code"), c, geom_col="geom").rename_geometry(
            "geometry")
