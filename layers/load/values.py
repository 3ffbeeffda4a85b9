"""One cell of a layer file → the value stored, or a problem naming the row, field and range.

Numbers are read as people type them (``1,200``, full-width ``１２００``, ``1e3``, ``-0``) and
must be finite and inside the field's range (its domain within what the column can hold, see
``Field.range`` in layers/schema.py), so no number ever reaches PostgreSQL as an error. Units
(``500人``, ``1.2万``) are refused with the plain number to write instead. Dates are read in the
year-first forms used in China (``2025-06-30``, ``2025/6/30``, ``2025.6.30``, ``20250630``,
``2025年6月30日``); a date without its day, day-first dates and spreadsheet serial numbers are
refused saying why. Text PostgreSQL cannot store (NUL, lone surrogates) is a problem; free text
(``Field.verbatim``) is kept exactly, other text is stripped.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from decimal import Decimal

import numpy as np
import pandas as pd

from emgis.layers import vocab
from emgis.layers.problems import Problems
from emgis.layers.schema import Field

SCIENTIFIC = re.compile(r"^[0-9]+(\.[0-9]+)?[eE][+-]?[0-9]+$")
LIST_SPLIT = re.compile(r"[;,；，、|/\s]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)?(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
_MULTIPLIERS = {"万": 10_000, "千": 1_000, "百": 100, "亿": 100_000_000, "k": 1_000, "K": 1_000}
# a number, a multiplier and/or a unit (人, 平方米, m2 after NFKC of ㎡, kg, %)
_WITH_UNIT = re.compile(r"(?P<num>[+-]?[0-9][0-9,]*(?:\.[0-9]+)?)\s*(?P<mult>[万千百亿kK])?"
                        r"\s*(?P<unit>(?:[^\W\d_]|[%‰°])+[23]?)?")
_BAD_TEXT = re.compile(r"[\x00\ud800-\udfff]")
_PLAIN_FIX = "write a plain number such as 1200 (no units)"


def _is_missing(raw: object) -> bool:
    if raw is None or raw is pd.NaT:
        return True
    if isinstance(raw, (float, np.floating)) and math.isnan(raw):
        return True
    return isinstance(raw, np.datetime64) and np.isnat(raw)


def fmt_number(v: float) -> str:
    """12, not 12.0; 1.79769e+308 for the float8 limit."""
    if float(v).is_integer() and abs(v) < 1e16:
        return str(int(v))
    return f"{v:g}"


def describe_range(f: Field) -> str:
    lo, hi = f.range
    if f.exclusive_minimum:
        return f"above {fmt_number(lo)} and at most {fmt_number(hi)}"
    return f"{fmt_number(lo)}–{fmt_number(hi)}"


def _text_problem(text: str) -> str | None:
    bad = _BAD_TEXT.search(text)
    if bad is None:
        return None
    if bad.group() == "\x00":
        return "contains a NUL character (\\x00), which PostgreSQL cannot store in text"
    return (f"contains a lone surrogate (U+{ord(bad.group()):04X}), half of a UTF-16 pair that is "
            "not a character")


def parse_number(text: str) -> tuple[float | None, str | None, str]:
    """Return (value, None, fix) or (None, message, fix) for a cell typed as a number."""
    s = unicodedata.normalize("NFKC", text).strip()
    if _NON_FINITE.fullmatch(s):
        return None, "is not a finite number (NaN or infinity)", "give a number"
    if _NUMBER.fullmatch(s) and any(c.isdigit() for c in s):
        plain = s.replace(",", "")
        v = float(plain)
        if math.isinf(v):
            return None, "is too large", "give a number"
        return v + 0.0, None, ""  # + 0.0 turns -0.0 into 0.0
    m = _WITH_UNIT.fullmatch(s)
    if m and (m["mult"] or m["unit"]) and _NUMBER.fullmatch(m["num"]):
        d = Decimal(m["num"].replace(",", "")) * _MULTIPLIERS.get(m["mult"] or "", 1)
        plain = format(d.normalize(), "f")
        if m["mult"]:
            return None, (f"uses {m['mult']} (× {_MULTIPLIERS[m['mult']]:,})"
                          + (f" and a unit ({m['unit']})" if m["unit"] else "")), \
                f"write the number in full, e.g. {plain}"
        return None, f"has a unit ({m['unit']})", f"write the number alone, e.g. {plain}"
    return None, "is not a number", _PLAIN_FIX


def parse_coordinate(text: str) -> tuple[float | None, str | None]:
    """A longitude or latitude cell: (value, None) or (None, message)."""
    s = unicodedata.normalize("NFKC", text).strip()
    if _NON_FINITE.fullmatch(s):
        return None, ("is NaN (not a number), not a coordinate" if s.lstrip("+-")[0].lower() == "n"
                      else "is infinite, not a coordinate")
    if not _PLAIN.fullmatch(s):
        return None, "is not a coordinate number"
    v = float(s)
    if math.isinf(v):
        return None, "is infinite (too large), not a coordinate"
    return v + 0.0, None


def _number_value(f: Field, raw: object, text: str, row: int, p: Problems):
    if isinstance(raw, (bool, np.bool_)):
        p.error(row, f.name, text, "is a true/false value, not a number", _PLAIN_FIX)
        return None
    if isinstance(raw, (int, np.integer)):
        v: float | None = int(raw)
    elif isinstance(raw, (float, np.floating)):
        v = float(raw)
        if not math.isfinite(v):
            message, fix = "is not a finite number (NaN or infinity)", "give a number"
            v = None
    else:
        v, message, fix = parse_number(text)
    if v is None:
        p.error(row, f.name, text, message, f"{fix} in the range {describe_range(f)}")
        return None
    lo, hi = f.range
    if v < lo or v > hi or (f.exclusive_minimum and v == lo):
        what = "is negative, " if v < 0 <= lo else "is "
        p.error(row, f.name, text, f"{what}outside the range {describe_range(f)} of {f.name}",
                f"give a number in the range {describe_range(f)}")
        return None
    if f.kind == "int":
        if not float(v).is_integer():
            p.error(row, f.name, text, "is fractional but counts whole people/items",
                    "round it to a whole number")
            return None
        return int(v)
    return float(v) + 0.0


_ISO = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})"
                  r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_CHINESE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?")
_YEAR_MONTH = re.compile(r"\d{4}\s*年\s*\d{1,2}\s*月|\d{4}[-/.]\d{1,2}")
_DAY_FIRST = re.compile(r"\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
DATE_FIX = "write dates as YYYY-MM-DD, e.g. 2025-06-30"


def parse_date(raw: object) -> tuple[dt.date | None, str | None]:
    """(date, None) or (None, message) for a date cell (a string or a typed date)."""
    if isinstance(raw, (pd.Timestamp, dt.datetime)):
        return raw.date(), None
    if isinstance(raw, dt.date):
        return raw, None
    if isinstance(raw, np.datetime64):
        return pd.Timestamp(raw).date(), None
    s = unicodedata.normalize("NFKC", str(raw)).strip()
    for pattern in (_ISO, _COMPACT, _CHINESE):
        m = pattern.fullmatch(s)
        if m:
            y, mo, d = (int(g) for g in m.groups() if g not in ("-", "/", "."))
            try:
                return dt.date(y, mo, d), None
            except ValueError:
                return None, "is not a date (there is no such day)"
    if re.fullmatch(r"\d{4}", s):
        return None, "has a year but no month and day"
    if _YEAR_MONTH.fullmatch(s):
        return None, "has no day"
    if _DAY_FIRST.fullmatch(s):
        return None, ("puts the day and month before the year, so which is the day and which the "
                      "month is ambiguous")
    if _SERIAL.fullmatch(s):
        days = float(s)
        if 1 <= days <= 2_958_465:
            as_date = dt.date(1899, 12, 30) + dt.timedelta(days=int(days))
            return None, (f"looks like a spreadsheet serial number (it would be "
                          f"{as_date.isoformat()}), the date's format was lost")
    return None, "is not a date"


def convert(f: Field, raw: object, row: int, p: Problems):
    """Convert one cell; record a problem and return None when it cannot be."""
    if isinstance(raw, (list, tuple, np.ndarray)):  # a list property of a GeoJSON feature
        raw = ";".join(str(x) for x in raw if not _is_missing(x))
    if _is_missing(raw):
        text = ""
    elif isinstance(raw, (float, np.floating)) and float(raw).is_integer() and f.kind in (
            "code", "text"):
        text = str(int(raw))
    elif isinstance(raw, str) and f.verbatim:
        text = raw if raw.strip() else ""
    else:
        text = str(raw).strip()
    if text == "":
        if f.required:
            p.error(row, f.name, text, "is empty but required",
                    f"fill in {f.name}" + (f" ({f.help})" if f.help else ""))
        return None
    bad = _text_problem(text)
    if bad is not None:
        shown = _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
        p.error(row, f.name, shown, bad,
                "remove the character (a broken export or encoding leaves it); save the file "
                "again as UTF-8")
        return None
    if f.max_length is not None and len(text) > f.max_length:
        p.error(row, f.name, text, f"is longer than the column holds (at most {f.max_length} "
                                   "characters)",
                f"shorten it{f' ({f.help})' if f.help else ''}")
        return None
    if f.kind == "text" or f.kind == "ref":
        return text
    if f.kind in ("int", "float"):
        return _number_value(f, raw, text, row, p)
    if f.kind == "enum":
        key = vocab.lookup(f.terms, text)
        if key is None:
            p.error(row, f.name, text, "is not a known value",
                    f"use one of: {vocab.describe(f.terms)}")
        return key
    if f.kind == "enum_list":
        keys, bad_parts = [], []
        for part in filter(None, LIST_SPLIT.split(text)):
            k = vocab.lookup(f.terms, part)
            (keys if k else bad_parts).append(k or part)
        if bad_parts:
            p.error(row, f.name, ";".join(bad_parts), "contains unknown values",
                    f"separate values with ';' and use: {vocab.describe(f.terms)}")
            return None
        return sorted(set(keys))
    if f.kind == "date":
        value, message = parse_date(raw)
        if message is not None:
            p.error(row, f.name, text, message, DATE_FIX)
        return value
    if f.kind == "code":
        return _code(f, text, row, p)
    raise AssertionError(f.kind)


def _code(f: Field, text: str, row: int, p: Problems) -> str | None:
    text = unicodedata.normalize("NFKC", text)  # full-width digits from Chinese input methods
    if SCIENTIFIC.match(text):
        p.error(row, f.name, text,
                "was turned into scientific notation by Excel; the digits are lost and cannot "
                "be recovered",
                "in Excel/WPS set the column's format to Text (文本) before entering or "
                "pasting codes, or export from the source system as CSV and do not open it in "
                "Excel")
        return None
    if re.fullmatch(r"\d+\.0+", text):
        text = text.split(".")[0]
    if not (text.isascii() and text.isdigit()) or len(text) not in (6, 9, 12):
        p.error(row, f.name, text, "is not a 6-, 9- or 12-digit division code",
                "give the statistical division code (统计用区划代码), digits only")
        return None
    return text.ljust(12, "0")


def objects(gdf, values: list) -> pd.Series:
    """A column that keeps ints as ints and None as None (pandas would make floats and NaN)."""
    return pd.Series(values, index=gdf.index, dtype=object)
