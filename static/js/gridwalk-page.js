/* Gridwalk, every page: the bar's menu that folds on a phone, and folded filters that
   stand open on a wide screen. No framework; the pages work without it (gridwalk-nojs.css). */
(function () {
  "use strict";
  var WIDE = window.matchMedia("(min-width: 1024px)");

  function setUpMenu(bar) {
    var button = bar.querySelector(".gw-menu-button");
    if (!button) return;
    function show(open) {
      bar.classList.toggle("gw-open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function (e) {
      e.stopPropagation();
      show(!bar.classList.contains("gw-open"));
      if (bar.classList.contains("gw-open")) {
        var first = bar.querySelector(".gw-nav a");
        if (first) first.focus({ preventScroll: true });
      }
    });
    document.addEventListener("click", function (e) {
      if (bar.classList.contains("gw-open") && !bar.contains(e.target)) show(false);
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && bar.classList.contains("gw-open")) { show(false); button.focus(); }
    });
    WIDE.addEventListener("change", function () { show(false); });
  }

  // A fold marked data-open-wide (the filters of a list) starts open where there is room.
  function openWideFolds() {
    if (!WIDE.matches) return;
    document.querySelectorAll("details[data-open-wide]").forEach(function (d) { d.open = true; });
  }

  // A drop-down (downloads) closes when the user taps elsewhere.
  document.addEventListener("click", function (e) {
    document.querySelectorAll("details.gw-drop[open]").forEach(function (d) {
      if (!d.contains(e.target)) d.open = false;
    });
  });

  // The bell's unread count, asked again every minute while the page is in sight (a map
  // stays open all day); a failed ask leaves the last count.
  function keepCountingUnread(bar) {
    var url = bar.dataset.unreadUrl;
    if (!url) return;
    function show(n) {
      bar.querySelectorAll(".gw-bell-count").forEach(function (badge) {
        badge.textContent = n < 100 ? String(n) : "99+";
        badge.hidden = !n;
      });
    }
    function ask() {
      if (document.hidden || !navigator.onLine) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) { if (data && typeof data.unread === "number") show(data.unread); })
        .catch(function () { /* offline: the count waits */ });
    }
    setInterval(ask, 60000);
    document.addEventListener("visibilitychange", ask);
  }

  function start() {
    document.documentElement.classList.add("gw-js");
    document.querySelectorAll(".gw-bar").forEach(setUpMenu);
    document.querySelectorAll(".gw-bar").forEach(keepCountingUnread);
    openWideFolds();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
