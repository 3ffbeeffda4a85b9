"""Workbooks a bureau can attach: one writer for every analysis and report workbook.

An analysis answers in machine keys (``travel_s``, ``covered``, ``township``), seconds and
fractions; a bureau attaches a workbook to a report and reads it in Chinese. `write_workbook`
turns DataFrames into such a workbook (openpyxl):

* headers from a column dictionary (`Column`: key → Chinese header, English header, kind,
  number format), Chinese by default, English with ``lang="en"``; sheet names likewise;
* seconds written as minutes (the header says 分钟 / min), fractions as percentages
  (``0.0%``), counts as ``#,##0``; yes/no as 是/否;
* a name column beside a code column (`Column.names`: the key of the name column, filled from
  a ``{code: name}`` lookup when the frame does not have it);
* the header row bold and frozen (``A2``), an autofilter, column widths fitted to the content
  (a CJK character counts as two);
* a missing value is an empty cell, "—", or 未知 / unknown (`Column.unknown`) — never "nan",
  never 0: an unknown is not a zero;
* text made formula-safe (`layers.text.spreadsheet_safe`);
* a notes sheet (说明 / Notes, `Notes`): the command and when it ran, the inputs, the norms the
  analysis read (value, unit, standard, clause, certainty) and the estimates in the answer.

Not for layer exports meant to be loaded back (`layers/load/exporters.py`): those keep the
loader's own headers.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from emgis.layers.text import spreadsheet_safe

__all__ = ["FORMATS", "LANGS", "Column", "Notes", "Sheet", "display_width", "write_workbook"]

LANGS = ("zh", "en")

#: number format of each kind of column (a `Column.fmt` overrides it)
FORMATS = {"minutes": "0.0", "percent": "0.0%", "count": "#,##0", "number": "#,##0.0",
           "area": "#,##0.00", "metres": "#,##0", "coord": "0.000000", "date": "yyyy-mm-dd"}
KINDS = ("code", "name", "text", "flag", *FORMATS)

#: what a missing value is written as, by language
_DASH = "—"
_UNKNOWN = {"zh": "未知", "en": "unknown"}
_YES_NO = {"zh": ("是", "否"), "en": ("yes", "no")}
_MAX_WIDTH = 60
_WIDTH_ROWS = 5000  # rows looked at to fit a column's width


@dataclass(frozen=True)
class Column:
    """One column of the column dictionary.

    ``kind``: code | name | text | flag (yes/no) | minutes | percent | count | number | area |
    metres | coord | date. ``from_seconds``: the frame holds seconds, written as minutes (the
    headers say so). ``unknown``: a missing value means "not known" and is written 未知 /
    unknown (otherwise an empty cell for numbers, "—" for text). ``names``: for a code column,
    the key of the name column to put beside it (filled from a lookup when the frame lacks it).
    ``labels``: a value → (Chinese, English) table for coded text (``exact`` → 准确).
    ``blank``: a missing text is an empty cell rather than "—" (the notes sheet).
    """

    zh: str
    en: str
    kind: str = "text"
    fmt: str | None = None
    from_seconds: bool = False
    unknown: bool = False
    names: str | None = None
    labels: Mapping[str, tuple[str, str]] | None = None
    blank: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column kind {self.kind!r} is not one of {', '.join(KINDS)}")

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en

    @property
    def number_format(self) -> str | None:
        return self.fmt or FORMATS.get(self.kind)

    @property
    def numeric(self) -> bool:
        return self.kind in FORMATS and self.kind != "date"


@dataclass
class Sheet:
    """A sheet to write: its Chinese and English names, its rows and the columns of this sheet
    that differ from the workbook's dictionary (``name`` is a village here, a shelter there)."""

    zh: str
    en: str
    frame: pd.DataFrame
    columns: Mapping[str, Column] = field(default_factory=dict)

    def name(self, lang: str) -> str:
        return _sheet_name(self.zh if lang == "zh" else self.en)


_SECTIONS = {"run": ("运行", "Run"), "inputs": ("输入", "Inputs"), "norms": ("规范", "Norms"),
             "estimates": ("估算", "Estimates"), "notes": ("说明", "Notes")}
_CERTAINTY_ZH = {"V": "已核实", "S": "二手来源", "U": "未核实", "M": "实测", "L": "本地"}
_CERTAINTY_EN = {"V": "verified", "S": "secondary", "U": "unverified", "M": "measured",
                 "L": "local"}
