/* The live situation map's logic (maps/live_map.py), served by emgis with Leaflet.
 *
 * Two parts, both on window.emgisLive:
 * - the layer callbacks the Leaflet-Realtime layers are built with (featureId, update,
 *   pointToLayer, style, each): colours by resource state and response level, popups;
 * - start(map, realtime, routes), called once the layers exist: the incident panel, selection
 *   with the nearest resources' routes, search by name and the legend;
 * - dispatch (#16): for the selected incident the proposal by required team type (with an
 *   "assign" button once a commander token is entered), the assigned resources with their state,
 *   ETA and route, and the timeline; the routes of every team en route are drawn.
 *
 * Everything that comes from Python (API base, colours of levels, states and routes, legend
 * HTML) is read from the page's JSON config: <script type="application/json"
 * id="emgis-live-config">. Nothing in this file is filled in by string formatting.
 */
(function () {
  var L_ = window.emgisLive = window.emgisLive || {};

  L_.config = function () {
    if (!L_.cfg) {
      var node = document.getElementById('emgis-live-config');
      L_.cfg = node ? JSON.parse(node.textContent) : null;
    }
    return L_.cfg;
  };
  L_.config();

  // --- extensions: other static files (live_map.py EXTENSIONS) add to the page through these.
  // L_.extend({name, popup: {kind: function (feature) -> html}, panel: function (incident,
  //   element, ctx), start: function (map, realtime, ctx)}); ctx = {api, getJSON, routes,
  //   refresh}. A panel hook gets its own <div data-ext=name> under the selected incident,
  //   filled again at each selection and each refresh of the incidents layer.
  L_.extensions = L_.extensions || [];
  L_.extend = function (ext) { L_.extensions.push(ext); };
  function popupExtra(kind, f) {
    return L_.extensions.map(function (x) {
      var fn = x.popup && x.popup[kind];
      try { return fn ? (fn(f) || '') : ''; } catch (e) { return ''; }
    }).join('');
  }

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
    if (kind === 'team_bases') {
      return (p.status in L_.config().states.team_bases) ? p.status : 'unavailable';
    }
    if (kind === 'depots') return p.status === 'active' ? 'active' : 'inactive';
    return '';
  };
  L_.levelColour = function (level) {
    var s = String(level || '').trim().toUpperCase()
      .replace('Ⅰ', 'I').replace('Ⅱ', 'II').replace('Ⅲ', 'III').replace('Ⅳ', 'IV');
    return L_.config().levels[s] || '#6a3d9a';
  };
  // a layer an extension adds: L_.kinds[kind] = {colour: fn(props), rows: fn(props) -> [[k, v]]}
  L_.kinds = L_.kinds || {};
  L_.colour = function (kind, p) {
    if (L_.kinds[kind]) return L_.kinds[kind].colour(p);
    if (kind === 'incidents') return L_.levelColour(p.level);
    return L_.config().states[kind][L_.state(kind, p)][0];
  };
  L_.rows = function (kind, p) {
    var r = [];
    if (L_.kinds[kind]) return L_.kinds[kind].rows(p);
    if (kind === 'incidents') {
      r = [['类型 type', p.incident_type], ['等级 level', p.level], ['状态 status', p.status],
           ['接报 reported', p.reported_at]];
    }
    if (kind === 'shelters') {
      r = [['状态 status', p.status], ['容量 capacity', p.capacity],
           ['在场 occupancy', p.occupancy], ['类别 class', p.duration_class],
           ['地址 address', p.address]];
    }
    if (kind === 'depots') r = [['级别 level', p.level], ['状态 status', p.status]];
    if (kind === 'team_bases') {
      r = [['类型 type', p.team_type], ['状态 status', p.status], ['人员 personnel', p.personnel],
           ['车辆 vehicles', p.vehicles]];
    }
    return r;
  };
  L_.popup = function (kind, f) {
    var p = f.properties || {}, title = p.name || p.title || p.ext_id || ('#' + f.id);
    var cells = L_.rows(kind, p)
      .filter(function (x) { return x[1] !== null && x[1] !== undefined && x[1] !== ''; })
      .map(function (x) {
        return '<tr><th>' + L_.esc(x[0]) + '</th><td>' + L_.esc(x[1]) + '</td></tr>';
      }).join('');
    var act = kind === 'incidents' ? '<div><a href="#" class="emgis-select" data-id="' +
      L_.esc(f.id) + '">调度 nearest resources &amp; routes</a></div>' : '';
    return '<div class="emgis-popup"><b>' + L_.esc(title) + '</b><table>' + cells + '</table>' +
      popupExtra(kind, f) + act + '</div>';
  };
  L_.pointStyle = function (kind, f) {
    var c = L_.colour(kind, f.properties || {});
    var r = kind === 'incidents' ? 10 : (kind === 'shelters' ? 7 : 6);
    // teams: a dark ring, so an available team (green) is not taken for an open shelter (green)
    var ring = kind === 'incidents' ? ['#000', 2]
      : (kind === 'team_bases' ? ['#222', 2.5] : ['#fff', 1.5]);
    return {radius: r, color: ring[0], weight: ring[1], fillColor: c, fillOpacity: 0.9,
            className: 'emgis-' + kind};
  };
  L_.areaStyle = function (kind, f) {
    var c = L_.colour(kind, f.properties || {});
    return {color: c, weight: 2, dashArray: '6 4', fillColor: c, fillOpacity: 0.25,
            className: 'emgis-' + kind};
  };
  L_.pointToLayer = function (kind) {
    return function (f, latlng) { return L.circleMarker(latlng, L_.pointStyle(kind, f)); };
  };
  L_.style = function (kind) {
    return function (f) {
      return (f.geometry && f.geometry.type === 'Point') ? L_.pointStyle(kind, f)
        : L_.areaStyle(kind, f);
    };
  };
  function tooltip(f) {
    return L_.esc((f.properties || {}).name || (f.properties || {}).title || '');
  }
  L_.each = function (kind) {
    return function (f, layer) {
      layer.bindPopup(L_.popup(kind, f), {maxWidth: 340});
      layer.bindTooltip(tooltip(f));
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
                 JSON.stringify(old.toGeoJSON().geometry.coordinates) ===
                 JSON.stringify(f.geometry.coordinates)) {
        old.setStyle(L_.areaStyle(kind, f));
      } else {
        return undefined;  // the shape changed: draw it anew
      }
      old.setPopupContent(L_.popup(kind, f));
      old.setTooltipContent(tooltip(f));
      return old;
    };
  };
  L_.featureId = function (f) { return f.id; };

  // --- the page once the layers exist -----------------------------------------------------

  L_.start = function (map, rt, routes) {
    var cfg = L_.config();
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
      feats.sort(function (a, b) {
        return String(b.properties.reported_at || '')
          .localeCompare(String(a.properties.reported_at || ''));
      });
      L_.incidents = {};
      ul.innerHTML = feats.map(function (f) {
        L_.incidents[f.id] = f;
        var p = f.properties || {};
        return '<li data-id="' + L_.esc(f.id) + '"' +
          (L_.selected === f.id ? ' class="sel"' : '') + '>' +
          '<span class="emgis-dot" style="background:' + L_.levelColour(p.level) + '"></span>' +
          L_.esc(p.title || p.ext_id || ('#' + f.id)) + ' · ' + L_.esc(p.level || '') + ' · ' +
          L_.esc(p.status || '') + '</li>';
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
        ev.preventDefault(); var f = L_.incidents[a.getAttribute('data-id')];
        if (f) L_.select(f, false);
      });
    });
    Object.keys(rt).forEach(function (k) {
      rt[k].on('update', function () {
        stamp(); document.getElementById('emgis-conn').textContent = '在线 live';
        if (k === 'incidents') {
          renderIncidents(); panelExtensions();
          if (L_.dispatchPanel && L_.selected !== null) {
            L_.dispatchPanel(L_.incidents[L_.selected], false);
          }
          if (L_.drawEnRoute) L_.drawEnRoute();
        }
      });
      rt[k].on('error', function () {
        document.getElementById('emgis-conn').textContent = '连接中断 connection lost, retrying';
      });
    });
    function centre(f) {
      var g = f.geometry;
      if (g.type === 'Point') return [g.coordinates[1], g.coordinates[0]];
      var c = L.geoJSON(g).getBounds().getCenter(); return [c.lat, c.lng];
    }
    function getJSON(url) {
      var accept = {Accept: 'application/json, application/geo+json'};
      return fetch(url, {headers: accept}).then(function (r) {
        return r.json().then(function (b) { return {ok: r.ok, status: r.status, body: b}; });
      });
    }
    function areaHtml(res) {
      var b = res.body || {};
      return '<div class="emgis-h">影响范围 Affected area</div>' + (res.ok ?
        '<div id="emgis-affected">人口 population <b>' +
        L_.esc(Math.round(b.population_total || 0).toLocaleString()) +
        '</b> · 村 villages ' + L_.esc((b.villages || []).length) + '</div>' :
        '<div>' + L_.esc(b.detail || res.status) + '</div>');
    }
    function nearestHtml(x, res) {
      var html = '<div class="emgis-h">' + L_.esc(x[2]) + '</div>';
      if (!res.ok) return html + '<div>' + L_.esc((res.body || {}).detail || res.status) + '</div>';
      var feats = (res.body.features || []);
      if (!feats.length) return html + '<div>—</div>';
      return html + '<table>' + feats.map(function (r) {
        var q = r.properties;
        L.geoJSON(r, {style: {color: cfg.routes[x[0]], weight: 5 - Math.min(q.rank, 3),
                              opacity: 0.85, className: 'emgis-route'}})
          .bindTooltip(L_.esc(q.name || q.ext_id) + ' · ' + fmtMin(q.time_s)).addTo(routes);
        return '<tr><td>' + q.rank + '</td><th>' + L_.esc(q.name || q.ext_id) + '</th><td>' +
          fmtMin(q.time_s) + '</td><td>' + (q.length_m / 1000).toFixed(1) + ' km</td></tr>';
      }).join('') + '</table>';
    }
    var ctx = {api: cfg.api, getJSON: getJSON, routes: routes, map: map, realtime: rt};

    // --- dispatch: proposal, assigned resources, timeline (api/http/dispatch.py) ------------
    var KIND_COLOUR = {team: cfg.routes.team_bases, depot_stock: cfg.routes.depots,
                       shelter: cfg.routes.shelters};
    var STATE_ZH = {dispatched: '已派出 dispatched', en_route: '途中 en route',
                    on_scene: '到达 on scene', returned: '已返回 returned',
                    cancelled: '已取消 cancelled'};
    var assigned = L.layerGroup().addTo(map), enRoute = L.layerGroup().addTo(map);
    L_.assignedRoutes = assigned; L_.enRouteRoutes = enRoute;
    var tokenBox = document.getElementById('emgis-token');
    function token() {
      try { return sessionStorage.getItem('emgis-token') || ''; } catch (e) { return ''; }
    }
    if (tokenBox) {
      tokenBox.value = token();
      tokenBox.addEventListener('change', function () {
        try { sessionStorage.setItem('emgis-token', tokenBox.value.trim()); } catch (e) { /**/ }
        if (L_.selected !== null && L_.incidents[L_.selected]) {
          dispatchPanel(L_.incidents[L_.selected], true);
        }
      });
    }
    function send(method, url, body) {
      return fetch(cfg.api + url, {method: method, body: JSON.stringify(body),
        headers: {'Content-Type': 'application/json', Accept: 'application/json',
                  Authorization: 'Bearer ' + token()}})
        .then(function (r) {
          return r.json().then(function (b) { return {ok: r.ok, status: r.status, body: b}; });
        });
    }
    function say(text, bad) {
      var m = document.getElementById('emgis-dispatch-msg');
      if (m) { m.textContent = text; m.className = bad ? 'emgis-msg bad' : 'emgis-msg'; }
    }
    function detail(res) {
      var d = (res.body || {}).detail;
      return res.status + ': ' + (typeof d === 'string' ? d : JSON.stringify(d));
    }
    function lineStyle(a) {
      var c = KIND_COLOUR[a.kind] || '#333';
      return {color: c, weight: a.state === 'en_route' ? 6 : 4, opacity: 0.9,
              dashArray: a.state === 'dispatched' ? '8 6' : null,
              className: 'emgis-assigned-route' + (a.state === 'en_route' ? ' emgis-en-route'
                                                                            : '')};
    }
    function drawRoute(group, a) {
      if (!a.route) return;
      L.geoJSON(a.route, {style: lineStyle(a)})
        .bindTooltip(L_.esc(a.resource_label) + ' · ' + L_.esc(STATE_ZH[a.state] || a.state) +
                     (a.eta_s !== null ? ' · ETA ' + fmtMin(a.eta_s) : ''))
        .addTo(group);
    }
    function proposalHtml(res) {
      var html = '<div class="emgis-h">建议调派 Proposed teams by type</div>';
      if (!res.ok) return html + '<div>' + L_.esc(detail(res)) + '</div>';
      var can = !!token();
      return html + (res.body.needs || []).map(function (n) {
        var rows = (n.teams || []).map(function (t) {
          return '<tr><th>' + L_.esc(t.name || t.ext_id) + '</th><td>' +
            fmtMin(t.time_s) + '</td><td>' + (can ? '<button class="emgis-assign" ' +
            'data-team="' + L_.esc(t.id) + '">派 assign</button>' : '') + '</td></tr>';
        }).join('');
        return '<div class="emgis-need" data-type="' + L_.esc(n.team_type) + '"><i>' +
          L_.esc(n.team_type_zh) + ' ' + L_.esc(n.team_type) + '</i>' +
          (rows ? '<table>' + rows + '</table>' : '<div>— ' + L_.esc(n.note || '') + '</div>') +
          '</div>';
      }).join('') + (can ? '' : '<div class="emgis-hint">输入指挥令牌以调派 enter a commander ' +
                     'token above to assign</div>');
    }
    function assignedHtml(res) {
      var html = '<div class="emgis-h">已调派 Assigned resources</div>';
      if (!res.ok) return html + '<div>' + L_.esc(detail(res)) + '</div>';
      var items = res.body.assignments || [], can = !!token();
      if (!items.length) return html + '<div>—</div>';
      return html + '<table>' + items.map(function (a) {
        var moves = can ? (a.allowed_moves || []).map(function (m) {
          return '<button class="emgis-move" data-id="' + L_.esc(a.id) + '" data-state="' +
            L_.esc(m) + '">' + L_.esc(m) + '</button>';
        }).join(' ') : '';
        return '<tr class="emgis-assignment" data-state="' + L_.esc(a.state) + '"><th>' +
          L_.esc(a.resource_label) + '</th><td>' + L_.esc(STATE_ZH[a.state] || a.state) +
          '</td><td>' + (a.eta_s !== null ? 'ETA ' + fmtMin(a.eta_s) : '') + '</td><td>' +
          moves + '</td></tr>';
      }).join('') + '</table>';
    }
    function timelineHtml(res) {
      var html = '<div class="emgis-h">时间线 Timeline</div>';
      if (!res.ok) return html + '<div>' + L_.esc(detail(res)) + '</div>';
      var ev = res.body.events || [];
      if (!ev.length) return html + '<div>—</div>';
      return html + '<ol id="emgis-timeline">' + ev.map(function (e) {
        var t = new Date(e.at);
        return '<li class="emgis-event" data-kind="' + L_.esc(e.kind) + '"><span>' +
          L_.esc(isNaN(t) ? e.at : t.toLocaleTimeString()) + '</span> <b>' + L_.esc(e.actor) +
          '</b> ' + L_.esc(e.text) + '</li>';
      }).join('') + '</ol>';
    }
    // set an element's HTML only when it changed (a refresh does not rebuild the buttons)
    var shown = {};
    function show(id, html) {
      var el = document.getElementById(id);
      if (!el || (shown[id] === html && el.innerHTML)) return false;
      shown[id] = html; el.innerHTML = html; return true;
    }
    // the selected incident's dispatch part; withProposal: ask the proposal again too
    function dispatchPanel(f, withProposal) {
      var box = document.getElementById('emgis-dispatch');
      if (!box || !f) return;
      var id = encodeURIComponent(f.id), base = cfg.api + '/incidents/' + id;
      var jobs = [getJSON(base + '/assignments'), getJSON(base + '/timeline')];
      if (withProposal) { jobs.push(getJSON(base + '/proposal')); shown = {}; }
      Promise.all(jobs).then(function (all) {
        if (L_.selected !== f.id) return;
        if (show('emgis-assigned', assignedHtml(all[0]))) {
          assigned.clearLayers();
          ((all[0].body || {}).assignments || []).forEach(function (a) {
            if (a.active) drawRoute(assigned, a);
          });
        }
        show('emgis-events', timelineHtml(all[1]));
        if (withProposal) show('emgis-proposal', proposalHtml(all[2]));
      }).catch(function (e) { say('请求失败 request failed: ' + e, true); });
    }
    L_.dispatchPanel = dispatchPanel;
    function act(method, url, body, done) {
      var f = L_.incidents[L_.selected];
      say('…');
      send(method, url, body).then(function (res) {
        say(res.ok ? done(res.body) : detail(res), !res.ok);
        if (f) dispatchPanel(f, true);
        drawEnRoute();
      }).catch(function (e) { say('请求失败 request failed: ' + e, true); });
    }
    document.getElementById('emgis-selection').addEventListener('click', function (e) {
      var b = e.target.closest('button'); if (!b || L_.selected === null) return;
      var url = '/incidents/' + encodeURIComponent(L_.selected) + '/assignments';
      if (b.classList.contains('emgis-assign')) {
        act('POST', url, {kind: 'team', resource: Number(b.getAttribute('data-team'))},
            function (a) { return '已派出 assigned: ' + a.resource_label; });
      } else if (b.classList.contains('emgis-move')) {
        act('PATCH', url + '/' + encodeURIComponent(b.getAttribute('data-id')),
            {state: b.getAttribute('data-state')},
            function (a) { return a.resource_label + ' → ' + a.state; });
      }
    });
    // every team en route, whichever incident: its route on the map
    function drawEnRoute() {
      getJSON(cfg.api + '/assignments?state=en_route').then(function (res) {
        enRoute.clearLayers();
        if (!res.ok) return;
        (res.body.assignments || []).forEach(function (a) {
          if (a.incident_id !== L_.selected) drawRoute(enRoute, a);
        });
      });
    }
    L_.drawEnRoute = drawEnRoute;
    // each extension's part of the selected incident's panel (see L_.extend)
    function panelExtensions() {
      var f = L_.selected !== undefined && L_.incidents ? L_.incidents[L_.selected] : null;
      var box = document.getElementById('emgis-selection');
      if (!f || !box) return;
      L_.extensions.forEach(function (x) {
        if (!x.panel) return;
        var el = box.querySelector('div[data-ext="' + x.name + '"]');
        if (!el) {
          el = document.createElement('div'); el.setAttribute('data-ext', x.name);
          el.className = 'emgis-ext'; box.appendChild(el);
        }
        try { x.panel(f, el, ctx); } catch (e) { el.textContent = x.name + ': ' + e; }
      });
    }
    L_.extensions.forEach(function (x) { if (x.start) x.start(map, rt, ctx); });
    L_.select = function (f, fly) {
      L_.selected = f.id; renderIncidents(); routes.clearLayers();
      var c = centre(f), isArea = f.geometry.type !== 'Point';
      var box = document.getElementById('emgis-selection'), p = f.properties || {};
      box.innerHTML = '<div class="emgis-h">' + L_.esc(p.title || ('#' + f.id)) + '</div>' +
        '<div id="emgis-dispatch"><div id="emgis-dispatch-msg" class="emgis-msg"></div>' +
        '<div id="emgis-proposal">…</div><div id="emgis-assigned"></div>' +
        '<div id="emgis-events"></div></div>' +
        '<div class="emgis-h">最近资源 Nearest resources</div><div id="emgis-sel-body">…</div>';
      dispatchPanel(f, true);
      panelExtensions();
      if (fly) map.setView(c, Math.max(map.getZoom(), 12));
      var layers = [['team_bases', 'from_facility', '救援队伍 teams'],
                    ['depots', 'from_facility', '物资 depots'],
                    ['shelters', 'to_facility', '避难场所 shelters']];
      var jobs = layers.map(function (x) {
        var url = cfg.api + '/analyses/nearest?lon=' + c[1] + '&lat=' + c[0] + '&layer=' + x[0] +
          '&k=3&direction=' + x[1] + (isArea ? '&avoid=' + encodeURIComponent(f.id) : '');
        return getJSON(url).then(function (res) { return [x, res]; });
      });
      if (isArea) {
        jobs.push(getJSON(cfg.api + '/analyses/warning-area?incident=' + encodeURIComponent(f.id))
          .then(function (res) { return [['area'], res]; }));
      }
      Promise.all(jobs).then(function (all) {
        if (L_.selected !== f.id) return;
        var html = '';
        all.forEach(function (pair) {
          html += pair[0][0] === 'area' ? areaHtml(pair[1]) : nearestHtml(pair[0], pair[1]);
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
    L_.search = new L.Control.Search({sourceData: records, propertyName: 'name',
      propertyLoc: 'loc', initial: false, zoom: 15, marker: false,
      // a name is data typed by a clerk or a commander, never markup: the plugin's own tip
      // sets innerHTML, so build the tip from text
      buildTip: function (text) {
        var li = L.DomUtil.create('li', '');
        li.textContent = text;
        return li;
      },
      textPlaceholder: '搜索名称 Search by name', textErr: '未找到 not found',
      moveToLocation: function (latlng, title, m) {
        m.setView(latlng, Math.max(m.getZoom(), 15));
        var l = byName[title]; if (l && l.openPopup) l.openPopup();
      }});
    map.addControl(L_.search);
    // legend
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function () {
      var d = L.DomUtil.create('div', 'emgis-legend');
      d.innerHTML = cfg.legend;
      return d;
    };
    legend.addTo(map);
  };
})();
