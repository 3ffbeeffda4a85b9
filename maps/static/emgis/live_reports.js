/* Field reports and unacknowledged warnings on the live map (an extension of live_map.js).
 *
 * - the live layer "field_reports" (/collections/field_reports/items, maps/live_map.py
 *   LIVE_LAYERS): a report coloured by its state (初报 initial, 续报 follow-up, 核实 verified,
 *   不属实 rejected), hazards drawn smaller; its popup lists the counts ("未报" = not reported,
 *   never 0) and links the photo;
 * - the villages and townships of a warning whose contacts have not acknowledged it (叫应),
 *   from /warnings/unacknowledged, read again each time the incidents layer refreshes.
 */
(function () {
  'use strict';
  var L_ = window.emgisLive;
  var STATE = {initial: ['#ff7f00', '初报 initial'], follow_up: ['#e31a1c', '续报 follow-up'],
               verified: ['#67001f', '核实 verified'], rejected: ['#9e9e9e', '不属实 rejected']};
  var COUNTS = [['deaths', '死亡 deaths'], ['missing', '失踪 missing'], ['injured', '受伤 injured'],
                ['relocated', '转移 relocated'], ['houses_damaged', '房屋损坏 houses']];
  function count(v) { return v === null || v === undefined ? '未报 not reported' : v; }
  L_.kinds.field_reports = {
    colour: function (p) { return (STATE[p.state] || STATE.initial)[0]; },
    rows: function (p) {
      var r = [['类型 kind', p.kind === 'hazard' ? '隐患上报 hazard' : '灾情快报 quick report'],
               ['状态 state', (STATE[p.state] || [0, p.state])[1]], ['灾种 type', p.incident_type],
               ['地点 place', p.place], ['上报 reported', p.reported_at],
               ['上报人 reporter', p.reporter], ['乡镇 township', p.township_code]];
      if (p.kind === 'quick_report') {
        COUNTS.forEach(function (c) { r.push([c[1], count(p[c[0]])]); });
      }
      r.push(['情况 text', p.text]);
      return r;
    }
  };
  L_.extend({
    name: 'live_reports',
    popup: {
      field_reports: function (f) {
        var p = f.properties || {};
        return p.photo_type ? '<div><a target="_blank" href="' + L_.esc(L_.config().api) +
          '/field-reports/' + L_.esc(f.id) + '/photo">照片 photo</a></div>' : '';
      }
    },
    start: function (map, rt, ctx) {
      var layer = L.geoJSON(null, {
        style: function (f) {
          var c = f.properties.colour;
          return {color: c, weight: 3, dashArray: '2 6', fillColor: c, fillOpacity: 0.15,
                  className: 'emgis-unacknowledged'};
        },
        pointToLayer: function (f, ll) {
          return L.circleMarker(ll, {radius: 8, color: f.properties.colour, weight: 3,
                                     fill: false, className: 'emgis-unacknowledged'});
        },
        onEachFeature: function (f, l) {
          var p = f.properties;
          l.bindTooltip('未应答 not acknowledged: ' + L_.esc(p.unit_name || p.unit_code) +
                        ' · ' + L_.esc(p.level_zh) + ' #' + L_.esc(p.warning_id) + ' · ' +
                        L_.esc(p.names));
        }
      }).addTo(map);
      function refresh() {
        ctx.getJSON(ctx.api + '/warnings/unacknowledged').then(function (res) {
          if (!res.ok) return;
          layer.clearLayers();
          layer.addData(res.body);
        }).catch(function () {});
      }
      refresh();
      if (rt.incidents) rt.incidents.on('update', refresh);
      if (rt.field_reports) {
        rt.field_reports.on('update', function () {
          rt.field_reports._container.eachLayer(function (l) {
            var p = (l.feature || {}).properties || {};
            if (p.kind === 'hazard' && l.setRadius) l.setRadius(5);
          });
        });
      }
    }
  });
})();