NOTE_COLUMNS = {key: Column(zh, en, blank=True) for key, zh, en in (
    ("section", "部分", "section"), ("item", "项目", "item"), ("value", "值", "value"),
    ("unit", "单位", "unit"), ("standard", "标准", "standard"), ("clause", "条款", "clause"),
    ("certainty", "确定性", "certainty"), ("note", "备注", "note"))}


@dataclass
class Notes:
    """What a workbook's notes sheet (说明 / Notes) says: rows of section, item (Chinese,
    English), value and, for a norm, its unit, standard, clause and certainty."""

    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, section: str, zh: str, en: str, value: Any = None, **norm: Any) -> Notes:
        """One row; ``section`` is run | inputs | norms | estimates | notes."""
        if section not in _SECTIONS:
            raise ValueError(f"notes section {section!r} is not one of {', '.join(_SECTIONS)}")
        self.rows.append({"section": section, "zh": zh, "en": en, "value": value, **norm})
        return self

    def run(self, command: str, at: dt.datetime | None = None) -> Notes:
        """The command and when it ran (local time, with its offset)."""
        at = at or dt.datetime.now().astimezone()
        self.add("run", "命令", "command", command)
        return self.add("run", "运行时间", "run at", at.strftime("%Y-%m-%d %H:%M:%S %z").strip())

    def norms(self, norms: Any, keys: Iterable[str]) -> Notes:
        """The norms ``keys`` of ``norms`` (`layers.norms.Norms`) with their sources."""
        for key in sorted(set(keys)):
            if key not in norms:
                continue
            n = norms[key]
            self.add("norms", key, key, n.value, unit=n.unit, standard=n.standard,
                     clause="" if n.clause in ("", "—") else n.clause, certainty=n.status,
                     note=n.note)
        return self

    def text(self, section: str, zh: str, en: str, text_zh: str, text_en: str) -> Notes:
        """One row whose value is a sentence, written in each language."""
        self.add(section, zh, en, text_en)
        self.rows[-1]["value_zh"] = text_zh
        return self

    def lines(self, section: str, zh: str, en: str, texts: Iterable[str]) -> Notes:
        """Free text lines (the same in both languages) under one item."""
        for t in texts:
            self.add(section, zh, en, t)
        return self

    def frame(self, lang: str) -> pd.DataFrame:
        i = 0 if lang == "zh" else 1
        cert = _CERTAINTY_ZH if lang == "zh" else _CERTAINTY_EN
        return pd.DataFrame([{
            "section": _SECTIONS[r["section"]][i], "item": r["zh"] if lang == "zh" else r["en"],
            "value": r.get(f"value_{lang}", r.get("value")), "unit": r.get("unit") or None,
            "standard": r.get("standard") or None, "clause": r.get("clause") or None,
            "certainty": (f"{cert.get(r['certainty'], r['certainty'])} ({r['certainty']})"
                          if r.get("certainty") else None),
            "note": r.get("note") or None,
        } for r in self.rows], columns=list(NOTE_COLUMNS))


def display_width(text: str) -> int:
    """Columns ``text`` takes in a spreadsheet: a wide (CJK) character counts as two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _sheet_name(name: str) -> str:
    for ch in "[]:*?/\\":
        name = name.replace(ch, " ")
    return name[:31]


def _missing(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return isinstance(v, str) and v.strip() in ("", "nan", "None", "<NA>", "NaN")


def _plain(v: Any) -> Any:
    """A value openpyxl writes: Python numbers, text, dates (naive)."""
    if isinstance(v, np.datetime64):
        v = pd.Timestamp(v)
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    elif isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        v = v.astimezone().replace(tzinfo=None)
    if isinstance(v, list | tuple | set | dict):
        v = ", ".join(str(x) for x in v) if not isinstance(v, dict) else str(v)
    return v


def _cell(v: Any, col: Column, lang: str) -> Any:
    if _missing(v):
        if col.unknown:
            return _UNKNOWN[lang]
        return None if col.numeric or col.blank else _DASH
    v = _plain(v)
    if col.kind == "flag" or isinstance(v, bool):
        yes, no = _YES_NO[lang]
        return yes if bool(v) else no
    if col.numeric:
        try:
            x = float(v)
        except (TypeError, ValueError):
            return str(v)
        if not math.isfinite(x):
            return _UNKNOWN[lang] if col.unknown else None
        if col.from_seconds:
            x /= 60.0
        return int(x) if col.kind == "count" and x.is_integer() else x
    if col.labels and str(v) in col.labels:
        return col.labels[str(v)][0 if lang == "zh" else 1]
    if col.kind == "code":
        return str(v)
    return v


def _guess(key: str, s: pd.Series) -> Column:
    """A column not in the dictionary keeps its key as header; numbers stay numbers."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    if is_bool_dtype(s):
        return Column(key, key, "flag")
    if is_numeric_dtype(s):
        return Column(key, key, "number", fmt="General")
    return Column(key, key)


