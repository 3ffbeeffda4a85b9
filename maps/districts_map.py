"""The fire-station districts map (消防站辖区图): each district coloured by its check (green within
the norms, red failing them, grey not checked), the unreachable area hatched grey, the stations
on top; a district's popup says its area, limit, 5-minute reach and what fails. Offline like
every emgis page (``maps.assets``).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import folium
import geopandas as gpd
from branca.element import Element
from folium.utilities import JsCode

from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM, BlankBaseLayer
from emgis.maps.coverage_map import POPUP_JS, CoverageLegend, _popup

OK, FAIL, UNCHECKED, UNREACHABLE, STATION = "#1a9850", "#d73027", "#969696", "#525252", "#252525"

STATION_JS = JsCode(
    "function (feature, latlng) { return L.circleMarker(latlng, {radius: 6, color: '#fff',"
    " weight: 2, fillColor: '" + STATION + "', fillOpacity: 1,"
    " className: 'emgis-fire-station'}); }"
)


def _yes(v: Any) -> str:
    return "—" if v is None or v != v else ("是 yes" if v else "否 no")


def _district_features(table: gpd.GeoDataFrame) -> dict:
    feats = []
    for _, r in table.iterrows():
        if r.geometry is None or r.geometry.is_empty:
            continue
        state = ("unchecked" if r["area_ok"] is None or r["area_ok"] != r["area_ok"]
                 else "ok" if r["ok"] else "fail")
        colour = {"ok": OK, "fail": FAIL, "unchecked": UNCHECKED}[state]
        share = r["reach_share"]
        popup = _popup(f"{r['name']} 辖区", [
            ("站级 class", r["fire_class"] or "—"), ("道路节点 road nodes", f"{r['nodes']:,}"),
            ("面积 area", f"{r['area_km2']:.2f} km²"),
            ("上限 limit", "—" if r["limit_km2"] != r["limit_km2"] or r["limit_km2"] is None
             else f"{r['limit_km2']:g} km² ({r['limit_norm']})"),
            ("5分钟可达 5-min reach", "—" if share is None or share != share else f"{share:.0%}"),
            ("面积达标 area ok", _yes(r["area_ok"])), ("可达达标 reach ok", _yes(r["reach_ok"])),
            ("检查 check", r["check"])])
        feats.append({"type": "Feature", "geometry": r.geometry.__geo_interface__,
                      "properties": {"colour": colour, "cls": f"emgis-district {state}",
                                     "popup": popup}})
    return {"type": "FeatureCollection", "features": feats}


def districts_map(d: Any, stations: gpd.GeoDataFrame | None = None, *,
                  title: str = "消防站辖区 Fire-station districts",
                  asset_base: str = assets.STATIC_PREFIX) -> folium.Map:
    """Build the map of a `shelters.districts.Districts`; ``stations`` (points, any CRS) are
    drawn on top."""
    table = d.table.to_crs(4326)
    m = folium.Map(location=[35.0, 105.0], zoom_start=4, tiles=None, control_scale=True)
    m.options["max_zoom"] = MAX_ZOOM
    m.get_root().title = html.escape(title)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    BlankBaseLayer(max_zoom=MAX_ZOOM).add_to(m)
    folium.GeoJson(_district_features(table), name="辖区 Districts",
                   style_function=lambda f: {"color": "#333", "weight": 1,
                                             "fillColor": f["properties"]["colour"],
                                             "fillOpacity": 0.35,
                                             "className": f["properties"]["cls"]},
                   on_each_feature=POPUP_JS).add_to(m)
    lost = d.unreachable_area
    if lost is not None and not lost.is_empty:
        folium.GeoJson({"type": "Feature", "geometry": lost.__geo_interface__,
                        "properties": {"popup": _popup("无站可达 Unreachable", [
                            ("道路节点 road nodes", f"{d.unreachable.size:,}"),
                            ("面积 area", f"{d.unreachable_km2:.2f} km²")])}},
                       name="无站可达 Unreachable",
                       style_function=lambda f: {"color": UNREACHABLE, "weight": 1,
                                                 "fillColor": UNREACHABLE, "fillOpacity": 0.5,
                                                 "className": "emgis-unreachable"},
                       on_each_feature=POPUP_JS).add_to(m)
    if stations is not None and len(stations):
        st = stations.to_crs(4326)
        feats = [{"type": "Feature", "geometry": g.__geo_interface__,
                  "properties": {"popup": _popup(str(n), [("站级 class", c)])}}
                 for g, n, c in zip(st.geometry, st["name"],
                                    st.get("fire_class", [None] * len(st)), strict=True)]
        folium.GeoJson({"type": "FeatureCollection", "features": feats},
                       name="消防站 Fire stations", point_to_layer=STATION_JS,
                       on_each_feature=POPUP_JS).add_to(m)
    fails = int((~table["ok"].astype(bool)).sum())
    m.add_child(CoverageLegend(title, [(OK, "达标 Within the norms"), (FAIL, "未达标 Fails"),
                                       (UNCHECKED, "无标准 No norm"),
                                       (UNREACHABLE, "无站可达 Unreachable")],
                               f"{len(table)} districts, {fails} failing; {d.method}"))
    folium.LayerControl(collapsed=False).add_to(m)
    w, s, e, n = table.total_bounds if len(table) else (73, 18, 135, 54)
    m.fit_bounds([[s, w], [n, e]], padding=(20, 20))
    assets.localize(m, asset_base)
    return m


def write_districts_map(path: str | Path, d: Any, stations=None, **kw) -> Path:
    """Write the page with its Leaflet files in ``<stem>_assets/`` beside it; return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rel = f"{path.stem}_assets"
    assets.copy_assets(path.parent / rel / "leaflet")
    page = districts_map(d, stations, asset_base=f"{rel}/leaflet", **kw).get_root().render()
    assets.assert_offline(page)
    path.write_text(page, encoding="utf-8")
    return path
