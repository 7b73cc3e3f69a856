/* Gridwalk's service worker: once an officer has opened the map with a network, it opens
 * again without one (a basement, a dead spot), so the offline queue of reports and visits
 * can be seen and added to. It keeps only the map page and our static files — never API
 * answers, which hold residents' personal data. Logging out (any visit to the login page,
 * or the map answering with a redirect to it) forgets the kept page. */
"use strict";

var PAGES = "gridwalk-pages-v1";
var ASSETS = "gridwalk-assets-v1";

self.addEventListener("install", function () { self.skipWaiting(); });

self.addEventListener("activate", function (event) {
  // Caches of an older worker go.
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf("gridwalk-") === 0 && n !== PAGES && n !== ASSETS; })
      .map(function (n) { return caches.delete(n); }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;  // basemap tiles: the browser's business
  if (request.mode === "navigate" && url.pathname === "/") {
    event.respondWith(mapPage(request));
  } else if (request.mode === "navigate" && url.pathname === "/login") {
    event.waitUntil(caches.delete(PAGES));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(staticFile(request));
  }
});

// The network first, so the page is always today's; the kept copy only without one.
function mapPage(request) {
  return fetch(request).then(function (response) {
    if (response.ok && response.type === "basic") {
      var copy = response.clone();
      caches.open(PAGES).then(function (cache) { return cache.put("/", copy); });
    } else if (response.type === "opaqueredirect") {
      caches.delete(PAGES);  // sent to the login page: this login is over
    }
    return response;
  }, function () {
    return caches.open(PAGES).then(function (cache) { return cache.match("/"); }).then(function (kept) {
      return kept || Response.error();
    });
  });
}

// Our scripts and styles are named by their content (?v=digest), vendored libraries by
// their version: a kept copy is always right. A new version of a file replaces the old.
function staticFile(request) {
  return caches.open(ASSETS).then(function (cache) {
    return cache.match(request).then(function (kept) {
      if (kept) return kept;
      return fetch(request).then(function (response) {
        if (response.ok) {
          var path = new URL(request.url).pathname;
          cache.put(request, response.clone()).then(function () { return cache.keys(); }).then(function (keys) {
            keys.forEach(function (key) {
              var other = new URL(key.url);
              if (other.pathname === path && key.url !== request.url) cache.delete(key);
            });
          });
        }
        return response;
      });
    });
  });
}
