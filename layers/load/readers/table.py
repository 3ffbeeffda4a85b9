"""Read a table (CSV/TSV/TXT, XLSX, legacy XLS) into a frame of text cells.

Rows are numbered as the user sees them: the line in the file (the header is line 1), so a
blank line kept in a CSV shifts the numbers after it exactly as an editor shows them. Blank
lines, and lines of only separators and spaces (what Excel writes for an emptied row), are
not data and are dropped. Any line ending is read: CRLF, LF, a lone CR (old Mac Excel), or a
mix of them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from emgis.layers.problems import Problems
from emgis.layers.text import decode_text

_SEPARATORS = (",", "\t", ";", "|")
_BLANK = " \t\u3000\ufeff\x0b\x0c，" + "".join(_SEPARATORS)


def _sniff_separator(header: str) -> str:
    counts = {s: header.count(s) for s in _SEPARATORS}
    best = max(counts, key=lambda s: counts[s])
    return best if counts[best] else ","


def _frame_from_rows(header: list[object], rows: pd.DataFrame, line_numbers: list[int],
                     problems: Problems, name: str) -> pd.DataFrame | None:
    """Name the columns from ``header``; duplicate headers are an error naming both columns."""
    cols = ["" if v is None or (isinstance(v, float) and pd.isna(v)) else str(v).strip()
            for v in header]
    seen: dict[str, int] = {}
    for i, c in enumerate(cols):
        if not c:
            cols[i] = f"Unnamed: {i + 1}"
            continue
        if c in seen:
            problems.error(None, c, None,
                           f"heads two columns (column {seen[c] + 1} and column {i + 1}); both "
                           "cannot be read",
                           "give every column its own header, e.g. rename or delete one of them")
        else:
            seen[c] = i
    if problems.errors:
        return None
    rows = rows.copy()
    rows.columns = cols
    rows.insert(0, "_row", line_numbers)
    return rows.reset_index(drop=True)


def read_text_table(path: Path, data: bytes, problems: Problems,
                    encoding: str | None) -> tuple[pd.DataFrame, str] | None:
    """Decode and parse a CSV/TSV; return (frame with ``_row``, encoding label) or None."""
    try:
        text, enc = decode_text(data, encoding)
    except UnicodeDecodeError as exc:
        problems.error(None, "--encoding", encoding,
                       f"the file could not be decoded as {encoding or 'UTF-8, GBK or UTF-16'} "
                       f"({exc.reason} at byte {exc.start})",
                       "save it as UTF-8 or GBK, or pass --encoding with the right one "
                       "(gbk, big5, utf-16 ...)")
        return None
    if "\x00" in text:
        problems.error(None, None, path.name, "holds NUL characters: it is binary, not a text CSV",
                       "export the table as CSV (UTF-8 or GBK)")
        return None
    first = next((ln for ln in text.splitlines() if ln.strip(_BLANK)), None)
    if first is None:
        problems.error(None, None, None, "the file holds only blank lines",
                       "export the layer again; the file has no content")
        return None
    sep = "\t" if path.suffix.lower() == ".tsv" else _sniff_separator(first)
    # the csv module reads CRLF, LF and a lone CR as line ends, and keeps them inside quoted
    # cells (a name with a line break round-trips exactly)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    records: list[list[str]] = []
    numbers: list[int] = []
    start = 1
    try:
        for rec in reader:
            if any(c.strip(_BLANK) for c in rec):
                records.append(rec)
                numbers.append(start)
            start = reader.line_num + 1
    except csv.Error as exc:
        problems.error(start, None, path.name, f"is not a readable CSV ({exc})",
                       "check the quotes: a cell that starts with \" must end with \"")
        return None
    width = len(records[0])
    for rec, n in zip(records[1:], numbers[1:], strict=True):
        if len(rec) > width and any(c.strip() for c in rec[width:]):
            problems.error(n, None, f"{len(rec)} fields",
                           f"has more fields than the header's {width}",
                           "check for separators inside unquoted cells (quote such cells)")
    if problems.errors:
        return None
    body = pd.DataFrame([(rec + [""] * width)[:width] for rec in records[1:]],
                        columns=range(width), dtype=str)
    frame = _frame_from_rows(records[0], body, numbers[1:], problems, path.name)
    return None if frame is None else (frame, enc)


def read_workbook(path: Path, problems: Problems) -> pd.DataFrame | None:
    """Read the first sheet of an .xlsx (openpyxl) or legacy .xls (calamine)."""
    engine = "calamine" if path.suffix.lower() == ".xls" else "openpyxl"
    try:
        df = pd.read_excel(path, dtype=str, keep_default_na=False, header=None, engine=engine)
    except Exception as exc:  # openpyxl and calamine raise many kinds
        problems.error(None, None, path.name, f"could not be read as a spreadsheet ({exc})",
                       "save it again from Excel/WPS as .xlsx, or export it as CSV")
        return None
    if df.empty:
        problems.error(None, None, None, "the first sheet is empty",
                       "put the table on the first sheet, header in the first row")
        return None
    df = df.fillna("").astype(str)
    blank = (df.apply(lambda s: s.str.strip()) == "").all(axis=1)
    numbers = [i + 1 for i in range(len(df)) if not blank.iloc[i]]
    df = df[~blank]
    return _frame_from_rows(list(df.iloc[0]), df.iloc[1:], numbers[1:], problems, path.name)
