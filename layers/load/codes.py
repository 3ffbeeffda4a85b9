"""Read official statistical division code lists (统计用区划代码) and answer questions about codes.

A code list is one normalised frame, one row per (code, vintage):

========================  ===============================================================
``code``                  12-digit string (6-digit county codes get ``000000``, 9-digit
                          township codes get ``000``)
``level``                 ``county`` / ``township`` / ``village`` (from the code's segments)
``name``                  the official name
``parent_code``           12-digit code of the unit above (village → township → county →
                          prefecture)
``vintage``               the year of the list (NBS publishes one each year)
``urban_rural_class``     the 3-digit 城乡分类代码 where the list gives it, else missing
========================  ===============================================================

The structure rules (docs/domain.md §6, 国统字〔2009〕91号) live in one place here, and the
census loader reuses :func:`parse_codes` so that a code means the same thing everywhere.
Code lists change every year (withdrawn, merged, renamed units): :func:`diff_code_lists`
says what changed between two vintages.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from emgis.layers.problems import InputError, Problems
from emgis.layers.text import decode_text

# --- the structure of a code (domain.md §6) -----------------------------------------------------
# 12 digits: PP CC XX TTT VVV. These are identifier formats, not planning norms, so they are a
# table here rather than a Norms key.
PROVINCES = frozenset(
    (11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
     50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82)
)
TOWNSHIP_SEGMENT_MAX = 599  # 001–099 街道, 100–199 镇, 200–399 乡, 400–599 类似乡级单位
VILLAGE_SEGMENT_DOCUMENTED_MAX = 599  # 居委会 001–199, 村委会 200+, 类似村级 400–599 [U]
LEVEL_BY_DIGITS = {6: "county", 9: "township", 12: "village"}
URBAN_RURAL_CLASS = {
    "111": "主城区", "112": "城乡结合区", "121": "镇中心区", "122": "镇乡结合区",
    "123": "特殊区域", "210": "乡中心区", "220": "村庄",
}
CODE_LIST_COLUMNS = ["code", "level", "name", "parent_code", "vintage", "urban_rural_class"]
_POW = 10 ** np.arange(11, -1, -1, dtype=np.int64)
_SCI = re.compile(r"[+]?(\d)(?:\.(\d+))?[eE]\+?(\d+)")
_DOT_ZERO = re.compile(r"(\d+)\.0+")
_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+")
EXCEL_TEXT_FIX = (
    "in Excel/WPS select the code column, set its format to Text (文本) and re-enter or paste the "
    "codes from the source (or use 数据 › 分列 › 文本 when opening the CSV); do not let Excel open "
    "and re-save a CSV of codes"
)


@dataclass
class ParsedCodes:
    """Codes read from a column: what each value was, what it means, what went wrong.

    ``number`` is the 12-digit code as an integer (0 where the value is not a code);
    ``issue`` is '' for a clean value or one of: empty, sci_lost, not_digits, length,
    province, township_segment, village_without_township (errors) and sci_recovered,
    dot_zero, grouped, full_width (recovered; a note or warning is due).
    """

    raw: np.ndarray
    number: np.ndarray
    digits: np.ndarray
    issue: np.ndarray

    @cached_property
    def ok(self) -> np.ndarray:
        return self.number > 0

    @cached_property
    def code(self) -> np.ndarray:
        """12-digit strings ('' where the value is not a code)."""
        # province 11–82: never a leading zero
        return np.where(self.ok, self.number.astype("U12"), "")

    @cached_property
    def level(self) -> np.ndarray:
        return code_levels(self.number)

    def shown(self, i: int) -> object:
        """The value as the user wrote it, for messages."""
        return "" if self.issue[i] == "empty" else self.raw[i]


def code_levels(number: np.ndarray) -> np.ndarray:
    """Return 'county', 'township' or 'village' for 12-digit codes given as integers."""
    number = np.asarray(number, dtype=np.int64)
    village = number % 1000
    township = (number // 1000) % 1000
    return np.where(village != 0, "village", np.where(township != 0, "township", "county"))


def parent_numbers(number: np.ndarray) -> np.ndarray:
    """Return the 12-digit parent code (as integers) of each code: village → township → county →
    prefecture."""
    number = np.asarray(number, dtype=np.int64)
    lvl = code_levels(number)
    return np.where(lvl == "village", number // 1000 * 1000,
                    np.where(lvl == "township", number // 10**6 * 10**6, number // 10**8 * 10**8))


def parse_codes(values: pd.Series | np.ndarray) -> ParsedCodes:
    """Parse a column of division codes, vectorised, recording what is wrong with each value.

    Parameters
    ----------
    values
        Integers (already parsed by the CSV reader) or strings as the user typed them.

    Returns
    -------
    ParsedCodes
        Per value: the 12-digit number (0 if unusable), its digit count as given and an
        issue key (see :class:`ParsedCodes`).
    """
    arr = np.asarray(values)
    n = len(arr)
    issue = np.full(n, "", dtype=object)
    if arr.dtype.kind == "f":  # integers with blanks (NaN)
        blank = np.isnan(arr)
        parsed = parse_codes(np.where(blank, 0, arr).astype(np.int64))
        parsed.issue[blank] = "empty"
        parsed.number[blank] = 0
        parsed.digits[blank] = 0
        parsed.raw = arr
        return parsed
    if arr.dtype.kind in "iu":
        number = arr.astype(np.int64)
        digits = np.searchsorted(10 ** np.arange(19, dtype=np.int64), np.abs(number), side="right")
        digits = np.maximum(digits, 1).astype(np.int64)
        raw = arr
    else:
        raw = np.asarray(pd.Series(arr, dtype=object).fillna("").astype(str), dtype=object)
        u = raw.astype("U13")
        v = u.view(np.uint32).reshape(n, 13) if n else np.zeros((0, 13), np.uint32)
        filled = v != 0
        digits = filled.sum(axis=1).astype(np.int64)
        isdigit = ((v >= 48) & (v <= 57)) | ~filled
        fast = isdigit.all(axis=1) & ~filled[:, 12] & (digits > 0)
        number = np.zeros(n, dtype=np.int64)
        number[fast] = digits_value(v[fast, :12]) // (10 ** (12 - digits[fast]))
        for i in np.flatnonzero(~fast):
            num, ndig, why = _rescue_code(raw[i])
            number[i], digits[i], issue[i] = num, ndig, why
    number = np.where(issue == "", number, np.where(np.isin(issue, _RECOVERED), number, 0))
    good = (issue == "") | np.isin(issue, _RECOVERED)
    length_ok = np.isin(digits, (6, 9, 12))
    bad_len = good & ~length_ok
    issue[bad_len] = "length"
    number = np.where(bad_len, 0, number)
    scale = np.where(digits == 6, 10**6, np.where(digits == 9, 10**3, 1))
    number = number * scale
    good = number > 0
    province = number // 10**10
    township = (number // 1000) % 1000
    village = number % 1000
    for key, mask in (
        ("province", good & ~np.isin(province, list(PROVINCES))),
        ("township_segment", good & (township > TOWNSHIP_SEGMENT_MAX)),
        ("village_without_township", good & (township == 0) & (village != 0)),
    ):
        issue[mask] = key
        number = np.where(mask, 0, number)
    return ParsedCodes(raw=raw, number=number, digits=digits, issue=issue)


_RECOVERED = ("sci_recovered", "dot_zero", "grouped", "full_width")


def digits_value(chars: np.ndarray) -> np.ndarray:
    """Read rows of UCS-4 code points (digits, then zeros) as left-aligned 12-digit integers.

    Column by column (Horner), which is several times faster than ``astype(int)`` on strings.
    """
    value = np.zeros(len(chars), dtype=np.int64)
    for k in range(chars.shape[1]):
        col = chars[:, k].astype(np.int64)
        value = value * 10 + np.where(col != 0, col - 48, 0)
    return value


def _rescue_code(value: object) -> tuple[int, int, str]:
    """Classify one code that is not a plain digit string: (number, digits, issue)."""
    text = str(value).strip()
    issue = ""
    norm = unicodedata.normalize("NFKC", text)
    if norm != text:
        text, issue = norm.strip(), "full_width"
    text = text.replace(" ", "")
    if text == "":
        return 0, 0, "empty"
    if text.isdigit():
        return int(text), len(text), issue
    m = _SCI.fullmatch(text)
    if m:
        mantissa = m.group(1) + (m.group(2) or "")
        exponent = int(m.group(3))
        if len(mantissa.rstrip("0")) <= exponent + 1 and len(mantissa) == exponent + 1:
            return int(mantissa), len(mantissa), "sci_recovered"
        return 0, 0, "sci_lost"
    m = _DOT_ZERO.fullmatch(text)
    if m:
        return int(m.group(1)), len(m.group(1)), "dot_zero"
    if _GROUPED.fullmatch(text):
        digits = text.replace(",", "")
        return int(digits), len(digits), "grouped"
    return 0, 0, "not_digits"


def describe_code_issue(issue: str, raw: object, digits: int) -> tuple[str, str]:
    """Return (message, fix) for an issue key of :func:`parse_codes`."""
    if issue == "empty":
        return ("is empty",
                "give the 12-digit statistical division code (统计用区划代码) of the unit")
    if issue == "sci_lost":
        return ("was turned into scientific notation by Excel; the last digits are lost and cannot "
                "be recovered", EXCEL_TEXT_FIX)
    if issue == "not_digits":
        return ("is not a division code (codes are digits only)",
                "give the 6-, 9- or 12-digit statistical division code, digits only, without "
                "letters, spaces or dashes")
    if issue == "length":
        hint = ""
        if digits in (5, 8, 11):
            hint = (f" ({digits} digits: one short of {digits + 1}; a leading zero of a segment "
                    "may have been dropped when the column was stored as numbers, e.g. village 001 "
                    "written as 01)")
        return (f"has {digits} digits; a division code has 6 (county), 9 (township) or 12 "
                f"(village) digits{hint}",
                "give the full code from the official list (统计用区划代码); " + EXCEL_TEXT_FIX)
    if issue == "province":
        return ("does not start with a province code (11–82)",
                "check the code against the official list; the first two digits are the province "
                "(浙江 33)")
    if issue == "township_segment":
        return (f"has township segment (digits 7–9) above {TOWNSHIP_SEGMENT_MAX}; 001–099 are "
                "街道, 100–199 镇, 200–399 乡, 400–599 similar units",
                "check digits 7–9 against the official list")
    if issue == "village_without_township":
        return ("has a village segment (digits 10–12) but township segment 000",
                "digits 7–9 must name the township; check the code against the official list")
    raise ValueError(f"issue={issue!r} is not an issue key of parse_codes")


# --- reading code lists -------------------------------------------------------------------------

_LIST_CODE = ("code", "区划代码", "统计用区划代码", "代码", "行政区划代码", "统计代码")
_LIST_NAME = ("name", "名称", "区划名称", "单位名称")
_LIST_URBAN = ("urban_rural_class", "urban_rural", "城乡分类代码", "城乡分类", "urbanruralcode")
_LIST_VINTAGE = ("vintage", "year", "年份", "年度")
_PREFIX_COLUMNS = {"provincecode": 2, "citycode": 4, "areacode": 6, "streetcode": 9}


def _label(text: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def parse_code_list(path: str | Path, *,
                    vintage: int | None = None) -> tuple[pd.DataFrame, Problems]:
    """Read and check an official code list; return the normalised frame and every problem.

    Parameters
    ----------
    path
        CSV (UTF-8 or GBK) or XLSX with a code column (``code`` / 区划代码 / 统计用区划代码)
        and a name column (``name`` / 名称); optional prefix columns (``provinceCode``,
        ``cityCode``, ``areaCode``, ``streetCode``) are checked against the code, and an
        optional 城乡分类代码 column is kept.
    vintage
        Year of the list. Defaults to a ``vintage``/``year`` column, else a year in the
        file name (``..._2022_...``).
    """
    path = Path(path)
    p = Problems(path.name)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in CODE_LIST_COLUMNS})
    try:
        if path.suffix.lower() in (".xlsx", ".xlsm"):
            df = pd.read_excel(path, dtype=str, keep_default_na=False, engine="openpyxl")
        else:
            text, _ = decode_text(path.read_bytes())
            df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=None,
                             engine="python")
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        p.error(None, None, str(path), f"could not be read as a code list ({exc})",
                "give the list as CSV (UTF-8 or GBK) or XLSX with columns code and name")
        return empty, p
    labels = {_label(c): c for c in df.columns}
    code_col = next((labels[a] for a in map(_label, _LIST_CODE) if a in labels), None)
    name_col = next((labels[a] for a in map(_label, _LIST_NAME) if a in labels), None)
    for col, what, aliases in ((code_col, "code", _LIST_CODE), (name_col, "name", _LIST_NAME)):
        if col is None:
            p.error(1, what, ", ".join(map(str, df.columns)), f"has no {what} column",
                    f"name the column one of: {', '.join(aliases)}")
    if code_col is None or name_col is None:
        return empty, p
    rows = np.arange(2, len(df) + 2)
    vintage = _resolve_vintage(vintage, df, labels, path, p)
    parsed = parse_codes(df[code_col].to_numpy())
    for i in np.flatnonzero(~parsed.ok):
        msg, fix = describe_code_issue(parsed.issue[i], parsed.raw[i], int(parsed.digits[i]))
        p.error(int(rows[i]), code_col, str(parsed.raw[i]), msg, fix)
    names = df[name_col].astype(str).str.strip().to_numpy()
    for i in np.flatnonzero(names == ""):
        p.error(int(rows[i]), name_col, "", "is empty", "give the official name of the unit")
    for label, width in _PREFIX_COLUMNS.items():
        if label not in labels:
            continue
        col = labels[label]
        given = pd.to_numeric(df[col], errors="coerce").to_numpy()
        expect = parsed.number // 10 ** (12 - width)
        bad = parsed.ok & (given != expect)
        for i in np.flatnonzero(bad):
            p.error(int(rows[i]), col, str(df[col].iat[i]),
                    f"does not match the first {width} digits of code {parsed.raw[i]}",
                    f"{col} must be the code's first {width} digits ({expect[i]}); check which of "
                    "the two is wrong")
    urban = np.full(len(df), None, dtype=object)
    urban_col = next((labels[a] for a in map(_label, _LIST_URBAN) if a in labels), None)
    if urban_col is not None:
        u = df[urban_col].astype(str).str.strip().str.replace(r"\.0+$", "", regex=True)
        bad = (u != "") & ~u.isin(list(URBAN_RURAL_CLASS))
        for i in np.flatnonzero(bad.to_numpy()):
            p.error(int(rows[i]), urban_col, str(u.iat[i]), "is not an urban-rural class code",
                    "use one of " + ", ".join(f"{k} {v}" for k, v in URBAN_RURAL_CLASS.items()))
        urban = np.where(u.to_numpy() == "", None, u.to_numpy())
    out = pd.DataFrame({
        "code": parsed.code, "level": parsed.level, "name": names,
        "parent_code": np.char.zfill(parent_numbers(parsed.number).astype("U12"), 12),
        "vintage": vintage if vintage is not None else 0, "urban_rural_class": urban,
    }, index=pd.Index(rows, name="row"))
    out = out[parsed.ok]
    _check_duplicates(out, p, code_col)
    out = out.drop_duplicates(subset=["code", "vintage"])
    return out, p


def _resolve_vintage(vintage, df, labels, path: Path, p: Problems) -> int | None:
    if vintage is not None:
        return int(vintage)
    col = next((labels[a] for a in _LIST_VINTAGE if a in labels), None)
    if col is not None:
        years = pd.to_numeric(df[col], errors="coerce").dropna().unique()
        if len(years) == 1:
            return int(years[0])
        p.error(None, col, ", ".join(map(str, df[col].unique()[:5])), "holds more than one year",
                "give one file per vintage year, or pass the vintage explicitly")
        return None
    m = re.search(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)", path.stem)
    if m:
        return int(m.group(1))
    p.error(None, "vintage", None,
            "the year of the code list is not known (no year column, no year in the file name)",
            "pass the vintage (emgis load codes FILE --vintage 2022) or put the year in the file "
            "name")
    return None


def _check_duplicates(frame: pd.DataFrame, p: Problems, code_col: str) -> None:
    dup = frame.duplicated(subset=["code", "vintage"], keep="first")
    if not dup.any():
        return
    first = frame.reset_index().drop_duplicates(subset=["code", "vintage"]).set_index("code")
    for row, rec in frame[dup].iterrows():
        orig = first.loc[rec["code"]]
        if orig["name"] == rec["name"]:
            p.warn(int(row), code_col, rec["code"],
                   f"is listed twice (also row {orig['row']}); the repeat is ignored",
                   "remove the repeated row")
        else:
            p.error(int(row), code_col, rec["code"],
                    f"is listed twice with different names ('{orig['name']}' on row {orig['row']}, "
                    f"'{rec['name']}' here)",
                    "keep the row with the official name for this vintage; one code names one unit "
                    "per year")


def read_code_list(path: str | Path, *, vintage: int | None = None) -> pd.DataFrame:
    """Read an official code list; raise :class:`InputError` listing every error.

    Warnings (repeated rows) do not stop the read; use :func:`parse_code_list` to see them.
    """
    frame, problems = parse_code_list(path, vintage=vintage)
    problems.raise_if_errors(accept_warnings=True)
    return frame.reset_index(drop=True)


def combine_code_lists(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate code lists (e.g. county, township and village files of one vintage)."""
    out = pd.concat(list(frames), ignore_index=True)
    return out.drop_duplicates(subset=["code", "vintage"], keep="last").reset_index(drop=True)


