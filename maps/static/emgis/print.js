/* Printable maps (maps/print_layout.py): a print button on every page, and the print frame —
 * title, date, data sources, north arrow — shown when printing (the browser's print, or
 * ?print=1, which `emgis map print` opens). The legend and the scale bar are the page's own.
 */
(function () {
  var P = window.emgisPrint = window.emgisPrint || {};
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  P.init = function (map, cfg) {
    var d = new Date();
    var when = d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
      pad(d.getHours()) + ':' + pad(d.getMinutes());
    var frame = document.getElementById(cfg.frame);
    if (frame) frame.querySelector('.emgis-print-date').textContent = when;
    var Btn = L.Control.extend({
      options: {position: 'topleft'},
      onAdd: function () {
        var a = L.DomUtil.create('a', 'emgis-print-btn leaflet-bar');
        a.href = '#'; a.title = '打印 Print'; a.textContent = '⎙';
        L.DomEvent.on(a, 'click', function (e) {
          L.DomEvent.preventDefault(e); L.DomEvent.stopPropagation(e); window.print();
        });
        return a;
      }
    });
    map.addControl(new Btn());
    if (/[?&]print=1\b/.test(window.location.search)) {
      document.body.classList.add('emgis-printing');
      map.invalidateSize();
    }
  };
})();
