"""The lists a bureau hands on: the ranked risk list and the three hazard lists (三个清单).

Why a module of its own: these are reports, not data. They read what :mod:`risk.store`
(risk points) and :mod:`risk.hazard_log` (hazards) keep, and shape it for people — Chinese
headers and labels, ranking, workbook and CSV files — without writing to the database.

* :func:`risk_list` — the stored risk points ranked by level (red first), then score.
* :func:`hazard_lists` — 隐患清单, 责任清单, 整改措施清单 (:data:`LIST_NAMES`) with Chinese
  headers.
* :func:`export_lists` — the three lists as one XLSX workbook or three UTF-8 CSV files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy.engine import Engine

from emgis.layers import vocab
from emgis.layers.text import spreadsheet_safe
from emgis.risk._db import obj
from emgis.risk.hazard_log import hazard_list
from emgis.risk.levels import RANK
from emgis.risk.store import read_points

LIST_NAMES = ("隐患清单", "责任清单", "整改措施清单")


def _level_zh(key: object) -> str | None:
    return vocab.RISK_LEVEL[key].zh if isinstance(key, str) and key in vocab.RISK_LEVEL else None


def hazard_lists(engine: Engine, *, today: dt.date | None = None) -> dict[str, pd.DataFrame]:
    """Return the three lists with Chinese headers: 隐患清单, 责任清单, 整改措施清单."""
    h = hazard_list(engine, today=today)

    def unit(code, name):
        if code is None:
            return None
        return f"{name}（{code}）" if name else code

    units = obj(unit(c, n) for c, n in zip(h["unit_code"], h["unit_name"], strict=True))
    yes_no = obj("是" if o else "否" for o in h["overdue"])
    hazards_list = pd.DataFrame({
        "隐患编号": h["ext_id"], "隐患名称": h["title"], "风险点编号": h["rp_ext_id"],
        "风险点名称": h["rp_name"], "风险等级": obj(_level_zh(v) for v in h["rp_level"]),
        "状态": h["state_zh"], "发现日期": h["discovered_on"], "整改期限": h["deadline"],
        "销号日期": h["closed_on"], "所在单位": units, "经度": h["lon"], "纬度": h["lat"],
    })
    resp = pd.DataFrame({
        "隐患编号": h["ext_id"], "隐患名称": h["title"], "责任人": h["responsible"],
        "责任单位": units, "整改期限": h["deadline"], "状态": h["state_zh"], "是否超期": yes_no,
    })
    measures = pd.DataFrame({
        "隐患编号": h["ext_id"], "隐患名称": h["title"], "整改措施": h["measures"],
        "责任人": h["responsible"], "整改期限": h["deadline"], "状态": h["state_zh"],
        "销号日期": h["closed_on"],
    })
    return dict(zip(LIST_NAMES, (hazards_list, resp, measures), strict=True))


def export_lists(engine: Engine, path: str | Path, *, today: dt.date | None = None) -> list[Path]:
    """Write the three lists; return the files written.

    ``.xlsx``: one workbook, one sheet per list. ``.csv``: one UTF-8 (with BOM, so Excel
    shows the Chinese) file per list, named ``<stem>_<list>.csv`` beside ``path``.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ValueError(f"cannot export the lists to {path.name!r}; give a .xlsx (one sheet "
                         "per list) or .csv (one file per list) file name")
    lists = hazard_lists(engine, today=today)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".xlsx":
        with pd.ExcelWriter(path, engine="openpyxl") as xw:
            for name, df in lists.items():
                spreadsheet_safe(df).to_excel(xw, sheet_name=name, index=False)
        return [path]
    out = []
    for name, df in lists.items():
        p = path.with_name(f"{path.stem}_{name}.csv")
        spreadsheet_safe(df).to_csv(p, index=False, encoding="utf-8-sig")
        out.append(p)
    return out


def risk_list(engine: Engine, level: str | None = None,
              category: str | None = None) -> pd.DataFrame:
    """Return the stored risk points ranked by level (red first) then score (highest first).

    ``level`` and ``category`` filter (keys or Chinese labels); unassessed points come last.
    """
    pts = read_points(engine)
    if level is not None:
        key = vocab.lookup(vocab.RISK_LEVEL, level)
        if key is None:
            raise ValueError(f"level={level!r} is not a risk level; use one of "
                             f"{vocab.describe(vocab.RISK_LEVEL)}")
        pts = pts[pts["level"] == key]
    if category is not None:
        key = vocab.lookup(vocab.RISK_CATEGORY, category)
        if key is None:
            raise ValueError(f"category={category!r} is not a risk category; use one of "
                             f"{vocab.describe(vocab.RISK_CATEGORY)}")
        pts = pts[pts["category"] == key]
    df = pd.DataFrame(pts.drop(columns="geometry"))
    df["lon"] = pts.geometry.x.to_numpy()
    df["lat"] = pts.geometry.y.to_numpy()
    df["rank"] = [RANK.get(lv, 0) if isinstance(lv, str) else 0 for lv in df["level"]]
    df = df.sort_values(["rank", "score", "ext_id"], ascending=[False, False, True],
                        na_position="last", kind="stable").reset_index(drop=True)
    df["level_zh"] = obj(_level_zh(v) for v in df["level"])
    df["category_zh"] = obj(vocab.RISK_CATEGORY[v].zh if v in vocab.RISK_CATEGORY else v
                            for v in df["category"])
    return df.drop(columns="rank")


__all__ = ["LIST_NAMES", "export_lists", "hazard_lists", "risk_list"]
