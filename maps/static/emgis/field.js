/* The phone page of information officers (灾害信息员), served at /field (api/http/field.py).
 *
 * A report is kept in localStorage ('emgis.field.queue') before it is sent and removed only
 * when the API has stored it, so a report made on a weak network is not lost: it is retried
 * every 15 s, when the phone comes back online and when the page is opened again, and the header
 * shows "排队 queued (n)". A report the API refuses as bad input (400/413/422) is taken out of the
 * queue and its problems shown on the form; a refused token (401/403) keeps it queued until a
 * good token is saved. The token is kept in localStorage ('emgis.field.token').
 */
(function () {
  'use strict';
  var cfg = JSON.parse(document.getElementById('emgis-field-config').textContent);
  var QKEY = 'emgis.field.queue', TKEY = 'emgis.field.token', RETRY_MS = 15000;
  var COUNTS = ['deaths', 'missing', 'injured', 'relocated', 'houses_damaged'];
  var TEXTS = ['place', 'incident_type', 'text'];
  var $ = function (id) { return document.getElementById(id); };
  var point = null, marker = null, photo = null, sending = false;

  function queue() {
    try { return JSON.parse(localStorage.getItem(QKEY) || '[]'); } catch (e) { return []; }
  }
  function saveQueue(q) {
    try { localStorage.setItem(QKEY, JSON.stringify(q)); return true; } catch (e) {
      // full storage (a large photo): keep the report without its photo rather than lose it
      q.forEach(function (r) { delete r.body.photo; });
      try { localStorage.setItem(QKEY, JSON.stringify(q)); return true; } catch (e2) {
        return false;
      }
    }
  }
  function status(text, cls) { var s = $('status'); s.textContent = text; s.className = 'status ' + (cls || ''); }
  function showQueue() {
    var n = queue().length, el = $('queue');
    el.hidden = n === 0; el.textContent = '排队 queued (' + n + ')';
  }
  function tokenState() {
    var t = localStorage.getItem(TKEY);
    $('token-state').textContent = t ? '已保存 token saved (…' + t.slice(-4) + ')'
      : '未保存 no token: ask the bureau for one';
  }

  // --- the map: tap to place the report, or the phone's position -----------------------------
  var map = L.map('map', {zoomControl: true, attributionControl: false});
  if (cfg.bounds) map.fitBounds(cfg.bounds); else map.setView([35, 105], 4);
  function setPoint(lat, lon, how) {
    point = [lon, lat];
    if (marker) marker.setLatLng([lat, lon]);
    else marker = L.circleMarker([lat, lon], {radius: 9, color: '#b71c1c', weight: 3,
                                              fillOpacity: 0.6, className: 'emgis-field-point'})
      .addTo(map);
    $('where').textContent = how + ' ' + lon.toFixed(5) + ', ' + lat.toFixed(5);
  }
  map.on('click', function (e) { setPoint(e.latlng.lat, e.latlng.lng, '地图 map'); });
  fetch(cfg.api + '/collections/admin_units/items?limit=10000',
        {headers: {Accept: 'application/geo+json'}})
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (fc) {
      if (!fc) return;
      L.geoJSON(fc, {interactive: false, style: function (f) {
        var t = (f.properties || {}).level === 'township';
        return {color: t ? '#444' : '#999', weight: t ? 1.5 : 0.5, fill: false};
      }, pointToLayer: function () { return null; }}).addTo(map);
    }).catch(function () { /* offline: the tap still gives a position */ });
  $('locate').addEventListener('click', function () {
    if (!navigator.geolocation) { status('此设备不能定位 no location on this device', 'bad'); return; }
    $('where').textContent = '定位中 locating…';
    navigator.geolocation.getCurrentPosition(function (pos) {
      setPoint(pos.coords.latitude, pos.coords.longitude, 'GPS');
      map.setView([pos.coords.latitude, pos.coords.longitude], Math.max(map.getZoom(), 14));
    }, function (err) {
      $('where').textContent = '定位失败，请点地图 no position (' + err.message + '): tap the map';
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  });

  // --- the photo, made small before it is kept or sent -----------------------------------------
  $('photo').addEventListener('change', function () {
    var file = this.files && this.files[0];
    photo = null;
    if (!file) return;
    var img = new Image(), url = URL.createObjectURL(file);
    img.onload = function () {
      var max = 1280, s = Math.min(1, max / Math.max(img.width, img.height));
      var c = document.createElement('canvas');
      c.width = Math.round(img.width * s); c.height = Math.round(img.height * s);
      c.getContext('2d').drawImage(img, 0, 0, c.width, c.height);
      photo = c.toDataURL('image/jpeg', 0.8);
      URL.revokeObjectURL(url);
    };
    img.onerror = function () { status('照片无法读取 the photo cannot be read', 'bad'); };
    img.src = url;
  });

  // --- the report ------------------------------------------------------------------------------
  function body() {
    var kind = document.querySelector('input[name=kind]:checked').value;
    var b = {kind: kind, location: {type: 'Point', coordinates: point}};
    var when = $('occurred_at').value;
    if (when) b.occurred_at = when + ':00+08:00';
    TEXTS.forEach(function (k) { var v = $(k).value.trim(); if (v) b[k] = v; });
    COUNTS.forEach(function (k) { var v = $(k).value.trim(); if (v !== '') b[k] = Number(v); });
    if (photo) b.photo = photo;
    return b;
  }
  // a refused report goes back into the form, so the reporter corrects it instead of retyping
  function refill(b) {
    TEXTS.concat(COUNTS).forEach(function (k) { $(k).value = b[k] === undefined ? '' : b[k]; });
    var radio = document.querySelector('input[name=kind][value=' + b.kind + ']');
    if (radio) radio.checked = true;
    if (b.photo) photo = b.photo;
  }
  function markBad(problems) {
    (problems || []).forEach(function (p) {
      var el = p.field && $(p.field); if (el) el.classList.add('bad');
    });
  }
  function post(item) {
    return fetch(cfg.api + '/field-reports', {
      method: 'POST',
      headers: {'Content-Type': 'application/json', Accept: 'application/json',
                Authorization: 'Bearer ' + (localStorage.getItem(TKEY) || '')},
      body: JSON.stringify(item.body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; })
        .then(function (j) { return {status: r.status, body: j}; });
    });
  }
  // send every queued report, oldest first; stop at the first that cannot go now
  function flush() {
    if (sending) return Promise.resolve();
    var q = queue();
    if (!q.length) { showQueue(); return Promise.resolve(); }
    sending = true;
    var item = q[0];
    return post(item).then(function (res) {
      sending = false;
      if (res.status === 201) {
        saveQueue(queue().filter(function (x) { return x.key !== item.key; }));
        status('已发送 sent: 报告 report #' + res.body.id, 'ok');
        showQueue();
        return flush();
      }
      if (res.status === 401 || res.status === 403) {
        status('令牌无效 ' + (res.body.detail || 'token refused') + ' — 已排队 kept in the queue',
               'bad');
      } else if (res.status >= 400 && res.status < 500) {
        saveQueue(queue().filter(function (x) { return x.key !== item.key; }));
        refill(item.body);
        // the API's problems ({field, message, fix}) or the fields it could not read ({loc, msg})
        var probs = (res.body.problems && res.body.problems.length) ? res.body.problems
          : (Array.isArray(res.body.detail) ? res.body.detail.map(function (d) {
            return {field: String(d.loc[d.loc.length - 1]), message: d.msg, fix: ''};
          }) : []);
        markBad(probs);
        var msg = probs.map(function (p) {
          return (p.field || '') + ': ' + p.message + (p.fix ? ' (' + p.fix + ')' : '');
        }).join('; ') || String(res.body.detail || res.status);
        status('未接受 refused: ' + msg, 'bad');
      } else {
        status('服务器忙，稍后重发 server busy: queued, retrying', 'queued');
      }
      showQueue();
    }, function () {
      sending = false;
      status('网络不通，已排队，自动重发 no network: queued, will retry', 'queued');
      showQueue();
    });
  }
  $('report').addEventListener('submit', function (e) {
    e.preventDefault();
    document.querySelectorAll('.bad').forEach(function (el) { el.classList.remove('bad'); });
    if (!point) { status('请先定位或点地图 give the place: my location, or tap the map', 'bad'); return; }
    var q = queue();
    q.push({key: Date.now() + '-' + Math.random().toString(36).slice(2), body: body()});
    if (!saveQueue(q)) { status('手机存储已满 the phone storage is full', 'bad'); return; }
    showQueue();
    status('发送中 sending…', 'queued');
    $('report').reset(); photo = null;
    flush();
  });
  $('token-save').addEventListener('click', function () {
    var t = $('token').value.trim();
    if (t) localStorage.setItem(TKEY, t);
    $('token').value = ''; tokenState(); flush();
  });
  window.addEventListener('online', flush);
  setInterval(flush, RETRY_MS);
  window.emgisField = {flush: flush, queue: queue};
  tokenState(); showQueue(); flush();
})();
