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

A grouped layer control (灾情 hazards / 资源 resources / 队伍 teams), a search by name over
every resource and a legend complete the page. Leaflet and the plugins are served by emgis
(``/static/leaflet``, maps/assets.py and maps/vendor.py); only the base map may come from
outside, and only when configured so (maps/tiles.py).
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

from emgis.maps import assets
from emgis.maps.base_layer import MAX_ZOOM
from emgis.maps.tiles import MapSettings, add_base_layers

TITLE = "实时态势图 Live situation map"

#: Fill colours of resource states (the legend shows the same table).
STATE_COLOURS: dict[str, dict[str, tuple[str, str]]] = {
    "shelters": {"open": ("#1a9850", "开放 open"), "nearly_full": ("#fdae61", "将满 ≥90 % full"),
                 "full": ("#d73027", "已满 full"), "closed": ("#9e9e9e", "关闭/不可用 closed")},
    "team_bases": {"available": ("#1a9850", "待命 available"), "deployed": ("#f46d43", "出动 deployed"),
                   "unavailable": ("#9e9e9e", "不可用 unavailable")},
    "depots": {"active": ("#4575b4", "启用 active"), "inactive": ("#9e9e9e", "停用 inactive")},
}
#: Response levels I..IV drawn in the colours of the four risk levels, most severe first.
RESPONSE_LEVELS = ("I", "II", "III", "IV")
#: Route colours by resource layer.
ROUTE_COLOURS = {"team_bases": "#d73027", "depots": "#4575b4", "shelters": "#1a9850"}
LAYER_LABELS = {"incidents": "事件 Incidents", "shelters": "避难场所 Shelters", "depots": "物资储备库 Depots",
                "team_bases": "救援队伍 Teams", "routes": "调度路线 Routes", "risk_areas": "四色风险区 Risk areas"}

