"""The blank base layer and the zoom limit that every emgis map page shares.

Why a module of its own: the page builders (:mod:`maps.risk_map`, :mod:`maps.coverage_map`,
:mod:`maps.live_map`) and the configured base maps (:mod:`maps.tiles`) all need them, and
:mod:`maps.tiles` is needed by the risk map in turn; kept in the risk map they made
risk_map → tiles → risk_map an import cycle. This module imports no other part of emgis.
"""

from __future__ import annotations

from folium.map import Layer
from folium.template import Template

#: Highest zoom of the map pages (MarkerCluster needs one).
MAX_ZOOM = 18


class BlankBaseLayer(Layer):
    """A base layer that draws plain tiles and requests nothing; sets ``maxZoom``.

    MarkerCluster needs the map's maxZoom, which comes from its layers: a map without any
    tile layer has none and the cluster fails on load.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = L.gridLayer({{ this.options|tojavascript }});
            {{ this.get_name() }}.createTile = function () {
                var tile = document.createElement("div");
                tile.style.background = {{ this.background|tojson }};
                return tile;
            };
        {% endmacro %}
        """
    )

    def __init__(self, name: str = "空白底图 Blank", max_zoom: int = MAX_ZOOM,
                 background: str = "#f2f1ec") -> None:
        super().__init__(name=name, overlay=False, control=True, show=True)
        self._name = "BlankBaseLayer"
        self.background = background
        self.options = {"max_zoom": max_zoom, "attribution": "emgis"}


__all__ = ["MAX_ZOOM", "BlankBaseLayer"]
