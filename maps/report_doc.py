"""A `layers.document.Document` written as Word (python-docx), HTML, or PDF (Chromium prints the
HTML): the one renderer of every document emgis writes (the situation report, `emgis report
coverage | risk | readiness`).

The layout is the same in the three: title, subtitle, the numbered sections (heading, lead
sentence, the figure with its caption, the tables, each with its sub-heading and lead), the norms
cited, the notes, the line saying when emgis made it. Figures are drawn here with matplotlib from
the document's layers of stored geometries — no tiles, nothing fetched; the HTML embeds them, so
the page and the PDF printed from it need nothing beside them.
"""

from __future__ import annotations

import base64
import html as h
import io
import math
import tempfile
from pathlib import Path

from emgis.layers.document import Document, Figure, MapLayer, Table, generated_line
from emgis.maps.chromium import PrinterMissing, capture

__all__ = ["FORMATS", "MEDIA", "PrinterMissing", "docx_bytes", "figure_png", "html_text",
           "pdf_bytes", "render"]

CJK_FONTS = ["Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "DejaVu Sans"]
DOC_FONT = "宋体"
FORMATS = {".docx": "docx", ".html": "html", ".htm": "html", ".pdf": "pdf"}
MEDIA = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
         "html": "text/html; charset=utf-8", "pdf": "application/pdf"}


# --- figures -------------------------------------------------------------------------------------

def _parts(g):
    return list(getattr(g, "geoms", [g]))


def _draw(ax, layer: MapLayer) -> None:
    import shapely

    colours = (layer.colours if isinstance(layer.colours, list)
               else [layer.colours] * len(layer.geoms))
    for i, (g, colour) in enumerate(zip(layer.geoms, colours, strict=True)):
        if g is None or g.is_empty:
            continue
        for part in _parts(g):
            if layer.kind == "fill" and part.geom_type == "Polygon":
                x, y = part.exterior.xy
                ax.fill(x, y, color=colour, alpha=layer.alpha, lw=0.5,
                        ec=layer.edge or colour)
            elif layer.kind == "fill" and part.geom_type in ("LineString", "LinearRing"):
                x, y = part.xy
                ax.plot(x, y, color=layer.edge or colour, lw=0.6, alpha=layer.alpha)
            elif layer.kind == "line" and hasattr(part, "xy"):
                x, y = part.xy
                ax.plot(x, y, color=colour, lw=layer.size / 2, alpha=layer.alpha)
            else:
                p = part if part.geom_type == "Point" else part.representative_point()
                ax.plot(p.x, p.y, marker=layer.marker, ms=layer.size, color=colour,
                        mec=layer.edge or "k", mew=0.4, alpha=layer.alpha, zorder=4, ls="")
        if layer.names and i < len(layer.names) and layer.names[i]:
            p = (shapely.Point(g.coords[0]) if g.geom_type == "LineString"
                 else g.representative_point())
            ax.annotate(layer.names[i], (p.x, p.y), fontsize=6, color="#333333",
                        ha="center", va="bottom", zorder=5)


def _legend_handles(fig: Figure):
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    entries = [(lay.colours if isinstance(lay.colours, str) else lay.colours[0], lay.label,
                lay.kind, lay.marker) for lay in fig.layers if lay.label and lay.geoms]
    entries += [(c, t, k, "o") for c, t, k in fig.legend]
    out = []
    for colour, text, kind, marker in entries:
        if kind == "fill":
            out.append(Patch(fc=colour, ec="#555555", lw=0.5, label=text))
        elif kind == "line":
            out.append(Line2D([], [], color=colour, lw=1.8, label=text))
        else:
            out.append(Line2D([], [], color=colour, marker=marker, ls="", mec="k", mew=0.4,
                              label=text))
    return out


