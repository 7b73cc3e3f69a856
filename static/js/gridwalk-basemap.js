/* Basemaps in their own datum. AMap and Tencent draw China in GCJ-02, half a kilometre from
 * WGS 84 here; Tianditu (CGCS2000) and OSM draw WGS 84. On a GCJ-02 basemap the map's frame
 * itself is GCJ-02: its CRS projects a WGS 84 position through GCJ-02 into Web Mercator and
 * back, so every marker, outline, GPS fix and tapped point (all WGS 84, as the server holds
 * them) lands on the basemap's own footprint, and a tap reads back as WGS 84. Vector tiles
 * are asked for in the same frame (?datum=gcj02). The choice is kept on the phone.
 * The conversion is geo/geometry.py's, and a test holds the two together. */
(function () {
  "use strict";

  var A = 6378245.0;  // Krasovsky 1940, as GCJ-02 uses it
  var EE = 0.00669342162296594323;
  var KEPT = "gw-basemap";

  function inChina(lon, lat) {
    return lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
  }

  function offset(lon, lat) {
    if (!inChina(lon, lat)) return [0, 0];
    var x = lon - 105.0, y = lat - 35.0, PI = Math.PI;
    var common = (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    var dlat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + common +
      (20 * Math.sin(y * PI) + 40 * Math.sin(y / 3 * PI)) * 2 / 3 +
      (160 * Math.sin(y / 12 * PI) + 320 * Math.sin(y * PI / 30)) * 2 / 3;
    var dlon = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + common +
      (20 * Math.sin(x * PI) + 40 * Math.sin(x / 3 * PI)) * 2 / 3 +
      (150 * Math.sin(x / 12 * PI) + 300 * Math.sin(x / 30 * PI)) * 2 / 3;
    var rad = lat / 180 * PI;
    var magic = 1 - EE * Math.sin(rad) * Math.sin(rad);
    var sqrtMagic = Math.sqrt(magic);
    dlat = dlat * 180 / ((A * (1 - EE)) / (magic * sqrtMagic) * PI);
    dlon = dlon * 180 / (A / sqrtMagic * Math.cos(rad) * PI);
    return [dlon, dlat];
  }

  function toGcj(latlng) {
    var d = offset(latlng.lng, latlng.lat);
    return L.latLng(latlng.lat + d[1], latlng.lng + d[0]);
  }

  // No closed form: the offset varies so slowly that a few fixed-point steps reach 1e-10°.
  function toWgs(latlng) {
    var lat = latlng.lat, lng = latlng.lng;
    for (var i = 0; i < 10; i++) {
      var there = toGcj(L.latLng(lat, lng));
      var dlat = there.lat - latlng.lat, dlng = there.lng - latlng.lng;
      lat -= dlat;
      lng -= dlng;
      if (Math.abs(dlat) < 1e-10 && Math.abs(dlng) < 1e-10) break;
    }
    return L.latLng(lat, lng);
  }

  var mercator = L.Projection.SphericalMercator;
  var GCJ02 = L.extend({}, L.CRS.EPSG3857, {
    code: "GCJ02",
    projection: {
      R: mercator.R,
      bounds: mercator.bounds,
      project: function (latlng) { return mercator.project(toGcj(latlng)); },
      unproject: function (point) { return toWgs(mercator.unproject(point)); },
    },
  });
  var CRS = { wgs84: L.CRS.EPSG3857, gcj02: GCJ02 };

  function kept() {
    try { return window.localStorage.getItem(KEPT); } catch (e) { return null; }
  }
  function keep(key) {
    try { window.localStorage.setItem(KEPT, key); } catch (e) { /* private mode: not kept */ }
  }

  /* `basemaps`: {key: layer} as the page made them (Folium), "none" an empty group.
   * `hooks.datum(datum)` is told when the frame changes, before the map redraws in it;
   * `hooks.hint(text)` shows (or, with "", clears) a line about a basemap that fails. */
  function attach(map, basemaps, hooks) {
    var labels = null;
    var failing = null;
    var T = hooks.texts;

    function datumOf(layer) {
      return (layer && layer.options && layer.options.datum) || "wgs84";
    }

    function setDatum(datum) {
      var crs = CRS[datum] || CRS.wgs84;
      if (map.options.crs === crs) return;
      var centre = map.getCenter(), zoom = map.getZoom();
      map.options.crs = crs;
      hooks.datum(datum);
      map._resetView(centre, zoom);  // every layer projects itself again, in the new frame
    }

    function use(layer) {
      if (labels) map.removeLayer(labels);
      labels = null;
      failing = null;
      hooks.hint("");
      var o = layer.options || {};
      if (o.labels) {
        labels = L.tileLayer(o.labels, { subdomains: o.subdomains, maxZoom: 20, maxNativeZoom: o.maxNativeZoom,
          zIndex: 2 }).addTo(map);
        watch(labels, layer);
      }
      setDatum(datumOf(layer));
      keep(o.basemap || "none");
    }

    // A wrong key or an unreachable server shows as tiles that do not load: say so once
    // (the layer control offers another, or none); the data layers stay as they are.
    function watch(layer, named) {
      layer.on("tileerror", function () {
        // With no network at all a tile beyond what the phone kept cannot come: not the
        // basemap's fault (the offline line under the map says what is shown).
        if (failing === named || !map.hasLayer(named) || !navigator.onLine) return;
        failing = named;
        hooks.hint(L.Util.template(T.basemapFailed, { name: named.options.gwName || "" }));
      });
      layer.on("tileload", function () {
        if (failing === named) { failing = null; hooks.hint(""); }
      });
    }

    var chosen = null;
    Object.keys(basemaps).forEach(function (key) {
      var layer = basemaps[key];
      if (map.hasLayer(layer)) chosen = layer;
      if (layer instanceof L.TileLayer) watch(layer, layer);
    });

    var wanted = basemaps[kept()];
    if (wanted && wanted !== chosen) {
      if (chosen) map.removeLayer(chosen);
      map.addLayer(wanted);
      chosen = wanted;
    }
    if (chosen) use(chosen);
    map.on("baselayerchange", function (e) { use(e.layer); });
    window.Gridwalk.basemaps.offered = basemaps;
  }

  window.Gridwalk = window.Gridwalk || {};
  window.Gridwalk.datum = { toGcj: toGcj, toWgs: toWgs, crs: CRS };
  window.Gridwalk.basemaps = { attach: attach };
})();
