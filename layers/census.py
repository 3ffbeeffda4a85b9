"""Read a census table keyed by statistical division codes and check all of it at once.

``read_census`` takes the CSV or XLSX a statistics office hands out (UTF-8, UTF-8 with BOM,
GBK/GB18030 or UTF-16; Chinese or English headers; title rows and two-row merged headers)
and returns the clean rows, every problem (file, row as the user sees it, field, value,
fix) and notes on what was read and how. It writes nothing: the caller writes the frame
only when there are no errors and the user accepts the warnings.

Row numbers are the spreadsheet row or the CSV line (header and title lines counted).
Checking is vectorised over the whole file; Python loops touch only the rows that need a
message, so a clean 700,000-row file parses and checks in seconds (bench/census.py).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emgis.layers import codes as C
from emgis.layers.problems import Problems
from emgis.layers.text import UTF8, decode_text

COUNT_FIELDS = ("population", "households", "age_0_14", "age_15_64", "age_65_plus")
FRAME_COLUMNS = ["code", "level", "name", "year", "population", "households",
                 "age_0_14", "age_15_64", "age_65_plus", "urban_rural_class"]
_ALIASES = {
    "code": ("区划代码", "统计用区划代码", "代码", "code", "行政区划代码", "统计代码", "区划编码", "编码",
             "村代码", "村级代码", "村(社区)代码", "adcode", "division_code", "admin_code", "unit_code"),
    "name": ("名称", "name", "村名", "村名称", "村(社区)名称", "单位名称", "区划名称", "地区", "地区名称",
             "行政区划名称", "村(居)委会", "村(社区)", "村居名称", "村(居)名称"),
    "population": ("常住人口", "人口", "总人口", "population", "常住人口数", "人口数", "总人口数", "人口总数",
                   "常住人口总数", "pop", "population_total", "total_population", "人数"),
    "households": ("户数", "households", "总户数", "家庭户数", "户", "household", "常住户数"),
    "urban_rural_class": ("城乡分类代码", "城乡分类", "城乡属性代码", "urban_rural", "urban_rural_class",
                          "urban_rural_code", "城乡代码"),
}
_AGE_PATTERNS = {
    "age_0_14": re.compile(r"(age_?)?0-14(岁)?(人口|人数)?"),
    "age_15_64": re.compile(r"(age_?)?15-64(岁)?(人口|人数)?"),
    "age_65_plus": re.compile(r"(age_?)?65(岁)?(及以上|以上|\+|_?plus|及以上)(人口|人数)?"),
}
_SUB_TOTAL_LABELS = {"合计", "小计", "总计", "计", "总数", "total", "总"}
_TOTAL_WORDS = re.compile(r"(合计|总计|小计|共计|总数|^全(县|市|区|旗|乡|镇)$|^(grand)?total$|^sum$)", re.IGNORECASE)
_GRAND_TOTAL = re.compile(r"^(全(县|市|区|旗))?(合计|总计|共计|总数)$|^全(县|市|区|旗)$|^(grand)?total$|^sum$",
                          re.IGNORECASE)
_PLACEHOLDERS = {"-", "—", "－", "/", "--", "——", "无", "n/a", "na"}
_HEADER_SCAN = 30


@dataclass
class CensusResult:
    """What ``read_census`` found.

    ``frame`` holds the clean data rows (index ``row``: the row as the user sees it);
    total rows and rows with errors are left out. ``parent_totals`` lists every stated
    total (合计 rows, township/county rows with their villages in the file, totals given
    by the caller) with the sum of its children and the difference.
    """

    frame: pd.DataFrame
    problems: Problems
    notes: list[str] = field(default_factory=list)
    parent_totals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=_TOTAL_COLUMNS))
    encoding: str | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings may remain: the user must accept them)."""
        return not self.problems.errors


_TOTAL_COLUMNS = ["code", "name", "row", "source", "stated", "summed", "children", "children_level", "difference"]


@dataclass
class _Table:
    cols: dict[str, np.ndarray]  # int64 arrays where the reader parsed plain integers, else str objects
    labels: dict[str, str]  # field -> the user's column label
    rows: np.ndarray
    titles: list[tuple[int, str]]
    broken: np.ndarray | None = None  # rows already reported by the reader (misaligned cells)


def read_census(path: str | Path, *, year: int, code_list: pd.DataFrame | None = None,
                county_code: str | None = None, expected_totals: Mapping[str, int] | None = None,
                encoding: str | None = None, sheet: str | None = None) -> CensusResult:
    """Read and check a census table keyed by 6-, 9- or 12-digit statistical division codes.

    Parameters
    ----------
    path
        CSV/TXT/TSV (UTF-8, UTF-8 BOM, GBK/GB18030, UTF-16) or XLSX.
    year
        Census or statistics year; the key is (code, year).
    code_list
        Official code list(s) from :func:`layers.codes.read_code_list` (any vintages).
        Codes are checked against the vintage equal to ``year`` or the closest earlier one.
    county_code
        6-digit code of the study county; every code must lie in it.
    expected_totals
        Known totals to check sums against, e.g. ``{"330522": 673776}`` from the census
        county table.
    encoding, sheet
        Override the detected encoding, or pick an XLSX sheet by name.
    """
    path = Path(path)
    p = Problems(path.name)
    notes: list[str] = []
    empty = CensusResult(_empty_frame(), p, notes)
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)) or not 1949 <= int(year) <= 2100:
        p.error(None, "year", year, "is not a plausible census year", "pass --year as four digits, e.g. --year 2020")
        return empty
    county = None
    if county_code is not None:
        cp = C.parse_codes(np.array([str(county_code)], dtype=object))
        if not cp.ok[0] or cp.level[0] != "county":
            p.error(None, "county_code", county_code, "is not a 6-digit county code",
                    "give the study county's code, e.g. 330522 for 长兴县")
            return empty
        county = int(cp.number[0]) // 10**6
    table, enc = _read_table(path, p, notes, encoding, sheet)
    empty.encoding = enc
    if table is None:
        return empty
    frame, totals = _Checker(table, int(year), code_list, county, expected_totals, p, notes).run()
    p.items.sort(key=lambda x: (x.row is None, x.row or 0))  # read top to bottom, like the file
    return CensusResult(frame, p, notes, totals, enc)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FRAME_COLUMNS}, index=pd.Index([], name="row"))