def figure_png(fig: Figure, *, width_in: float = 6.3, dpi: int = 150) -> bytes:
    """The figure as a PNG: its layers, a legend, a north arrow, lon/lat ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shapely

    plt.rcParams["font.sans-serif"] = CJK_FONTS
    plt.rcParams["axes.unicode_minus"] = False
    figure, ax = plt.subplots(figsize=(width_in, width_in * 0.75), dpi=dpi)
    try:
        geoms = [g for lay in fig.layers for g in lay.geoms if g is not None and not g.is_empty]
        for layer in fig.layers:
            _draw(ax, layer)
        if geoms:
            minx, miny, maxx, maxy = shapely.GeometryCollection(geoms).bounds
        else:
            minx = miny = maxx = maxy = 0.0
        pad = max(maxx - minx, maxy - miny, 0.01) * 0.06
        ax.set_xlim(minx - pad, maxx + pad)
        ax.set_ylim(miny - pad, maxy + pad)
        ax.set_aspect(1 / max(0.2, math.cos(math.radians((miny + maxy) / 2))))
        ax.set_title(fig.title, fontsize=10)
        ax.tick_params(labelsize=6)
        handles = _legend_handles(fig)
        if handles:
            ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.85)
        ax.annotate("N ↑", xy=(0.02, 0.93), xycoords="axes fraction", fontsize=9)
        if not geoms:
            ax.text(0.5, 0.5, "无可绘制的数据", transform=ax.transAxes, ha="center")
        buf = io.BytesIO()
        figure.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()
    finally:
        plt.close(figure)


def _pictures(doc: Document) -> dict[int, bytes]:
    """Each section's figure drawn once (Word and HTML of one request share them)."""
    return {i: figure_png(s.figure) for i, s in enumerate(doc.sections) if s.figure is not None}


# --- Word ----------------------------------------------------------------------------------------

def _word_table(out, t: Table) -> None:
    table = out.add_table(rows=1, cols=len(t.headers))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, t.headers, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    for r in t.rows:
        for cell, text in zip(table.add_row().cells, r, strict=True):
            cell.text = text


def _word_tables(out, tables: list[Table]) -> None:
    for t in tables:
        if t.title:
            out.add_heading(t.title, level=2)
        if t.lead:
            out.add_paragraph(t.lead)
        if t.rows:
            _word_table(out, t)


def docx_bytes(doc: Document, pictures: dict[int, bytes] | None = None) -> bytes:
    """The document as Word (.docx): 宋体 text, 黑体 headings, tables in grids."""
    from docx import Document as Word
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Inches, Pt

    pictures = _pictures(doc) if pictures is None else pictures
    out = Word()
    style = out.styles["Normal"]
    style.font.name = DOC_FONT
    style.font.size = Pt(11)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), DOC_FONT)
    for name in ("Title", "Heading 1", "Heading 2"):
        st = out.styles[name]
        st.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")
    out.add_heading(doc.title, level=0)
    out.add_paragraph(doc.subtitle)
    for i, s in enumerate(doc.sections):
        out.add_heading(s.heading, level=1)
        if s.lead:
            out.add_paragraph(s.lead)
        if i in pictures:
            out.add_picture(io.BytesIO(pictures[i]), width=Inches(6.0))
            if s.figure is not None and s.figure.caption:
                cap = out.add_paragraph(s.figure.caption)
                cap.alignment = WD_ALIGN_PARAGRAPH.CENTER
        _word_tables(out, s.tables)
    if doc.norms is not None:
        out.add_heading(doc.norms_heading, level=1)
        _word_tables(out, [doc.norms])
    out.add_heading(doc.notes_heading, level=1)
    for n, note in enumerate(doc.notes, start=1):
        out.add_paragraph(f"{n}. {note}")
    out.add_paragraph(doc.footer or generated_line(doc.generated_at))
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


# --- HTML and PDF --------------------------------------------------------------------------------

