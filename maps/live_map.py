"""The live situation map (实时态势图): what a commander watches during an incident.

Incidents, shelters, depots and team bases are Leaflet-Realtime layers (folium's
``Realtime`` plugin) that re-read the API's OGC API – Features collections every
``refresh_s`` seconds, so a newly posted incident, a shelter filling up or a team leaving
its base shows without a reload. Resources are coloured by state (shelter open / nearly
full / full / closed, team available / deployed / unavailable, depot active / inactive),
incidents by response level (I–IV in the four official colours of the norms table).

Selecting an incident (click it, or its line in the incident panel) asks the API for the
three nearest team bases, depots and shelters by road (``/analyses/nearest``; roads inside an
incident's area are closed) and draws their routes with the travel time, and for an area
incident the villages and population inside it (``/analyses/warning-area``).

The incident panel also holds the dispatch (#16, api/http/dispatch.py): per team type the
incident's kind needs, the nearest available teams (``/incidents/{id}/proposal``) with an
"assign" button once a commander token is entered (kept in the tab's sessionStorage), the
assigned resources with their state, ETA, route and next moves, and the timeline, newest last;
the routes of every team en route are drawn, whichever incident it serves.

A grouped layer control (灾情 hazards / 资源 resources / 队伍 teams), a search by name over
every resource and a legend complete the page. Leaflet and the plugins are served by emgis
(``/static/leaflet``, maps/assets.py and maps/vendor.py); only the base map may come from
outside, and only when configured so (maps/tiles.py).

The page's logic and styles are static files, ``maps/static/emgis/live_map.js`` and
``live_map.css``, linked, served and copied beside a written page like Leaflet's
(maps/assets.py), so they can be read, linted and cached as what they are. Python builds the
layers and hands the script what it needs (API base, colours of levels, states and routes, the
legend) as one JSON object in the page, ``<script type="application/json"
id="emgis-live-config">``; nothing is formatted into the script.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import folium
from branca.element import Element, MacroElement
from folium.elements import JSCSSMixin
from folium.plugins import GroupedLayerControl, Realtime
from folium.template import Template
from folium.utilities import JsCode

from emgis.layers.settings import MapSettings
from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM
from emgis.maps.print_layout import add_print
from emgis.maps.tiles import add_base_layers

TITLE = "实时态势图 Live situation map"

#: Fill colours of resource states (the legend shows the same table).
STATE_COLOURS: dict[str, dict[str, tuple[str, str]]] = {
    "shelters": {"open": ("#1a9850", "开放 open"), "nearly_full": ("#fdae61", "将满 ≥90 % full"),
                 "full": ("#d73027", "已满 full"),
                 "closed": ("#9e9e9e", "关闭/不可用 closed")},
    "team_bases": {"available": ("#1a9850", "待命 available"),
                   "deployed": ("#f46d43", "出动 deployed"),
                   "unavailable": ("#9e9e9e", "不可用 unavailable")},
    "depots": {"active": ("#4575b4", "启用 active"), "inactive": ("#9e9e9e", "停用 inactive")},
}
#: Response levels I..IV drawn in the colours of the four risk levels, most severe first.
RESPONSE_LEVELS = ("I", "II", "III", "IV")
#: Route colours by resource layer.
ROUTE_COLOURS = {"team_bases": "#d73027", "depots": "#4575b4", "shelters": "#1a9850"}
LAYER_LABELS = {"incidents": "事件 Incidents", "shelters": "避难场所 Shelters",
                "depots": "物资储备库 Depots", "team_bases": "救援队伍 Teams",
                "routes": "调度路线 Routes", "risk_areas": "四色风险区 Risk areas",
                "experts": "应急专家 Experts"}
LAYER_LABELS["field_reports"] = "现场报告 Field reports"

#: The live layers (one Leaflet-Realtime layer each, from /collections/{kind}/items) and the
#: group of the layer control each sits in. A capability that adds a layer adds it here and says
#: how to draw it in its extension script (``emgisLive.kinds[kind]``).
LIVE_LAYERS: dict[str, str] = {"shelters": "资源 Resources", "depots": "资源 Resources",
                               "team_bases": "队伍 Teams", "incidents": "灾情 Hazards",
                               "experts": "队伍 Teams"}
LIVE_LAYERS["field_reports"] = "灾情 Hazards"  # field reports (maps/static/emgis/live_reports.js)
#: Extension scripts, maps/static/emgis/<name>.js (+ <name>.css when it exists), loaded after
#: live_map.js; each adds popups, panel parts and layers through ``emgisLive.extend`` so that a
#: capability grows in its own file, not in live_map.js.
EXTENSIONS: tuple[str, ...] = ("live_plans", "live_readiness", "live_relief",
                               "live_reports")

CONFIG_ID = "emgis-live-config"


def _config_element(cfg: dict[str, Any]) -> Element:
    """The page's one JSON config for maps/static/emgis/live_map.js (read by id, never run).

    ``<`` is written as ``\\u003c`` so no text in it (the legend's HTML) can close the tag.
    """
    text = json.dumps(cfg, ensure_ascii=False).replace("<", "\\u003c")
    return Element(f'<script type="application/json" id="{CONFIG_ID}">{text}</script>')


class _LiveRuntime(JSCSSMixin, MacroElement):
    """The incident panel, and the call that starts the live logic once the layers exist.

    The logic and its styles are static files (maps/static/emgis/live_map.js and .css), linked
    like Leaflet's through :func:`maps.assets.localize`; what they need from Python is in the
    page's JSON config (:func:`_config_element`). Only the names folium gave the map, the
    realtime layers and the route group are written into the page's script.
    """

    # leaflet-search, linked by the names folium's Search plugin uses (served locally,
    # maps/vendor.py), and the page's own logic and styles (maps/static/emgis)
    default_js: ClassVar = [
        ("Leaflet.Search.js",
         "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js"),
        ("emgis_live_map_js", "emgis/live_map.js"),
        *[(f"emgis_{n}_js", f"emgis/{n}.js") for n in EXTENSIONS],
    ]
    default_css: ClassVar = [
        ("Leaflet.Search.css",
         "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css"),
        ("emgis_live_map_css", "emgis/live_map.css"),
        *[(f"emgis_{n}_css", f"emgis/{n}.css") for n in EXTENSIONS
          if f"emgis_{n}_css" in assets.OWN_FILES],
    ]

    _template = Template("""
{% macro html(this, kwargs) %}
<div id="emgis-panel" class="emgis-panel">
  <div class="emgis-title">{{ this.title|e }}
    <a href="#" id="emgis-fold" title="收起/展开 fold/unfold"
       style="float:right;text-decoration:none">▾</a></div>
  <div id="emgis-body">
  <div class="emgis-status">更新 updated <span id="emgis-updated">—</span>
    · 每 every {{ this.refresh_s }} s · <span id="emgis-conn">…</span></div>
  <div class="emgis-token">指挥令牌 commander token
    <input id="emgis-token" type="password" autocomplete="off" placeholder="emgis_…"
           title="emgis token create NAME --role commander; kept in this tab only"></div>
  <div class="emgis-h">事件 Incidents (<span id="emgis-incident-count">0</span>)</div>
  <ul id="emgis-incidents"></ul>
  <div id="emgis-selection" class="emgis-selection"></div>
  </div>
</div>
{% endmacro %}
{% macro script(this, kwargs) %}
emgisLive.start({{ this._parent.get_name() }}, {{ this.realtime_js }}, {{ this.routes_name }});
{% endmacro %}
""")

    def __init__(self, realtime: dict[str, Realtime], routes: folium.FeatureGroup, *, title: str,
                 refresh_s: float) -> None:
        super().__init__()
        self._name = "EmgisLive"
        self.title = title
        self.refresh_s = f"{refresh_s:g}"
        self.realtime_js = "{" + ", ".join(f"{k}: {v.get_name()}"
                                           for k, v in realtime.items()) + "}"
        self.routes_name = routes.get_name()


def _legend_html(levels: dict[str, str]) -> str:
    import html as h

    def dot(colour: str, label: str, line: bool = False, ring: bool = False) -> str:
        cls = ' class="line"' if line else ""
        border = ";border:2.5px solid #222" if ring else ""
        return (f'<div><i{cls} style="background:{h.escape(colour)}{border}"></i>'
                f'{h.escape(label)}</div>')

    parts = ["<b>事件等级 Response level</b>"]
    parts += [dot(c, f"{k} 级") for k, c in levels.items()]
    parts.append("<b>避难场所 Shelters</b>")
    parts += [dot(c, label) for c, label in STATE_COLOURS["shelters"].values()]
    parts.append("<b>救援队伍 Teams</b> (dark ring)")
    parts += [dot(c, label, ring=True) for c, label in STATE_COLOURS["team_bases"].values()]
    parts.append("<b>物资储备库 Depots</b>")
    parts += [dot(c, label) for c, label in STATE_COLOURS["depots"].values()]
    parts.append("<b>路线 Routes</b>")
    parts += [dot(ROUTE_COLOURS[k], LAYER_LABELS[k], line=True)
              for k in ("team_bases", "depots", "shelters")]
    parts.append("<b>调派 Dispatched</b> dashed: dispatched · thick: en route")
    return "".join(parts)


def response_level_colours(norms=None) -> dict[str, str]:
    """I..IV in the colours of the four risk levels (most severe first), from the norms table."""
    from emgis.risk.levels import risk_levels

    colours = [lv.colour for lv in risk_levels(norms)]
    return dict(zip(RESPONSE_LEVELS, colours, strict=False))


def live_map(*, api_base: str = "", bounds: list[list[float]] | None = None,
             risk_areas: dict | None = None, settings: MapSettings | None = None, norms=None,
             asset_base: str = assets.STATIC_PREFIX, title: str = TITLE) -> folium.Map:
    """Build the live situation map.

    Parameters
    ----------
    api_base
        Where the API is, as seen by the browser ("" = the server that serves the page).
    bounds
        ``[[south, west], [north, east]]`` to fit (the study area); None shows China.
    risk_areas
        The four-colour areas as a GeoJSON FeatureCollection (drawn once, not refreshed), with
        ``colour`` and ``label`` properties; None leaves the layer out.
    settings
        Base map and refresh interval (default from ``EMGIS_MAP_*``).
    """
    s = settings or MapSettings()
    m = folium.Map(location=[35.0, 105.0], zoom_start=4, tiles=None, control_scale=True,
                   max_zoom=MAX_ZOOM)
    m.get_root().title = title
    # no favicon request to the server (a 404 in the console otherwise)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    add_base_layers(m, s, server=api_base.rstrip("/"))
    levels = response_level_colours(norms)
    cfg = {"api": api_base.rstrip("/"), "levels": levels, "routes": ROUTE_COLOURS,
           "states": {k: {s_: list(v) for s_, v in d.items()} for k, d in STATE_COLOURS.items()},
           "legend": _legend_html(levels)}
    m.get_root().header.add_child(_config_element(cfg), name="emgis_live_config")
    groups: dict[str, folium.FeatureGroup] = {}
    if risk_areas is not None:
        fg = folium.FeatureGroup(name=LAYER_LABELS["risk_areas"], show=False)
        tooltip = (folium.GeoJsonTooltip(fields=["label"], aliases=[""], labels=False)
                   if risk_areas.get("features") else None)
        folium.GeoJson(risk_areas, style_function=_risk_area_style, tooltip=tooltip).add_to(fg)
        fg.add_to(m)
        groups["risk_areas"] = fg
    realtime: dict[str, Realtime] = {}
    interval = int(s.refresh_s * 1000)
    for kind in LIVE_LAYERS:
        fg = folium.FeatureGroup(name=LAYER_LABELS[kind])
        rt = Realtime(f"{cfg['api']}/collections/{kind}/items?limit=10000", interval=interval,
                      get_feature_id=JsCode("emgisLive.featureId"),
                      update_feature=JsCode(f"emgisLive.update('{kind}')"), remove_missing=True,
                      point_to_layer=JsCode(f"emgisLive.pointToLayer('{kind}')"),
                      style=JsCode(f"emgisLive.style('{kind}')"),
                      on_each_feature=JsCode(f"emgisLive.each('{kind}')"))
        rt.add_to(fg)
        fg.add_to(m)
        groups[kind], realtime[kind] = fg, rt
    routes = folium.FeatureGroup(name=LAYER_LABELS["routes"])
    routes.add_to(m)
    groups["routes"] = routes
    control: dict[str, list[folium.FeatureGroup]] = {}
    for kind, group in [*LIVE_LAYERS.items(), ("risk_areas", "灾情 Hazards"),
                        ("routes", "队伍 Teams")]:
        if kind in groups:
            control.setdefault(group, []).append(groups[kind])
    GroupedLayerControl(control, exclusive_groups=False, collapsed=False).add_to(m)
    _LiveRuntime(realtime, routes, title=title, refresh_s=s.refresh_s).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    add_print(m, title)
    assets.localize(m, asset_base)
    return m


def _risk_area_style(feature: dict[str, Any]) -> dict[str, Any]:
    c = feature["properties"].get("colour") or "#9e9e9e"
    return {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.35}


def render(m: folium.Map) -> str:
    """The page as HTML text (check it with :func:`maps.assets.assert_offline`)."""
    return m.get_root().render()
