"""The coverage map: who is within reach of a kind of facility, before and after new sites.

Villages are circles sized by population and coloured covered / not covered; facilities are
drawn on top (existing dark, new sites violet); clusters of uncovered people are outlined.
When ``covered_after`` is given, the page has a "before" and an "after" layer to switch
between. Like the risk map it loads nothing from beyond the machine (``maps.assets``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element, MacroElement
from folium.utilities import JsCode
from jinja2 import Template

from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM, BlankBaseLayer
from emgis.maps.print_layout import add_print

COVERED = "#2b8cbe"
UNCOVERED = "#e31a1c"
EXISTING = "#252525"
NEW_SITE = "#7b3294"

POINT_JS = JsCode(
    "function (feature, latlng) { var p = feature.properties;"
    " return L.circleMarker(latlng, {radius: p.radius, color: p.stroke, weight: p.weight,"
    " fillColor: p.colour, fillOpacity: 0.8, className: p.cls}); }"
)
POPUP_JS = JsCode(
    "function (feature, layer) { if (feature.properties.popup) {"
    " layer.bindPopup(feature.properties.popup, {maxWidth: 320}); } }"
)


def _popup(title: str, rows: list[tuple[str, object]]) -> str:
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in rows if v is not None and v == v)
    return f"<b>{html.escape(str(title))}</b><table>{cells}</table>"


def _minutes(t: object) -> str | None:
    return None if t is None or not np.isfinite(float(t)) else f"{float(t) / 60:.1f} min"


def _demand_features(demand: gpd.GeoDataFrame, flag: str) -> dict:
    pop = (demand["population"].to_numpy(dtype=float) if "population" in demand
           else np.ones(len(demand)))
    radius = np.clip(np.sqrt(np.maximum(pop, 0)) / 6, 3, 18)
    feats = []
    for i, (g, covered) in enumerate(zip(demand.geometry, demand[flag].to_numpy(), strict=True)):
        if g is None or g.is_empty:
            continue
        row = demand.iloc[i]
        feats.append({"type": "Feature", "geometry": g.__geo_interface__, "properties": {
            "radius": float(radius[i]), "colour": COVERED if covered else UNCOVERED,
            "stroke": "#ffffff", "weight": 1,
            "cls": "emgis-demand " + ("covered" if covered else "uncovered"),
            "popup": _popup(row.get("name") or row.get("code"), [
                ("代码 Code", row.get("code")), ("人口 Population", f"{pop[i]:,.0f}"),
                ("最近设施 Nearest", row.get("facility")),
                ("时间 Time", _minutes(row.get("time_s"))),
                ("达标 Within standard", "是 yes" if covered else "否 no")]),
        }})
    return {"type": "FeatureCollection", "features": feats}


def _facility_features(fac: gpd.GeoDataFrame, colour: str, cls: str, label: str) -> dict:
    feats = []
    for g, (_, row) in zip(fac.geometry, fac.iterrows(), strict=True):
        if g is None or g.is_empty:
            continue
        feats.append({"type": "Feature", "geometry": g.__geo_interface__, "properties": {
            "radius": 7, "colour": colour, "stroke": "#ffffff", "weight": 2, "cls": cls,
            "popup": _popup(row.get("name") or row.get("ext_id") or label,
                            [("类型 Kind", label), ("编号 Id", row.get("ext_id")),
                             ("容量 Capacity", row.get("capacity"))]),
        }})
    return {"type": "FeatureCollection", "features": feats}


class CoverageLegend(MacroElement):
    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div class="emgis-coverage-legend" style="position: absolute; bottom: 24px; left: 12px;
             z-index: 1000; background: white; padding: 8px 10px; border-radius: 4px;
             box-shadow: 0 1px 4px rgba(0,0,0,.3); font: 13px/1.5 sans-serif;">
          <b>{{ this.title }}</b><br>
          {% for colour, text in this.rows %}
          <span style="display:inline-block;width:12px;height:12px;border-radius:6px;
                background:{{ colour }};
                margin-right:6px;vertical-align:middle"></span>{{ text }}<br>
          {% endfor %}
          {% if this.note %}<small>{{ this.note }}</small>{% endif %}
          {% if this.explain %}<br><small class="emgis-standards-note"
            style="display:inline-block;max-width:320px;color:#555">{{ this.explain }}</small>
          {% endif %}
        </div>
        {% endmacro %}
        """
    )

    def __init__(self, title: str, rows: list[tuple[str, str]], note: str | None,
                 explain: str | None = None) -> None:
        super().__init__()
        self._name = "CoverageLegend"
        self.title = html.escape(title)
        self.rows = [(c, html.escape(t)) for c, t in rows]
        self.note = html.escape(note) if note else None
        self.explain = html.escape(explain) if explain else None