# --- questions about codes ----------------------------------------------------------------------

def _numbers(codes: Iterable[str] | pd.Series | np.ndarray) -> np.ndarray:
    parsed = parse_codes(np.asarray(list(codes) if not isinstance(codes, (pd.Series, np.ndarray))
                                    else codes))
    return parsed.number


def is_known(code_list: pd.DataFrame, codes: Iterable[str] | pd.Series | np.ndarray, *,
             vintage: int | None = None) -> np.ndarray:
    """Return a boolean array: is each code (6, 9 or 12 digits) in the code list (of
    ``vintage``)?"""
    known = code_list if vintage is None else code_list[code_list["vintage"] == vintage]
    number = _numbers(codes)
    return (number > 0) & np.isin(number, known["code"].astype(np.int64).to_numpy())


def closest_known(code_list: pd.DataFrame, codes: Iterable[str] | pd.Series | np.ndarray, *,
                  vintage: int | None = None) -> pd.DataFrame:
    """Suggest the closest known code for each code: same level, fewest differing digits.

    Candidates are the known codes of the same level; the distance is the number of
    differing digits (a one-digit typo scores 1, a swap 2), ties broken by numeric distance,
    so codes under the same township and county win. A code one digit short (a dropped
    zero) is matched to a known code from which one digit was deleted.

    Returns
    -------
    DataFrame
        Columns ``code`` (as given), ``suggestion`` (12-digit, or None), ``name``,
        ``distance`` (differing digits).
    """
    known = code_list if vintage is None else code_list[code_list["vintage"] == vintage]
    known = known.drop_duplicates(subset="code")
    k_num = known["code"].astype(np.int64).to_numpy()
    k_names = known["name"].to_numpy()
    k_level = code_levels(k_num)
    k_digits = (k_num[:, None] // _POW) % 10
    codes = list(codes)
    raw = np.asarray(codes, dtype=object)
    parsed = parse_codes(raw)
    out = []
    deletions: dict[str, int] | None = None
    for i, code in enumerate(codes):
        num = int(parsed.number[i])
        if num == 0:
            text = re.sub(r"\D", "", unicodedata.normalize("NFKC", str(code)))
            j = None
            if len(text) in (5, 8, 11):
                if deletions is None:
                    deletions = _deletion_index(known["code"].to_numpy())
                j = deletions.get(text)
            if j is None:
                out.append((code, None, None, None))
            else:
                out.append((code, known["code"].iat[j], k_names[j], 1))
            continue
        cand = np.flatnonzero(k_level == code_levels(np.array([num]))[0])
        if len(cand) == 0:
            out.append((code, None, None, None))
            continue
        dist = (k_digits[cand] != (num // _POW) % 10).sum(axis=1)
        order = np.lexsort((np.abs(k_num[cand] - num), dist))
        best = cand[order[0]]
        out.append((code, f"{k_num[best]:012d}", k_names[best], int(dist[order[0]])))
    return pd.DataFrame(out, columns=["code", "suggestion", "name", "distance"])


def _deletion_index(known_codes: np.ndarray) -> dict[str, int]:
    """Map each known code as written (6, 9 or 12 digits) with one digit deleted to its row."""
    index: dict[str, int] = {}
    for j, code in enumerate(known_codes):
        written = (code[:6] if code.endswith("000000") else code[:9] if code.endswith("000")
                   else code)
        for pos in range(len(written)):
            index.setdefault(written[:pos] + written[pos + 1:], j)
    return index


@dataclass
class CodeListDiff:
    """What changed between two code lists."""

    withdrawn: pd.DataFrame  # in the old list only: code, name, level, parent_code
    added: pd.DataFrame  # in the new list only
    renamed: pd.DataFrame  # in both, different name: code, old_name, new_name
    # likely the same unit with a new code: old_code, new_code, name, parent_code
    recoded: pd.DataFrame


def diff_code_lists(old: pd.DataFrame, new: pd.DataFrame) -> CodeListDiff:
    """Compare two code lists (two vintages): withdrawn, added, renamed and likely recoded units."""
    cols = ["code", "name", "level", "parent_code"]
    o = old[cols].drop_duplicates(subset="code")
    n = new[cols].drop_duplicates(subset="code")
    merged = o.merge(n, on="code", how="outer", suffixes=("_old", "_new"), indicator=True)
    withdrawn = o[o["code"].isin(merged.loc[merged["_merge"] == "left_only", "code"])
                  ].reset_index(drop=True)
    added = n[n["code"].isin(merged.loc[merged["_merge"] == "right_only", "code"])
              ].reset_index(drop=True)
    both = merged[merged["_merge"] == "both"]
    renamed = both.loc[both["name_old"] != both["name_new"], ["code", "name_old", "name_new"]]
    renamed = renamed.rename(columns={"name_old": "old_name",
                                      "name_new": "new_name"}).reset_index(drop=True)
    recoded = withdrawn.merge(added, on=["name", "level", "parent_code"], suffixes=("_old", "_new"))
    recoded = recoded.rename(columns={"code_old": "old_code", "code_new": "new_code"})
    recoded = recoded[["old_code", "new_code", "name", "parent_code"]].reset_index(drop=True)
    return CodeListDiff(withdrawn, added, renamed, recoded)


def name_of(code_list: pd.DataFrame, code: str) -> str | None:
    """Return the name of a code in the list (latest vintage), or None."""
    number = int(parse_codes(np.array([str(code)], dtype=object)).number[0])
    hit = code_list[code_list["code"] == f"{number:012d}"]
    if hit.empty:
        return None
    return str(hit.sort_values("vintage")["name"].iat[-1])


__all__ = [
    "CODE_LIST_COLUMNS",
    "URBAN_RURAL_CLASS",
    "CodeListDiff",
    "InputError",
    "ParsedCodes",
    "closest_known",
    "code_levels",
    "combine_code_lists",
    "describe_code_issue",
    "diff_code_lists",
    "digits_value",
    "is_known",
    "name_of",
    "parent_numbers",
    "parse_code_list",
    "parse_codes",
    "read_code_list",
]