_RUNTIME = """
<script>
(function () {
  var L_ = window.emgisLive = window.emgisLive || {};
  L_.cfg = %(cfg)s;
  L_.esc = function (v) {
    return String(v === null || v === undefined ? '' : v).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; });
  };
  L_.state = function (kind, p) {
    if (kind === 'shelters') {
      if (p.status !== 'open') return 'closed';
      var cap = Number(p.capacity), occ = Number(p.occupancy || 0);
      if (cap > 0 && occ >= cap) return 'full';
      if (cap > 0 && occ >= 0.9 * cap) return 'nearly_full';
      return 'open';
    }
    if (kind === 'team_bases') return (p.status in L_.cfg.states.team_bases) ? p.status : 'unavailable';
    if (kind === 'depots') return p.status === 'active' ? 'active' : 'inactive';
    return '';
  };
  L_.levelColour = function (level) {
    var s = String(level || '').trim().toUpperCase().replace('Ⅰ', 'I').replace('Ⅱ', 'II').replace('Ⅲ', 'III').replace('Ⅳ', 'IV');
    return L_.cfg.levels[s] || '#6a3d9a';
  };
  L_.colour = function (kind, p) {
    if (kind === 'incidents') return L_.levelColour(p.level);
    return L_.cfg.states[kind][L_.state(kind, p)][0];
  };
  L_.rows = function (kind, p) {
    var r = [];
    if (kind === 'incidents') r = [['类型 type', p.incident_type], ['等级 level', p.level], ['状态 status', p.status],
                                   ['接报 reported', p.reported_at]];
    if (kind === 'shelters') r = [['状态 status', p.status], ['容量 capacity', p.capacity], ['在场 occupancy', p.occupancy],
                                  ['类别 class', p.duration_class], ['地址 address', p.address]];
    if (kind === 'depots') r = [['级别 level', p.level], ['状态 status', p.status]];
    if (kind === 'team_bases') r = [['类型 type', p.team_type], ['状态 status', p.status], ['人员 personnel', p.personnel],
                                    ['车辆 vehicles', p.vehicles]];
    return r;
  };
  L_.popup = function (kind, f) {
    var p = f.properties || {}, title = p.name || p.title || p.ext_id || ('#' + f.id);
    var cells = L_.rows(kind, p).filter(function (x) { return x[1] !== null && x[1] !== undefined && x[1] !== ''; })
      .map(function (x) { return '<tr><th>' + L_.esc(x[0]) + '</th><td>' + L_.esc(x[1]) + '</td></tr>'; }).join('');
    var act = kind === 'incidents' ? '<div><a href="#" class="emgis-select" data-id="' + L_.esc(f.id) +
      '">调度 nearest resources &amp; routes</a></div>' : '';
    return '<div class="emgis-popup"><b>' + L_.esc(title) + '</b><table>' + cells + '</table>' + act + '</div>';
  };
  L_.pointStyle = function (kind, f) {
    var c = L_.colour(kind, f.properties || {});
    var r = kind === 'incidents' ? 10 : (kind === 'shelters' ? 7 : 6);
    // teams: a dark ring, so an available team (green) is not taken for an open shelter (green)
    var ring = kind === 'incidents' ? ['#000', 2] : (kind === 'team_bases' ? ['#222', 2.5] : ['#fff', 1.5]);
    return {radius: r, color: ring[0], weight: ring[1], fillColor: c, fillOpacity: 0.9, className: 'emgis-' + kind};
  };
  L_.areaStyle = function (kind, f) {
    var c = L_.colour(kind, f.properties || {});
    return {color: c, weight: 2, dashArray: '6 4', fillColor: c, fillOpacity: 0.25, className: 'emgis-' + kind};
  };
  L_.pointToLayer = function (kind) {
    return function (f, latlng) { return L.circleMarker(latlng, L_.pointStyle(kind, f)); };
  };
  L_.style = function (kind) {
    return function (f) { return (f.geometry && f.geometry.type === 'Point') ? L_.pointStyle(kind, f) : L_.areaStyle(kind, f); };
  };
  L_.each = function (kind) {
    return function (f, layer) {
      layer.bindPopup(L_.popup(kind, f), {maxWidth: 340});
      layer.bindTooltip(L_.esc((f.properties || {}).name || (f.properties || {}).title || ''));
      if (kind === 'incidents') layer.on('click', function () { L_.select(layer.feature || f); });
    };
  };
  L_.update = function (kind) {
    return function (f, old) {
      if (!old) return undefined;
      old.feature = f;
      if (f.geometry && f.geometry.type === 'Point' && old.setLatLng) {
        var c = f.geometry.coordinates;
        old.setLatLng([c[1], c[0]]);
        old.setStyle(L_.pointStyle(kind, f));
      } else if (old.setStyle && old.toGeoJSON &&
                 JSON.stringify(old.toGeoJSON().geometry.coordinates) === JSON.stringify(f.geometry.coordinates)) {
        old.setStyle(L_.areaStyle(kind, f));
      } else {
        return undefined;  // the shape changed: draw it anew
      }
      old.setPopupContent(L_.popup(kind, f));
      old.setTooltipContent(L_.esc((f.properties || {}).name || (f.properties || {}).title || ''));
      return old;
    };
  };
  L_.featureId = function (f) { return f.id; };
})();
</script>
"""


