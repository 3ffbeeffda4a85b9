"""Read a KML file's placemarks, with their ExtendedData, into a GeoDataFrame.

GDAL's KML drivers either ignore ``<ExtendedData>`` (KML) or read ``<Data>`` with non-ASCII
names as ``______`` and add a column of empty placemark ids that takes the ``id`` field
(LIBKML), so a KML exported from Google Earth or 奥维 loaded with every id empty. Here each
placemark's ``<name>``, ``<description>``, ``<Data name=..><value>`` and
``<SchemaData><SimpleData name=..>`` become fields; its Point, LineString, Polygon or
MultiGeometry becomes the geometry (KML is always WGS84 longitude, latitude).

A document type declaration is refused before parsing: KML has no use for one, and its
entities are how an "XML bomb" expands a small file into gigabytes.
"""

from __future__ import annotations

import codecs
import math
import re
import xml.etree.ElementTree as ET

import geopandas as gpd
import pandas as pd
import shapely

from emgis.layers.problems import Problems
from emgis.layers.text import decode_text

_DECL = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _child(el: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in el if _local(c.tag) == name), None)


def _coords(el: ET.Element | None) -> list[tuple[float, float]]:
    node = None if el is None else _child(el, "coordinates")
    if node is None or not (node.text or "").strip():
        raise ValueError("has no coordinates")
    out = []
    for tup in node.text.split():
        parts = tup.split(",")
        x, y = float(parts[0]), float(parts[1])
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"has a coordinate that is not a finite number ({tup})")
        out.append((x, y))
    return out


def _geometry(el: ET.Element) -> shapely.Geometry:
    kind = _local(el.tag)
    if kind == "Point":
        return shapely.Point(_coords(el)[0])
    if kind in ("LineString", "LinearRing"):
        return shapely.LineString(_coords(el))
    if kind == "Polygon":
        outer = _child(el, "outerBoundaryIs")
        ring = None if outer is None else _child(outer, "LinearRing")
        holes = [_coords(_child(b, "LinearRing")) for b in el if _local(b.tag) == "innerBoundaryIs"]
        return shapely.Polygon(_coords(ring), holes)
    if kind == "MultiGeometry":
        parts = [_geometry(c) for c in el if _local(c.tag) in _GEOMETRIES]
        return shapely.GeometryCollection(parts) if len(parts) != 1 else parts[0]
    raise ValueError(f"has a {kind}, which emgis does not read")


_GEOMETRIES = ("Point", "LineString", "LinearRing", "Polygon", "MultiGeometry")


def _text(data: bytes, encoding: str | None) -> str:
    if encoding:
        return data.decode(encoding).removeprefix("\ufeff")
    declared = _DECL.match(data.removeprefix(b"\xef\xbb\xbf"))
    if declared:
        try:
            codec = codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            codec = None
        if codec is not None:
            return data.decode(codec).removeprefix("\ufeff")
    return decode_text(data)[0]


def read_kml(data: bytes, name: str, problems: Problems,
             encoding: str | None) -> gpd.GeoDataFrame | None:
    """Parse KML ``data``; on failure record a problem and return None."""
    try:
        text = _text(data, encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        problems.error(None, "--encoding", encoding, f"the KML could not be decoded ({exc})",
                       "save it as UTF-8, or pass --encoding with the right one")
        return None
    if re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.IGNORECASE):
        problems.error(None, None, name, "declares a DOCTYPE or entities, which KML never needs "
                       "(and which can expand without limit)",
                       "export the KML again from the mapping application")
        return None
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        problems.error(None, None, name, f"is not well-formed KML/XML ({exc})",
                       "check that the file is complete; export it again")
        return None
    problems.row_label = "feature"
    records, geoms = [], []
    for n, pm in enumerate((e for e in root.iter() if _local(e.tag) == "Placemark"), start=1):
        rec: dict[str, object] = {"_row": n}
        for key in ("name", "description"):
            node = _child(pm, key)
            if node is not None and (node.text or "").strip():
                rec[key] = node.text.strip()
        for el in pm.iter():
            tag = _local(el.tag)
            if tag == "Data" and el.get("name"):
                value = _child(el, "value")
                rec[el.get("name")] = "" if value is None else (value.text or "").strip()
            elif tag == "SimpleData" and el.get("name"):
                rec[el.get("name")] = (el.text or "").strip()
        geom_el = next((c for c in pm if _local(c.tag) in _GEOMETRIES), None)
        geom = None
        if geom_el is not None:
            try:
                geom = _geometry(geom_el)
            except (ValueError, IndexError, shapely.errors.GEOSException) as exc:
                problems.error(n, "geometry", None, f"cannot be read: {exc}",
                               "give coordinates as longitude,latitude[,altitude] numbers")
        records.append(rec)
        geoms.append(geom)
    columns = list(dict.fromkeys(k for r in records for k in r)) or ["_row"]
    frame = pd.DataFrame(records, columns=columns).astype(object)
    frame = frame.where(frame.notna(), None)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=4326), crs=4326)