def _with_names(frame: pd.DataFrame, columns: Mapping[str, Column],
                names: Mapping[str, Mapping[str, str]]) -> pd.DataFrame:
    """Put each code column's name column right after it (filled from ``names`` if absent)."""
    out = frame
    for key, col in columns.items():
        if col.kind != "code" or not col.names or key not in out.columns:
            continue
        if col.names not in out.columns:
            lookup = names.get(col.names)
            if lookup is None:
                continue
            out = out.assign(**{col.names: [None if _missing(c) else lookup.get(str(c))
                                            for c in out[key]]})
        order = [c for c in out.columns if c != col.names]
        at = order.index(key) + 1
        out = out[[*order[:at], col.names, *order[at:]]]
    return out


def _width(values: list[Any], col: Column, header: str) -> float:
    w = display_width(header)
    for v in values[:_WIDTH_ROWS]:
        if v is None:
            continue
        if isinstance(v, float) and col.kind == "percent":
            text = f"{v:.1%}"
        elif isinstance(v, float):
            text = f"{v:,.2f}" if col.kind in ("number", "area") else f"{v:,.1f}"
            if col.kind == "coord":
                text = f"{v:.6f}"
        elif isinstance(v, int):
            text = f"{v:,}"
        elif isinstance(v, dt.datetime):
            text = "2000-01-01 00:00:00"
        elif isinstance(v, dt.date):
            text = "2000-01-01"
        else:
            text = str(v)
        w = max(w, display_width(text))
    return float(min(max(w + 2, 6), _MAX_WIDTH))


def _write_sheet(wb: Any, title: str, frame: pd.DataFrame, columns: Mapping[str, Column],
                 lang: str) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    ws = wb.create_sheet(title)
    safe = spreadsheet_safe(frame.reset_index(drop=True))
    cols = [columns.get(str(k)) or _guess(str(k), safe[k]) for k in safe.columns]
    headers = [c.header(lang) for c in cols]
    ws.append(headers)
    data = [[_cell(v, c, lang) for v in safe[k].tolist()]
            for k, c in zip(safe.columns, cols, strict=True)]
    for row in zip(*data, strict=True) if data else ():
        ws.append(list(row))
    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDEBF7")
    for j, (c, values) in enumerate(zip(cols, data, strict=True), start=1):
        letter = get_column_letter(j)
        head = ws.cell(row=1, column=j)
        head.font, head.fill = bold, fill
        head.alignment = Alignment(vertical="center")
        ws.column_dimensions[letter].width = _width(values, c, headers[j - 1])
        fmt = c.number_format
        if fmt:
            for i, v in enumerate(values, start=2):
                if isinstance(v, int | float) and not isinstance(v, bool):
                    ws.cell(row=i, column=j).number_format = fmt
    ws.freeze_panes = "A2"
    if cols:
        ws.auto_filter.ref = f"A1:{get_column_letter(len(cols))}{max(len(safe) + 1, 1)}"


def write_workbook(target: str | Path | io.BytesIO | None, sheets: Iterable[Sheet],
                   columns: Mapping[str, Column], *, lang: str = "zh", notes: Notes | None = None,
                   names: Mapping[str, Mapping[str, str]] | None = None) -> bytes | None:
    """Write ``sheets`` as one workbook; return its bytes when ``target`` is None.

    ``columns``: the column dictionary (key → `Column`; a key not in it keeps its name as the
    header); ``lang``: ``zh`` (default) or ``en``, for headers, sheet names, yes/no and the
    notes; ``notes``: the notes sheet, written last (说明 / Notes); ``names``: ``{name column
    key: {code: name}}`` lookups for the code columns whose `Column.names` is not in a frame.
    """
    from openpyxl import Workbook

    if lang not in LANGS:
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGS)}")
    wb = Workbook()
    wb.remove(wb.active)
    seen: set[str] = set()
    for s in sheets:
        title = s.name(lang)
        if title in seen:
            raise ValueError(f"two sheets are called {title!r}")
        seen.add(title)
        cols = {**columns, **s.columns}
        _write_sheet(wb, title, _with_names(s.frame, cols, names or {}), cols, lang)
    if notes is not None:
        _write_sheet(wb, "说明" if lang == "zh" else "Notes", notes.frame(lang), NOTE_COLUMNS,
                     lang)
    if not wb.worksheets:
        wb.create_sheet("说明" if lang == "zh" else "Notes")
    if target is None:
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    wb.save(target)
    return None
