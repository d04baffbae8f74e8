// devops-healer dashboard: makes the server-rendered pages live. Everything works without it.
// One EventSource on /events (the timeline as Server-Sent Events). Rows are updated in place,
// keyboard focus is never moved, and changes are announced through the role="status" region.
(function () {
  "use strict";

  var body = document.body;
  var page = body.getAttribute("data-page");
  var live = document.getElementById("live");
  var feedState = document.getElementById("feed-state");
  var seen = new Set();
  // The newest timeline event the server had when it rendered this page: the page already shows
  // it and everything before it (an action just taken, say), so the feed never reports those as news.
  var renderedUpTo = parseInt(body.getAttribute("data-last-event-id") || "0", 10) || 0;
  var announceQueue = [];
  var announceTimer = null;

  function announce(text) {
    announceQueue.push(text);
    if (announceTimer) return;
    // Several events in one burst become one announcement, so a screen reader is not flooded.
    announceTimer = setTimeout(function () {
      var items = announceQueue.splice(0, announceQueue.length);
      var message = items.length > 3 ? items.slice(0, 3).join(". ") + ". And " + (items.length - 3) + " more changes." : items.join(". ");
      live.textContent = "";
      setTimeout(function () { live.textContent = message; }, 50);
      announceTimer = null;
    }, 400);
  }

  function ago(iso) {
    var seconds = Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 1000));
    var units = [["d", 86400], ["h", 3600], ["min", 60]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][1]) return Math.floor(seconds / units[i][1]) + " " + units[i][0] + " ago";
    }
    return seconds + " s ago";
  }

  function refreshAges() {
    document.querySelectorAll("time[data-ago]").forEach(function (el) {
      el.textContent = ago(el.getAttribute("datetime"));
    });
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svgIcon(icon) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var use = document.createElementNS(ns, "use");
    use.setAttribute("href", "#" + icon);
    svg.appendChild(use);
    return svg;
  }

  function statusBadge(inc) {
    var span = el("span", { "class": "status stage-" + inc.stage, "data-field": "status" });
    span.appendChild(svgIcon(inc.icon));
    span.appendChild(el("span", { "class": "status-text" }, inc.status_label));
    return span;
  }

  function setStatus(container, inc) {
    var badge = container.querySelector('[data-field="status"]');
    if (badge) {
      badge.className = "status stage-" + inc.stage;
      var use = badge.querySelector("use");
      if (use) use.setAttribute("href", "#" + inc.icon);
      var text = badge.querySelector(".status-text");
      if (text) text.textContent = inc.status_label;
    }
    var stage = container.querySelector('[data-field="stage"]');
    if (stage) {
      stage.className = "stage stage-" + inc.stage;
      stage.textContent = inc.stage_label;
    }
  }

  function setText(container, field, value) {
    var cell = container.querySelector('[data-field="' + field + '"]');
    if (cell && cell.textContent !== String(value)) cell.textContent = String(value);
  }

  function safeUrl(url) {
    return typeof url === "string" && /^https?:\/\//.test(url) ? url : null;
  }

  function prUrl(inc) {
    // A local forge's PR (local://) opens in the dashboard's own pull request view.
    if (typeof inc.pr_url === "string" && /^local:\/\//.test(inc.pr_url) && inc.pr_number) {
      return "/ui/pulls/" + encodeURIComponent(inc.pr_number);
    }
    return safeUrl(inc.pr_url);
  }

  function setPr(row, inc) {
    var cell = row.querySelector('[data-field="pr"]');
    var url = prUrl(inc);
    if (!cell || !url) return;
    var link = cell.querySelector("a");
    if (link) {
      // Updated in place: a focused link keeps focus.
      if (link.getAttribute("href") !== url) link.setAttribute("href", url);
      link.textContent = "#" + (inc.pr_number || "PR");
      return;
    }
    cell.textContent = "";
    cell.appendChild(el("a", { href: url, rel: "noreferrer" }, "#" + (inc.pr_number || "PR")));
  }

  function buildRow(inc) {
    var row = el("tr", { id: "row-" + inc.id, "data-incident": inc.id, "class": "arrived" });
    var head = el("th", { scope: "row" });
    head.appendChild(el("a", { href: "/ui/incidents/" + encodeURIComponent(inc.id) }, inc.id));
    row.appendChild(head);
    row.appendChild(el("td", { "class": "title", "data-field": "title" }, inc.title));
    row.appendChild(el("td", { "data-field": "service" }, inc.service));
    var sev = el("td");
    sev.appendChild(el("span", { "class": "sev sev-" + inc.severity, "data-field": "severity" }, inc.severity));
    row.appendChild(sev);
    var status = el("td");
    status.appendChild(statusBadge(inc));
    row.appendChild(status);
    var stage = el("td");
    stage.appendChild(el("span", { "class": "stage stage-" + inc.stage, "data-field": "stage" }, inc.stage_label));
    row.appendChild(stage);
    row.appendChild(el("td", { "data-field": "agent" }, inc.agent || "–"));
    row.appendChild(el("td", { "data-field": "pr" }, "–"));
    row.appendChild(el("td", { "class": "num", "data-field": "occurrences" }, inc.occurrences));
    var age = el("td");
    age.appendChild(el("time", { datetime: inc.first_seen, title: inc.first_seen, "data-ago": "" }, ago(inc.first_seen)));
    row.appendChild(age);
    setPr(row, inc);
    return row;
  }

  function matches(table, inc) {
    var statuses = (table.getAttribute("data-statuses") || "").split(" ").filter(Boolean);
    var severities = (table.getAttribute("data-severities") || "").split(" ").filter(Boolean);
    var service = table.getAttribute("data-service") || "";
    if (statuses.length && statuses.indexOf(inc.status) < 0) return false;
    if (severities.length && severities.indexOf(inc.severity) < 0) return false;
    if (service && service !== inc.service) return false;
    return true;
  }

  function describeChange(data) {
    var inc = data.incident;
    if (data.event === "received") return "New incident " + inc.id + ": " + inc.title + " (" + inc.service + ", " + inc.severity + ")";
    if (data.event === "occurrence") return inc.id + " reported again, " + inc.occurrences + " occurrences";
    if (data.move) return inc.id + " is now " + inc.status_label;
    return null;
  }

  function onList(data) {
    var table = document.getElementById("incidents");
    if (!table) return;
    var inc = data.incident;
    var row = document.getElementById("row-" + inc.id);
    var message = describeChange(data);
    if (row) {
      setStatus(row, inc);
      setText(row, "title", inc.title);
      setText(row, "agent", inc.agent || "–");
      setText(row, "occurrences", inc.occurrences);
      setPr(row, inc);
      if (message) announce(message);
      return;
    }
    if (data.event !== "received") return;
    if (table.getAttribute("data-live-insert") !== "true" || !matches(table, inc)) {
      announce(message + ", not shown under these filters");
      return;
    }
    var tbody = table.tBodies[0];
    var empty = tbody.querySelector("tr.empty");
    if (empty) empty.remove();
    tbody.insertBefore(buildRow(inc), tbody.firstChild);
    var limit = parseInt(table.getAttribute("data-limit") || "50", 10);
    while (tbody.rows.length > limit) {
      var last = tbody.rows[tbody.rows.length - 1];
      if (last.contains(document.activeElement)) break; // never take away what has focus
      last.remove();
    }
    announce(message);
  }

  function onIncident(data) {
    var box = document.getElementById("incident");
    if (!box || box.getAttribute("data-incident") !== data.incident_id) return;
    var inc = data.incident;
    setStatus(box, inc);
    setText(box, "status-text", inc.status_label + " (" + inc.status + ")");
    setText(box, "occurrences", inc.occurrences);
    if (data.event !== "occurrence") {
      var list = document.getElementById("timeline");
      if (list && !list.querySelector('[data-event-id="' + data.id + '"]')) {
        var item = el("li", { "data-event-id": String(data.id), "class": "arrived" });
        item.appendChild(el("time", { datetime: data.at }, data.at.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC")));
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("span", { "class": "actor" }, data.actor));
        item.appendChild(document.createTextNode(" "));
        item.appendChild(el("strong", { "class": "event" }, data.event));
        var detail = el("span", { "class": "detail" });
        Object.keys(data.detail || {}).forEach(function (key) {
          var value = data.detail[key];
          if (value === null || value === "") return;
          detail.appendChild(el("span", { "class": "kv" }, key + ": " + (typeof value === "object" ? JSON.stringify(value) : value)));
        });
        item.appendChild(detail);
        list.appendChild(item);
      }
    }
    var message = data.move ? "Status is now " + inc.status_label + " (" + data.actor + ")" :
      data.event === "occurrence" ? "Reported again: " + inc.occurrences + " occurrences" : "Timeline: " + data.event + " by " + data.actor;
    announce(message);
    if (data.move && document.querySelector(".actions")) {
      var note = document.getElementById("actions-stale");
      if (!note) {
        note = el("p", { id: "actions-stale", "class": "hint stale" }, "The state changed since this page was loaded; reload to see the actions it allows now.");
        document.querySelector(".actions").appendChild(note);
      }
    }
  }

  function onOverview(data) {
    if (!data.move) return;
    [["from_stage", -1], ["to_stage", 1]].forEach(function (pair) {
      var stage = data.move[pair[0]];
      if (!stage) return;
      var cell = document.querySelector('[data-stage-count="' + stage + '"]');
      if (cell) cell.textContent = String(Math.max(0, parseInt(cell.textContent, 10) + pair[1]));
    });
    var message = describeChange(data);
    if (message) announce(message);
  }

  function connect() {
    if (!window.EventSource) return;
    var after = body.getAttribute("data-last-event-id");
    var url = "/events" + (after ? "?after=" + encodeURIComponent(after) : "");
    var source = new EventSource(url);
    var wasDown = false;
    source.addEventListener("open", function () {
      feedState.hidden = true;
      if (wasDown) announce("Live updates resumed");
      wasDown = false;
    });
    source.addEventListener("error", function () {
      feedState.textContent = "Live updates paused; reconnecting…";
      feedState.hidden = false;
      if (!wasDown) announce("Live updates paused; reconnecting");
      wasDown = true;
    });
    source.addEventListener("timeline", function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      if (seen.has(data.id) || data.id <= renderedUpTo) return;
      seen.add(data.id);
      body.setAttribute("data-last-event-id", String(data.id));
      if (page === "list") onList(data);
      else if (page === "incident") onIncident(data);
      else if (page === "overview") onOverview(data);
    });
    window.healerFeed = source; // for tests and the curious: the live connection
  }

  refreshAges();
  setInterval(refreshAges, 30000);
  if (page === "list" || page === "incident" || page === "overview") connect();
})();
