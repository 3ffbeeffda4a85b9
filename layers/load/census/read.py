"""Read a census table keyed by statistical division codes and check all of it at once.

``read_census`` takes the CSV or XLSX a statistics office hands out (UTF-8, UTF-8 with BOM,
GBK/GB18030 or UTF-16; Chinese or English headers; title rows and two-row merged headers)
and returns the clean rows, every problem (file, row as the user sees it, field, value,
fix) and notes on what was read and how. It writes nothing: the caller writes the frame
only when there are no errors and the user accepts the warnings.

Row numbers are the spreadsheet row or the CSV line (header and title lines counted).
Checking is vectorised over the whole file; Python loops touch only the rows that need a
message, so a clean 700,000-row file parses and checks in seconds (bench/census.py).

This module reads the file (encoding, separator, sheet) and runs the subpackage's parts:
:mod:`.header` finds the header, :mod:`.checks` checks the rows, and :mod:`.write` stores
the clean frame.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from emgis.layers.load import codes as C
from emgis.layers.load.census.checks import FRAME_COLUMNS, TOTAL_COLUMNS, Checker
from emgis.layers.load.census.header import HEADER_SCAN, find_header
from emgis.layers.load.census.values import Table
from emgis.layers.problems import Problems
from emgis.layers.text import UTF8, decode_text


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
    parent_totals: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=TOTAL_COLUMNS))
    encoding: str | None = None

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings may remain: the user must accept them)."""
        return not self.problems.errors


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
        Official code list(s) from :func:`layers.load.codes.read_code_list` (any vintages).
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
    if (isinstance(year, bool) or not isinstance(year, (int, np.integer))
            or not 1949 <= int(year) <= 2100):
        p.error(None, "year", year, "is not a plausible census year",
                "pass --year as four digits, e.g. --year 2020")
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
    frame, totals = Checker(table, int(year), code_list, county, expected_totals, p, notes).run()
    p.items.sort(key=lambda x: (x.row is None, x.row or 0))  # read top to bottom, like the file
    return CensusResult(frame, p, notes, totals, enc)


def _empty_frame() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FRAME_COLUMNS},
                        index=pd.Index([], name="row"))


# --- reading ------------------------------------------------------------------------------------

def _read_table(path: Path, p: Problems, notes: list[str], encoding: str | None,
                sheet: str | None) -> tuple[Table | None, str | None]:
    if not path.is_file():
        p.error(None, None, str(path), "does not exist or is not a file",
                "check the path and the file name")
        return None, None
    data = path.read_bytes()
    if not data.strip():
        p.error(None, None, None, "the file is empty",
                "export the table again; the file has no content")
        return None, None
    suffix = path.suffix.lower()
    if data[:4] == b"PK\x03\x04":
        if suffix not in (".xlsx", ".xlsm"):
            notes.append(f"{path.name} is an Excel workbook despite its '{suffix}' name; "
                         "read it as XLSX")
        return _read_xlsx(path, p, notes, sheet), None
    if suffix in (".xlsx", ".xlsm"):
        p.error(None, None, path.name, "has an .xlsx name but is not an Excel workbook",
                "save it again from Excel/WPS as .xlsx, or rename a CSV to .csv")
        return None, None
    if suffix == ".xls" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        p.error(None, None, path.name,
                "is an old Excel 97–2003 (.xls) workbook, which emgis does not read",
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
    head = text[:20000].splitlines()[:HEADER_SCAN]
    counts = {sep: sum(line.count(sep) for line in head) for sep in (",", "\t", ";", "|")}
    return max(counts, key=lambda s: (counts[s], s == ","))


def _read_csv(data: bytes, p: Problems, notes: list[str]) -> Table | None:
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
        if len(head) >= HEADER_SCAN:
            break
    found = find_header(head, lines, p, notes)
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
    # Without '.', '+' or 'E-' anywhere, a float column can only mean integers with blanks;
    # otherwise such columns are re-read as text so that '1.2E+05', '12.5' and '3.30522E+11'
    # keep their spelling.
    risky = any(t in body for t in (b".", b"+", b"E-", b"e-"))
    opts = {"sep": sep, "header": None, "names": list(range(ncols)), "index_col": False,
            "engine": "c", "skip_blank_lines": False, "skipinitialspace": True, "low_memory": False}
    broken = None
    try:
        df = pd.read_csv(io.BytesIO(body),
                         dtype={fields["name"]: object} if "name" in fields else None,
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
        raw = pd.read_csv(io.BytesIO(body), usecols=[fields[f] for f in again], dtype=str,
                          na_filter=False, **opts)
        for f in again:
            cols[f] = np.asarray(raw[fields[f]].astype(str), dtype=object)
    rows = np.arange(start_line + 1, start_line + 1 + len(df), dtype=np.int64)
    return Table(cols, labels, rows, titles, broken)


def _slow_csv(body: str, sep: str, ncols: int, start_line: int,
              p: Problems) -> tuple[pd.DataFrame, np.ndarray]:
    """Read a CSV whose rows have more cells than the header, reporting each such row."""
    reader = csv.reader(io.StringIO(body), delimiter=sep)
    out, prev, broken = [], 0, []
    for rec in reader:
        line = start_line + prev + 1
        prev = reader.line_num
        extra = [c for c in rec[ncols:] if c.strip()]
        if extra:
            p.error(line, None, sep.join(rec),
                    f"has {len(rec)} cells but the header has {ncols}; the values do not line up "
                    "with the columns",
                    "a number written with a thousands separator (1,234) or a name containing a "
                    "comma must be quoted (\"1,234\"); save the file from Excel/WPS as CSV, "
                    "which quotes such cells, or remove the separator")
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


def _read_xlsx(path: Path, p: Problems, notes: list[str], sheet: str | None) -> Table | None:
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
            p.error(None, "sheet", sheet, "is not a sheet of this workbook",
                    f"use one of: {', '.join(names)}")
            return None
        tried = []
        for name in [sheet] if sheet is not None else names:
            grid = [list(r) for r in wb[name].iter_rows(min_row=1, values_only=True)]
            head = [[_cell_text(v) for v in r] for r in grid[:HEADER_SCAN]]
            quiet = Problems(path.name)
            found = find_header(head, list(range(1, len(head) + 1)), quiet, [])
            if found is None:
                tried.append((name, quiet))
                continue
            found = find_header(head, list(range(1, len(head) + 1)), p, notes)
            if len(names) > 1:
                notes.append(f"read sheet '{name}'; other sheets ignored: "
                             f"{', '.join(n for n in names if n != name)}")
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
            return Table(cols, labels, rows, titles)
        if tried:
            p.extend(tried[0][1])
        return None
    finally:
        wb.close()
