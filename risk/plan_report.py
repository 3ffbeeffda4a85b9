"""The plan-system report (预案体系): who has a plan, whose is overdue, who has not drilled.

One row per township, village and key enterprise, and one per county-level plan:

* ``has_plan`` — a plan names the unit's code (township, village) or the enterprise's name;
* ``overdue`` — a plan of it is past its next review (``next_review_on`` before today);
* ``drilled_12m`` — a drill of one of its plans was held in the last 12 months (the norm
  ``plan.drill_window_days``, 365);
* ``status`` — the worst of: ``no_plan`` (red), ``overdue`` (orange), ``no_drill`` (yellow),
  ``ok`` (green); the colours are :data:`STATUS`.

Key enterprises are the stored risk points of the categories in :data:`KEY_CATEGORIES`
(危险化学品, 矿山, 工贸企业): the units a bureau must see a plan for.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.layers.norms import Norms, default_norms

KEY_CATEGORIES = ("hazchem", "mine", "industrial")
#: the norm of the drill window (days; "no drill in 12 months")
WINDOW_NORM = "plan.drill_window_days"
#: status → (colour, label), worst first
STATUS: dict[str, tuple[str, str]] = {
    "no_plan": ("#d73027", "无预案 no plan"),
    "overdue": ("#fc8d59", "逾期未修订 overdue for revision"),
    "no_drill": ("#fee08b", "12个月未演练 no drill in 12 months"),
    "ok": ("#1a9850", "正常 in order"),
}

_UNITS = """
SELECT u.level AS unit_kind, u.code, u.name, t.name AS township,
       ST_AsGeoJSON(coalesce(u.geom, u.point)) AS geometry
FROM admin_units u LEFT JOIN admin_units t ON t.code = u.parent_code
WHERE u.level IN ('township', 'village') ORDER BY u.code
"""
_ENTERPRISES = """
SELECT DISTINCT ON (r.name) 'enterprise' AS unit_kind, r.ext_id AS code, r.name,
       t.name AS township, ST_AsGeoJSON(r.geom) AS geometry
FROM risk_points r
LEFT JOIN admin_units v ON v.level = 'village' AND v.geom IS NOT NULL
     AND ST_Contains(v.geom, r.geom)
LEFT JOIN admin_units t ON t.code = v.parent_code
WHERE r.category = ANY(:cats) ORDER BY r.name, r.id
"""
_PLANS = """
SELECT p.ext_id, p.kind, p.area_code, p.enterprise, p.next_review_on, au.level AS area_level,
       (SELECT max(held_on) FROM drills d WHERE d.plan_id = p.id) AS last_drill
FROM plans p LEFT JOIN admin_units au ON au.code = p.area_code ORDER BY p.ext_id
"""


def _status(plans: list[Any], today: dt.date, window_days: float) -> dict[str, Any]:
    since = today - dt.timedelta(days=window_days)
    reviews = [p.next_review_on for p in plans if p.next_review_on is not None]
    drills = [p.last_drill for p in plans if p.last_drill is not None]
    overdue = any(d < today for d in reviews)
    drilled = any(d >= since for d in drills)
    status = ("no_plan" if not plans else "overdue" if overdue
              else "no_drill" if not drilled else "ok")
    return {"plans": ", ".join(p.ext_id for p in plans), "has_plan": bool(plans),
            "next_review_on": min(reviews) if reviews else None, "overdue": overdue,
            "last_drill": max(drills) if drills else None, "drilled_12m": drilled,
            "status": status, "status_zh": STATUS[status][1], "colour": STATUS[status][0]}


def plan_system(engine: Engine, today: dt.date | None = None,
                norms: Norms | None = None) -> pd.DataFrame:
    """The report's rows (with a ``geometry`` GeoJSON column for the map)."""
    today = today or dt.date.today()
    window = (norms or default_norms()).number(WINDOW_NORM)
    with engine.connect() as c:
        units = c.execute(sa.text(_UNITS)).all()
        ents = c.execute(sa.text(_ENTERPRISES), {"cats": list(KEY_CATEGORIES)}).all()
        plans = c.execute(sa.text(_PLANS)).all()
    rows = []
    county = [p for p in plans if (p.area_code is None and p.enterprise is None)
              or p.area_level in ("province", "city", "county")]
    for p in county:
        rows.append({"unit_kind": "county", "code": p.area_code or "", "township": None,
                     "name": f"{vocab.PLAN_KIND[p.kind].zh} {p.ext_id}", "geometry": None,
                     **_status([p], today, window)})
    for u in units:
        mine = [p for p in plans if p.area_code == u.code]
        rows.append({**dict(u._mapping), **_status(mine, today, window)})
    for e in ents:
        mine = [p for p in plans if p.enterprise == e.name]
        rows.append({**dict(e._mapping), **_status(mine, today, window)})
    cols = ["unit_kind", "code", "name", "township", "plans", "has_plan", "next_review_on",
            "overdue", "last_drill", "drilled_12m", "status", "status_zh", "colour", "geometry"]
    return pd.DataFrame(rows, columns=cols)


def summary(frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Counts by unit kind: total, with a plan, overdue, drilled in 12 months, by status."""
    out: dict[str, dict[str, int]] = {}
    for kind, g in frame.groupby("unit_kind", sort=False):
        out[str(kind)] = {"total": len(g), "with_plan": int(g["has_plan"].sum()),
                          "overdue": int(g["overdue"].sum()),
                          "drilled_12m": int(g["drilled_12m"].sum()),
                          **{s: int((g["status"] == s).sum()) for s in STATUS}}
    return out


def write_xlsx(frame: pd.DataFrame, path) -> None:
    """The report as a workbook: a summary sheet and the rows (text made formula-safe)."""
    from emgis.layers.text import spreadsheet_safe

    heads = {"unit_kind": "类别 kind", "code": "代码 code", "name": "名称 name",
             "township": "乡镇 township", "plans": "预案 plans", "has_plan": "有预案 has plan",
             "next_review_on": "下次评审 next review", "overdue": "逾期 overdue",
             "last_drill": "最近演练 last drill", "drilled_12m": "12个月内演练 drilled",
             "status_zh": "状态 status"}
    rows = spreadsheet_safe(frame[list(heads)].rename(columns=heads))
    summ = pd.DataFrame([{"类别 kind": k, **v} for k, v in summary(frame).items()])
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        summ.to_excel(xw, sheet_name="汇总 summary", index=False)
        rows.to_excel(xw, sheet_name="预案体系 plan system", index=False)