CSS = """
@page { size: A4; margin: 18mm 16mm; }
body { font-family: 'Noto Serif CJK SC', 'Noto Sans CJK SC', serif; font-size: 11pt; }
h1 { font-size: 18pt; text-align: center; font-family: 'Noto Sans CJK SC', sans-serif; }
h2 { font-size: 13pt; margin: 14pt 0 4pt; font-family: 'Noto Sans CJK SC', sans-serif; }
h3 { font-size: 11pt; margin: 8pt 0 3pt; font-family: 'Noto Sans CJK SC', sans-serif; }
table { border-collapse: collapse; width: 100%; margin: 4pt 0; font-size: 9.5pt; }
th, td { border: 1px solid #555; padding: 2pt 4pt; text-align: left; }
th { background: #eee; } .meta { text-align: center; color: #444; }
h2, h3 { page-break-after: avoid; } tr { page-break-inside: avoid; }
figure { margin: 6pt 0; page-break-inside: avoid; text-align: center; }
figure img { width: 88%; } figcaption { text-align: center; }
table:not(.norms) td:first-child { white-space: nowrap; }
table.norms { font-size: 8.5pt; } table.norms td:first-child { word-break: break-all; }
table.norms td:nth-child(6), table.norms th { white-space: nowrap; }
"""


def _html_tables(tables: list[Table], cls: str = "") -> list[str]:
    out = []
    attr = f' class="{cls}"' if cls else ""
    for t in tables:
        if t.title:
            out.append(f"<h3>{h.escape(t.title)}</h3>")
        if t.lead:
            out.append(f"<p>{h.escape(t.lead)}</p>")
        if t.rows:
            out.append(f"<table{attr}><tr>" + "".join(f"<th>{h.escape(x)}</th>" for x in t.headers)
                       + "</tr>" + "".join("<tr>" + "".join(
                           f"<td>{h.escape(x)}</td>" for x in r) + "</tr>" for r in t.rows)
                       + "</table>")
    return out


def html_text(doc: Document, pictures: dict[int, bytes] | None = None) -> str:
    """The document as one self-contained HTML page (figures embedded; nothing fetched)."""
    pictures = _pictures(doc) if pictures is None else pictures
    body = [f"<h1>{h.escape(doc.title)}</h1>", f'<p class="meta">{h.escape(doc.subtitle)}</p>']
    for i, s in enumerate(doc.sections):
        body.append(f"<h2>{h.escape(s.heading)}</h2>")
        if s.lead:
            body.append(f"<p>{h.escape(s.lead)}</p>")
        if i in pictures:
            img = base64.b64encode(pictures[i]).decode()
            alt = h.escape(s.figure.title if s.figure else "")
            cap = h.escape(s.figure.caption if s.figure else "")
            body.append(f'<figure><img alt="{alt}" src="data:image/png;base64,{img}">'
                        f"<figcaption>{cap}</figcaption></figure>")
        body += _html_tables(s.tables)
    if doc.norms is not None:
        body.append(f"<h2>{h.escape(doc.norms_heading)}</h2>")
        body += _html_tables([doc.norms], "norms")
    body.append(f"<h2>{h.escape(doc.notes_heading)}</h2><ol>"
                + "".join(f"<li>{h.escape(n)}</li>" for n in doc.notes) + "</ol>")
    body.append(f'<p class="meta">{h.escape(doc.footer or generated_line(doc.generated_at))}</p>')
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
            f'<link rel="icon" href="data:,"><title>{h.escape(doc.title)}</title>'
            f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>")


def pdf_bytes(doc: Document, chromium: str | Path | None = None) -> bytes:
    """The HTML printed to PDF by headless Chromium (Debian's ``chromium``; `PrinterMissing`
    without one)."""
    from emgis.maps.chromium import chromium as find_chromium

    exe = find_chromium(chromium)  # before drawing anything: say at once that it cannot print
    with tempfile.TemporaryDirectory() as d:
        src, out = Path(d) / "report.html", Path(d) / "report.pdf"
        src.write_text(html_text(doc), encoding="utf-8")
        capture(src.as_uri(), out, exe=exe, wait_ms=2000)
        return out.read_bytes()


def render(doc: Document, fmt: str, chromium: str | Path | None = None) -> bytes:
    """``docx``, ``html`` or ``pdf`` bytes of ``doc``."""
    if fmt == "docx":
        return docx_bytes(doc)
    if fmt == "html":
        return html_text(doc).encode("utf-8")
    if fmt == "pdf":
        return pdf_bytes(doc, chromium)
    raise ValueError(f"format {fmt!r}: use docx, html or pdf")
