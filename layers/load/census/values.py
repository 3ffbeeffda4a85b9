"""Single cells and columns of a census table: plain integers, counts as people write them.

Helpers of the checks (:mod:`layers.load.census.checks`): vectorised tests on whole columns,
and the slow path for the few cells that are not plain digits ('1,234', '123.0', '-', '50人').
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

from emgis.layers.load import codes as C

_PLACEHOLDERS = {"-", "—", "－", "/", "--", "——", "无", "n/a", "na"}


def plain_ints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (is a plain 1–18 digit string, its value) for an object array of strings."""
    n = len(values)
    u = values.astype("U19")
    v = u.view(np.uint32).reshape(n, 19) if n else np.zeros((0, 19), np.uint32)
    filled = v != 0
    plain = (((v >= 48) & (v <= 57)) | ~filled).all(axis=1) & ~filled[:, 18] & filled[:, 0]
    value = np.zeros(n, dtype=np.int64)
    value[plain] = u[plain].astype(np.int64)
    return plain, value


def plain(value: object) -> object:
    """Turn numpy scalars into plain values: messages show 330522100201, not np.int64(...)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def code_ints(codes: pd.Series) -> np.ndarray:
    """Convert a code-list column of 12-digit strings to integers (in C, not per element)."""
    u = np.asarray(codes.to_numpy(dtype=object), dtype="U12")
    if not len(u):
        return np.zeros(0, np.int64)
    return C.digits_value(u.view(np.uint32).reshape(len(u), 12))


def empty_cells(col: np.ndarray) -> np.ndarray:
    """Mark empty cells of a column read as integers, floats (NaN) or text."""
    if col.dtype.kind in "iu":
        return np.zeros(len(col), dtype=bool)
    if col.dtype.kind == "f":
        return np.isnan(col)
    return col == ""


def isin(values: np.ndarray, allowed) -> np.ndarray:
    """Hash-based membership test (np.isin sorts, which is slow for 10^6 values)."""
    return pd.Series(values).isin(allowed).to_numpy()


def fmt_rows(rows: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


COUNT_MESSAGES = {
    "negative": ("is negative", "give zero or a positive count"),
    "fraction": ("is fractional; counts are whole persons or households",
                 "round it to a whole number"),
    "bad_grouping": ("has a comma that is not a thousands separator "
                     "(digits must come in threes: 1,234)",
                     "write the number without separators, e.g. 123 or 1230; "
                     "check which was meant"),
    "sci": ("is in scientific notation; Excel may have dropped digits",
            "widen the column in Excel/WPS and set its number format to 0 (数值, no decimals) "
            "before saving, or export the source again"),
    "unit": ("has text with the number", "write the number only (no units such as 人 or 户)"),
    "not_number": ("is not a number", "write a whole number such as 1234"),
}
_GROUPED_COUNT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")


def parse_count(text: str) -> tuple[int, str]:
    """Parse one count that is not plain digits: (value, kind)."""
    t = unicodedata.normalize("NFKC", text).strip().replace(" ", "")
    if t == "":
        return 0, "empty"
    if t.lower() in _PLACEHOLDERS:
        return 0, "placeholder"
    if re.fullmatch(r"[+]?\d+", t):
        return int(t), "ok"
    if re.fullmatch(r"-\d+(\.0+)?", t):
        return int(float(t)), "ok"  # reported as negative by the caller
    if _GROUPED_COUNT.fullmatch(t):
        return int(t.replace(",", "")), "grouped"
    if re.fullmatch(r"[+-]?\d{1,3}(,\d{3})*\.0+|\d+\.0+", t):
        return int(float(t.replace(",", ""))), "dotted"
    if re.fullmatch(r"[+-]?[\d,]*\.\d+", t):
        return 0, "fraction"
    if re.fullmatch(r"[+-]?\d[\d.]*[eE][+-]?\d+", t):
        return 0, "sci"
    if "," in t and re.fullmatch(r"[+-]?[\d,]+", t):
        return 0, "bad_grouping"
    if re.fullmatch(r"\d+(人|户|口|个)", t):
        return 0, "unit"
    return 0, "not_number"


def same_name(given: str, official: str) -> bool:
    """Tell whether a short name ('仪表社区', 'XX村') names the same unit as the official one."""
    def core(s: str) -> str:
        s = unicodedata.normalize("NFKC", s).replace(" ", "")
        return re.sub(r"(社区居民委员会|村民委员会|居民委员会|委员会|居委会|村委会|村委|社区)$",
                      "", s)

    a, b = core(given), core(official)
    return bool(a) and bool(b) and (a == b or a.startswith(b) or b.startswith(a))


@dataclass
class Table:
    """A census table as read: its columns by field, the user's labels, the row numbers the
    user sees, title lines above the header, and rows the reader already reported."""

    cols: dict[str, np.ndarray]  # int64 where the reader parsed plain integers, else str objects
    labels: dict[str, str]  # field -> the user's column label
    rows: np.ndarray
    titles: list[tuple[int, str]]
    broken: np.ndarray | None = None  # rows already reported by the reader (misaligned cells)
