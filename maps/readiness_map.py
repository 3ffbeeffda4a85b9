"""The readiness map: townships in the four colours of compliance (offline, like risk_map.py).

Each township is coloured by `shelters.readiness.colour_of` (达标 compliant, 基本达标 mostly,
不达标 not compliant, 未知 unknown) and its popup lists every check with the value, what the
norm asks and its key. Leaflet is served locally (`maps.assets`); nothing leaves the machine
unless an operator configured a base map.
"""

from __future__ import annotations

import html
from pathlib import Path

import folium
import geopandas as gpd
from branca.element import Element
from folium.utilities import JsCode

from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM, BlankBaseLayer
from emgis.maps.tiles import add_base_layers
from emgis.shelters.readiness import COLOURS, Readiness

TITLE = "应急队伍建设达标图 Readiness against the norms"


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _fmt(v: object) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _popup(name: str, colour_label: str, checks) -> str:
    rows = "".join(
        f"<tr><td>{_e(c['check_zh'])}</td><td>{_e(_fmt(c['value']))}</td>"
        f"<td>{_e(_fmt(c['required']))}</td><td>{_e(c['status_zh'])}</td>"
        f"<td>{_e(c['norm'])}</td></tr>"
        for c in checks)
    return (f"<b>{_e(name)}</b> — {_e(colour_label)}<table class='emgis-ready'>"
            "<tr><th>检查项</th><th>实际</th><th>要求</th><th>结论</th><th>规范</th></tr>"
            f"{rows}</table>")


def _features(report: Readiness, towns: gpd.GeoDataFrame) -> dict:
    by_code = {r["code"]: r for r in report.townships.to_dict("records")}
    checks = report.checks
    feats = []
    for t in towns.itertuples(index=False):
        r = by_code.get(t.code)
        if r is None or t.geometry is None:
            continue
        mine = checks[(checks["code"] == t.code) & (checks["level"] == "township")]
        feats.append({"type": "Feature", "geometry": t.geometry.__geo_interface__,
                      "properties": {"code": t.code, "name": r["name"],
                                     "compliance": r["compliance"], "colour": r["colour"],
                                     "tooltip": f"{r['name']}: {r['compliance_zh']}",
                                     "popup": _popup(r["name"], r["compliance_zh"],
                                                     mine.to_dict("records"))}})
    return {"type": "FeatureCollection", "features": feats}


def _legend(counts: dict[str, int]) -> Element:
    rows = "".join(
        f'<div class="r" data-compliance="{_e(k)}"><span class="s" style="background:{_e(c)}">'
        f"</span>{_e(label)} ({counts.get(k, 0)})</div>" for k, (c, label) in COLOURS.items())
    return Element(
        "<style>.emgis-ready-legend{position:absolute;bottom:24px;right:10px;z-index:1000;"
        "background:#fff;padding:6px 10px;font:13px sans-serif;border-radius:4px;"
        "box-shadow:0 1px 4px rgba(0,0,0,.3)}.emgis-ready-legend .s{display:inline-block;"
        "width:14px;height:14px;margin-right:6px;vertical-align:middle}"
        "table.emgis-ready td,table.emgis-ready th{padding:1px 4px;font-size:12px}</style>"
        f'<div class="emgis-ready-legend" id="emgis-ready-legend"><div class="t"><b>'
        f"{_e(TITLE)}</b></div>{rows}</div>")


def readiness_map(report: Readiness, towns: gpd.GeoDataFrame, *,
                  asset_base: str = assets.STATIC_PREFIX, base_map=None) -> folium.Map:
    """Build the page: ``towns`` (code, geometry in EPSG:4326) coloured by ``report``."""
    m = folium.Map(location=[35.0, 105.0], zoom_start=4, tiles=None, control_scale=True)
    m.options["max_zoom"] = MAX_ZOOM
    m.get_root().title = _e(TITLE)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    if base_map is not None:
        add_base_layers(m, base_map)
    else:
        BlankBaseLayer(max_zoom=MAX_ZOOM).add_to(m)
    data = _features(report, towns)
    if data["features"]:
        folium.GeoJson(
            data, name="乡镇达标情况 Townships",
            style_function=lambda f: {"fillColor": f["properties"]["colour"],
                                      "fillOpacity": 0.55, "color": "#444444", "weight": 1},
            highlight_function=lambda f: {"weight": 3, "fillOpacity": 0.75},
            on_each_feature=JsCode(
                "function (feature, layer) {"
                " layer.bindPopup(feature.properties.popup, {maxWidth: 420});"
                " layer.bindTooltip(feature.properties.tooltip, {sticky: true}); }"),
        ).add_to(m)
        b = towns.total_bounds
        m.fit_bounds([[float(b[1]), float(b[0])], [float(b[3]), float(b[2])]], padding=(20, 20))
    counts = report.townships["compliance"].value_counts().to_dict() if len(report.townships) \
        else {}
    m.get_root().html.add_child(_legend(counts))
    folium.LayerControl(collapsed=False).add_to(m)
    assets.localize(m, asset_base)
    return m


def write_readiness_map(path: str | Path, report: Readiness, towns: gpd.GeoDataFrame) -> Path:
    """Write the page with its Leaflet files beside it (``<stem>_assets``); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rel = f"{path.stem}_assets"
    assets.copy_assets(path.parent / rel / "leaflet")
    page = readiness_map(report, towns, asset_base=f"{rel}/leaflet").get_root().render()
    assets.assert_offline(page)
    path.write_text(page, encoding="utf-8")
    return path