class _LiveRuntime(JSCSSMixin, MacroElement):
    """The page's live logic once the layers exist: the incident panel, selection, routes, search."""

    # leaflet-search, linked by the names folium's Search plugin uses (served locally, maps/vendor.py)
    default_js: ClassVar = [("Leaflet.Search.js", "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.js")]
    default_css: ClassVar = [("Leaflet.Search.css", "https://cdn.jsdelivr.net/npm/leaflet-search@2.9.7/dist/leaflet-search.min.css")]

    _template = Template("""
{% macro html(this, kwargs) %}
<div id="emgis-panel" class="emgis-panel">
  <div class="emgis-title">{{ this.title|e }}
    <a href="#" id="emgis-fold" title="收起/展开 fold/unfold" style="float:right;text-decoration:none">▾</a></div>
  <div id="emgis-body">
  <div class="emgis-status">更新 updated <span id="emgis-updated">—</span>
    · 每 every {{ this.refresh_s }} s · <span id="emgis-conn">…</span></div>
  <div class="emgis-h">事件 Incidents (<span id="emgis-incident-count">0</span>)</div>
  <ul id="emgis-incidents"></ul>
  <div id="emgis-selection" class="emgis-selection"></div>
  </div>
</div>
<style>
  .emgis-panel { position: absolute; top: 10px; left: 54px; z-index: 999; width: 320px; max-height: 80vh;
    overflow: auto; background: rgba(255,255,255,0.95); border-radius: 6px; padding: 8px 10px;
    box-shadow: 0 1px 5px rgba(0,0,0,0.4); font: 12px/1.4 sans-serif; }
  .emgis-title { font-weight: bold; font-size: 14px; }
  .emgis-status { color: #555; margin-bottom: 4px; }
  .emgis-h { font-weight: bold; margin-top: 6px; }
  #emgis-incidents { list-style: none; padding: 0; margin: 2px 0; }
  #emgis-incidents li { cursor: pointer; padding: 2px 0; border-bottom: 1px solid #eee; }
  #emgis-incidents li.sel { background: #fff3c4; }
  .emgis-dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px;
    border: 1px solid #333; vertical-align: middle; }
  .emgis-selection table, .emgis-popup table { border-collapse: collapse; }
  .emgis-selection th, .emgis-selection td, .emgis-popup th, .emgis-popup td { text-align: left;
    padding: 1px 4px; font-weight: normal; }
  .emgis-selection th, .emgis-popup th { color: #555; }
  .emgis-legend { background: rgba(255,255,255,0.95); padding: 6px 8px; border-radius: 6px;
    box-shadow: 0 1px 5px rgba(0,0,0,0.4); font: 12px/1.5 sans-serif; }
  .emgis-legend i { display: inline-block; width: 12px; height: 12px; border-radius: 50%; margin-right: 5px;
    vertical-align: middle; border: 1px solid #555; }
  .emgis-legend i.line { border-radius: 0; height: 3px; border: 0; }
</style>
{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
  var L_ = window.emgisLive, map = {{ this._parent.get_name() }};
  var rt = {{ this.realtime_js }};
  var routes = {{ this.routes_name }};
  L_.map = map; L_.realtime = rt; L_.routes = routes; L_.selected = null;
  L_.incidents = {};
  function fmtMin(s) { return (Math.round(s / 6) / 10).toFixed(1) + ' min'; }
  function stamp() {
    var d = new Date();
    document.getElementById('emgis-updated').textContent = d.toLocaleTimeString();
  }
  function renderIncidents() {
    var ul = document.getElementById('emgis-incidents'), feats = [];
    rt.incidents._container.eachLayer(function (l) { if (l.feature) feats.push(l.feature); });
    feats.sort(function (a, b) { return String(b.properties.reported_at || '').localeCompare(String(a.properties.reported_at || '')); });
    L_.incidents = {};
    ul.innerHTML = feats.map(function (f) {
      L_.incidents[f.id] = f;
      var p = f.properties || {};
      return '<li data-id="' + L_.esc(f.id) + '"' + (L_.selected === f.id ? ' class="sel"' : '') + '>' +
        '<span class="emgis-dot" style="background:' + L_.levelColour(p.level) + '"></span>' +
        L_.esc(p.title || p.ext_id || ('#' + f.id)) + ' · ' + L_.esc(p.level || '') + ' · ' + L_.esc(p.status || '') + '</li>';
    }).join('');
    document.getElementById('emgis-incident-count').textContent = String(feats.length);
  }
  var panel = document.getElementById('emgis-panel');
  L.DomEvent.disableClickPropagation(panel); L.DomEvent.disableScrollPropagation(panel);
  document.getElementById('emgis-fold').addEventListener('click', function (e) {
    e.preventDefault();
    var b = document.getElementById('emgis-body'), open = b.style.display !== 'none';
    b.style.display = open ? 'none' : ''; this.textContent = open ? '▸' : '▾';
  });
  document.getElementById('emgis-incidents').addEventListener('click', function (e) {
    var li = e.target.closest('li'); if (!li) return;
    var f = L_.incidents[li.getAttribute('data-id')]; if (f) L_.select(f, true);
  });
  map.on('popupopen', function (e) {
    var a = e.popup.getElement().querySelector('a.emgis-select');
    if (a) a.addEventListener('click', function (ev) {
      ev.preventDefault(); var f = L_.incidents[a.getAttribute('data-id')]; if (f) L_.select(f, false);
    });
  });
  Object.keys(rt).forEach(function (k) {
    rt[k].on('update', function () {
      stamp(); document.getElementById('emgis-conn').textContent = '在线 live';
      if (k === 'incidents') renderIncidents();
    });
    rt[k].on('error', function () { document.getElementById('emgis-conn').textContent = '连接中断 connection lost, retrying'; });
  });
  function centre(f) {
    var g = f.geometry;
    if (g.type === 'Point') return [g.coordinates[1], g.coordinates[0]];
    var c = L.geoJSON(g).getBounds().getCenter(); return [c.lat, c.lng];
  }
  function getJSON(url) {
    return fetch(url, {headers: {Accept: 'application/json, application/geo+json'}}).then(function (r) {
      return r.json().then(function (b) { return {ok: r.ok, status: r.status, body: b}; });
    });
  }
  L_.select = function (f, fly) {
    L_.selected = f.id; renderIncidents(); routes.clearLayers();
    var c = centre(f), isArea = f.geometry.type !== 'Point';
    var box = document.getElementById('emgis-selection'), p = f.properties || {};
    box.innerHTML = '<div class="emgis-h">' + L_.esc(p.title || ('#' + f.id)) + '</div><div id="emgis-sel-body">…</div>';
    if (fly) map.setView(c, Math.max(map.getZoom(), 12));
    var layers = [['team_bases', 'from_facility', '救援队伍 teams'], ['depots', 'from_facility', '物资 depots'],
                  ['shelters', 'to_facility', '避难场所 shelters']];
    var jobs = layers.map(function (x) {
      var url = L_.cfg.api + '/analyses/nearest?lon=' + c[1] + '&lat=' + c[0] + '&layer=' + x[0] + '&k=3&direction=' + x[1] +
        (isArea ? '&avoid=' + encodeURIComponent(f.id) : '');
      return getJSON(url).then(function (res) { return [x, res]; });
    });
    if (isArea) jobs.push(getJSON(L_.cfg.api + '/analyses/warning-area?incident=' + encodeURIComponent(f.id))
      .then(function (res) { return [['area'], res]; }));
    Promise.all(jobs).then(function (all) {
      if (L_.selected !== f.id) return;
      var html = '';
      all.forEach(function (pair) {
        var x = pair[0], res = pair[1];
        if (x[0] === 'area') {
          var b = res.body || {};
          html += '<div class="emgis-h">影响范围 Affected area</div>' + (res.ok ?
            '<div id="emgis-affected">人口 population <b>' + L_.esc(Math.round(b.population_total || 0).toLocaleString()) +
            '</b> · 村 villages ' + L_.esc((b.villages || []).length) + '</div>' :
            '<div>' + L_.esc(b.detail || res.status) + '</div>');
          return;
        }
        html += '<div class="emgis-h">' + L_.esc(x[2]) + '</div>';
        if (!res.ok) { html += '<div>' + L_.esc((res.body || {}).detail || res.status) + '</div>'; return; }
        var feats = (res.body.features || []);
        if (!feats.length) { html += '<div>—</div>'; return; }
        html += '<table>' + feats.map(function (r) {
          var q = r.properties;
          L.geoJSON(r, {style: {color: L_.cfg.routes[x[0]], weight: 5 - Math.min(q.rank, 3), opacity: 0.85,
                                className: 'emgis-route'}})
            .bindTooltip(L_.esc(q.name || q.ext_id) + ' · ' + fmtMin(q.time_s)).addTo(routes);
          return '<tr><td>' + q.rank + '</td><th>' + L_.esc(q.name || q.ext_id) + '</th><td>' + fmtMin(q.time_s) +
            '</td><td>' + (q.length_m / 1000).toFixed(1) + ' km</td></tr>';
        }).join('') + '</table>';
      });
      document.getElementById('emgis-sel-body').innerHTML = html;
      if (!map.hasLayer(routes)) routes.addTo(map);
    }).catch(function (e) {
      document.getElementById('emgis-sel-body').textContent = '请求失败 request failed: ' + e;
    });
  };
  // search by name over every resource layer and the incidents (leaflet-search over live data)
  var byName = {};
  function records(text, callResponse) {
    var out = []; byName = {};
    ['shelters', 'depots', 'team_bases', 'incidents'].forEach(function (k) {
      rt[k]._container.eachLayer(function (l) {
        var p = (l.feature || {}).properties || {}, n = p.name || p.title;
        if (!n || !l.getLatLng && !l.getBounds) return;
        var ll = l.getLatLng ? l.getLatLng() : l.getBounds().getCenter();
        byName[n] = l; out.push({name: n, loc: [ll.lat, ll.lng]});
      });
    });
    callResponse(out);
    return {abort: function () {}};
  }
  L_.search = new L.Control.Search({sourceData: records, propertyName: 'name', propertyLoc: 'loc',
    initial: false, zoom: 15, marker: false, textPlaceholder: '搜索名称 Search by name', textErr: '未找到 not found',
    moveToLocation: function (latlng, title, m) {
      m.setView(latlng, Math.max(m.getZoom(), 15));
      var l = byName[title]; if (l && l.openPopup) l.openPopup();
    }});
  map.addControl(L_.search);
  // legend
  var legend = L.control({position: 'bottomright'});
  legend.onAdd = function () {
    var d = L.DomUtil.create('div', 'emgis-legend');
    d.innerHTML = {{ this.legend_html|tojson }};
    return d;
  };
  legend.addTo(map);
})();
{% endmacro %}
""")

    def __init__(self, realtime: dict[str, Realtime], routes: folium.FeatureGroup, *, title: str,
                 refresh_s: float, legend_html: str) -> None:
        super().__init__()
        self._name = "EmgisLive"
        self.title = title
        self.refresh_s = f"{refresh_s:g}"
        self.realtime_js = "{" + ", ".join(f"{k}: {v.get_name()}" for k, v in realtime.items()) + "}"
        self.routes_name = routes.get_name()
        self.legend_html = legend_html


