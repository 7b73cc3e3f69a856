/* Gridwalk in the field: report a problem where you stand (GPS, or drag the pin / tap the
 * map), with photos; reports and household visits wait in the browser (IndexedDB) while
 * there is no network and go out, exactly once, when it returns. An issue's timeline and the steps of its
 * workflow; walking patrols with their route.
 * User-supplied text only ever reaches the page as textContent. */
(function () {
  "use strict";

  var DB_NAME = "gridwalk";
  var STORE = "reports";
  var RETRY_MS = 30000;
  var TRACK_SEND_MS = 120000;
  var MIN_STEP_M = 5;
  var MAX_ACCURACY_M = 50;

  // --- the offline queue ------------------------------------------------------------------

  function openQueue() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = function () {
        request.result.createObjectStore(STORE, { keyPath: "client_id" });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function inStore(mode, work) {
    return openQueue().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var result = work(tx.objectStore(STORE));
        tx.oncomplete = function () { db.close(); resolve(result && result.result !== undefined ? result.result : result); };
        tx.onerror = function () { db.close(); reject(tx.error); };
      });
    });
  }

  var queue = {
    all: function () { return inStore("readonly", function (store) { return store.getAll(); }); },
    put: function (record) { return inStore("readwrite", function (store) { store.put(record); }); },
    remove: function (id) { return inStore("readwrite", function (store) { store.delete(id); }); },
  };

  // A report's id, made on the phone: however often it is sent, it is stored once.
  function newId() {
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function attach(ctx) {
    var map = ctx.map;
    var cfg = ctx.cfg;
    var T = ctx.T;
    var F = T.field;
    var el = ctx.el;
    var reportButton = document.getElementById("gw-report");
    var patrolButton = document.getElementById("gw-patrol");
    var badge = document.getElementById("gw-queue");
    var pin = null;
    var units = null;
    var flushing = false;

    function post(path, body, files) {
      var init = { method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": cfg.csrf, Accept: "application/json" } };
      if (files && files.length) {
        var form = new FormData();
        Object.keys(body).forEach(function (key) {
          var value = body[key];
          if (value === null || value === undefined || value === "") return;
          form.append(key, Array.isArray(value) ? value.join(",") : value);
        });
        files.forEach(function (f) { form.append("photos", f.blob, f.name); });
        init.body = form;
      } else {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(ctx.api(path), init).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          return { status: response.status, data: data };
        });
      });
    }

    function errorText(result) {
      return (result.data && result.data.error && result.data.error.message) || F.failed;
    }

    function categories() {
      var cached = cfg.categories;
      try { cached = JSON.parse(localStorage.getItem("gw-categories") || "null") || cached; } catch (e) { /* keep the page's */ }
      // Known categories work offline; the list is refreshed whenever the network allows.
      return ctx.getJSON(ctx.api("categories")).then(function (list) {
        localStorage.setItem("gw-categories", JSON.stringify(list));
        return list;
      }).catch(function () { return cached; });
    }

    function allUnits() {
      if (units) return Promise.resolve(units);
      return ctx.getJSON(ctx.api("units?all=1")).then(function (list) { units = list; return list; });
    }

    // --- the waiting reports ------------------------------------------------------------

    function noop() { /* the phone keeps nothing: carry on */ }

    // What this login left on the phone. Another login's records wait for it: sent now,
    // they would be stored as this login's work.
    function mine() {
      return queue.all().then(function (records) {
        return records.filter(function (r) { return !r.user_id || r.user_id === cfg.userId; });
      });
    }

    function showCount() {
      return mine().then(function (records) {
        var refused = records.filter(function (r) { return r.refused; }).length;
        var waiting = records.length - refused;
        var parts = [];
        if (waiting) parts.push(ctx.fill(F.waiting, { n: waiting }));
        if (refused) parts.push(ctx.fill(F.needAttention, { n: refused }));
        badge.textContent = parts.join(" · ");
        badge.hidden = records.length === 0;
        return waiting;
      }).catch(function () { badge.hidden = true; return 0; });
    }

    // What waits in the queue: issue reports (the first kind, so records without a kind)
    // and household visits. Each is sent with its client_id, so a resend is stored once.
    var KINDS = {
      issue: {
        path: "issues",
        body: function (r) {
          return { client_id: r.client_id, lon: r.lon, lat: r.lat, category: r.category,
            description: r.description, patrol_id: r.patrol_id };
        },
        title: function (r) { return r.category; },
        text: function (r) { return r.description; },
      },
      visit: {
        path: "visits",
        body: function (r) { return Object.assign({}, r.body, { client_id: r.client_id }); },
        title: function (r) { return r.title; },
        text: function (r) { return r.body.note || ""; },
      },
    };

    function kindOf(record) { return KINDS[record.kind || "issue"]; }

    function sent(record, data) {
      if (record.kind === "visit") { if (ctx.visitSent) ctx.visitSent(data); } else ctx.reloadIssues();
    }

    // One send of a record at a time: the form, the timer and the "online" event may all
    // reach for the same one.
    var inFlight = {};

    function send(record) {
      var id = record.client_id;
      if (inFlight[id]) return Promise.resolve({ sent: false, message: F.savedOffline });
      inFlight[id] = true;
      return sendNow(record).finally(function () { delete inFlight[id]; });
    }

    function sendNow(record) {
      var kind = kindOf(record);
      return post(kind.path, kind.body(record), record.photos).then(function (result) {
        if (result.status === 200 || result.status === 201) {
          return queue.remove(record.client_id).catch(noop).then(function () {
            return { sent: true, data: result.data, issue: result.data };
          });
        }
        var code = result.data && result.data.error && result.data.error.code;
        if (code === "patrol_ended" && record.patrol_id) {
          // The patrol was ended while the phone was offline: the report stands on its own.
          record.patrol_id = null;
          return queue.put(record).catch(noop).then(function () { return sendNow(record); });
        }
        if (result.status >= 400 && result.status < 500 && [401, 408, 429].indexOf(result.status) < 0) {
          // The server will not take it as it is: kept, and shown to the officer to decide.
          record.refused = errorText(result);
          return queue.put(record).catch(noop).then(function () {
            return { sent: false, refused: true, message: record.refused, record: record };
          });
        }
        return { sent: false, message: result.status === 401 ? F.loginAgain : F.savedOffline };
      }, function () {
        return { sent: false, message: F.savedOffline };
      });
    }

    function flush() {
      if (flushing || !navigator.onLine) return Promise.resolve();
      flushing = true;
      return mine().then(function (records) {
        return records.filter(function (r) { return !r.refused; }).reduce(function (chain, record) {
          return chain.then(function () { return send(record); }).then(function (outcome) {
            if (outcome.sent) sent(record, outcome.data);
          });
        }, Promise.resolve());
      }).catch(noop).then(showCount).finally(function () { flushing = false; });
    }

    // The list behind the badge: what waits, what was refused and why; resend or drop.
    function showQueue() {
      mine().then(function (records) {
        var list = el("ul", { class: "gw-queue-list" });
        records.forEach(function (record) {
          var resend = el("button", { type: "button", class: "gw-primary", text: F.resend });
          var drop = el("button", { type: "button", class: "gw-secondary", text: F.discard });
          resend.addEventListener("click", function () {
            delete record.refused;
            queue.put(record).then(function () { return send(record); }).then(function (outcome) {
              if (outcome.sent) sent(record, outcome.data);
              showCount();
              showQueue();
            });
          });
          drop.addEventListener("click", function () {
            if (window.confirm(F.discardSure)) queue.remove(record.client_id).then(showCount).then(showQueue);
          });
          list.appendChild(el("li", { class: record.refused ? "gw-refused" : "" },
            el("strong", { text: kindOf(record).title(record) }),
            el("span", { class: "gw-muted", text: " " + new Date(record.saved_at).toLocaleString() }),
            el("p", { text: kindOf(record).text(record) }),
            el("p", { class: record.refused ? "gw-error" : "gw-muted", text: record.refused || F.willSend }),
            el("div", { class: "gw-buttons" }, resend, drop)));
        });
        ctx.showPanel([el("h2", { text: F.queueTitle }),
          records.length ? list : el("p", { class: "gw-muted", text: F.queueEmpty })]);
      });
    }

    badge.addEventListener("click", showQueue);
    window.addEventListener("online", flush);
    setInterval(function () { showCount().then(function (n) { if (n) flush(); }); }, RETRY_MS);
    showCount().then(function (n) { if (n) flush(); });

    // --- reporting ----------------------------------------------------------------------

    function placePin(latlng) {
      if (pin) pin.setLatLng(latlng);
      else {
        pin = L.marker(latlng, { draggable: true, autoPan: true, title: F.dragPin,
          icon: L.divIcon({ className: "gw-pin", iconSize: [30, 42], iconAnchor: [15, 42] }) }).addTo(map);
        pin.on("dragend", moved);
      }
      moved();
    }

    var nearbyTimer = null;
    function moved() {
      clearTimeout(nearbyTimer);
      nearbyTimer = setTimeout(showNearby, 300);
    }

    function stopReport() {
      ctx.takesTap = null;
      if (pin) { map.removeLayer(pin); pin = null; }
      document.body.classList.remove("gw-reporting");
    }

    function startReport() {
      stopReport();
      document.body.classList.add("gw-reporting");
      ctx.takesTap = function (latlng) {
        placePin(latlng);
        showFix({ text: F.placedByHand, ok: true });
        return true;
      };
      placePin(map.getCenter());
      fix = { text: navigator.geolocation ? F.locating : F.noFix, ok: false };
      function located(position) {
        if (!pin) return;
        var here = L.latLng(position.coords.latitude, position.coords.longitude);
        placePin(here);
        map.panTo(here, { animate: false });
        ctx.keepInSight(here);
        showFix({ text: ctx.fill(F.located, { m: Math.round(position.coords.accuracy) }), ok: true });
      }
      if (lastPosition && Date.now() - lastPosition.timestamp < 60000) {
        located(lastPosition);  // a patrol is following the phone already: use its latest fix
      } else if (navigator.geolocation) {
        navigator.geolocation.getCurrentPosition(located, function () {
          // No GPS: the pin stays where the officer puts it.
          showFix({ text: F.noFix, ok: false });
        }, { enableHighAccuracy: true, timeout: 8000, maximumAge: 30000 });
      }
      categories().then(renderForm);
    }

    var lastPosition = null;

    var fix = null;
    function showFix(state) {
      fix = state;
      var line = document.getElementById("gw-fix");
      if (line) {
        line.textContent = state.text;
        line.className = state.ok ? "gw-fix gw-fix-ok" : "gw-fix";
      }
    }

    var form = null;
    function renderForm(list) {
      // No category is preset: a hurried report must not land in the first one by default.
      var select = el("select", { name: "category", required: "required" });
      select.appendChild(el("option", { value: "", text: F.chooseCategory, disabled: "disabled", selected: "selected" }));
      list.forEach(function (c) { select.appendChild(el("option", { value: c.code, text: c.name })); });
      var description = el("textarea", { name: "description", rows: "3", maxlength: "4000", placeholder: F.describe });
      var photos = el("input", { type: "file", name: "photos", accept: "image/jpeg,image/png,image/webp", multiple: "multiple" });
      var previews = el("div", { class: "gw-previews" });
      photos.addEventListener("change", function () {
        previews.replaceChildren();
        Array.prototype.slice.call(photos.files, 0, 3).forEach(function (file) {
          previews.appendChild(el("img", { src: URL.createObjectURL(file), alt: "" }));
        });
      });
      var patrol = runningPatrol();
      var onPatrol = patrol ? el("label", { class: "gw-check" },
        el("input", { type: "checkbox", name: "on_patrol", checked: "checked" }), " " + F.onPatrol) : null;
      var nearby = el("div", { class: "gw-nearby", id: "gw-nearby" });
      var message = el("p", { class: "gw-error", hidden: "hidden", role: "alert" });
      var submit = el("button", { type: "submit", class: "gw-primary", text: F.submit });
      var cancel = el("button", { type: "button", class: "gw-secondary", text: F.cancel });
      form = el("form", { class: "gw-form gw-report-form", id: "gw-report-form" },
        el("h2", { text: F.title }),
        el("p", { class: "gw-muted", text: F.placeHint }),
        el("p", { id: "gw-fix", class: fix && fix.ok ? "gw-fix gw-fix-ok" : "gw-fix", text: fix ? fix.text : "" }),
        el("label", {}, F.category, select),
        el("label", {}, F.description, description),
        el("label", {}, F.photos, photos), previews,
        onPatrol, nearby, message,
        el("div", { class: "gw-buttons" }, submit, cancel));
      select.addEventListener("change", moved);
      cancel.addEventListener("click", function () { stopReport(); ctx.panel.hidden = true; });
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var files = Array.prototype.slice.call(photos.files);
        if (files.length > 3) { message.textContent = F.tooManyPhotos; message.hidden = false; return; }
        var at = pin.getLatLng();
        var record = {
          client_id: newId(), lon: +at.lng.toFixed(7), lat: +at.lat.toFixed(7), category: select.value,
          description: description.value, patrol_id: onPatrol && onPatrol.firstChild.checked ? patrol.id : null,
          photos: files.map(function (f) { return { name: f.name, blob: f }; }), saved_at: Date.now(),
        };
        submit.disabled = true;
        keepAndSend(record, false).then(function (outcome) {
          submit.disabled = false;
          if (outcome.sent) {
            stopReport();
            ctx.reloadIssues();
            showIssueData(outcome.issue, F.sentTo);
          } else if (outcome.refused) {
            message.textContent = outcome.message;
            message.hidden = false;
          } else {
            stopReport();
            ctx.showPanel([el("p", { class: "gw-ok", role: "status", text: outcome.message })]);
          }
        });
      });
      ctx.showPanel([form]);
      if (pin) ctx.keepInSight(pin.getLatLng());
      moved();
    }

    function showNearby() {
      var box = document.getElementById("gw-nearby");
      if (!box || !pin || !navigator.onLine) return;
      var at = pin.getLatLng();
      var category = form ? form.querySelector("select[name=category]").value : "";
      ctx.getJSON(ctx.api("issues/nearby?lon=" + at.lng.toFixed(7) + "&lat=" + at.lat.toFixed(7) +
        "&category=" + encodeURIComponent(category))).then(function (found) {
        box.replaceChildren();
        if (!found.length) return;
        box.appendChild(el("p", { class: "gw-muted", text: F.isItOneOf }));
        found.forEach(function (issue) {
          var add = el("button", { type: "button", class: "gw-secondary", text: F.addToThis });
          add.addEventListener("click", function () { addTo(issue.id); });
          box.appendChild(el("div", { class: "gw-near" },
            el("span", { text: issue.category + " · " + Math.round(issue.metres) + " m · " }),
            el("span", { text: issue.description }), add));
        });
      }).catch(function () { /* offline or refused: no suggestions */ });
    }

    // Instead of a second issue: the officer's words and photos go to the first one.
    function addTo(issueId) {
      var description = form.querySelector("textarea").value;
      var files = Array.prototype.slice.call(form.querySelector("input[type=file]").files, 0, 3)
        .map(function (f) { return { name: f.name, blob: f }; });
      // A comment needs no version. With no network the form stays open: the officer can
      // still file it as a report of its own, which waits on the phone.
      post("issues/" + issueId + "/events", { kind: "comment", note: description || F.sameProblem }, files)
        .then(function (result) {
          if (result.status === 201) { stopReport(); showIssueData(result.data); ctx.reloadIssues(); }
          else alert(errorText(result));
        }, function () { alert(F.addNeedsNetwork); });
    }

    // Kept first, sent second: a record survives a dead network or a closed tab. If the
    // phone cannot keep it (storage full, private mode), it is sent straight away. One the
    // server refuses stays in the queue for the officer to decide, unless the form it came
    // from is still open to mend it (`mendable`).
    function keepAndSend(record, mendable) {
      record.user_id = cfg.userId;
      return queue.put(record).then(function () { return send(record); }, function () {
        return send(record).then(function (outcome) {
          return outcome.sent || outcome.refused ? outcome : { sent: false, refused: true, message: F.notKept };
        });
      }).then(function (outcome) {
        return (outcome.refused && mendable ? queue.remove(record.client_id) : Promise.resolve())
          .catch(noop).then(showCount).then(function () { return outcome; });
      });
    }

    if (reportButton) reportButton.addEventListener("click", startReport);
    ctx.post = post;
    ctx.errorText = errorText;
    ctx.newId = newId;
    ctx.keepAndSend = keepAndSend;

    // --- an issue's timeline and steps --------------------------------------------------

    function showIssue(id) {
      ctx.showPanel([el("p", { class: "gw-muted", text: T.loading })]);
      ctx.getJSON(ctx.api("issues/" + id)).then(function (issue) { showIssueData(issue); }, function () {
        ctx.showPanel([el("p", { class: "gw-error", text: T.failed })]);
      });
    }

    // A photo with when and where it was taken, from its EXIF data, when it says.
    function photoImage(issue, photoId) {
      var url = ctx.api("issues/" + issue.id + "/photos/" + photoId);
      var photo = issue.photos.filter(function (p) { return p.id === photoId; })[0] || {};
      var facts = [];
      if (photo.taken_at) facts.push(ctx.fill(F.takenAt, { at: photo.taken_at.slice(5, 16).replace("T", " ") }));
      if (photo.metres !== null && photo.metres !== undefined) facts.push(ctx.fill(F.takenFrom, { m: photo.metres }));
      return el("figure", { class: "gw-photo" },
        el("a", { href: url + "?size=original", target: "_blank", rel: "noopener" },
          el("img", { src: url, alt: "", loading: "lazy" })),
        facts.length ? el.apply(null, ["figcaption", { class: "gw-muted" }].concat(
          facts.map(function (fact) { return el("div", { text: fact }); }))) : null);
    }

    function showIssueData(issue, banner, warning) {
      var nodes = [];
      if (banner) {
        nodes.push(el("p", warning ? { class: "gw-error", role: "alert", text: banner }
                                   : { class: "gw-ok", role: "status", text: banner }));
      }
      var head = el("section", { class: "gw-issue-card", "data-issue-id": issue.id },
        el("h2", {}, el("span", { class: "gw-badge gw-status-" + issue.status, text: T.statuses[issue.status] }),
          " " + issue.category_name + " #" + issue.id),
        issue.overdue ? el("p", {}, el("span", { class: "gw-badge gw-overdue-badge", text: T.overdue })) : null,
        issue.source === "resident" ? el("p", { class: "gw-muted", text: F.byResident }) : null,
        el("p", { text: issue.description }),
        el("p", { class: "gw-trail", text: (issue.building ? issue.building.name + " · " : "") +
          issue.areas.slice().reverse().filter(function (a) { return a.level !== "county"; })
            .map(function (a) { return a.name; }).join(" › ") }),
        issue.deadline ? el("p", { class: "gw-muted", text: T.deadline + " " + issue.deadline }) : null);
      nodes.push(head);
      if (issue.routed_to) {
        // Whom the report went to when it was made: the unit, and the cadres from the
        // building up to the grid, each with their own unit.
        var routed = el("div", { class: "gw-routed" }, el("h4", { text: F.routedTo }));
        var first = issue.routed_to.unit;
        if (first) routed.appendChild(el("p", {}, el("span", { class: "gw-muted", text: F.responsibleUnit + " " }),
          el("strong", { class: "gw-routed-unit", text: first.name })));
        issue.routed_to.people.forEach(function (p) {
          var shown = { name: p.name, phone: p.phone, title: [p.unit, p.title].filter(Boolean).join(" ") };
          routed.appendChild(el("div", { class: "gw-who" }, ctx.person(shown)));
        });
        if (issue.unit && first && issue.unit.id !== first.id) {
          routed.appendChild(el("p", { class: "gw-muted", text: ctx.fill(F.nowWith, { unit: issue.unit.name }) }));
        }
        nodes.push(routed);
      } else if (issue.unit) {
        nodes.push(el("p", {}, el("span", { class: "gw-muted", text: F.currentUnit + ": " }),
          el("strong", { class: "gw-routed-unit", text: issue.unit.name })));
      }
      var timeline = el("ol", { class: "gw-timeline" });
      issue.events.forEach(function (e) {
        var item = el("li", {},
          el("strong", { text: F.events[e.kind] || e.kind }),
          el("span", { class: "gw-muted", text: " " + e.at.slice(0, 16).replace("T", " ") + (e.by ? " · " + e.by : "") }),
          e.note ? el("p", { text: e.note }) : null,
          e.data.decision ? el("p", { text: F.decision + ": " + e.data.decision }) : null,
          e.data.deadline ? el("p", { text: T.deadline + ": " + e.data.deadline }) : null,
          e.data.attending_units && e.data.attending_units.length
            ? el("p", { text: F.attending + ": " + e.data.attending_units.map(function (u) { return u.name; }).join("、") }) : null,
          e.kind === "refer" && e.unit ? el("p", { text: F.referredTo + ": " + e.unit.name }) : null);
        if (e.photo_ids.length) {
          var strip = el("div", { class: "gw-previews" });
          e.photo_ids.forEach(function (pid) { strip.appendChild(photoImage(issue, pid)); });
          item.appendChild(strip);
        }
        timeline.appendChild(item);
      });
      nodes.push(el("h4", { text: F.timeline }), timeline);
      if (issue.allowed.length) {
        var actions = el("div", { class: "gw-buttons gw-actions" });
        issue.allowed.forEach(function (kind) {
          var b = el("button", { type: "button", class: kind === "comment" ? "gw-secondary" : "gw-primary", text: F.steps[kind] });
          b.addEventListener("click", function () { stepForm(issue, kind, actions); });
          actions.appendChild(b);
        });
        nodes.push(actions);
      }
      ctx.showPanel(nodes);
      var at = L.latLng(issue.lat, issue.lon);
      ctx.highlight.clearLayers();
      ctx.highlight.addLayer(L.circleMarker(at, { radius: 14, color: "#e67e22", weight: 3, fill: false, interactive: false }));
      ctx.keepInSight(at);
    }

    function unitSelect(name, multiple, chosen) {
      var select = el("select", multiple ? { name: name, multiple: "multiple", size: "5" } : { name: name });
      if (!multiple) select.appendChild(el("option", { value: "", text: "—" }));
      allUnits().then(function (list) {
        list.forEach(function (u) {
          var option = el("option", { value: String(u.id), text: u.name });
          if (chosen === u.id) option.selected = true;
          select.appendChild(option);
        });
      });
      return select;
    }

    function stepForm(issue, kind, replace) {
      var fields = [];
      var note = el("textarea", { name: "note", rows: "3", maxlength: "4000" });
      if (kind === "meeting") {
        fields.push(el("label", {}, F.decision, el("textarea", { name: "decision", rows: "2", required: "required", maxlength: "4000" })));
        fields.push(el("label", {}, F.attending, unitSelect("attending_unit_ids", true)));
        fields.push(el("label", {}, F.responsibleUnit, unitSelect("unit_id", false, issue.unit && issue.unit.id)));
        fields.push(el("label", {}, T.deadline, el("input", { type: "date", name: "deadline" })));
        fields.push(el("label", {}, F.note, note));
      } else if (kind === "refer") {
        fields.push(el("label", {}, F.referTo, unitSelect("unit_id", false)));
        fields.push(el("label", {}, F.reason, note));
      } else {
        fields.push(el("label", {}, kind === "resolve" ? F.whatWasDone : kind === "reopen" ? F.reason : F.note, note));
      }
      var photos = null;
      if (kind === "resolve" || kind === "comment") {
        photos = el("input", { type: "file", name: "photos", accept: "image/jpeg,image/png,image/webp", multiple: "multiple" });
        fields.push(el("label", {}, kind === "resolve" ? F.afterPhotos : F.photos, photos));
      }
      var message = el("p", { class: "gw-error", hidden: "hidden", role: "alert" });
      var submit = el("button", { type: "submit", class: "gw-primary", text: F.steps[kind] });
      var form = el("form", { class: "gw-form gw-step-form", "data-kind": kind }, el("h4", { text: F.steps[kind] }));
      fields.forEach(function (f) { form.appendChild(f); });
      form.appendChild(message);
      form.appendChild(submit);
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        var body = { kind: kind, version: issue.version };
        new FormData(form).forEach(function (value, name) {
          if (name === "photos" || value === "") return;
          if (name === "attending_unit_ids") (body[name] = body[name] || []).push(+value);
          else if (name === "unit_id") body[name] = +value;
          else body[name] = value;
        });
        var files = photos ? Array.prototype.slice.call(photos.files).map(function (f) { return { name: f.name, blob: f }; }) : [];
        submit.disabled = true;
        post("issues/" + issue.id + "/events", body, files).then(function (result) {
          submit.disabled = false;
          if (result.status === 201) { showIssueData(result.data); ctx.reloadIssues(); return; }
          message.textContent = errorText(result);
          message.hidden = false;
          if (result.status === 409) {
            // Someone acted first: show the issue as it is now, with why this step did not go.
            var why = errorText(result);
            ctx.getJSON(ctx.api("issues/" + issue.id)).then(function (now) {
              showIssueData(now, why, true);
              ctx.reloadIssues();
            }, function () { /* the message stays on the form */ });
          }
        }, function () {
          submit.disabled = false;
          message.textContent = F.needsNetwork;
          message.hidden = false;
        });
      });
      replace.replaceWith(form);
    }

    Gridwalk.showIssue = showIssue;
    var opened = /[#&]issue=(\d+)/.exec(window.location.hash);
    if (opened) {
      ctx.getJSON(ctx.api("issues/" + opened[1])).then(function (issue) {
        map.setView([issue.lat, issue.lon], 18);
        showIssueData(issue);
      }).catch(function () { /* not readable: nothing to open */ });
    }

    // --- walking patrols ----------------------------------------------------------------

    // The patrol this login is walking, kept on the phone; another login on the same phone
    // does not see it (its route is not theirs to send).
    function runningPatrol() {
      var p = null;
      try { p = JSON.parse(localStorage.getItem("gw-patrol") || "null"); } catch (e) { return null; }
      return p && p.user_id === cfg.userId ? p : null;
    }
    function savePatrol(p) {
      if (p) {
        p.user_id = cfg.userId;
        localStorage.setItem("gw-patrol", JSON.stringify(p));
      } else {
        localStorage.removeItem("gw-patrol");
      }
      showPatrol();
    }
    function showPatrol() {
      var p = runningPatrol();
      if (!patrolButton) return;
      patrolButton.textContent = p ? F.endPatrol : F.startPatrol;
      patrolButton.classList.toggle("gw-running", !!p);
    }
    var watch = null;
    var route = null;
    function follow() {
      var p = runningPatrol();
      if (!p || watch !== null || !navigator.geolocation) return;
      route = L.polyline(p.track.map(function (xy) { return [xy[1], xy[0]]; }), { color: "#8e44ad", weight: 4 }).addTo(map);
      watch = navigator.geolocation.watchPosition(function (position) {
        lastPosition = { coords: { latitude: position.coords.latitude, longitude: position.coords.longitude,
                                   accuracy: position.coords.accuracy }, timestamp: Date.now() };
        var q = runningPatrol();
        if (!q) return;
        var here = L.latLng(position.coords.latitude, position.coords.longitude);
        var last = q.track.length ? L.latLng(q.track[q.track.length - 1][1], q.track[q.track.length - 1][0]) : null;
        // Only fixes worth keeping: a poor fix, or one a few metres from the last, adds
        // nothing but length (a long walk must still fit the server's limit).
        if (position.coords.accuracy > MAX_ACCURACY_M || (last && last.distanceTo(here) < MIN_STEP_M)) return;
        q.track.push([+here.lng.toFixed(7), +here.lat.toFixed(7)]);
        savePatrol(q);
        route.addLatLng(here);
      }, function () {}, { enableHighAccuracy: true });
    }
    setInterval(function () {
      var p = runningPatrol();
      if (p && p.track.length >= 2 && navigator.onLine) post("patrols/" + p.id + "/track", { track: p.track });
    }, TRACK_SEND_MS);

    function startPatrol() {
      // The patrol walks the grid under the map's centre, with the units the officer picks.
      var c = map.getCenter();
      ctx.getJSON(ctx.api("lookup?lon=" + c.lng.toFixed(7) + "&lat=" + c.lat.toFixed(7))).then(function (found) {
        var grid = found.areas.filter(function (a) { return a.level === "grid"; })[0];
        if (!grid) { ctx.showPanel([el("p", { class: "gw-error", text: F.noGridHere })]); return; }
        var title = el("input", { name: "title", maxlength: "200", value: grid.name + F.patrol });
        var unitsChoice = unitSelect("unit_ids", true);
        // The members: whoever answers for something in the grid, ticked by the officer.
        var members = el("fieldset", { class: "gw-members" }, el("legend", { text: F.patrolMembers }));
        ctx.getJSON(ctx.api("areas/" + grid.id + "/people")).then(function (people) {
          if (!people.length) members.appendChild(el("p", { class: "gw-muted", text: F.noMembers }));
          people.forEach(function (p) {
            var box = el("input", { type: "checkbox", name: "person_ids", value: String(p.id) });
            if (p.id === cfg.personId) box.checked = true;  // the officer walks too
            members.appendChild(el("label", { class: "gw-check" }, box, " " + p.name,
              el("span", { class: "gw-muted", text: " " + [p.unit, p.title].filter(Boolean).join(" ") })));
          });
        }, function () { members.appendChild(el("p", { class: "gw-muted", text: F.noMembers })); });
        var message = el("p", { class: "gw-error", hidden: "hidden", role: "alert" });
        var form = el("form", { class: "gw-form gw-patrol-form" },
          el("h2", { text: F.startPatrol + " · " + grid.name }),
          el("label", {}, F.patrolTitle, title),
          el("label", {}, F.patrolUnits, unitsChoice),
          members,
          message,
          el("div", { class: "gw-buttons" }, el("button", { type: "submit", class: "gw-primary", text: F.startPatrol })));
        form.addEventListener("submit", function (e) {
          e.preventDefault();
          var unitIds = Array.prototype.filter.call(unitsChoice.options, function (o) { return o.selected; })
            .map(function (o) { return +o.value; });
          var personIds = Array.prototype.map.call(members.querySelectorAll("input:checked"), function (box) {
            return +box.value;
          });
          post("patrols", { area_id: grid.id, title: title.value, unit_ids: unitIds, person_ids: personIds })
            .then(function (result) {
              if (result.status !== 201) { message.textContent = errorText(result); message.hidden = false; return; }
              savePatrol({ id: result.data.id, area: grid.name, track: [] });
              follow();
              ctx.showPanel([el("p", { class: "gw-ok", text: ctx.fill(F.patrolStarted, { grid: grid.name }) })]);
            });
        });
        ctx.showPanel([form]);
      }, function () { ctx.showPanel([el("p", { class: "gw-error", text: F.needsNetwork })]); });
    }
    function endPatrol() {
      var p = runningPatrol();
      var body = p.track.length >= 2 ? { track: p.track } : {};
      post("patrols/" + p.id + "/end", body).then(function (result) {
        // A route the server will not take (a bad one, or this patrol was started on another
        // login) must not keep the patrol open: end it without.
        var notTaken = result.status === 400 ||
          (result.status === 409 && result.data && result.data.error && result.data.error.code === "not_your_patrol");
        return notTaken && body.track ? post("patrols/" + p.id + "/end", {}) : result;
      }).then(function (result) {
        if (result.status === 200 || result.status === 409) {
          savePatrol(null);
          if (watch !== null) { navigator.geolocation.clearWatch(watch); watch = null; }
          if (route) { map.removeLayer(route); route = null; }
          if (result.status === 200) window.location.href = cfg.patrolUrl.replace(/0$/, String(p.id));
        } else {
          ctx.showPanel([el("p", { class: "gw-error", text: errorText(result) })]);
        }
      }, function () { ctx.showPanel([el("p", { class: "gw-error", text: F.needsNetwork })]); });
    }
    if (patrolButton) {
      patrolButton.addEventListener("click", function () { if (runningPatrol()) endPatrol(); else startPatrol(); });
      showPatrol();
      follow();
    }
  }

  window.Gridwalk = window.Gridwalk || {};
  window.Gridwalk.field = { attach: attach, queue: queue };
})();
