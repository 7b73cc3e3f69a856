/* Gridwalk map: fills the page's empty Folium layers, areas and buildings with vector
 * tiles (/tiles/…, drawn on canvas), issues from the API for the current viewport, and answers a tap on the map with who is responsible there (one point
 * lookup, /api/v1/lookup, rather than per-feature events).
 * User-supplied text only ever reaches the page as textContent. */
(function () {
  "use strict";

  var STYLES = {
    communities: { color: "#7b241c", weight: 3, fill: true, fillOpacity: 0.02, interactive: false },
    grids: { color: "#1f618d", weight: 2, dashArray: "6 4", fill: false, interactive: false },
    compounds: { color: "#1e8449", weight: 1.5, fillColor: "#52be80", fillOpacity: 0.12, interactive: false },
    buildings: { color: "#566573", weight: 1, fillColor: "#aab7b8", fillOpacity: 0.55, interactive: false },
    highlight: { color: "#e67e22", weight: 4, fillColor: "#f5b041", fillOpacity: 0.35, interactive: false },
  };
  // Drawn from vector tiles: {layer}/{z}/{x}/{y}.mvt, and the tile layer's name inside.
  var TILED = {
    communities: ["areas", "?level=community"],
    grids: ["areas", "?level=grid"],
    compounds: ["areas", "?level=compound"],
    buildings: ["buildings", ""],
  };
  // Fetched as GeoJSON for the viewport: the issues (markers one taps), and the grids'
  // names for the grid filter (not drawn: their outlines come in tiles).
  var SOURCES = {
    grids: "areas?level=grid",
    issues: "issues?",
  };

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] !== undefined ? values[key] : "";
    });
  }

  function padded(bounds) {
    return bounds.pad(0.25);
  }

  // The API refuses a viewport wider than a layer allows: ask for the middle of it.
  function clamped(bounds, span) {
    var c = bounds.getCenter();
    var half = span / 2 - 1e-6;
    return L.latLngBounds(
      [Math.max(bounds.getSouth(), c.lat - half), Math.max(bounds.getWest(), c.lng - half)],
      [Math.min(bounds.getNorth(), c.lat + half), Math.min(bounds.getEast(), c.lng + half)]);
  }

  function bboxParam(bounds) {
    return [bounds.getWest(), bounds.getSouth(), bounds.getEast(), bounds.getNorth()]
      .map(function (v) { return v.toFixed(6); }).join(",");
  }

  function attach(map, cfg, layers, basemaps) {
    var T = cfg.texts;
    var panel = document.getElementById("gw-panel");
    var body = panel.querySelector(".gw-panel-body");
    var hint = document.getElementById("gw-hint");
    var pending = {};
    var loaded = {};
    var highlight = L.layerGroup().addTo(map);
    var lookupSeq = 0;

    if (cfg.serviceWorker && "serviceWorker" in navigator) {
      var firstOpen = !navigator.serviceWorker.controller;
      navigator.serviceWorker.register(cfg.serviceWorker).then(function () {
        return navigator.serviceWorker.ready;
      }).then(function (registration) {
        // Not served by the worker this time: ask it to keep this page and what it loaded.
        if (!firstOpen || !registration.active) return;
        // Everything it loaded, the images its styles named too (the layer button's icon).
        var urls = Array.prototype.map.call(document.querySelectorAll("script[src], link[rel=stylesheet][href]"),
          function (node) { return node.src || node.href; }).concat((performance.getEntriesByType ?
          performance.getEntriesByType("resource") : []).map(function (entry) { return entry.name; }));
        registration.active.postMessage({ keep: urls });
      }).catch(function () { /* plain HTTP: online only */ });
    }

    // On a phone the buttons stand just above the bottom sheet, however tall it is now.
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        document.documentElement.style.setProperty("--panel-h", panel.offsetHeight + "px");
      }).observe(panel);
    }

    // Leaflet names its layer button in English whatever the page's language.
    var layersToggle = document.querySelector(".leaflet-control-layers-toggle");
    if (layersToggle) {
      layersToggle.title = T.layers;
      layersToggle.setAttribute("aria-label", T.layers);
    }

    if (window.innerWidth < 600) {
      var legend = document.querySelector(".gw-legend");
      if (legend) legend.removeAttribute("open");
    }
    panel.querySelector(".gw-close").addEventListener("click", function () {
      panel.hidden = true;
      highlight.clearLayers();
    });

    function api(path) {
      return cfg.api + "/" + path;
    }

    // `options.online`: the network's answer or none (the offline copy is not asked).
    // Otherwise a network that fails, or gives nothing for WAIT_MS (one bar in a stairwell),
    // is answered from the offline copy where it holds the answer.
    var WAIT_MS = 8000;
    function getJSON(url, signal, options) {
      var online = options && options.online;
      var controller = new AbortController();
      var timedOut = false;
      if (signal) signal.addEventListener("abort", function () { controller.abort(); });
      var timer = online ? null : setTimeout(function () { timedOut = true; controller.abort(); }, WAIT_MS);
      var asked = fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal: controller.signal })
        .then(function (response) {
          clearTimeout(timer);
          if (Gridwalk.offline) Gridwalk.offline.reachable();
          if (response.status === 401) {
            window.location.href = cfg.loginUrl + "?next=" + encodeURIComponent(window.location.pathname);
            throw new Error("unauthorized");
          }
          return response.json().then(function (data) {
            if (!response.ok) {
              var refused = new Error((data.error && data.error.message) || response.statusText);
              refused.refused = true;  // the server said no: not a network failure
              throw refused;
            }
            return data;
          });
        });
      if (online) return asked;
      // No network (a TypeError or the wait over, not a refusal): the copy answers where it can.
      return asked.catch(function (error) {
        clearTimeout(timer);
        var lost = error instanceof TypeError || timedOut;
        var kept = lost && Gridwalk.offline ? Gridwalk.offline.answer(url) : null;
        if (!kept) throw timedOut ? new TypeError("no answer in " + WAIT_MS + " ms") : error;
        return kept;
      });
    }

    function issueMarker(feature, latlng) {
      var p = feature.properties;
      var icon = L.divIcon({
        className: "gw-issue gw-dot gw-status-" + p.status + (p.overdue ? " gw-overdue" : ""),
        iconSize: [18, 18],
      });
      var marker = L.marker(latlng, { icon: icon, title: p.category + " · " + (T.statuses[p.status] || p.status) });
      marker.issueId = feature.id;
      marker.overdue = !!p.overdue;
      // A tap on an issue opens its timeline in the panel (gridwalk-field.js).
      marker.on("click", function (e) {
        L.DomEvent.stopPropagation(e);
        if (Gridwalk.showIssue) Gridwalk.showIssue(feature.id);
      });
      return marker;
    }

    // One line under the map for what it cannot show: a layer cut at its limit, buildings
    // needing a closer zoom, a failed load.
    var hints = {};
    function showHint(key, text) {
      hints[key] = text;
      var shown = Object.keys(hints).map(function (k) { return hints[k]; }).filter(Boolean);
      hint.textContent = shown.join(" · ");
      hint.hidden = !shown.length;
    }

    // The basemap chosen (kept on the phone) sets the map's datum before anything is drawn.
    var datum = "wgs84";
    var tileLayers = {};
    var ready = false;
    function tileUrl(key) {
      var query = TILED[key][1];
      if (datum !== "wgs84") query += (query ? "&" : "?") + "datum=" + datum;
      return cfg.tiles + "/" + TILED[key][0] + "/{z}/{x}/{y}.mvt" + query;
    }
    Gridwalk.basemaps.attach(map, basemaps || {}, {
      texts: T,
      hint: function (text) { showHint("basemap", text); },
      datum: function (d) {
        datum = d;
        Object.keys(tileLayers).forEach(function (key) { tileLayers[key].setUrl(tileUrl(key), true); });
        if (ready) reloadIssues();  // the clusters are made again in the new frame
      },
    });

    // No animation: the page opens on the user's area, and a view set at once after stays set.
    if (cfg.fitBounds) map.fitBounds(cfg.fitBounds, { animate: false });

    // One tile layer inside each Folium group, so the layer control still turns it on and off.
    // Taps go to the map (one lookup), not to tile features. Buildings are added first, so
    // theirs are the first tiles asked for (a browser fetches six at a time from one server,
    // and the three area levels ask for three times as many); zIndex keeps the drawing order.
    var drawingOrder = Object.keys(TILED);
    drawingOrder.slice().reverse().forEach(function (key) {
      var group = layers[key];
      if (!group) return;
      var layer = TILED[key][0];
      var styles = {};
      styles[layer] = L.extend({ fill: key !== "grids" }, STYLES[key]);
      tileLayers[key] = L.vectorGrid.protobuf(tileUrl(key), {
        rendererFactory: L.canvas.tile,
        vectorTileLayerStyles: styles,
        interactive: false,
        zIndex: drawingOrder.indexOf(key) + 10,  // over the basemap (1) and its place names (2)
        minZoom: cfg.minZoom[key],
        maxNativeZoom: 20,
        fetchOptions: { credentials: "same-origin" },
      });
      group.addLayer(tileLayers[key]);
    });

    function draw(key, data) {
      var group = layers[key];
      if (key === "grids") {  // the outlines are tiles: only the filter's names come from here
        gridChoices(data.features);
        return;
      }
      group.clearLayers();
      if (key === "issues") {
        var markers = [];
        data.features.forEach(function (f) {
          var c = f.geometry.coordinates;
          markers.push(issueMarker(f, L.latLng(c[1], c[0])));
        });
        if (group.addLayers) group.addLayers(markers);
        else markers.forEach(function (m) { group.addLayer(m); });
      } else {
        group.addLayer(L.geoJSON(data, { style: STYLES[key], interactive: false }));
      }
      if (key === "issues") showHint(key, data.truncated ? fill(T.tooManyIssues, { n: data.numberReturned }) : "");
    }

    // The grid filter offers the grids on the map; a chosen one stays offered.
    function gridChoices(features) {
      var select = document.getElementById("gw-filter-grid");
      if (!select) return;
      var chosen = select.value;
      var first = select.options[0];
      var options = features.slice().sort(function (a, b) {
        return a.properties.name.localeCompare(b.properties.name, "zh");
      }).map(function (f) {
        return el("option", { value: String(f.id), text: f.properties.name });
      });
      if (chosen && !features.some(function (f) { return String(f.id) === chosen; })) {
        options.unshift(select.querySelector("option[value='" + chosen + "']"));
      }
      select.replaceChildren.apply(select, [first].concat(options.filter(Boolean)));
      select.value = chosen;
    }

    // A cluster of issues says whether an overdue one is inside, so none hides at a wide zoom.
    if (layers.issues && layers.issues.options) {
      layers.issues.options.iconCreateFunction = function (cluster) {
        var children = cluster.getAllChildMarkers();
        var count = children.length;
        var overdue = children.filter(function (m) { return m.overdue; }).length;
        var size = count < 10 ? "small" : count < 100 ? "medium" : "large";
        return L.divIcon({
          html: "<div><span>" + count + "</span></div>",
          className: "marker-cluster marker-cluster-" + size + (overdue ? " gw-cluster-overdue" : ""),
          iconSize: L.point(40, 40),
        });
      };
    }

    function refresh() {
      var zoom = map.getZoom();
      var view = map.getBounds();
      if (layers.buildings) showHint("buildings", map.hasLayer(layers.buildings) && zoom < cfg.minZoom.buildings ? T.zoomIn : "");
      Object.keys(SOURCES).forEach(function (key) {
        var group = layers[key];
        if (!group || !map.hasLayer(group)) return;
        if (zoom < cfg.minZoom[key]) {
          if (pending[key]) pending[key].abort();  // an answer still on its way must not draw
          if (key === "issues") group.clearLayers();
          loaded[key] = null;
          if (key === "issues") showHint(key, "");
          return;
        }
        var last = loaded[key];
        if (last && last.bounds.contains(view)) return;
        if (pending[key]) pending[key].abort();
        var controller = new AbortController();
        pending[key] = controller;
        var bounds = clamped(padded(view), cfg.maxSpan[key]);
        var source = SOURCES[key] + (key === "issues" ? issueQuery() : "");
        var sep = source.indexOf("?") >= 0 ? (/[?&]$/.test(source) ? "" : "&") : "?";
        getJSON(api(source + sep + "bbox=" + bboxParam(bounds)), controller.signal)
          .then(function (data) {
            // A layer cut at its limit is asked again after the next move: zooming in then
            // shows what the cut left out.
            loaded[key] = data.truncated ? null : { bounds: bounds, zoom: zoom };
            showHint("failed", "");
            if (key === "issues") filterError("");
            draw(key, data);
          })
          .catch(function (error) {
            if (error.name === "AbortError") return;
            // A filter the server refuses (an end date before the start …) says why, where
            // the officer is looking; anything else is the network.
            if (error.refused && key === "issues") filterError(error.message);
            showHint("failed", error.refused ? error.message : T.failed);
          });
      });
    }

    var timer = null;
    function scheduleRefresh() {
      clearTimeout(timer);
      timer = setTimeout(refresh, 150);
    }
    map.on("moveend overlayadd", scheduleRefresh);
    refresh();

    // --- the responsibility panel -------------------------------------------------------

    function person(p) {
      if (!p) return null;
      return el("span", { class: "gw-person" },
        el("strong", { text: p.name }),
        p.title ? el("span", { class: "gw-muted", text: " " + p.title }) : null,
        callLink(p.phone, p.name));
    }

    // A phone as a tap-to-call link; a masked one (138****1234, outside the user's area)
    // is only text: dialling its digits would call a stranger.
    function callLink(phone, name) {
      if (!phone) return null;
      if (phone.indexOf("*") >= 0) return el("span", { class: "gw-phone-masked", text: phone });
      return el("a", { class: "gw-call", href: "tel:" + phone.replace(/[^\d+]/g, ""),
        text: phone, "aria-label": T.call + " " + name });
    }

    function assignmentItem(a) {
      var who = el("div", { class: "gw-who" },
        a.unit ? el("span", { class: "gw-unit", text: a.unit.name }) : null,
        person(a.person));
      var facts = el("dl", { class: "gw-facts" });
      [["post", a.post], ["duty", a.duty], ["target", a.target]].forEach(function (pair) {
        if (!pair[1]) return;
        facts.appendChild(el("dt", { text: T[pair[0]] }));
        facts.appendChild(el("dd", { text: pair[1] }));
      });
      return el("li", { class: "gw-assignment" },
        el("span", { class: "gw-kind", text: T.kinds[a.kind] || a.kind }), who, facts);
    }

    function assignmentList(list) {
      if (!list.length) return el("p", { class: "gw-muted", text: T.noAssignments });
      var ul = el("ul", { class: "gw-assignments" });
      list.forEach(function (a) { ul.appendChild(assignmentItem(a)); });
      return ul;
    }

    // What an area's officers print: its buildings' QR stickers (and its notice board).
    var PRINTED = { community: true, grid: true, compound: true };
    // `mine`: the area is the user's own or inside it (the county's users: every area).
    function areaSection(area, mine) {
      return el("section", { class: "gw-area gw-level-" + area.level, "data-area-id": area.id },
        el("h3", {},
          el("span", { class: "gw-level", text: T.levels[area.level] || area.level }),
          " " + area.name),
        assignmentList(area.assignments),
        ctx.areaActions && mine ? ctx.areaActions(area) : null,
        PRINTED[area.level] && cfg.stickersUrl ? el("p", { class: "gw-area-links" },
          el("a", { href: fill(cfg.boardUrl, { id: area.id }), text: T.noticeBoard }), " · ",
          el("a", { href: fill(cfg.stickersUrl, { id: area.id }), target: "_blank", text: T.stickers })) : null);
    }

    function buildingSection(b) {
      var title = b.name || b.address || T.unnamed;
      var section = el("section", { class: "gw-building", "data-building-id": b.id },
        el("h2", {}, el("span", { class: "gw-level", text: T.building }), " " + title));
      if (b.address && b.address !== title) section.appendChild(el("p", { class: "gw-muted", text: b.address }));
      var trail = b.areas.slice().reverse().filter(function (a) { return a.level !== "county"; })
        .map(function (a) { return a.name; }).join(" › ");
      if (trail) section.appendChild(el("p", { class: "gw-trail", text: trail }));
      var cov = b.coverage;
      var stats = el("p", { class: "gw-stats" },
        el("span", { class: "gw-households", text: T.households + " " + b.household_count }));
      if (cov.households) {
        stats.appendChild(el("span", { class: "gw-coverage",
          text: " · " + fill(T.coverage, { days: cov.days }) + " " + cov.visited + "/" + cov.households +
            " (" + Math.round(cov.share * 100) + "%)" }));
      }
      section.appendChild(stats);
      var actions = ctx.buildingActions && ctx.buildingActions(b);
      if (actions) section.appendChild(actions);
      section.appendChild(assignmentList(b.assignments));
      if (b.household_assignees.length) {
        var ul = el("ul", { class: "gw-assignments" });
        b.household_assignees.forEach(function (h) {
          ul.appendChild(el("li", { class: "gw-assignment" },
            el("span", { class: "gw-kind", text: fill(T.householdsHeld, { n: h.households }) }),
            el("div", { class: "gw-who" }, person(h.person))));
        });
        section.appendChild(el("h4", { text: T.householdAssignees }));
        section.appendChild(ul);
      }
      if (b.open_issues.length) {
        var issues = el("ul", { class: "gw-issues" });
        b.open_issues.forEach(function (i) {
          issues.appendChild(el("li", {},
            el("span", { class: "gw-badge gw-status-" + i.status, text: T.statuses[i.status] || i.status }),
            " " + i.category + " · ", el("span", { text: i.description })));
        });
        section.appendChild(el("h4", { text: T.openIssues + " (" + b.open_issues.length + ")" }));
        section.appendChild(issues);
      }
      return section;
    }

    // A moment as "12/7 15:30" in the county's time and the page's language.
    function shortTime(iso) {
      return new Date(iso).toLocaleString(document.documentElement.lang || "zh-CN", { timeZone: cfg.timezone,
        month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit" });
    }

    function showPanel(nodes) {
      body.replaceChildren.apply(body, nodes);
      panel.hidden = false;
      panel.scrollTop = 0;
    }

    // On a phone the panel is a bottom sheet: keep the tapped place in sight above it.
    function keepInSight(latlng) {
      if (panel.hidden) return;
      var sheet = panel.getBoundingClientRect();
      var mapBox = map.getContainer().getBoundingClientRect();
      if (sheet.left > mapBox.left + 10) return;  // side panel on a wide screen
      var point = map.latLngToContainerPoint(latlng);
      var visibleBottom = sheet.top - mapBox.top - 48;
      if (point.y > visibleBottom) map.panBy([0, point.y - visibleBottom / 2], { animate: false });
    }

    // `before`: nodes shown above the answer (the coverage of the place tapped).
    function lookup(latlng, before) {
      var seq = ++lookupSeq;
      highlight.clearLayers();
      highlight.addLayer(L.circleMarker(latlng, { radius: 6, color: "#e67e22", weight: 3, interactive: false }));
      showPanel([el("p", { class: "gw-muted", text: T.loading })]);
      keepInSight(latlng);
      var url = api("lookup?lon=" + latlng.lng.toFixed(7) + "&lat=" + latlng.lat.toFixed(7));
      getJSON(url).then(function (data) {
        if (seq !== lookupSeq) return;
        var nodes = (before || []).slice();
        if (data.offline) nodes.push(el("p", { class: "gw-offline-note", text: fill(T.offline.answeredFromCopy, { when: shortTime(data.offline) }) }));
        if (data.building) {
          nodes.push(buildingSection(data.building));
          if (data.building.geometry) {
            highlight.clearLayers();
            highlight.addLayer(L.geoJSON(data.building.geometry, { style: STYLES.highlight }));
          }
        }
        // The areas come innermost first: those up to the user's own are theirs.
        var own = cfg.areaId === null ? data.areas.length - 1 : data.areas.map(function (a) { return a.id; }).indexOf(cfg.areaId);
        data.areas.forEach(function (a, i) { nodes.push(areaSection(a, own >= 0 && i <= own)); });
        if (!data.building && !data.areas.length) nodes.push(el("p", { class: "gw-muted", text: T.nothingHere }));
        showPanel(nodes);
        keepInSight(latlng);
      }).catch(function (error) {
        if (seq === lookupSeq) showPanel([el("p", { class: "gw-error", text: T.failed })]);
      });
    }

    // --- issue filters (the form in the map's chrome) ----------------------------------

    var filterForm = document.getElementById("gw-filters");
    var filterMessage = filterForm ? filterForm.appendChild(el("p", { class: "gw-error", role: "alert", hidden: "hidden" })) : null;
    function filterError(text) {
      if (!filterMessage) return;
      filterMessage.textContent = text;
      filterMessage.hidden = !text;
    }
    function issueQuery() {
      var params = new URLSearchParams();
      if (filterForm) {
        new FormData(filterForm).forEach(function (value, name) {
          if (value !== "") params.append(name, value);
        });
      }
      if (!params.has("status")) params.set("status", "open");
      params.set("sort", "urgency");
      return params.toString() + "&";
    }
    function reloadIssues() {
      loaded.issues = null;
      refresh();
    }
    if (filterForm) {
      filterForm.addEventListener("change", reloadIssues);
      filterForm.addEventListener("submit", function (e) { e.preventDefault(); reloadIssues(); });
    }

    // The bbox parameter for the view, as wide as the API allows for `source`'s layer.
    function viewBox(key) {
      return bboxParam(clamped(padded(map.getBounds()), cfg.maxSpan[key]));
    }

    var ctx = {
      map: map, cfg: cfg, T: T, el: el, fill: fill, api: api, getJSON: getJSON, showPanel: showPanel,
      panel: panel, highlight: highlight, person: person, reloadIssues: reloadIssues, keepInSight: keepInSight,
      lookup: lookup, viewBox: viewBox, layers: layers, showHint: showHint, shortTime: shortTime,
      // Extra buttons in a building's panel (gridwalk-visits.js: record a visit).
      buildingActions: null,
      // Extra controls in an area's panel (gridwalk-offline.js: keep it for offline use).
      areaActions: null,
      // The field tools take taps on the map while a report is being placed.
      takesTap: null,
    };
    map.on("click", function (e) {
      if (ctx.takesTap && ctx.takesTap(e.latlng)) return;
      lookup(e.latlng);
    });
    ready = true;
    Gridwalk.map = map;
    Gridwalk.layers = layers;
    Gridwalk.lookup = lookup;
    Gridwalk.ctx = ctx;
    if (Gridwalk.offline) Gridwalk.offline.attach(ctx);
    if (Gridwalk.field) Gridwalk.field.attach(ctx);
    if (Gridwalk.visits) Gridwalk.visits.attach(ctx);

    // A link to a building (#building=ID, from the lists) opens the map on it.
    var linked = /[#&]building=(\d+)/.exec(window.location.hash);
    if (linked) {
      getJSON(api("buildings/" + linked[1])).then(function (b) {
        var centre = L.geoJSON(b.geometry).getBounds().getCenter();
        map.setView(centre, 18);
        lookup(centre);
      }).catch(function () { /* not readable: nothing to open */ });
    }
  }

  window.Gridwalk = window.Gridwalk || {};
  window.Gridwalk.attach = attach;
})();