def _legend_html(levels: dict[str, str]) -> str:
    import html as h

    def dot(colour: str, label: str, line: bool = False, ring: bool = False) -> str:
        cls = ' class="line"' if line else ""
        border = ";border:2.5px solid #222" if ring else ""
        return f'<div><i{cls} style="background:{h.escape(colour)}{border}"></i>{h.escape(label)}</div>'

    parts = ["<b>事件等级 Response level</b>"]
    parts += [dot(c, f"{k} 级") for k, c in levels.items()]
    parts.append("<b>避难场所 Shelters</b>")
    parts += [dot(c, label) for c, label in STATE_COLOURS["shelters"].values()]
    parts.append("<b>救援队伍 Teams</b> (dark ring)")
    parts += [dot(c, label, ring=True) for c, label in STATE_COLOURS["team_bases"].values()]
    parts.append("<b>物资储备库 Depots</b>")
    parts += [dot(c, label) for c, label in STATE_COLOURS["depots"].values()]
    parts.append("<b>路线 Routes</b>")
    parts += [dot(ROUTE_COLOURS[k], LAYER_LABELS[k], line=True) for k in ("team_bases", "depots", "shelters")]
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
    m = folium.Map(location=[35.0, 105.0], zoom_start=4, tiles=None, control_scale=True, max_zoom=MAX_ZOOM)
    m.get_root().title = title
    # no favicon request to the server (a 404 in the console otherwise)
    m.get_root().header.add_child(Element('<link rel="icon" href="data:,">'), name="favicon")
    add_base_layers(m, s)
    levels = response_level_colours(norms)
    cfg = {"api": api_base.rstrip("/"), "levels": levels, "routes": ROUTE_COLOURS,
           "states": {k: {s_: list(v) for s_, v in d.items()} for k, d in STATE_COLOURS.items()}}
    m.get_root().header.add_child(Element(_RUNTIME % {"cfg": json.dumps(cfg, ensure_ascii=False)}))
    groups: dict[str, folium.FeatureGroup] = {}
    if risk_areas is not None:
        fg = folium.FeatureGroup(name=LAYER_LABELS["risk_areas"], show=False)
        folium.GeoJson(risk_areas, style_function=_risk_area_style, tooltip=folium.GeoJsonTooltip(
            fields=["label"], aliases=[""], labels=False) if risk_areas.get("features") else None).add_to(fg)
        fg.add_to(m)
        groups["risk_areas"] = fg
    realtime: dict[str, Realtime] = {}
    interval = int(s.refresh_s * 1000)
    for kind in ("shelters", "depots", "team_bases", "incidents"):
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
    GroupedLayerControl({
        "灾情 Hazards": [groups[k] for k in ("incidents", "risk_areas") if k in groups],
        "资源 Resources": [groups["shelters"], groups["depots"]],
        "队伍 Teams": [groups["team_bases"], routes],
    }, exclusive_groups=False, collapsed=False).add_to(m)
    _LiveRuntime(realtime, routes, title=title, refresh_s=s.refresh_s, legend_html=_legend_html(levels)).add_to(m)
    if bounds:
        m.fit_bounds(bounds)
    assets.localize(m, asset_base)
    return m


def _risk_area_style(feature: dict[str, Any]) -> dict[str, Any]:
    c = feature["properties"].get("colour") or "#9e9e9e"
    return {"color": c, "weight": 1, "fillColor": c, "fillOpacity": 0.35}


def render(m: folium.Map) -> str:
    """The page as HTML text; raises if anything would load from beyond the machine except tiles."""
    return m.get_root().render()
