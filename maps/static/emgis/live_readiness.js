/* The live map's expert layer and the nearest experts of the selected incident (issue #17).
 *
 * Registered by maps/live_map.py EXTENSIONS; adds the live layer "experts" (from
 * /collections/experts/items, which never carries phone numbers) and, in the incident panel,
 * the three nearest available experts from /incidents/{id}/experts (phones are shown to
 * commander tokens only; the page sends none).
 */
(function () {
  var L_ = window.emgisLive;
  if (!L_) return;
  var SPEC = {emergency_management: '应急管理', hazchem: '危化', electrical: '电气', mining: '矿山',
              mechanical: '机械', transport: '交通', construction: '建筑',
              flood_control: '防汛', disaster_relief: '减灾救灾', seismic_geology: '地震地质'};
  var AVAIL = {available: ['#1f78b4', '可调用 available'], limited: ['#fdbf6f', '受限 limited'],
               unavailable: ['#9e9e9e', '不可用 unavailable']};
  function specs(list) {
    return (list || []).map(function (k) { return SPEC[k] || k; }).join('、');
  }
  L_.kinds.experts = {
    colour: function (p) { return (AVAIL[p.availability] || AVAIL.unavailable)[0]; },
    rows: function (p) {
      return [['专业 speciality', specs(p.specialities)], ['单位 unit', p.unit],
              ['职称 title', p.title],
              ['状态 availability', (AVAIL[p.availability] || [null, p.availability])[1]]];
    }
  };
  var kept = {};  // incident id + update time -> the panel's HTML (not fetched at every refresh)
  L_.extend({
    name: 'readiness',
    panel: function (incident, el, ctx) {
      var key = incident.id + '@' + ((incident.properties || {}).updated_at || '');
      if (kept[key]) { el.innerHTML = kept[key]; return; }
      el.innerHTML = '<div class="emgis-h">应急专家 Experts</div>…';
      ctx.getJSON(ctx.api + '/incidents/' + encodeURIComponent(incident.id) + '/experts?k=3')
        .then(function (res) {
          var b = res.body || {};
          var html = '<div class="emgis-h">应急专家 Experts</div>';
          if (!res.ok) {
            html += '<div class="emgis-note">' + L_.esc(b.detail || res.status) + '</div>';
          } else if (!(b.experts || []).length) {
            html += '<div class="emgis-note">' + L_.esc(b.note || '无 none') + '</div>';
          } else {
            html += '<table class="emgis-experts">' + b.experts.map(function (e) {
              var t = e.time_min === null ? (e.distance_m / 1000).toFixed(1) + ' km' :
                e.time_min.toFixed(1) + ' min';
              return '<tr><td>' + e.rank + '</td><th>' + L_.esc(e.name) + '</th><td>' +
                L_.esc(specs(e.specialities)) + '</td><td>' + L_.esc(t) + '</td></tr>';
            }).join('') + '</table><div class="emgis-note">' +
              L_.esc(b.method === 'road' ? '按道路时间 by road time' :
                     '按直线距离 by straight-line distance') + '</div>';
          }
          kept[key] = html;
          el.innerHTML = html;
        });
    }
  });
})();
