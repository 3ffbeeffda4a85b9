/* The offline base map (maps/tiles.py, EMGIS_MAP_TILES=local): emgis's own vector tiles of
 * roads and outlines (/tiles/base/{z}/{x}/{y}.pbf, drawn by Leaflet.VectorGrid) and place names
 * (/tiles/labels, written as text at each zoom). Everything comes from the emgis server.
 */
(function () {
  var B = window.emgisBase = window.emgisBase || {};
  // roads by rank (1 fastest .. 5), outlines by level: colour, weight, dashes
  var ROAD = {1: ['#d9480f', 3.4], 2: ['#f08c00', 2.8], 3: ['#f5b942', 2.1], 4: ['#a8a8a8', 1.5],
              5: ['#c4c4c4', 1.0]};
  var LEVEL = {province: ['#4a2a7a', 2.8, null], prefecture: ['#4a2a7a', 2.5, null],
               county: ['#5b3a8e', 2.2, null], township: ['#7f62ad', 1.3, '6 4'],
               village: ['#b3a2d1', 0.8, '2 3']};
  function esc(v) {
    return String(v === null || v === undefined ? '' : v).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c]; });
  }
  B.add = function (map, cfg) {
    var base = L.vectorGrid.protobuf(cfg.url, {
      rendererFactory: L.canvas.tile, maxNativeZoom: 16, maxZoom: cfg.maxZoom,
      attribution: cfg.attribution, interactive: false, pane: 'tilePane',
      vectorTileLayerStyles: {
        roads: function (p) {
          var s = ROAD[p.rank] || ROAD[5];
          return {color: s[0], weight: s[1], opacity: 0.95};
        },
        boundaries: function (p) {
          var s = LEVEL[p.level] || LEVEL.village;
          return {color: s[0], weight: s[1], dashArray: s[2], fill: false, opacity: 0.9};
        }
      }
    }).addTo(map);
    var labels = L.layerGroup().addTo(map), seq = 0;
    function refresh() {
      var b = map.getBounds(), mine = ++seq;
      var box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) {
        return Math.max(-180, Math.min(180, v)).toFixed(5); }).join(',');
      fetch(cfg.labels + '?bbox=' + box + '&zoom=' + map.getZoom())
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (fc) {
          if (!fc || mine !== seq) return;
          labels.clearLayers();
          fc.features.forEach(function (f) {
            var c = f.geometry.coordinates, p = f.properties;
            L.marker([c[1], c[0]], {interactive: false, keyboard: false,
              icon: L.divIcon({className: 'emgis-place emgis-place-' + esc(p.level),
                               html: '<span>' + esc(p.name) + '</span>', iconSize: null})}).addTo(labels);
          });
        }).catch(function () { /* names are a nicety: the map works without them */ });
    }
    map.on('moveend', refresh);
    map.whenReady(refresh);
    B.layer = base; B.labels = labels;
    return base;
  };
})();
