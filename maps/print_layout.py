"""What makes a map page printable: a print button, and the frame a printed map needs.

Every map page (live, risk, coverage) gets :class:`PrintLayout`: the title, the date it was
printed, its data sources and a north arrow, shown when the page is printed (the browser's
print, or ``?print=1``, which `emgis map print` opens); the legend and the scale bar are the
page's own. The behaviour is maps/static/emgis/print.{js,css}, served like the other assets.
"""

from __future__ import annotations

import json
from typing import ClassVar

from branca.element import MacroElement
from folium.elements import JSCSSMixin
from folium.template import Template

#: What the served pages are drawn from (the frame's data-sources line).
SOURCES = "emgis 数据库：道路、区划、人口普查、应急资源（本县加载的数据）"

_NORTH = ('<svg width="18" height="22" viewBox="0 0 18 22"><polygon points="9,0 17,22 9,16 1,22" '
          'fill="#222"/></svg>N')


class PrintLayout(JSCSSMixin, MacroElement):
    default_js: ClassVar = [("emgis_print_js", "emgis/print.js")]
    default_css: ClassVar = [("emgis_print_css", "emgis/print.css")]

    _template = Template("""
{% macro html(this, kwargs) %}
<div class="emgis-print-frame" id="{{ this.get_name() }}">
  <div class="emgis-print-title">{{ this.title|e }}</div>
  <div class="emgis-print-meta">制图日期 Printed <span class="emgis-print-date"></span>
    · 数据来源 Sources: {{ this.sources|e }}</div>
</div>
<div class="emgis-north" title="北 North">{{ this.north }}</div>
{% endmacro %}
{% macro script(this, kwargs) %}
emgisPrint.init({{ this._parent.get_name() }}, {{ this.cfg }});
{% endmacro %}
""")

    def __init__(self, title: str, sources: str = SOURCES) -> None:
        super().__init__()
        self._name = "PrintLayout"
        self.title, self.sources, self.north = title, sources, _NORTH
        self.cfg = json.dumps({"frame": self.get_name()})


def add_print(m, title: str, sources: str = SOURCES):
    """Give map ``m`` a print button and a print frame titled ``title``."""
    m.add_child(PrintLayout(title, sources))
    return m
