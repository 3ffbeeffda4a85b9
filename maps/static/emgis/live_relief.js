/* Relief on the live map (issue #16): a depot's popup shows its stock (GET /depots/{id}/stock),
 * coloured by shortfall for the selected incident; the selected incident's panel shows its
 * relief needs, the allocation's shortfalls by item (GET /incidents/{id}/relief), and colours
 * the depots that ship to it (all of an item gone: red ring; some: orange ring).
 * Registered in maps/live_map.py EXTENSIONS; uses only emgisLive.extend and the ctx it gets.
 */
(function () {
  var L_ = window.emgisLive;
  if (!L_ || !L_.extend) return;
  var stock = {};     // depot id -> [{item, quantity, unit}]
  var short = {};     // item -> unmet (the selected incident)
  var emptied = {};   // depot id -> 'all' | 'some' (the selected incident's allocation)
  var api = function () { return (L_.config() || {}).api || ''; };
  function fmt(q) { return Number(q).toLocaleString('en-US', {maximumFractionDigits: 1}); }

  function stockTable(id) {
    var rows = stock[id];
    if (!rows) return '…';
    if (!rows.length) return '<i>无库存 no stock</i>';
    return '<table>' + rows.map(function (r) {
      var cls = Number(r.quantity) <= 0 ? 'emgis-relief-none'
        : (short[r.item] > 0 ? 'emgis-relief-short' : '');
      return '<tr class="' + cls + '"><th>' + L_.esc(r.item) + '</th><td>' + fmt(r.quantity) +
        ' ' + L_.esc(r.unit || '') + '</td></tr>';
    }).join('') + '</table>';
  }
  function fill(id) {
    document.querySelectorAll('div.emgis-relief-stock[data-depot="' + id + '"]')
      .forEach(function (el) { el.innerHTML = stockTable(id); });
  }
  function fetchStock(id) {
    fetch(api() + '/depots/' + encodeURIComponent(id) + '/stock',
          {headers: {Accept: 'application/json'}})
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (b) { stock[id] = b.items || []; fill(id); })
      .catch(function () { stock[id] = []; fill(id); });
  }
  function ring(map, realtime) {
    var layer = realtime && realtime.depots;
    if (!layer || !layer._container) return;
    layer._container.eachLayer(function (l) {
      if (!l.feature || !l.setStyle) return;
      var s = emptied[l.feature.id];
      l.setStyle(s ? {color: s === 'all' ? '#d7191c' : '#fdae61', weight: 3}
        : {color: '#fff', weight: 1.5});
    });
  }

  L_.extend({
    name: 'relief',
    popup: {
      depots: function (f) {
        setTimeout(function () { fetchStock(f.id); }, 0);
        return '<div class="emgis-h">库存 stock</div><div class="emgis-relief-stock" ' +
          'data-depot="' + L_.esc(f.id) + '">' + stockTable(f.id) + '</div>';
      }
    },
    panel: function (incident, el, ctx) {
      if (el.getAttribute('data-incident') === String(incident.id) && el.innerHTML) {
        ring(ctx.map, ctx.realtime);  // a refresh restyled the depots
        return;
      }
      el.setAttribute('data-incident', String(incident.id));
      el.innerHTML = '<div class="emgis-h">救灾物资 Relief</div>…';
      ctx.getJSON(ctx.api + '/incidents/' + encodeURIComponent(incident.id) + '/relief')
        .then(function (res) {
          var b = res.body || {};
          if (!res.ok) {
            el.innerHTML = '<div class="emgis-h">救灾物资 Relief</div><i>' +
              L_.esc(b.detail || res.status) + '</i>';
            return;
          }
          var al = b.allocation || {by_item: [], shortfalls: [], shipments: []};
          short = {}; emptied = {};
          al.by_item.forEach(function (r) { short[r.item] = r.unmet; });
          var used = {};
          al.shipments.forEach(function (s) {
            var k = s.depot_id + '|' + s.item; used[k] = (used[k] || 0) + Number(s.quantity);
          });
          Object.keys(used).forEach(function (k) { emptied[k.split('|')[0]] = 'some'; });
          ring(ctx.map, ctx.realtime);
          el.innerHTML = '<div class="emgis-h">救灾物资 Relief · ' + fmt(b.displaced_total) +
            ' 转移安置 relocated</div><table class="emgis-relief-needs"><tr><th>物资</th>' +
            '<th>需求 need</th><th>缺口 short</th></tr>' + al.by_item.map(function (r) {
              return '<tr class="' + (r.unmet > 0 ? 'emgis-relief-short' : '') + '"><td>' +
                L_.esc(r.item) + '</td><td>' + fmt(r.need) + '</td><td>' + fmt(r.unmet) +
                '</td></tr>';
            }).join('') + '</table>' + (al.shortfalls.length ?
            '<div class="emgis-relief-villages">' + al.shortfalls.length +
            ' 村×物资缺口 village shortfalls</div>' : '<div>全部满足 all needs met</div>');
        });
    },
    start: function (map, realtime) {
      map.on('popupclose', function () { ring(map, realtime); });
    }
  });
})();
