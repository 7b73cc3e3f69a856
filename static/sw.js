/* Gridwalk's service worker: once an officer has opened the map with a network, it opens
 * again without one (a basement, a dead spot), so the offline queue of reports and visits
 * can be seen and added to. It keeps only the map page and our static files — never API
 * answers, which hold residents' personal data: an area kept for offline use is the page's
 * own (gridwalk-offline.js, in IndexedDB), and only its basemap tiles are answered from
 * here when the network fails. Logging out (any visit to the login page, or the map
 * answering with a redirect to it) forgets the kept page and the offline copy. */
"use strict";

var PAGES = "gridwalk-pages-v1";
var ASSETS = "gridwalk-assets-v1";
var OFFLINE_TILES = "gridwalk-offline-tiles";  // filled by gridwalk-offline.js
var OFFLINE_DB = "gridwalk-offline";
// With one bar of signal the page may never come: after this long the kept one opens.
var PAGE_WAIT_MS = 6000;

self.addEventListener("install", function () { self.skipWaiting(); });

self.addEventListener("activate", function (event) {
  // Caches of an older worker go.
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("gridwalk-") === 0 && [PAGES, ASSETS, OFFLINE_TILES].indexOf(n) < 0; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (request.destination === "image" && url.pathname.indexOf("/static/") !== 0) {
    // A basemap tile (the provider's, or the county's own file): the network, else the
    // one kept for offline use, if any.
    event.respondWith(fetch(request).catch(function () {
      return caches.open(OFFLINE_TILES).then(function (cache) { return cache.match(request.url); })
        .then(function (kept) { return kept || Response.error(); });
    }));
    return;
  }
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname === "/") {
    event.respondWith(mapPage(event));
  } else if (request.mode === "navigate" && url.pathname === "/login") {
    event.waitUntil(loggedOut());
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(staticFile(event).catch(function () { return fetch(request); }));
  }
});

// What this login kept on the phone goes with it: the map page and the offline copy.
function loggedOut() {
  return Promise.all([
    caches.delete(PAGES),
    caches.delete(OFFLINE_TILES),
    new Promise(function (resolve) {
      var request = indexedDB.deleteDatabase(OFFLINE_DB);
      request.onsuccess = request.onerror = request.onblocked = function () { resolve(); };
    }),
  ]).catch(function () {});
}

// The first open of the map, before this worker served it: the page asks for itself and
// what it loaded to be kept, so that the very next open works without a network.
self.addEventListener("message", function (event) {
  var keep = event.data && event.data.keep;
  if (!Array.isArray(keep)) return;
  var ours = keep.filter(function (u) {
    try { var url = new URL(u); } catch (e) { return false; }
    return url.origin === self.location.origin && url.pathname.indexOf("/static/") === 0;
  });
  event.waitUntil(Promise.all([
    fetch("/", { credentials: "same-origin" }).then(function (response) {
      if (response.ok && !response.redirected) return caches.open(PAGES).then(function (c) { return c.put("/", response); });
    }),
    caches.open(ASSETS).then(function (cache) {
      return Promise.all(ours.map(function (u) {
        return cache.match(u).then(function (kept) { return kept || cache.add(u); });
      }));
    }),
  ]).catch(function () { /* kept next time */ }));
});

// The network first, so the page is always today's; the kept copy without one, or when the
// network is too slow to wait for.
function mapPage(event) {
  var network = fetch(event.request).then(function (response) {
    if (response.ok && response.type === "basic") {
      var copy = response.clone();
      event.waitUntil(caches.open(PAGES).then(function (cache) { return cache.put("/", copy); }).catch(function () {}));
    } else if (response.type === "opaqueredirect") {
      event.waitUntil(loggedOut());  // sent to the login page: this login is over
    }
    return response;
  });
  var kept = caches.open(PAGES).then(function (cache) { return cache.match("/"); }).catch(function () { return undefined; });
  return new Promise(function (resolve) {
    var timer = setTimeout(function () { kept.then(function (page) { if (page) resolve(page); }); }, PAGE_WAIT_MS);
    network.then(function (response) { clearTimeout(timer); resolve(response); }, function () {
      clearTimeout(timer);
      kept.then(function (page) { resolve(page || Response.error()); });
    });
  });
}

// Our scripts and styles are named by their content (?v=digest), vendored libraries by
// their version: a kept copy is always right. A new version of a file replaces the old.
function staticFile(event) {
  var request = event.request;
  return caches.open(ASSETS).then(function (cache) {
    return cache.match(request).then(function (kept) {
      if (kept) return kept;
      return fetch(request).then(function (response) {
        if (response.ok) {
          var path = new URL(request.url).pathname;
          event.waitUntil(cache.put(request, response.clone()).then(function () { return cache.keys(); }).then(function (keys) {
            return Promise.all(keys.filter(function (key) {
              return new URL(key.url).pathname === path && key.url !== request.url;
            }).map(function (key) { return cache.delete(key); }));
          }).catch(function () {}));
        }
        return response;
      });
    });
  });
}
