/* Household visits on the map: record a visit from a building's panel (tap "record a
 * visit", tap the household, tap save), and the coverage layer, a choropleth of the share
 * of households visited in a window (grids; buildings close up), with its legend and
 * window selector. User-supplied text only ever reaches the page as textContent. */
(function () {
  "use strict";

  var BUILDING_ZOOM = 16;
  var GRID_ZOOM = 12;
  // Upper bounds of the colour classes of the share visited, and their colours.
  var CLASSES = [[0.2, "#c0392b"], [0.5, "#e67e22"], [0.8, "#f4d03f"], [1.0001, "#27ae60"]];
  var NO_HOUSEHOLDS = "#bfc9ca";

  function colour(share) {
    if (share === null || share === undefined) return NO_HOUSEHOLDS;
    for (var i = 0; i < CLASSES.length; i++) if (share < CLASSES[i][0]) return CLASSES[i][1];
    return CLASSES[CLASSES.length - 1][1];
  }

  function iso(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0");
  }

  function day(text) {
    var p = text.split("-");
    return new Date(+p[0], +p[1] - 1, +p[2]);
  }

  // The window's first and last day, both included; "today" is the county's day.
  function windowDates(kind, today, since, until) {
    var t = day(today);
    if (kind === "week") return { since: iso(new Date(t.getFullYear(), t.getMonth(), t.getDate() - (t.getDay() + 6) % 7)), until: today };
    if (kind === "quarter") return { since: iso(new Date(t.getFullYear(), Math.floor(t.getMonth() / 3) * 3, 1)), until: today };
    if (kind === "custom") return { since: since || today, until: until || today };
    return { since: iso(new Date(t.getFullYear(), t.getMonth(), t.getDate() - 29)), until: today };
  }

  function attach(ctx) {
    var map = ctx.map;
    var cfg = ctx.cfg;
    var V = ctx.T.visits;
    var el = ctx.el;

    // The county's day: the page's, or the phone's if later (a page kept on the phone since
    // yesterday must not hold visits to yesterday).
    function today() {
      var phone = "";
      try { phone = new Date().toLocaleDateString("sv-SE", { timeZone: cfg.timezone }); } catch (e) { /* old browser */ }
      return /^\d{4}-\d{2}-\d{2}$/.test(phone) && phone > cfg.today ? phone : cfg.today;
    }

    // --- the coverage layer -------------------------------------------------------------

    var layer = ctx.layers.coverage;
    var box = document.getElementById("gw-coverage");
    var choice = document.getElementById("gw-coverage-window");
    var pending = null;
    var lastKey = null;

    function chosenWindow() {
      var form = new FormData(choice);
      return windowDates(form.get("window"), today(), form.get("since"), form.get("until"));
    }

    function percent(share) {
      return share === null || share === undefined ? "—" : Math.round(share * 100) + "%";
    }

    function coverageSection(place, win) {
      var section = el("section", { class: "gw-coverage-card" },
        el("h3", {}, el("span", { class: "gw-level", text: V.coverage }), " " + (place.name || V.unnamed)),
        el("p", { class: "gw-muted", text: win.since + " – " + win.until }));
      var facts = el("dl", { class: "gw-facts" },
        el("dt", { text: V.visited }),
        el("dd", { class: "gw-visited", text: place.households ?
          ctx.fill(V.visitedOf, { visited: place.visited, total: place.households }) + " (" + percent(place.share) + ")" :
          V.noHouseholds }),
        el("dt", { text: V.lastVisit }),
        el("dd", { text: place.last_visit || V.never }));
      section.appendChild(facts);
      return section;
    }

    function drawCoverage(geometry, figures, level, win) {
      var byId = {};
      figures.places.forEach(function (p) { byId[p.id] = p; });
      layer.clearLayers();
      layer.addLayer(L.geoJSON(geometry, {
        style: function (f) {
          var p = byId[f.id];
          return { color: "#34495e", weight: level === "building" ? 1 : 1.5, fillColor: colour(p ? p.share : null),
                   fillOpacity: 0.6, className: "gw-coverage-shape" };
        },
        onEachFeature: function (f, shape) {
          shape.on("click", function (e) {
            L.DomEvent.stopPropagation(e);
            var p = byId[f.id] || { name: f.properties.name, households: 0, visited: 0, share: null, last_visit: null };
            ctx.lookup(e.latlng, [coverageSection(p, win)]);
          });
        },
      }));
      box.querySelector(".gw-coverage-level").textContent = level === "building" ? V.byBuilding : V.byGrid;
    }

    function refreshCoverage(force) {
      if (!layer || !map.hasLayer(layer)) return;
      var zoom = map.getZoom();
      var note = box.querySelector(".gw-coverage-level");
      if (zoom < GRID_ZOOM) {
        if (pending) pending.abort();
        layer.clearLayers();
        lastKey = null;
        note.textContent = V.zoomIn;
        return;
      }
      var level = zoom >= BUILDING_ZOOM ? "building" : "grid";
      var win = chosenWindow();
      var bbox = ctx.viewBox(level === "building" ? "buildings" : "grids");
      var key = [level, win.since, win.until, bbox].join("|");
      if (key === lastKey && !force) return;
      if (pending) pending.abort();
      var controller = new AbortController();
      pending = controller;
      var query = "bbox=" + bbox + "&since=" + win.since + "&until=" + win.until;
      var geometry = level === "building" ? "buildings?bbox=" + bbox : "areas?level=grid&bbox=" + bbox;
      note.textContent = ctx.T.loading;
      Promise.all([
        ctx.getJSON(ctx.api(geometry), controller.signal),
        ctx.getJSON(ctx.api("coverage?level=" + level + "&" + query), controller.signal),
      ]).then(function (answers) {
        lastKey = key;
        choice.querySelector(".gw-error").hidden = true;
        drawCoverage(answers[0], answers[1], level, win);
      }).catch(function (error) {
        if (error.name === "AbortError") return;
        var message = choice.querySelector(".gw-error");
        message.textContent = error.message && error.message !== "unauthorized" ? error.message : ctx.T.failed;
        message.hidden = false;
        note.textContent = "";
      });
    }

    if (layer && box) {
      var custom = choice.querySelector(".gw-custom");
      choice.addEventListener("change", function () {
        custom.hidden = choice.elements.window.value !== "custom";
        refreshCoverage(true);
      });
      choice.addEventListener("submit", function (e) { e.preventDefault(); refreshCoverage(true); });
      // From the layer control or a link (#coverage).
      layer.on("add", function () {
        box.hidden = false;
        refreshCoverage(true);
      });
      layer.on("remove", function () {
        box.hidden = true;
        if (pending) pending.abort();
        layer.clearLayers();
        lastKey = null;
      });
      map.on("moveend", function () { refreshCoverage(false); });
      if (/[#&]coverage\b/.test(window.location.hash)) map.addLayer(layer);
    }

    // --- recording a visit ----------------------------------------------------------------

    function householdChoices(list) {
      // The member's own households first, then by unit, floor and room; moved-away ones
      // cannot be visited.
      var active = list.filter(function (h) { return h.active; });
      var mine = active.filter(function (h) { return h.mine; });
      var others = active.filter(function (h) { return !h.mine; });
      var group = el("div", { class: "gw-households", role: "radiogroup", "aria-label": V.household });
      mine.concat(others).forEach(function (h) {
        var input = el("input", { type: "radio", name: "household_id", value: String(h.id), required: "required" });
        if (mine.length === 1 && h.mine) input.checked = true;
        group.appendChild(el("label", { class: "gw-chip" + (h.mine ? " gw-chip-mine" : "") }, input,
          el("span", { class: "gw-chip-address", text: h.address }),
          el("span", { class: "gw-chip-name", text: h.head_name || "" })));
      });
      return group;
    }

    function visitForm(b) {
      ctx.showPanel([el("p", { class: "gw-muted", text: ctx.T.loading })]);
      ctx.getJSON(ctx.api("buildings/" + b.id + "/households")).then(function (list) {
        var title = b.name || b.address || V.unnamed;
        if (!list.some(function (h) { return h.active; })) {
          ctx.showPanel([el("h2", { text: V.record + " · " + title }), el("p", { class: "gw-muted", text: V.noHouseholds })]);
          return;
        }
        var hours = el("select", { name: "hours" });
        ["0.5", "1", "1.5", "2", "3", "4"].forEach(function (h) {
          hours.appendChild(el("option", { value: h, text: ctx.fill(V.hoursN, { n: h }) }));
        });
        var message = el("p", { class: "gw-error", hidden: "hidden", role: "alert" });
        var save = el("button", { type: "submit", class: "gw-primary", text: V.save });
        var cancel = el("button", { type: "button", class: "gw-secondary", text: V.cancel });
        var form = el("form", { class: "gw-form gw-visit-form" },
          el("h2", { text: V.record + " · " + title }),
          el("p", { class: "gw-muted", text: V.pick }),
          householdChoices(list),
          el("div", { class: "gw-row" },
            el("label", {}, V.date, el("input", { type: "date", name: "visited_on", value: today(), max: today(), required: "required" })),
            el("label", {}, V.hours, hours)),
          el("label", {}, V.note, el("textarea", { name: "note", rows: "2", maxlength: "4000", placeholder: V.notePlaceholder })),
          el("label", {}, V.needs, el("textarea", { name: "needs", rows: "2", maxlength: "4000" })),
          el("details", { class: "gw-wish" },
            el("summary", { text: V.wish }),
            el("label", {}, V.wishTitle, el("input", { name: "wish_title", maxlength: "200", placeholder: V.wishExample })),
            el("label", {}, V.wishDescription, el("textarea", { name: "wish_description", rows: "2", maxlength: "4000" }))),
          message,
          el("div", { class: "gw-buttons" }, save, cancel));
        cancel.addEventListener("click", function () { ctx.panel.hidden = true; });
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          var body = {};
          new FormData(form).forEach(function (value, name) { if (value !== "") body[name] = value; });
          if (!body.household_id) { message.textContent = V.pickFirst; message.hidden = false; return; }
          body.household_id = +body.household_id;
          body.hours = +body.hours;
          var household = list.filter(function (h) { return h.id === body.household_id; })[0];
          body.person_id = cfg.personId;  // whoever is logged in when the queue sends it
          var record = { kind: "visit", client_id: ctx.newId(), body: body, saved_at: Date.now(),
            title: V.record + " · " + title + " " + household.address };
          save.disabled = true;
          // Through the offline queue: with no network (a stairwell, a basement) the visit
          // waits on the phone and is sent, once, when the network returns.
          ctx.keepAndSend(record, true).then(function (outcome) {
            save.disabled = false;
            if (outcome.refused) { message.textContent = outcome.message; message.hidden = false; return; }
            var done = [];
            if (outcome.sent) {
              done.push(el("p", { class: "gw-ok", role: "status",
                text: ctx.fill(V.recorded, { household: household.address, building: title }) }));
              if (!outcome.data.by_assignee) done.push(el("p", { class: "gw-muted", text: V.notAssignee }));
              refreshCoverage(true);
            } else {
              done.push(el("p", { class: "gw-ok", role: "status", text: outcome.message }));
            }
            if (body.wish_title) done.push(el("p", { class: "gw-muted", text: ctx.fill(V.wishRaised, { wish: body.wish_title }) }));
            var again = el("button", { type: "button", class: "gw-secondary", text: V.another });
            again.addEventListener("click", function () { visitForm(b); });
            done.push(el("div", { class: "gw-buttons" }, again));
            ctx.showPanel(done);
          }).catch(function () {
            save.disabled = false;
            message.textContent = ctx.T.failed;
            message.hidden = false;
          });
        });
        ctx.showPanel([form]);
      }).catch(function (error) {
        ctx.showPanel([el("p", { class: "gw-error", text: error.message || ctx.T.failed })]);
      });
    }

    // A visit that waited on the phone has gone out: the map shows it.
    ctx.visitSent = function () { refreshCoverage(true); };

    if (cfg.canVisit) {
      ctx.buildingActions = function (b) {
        if (!b.household_count) return null;
        var button = el("button", { type: "button", class: "gw-primary gw-visit-button", text: V.record });
        button.addEventListener("click", function () { visitForm(b); });
        return el("div", { class: "gw-buttons" }, button);
      };
    }
  }

  window.Gridwalk = window.Gridwalk || {};
  window.Gridwalk.visits = { attach: attach, colour: colour, windowDates: windowDates };
})();
