"""A document's content: what a report says, before it is written as Word, HTML or PDF.

Every document emgis writes for a bureau (the situation report, the coverage, risk and readiness
reports) is the same shape: a title, a subtitle (date, what it is about), numbered sections — each
a heading, a lead sentence, tables (headers and rows of text) and an optional map figure — the
norms cited (key, value, unit, standard, clause, certainty) and notes on every estimate. The
content builders (`shelters.sitrep`, `shelters.coverage_report`, `risk.risk_report`,
`shelters.readiness_report`) fill it; `maps.report_doc` writes it. A figure is described here as
layers of geometries with colours and a legend, and drawn there: no plotting below the maps tier.

Plain data only (shapely geometries in lon/lat for the figures), so every tier may build one.
Cells are text: numbers are formatted by the builder with `fmt`, `pct` and `minutes`, and an
unknown value is written 未知 — never 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

UNKNOWN = "未知"
#: the Chinese section numbers: 一、二、…
NUMERALS = "一二三四五六七八九十"
#: a norm's certainty (`layers.norms.STATUSES`) as a reader of the document sees it
CERTAINTY_ZH = {"V": "已核实", "S": "二手来源", "U": "未核实", "M": "实测", "L": "本地规定"}


@dataclass
class Table:
    """Rows of text under headers; ``title`` (a sub-heading) and ``lead`` come before it."""

    headers: list[str]
    rows: list[list[str]]
    title: str = ""
    lead: str = ""


@dataclass
class MapLayer:
    """Geometries (shapely, lon/lat) drawn one way: ``fill`` polygons, ``line`` or ``point``.

    ``colours`` is one colour or one per geometry; ``label`` is its legend entry (several
    entries, for a layer coloured by class, go in `Figure.legend`); ``names`` labels each
    geometry on the map.
    """

    geoms: list[Any]
    kind: str = "fill"
    colours: str | list[str] = "#999999"
    label: str = ""
    size: float = 4.0
    marker: str = "o"
    alpha: float = 1.0
    edge: str | None = None
    names: list[str] | None = None


@dataclass
class Figure:
    """A map drawn from stored data (no tiles): its layers bottom first, a legend of
    ``(colour, text, kind)`` entries besides the layers' own labels, a caption under it."""

    title: str
    layers: list[MapLayer] = field(default_factory=list)
    legend: list[tuple[str, str, str]] = field(default_factory=list)
    caption: str = ""


@dataclass
class Section:
    """A numbered part of the document: heading, lead sentence, figure, tables, in that order."""

    heading: str
    lead: str = ""
    tables: list[Table] = field(default_factory=list)
    figure: Figure | None = None


@dataclass
class Document:
    """What a report says. ``norms`` is the table of the norms cited (`norm_table`); ``notes``
    say how every estimate was made and what is unknown."""

    title: str
    subtitle: str
    sections: list[Section]
    generated_at: datetime
    notes: list[str] = field(default_factory=list)
    norms: Table | None = None
    norms_heading: str = "规范依据"
    notes_heading: str = "说明"
    footer: str = ""


def numbered(headings: Iterable[str]) -> list[str]:
    """``["总体情况", …]`` → ``["一、总体情况", …]``."""
    return [f"{NUMERALS[i] if i < len(NUMERALS) else i + 1}、{h}"
            for i, h in enumerate(headings)]


def missing(v: Any) -> bool:
    """None, NaN, pandas' NA: a value that is not known."""
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN and NA (NA's comparison raises: not a number, so unknown)
    except (TypeError, ValueError):
        return True


def fmt(v: Any, digits: int = 0) -> str:
    """A number as a cell: thousands separated, ``digits`` decimals; unknown is 未知."""
    if missing(v):
        return UNKNOWN
    if isinstance(v, bool):
        return "是" if v else "否"
    if isinstance(v, float) and math.isinf(v):
        return "不可达"
    if isinstance(v, numbers.Integral):
        return f"{int(v):,}"
    if isinstance(v, numbers.Number):  # float, numpy's, Decimal from the database
        return f"{float(v):,.{digits}f}"  # type: ignore[arg-type]
    return str(v)


def pct(share: Any, digits: int = 1) -> str:
    """A share (0..1) as a percentage: ``0.954`` → ``95.4%``; unknown is 未知."""
    return UNKNOWN if missing(share) else f"{float(share) * 100:.{digits}f}%"


def ratio(part: Any, whole: Any, digits: int = 1) -> str:
    """``part / whole`` as a percentage; unknown (未知) when either is unknown or whole is 0."""
    if missing(part) or missing(whole) or not float(whole):
        return UNKNOWN
    return pct(float(part) / float(whole), digits)


def minutes(seconds: Any, digits: int = 1) -> str:
    """Seconds as minutes; unreachable (infinite) is 不可达, unknown 未知."""
    if missing(seconds):
        return UNKNOWN
    s = float(seconds)
    return "不可达" if math.isinf(s) else f"{s / 60:,.{digits}f}"


NORM_HEADERS = ["规范项", "值", "单位", "标准/来源", "条款", "可信度", "说明"]


def norm_table(norms, keys: Iterable[str], *, lead: str = "") -> Table:
    """The norms cited, one row each (in the order given, once): the key, its value and unit,
    the standard and clause it comes from and how certain that is. ``norms`` is a
    `layers.norms.Norms` (the norms in force, so a planner's override is cited as such)."""
    rows, seen = [], set()
    for key in keys:
        if key in seen or key not in norms:
            continue
        seen.add(key)
        n = norms[key]
        value = n.value if isinstance(n.value, str) else f"{n.value:g}"
        certainty = CERTAINTY_ZH.get(n.status, n.status or UNKNOWN)
        if n.origin != "default":
            certainty += "（本地调整）"
        rows.append([key, value, n.unit, n.standard or UNKNOWN,
                     "" if n.clause in ("", "—") else n.clause, certainty, n.note])
    return Table(list(NORM_HEADERS), rows, lead=lead)


def generated_line(at: datetime) -> str:
    """The last line of every document: when and by what it was made."""
    return f"本报告由 emgis 于 {at:%Y-%m-%d %H:%M} UTC 生成；估算值均已注明。"
