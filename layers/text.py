"""Decode the text of a user's file: one rule for layers, code lists and census tables.

Bureau files come as UTF-8 (often with the BOM Excel and WPS write), GBK/GB18030 (Chinese
Windows, older WPS) and now and then UTF-16 (Excel's "Unicode text"). Strict UTF-8 is tried
before GB18030 because GBK text almost never decodes as UTF-8, while GB18030 accepts most
byte sequences, UTF-8 ones included: the other order would read every UTF-8 file as
mojibake. charset-normalizer is only the last resort, for files that are neither.

Every reader calls :func:`decode_text`, so a file decodes the same way and is labelled the
same way (in notes such as "read census.csv as GBK/GB18030 text") whichever command reads it.
"""

from __future__ import annotations

from typing import Any

UTF8 = "UTF-8"
UTF8_BOM = "UTF-8 with BOM"
UTF16 = "UTF-16"
GB18030 = "GBK/GB18030"

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def decode_text(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """Decode a file's bytes; return the text and the label to show the user.

    The rule, first match wins:

    1. ``encoding`` given: decode strictly with it (a leading BOM is dropped); the label
       is ``encoding`` as given.
    2. a byte-order mark: UTF-8 BOM → ``"UTF-8 with BOM"``, UTF-16 BOM → ``"UTF-16"``.
    3. strict UTF-8 → ``"UTF-8"``.
    4. GB18030, the superset of GBK → ``"GBK/GB18030"``.
    5. charset-normalizer's best guess; the label is its codec name.

    Raises
    ------
    LookupError
        ``encoding`` names no codec.
    UnicodeDecodeError
        The bytes are not text in ``encoding``, or (without one) fit no encoding.
    """
    if encoding:
        return data.decode(encoding).removeprefix("\ufeff"), encoding
    if data.startswith(_UTF8_BOM):
        return data[len(_UTF8_BOM):].decode("utf-8"), UTF8_BOM
    if data[:2] in _UTF16_BOMS:
        return data.decode("utf-16"), UTF16
    for codec, label in (("utf-8", UTF8), ("gb18030", GB18030)):
        try:
            return data.decode(codec), label
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise UnicodeDecodeError("unknown", data[:20], 0, 1, "no encoding fits")
    return str(best), best.encoding


def is_utf8(label: str | None) -> bool:
    """Tell whether a label from :func:`decode_text` (or a codec name) is UTF-8, BOM or not."""
    return label is not None and label.lower().replace("_", "-").startswith(("utf-8", "utf8"))


#: What makes a spreadsheet read a text cell as a formula (OWASP "CSV injection"): a leading
#: =, +, -, @, and the tab or carriage return some applications skip before looking.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame: Any) -> Any:
    """A copy of ``frame`` (a pandas DataFrame) whose text cells cannot run as formulas.

    A text cell that begins with a formula trigger gets a leading apostrophe, as OWASP
    recommends, so a shelter named ``=HYPERLINK(...)`` is shown, not evaluated, when a bureau
    opens the workbook or CSV. Numbers, dates and missing values are left alone. For reports
    people open (workbooks, CSV tables), not for exports meant to be loaded back.
    """
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if is_object_dtype(out[col]) or is_string_dtype(out[col]):
            out[col] = out[col].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_TRIGGERS) else v)
    return out
