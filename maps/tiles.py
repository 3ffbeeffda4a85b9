"""The base map of the served map pages: OpenStreetMap, Tianditu, an internal tile server, or none.

Configured by ``EMGIS_MAP_TILES``:

* ``local`` (default): emgis's own vector tiles of the stored roads, outlines and place names
  (``/tiles/base``, geo/vector_tiles.py), drawn by Leaflet.VectorGrid — readable on an intranet
  with no internet. A page written to a file with no emgis server behind it gets the blank base;
* ``osm``: OpenStreetMap's public tiles (needs the internet);
* ``tianditu``: 天地图 vector tiles and Chinese labels, with ``EMGIS_MAP_TIANDITU_KEY``
  (the key a bureau gets from the Tianditu console; CGCS2000 positions draw without shift);
* ``none``: a blank base (no request at all; what the tests and a sealed intranet use);
* any ``{z}/{x}/{y}`` URL template: an internal tile server, e.g.
  ``http://10.1.2.3/tiles/{z}/{x}/{y}.png``.

Only the base map may leave the machine, and only because the operator configured it;
Leaflet and its plugins are always served by emgis (maps/assets.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import folium
from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

from emgis.layers.settings import MapSettings
from emgis.maps.base_layer import MAX_ZOOM, BlankBaseLayer

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTR = '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors'
TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                "&TILECOL={x}&tk={key}")
TIANDITU_ATTR = "&copy; 天地图 Tianditu"


#: Where the offline base's tiles and names are, under the emgis server (api/http/tiles.py).
LOCAL_TILES = "/tiles/base/{z}/{x}/{y}.pbf"
LOCAL_LABELS = "/tiles/labels"
LOCAL_ATTR = "emgis: 道路与区划 roads and outlines from the county's own data"


@dataclass(frozen=True)
class BaseMap:
    kind: str  # local | osm | tianditu | none | url
    url: str | None = None


def base_map(settings: MapSettings | None = None) -> BaseMap:
    """Resolve the setting; ValueError with the fix when it cannot be used."""
    s = settings or MapSettings()
    t = s.tiles.strip()
    low = t.lower()
    if low in ("", "none", "blank", "off"):
        return BaseMap("none")
    if low in ("local", "offline", "vector"):
        return BaseMap("local", LOCAL_TILES)
    if low == "osm":
        return BaseMap("osm", OSM_URL)
    if low == "tianditu":
        if not s.tianditu_key.strip():
            raise ValueError("EMGIS_MAP_TILES=tianditu needs EMGIS_MAP_TIANDITU_KEY "
                             "(the key from the Tianditu console); or set "
                             "EMGIS_MAP_TILES=local, osm, none or a tile URL template")
        return BaseMap("tianditu", TIANDITU_URL)
    if all(p in t for p in ("{z}", "{x}", "{y}")):
        return BaseMap("url", t)
    raise ValueError(f"EMGIS_MAP_TILES={t!r} is not local, osm, tianditu, none or a URL template "
                     "with {z}, {x} and {y}")


class VectorBaseLayer(JSCSSMixin, MacroElement):
    """The offline base: emgis's vector tiles and place names (maps/static/emgis/base_map.js)."""

    default_js: ClassVar = [
        ("Leaflet.VectorGrid.js",
         "https://unpkg.com/leaflet.vectorgrid@1.3.0/dist/Leaflet.VectorGrid.bundled.min.js"),
        ("emgis_base_map_js", "emgis/base_map.js"),
    ]
    default_css: ClassVar = [("emgis_base_map_css", "emgis/base_map.css")]

    _template = Template("""
{% macro script(this, kwargs) %}
emgisBase.add({{ this._parent.get_name() }}, {{ this.cfg }});
{% endmacro %}
""")

    def __init__(self, server: str) -> None:
        super().__init__()
        self._name = "EmgisVectorBase"
        base = server.rstrip("/")
        self.cfg = json.dumps({"url": base + LOCAL_TILES, "labels": base + LOCAL_LABELS,
                               "maxZoom": MAX_ZOOM, "attribution": LOCAL_ATTR},
                              ensure_ascii=False).replace("<", "\\u003c")


def add_base_layers(m: folium.Map, settings: MapSettings | None = None, *,
                    server: str | None = None) -> BaseMap:
    """Add the configured base layer(s) to ``m``; return what was added.

    ``server`` is where the page will find the emgis server ("" = the server that serves the
    page); None for a page written to a file, which then gets the blank base instead of the
    offline one (nothing to ask).
    """
    s = settings or MapSettings()
    b = base_map(s)
    if b.kind == "local" and server is None:
        b = BaseMap("none")
    if b.kind == "none":
        BlankBaseLayer().add_to(m)
    elif b.kind == "local":
        VectorBaseLayer(server or "").add_to(m)
    elif b.kind == "osm":
        folium.TileLayer(OSM_URL, attr=OSM_ATTR, name="OpenStreetMap", max_zoom=19).add_to(m)
    elif b.kind == "tianditu":
        key = s.tianditu_key.strip()
        for layer, name, overlay in (("vec", "天地图 Tianditu", False),
                                     ("cva", "天地图注记 Labels", True)):
            url = TIANDITU_URL.replace("{layer}", layer).replace("{key}", key)
            folium.TileLayer(url, attr=TIANDITU_ATTR, name=name, subdomains="01234567", max_zoom=18,
                             overlay=overlay, control=False).add_to(m)
    else:
        folium.TileLayer(b.url, attr="emgis tiles", name="底图 Base", max_zoom=MAX_ZOOM).add_to(m)
    return b