def coverage_map(demand: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame | None = None, *,
                 new_sites: gpd.GeoDataFrame | None = None,
                 clusters: gpd.GeoDataFrame | None = None,
                 kind_label: str = "设施 Facilities", standard: str | None = None,
                 title: str = "覆盖分析 Coverage", explain: str | None = None) -> folium.Map:
    """Build the coverage map.

    ``demand`` (EPSG:4326 points) needs ``covered`` (bool) and may carry ``covered_after``,
    ``population``, ``name``, ``code``, ``facility``, ``time_s``. ``explain``: a sentence under
    the legend (why coverage and siting can count differently, `shelters.service.standards_note`).
    Its Leaflet files are the app's (`assets.STATIC_PREFIX`); `write_coverage_map` points them
    at the copies beside a written page.
    """
    demand = demand.to_crs(4326) if demand.crs and demand.crs.to_epsg() != 4326 else demand
    m = folium.Map(location=[35.0, 105.0], zoom_start=4, tiles=None, control_scale=True)
    m.options["max_zoom"] = MAX_ZOOM
    m.get_root().title = html.escape(title)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    BlankBaseLayer(max_zoom=MAX_ZOOM).add_to(m)
    if clusters is not None and len(clusters):
        folium.GeoJson(json.loads(clusters.to_crs(4326)[["population", "geometry"]].to_json()),
                       name="未覆盖集中区 Uncovered clusters",
                       style_function=lambda f: {"color": UNCOVERED, "weight": 2, "fill": False,
                                                 "dashArray": "4 4"}).add_to(m)
    after = "covered_after" in demand.columns
    folium.GeoJson(_demand_features(demand, "covered"),
                   name="现状 Before" if after else "村庄 Villages",
                   point_to_layer=POINT_JS, on_each_feature=POPUP_JS, show=not after).add_to(m)
    if after:
        folium.GeoJson(_demand_features(demand, "covered_after"), name="新增后 After",
                       point_to_layer=POINT_JS, on_each_feature=POPUP_JS).add_to(m)
    if facilities is not None and len(facilities):
        folium.GeoJson(_facility_features(facilities.to_crs(4326), EXISTING, "emgis-facility",
                                          kind_label),
                       name=f"现有 Existing {kind_label}", point_to_layer=POINT_JS,
                       on_each_feature=POPUP_JS).add_to(m)
    if new_sites is not None and len(new_sites):
        folium.GeoJson(_facility_features(new_sites.to_crs(4326), NEW_SITE, "emgis-new-site",
                                          "新选址 New site"),
                       name="新选址 New sites", point_to_layer=POINT_JS,
                       on_each_feature=POPUP_JS).add_to(m)
    pop = demand.get("population")
    rows = [(COVERED, "达标 Within the standard"), (UNCOVERED, "未达标 Out of reach"),
            (EXISTING, f"现有 Existing {kind_label}")]
    if new_sites is not None and len(new_sites):
        rows.append((NEW_SITE, "新选址 New site"))
    note = standard
    if pop is not None:
        share = float(pop[demand["covered"]].sum() / max(float(pop.sum()), 1.0))
        note = (f"{standard + '; ' if standard else ''}covered {share:.1%} "
                f"of {float(pop.sum()):,.0f} people")
        if after:
            share2 = float(pop[demand["covered_after"]].sum() / max(float(pop.sum()), 1.0))
            note += f" → {share2:.1%} after"
    m.add_child(CoverageLegend(title, rows, note, explain))
    folium.LayerControl(collapsed=False).add_to(m)
    w, s, e, n = demand.total_bounds if len(demand) else (73, 18, 135, 54)
    m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    add_print(m, title)
    assets.localize(m)
    return m


def write_coverage_map(path: str | Path, demand: gpd.GeoDataFrame, facilities=None, **kw) -> Path:
    """Write the page with its Leaflet files in ``<stem>_assets/`` beside it; return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rel = f"{path.stem}_assets"
    assets.copy_assets(path.parent / rel / "leaflet")
    m = assets.localize(coverage_map(demand, facilities, **kw), f"{rel}/leaflet")
    page = m.get_root().render()
    assets.assert_offline(page)
    path.write_text(page, encoding="utf-8")
    return path


def write_siting_map(run: Any, path: str | Path, demand: gpd.GeoDataFrame, *, kind_label: str,
                     title: str, chosen: gpd.GeoDataFrame | None = None) -> Path:
    """The before/after map of a siting run (`shelters.service.SitingRun`): every demand point
    covered before and after, the existing and the new sites."""
    frame = gpd.GeoDataFrame({"code": demand["code"].to_numpy(), "name": demand["name"].to_numpy(),
                              "population": run.w, "covered": run.before,
                              "covered_after": run.after},
                             geometry=demand.geometry.to_numpy(), crs=4326)
    explain = run.note
    if run.own_class is not None and explain:
        share = float(run.w[run.own_class].sum() / max(float(run.w.sum()), 1.0))
        explain = f"by each site's own class (as coverage counts): {share:.1%} before. {explain}"
    return write_coverage_map(path, frame, run.existing,
                              new_sites=run.chosen() if chosen is None else chosen,
                              kind_label=kind_label,
                              standard=f"standard {run.standard_s / 60:g} min",
                              title=title, explain=explain)
