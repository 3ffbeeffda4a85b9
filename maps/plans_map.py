"""The plan-system map (预案体系图): townships, villages and key enterprises by plan status.

Each unit is coloured by the worst of its status (:data:`risk.plan_report.STATUS`): no plan
(red), overdue for revision (orange), no drill in 12 months (yellow), in order (green); villages
and townships are areas (townships as outlines under the villages), enterprises circles. A popup
names the unit's plans, next review and last drill. Offline like every emgis page: local Leaflet
(:mod:`maps.assets`), a blank base layer unless one is configured.
"""

from __future__ import annotations

import html
import json
from typing import Any

import folium
import pandas as pd
from branca.element import Element
from folium.utilities import JsCode

from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM, BlankBaseLayer
from emgis.maps.tiles import add_base_layers
from emgis.risk.plan_report import STATUS

TITLE = "预案体系图 Plan system"
_e = html.escape
_LAYERS = (("township", "乡镇 Townships"), ("village", "村 Villages"),
           ("enterprise", "重点企业 Key enterprises"))


def _popup(r: pd.Series) -> str:
    rows = [("预案 plans", r["plans"] or "—"), ("状态 status", r["status_zh"]),
            ("下次评审 next review", r["next_review_on"] or "—"),
            ("最近演练 last drill", r["last_drill"] or "—")]
    if r.get("township"):
        rows.insert(0, ("乡镇 township", r["township"]))
    cells = "".join(f"<tr><th>{_e(k)}</th><td>{_e(str(v))}</td></tr>" for k, v in rows)
    return f'<div class="emgis-popup"><b>{_e(str(r["name"]))}</b><table>{cells}</table></div>'


def _features(frame: pd.DataFrame, kind: str) -> dict[str, Any]:
    feats = []
    for _, r in frame[(frame["unit_kind"] == kind) & frame["geometry"].notna()].iterrows():
        feats.append({"type": "Feature", "geometry": json.loads(r["geometry"]),
                      "properties": {"code": r["code"], "name": r["name"],
                                     "status": r["status"], "colour": r["colour"],
                                     "popup": _popup(r), "tooltip": f"{r['name']}: "
                                                                    f"{r['status_zh']}"}})
    return {"type": "FeatureCollection", "features": feats}


def _legend(frame: pd.DataFrame) -> Element:
    counts = frame[frame["unit_kind"] != "county"]["status"].value_counts()
    rows = "".join(f'<div data-status="{_e(k)}"><span style="display:inline-block;width:16px;'
                   f'height:11px;margin-right:6px;border:1px solid #555;background:{_e(c)}">'
                   f'</span>{_e(label)} ({int(counts.get(k, 0))})</div>'
                   for k, (c, label) in STATUS.items())
    county = frame[frame["unit_kind"] == "county"]
    county_rows = "".join(f'<div>{_e(str(r["name"]))}: {_e(r["status_zh"])}</div>'
                          for _, r in county.iterrows())
    return Element(
        '<div id="emgis-plans-legend" style="position:absolute;z-index:1000;bottom:24px;'
        'left:12px;background:rgba(255,255,255,.93);padding:8px 10px;border-radius:4px;'
        'box-shadow:0 1px 4px rgba(0,0,0,.35);font:13px/1.5 sans-serif">'
        f'<b>{_e(TITLE)}</b>{rows}'
        + (f'<div style="margin-top:4px;color:#444;font-size:11px">县级 county plans:'
           f'{county_rows}</div>' if county_rows else "") + "</div>")


def plans_map(frame: pd.DataFrame, *, bounds: list[list[float]] | None = None,
              asset_base: str = assets.STATIC_PREFIX, base_map=None) -> folium.Map:
    """Build the page from :func:`risk.plan_report.plan_system`'s frame."""
    m = folium.Map(location=[35.0, 105.0], zoom_start=4, tiles=None, control_scale=True)
    m.options["max_zoom"] = MAX_ZOOM
    m.get_root().title = _e(TITLE)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    if base_map is not None:
        add_base_layers(m, base_map)
    else:
        BlankBaseLayer(max_zoom=MAX_ZOOM).add_to(m)
    bind = JsCode("function (f, layer) { layer.bindPopup(f.properties.popup, {maxWidth: 320});"
                  " layer.bindTooltip(f.properties.tooltip, {sticky: true}); }")
    for kind, label in _LAYERS:
        data = _features(frame, kind)
        if not data["features"]:
            continue
        if kind == "enterprise":
            folium.GeoJson(data, name=label, on_each_feature=bind,
                           marker=folium.CircleMarker(radius=7, weight=2, color="#222",
                                                      fill=True, fill_opacity=0.95),
                           style_function=lambda f: {"fillColor": f["properties"]["colour"],
                                                     "color": "#222"}).add_to(m)
        else:
            town = kind == "township"
            folium.GeoJson(data, name=label, on_each_feature=bind,
                           style_function=(lambda f: {"fillColor": f["properties"]["colour"],
                                                      "fillOpacity": 0.15, "color": "#333",
                                                      "weight": 3}) if town else
                           (lambda f: {"fillColor": f["properties"]["colour"],
                                       "fillOpacity": 0.6, "color": "#555", "weight": 1})
                           ).add_to(m)
    m.get_root().html.add_child(_legend(frame))
    folium.LayerControl(collapsed=False).add_to(m)
    if bounds is not None:
        m.fit_bounds(bounds, padding=(20, 20))
    assets.localize(m, asset_base)
    return m
