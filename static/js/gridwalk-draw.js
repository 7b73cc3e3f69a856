/* Drawing grids and compounds on the map (administration): draw a new one, edit an
 * outline, split one along a line, merge two neighbours. Leaflet-Geoman does the drawing;
 * every change goes to the API, which checks it (inside the parent, no overlap) and answers
 * in the one error shape. While a shape is drawn the households inside it are counted, so
 * that a grid of 300–500 households is easy to make. */
(function () {
  "use strict";
  var root = document.getElementById("gw-draw");
  if (!root || typeof L === "undefined") return;
  var data = JSON.parse(document.getElementById("gw-draw-data").textContent);
  var T = JSON.parse(document.getElementById("gw-draw-text").textContent);
  var api = root.dataset.api;
  var countBox = root.querySelector(".gw-draw-count");
  var chosenBox = root.querySelector(".gw-draw-chosen");
  var saveForm = root.querySelector(".gw-draw-save");
  var errorBox = root.querySelector(".gw-error");
  var okBox = root.querySelector(".gw-ok");
  var buttons = {};
  root.querySelectorAll("[data-action]").forEach(function (b) { buttons[b.dataset.action] = b; });

  function fill(text, values) {
    return text.replace(/%\((\w+)\)s/g, function (_, key) { return values[key]; });
  }

  var map = L.map("gw-draw-map", { preferCanvas: false, zoomSnap: 0.25 });
  window.GridwalkDraw = { map: map };
  if (map.pm.setLang) map.pm.setLang(document.documentElement.lang.indexOf("zh") === 0 ? "zh" : "en");

  var parent = L.geoJSON(data.parent.geometry, {
    style: { color: "#555", weight: 2, dashArray: "6 4", fill: false }, pmIgnore: true, interactive: false,
  }).addTo(map);
  // Clear of the zoom buttons in the top-left corner, so the area's corners can be tapped.
  map.fitBounds(parent.getBounds(), { paddingTopLeft: [64, 16], paddingBottomRight: [16, 16] });

  // The county's basemaps, in their datum: on AMap an outline is drawn on AMap's streets
  // and saved in WGS 84 (gridwalk-basemap.js).
  var offered = JSON.parse(document.getElementById("gw-draw-basemaps").textContent);
  if (offered.length) {
    var base = {}, names = {};
    offered.forEach(function (b) {
      base[b.key] = L.tileLayer(b.url, { attribution: b.attribution, subdomains: b.subdomains, maxZoom: 20,
        maxNativeZoom: b.maxNativeZoom, zIndex: 1, datum: b.datum, labels: b.labels, basemap: b.key,
        gwName: b.name });
      names[b.name] = base[b.key];
    });
    base.none = L.layerGroup();
    names[T.none] = base.none;
    base[offered[0].key].addTo(map);
    L.control.layers(names, null, { position: "topright" }).addTo(map);
    var toggle = root.querySelector(".leaflet-control-layers-toggle");
    if (toggle) { toggle.title = T.layers; toggle.setAttribute("aria-label", T.layers); }
    Gridwalk.basemaps.attach(map, base, {
      texts: T,
      hint: function (text) { errorBox.textContent = text; errorBox.hidden = !text; },
      datum: function () { /* everything here is drawn from positions: it follows the frame */ },
    });
  }
  var buildings = L.layerGroup().addTo(map);
  var areas = L.featureGroup().addTo(map);
  var chosen = [];
  var pending = null; // a new shape waiting for its name
  var mode = null;

  function styleFor(area) {
    var picked = chosen.indexOf(area) >= 0;
    return { color: picked ? "#1565c0" : "#2e7d32", weight: picked ? 4 : 2, fillOpacity: picked ? 0.25 : 0.08 };
  }

  function addArea(area) {
    var layer = L.geoJSON(area.geometry, { style: styleFor(area) });
    layer.eachLayer(function (part) {
      part.area = area;
      part.bindTooltip(fill(T.grid, area), { permanent: true, direction: "center", className: "gw-draw-label" });
      part.on("click", function () { if (!mode) choose(area); });
    });
    area.layer = layer;
    areas.addLayer(layer);
  }

  data.children.forEach(addArea);

  function refreshChoice() {
    data.children.forEach(function (a) { if (a.layer) a.layer.setStyle(styleFor(a)); });
    chosenBox.textContent = chosen.length ? fill(T.chosen, { names: chosen.map(function (a) { return a.name; }).join("、") }) : "";
    buttons.edit.disabled = chosen.length !== 1;
    buttons.split.disabled = chosen.length !== 1;
    buttons.merge.disabled = chosen.length !== 2;
  }

  function choose(area) {
    var at = chosen.indexOf(area);
    if (at >= 0) chosen.splice(at, 1);
    else { chosen.push(area); if (chosen.length > 2) chosen.shift(); }
    refreshChoice();
  }

  function say(box, text) {
    errorBox.hidden = okBox.hidden = true;
    if (box) { box.textContent = text; box.hidden = false; }
  }

  function send(method, path, body) {
    return fetch(api + path, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf, Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) throw new Error((answer.error && answer.error.message) || response.statusText);
        return answer;
      });
    });
  }

  var counting = null;
  function count(geometry) {
    if (counting) counting.abort();
    counting = new AbortController();
    fetch(api + "/households/count", {
      method: "POST", credentials: "same-origin", signal: counting.signal,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf, Accept: "application/json" },
      body: JSON.stringify({ geometry: geometry }),
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (answer) {
      if (!answer) return;
      countBox.textContent = fill(T.households, answer);
      var good = answer.households >= 300 && answer.households <= 500;
      countBox.className = "gw-draw-count " + (good ? "gw-good" : "gw-off");
    }).catch(function () {});
  }

  function ringOf(latlngs) {
    var ring = latlngs.map(function (p) { return [p.lng, p.lat]; });
    if (ring.length) ring.push(ring[0]);
    return ring;
  }

  function stop() {
    mode = null;
    map.pm.disableDraw();
    Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-pressed", "false"); });
  }

  function reload() { window.location.reload(); }

  // Drawing a new one: count as the vertices come, then ask for a name.
  buttons.draw.addEventListener("click", function () {
    stop();
    mode = "draw";
    buttons.draw.setAttribute("aria-pressed", "true");
    say(okBox, T.finish);
    map.pm.enableDraw("Polygon", { snappable: true, snapDistance: 15, allowSelfIntersection: false });
  });
  map.on("pm:drawstart", function (e) {
    if (!e.workingLayer) return;
    e.workingLayer.on("pm:vertexadded", function () {
      var points = e.workingLayer.getLatLngs();
      if (points.length >= 3) count({ type: "Polygon", coordinates: [ringOf(points)] });
    });
  });
  map.on("pm:create", function (e) {
    var kind = mode;
    stop();
    if (kind === "split") { splitAlong(e.layer); return; }
    pending = e.layer;
    say(null);
    count(pending.toGeoJSON().geometry);
    saveForm.hidden = false;
    saveForm.elements.name.focus();
  });
  saveForm.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!pending) return;
    send("POST", "/areas", { parent_id: data.parent.id, name: saveForm.elements.name.value,
                             geometry: pending.toGeoJSON().geometry })
      .then(function () { say(okBox, T.saved); reload(); })
      .catch(function (error) { say(errorBox, fill(T.failed, { reason: error.message })); });
  });
  buttons.cancel.addEventListener("click", function () {
    if (pending) map.removeLayer(pending);
    pending = null;
    saveForm.hidden = true;
    countBox.textContent = "";
  });

  // Editing an outline: Geoman's vertex handles on the chosen one; save with its version.
  buttons.edit.addEventListener("click", function () {
    var area = chosen[0];
    if (!area) return;
    if (mode === "edit") {
      var shape = area.layer.toGeoJSON();
      var geometry = shape.features ? shape.features[0].geometry : shape.geometry;
      stop();
      area.layer.eachLayer(function (part) { part.pm.disable(); });
      send("PUT", "/areas/" + area.id + "/geometry", { version: area.version, geometry: geometry })
        .then(function () { say(okBox, T.saved); reload(); })
        .catch(function (error) { say(errorBox, fill(T.failed, { reason: error.message })); });
      return;
    }
    stop();
    mode = "edit";
    buttons.edit.setAttribute("aria-pressed", "true");
    area.layer.eachLayer(function (part) {
      part.pm.enable({ snappable: true });
      part.on("pm:edit", function () { count(part.toGeoJSON().geometry); });
    });
  });

  // Splitting: a line drawn across the chosen grid.
  buttons.split.addEventListener("click", function () {
    if (!chosen[0]) return;
    stop();
    mode = "split";
    buttons.split.setAttribute("aria-pressed", "true");
    say(okBox, T.line);
    map.pm.enableDraw("Line", { snappable: false });
  });
  function splitAlong(line) {
    var area = chosen[0];
    map.removeLayer(line);
    send("POST", "/areas/" + area.id + "/split", { version: area.version, line: line.toGeoJSON().geometry })
      .then(function () { say(okBox, T.saved); reload(); })
      .catch(function (error) { say(errorBox, fill(T.failed, { reason: error.message })); });
  }

  buttons.merge.addEventListener("click", function () {
    if (chosen.length !== 2) return;
    send("POST", "/areas/merge", { ids: [chosen[0].id, chosen[1].id], versions: [chosen[0].version, chosen[1].version] })
      .then(function () { say(okBox, T.saved); reload(); })
      .catch(function (error) { say(errorBox, fill(T.failed, { reason: error.message })); });
  });

  // The buildings, for reference (their outlines only).
  var b = parent.getBounds();
  fetch(api + "/buildings?bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (x) {
    return x.toFixed(6);
  }).join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (collection) {
      if (!collection) return;
      L.geoJSON(collection, { style: { color: "#8d6e63", weight: 1, fillOpacity: 0.3 }, pmIgnore: true,
                              interactive: false }).addTo(buildings);
    }).catch(function () {});
  refreshChoice();
})();