# --- reading ------------------------------------------------------------------------------------

def _read_table(path: Path, p: Problems, notes: list[str], encoding: str | None,
                sheet: str | None) -> tuple[_Table | None, str | None]:
    if not path.is_file():
        p.error(None, None, str(path), "does not exist or is not a file", "check the path and the file name")
        return None, None
    data = path.read_bytes()
    if not data.strip():
        p.error(None, None, None, "the file is empty", "export the table again; the file has no content")
        return None, None
    suffix = path.suffix.lower()
    if data[:4] == b"PK\x03\x04":
        if suffix not in (".xlsx", ".xlsm"):
            notes.append(f"{path.name} is an Excel workbook despite its '{suffix}' name; read it as XLSX")
        return _read_xlsx(path, p, notes, sheet), None
    if suffix in (".xlsx", ".xlsm"):
        p.error(None, None, path.name, "has an .xlsx name but is not an Excel workbook",
                "save it again from Excel/WPS as .xlsx, or rename a CSV to .csv")
        return None, None
    if suffix == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        p.error(None, None, path.name, "is an old Excel 97–2003 (.xls) workbook, which emgis does not read",
                "open it in Excel/WPS and save as .xlsx (Excel 工作簿) or as CSV")
        return None, None
    try:
        text, label = decode_text(data, encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        p.error(None, None, encoding, f"the file could not be decoded ({exc})",
                "save it as UTF-8 or GBK (CSV), or pass the right encoding")
        return None, None
    # the body is parsed as UTF-8 bytes by pandas' C reader: re-encode anything else once
    table = _read_csv(data if label == UTF8 else text.encode("utf-8"), p, notes)
    notes.insert(0, f"read {path.name} as {label} text")
    return table, label


def _sniff_separator(text: str) -> str:
    head = text[:20000].splitlines()[:_HEADER_SCAN]
    counts = {sep: sum(line.count(sep) for line in head) for sep in (",", "\t", ";", "|")}
    return max(counts, key=lambda s: (counts[s], s == ","))


def _read_csv(data: bytes, p: Problems, notes: list[str]) -> _Table | None:
    """Read delimited UTF-8 text: header found in the first lines, the body by pandas' C parser."""
    head_bytes = data[:200_000]
    if len(data) > len(head_bytes):
        head_bytes = head_bytes[: head_bytes.rfind(b"\n") + 1]
    head_text = head_bytes.decode("utf-8")
    sep = _sniff_separator(head_text)
    if sep != ",":
        notes.append(f"columns are separated by {sep!r}")
    reader = csv.reader(io.StringIO(head_text), delimiter=sep)
    head, lines = [], []
    for rec in reader:
        head.append(rec)
        lines.append(reader.line_num)
        if len(head) >= _HEADER_SCAN:
            break
    found = _find_header(head, lines, p, notes)
    if found is None:
        return None
    last, fields, labels, titles = found
    start_line = lines[last]
    ncols = max(len(r) for r in head[: last + 1])
    cut = -1  # b"\n" never occurs inside a UTF-8 or GBK multi-byte character
    for _ in range(start_line):
        cut = data.find(b"\n", cut + 1)
        if cut < 0:
            break
    body = data[cut + 1:] if cut >= 0 else b""
    # Without '.', '+' or 'E-' anywhere, a float column can only mean integers with blanks; otherwise such
    # columns are re-read as text so that '1.2E+05', '12.5' and '3.30522E+11' keep their spelling.
    risky = any(t in body for t in (b".", b"+", b"E-", b"e-"))
    opts = {"sep": sep, "header": None, "names": list(range(ncols)), "index_col": False, "engine": "c",
            "skip_blank_lines": False, "skipinitialspace": True, "low_memory": False}
    broken = None
    try:
        df = pd.read_csv(io.BytesIO(body), dtype={fields["name"]: object} if "name" in fields else None,
                         na_filter=True, keep_default_na=False, na_values=[""], **opts)
    except pd.errors.ParserError:
        df, broken = _slow_csv(body.decode("utf-8"), sep, ncols, start_line, p)
    except pd.errors.EmptyDataError:
        df = pd.DataFrame(columns=range(ncols))
    cols: dict[str, np.ndarray] = {}
    again = []
    for f, i in fields.items():
        s = df[i]
        if f != "name" and (s.dtype == np.int64 or (s.dtype == np.float64 and not risky)):
            cols[f] = s.to_numpy()
        elif f != "name" and s.dtype == np.float64:
            again.append(f)
        else:
            cols[f] = np.asarray(s.fillna("").astype(str), dtype=object)
    if again:
        raw = pd.read_csv(io.BytesIO(body), usecols=[fields[f] for f in again], dtype=str, na_filter=False, **opts)
        for f in again:
            cols[f] = np.asarray(raw[fields[f]].astype(str), dtype=object)
    rows = np.arange(start_line + 1, start_line + 1 + len(df), dtype=np.int64)
    return _Table(cols, labels, rows, titles, broken)


def _slow_csv(body: str, sep: str, ncols: int, start_line: int, p: Problems) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a CSV whose rows have more cells than the header, reporting each such row."""
    reader = csv.reader(io.StringIO(body), delimiter=sep)
    out, prev, broken = [], 0, []
    for rec in reader:
        line = start_line + prev + 1
        prev = reader.line_num
        extra = [c for c in rec[ncols:] if c.strip()]
        if extra:
            p.error(line, None, sep.join(rec),
                    f"has {len(rec)} cells but the header has {ncols}; the values do not line up with the columns",
                    "a number written with a thousands separator (1,234) or a name containing a comma must be "
                    "quoted (\"1,234\"); save the file from Excel/WPS as CSV, which quotes such cells, "
                    "or remove the separator")
            broken.append(len(out))
        out.append((rec + [""] * ncols)[:ncols])
    mask = np.zeros(len(out), dtype=bool)
    mask[broken] = True
    return pd.DataFrame(out, columns=range(ncols), dtype=object), mask


def _cell_text(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, str):
        return v
    return str(v)


def _read_xlsx(path: Path, p: Problems, notes: list[str], sheet: str | None) -> _Table | None:
    import openpyxl

    try:
        # from bytes: openpyxl refuses a workbook whose name does not end in .xlsx
        wb = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for damaged files
        p.error(None, None, path.name, f"could not be read as an Excel workbook ({exc})",
                "save it again from Excel/WPS as .xlsx, or export it as CSV")
        return None
    try:
        names = wb.sheetnames
        if sheet is not None and sheet not in names:
            p.error(None, "sheet", sheet, "is not a sheet of this workbook", f"use one of: {', '.join(names)}")
            return None
        tried = []
        for name in [sheet] if sheet is not None else names:
            grid = [list(r) for r in wb[name].iter_rows(min_row=1, values_only=True)]
            head = [[_cell_text(v) for v in r] for r in grid[:_HEADER_SCAN]]
            quiet = Problems(path.name)
            found = _find_header(head, list(range(1, len(head) + 1)), quiet, [])
            if found is None:
                tried.append((name, quiet))
                continue
            found = _find_header(head, list(range(1, len(head) + 1)), p, notes)
            if len(names) > 1:
                notes.append(f"read sheet '{name}'; other sheets ignored: {', '.join(n for n in names if n != name)}")
            last, fields, labels, titles = found
            body = grid[last + 1:]
            cols = {}
            for f, i in fields.items():
                vals = [r[i] if i < len(r) else None for r in body]
                if vals and all(type(v) is int for v in vals):
                    cols[f] = np.array(vals, dtype=np.int64)
                else:
                    cols[f] = np.array([_cell_text(v).strip() for v in vals], dtype=object)
            rows = np.arange(last + 2, last + 2 + len(body), dtype=np.int64)
            return _Table(cols, labels, rows, titles)
        if tried:
            p.extend(tried[0][1])
        return None
    finally:
        wb.close()


# --- header ------------------------------------------------------------------------------------

def _norm(label: object) -> str:
    t = unicodedata.normalize("NFKC", str(label)).lower()
    t = re.sub(r"\s+", "", t)
    t = re.sub(r"[~—–至－]", "-", t)
    t = re.sub(r"\((人|户|个|人数|户数|岁|人口)\)$", "", t)
    return t


_ALIAS_INDEX = {_norm(a): f for f, aliases in _ALIASES.items() for a in aliases}


def _field_of(label: str) -> str | None:
    t = _norm(label)
    if not t:
        return None
    if t in _ALIAS_INDEX:
        return _ALIAS_INDEX[t]
    for f, pat in _AGE_PATTERNS.items():
        if pat.fullmatch(t):
            return f
    if re.fullmatch(r"(常住|总)?人口(数)?\(万人?\)", t):
        return "population_10k"
    return None


def _find_header(head: list[list[str]], lines: list[int], p: Problems, notes: list[str]):
    """Find the header row(s); return (last header index, {field: column}, labels, titles)."""
    start = None
    for r, rec in enumerate(head):
        mapped = {_field_of(c) for c in rec}
        if "code" in mapped and ({"population", "name", "population_10k"} & mapped or len(mapped - {None}) > 1):
            start = r
            break
        if "code" in mapped and start is None:
            start = r
    if start is None:
        shown = " | ".join(c for c in (head[0] if head else []) if c.strip())[:120]
        p.error(1, None, shown, f"no header row with a code column was found in the first {_HEADER_SCAN} rows",
                "put a header row naming the columns, e.g. 区划代码,名称,常住人口,户数 (or code,name,population)")
        return None
    top, sub = head[start], None
    nxt = head[start + 1] if start + 1 < len(head) else None
    code_idx = next(i for i, c in enumerate(top) if _field_of(c) == "code")
    if nxt is not None and _is_sub_header(nxt, code_idx):
        sub, last = nxt, start + 1
    elif start > 0 and any(_norm(c) in _SUB_TOTAL_LABELS for c in top) and any(c.strip() for c in head[start - 1]):
        top, sub, last = head[start - 1], top, start
        start -= 1
    else:
        last = start
    labels_by_col = _combine_header(top, sub)
    fields: dict[str, int] = {}
    labels: dict[str, str] = {}
    ignored = []
    header_line = lines[start]
    for i, (label, f) in enumerate(labels_by_col):
        if f is None:
            if label:
                ignored.append(label)
            continue
        if f == "population_10k":
            p.error(header_line, label, label, "gives population in 万人 (tens of thousands)",
                    "give whole persons (e.g. 673776, not 67.3776) under a header such as 常住人口")
            continue
        if f in fields:
            p.error(header_line, label, label,
                    f"looks like the {f} column too (also '{labels[f]}' in column {_col_letter(fields[f])})",
                    f"keep one {f} column: rename or delete column {_col_letter(i)}")
            continue
        fields[f] = i
        labels[f] = label
    if "population" not in fields:
        if not any(e.message.startswith("gives population") for e in p.errors):
            p.error(header_line, None, " | ".join(lb for lb, _ in labels_by_col if lb),
                    "has no population column",
                    "name the population column 常住人口 (or 人口, 总人口, population)")
        return None
    titles = [(lines[r], " ".join(c.strip() for c in head[r] if c.strip()))
              for r in range(start) if any(c.strip() for c in head[r])]
    where = f"row {header_line}" if last == start else f"rows {header_line}–{lines[last]}"
    notes.append(f"header on {where}: " + ", ".join(f"{labels[f]} → {f}" for f in fields))
    if ignored:
        notes.append("columns not used: " + ", ".join(ignored))
    for line, text in titles:
        notes.append(f"row {line} is a title ('{text}'), not data; skipped")
    return last, fields, labels, titles


def _is_sub_header(rec: list[str], code_idx: int) -> bool:
    """A second header row: labels such as 合计 / 0-14岁 and no code in the code column."""
    cell = rec[code_idx].strip() if code_idx < len(rec) else ""
    if cell and C.parse_codes(np.array([cell], dtype=object)).ok[0]:
        return False
    norm = [_norm(c) for c in rec]
    if any(re.fullmatch(r"[+-]?[\d,]+(\.\d+)?", t) for t in norm if t):
        return False  # figures: a data or total row (合计 at the top of the table), not labels
    return any(t in _SUB_TOTAL_LABELS or _field_of(t) is not None for t in norm if t)


def _combine_header(top: list[str], sub: list[str] | None) -> list[tuple[str, str | None]]:
    """Label and field of each column; a blank top cell under a merged label inherits it."""
    if sub is None:
        return [(c.strip(), _field_of(c)) for c in top]
    width = max(len(top), len(sub))
    top = top + [""] * (width - len(top))
    sub = sub + [""] * (width - len(sub))
    out, carried = [], ""
    for t, s in zip(top, sub, strict=True):
        t, s = t.strip(), s.strip()
        if t:
            carried = t
        parent = t or (carried if s else "")
        fs = _field_of(s) if s else None
        if fs is not None:
            out.append((f"{parent}/{s}" if parent and parent != s else s, fs))
        elif not s or _norm(s) in _SUB_TOTAL_LABELS:
            label = f"{parent}/{s}" if s else parent
            out.append((label, _field_of(parent) if parent else None))
        else:
            out.append((f"{parent}/{s}" if parent else s, None))
    return out


def _col_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


# --- checking -----------------------------------------------------------------------------------

def _plain_ints(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (is a plain 1–18 digit string, its value) for an object array of strings."""
    n = len(values)
    u = values.astype("U19")
    v = u.view(np.uint32).reshape(n, 19) if n else np.zeros((0, 19), np.uint32)
    filled = v != 0
    plain = (((v >= 48) & (v <= 57)) | ~filled).all(axis=1) & ~filled[:, 18] & filled[:, 0]
    value = np.zeros(n, dtype=np.int64)
    value[plain] = u[plain].astype(np.int64)
    return plain, value


def _plain(value: object) -> object:
    """Turn numpy scalars into plain values so that messages show 330522100201, not np.int64(...)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _code_ints(codes: pd.Series) -> np.ndarray:
    """Convert a code-list column of 12-digit strings to integers (in C, not per element)."""
    u = np.asarray(codes.to_numpy(dtype=object), dtype="U12")
    return C.digits_value(u.view(np.uint32).reshape(len(u), 12)) if len(u) else np.zeros(0, np.int64)


def _empty(col: np.ndarray) -> np.ndarray:
    """Mark empty cells of a column read as integers, floats (NaN) or text."""
    if col.dtype.kind in "iu":
        return np.zeros(len(col), dtype=bool)
    if col.dtype.kind == "f":
        return np.isnan(col)
    return col == ""


def _isin(values: np.ndarray, allowed) -> np.ndarray:
    """Hash-based membership test (np.isin sorts, which is slow for 10^6 values)."""
    return pd.Series(values).isin(allowed).to_numpy()


def _fmt_rows(rows: np.ndarray, limit: int = 8) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


class _Checker:
    """Check one table; every method adds problems and marks bad rows."""

    def __init__(self, table: _Table, year: int, code_list, county, expected, p: Problems, notes):
        self.t, self.year, self.code_list, self.county = table, year, code_list, county
        self.expected, self.p, self.notes = expected, p, notes
        self.n = len(table.rows)
        self.rows = table.rows
        self.bad = np.zeros(self.n, dtype=bool)

    def label(self, f: str) -> str:
        return self.t.labels.get(f, f)

    def err(self, i: int, f: str | None, value, message: str, fix: str) -> None:
        self.p.error(int(self.rows[i]), None if f is None else self.label(f), _plain(value), message, fix)
        self.bad[i] = True

    def warn(self, i: int, f: str | None, value, message: str, fix: str) -> None:
        self.p.warn(int(self.rows[i]), None if f is None else self.label(f), _plain(value), message, fix)

    # ---------------------------------------------------------------------------------------
    def run(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        t = self.t
        self._check_titles()
        names = t.cols.get("name")
        # leading spaces are dropped by the reader; trailing ones are ignored when names are compared
        self.names = (np.array(names, dtype=object) if names is not None
                      else np.full(self.n, "", dtype=object))
        self.blank = self._blank_rows()
        self.codes = C.parse_codes(t.cols["code"])
        self.code_str = self.codes.code
        self.total = self._total_rows()
        self.skip = self.blank | self.total
        if t.broken is not None:
            self.skip |= t.broken
            self.bad |= t.broken
        study = self.county
        if study is None:
            prefixes = np.unique(self.codes.number[self.codes.ok & ~self.skip] // 10**6)
            study = int(prefixes[0]) if len(prefixes) == 1 else None
        self.study = study
        self.counts = {f: self._counts(f) for f in COUNT_FIELDS if f in t.cols}
        self._check_codes()
        self._check_county()
        if self.code_list is not None:
            self._check_code_list()
        else:
            self._check_file_hierarchy()
        self._check_duplicates()
        self._check_breakdowns()
        urban = self._urban_rural()
        frame = self._frame(urban)
        totals = self._parent_totals(frame)
        return frame, totals

    def _check_titles(self) -> None:
        for line, text in self.t.titles:
            years = {int(y) for y in re.findall(r"(?<!\d)(19[5-9]\d|20\d\d)(?!\d)", text)}
            if years and self.year not in years:
                self.p.warn(line, None, text, f"the title names {', '.join(map(str, sorted(years)))} "
                            f"but the data are being loaded as year {self.year}",
                            f"check --year (the title suggests --year {min(years)}) or the title")

    def _blank_rows(self) -> np.ndarray:
        blank = np.ones(self.n, dtype=bool)
        for f, col in self.t.cols.items():
            if col.dtype.kind in "iu":
                return np.zeros(self.n, dtype=bool)
            blank &= (self.names == "") if f == "name" else _empty(col)
        if blank.any():
            self.notes.append(f"{int(blank.sum())} blank row(s) skipped (rows {_fmt_rows(self.rows[blank])})")
        return blank

    def _total_rows(self) -> np.ndarray:
        """Rows labelled 合计/总计/小计/全县… (in the name or the code column)."""
        cand = np.flatnonzero(~self.blank & ((self.codes.number == 0) | (self.codes.level != "village")))
        total = np.zeros(self.n, dtype=bool)
        for i in cand:
            text = re.sub(r"\s+", "", f"{self.names[i]}{'' if self.codes.number[i] else self.codes.shown(i)}")
            if _TOTAL_WORDS.search(text):
                total[i] = True
        for i in np.flatnonzero(total):  # a note, not a warning: a differing total is warned about on its own
            self.notes.append(f"row {int(self.rows[i])} ({self.names[i] or self.codes.shown(i)}) is a total row: "
                              "skipped as data, its figure checks the sum of the rows it totals")
        return total

    def _counts(self, f: str) -> tuple[np.ndarray, np.ndarray]:
        """Return (values, present) for a count column; report bad values."""
        col = self.t.cols[f]
        if col.dtype.kind in "iu":
            values, present = col.astype(np.int64), np.ones(self.n, dtype=bool)
        elif col.dtype.kind == "f":  # integers with blanks (the reader saw no decimal point in the file)
            present = ~np.isnan(col)
            values = np.where(present, col, 0).astype(np.int64)
            missing = ~present & ~self.skip
            if f == "population":
                for i in np.flatnonzero(missing):
                    self.err(i, f, "", "is empty", "give the number of resident persons (0 if none)")
        else:
            s = col
            plain, values = _plain_ints(s)
            present = plain.copy()
            grouped, dotted, placeholders = [], [], []
            for i in np.flatnonzero(~plain & ~self.skip):
                v, kind = _parse_count(s[i])
                if kind == "empty":
                    if f == "population" and not self.blank[i]:
                        self.err(i, f, "", "is empty", "give the number of resident persons (0 if none)")
                    continue
                if kind == "placeholder":
                    if f == "population":
                        self.err(i, f, s[i], "is a placeholder, not a number", "give the number of persons (0 if none)")
                    else:
                        placeholders.append(self.rows[i])
                    continue
                if kind in ("ok", "grouped", "dotted"):
                    values[i], present[i] = v, True
                    (grouped if kind == "grouped" else dotted if kind == "dotted" else []).append(self.rows[i])
                    continue
                self.err(i, f, s[i], *_COUNT_MESSAGES[kind])
            # total rows keep their figure for the sum check
            for i in np.flatnonzero(~plain & self.total):
                v, kind = _parse_count(s[i])
                if kind in ("ok", "grouped", "dotted"):
                    values[i], present[i] = v, True
            if grouped:
                self.notes.append(f"{self.label(f)}: {len(grouped)} number(s) written with thousands separators "
                                  f"(e.g. '1,234') were read as whole numbers (rows {_fmt_rows(np.array(grouped))})")
            if dotted:
                self.notes.append(f"{self.label(f)}: {len(dotted)} number(s) written as '123.0' were read as "
                                  f"whole numbers (rows {_fmt_rows(np.array(dotted))})")
            if placeholders:
                self.notes.append(f"{self.label(f)}: {len(placeholders)} cell(s) holding '-' or '/' read as "
                                  f"'not given' (rows {_fmt_rows(np.array(placeholders))})")
        neg = present & (values < 0) & ~self.skip
        for i in np.flatnonzero(neg):
            self.err(i, f, int(values[i]), "is negative", "give zero or a positive count")
        present &= ~neg
        return values, present

    def _check_codes(self) -> None:
        pc = self.codes
        f = "code"
        todo = ~self.skip
        for i in np.flatnonzero(todo & ~pc.ok):
            raw = pc.shown(i)
            msg, fix = C.describe_code_issue(pc.issue[i], raw, int(pc.digits[i]))
            if pc.issue[i] == "empty":
                what = self.names[i] or "this row"
                msg, fix = "is empty", f"give the 12-digit statistical division code (统计用区划代码) of {what}"
            if self.code_list is not None and pc.issue[i] in ("length", "not_digits"):
                s = C.closest_known(self.code_list, [str(_plain(raw))])
                if s["suggestion"].iat[0] is not None:
                    fix = f"did you mean {s['suggestion'].iat[0]} ({s['name'].iat[0]})? " + fix
            self.err(i, f, raw, msg, fix)
        for issue, text in (("dot_zero", "ended in '.0' (the column was stored as numbers)"),
                            ("grouped", "were written with thousands separators"),
                            ("full_width", "were written with full-width characters")):
            hit = todo & (pc.issue == issue)
            if hit.any():
                self.notes.append(f"{int(hit.sum())} code(s) {text}; read as plain codes (rows "
                                  f"{_fmt_rows(self.rows[hit])}). To avoid this, {C.EXCEL_TEXT_FIX}")
        for i in np.flatnonzero(todo & (pc.issue == "sci_recovered")):
            self.warn(i, f, pc.raw[i], f"is in scientific notation; all 12 digits are present, read as {pc.code[i]}",
                      "check the code; " + C.EXCEL_TEXT_FIX)
        big = todo & pc.ok & (pc.number % 1000 > C.VILLAGE_SEGMENT_DOCUMENTED_MAX)
        for i in np.flatnonzero(big):
            self.warn(i, f, pc.code[i], "has a village segment (digits 10–12) above 599, outside the documented ranges",
                      "check the code against the official list")
        levels = {lv: int((pc.level[todo & pc.ok] == lv).sum()) for lv in ("county", "township", "village")}
        levels = {lv: n for lv, n in levels.items() if n}
        if len(levels) > 1:
            self.notes.append("rows at several levels: " + ", ".join(f"{n} {lv}" for lv, n in levels.items())
                              + "; all kept (column level); higher-level rows also check the sum of their rows")

    def _check_county(self) -> None:
        ok = self.codes.ok & ~self.skip
        county = self.codes.number // 10**6
        if self.county is None:
            counts = pd.Series(county[ok]).value_counts()
            if len(counts) > 1:
                self.notes.append("the file covers several counties: " + ", ".join(map(str, counts.index[:10])))
            return
        name = self._name_of(self.county * 10**6)
        for i in np.flatnonzero(ok & (county != self.county)):
            self.err(i, "code", self.code_str[i],
                     f"is in county {county[i]}, not in the study county {self.county}{name}",
                     f"keep only rows of county {self.county}, or check the code's first 6 digits")

    def _name_of(self, number: int) -> str:
        if self.code_list is None:
            return ""
        hit = self.code_list.loc[self.code_list["code"] == f"{number:012d}", "name"]
        return f" ({hit.iat[0]})" if len(hit) else ""

    def _check_code_list(self) -> None:
        cl = self.code_list
        vintages = sorted({int(v) for v in cl["vintage"].unique()}) if "vintage" in cl else []
        vintage = None
        if vintages:
            earlier = [v for v in vintages if v <= self.year]
            vintage = max(earlier) if earlier else min(vintages)
            if vintage != self.year:
                self.notes.append(f"no {self.year} code list loaded; codes checked against the {vintage} list")
        cur = cl if vintage is None else cl[cl["vintage"] == vintage]
        known = _code_ints(cur["code"])
        index = pd.Index(known)
        if not index.is_unique:
            keep = ~index.duplicated()
            cur, known = cur[keep], known[keep]
            index = pd.Index(known)
        known_levels = set(cur["level"].unique())
        num, lvl = self.codes.number, self.codes.level
        todo = self.codes.ok & ~self.skip & ~self.bad
        pos = index.get_indexer(num)
        in_list = pos >= 0
        parent = C.parent_numbers(num)
        check_self = todo & np.logical_or.reduce([lvl == lv for lv in known_levels] + [np.zeros(self.n, bool)])
        unknown = check_self & ~in_list
        if unknown.any():
            idx = np.flatnonzero(unknown)
            sugg = C.closest_known(cur, self.code_str[idx])
            other = cl[cl["vintage"] != vintage] if vintage is not None else cl.iloc[:0]
            for k, i in enumerate(idx):
                code = self.code_str[i]
                elsewhere = other[other["code"] == code]
                if len(elsewhere):
                    ov = int(elsewhere["vintage"].iat[0])
                    self.err(i, "code", code,
                             f"is not in the {vintage} code list; it is in the {ov} list ('{elsewhere['name'].iat[0]}'): "
                             f"the unit was withdrawn, merged or recoded between {min(ov, vintage)} and {max(ov, vintage)}",
                             f"give its {vintage} code, or load the {self.year} code list (emgis load codes FILE) "
                             f"if these are {self.year} figures")
                    continue
                fix = "check the code against the official list (统计用区划代码)"
                if sugg["suggestion"].iat[k] is not None:
                    fix = f"did you mean {sugg['suggestion'].iat[k]} ({sugg['name'].iat[k]})? " + fix
                extra = ""
                if lvl[i] == "village" and "township" in known_levels and index.get_indexer([parent[i]])[0] < 0:
                    extra = f"; its township {parent[i]:012d} is not in the list either"
                listed = f"the {vintage} code list" if vintage else "the code list"
                self.err(i, "code", code, f"is not in {listed}{extra}", fix)
        # rows of a level the list does not hold: check their parent instead
        check_parent = todo & ~check_self & (lvl == "village") & ("township" in known_levels)
        for i in np.flatnonzero(check_parent & (index.get_indexer(parent) < 0)):
            self.err(i, "code", self.code_str[i], f"lies under township {parent[i]:012d}, which is not in the code list",
                     "check digits 7–9 (the township) against the official list")
        if check_parent.any() and not check_self.any():
            self.notes.append("the code list has no codes at this level; only the townships of the codes were checked")
        self._compare_names(cur, todo & in_list, pos)

    def _compare_names(self, cur: pd.DataFrame, mask: np.ndarray, pos: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        if not len(idx):
            return
        official = cur["name"].to_numpy(dtype=object)[pos[idx]]
        given = self.names[idx]
        fill = given == ""
        if fill.any() and "name" in self.t.cols:
            self.notes.append(f"{int(fill.sum())} empty name(s) filled from the code list")
        self.names[idx[fill]] = official[fill]
        for k in np.flatnonzero(~fill & (given != official)):
            if not _same_name(given[k], official[k]):
                self.warn(idx[k], "name", given[k],
                          f"differs from the code list name '{official[k]}' for {self.code_str[idx[k]]}",
                          "check that the code belongs to this unit (a renamed unit keeps its code; "
                          "a different unit means the code is wrong)")
        if "urban_rural_class" in cur and "urban_rural_class" in self.t.cols:
            ref = np.full(self.n, None, dtype=object)
            ref[idx] = cur["urban_rural_class"].to_numpy(dtype=object)[pos[idx]]
            self._official_urban = ref

    def _check_file_hierarchy(self) -> None:
        ok = self.codes.ok & ~self.skip & ~self.bad
        num, lvl = self.codes.number, self.codes.level
        towns = set(num[ok & (lvl == "township")].tolist())
        if not towns:
            return
        counties_with_towns = {t // 10**6 for t in towns}
        parent = C.parent_numbers(num)
        vill = ok & (lvl == "village") & _isin(num // 10**6, list(counties_with_towns))
        for i in np.flatnonzero(vill & ~_isin(parent, list(towns))):
            self.warn(i, "code", self.code_str[i],
                      f"lies under township {parent[i]:012d}, which has no row in this file (the other townships do)",
                      "check digits 7–9 of the code, or add the township's row")

    def _check_duplicates(self) -> None:
        ok = self.codes.ok & ~self.skip
        num = self.codes.number
        dup = ok & pd.Series(num).where(ok, -1 - np.arange(self.n)).duplicated(keep=False).to_numpy()
        if not dup.any():
            return
        idx = np.flatnonzero(dup)
        first: dict[int, int] = {}
        for i in idx:
            key = int(num[i])
            if key not in first:
                first[key] = i
                continue
            j = first[key]
            self.err(i, "code", self.code_str[i], f"appears twice (rows {self.rows[j]} and {self.rows[i]})",
                     "keep one row per code and year; if two units share a code, one of the codes is wrong")
            self.bad[j] = True

    def _check_breakdowns(self) -> None:
        if "population" not in self.counts:
            return
        pop, has_pop = self.counts["population"]
        live = ~self.skip & has_pop
        ages = [f for f in ("age_0_14", "age_15_64", "age_65_plus") if f in self.counts]
        for f in [*ages, "households"]:
            if f not in self.counts:
                continue
            v, has = self.counts[f]
            over = live & has & (v > pop)
            what = "more households than residents" if f == "households" else "more than the total population"
            for i in np.flatnonzero(over):
                self.err(i, f, int(v[i]), f"is {what} ({int(pop[i])})",
                         f"check {self.label(f)} and {self.label('population')} on this row (columns swapped?)")
        if len(ages) == 3:
            has_all = live & np.logical_and.reduce([self.counts[f][1] for f in ages])
            total = sum(self.counts[f][0] for f in ages)
            for i in np.flatnonzero(has_all & (total > pop) & ~self.bad):
                self.err(i, "population", int(pop[i]), f"is less than the sum of the age groups ({int(total[i])})",
                         "the three age groups must add up to the total; check each figure")
            for i in np.flatnonzero(has_all & (total < pop) & ~self.bad):
                self.warn(i, "population", int(pop[i]),
                          f"is {int(pop[i] - total[i])} more than the sum of the age groups ({int(total[i])})",
                          "the age groups normally add up to the total; check for a missing or mistyped figure")

    def _urban_rural(self) -> np.ndarray:
        col = self.t.cols.get("urban_rural_class")
        out = np.full(self.n, None, dtype=object)
        if col is None:
            return out
        allowed = list(C.URBAN_RURAL_CLASS)
        if col.dtype.kind in "iuf":
            given = ~np.isnan(col) if col.dtype.kind == "f" else np.ones(self.n, dtype=bool)
            ints = np.where(given, col, 0).astype(np.int64)
            table = np.array(sorted(allowed), dtype=object)
            where = np.searchsorted(table.astype(np.int64), ints).clip(0, len(table) - 1)
            good = given & (table.astype(np.int64)[where] == ints)
            out[good] = table[where[good]]
            shown = ints.astype(object)
        else:
            good = _isin(col, allowed)
            out[good] = col[good]
            given = col != ""
            shown = col.copy()
            for i in np.flatnonzero(given & ~good):  # ' 220', '220.0', full-width digits
                t = re.sub(r"\.0+$", "", unicodedata.normalize("NFKC", str(col[i])).strip())
                shown[i] = t
                if t in C.URBAN_RURAL_CLASS:
                    out[i], good[i] = t, True
        for i in np.flatnonzero(~self.skip & given & ~good):
            self.err(i, "urban_rural_class", shown[i], "is not an urban-rural class code (城乡分类代码)",
                     "use one of " + ", ".join(f"{k} {v}" for k, v in C.URBAN_RURAL_CLASS.items()))
        ref = getattr(self, "_official_urban", None)
        if ref is not None:
            differs = good & ~self.skip & pd.notna(ref) & (ref != out)
            for i in np.flatnonzero(differs):
                self.warn(i, "urban_rural_class", out[i],
                          f"differs from the code list's class {ref[i]} ({C.URBAN_RURAL_CLASS.get(ref[i], '?')})",
                          "check which is current; the class can change between vintages")
        return out

    def _frame(self, urban: np.ndarray) -> pd.DataFrame:
        keep = ~self.skip & ~self.bad & self.codes.ok
        if "population" in self.counts:
            keep &= self.counts["population"][1]
        level_table = np.array(["county", "township", "village"], dtype=object)
        data = {  # object columns: pandas' str dtype would cost a second pass over 10^6 strings
            "code": pd.Series(self.code_str[keep].astype(object), dtype=object),
            "level": pd.Series(level_table[np.searchsorted(level_table.astype(str), self.codes.level[keep])],
                               dtype=object),
            "name": pd.Series(self.names[keep], dtype=object),
            "year": np.full(int(keep.sum()), self.year, dtype=np.int64),
        }
        for f in COUNT_FIELDS:
            if f in self.counts:
                v, has = self.counts[f]
                arr = pd.array(v[keep], dtype="Int64")
                arr[~has[keep]] = pd.NA
                data[f] = arr if f != "population" else v[keep]
            else:
                data[f] = pd.array([pd.NA] * int(keep.sum()), dtype="Int64")
        data["urban_rural_class"] = urban[keep]
        self.frame_numbers = self.codes.number[keep]
        frame = pd.DataFrame(data, columns=FRAME_COLUMNS)
        frame.index = pd.Index(self.rows[keep], name="row")
        return frame

    def _parent_totals(self, frame: pd.DataFrame) -> pd.DataFrame:
        num = self.frame_numbers
        lvl = frame["level"].to_numpy()
        pop = frame["population"].to_numpy(dtype=np.int64)
        stated = []  # (parent number or 0 for the whole file, name, row, source, value, row span)
        pop_all, has_pop = self.counts.get("population", (np.zeros(self.n, np.int64), np.zeros(self.n, bool)))
        prev_total = 0
        for i in np.flatnonzero(self.total):
            row = int(self.rows[i])
            span, since = None, prev_total
            prev_total = row
            if not has_pop[i]:
                self.notes.append(f"total row {row} has no figure; not used as a check")
                continue
            label = self.names[i] or str(self.codes.shown(i))
            parent = int(self.codes.number[i])
            compact = re.sub(r"\s+", "", label)
            if not parent:
                parent = self._township_names(frame).get(_TOTAL_WORDS.sub("", compact), 0)
            if not parent and not _GRAND_TOTAL.match(compact) and "小计" in compact:
                span = (since, row)  # a subtotal of the rows above it, back to the previous total row
            elif not parent:
                parent = (self.study or 0) * 10**6
            stated.append((parent, label, row, "total row", int(pop_all[i]), span))
        for k in np.flatnonzero(lvl != "village"):
            stated.append((int(num[k]), frame["name"].iat[k], int(frame.index[k]), f"{lvl[k]} row", int(pop[k]), None))
        for code, value in (self.expected or {}).items():
            cp = C.parse_codes(np.array([str(code)], dtype=object))
            if cp.ok[0]:
                stated.append((int(cp.number[0]), self._name_of(int(cp.number[0])).strip(" ()"), None, "given",
                               int(value), None))
        out = []
        rows = frame.index.to_numpy()
        for parent, label, row, source, value, span in stated:
            plevel = C.code_levels(np.array([parent]))[0] if parent else "file"
            if span is not None:
                under = (lvl != "county") & (rows > span[0]) & (rows < span[1])
            elif parent and plevel == "township":
                under = (lvl == "village") & (num // 1000 == parent // 1000)
            elif parent and plevel == "county":
                under = (lvl != "county") & (num // 10**6 == parent // 10**6)
            else:
                under = lvl != "county"
            if not under.any():
                if source != "township row" and source != "county row":
                    self.notes.append(f"{source} {label}: no rows under it to check against")
                continue
            child_level = "village" if (under & (lvl == "village")).any() else "township"
            under &= lvl == child_level
            summed = int(pop[under].sum())
            out.append((f"{parent:012d}" if parent else None, label, row, source, value, summed, int(under.sum()),
                        child_level, summed - value))
            if summed != value:
                diff = summed - value
                msg = (f"states {value:,} but its {int(under.sum())} {child_level} row(s) sum to {summed:,} "
                       f"({abs(diff):,} {'more' if diff > 0 else 'fewer'})")
                fix = ("check for missing, repeated or mistyped rows, or correct the stated total; "
                       "rows with errors are not counted until fixed")
                self.p.warn(row, self.label("population"), value, msg, fix)
        return pd.DataFrame(out, columns=_TOTAL_COLUMNS)

    def _township_names(self, frame: pd.DataFrame) -> dict[str, int]:
        if hasattr(self, "_towns"):
            return self._towns
        names: dict[str, int] = {}
        self._towns = names
        if self.code_list is not None:
            t = self.code_list[self.code_list["level"] == "township"]
            names.update(zip(t["name"], _code_ints(t["code"]), strict=True))
        t = frame[frame["level"] == "township"]
        names.update(zip(t["name"], t["code"].astype(np.int64), strict=True))
        return names


_COUNT_MESSAGES = {
    "negative": ("is negative", "give zero or a positive count"),
    "fraction": ("is fractional; counts are whole persons or households", "round it to a whole number"),
    "bad_grouping": ("has a comma that is not a thousands separator (digits must come in threes: 1,234)",
                     "write the number without separators, e.g. 123 or 1230; check which was meant"),
    "sci": ("is in scientific notation; Excel may have dropped digits", "widen the column in Excel/WPS and set "
            "its number format to 0 (数值, no decimals) before saving, or export the source again"),
    "unit": ("has text with the number", "write the number only (no units such as 人 or 户)"),
    "not_number": ("is not a number", "write a whole number such as 1234"),
}
_GROUPED_COUNT = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+")


def _parse_count(text: str) -> tuple[int, str]:
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


def _same_name(given: str, official: str) -> bool:
    """Tell whether a short name ('仪表社区', 'XX村') names the same unit as the official one."""
    def core(s: str) -> str:
        s = unicodedata.normalize("NFKC", s).replace(" ", "")
        return re.sub(r"(社区居民委员会|村民委员会|居民委员会|委员会|居委会|村委会|村委|社区)$", "", s)

    a, b = core(given), core(official)
    return bool(a) and bool(b) and (a == b or a.startswith(b) or b.startswith(a))
