/* The live map's plan part (maps/live_map.py EXTENSIONS: 'live_plans').
 *
 * Under the selected incident: the proposed plan and response level with the reason
 * (GET /incidents/{id}/plans: "deaths 3 ≥ 3 → III"; unknown figures are said to be unknown),
 * and the incident's response checklist (GET /incidents/{id}/checklist) with a tick for each
 * task done. Filled again at each selection and each refresh of the incidents layer, so a task
 * marked done (PATCH /incidents/{id}/checklist/{item}) is ticked within one refresh. Read-only:
 * starting a response and ticking need a commander's token (API or `emgis plans`).
 */
(function () {
  var L_ = window.emgisLive;  // live_map.js is loaded first
  var esc = function (v) { return L_.esc(v); };

  function proposalHtml(b) {
    var best = b.proposed, html = '<div class="emgis-h">预案 Plan</div>';
    if (best) {
      html += '<div class="emgis-plan-proposed" data-plan="' + esc(best.plan) + '" data-level="' +
        esc(best.level) + '"><b>' + esc(best.name) + '</b> · <span class="emgis-plan-level">' +
        esc(best.level) + '级响应 level ' + esc(best.level) + '</span></div>' +
        '<div class="emgis-plan-why">' + (best.reasons || []).map(esc).join('; ') + '</div>';
    } else if ((b.plans || []).length) {
      html += '<div class="emgis-plan-proposed" data-level="">' + esc(b.plans[0].name) +
        ' · 无法定级 no level yet</div>';
    } else {
      html += '<div class="emgis-plan-proposed" data-level="">— 无匹配预案 no matching plan</div>';
    }
    (b.notes || []).forEach(function (n) {
      html += '<div class="emgis-plan-note">' + esc(n) + '</div>';
    });
    var others = (b.plans || []).filter(function (p) { return !best || p.ext_id !== best.plan; });
    if (others.length) {
      html += '<ul class="emgis-plan-others">' + others.map(function (p) {
        return '<li>' + esc(p.name) + ' · ' + esc(p.level || '—') + '</li>';
      }).join('') + '</ul>';
    }
    return html;
  }

  function checklistHtml(items) {
    if (!items.length) return '';
    var done = items.filter(function (x) { return x.state === 'done'; }).length;
    return '<div class="emgis-h">响应任务 Checklist (<span class="emgis-checklist-done">' + done +
      '</span>/' + items.length + ')</div><ul class="emgis-checklist">' + items.map(function (x) {
        var ok = x.state === 'done';
        return '<li data-item="' + esc(x.id) + '" class="' + (ok ? 'done' : 'open') + '">' +
          '<span class="emgis-tick">' + (ok ? '✓' : '☐') + '</span> ' +
          (x.unit ? '<b>' + esc(x.unit) + '</b>: ' : '') + esc(x.task) +
          (x.done_when ? ' <i>(' + esc(x.done_when) + ')</i>' : '') +
          (x.mobilise ? ' <span class="emgis-mob">→ ' + esc(x.mobilise) + '</span>' : '') +
          (ok && x.done_by ? ' <span class="emgis-by">— ' + esc(x.done_by) + '</span>' : '') +
          '</li>';
      }).join('') + '</ul>';
  }

  L_.extend({
    name: 'live_plans',
    panel: function (incident, el, ctx) {
      var id = incident.id, base = ctx.api + '/incidents/' + encodeURIComponent(id);
      el.setAttribute('data-incident', id);
      Promise.all([ctx.getJSON(base + '/plans'), ctx.getJSON(base + '/checklist')])
        .then(function (res) {
          if (el.getAttribute('data-incident') !== String(id)) return;  // another was chosen
          var html = res[0].ok ? proposalHtml(res[0].body)
            : '<div>' + esc((res[0].body || {}).detail || res[0].status) + '</div>';
          html += res[1].ok ? checklistHtml(res[1].body || []) : '';
          if (el.__emgisHtml !== html) { el.innerHTML = html; el.__emgisHtml = html; }
        }).catch(function (e) { el.textContent = '预案 plans: ' + e; });
    }
  });
})();
