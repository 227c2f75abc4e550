// The element card's script: live updates (a short poll, coalesced by the server), the table's
// paging, sorting, filter and search, and sets. No library; nothing loaded from elsewhere.
// What the user is doing is never undone by an update: a field being typed in (or changed and
// not yet set) keeps its text, the scroll position and the table's query stay.
"use strict";

(function () {
  const main = document.querySelector("main");
  if (!main) return;

  // -- datetimes: the browser's local time, UTC on hover ------------------------------------------
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const when = new Date(el.getAttribute("datetime"));
      if (isNaN(when)) continue;
      el.textContent = when.toLocaleString();
      el.title = "UTC: " + el.getAttribute("datetime");
    }
  }

  function showCell(el, cell) {
    if (cell.utc) {
      const time = document.createElement("time");
      time.setAttribute("datetime", cell.utc);
      time.textContent = cell.text;
      el.replaceChildren(time);
      localTimes(el);
    } else if (el.textContent !== cell.text) {
      el.textContent = cell.text;
    }
  }

  // -- the live poll ---------------------------------------------------------------------------------
  const pollMs = Number(main.dataset.pollMs || 500);
  let version = "";
  let timer = null;
  let inFlight = null;

  function viewParams() {
    return new URLSearchParams(window.location.search);
  }

  async function poll() {
    clearTimeout(timer);
    const url = main.dataset.live || main.dataset.listLive;
    if (!url) return;
    const params = viewParams();
    if (version) params.set("since", version);
    const asked = new AbortController();
    if (inFlight) inFlight.abort();
    inFlight = asked;
    try {
      const answer = await fetch(url + "?" + params.toString(), { credentials: "same-origin", signal: asked.signal });
      offline(false);
      if (answer.status === 401) {
        window.location.href = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
        return;
      }
      if (answer.status === 200) {
        const update = await answer.json();
        version = update.version;
        if (main.dataset.live) applyCard(update); else applyList(update);
      }
    } catch (err) {
      if (err.name === "AbortError") return;
      offline(true);
    } finally {
      if (inFlight === asked) inFlight = null;
    }
    timer = setTimeout(poll, pollMs);
  }

  function refresh() {  // the view changed: ask now, whatever the version
    version = "";
    poll();
  }

  function offline(yes) {
    const note = document.querySelector("[data-offline]");
    if (note) note.hidden = !yes;
  }

  function applyState(root, state, reason) {
    const badge = root.querySelector("[data-state]");
    if (badge && badge.dataset.state !== state) {
      badge.dataset.state = state;
      badge.textContent = state;
      badge.className = "state state-" + state;
    }
    const why = root.querySelector("[data-reason]");
    if (why && why.textContent !== reason) why.textContent = reason;
  }

  function applyValues(root, values) {
    for (const el of root.querySelectorAll("[data-value]")) {
      const cell = values[el.dataset.value];
      if (cell) showCell(el, cell);
    }
  }

  function applyCard(update) {
    applyState(main, update.state, update.reason);
    if (update.values) applyValues(main, update.values);
    for (const [id, value] of Object.entries(update.controls || {})) applyControl(id, value);
    for (const [id, page] of Object.entries(update.tables || {})) applyTable(id, page);
  }

  function applyList(update) {
    for (const item of document.querySelectorAll("[data-element]")) {
      const element = update.elements[item.dataset.element];
      if (!element) continue;
      applyState(item, element.state, element.reason);
      applyValues(item, element.values);
    }
  }

  function applyControl(id, value) {
    const field = main.querySelector('[data-param="' + id + '"]');
    if (!field || field.type === "password" || field.tagName === "BUTTON") return;
    if (field === document.activeElement || field.dataset.dirty) return;  // the user's, not ours
    if (field.type === "checkbox") {
      field.checked = value === field.dataset.on;
      switchText(field);
    } else if (field.value !== value) {
      field.value = value;
    }
  }

  function applyTable(id, page) {
    const block = main.querySelector('[data-table="' + id + '"]');
    if (!block) return;
    const body = block.querySelector("[data-rows]");
    body.innerHTML = page.rows;  // rendered by the server's template, escaped there
    localTimes(body);
    block.querySelector("[data-page-number]").textContent = page.page;
    block.querySelector("[data-page-count]").textContent = page.pages;
    block.querySelector("[data-total]").textContent = page.total;
    block.querySelector("[data-query-refused]").textContent = page.refused;
  }

  // -- the view: page tabs and each table's query, kept in the address -------------------------------
  function setView(changes) {
    const params = viewParams();
    for (const [name, value] of Object.entries(changes)) {
      if (value === "" || value === null) params.delete(name); else params.set(name, value);
    }
    const query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
    refresh();
  }

  for (const tab of document.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", function (event) {
      event.preventDefault();
      for (const other of document.querySelectorAll("[data-tab]")) {
        const chosen = other === tab;
        other.setAttribute("aria-selected", chosen ? "true" : "false");
        document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
      }
      setView({ page: tab.dataset.tab });
    });
    tab.addEventListener("keydown", function (event) {  // the tab list's keys: Left and Right
      if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
      const tabs = Array.from(document.querySelectorAll("[data-tab]"));
      const next = tabs[(tabs.indexOf(tab) + (event.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      event.preventDefault();
      next.focus();
      next.click();
    });
  }

  for (const block of document.querySelectorAll("[data-table]")) {
    const id = block.dataset.table;
    const key = function (name) { return "t" + id + "." + name; };
    const current = function () { return Number(block.querySelector("[data-page-number]").textContent) || 1; };
    let searchTimer = null;
    block.querySelector("[data-tools]").addEventListener("submit", function (e) { e.preventDefault(); });
    block.querySelector("[data-search]").addEventListener("input", function (event) {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(function () { setView({ [key("q")]: event.target.value.trim(), [key("p")]: "" }); }, 250);
    });
    for (const select of block.querySelectorAll("[data-filter]")) {
      select.addEventListener("change", function () {
        setView({ [key("f" + select.dataset.filter)]: select.value, [key("p")]: "" });
      });
    }
    for (const button of block.querySelectorAll("[data-sort]")) {
      button.addEventListener("click", function () {
        const column = button.dataset.sort;
        const sort = viewParams().get(key("sort")) === column ? "-" + column : column;
        for (const th of block.querySelectorAll("th[data-column]")) {
          const on = th.dataset.column === column;
          th.setAttribute("aria-sort", on ? (sort.startsWith("-") ? "descending" : "ascending") : "none");
        }
        setView({ [key("sort")]: sort, [key("p")]: "" });
      });
    }
    block.querySelector('[data-pager="prev"]').addEventListener("click", function () {
      setView({ [key("p")]: String(Math.max(1, current() - 1)) });
    });
    block.querySelector('[data-pager="next"]').addEventListener("click", function () {
      const last = Number(block.querySelector("[data-page-count]").textContent) || 1;
      setView({ [key("p")]: String(Math.min(last, current() + 1)) });
    });
  }

  // -- sets ----------------------------------------------------------------------------------------
  function switchText(box) {
    const text = box.parentElement.querySelector(".switch-text");
    if (text) text.textContent = box.checked ? box.dataset.onText : box.dataset.offText;
  }

  async function send(form, field, value) {
    const refusal = form.querySelector("[data-refusal]");
    const id = field.dataset.param;
    refusal.textContent = "";
    field.setAttribute("aria-busy", "true");
    try {
      const answer = await fetch(main.dataset.set + encodeURIComponent(id), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ value: value }),
      });
      if (answer.ok) {
        delete field.dataset.dirty;
        if (field.type === "password") field.value = "";
        field.removeAttribute("aria-invalid");
      } else {
        let reason = "the set was refused (" + answer.status + ")";
        try { reason = (await answer.json()).error || reason; } catch (err) { /* not JSON */ }
        refusal.textContent = reason;
        field.setAttribute("aria-invalid", "true");
        if (answer.status === 401) window.location.href = "/login";
      }
    } catch (err) {
      refusal.textContent = "no answer from the connector: " + err.message;
    } finally {
      field.removeAttribute("aria-busy");
      refresh();  // the element's value after the set, not the one typed
    }
  }

  for (const form of document.querySelectorAll("form[data-control]")) {
    const field = form.querySelector("[data-param]");
    field.addEventListener("input", function () { field.dataset.dirty = "1"; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const button = event.submitter && event.submitter.dataset.param ? event.submitter : null;
      if (field.type === "password" && field.value === "") {  // an empty set would erase the secret
        form.querySelector("[data-refusal]").textContent = "Type the new value first.";
        return;
      }
      send(form, button || field, button ? button.value : field.value);
    });
    if (field.type === "checkbox") {
      field.addEventListener("change", function () {
        switchText(field);
        send(form, field, field.checked ? field.dataset.on : field.dataset.off);
      });
    } else if (field.tagName === "SELECT") {
      field.addEventListener("change", function () { send(form, field, field.value); });
    }
  }

  localTimes(document);
  timer = setTimeout(poll, pollMs);
})();
