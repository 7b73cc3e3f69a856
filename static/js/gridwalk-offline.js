/* Gridwalk's offline map: an officer keeps a community, grid or compound on the phone
 * (its buildings' cards, households, outlines and open issues, from /api/v1/offline/<id>,
 * and the basemap's tiles over it), after being told what it weighs. With no signal the
 * map draws the kept outlines, and the API's answers the map asks for (a building tap, a
 * building's households, the issues in view) come from the copy. Back online, an old
 * copy is made again. The copy belongs to the login that made it: it is dropped when it
 * expires, on logout (sw.js too), and when another login opens the map.
 * User-supplied text only ever reaches the page as textContent. */
(function () {
  "use strict";

  var DB_NAME = "gridwalk-offline";
  var STORE = "copy";
  var KEY = "mine";
  var TILES = "gridwalk-offline-tiles";  // sw.js answers basemap tiles from here offline
  var BASEMAP_ZOOMS = [13, 18];
  var BASEMAP_MAX = 3000;
  var TILE_BYTES = 20000;  // a basemap tile's weight, guessed before any is fetched
  var REFRESH_MS = 15 * 60 * 1000;  // a copy older than this is made again once online
  var LEVEL_ORDER = { compound: 0, grid: 1, community: 2, township: 3, county: 4 };
  var STYLES = {
    community: { color: "#7b241c", weight: 3, fill: false },
    grid: { color: "#1f618d", weight: 2, dashArray: "6 4", fill: false },
    compound: { color: "#1e8449", weight: 1.5, fillColor: "#52be80", fillOpacity: 0.12 },
    building: { color: "#566573", weight: 1, fillColor: "#aab7b8", fillOpacity: 0.55 },
  };

  // --- the store: one copy, in its own database (the report queue's is left alone) ------

  function openStore() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () { request.result.createObjectStore(STORE); };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function inStore(mode, work) {
    return openStore().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var request = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(request.result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
        tx.onabort = function () { db.close(); reject(tx.error); };
      });
    });
  }

  function forget() {
    var gone = [inStore("readwrite", function (s) { return s.delete(KEY); }).catch(function () {})];
    if (window.caches) gone.push(caches.delete(TILES).catch(function () {}));
    return Promise.all(gone);
  }

  // --- geometry: which kept polygon holds a point ------------------------------------------

  function inRing(ring, x, y) {
    var inside = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  function polygons(geometry) {
    return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
  }

  function covers(geometry, x, y) {
    return polygons(geometry).some(function (rings) {
      return inRing(rings[0], x, y) && !rings.slice(1).some(function (hole) { return inRing(hole, x, y); });
    });
  }

  function areaOf(geometry) {
    return polygons(geometry).reduce(function (sum, rings) {
      var ring = rings[0], a = 0;
      for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) a += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
      return sum + Math.abs(a / 2);
    }, 0);
  }

  function withinBounds(b, x, y) {
    return x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3];
  }

  // --- answers from the copy, in the API's shapes -----------------------------------------

  // An area's card and those above it, innermost first (the copy keeps each card once).
  function chainOf(copy, areaId) {
    var chain = [];
    for (var card = copy.area_cards[areaId]; card; card = copy.area_cards[card.parent_id]) chain.push(card);
    return chain;
  }

  function withAreas(copy, building) {
    return L.extend({}, building, { areas: chainOf(copy, building.area_id) });
  }

  // The lookup at a point: the smallest kept building there with its areas, or the kept
  // areas that cover it and those above them, innermost first; null beyond the kept area
  // (what lies there is not known here).
  function lookupIn(copy, x, y) {
    if (!withinBounds(copy.bounds, x, y)) return null;
    var found = copy.buildings.filter(function (b) { return b.geometry && covers(b.geometry, x, y); })
      .sort(function (a, b) { return areaOf(a.geometry) - areaOf(b.geometry) || a.id - b.id; })[0];
    if (found) {
      var building = withAreas(copy, found);
      return { lon: x, lat: y, building: building, areas: building.areas };
    }
    var inner = copy.outlines.filter(function (o) { return covers(o.geometry, x, y); })
      .sort(function (a, b) { return LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level]; })[0];
    return inner ? { lon: x, lat: y, building: null, areas: chainOf(copy, inner.id) } : null;
  }

  // The kept open issues, filtered as the map's filter asks (those that can be, offline).
  function issuesIn(copy, params) {
    var bbox = (params.get("bbox") || "").split(",").map(Number);
    var category = params.get("category"), unit = params.get("unit_id"), area = params.get("area_id");
    var overdue = params.get("overdue") === "1" || params.get("overdue") === "true";
    var features = copy.issues.features.filter(function (f) {
      var p = f.properties, c = f.geometry.coordinates;
      return (bbox.length !== 4 || !bbox.every(isFinite) || withinBounds(bbox, c[0], c[1]))
        && (!category || p.category === category) && (!unit || String(p.unit_id) === unit)
        && (!overdue || p.overdue)
        && (!area || chainOf(copy, p.area_id).some(function (a) { return String(a.id) === area; }));
    });
    return { type: "FeatureCollection", numberReturned: features.length, truncated: false, features: features };
  }

  function answerFrom(copy, url) {
    var parsed = new URL(url, window.location.href);
    var path = parsed.pathname.replace(/^.*\/api\/v1\//, "");
    var match;
    if (path === "lookup") return lookupIn(copy, Number(parsed.searchParams.get("lon")), Number(parsed.searchParams.get("lat")));
    if (path === "issues") return issuesIn(copy, parsed.searchParams);
    if ((match = /^issues\/(\d+)$/.exec(path))) return (copy.issue_details || {})[match[1]] || null;
    if ((match = /^buildings\/(\d+)(\/households)?$/.exec(path))) {
      var id = Number(match[1]);
      var building = copy.buildings.filter(function (b) { return b.id === id; })[0];
      if (!building) return null;
      return match[2] ? (copy.households[id] || []) : withAreas(copy, building);
    }
    return null;
  }

  // --- basemap tiles over the kept area -----------------------------------------------------

  // The basemap layers shown now; `keepable`: only those whose tiles may be kept (the
  // county's own: a provider's terms forbid fetching its tiles in bulk).
  function basemapLayers(map, keepable) {
    var found = [];
    map.eachLayer(function (layer) {
      if (layer instanceof L.TileLayer && layer._url && (!keepable || layer.options.offline)) found.push(layer);
    });
    return found;
  }

  function tileUrl(layer, x, y, z) {
    var o = layer.options;
    var subdomains = typeof o.subdomains === "string" ? o.subdomains.split("") : o.subdomains || [""];
    return L.Util.template(layer._url, L.extend({}, o, {
      r: "", s: subdomains[Math.abs(x + y) % subdomains.length], x: x, y: y, z: z, "-y": Math.pow(2, z) - 1 - y,
    }));
  }

  // Every basemap tile over the area's bounds, in the map's frame (GCJ-02 for AMap).
  function basemapTiles(map, bounds) {
    var urls = [];
    var box = L.latLngBounds([bounds[1], bounds[0]], [bounds[3], bounds[2]]);
    basemapLayers(map, true).forEach(function (layer) {
      var top = Math.min(BASEMAP_ZOOMS[1], layer.options.maxNativeZoom || BASEMAP_ZOOMS[1]);
      for (var z = BASEMAP_ZOOMS[0]; z <= top; z++) {
        var nw = map.options.crs.latLngToPoint(box.getNorthWest(), z).divideBy(256).floor();
        var se = map.options.crs.latLngToPoint(box.getSouthEast(), z).divideBy(256).floor();
        for (var x = nw.x; x <= se.x; x++) {
          for (var y = nw.y; y <= se.y; y++) urls.push(tileUrl(layer, x, y, z));
        }
      }
    });
    return urls;
  }

  function keepTiles(urls, progress) {
    if (!window.caches || !urls.length) return Promise.resolve(0);
    return caches.open(TILES).then(function (cache) {
      var done = 0, failed = 0, next = 0;
      function worker() {
        if (next >= urls.length) return Promise.resolve();
        var url = urls[next++];
        var sameOrigin = new URL(url, window.location.href).origin === window.location.origin;
        // A tile server that allows CORS gives a tile whose status is known; one that does
        // not, an opaque one (kept as it is: the browser shows it as it would have).
        var fetched = sameOrigin ? fetch(url, { credentials: "same-origin" }) : fetch(url, { mode: "cors" })
          .catch(function () { return fetch(url, { mode: "no-cors" }); });
        return fetched.then(function (response) {
          if (response.type !== "opaque" && !response.ok) throw new Error(String(response.status));
          return cache.put(url, response);
        }).catch(function () { failed++; }).then(function () {
          done++;
          progress(done, urls.length);
          return worker();
        });
      }
      var workers = [];
      for (var i = 0; i < 4; i++) workers.push(worker());
      return Promise.all(workers).then(function () { return failed; });
    });
  }

  // --- the map's side -----------------------------------------------------------------------

  function attach(ctx) {
    var map = ctx.map, cfg = ctx.cfg, T = ctx.T, O = T.offline, el = ctx.el;
    var kept = null;  // {copy, tiles, saved_at}
    var drawn = null;

    var when = ctx.shortTime;

    function mb(bytes) {
      return (Math.max(bytes, 1e5) / 1e6).toFixed(1);
    }

    function load() {
      return inStore("readonly", function (s) { return s.get(KEY); }).then(function (record) {
        if (!record) return null;
        if (record.copy.user_id !== cfg.userId || new Date(record.copy.expires_at) < new Date()) {
          return forget().then(function () {
            if (record.copy.user_id === cfg.userId) ctx.showHint("offline", ctx.fill(O.expired, { name: record.copy.area.name }));
            return null;
          });
        }
        return record;
      }).catch(function () { return null; });
    }

    // With no network the kept outlines are drawn (the vector tiles cannot come).
    function draw(on) {
      if (drawn) { map.removeLayer(drawn); drawn = null; }
      ctx.showHint("offline", on && kept ? ctx.fill(O.usingCopy, { name: kept.copy.area.name, when: when(kept.copy.made_at) }) : "");
      if (!on || !kept) return;
      var renderer = L.canvas({ padding: 0.5 });
      drawn = L.layerGroup();
      kept.copy.outlines.slice().sort(function (a, b) { return LEVEL_ORDER[b.level] - LEVEL_ORDER[a.level]; })
        .forEach(function (o) {
          drawn.addLayer(L.geoJSON(o.geometry, { style: L.extend({ renderer: renderer, interactive: false }, STYLES[o.level]) }));
        });
      var buildings = kept.copy.buildings.filter(function (b) { return b.geometry; }).map(function (b) {
        return { type: "Feature", geometry: b.geometry, properties: { building: b.id } };
      });
      drawn.addLayer(L.geoJSON({ type: "FeatureCollection", features: buildings },
        { style: L.extend({ renderer: renderer, interactive: false }, STYLES.building) }));
      drawn.addTo(map);
    }

    // An API answer from the copy, for a request the network failed (null: not kept).
    function answer(url) {
      if (!kept) return null;
      if (new Date(kept.copy.expires_at) < new Date()) {  // a page left open past the copy's days
        var name = kept.copy.area.name;
        kept = null;
        forget();
        draw(false);
        ctx.showHint("offline", ctx.fill(O.expired, { name: name }));
        return null;
      }
      var data = answerFrom(kept.copy, url);
      if (data && !drawn) draw(true);
      if (data && !Array.isArray(data)) data.offline = kept.copy.made_at;
      return data;
    }

    function save(areaId, record) {
      return inStore("readwrite", function (s) { return s.put(record, KEY); }).then(function () {
        kept = record;
        if (drawn) draw(true);
      });
    }

    function fetchCopy(areaId) {
      return ctx.getJSON(ctx.api("offline/" + areaId + "/copy"), undefined, { online: true });
    }

    // Made again from the server quietly, the basemap tiles kept as they are.
    function refresh() {
      if (!kept || !navigator.onLine) return Promise.resolve();
      if (new Date() - new Date(kept.copy.made_at) < REFRESH_MS) return Promise.resolve();
      var record = kept;
      return fetchCopy(record.copy.area.id).then(function (copy) {
        return save(record.copy.area.id, { copy: copy, tiles: record.tiles, bytes: record.bytes, saved_at: new Date().toISOString() });
      }).then(function () { if (drawn) draw(true); }).catch(function (error) {
        // The server no longer gives this login the area (its scope changed): its copy goes.
        if (error.refused) forget().then(function () { kept = null; draw(false); });
      });
    }

    function status(node, text, cls) {
      node.replaceChildren(el("span", { class: cls || "gw-muted", text: text }));
    }

    // The offer in an area's panel: what the copy holds and weighs, then keep it.
    function offer(area, box) {
      status(box, O.weighing);
      ctx.getJSON(ctx.api("offline/" + area.id), undefined, { online: true }).then(function (plan) {
        var tiles = basemapTiles(map, plan.bounds);
        if (tiles.length > BASEMAP_MAX) tiles = [];
        var unkept = !tiles.length && basemapLayers(map, false).length;
        var bytes = plan.bytes + tiles.length * TILE_BYTES;
        var keep = el("button", { type: "button", class: "gw-primary", text: O.keep });
        var cancel = el("button", { type: "button", class: "gw-secondary", text: O.cancel });
        box.replaceChildren.apply(box, [
          el("p", { class: "gw-offline-plan", text: ctx.fill(O.plan, { name: plan.area.name, buildings: plan.buildings,
            households: plan.households, issues: plan.issues, tiles: tiles.length, mb: mb(bytes) }) }),
          unkept ? el("p", { class: "gw-muted gw-offline-unkept", text: O.basemapNotKept }) : null,
          el("p", { class: "gw-muted", text: ctx.fill(O.kept, { days: plan.days }) }),
          el("div", { class: "gw-buttons" }, keep, cancel)].filter(Boolean));
        cancel.addEventListener("click", function () { box.replaceChildren(button(area, box)); });
        keep.addEventListener("click", function () {
          status(box, O.downloading);
          // Asked to keep the site's storage: a phone short of space may otherwise clear it,
          // the copy and the queue of unsent reports with it.
          if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(function () {});
          fetchCopy(area.id).then(function (copy) {
            return (window.caches ? caches.delete(TILES) : Promise.resolve()).then(function () {
              return keepTiles(tiles, function (done, total) { status(box, ctx.fill(O.tilesProgress, { done: done, total: total })); });
            }).then(function (failed) {
              return save(area.id, { copy: copy, tiles: tiles.length - failed, bytes: bytes, saved_at: new Date().toISOString() })
                .then(function () { return failed; });
            });
          }).then(function (failed) {
            box.replaceChildren(keptLine(area, box));
            if (failed) box.appendChild(el("p", { class: "gw-error", text: ctx.fill(O.tilesFailed, { n: failed }) }));
          }).catch(function (error) {
            status(box, error.refused ? error.message : O.failed, "gw-error");
          });
        });
      }).catch(function (error) {
        status(box, error.refused ? error.message : O.failed, "gw-error");
      });
    }

    function button(area, box) {
      var keep = el("button", { type: "button", class: "gw-secondary gw-offline-keep", text: O.offer });
      keep.addEventListener("click", function () { offer(area, box); });
      return keep;
    }

    function keptLine(area, box) {
      var drop = el("button", { type: "button", class: "gw-secondary", text: O.remove });
      var again = el("button", { type: "button", class: "gw-secondary", text: O.update });
      drop.addEventListener("click", function () {
        forget().then(function () { kept = null; draw(false); box.replaceChildren(button(area, box)); });
      });
      again.addEventListener("click", function () { offer(area, box); });
      return el("div", { class: "gw-offline-kept" },
        el("p", { class: "gw-offline-date", text: ctx.fill(O.keptOn, { when: when(kept.copy.made_at), until: when(kept.copy.expires_at) }) }),
        el("div", { class: "gw-buttons" }, again, drop));
    }

    var LEVELS = { community: true, grid: true, compound: true };
    ctx.areaActions = function (area) {
      if (!LEVELS[area.level]) return null;
      var box = el("div", { class: "gw-offline" });
      if (kept && kept.copy.area.id === area.id) box.appendChild(keptLine(area, box));
      else if (navigator.onLine) box.appendChild(button(area, box));
      else return null;
      return box;
    };

    // The network answered again: the map is its own, not the copy's.
    function reachable() {
      if (drawn) draw(false);
    }

    Gridwalk.offline.answer = answer;
    Gridwalk.offline.reachable = reachable;
    window.addEventListener("offline", function () { draw(true); });
    window.addEventListener("online", function () {
      draw(false);
      ctx.reloadIssues();  // the issues in view from the server again, not the copy
      refresh();
    });
    document.querySelectorAll("form.gw-logout").forEach(function (form) {
      form.addEventListener("submit", function () { forget(); });
    });
    load().then(function (record) {
      kept = record;
      if (!kept) return;
      if (!navigator.onLine) draw(true);
      else refresh();
    });
  }

  window.Gridwalk = window.Gridwalk || {};
  window.Gridwalk.offline = { attach: attach, answer: function () { return null; }, reachable: function () {}, forget: forget,
    lookupIn: lookupIn, DB_NAME: DB_NAME, TILES: TILES };
})();
