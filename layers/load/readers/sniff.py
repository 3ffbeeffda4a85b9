"""Say what a file seems to be from its first bytes, whatever its extension claims.

People hand over CSVs named .geojson, the HTML error page a browser saved as .csv, a zip
that is really an .xlsx. Reading such a file with the reader its extension names gives a
driver's message at best; :func:`what_it_is` lets the reader name what the file really looks
like instead, and :func:`mismatch` tells whether that fits the extension at all.
"""

from __future__ import annotations

import io
import zipfile

# kinds: a short word, and how to say it to the user
ZIP, OLE2, SQLITE, SHP, FGB, HTML, XML, KML, JSON, TEXT, BINARY, EMPTY = (
    "zip", "ole2", "sqlite", "shp", "fgb", "html", "xml", "kml", "json", "text", "binary", "empty")

_MAGIC = (
    (b"PK\x03\x04", ZIP), (b"PK\x05\x06", ZIP),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE2),
    (b"SQLite format 3\x00", SQLITE),
    (b"\x00\x00\x27\x0a", SHP),
    (b"fgb\x03", FGB),
)
_BINARY_NAMES = (
    (b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
    (b"Rar!", "a RAR archive"), (b"7z\xbc\xaf", "a 7-Zip archive"), (b"\x1f\x8b", "a gzip file"),
    (b"{\\rtf", "an RTF document"),
)
_DESCRIBE = {
    ZIP: "a zip archive", OLE2: "a legacy Office file (.xls/.doc)",
    SQLITE: "an SQLite database", SHP: "the .shp part of a Shapefile", FGB: "a FlatGeobuf file",
    HTML: "an HTML page (a web page or a download's error page), not data",
    XML: "an XML file", KML: "a KML file", JSON: "a JSON (GeoJSON?) file",
    TEXT: "a text (CSV) file", BINARY: "a binary file", EMPTY: "empty",
}

#: the kinds each extension may hold
EXPECTED = {
    ".csv": {TEXT}, ".txt": {TEXT}, ".tsv": {TEXT},
    ".xlsx": {ZIP}, ".xls": {OLE2, ZIP},
    ".geojson": {JSON}, ".json": {JSON}, ".kml": {KML, XML},
    ".gpkg": {SQLITE}, ".shp": {SHP}, ".zip": {ZIP}, ".fgb": {FGB},
}


def _text_head(data: bytes) -> str | None:
    head = data[:4096]
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"),
                       (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(codec, errors="ignore")
    if b"\x00" in head:
        return None
    for codec in ("utf-8", "gb18030"):
        try:
            return head.decode(codec)
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 4:  # a character cut at the 4 KiB boundary
                return head[:exc.start].decode(codec)
    return None


def kind_of(data: bytes) -> tuple[str, str]:
    """The kind of file ``data`` starts like, and how to say it (e.g. 'an HTML page ...')."""
    if not data:
        return EMPTY, _DESCRIBE[EMPTY]
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            if kind == ZIP:
                return ZIP, _describe_zip(data)
            return kind, _DESCRIBE[kind]
    for magic, name in _BINARY_NAMES:
        if data.startswith(magic):
            return BINARY, name
    text = _text_head(data)
    if text is None:
        return BINARY, _DESCRIBE[BINARY]
    lead = text.lstrip().lower()
    if lead.startswith(("<!doctype html", "<html", "<head", "<body")) or (
            lead.startswith("<") and "<html" in lead[:1024]):
        return HTML, _DESCRIBE[HTML]
    if lead.startswith("<"):
        return (KML, _DESCRIBE[KML]) if "<kml" in lead else (XML, _DESCRIBE[XML])
    if lead.startswith(("{", "[")):
        return JSON, _DESCRIBE[JSON]
    return TEXT, _DESCRIBE[TEXT]


def _describe_zip(data: bytes) -> str:
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "a damaged or incomplete zip archive"
    if any(n.startswith("xl/") for n in names):
        return "an Excel workbook (.xlsx)"
    if any(n.startswith("word/") for n in names):
        return "a Word document (.docx)"
    if any(n.lower().endswith(".shp") for n in names):
        return "a zipped Shapefile"
    return "a zip archive"


def mismatch(suffix: str, data: bytes) -> str | None:
    """None when ``data`` may be a ``suffix`` file; otherwise what it seems to be instead."""
    expected = EXPECTED.get(suffix)
    if expected is None:
        return None
    kind, said = kind_of(data)
    if kind in expected:
        return None
    return said
