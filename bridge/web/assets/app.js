// The invitations page: its language, filters, sorting, the create form
// (one guest or a list of them), confirmations and live updates. Every URL
// is relative, so the page works behind Home Assistant's ingress path.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);

  // ---- language ------------------------------------------------------------

  // The server renders the page in one language and hands its strings over
  // in #i18n; app.js has no words of its own.
  const I18N = JSON.parse($("#i18n").textContent);
  const lang = I18N.lang;
  function fill(text, vars) {
    if (!vars) return text;
    return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }
  function t(key, vars) {
    const text = I18N.strings[key];
    return fill(text === undefined ? key : text, vars);
  }
  function tn(key, n, vars) {
    const text = I18N.strings[key + (n === 1 ? ".one" : ".other")];
    return fill(text === undefined ? t(key) : text, { n, ...vars });
  }

  // supported returns the page's language for a tag such as "de-CH", or
  // null.
  function supported(tag) {
    const primary = String(tag || "").toLowerCase().split(/[-_]/)[0];
    return I18N.languages.includes(primary) ? primary : null;
  }
  // Inside Home Assistant (its ingress iframe, same origin as its
  // frontend) the language is the one chosen there, which the frontend
  // keeps in localStorage as a JSON string.
  function homeAssistantLanguage() {
    let framed = false;
    try {
      framed = window.parent !== window && window.parent.location.origin === location.origin;
    } catch (e) {
      framed = false;
    }
    if (!framed && !location.pathname.includes("/api/hassio_ingress/")) return null;
    try {
      return JSON.parse(localStorage.getItem("selectedLanguage") || "null");
    } catch (e) {
      return null;
    }
  }
  function wantedLanguage() {
    const ha = supported(homeAssistantLanguage());
    if (ha) return ha;
    for (const tag of navigator.languages || [navigator.language]) {
      const l = supported(tag);
      if (l) return l;
    }
    return I18N.languages[0];
  }
  // The server goes by Accept-Language; when Home Assistant's choice
  // differs, the page asks again with ?lang=, once.
  {
    const params = new URLSearchParams(location.search);
    const wanted = wantedLanguage();
    if (!params.has("lang") && wanted !== lang) {
      params.set("lang", wanted);
      location.replace("?" + params.toString());
      return;
    }
  }

  const filters = $("#filters");
  const toast = $("#toast");

  // ---- talking to the API ------------------------------------------------

  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new Error(t("error.unreachable"));
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      const msg = data && (data.detail || data.title);
      const err = new Error(msg || t("error.status", { status: res.status }));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  let toastTimer;
  function say(message, isError) {
    toast.textContent = message;
    toast.classList.toggle("is-error", !!isError);
    toast.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { toast.hidden = true; }, isError ? 9000 : 4000);
  }

  // ---- live table ----------------------------------------------------------

  // The page's address holds its whole view: the filters, the sort, whether
  // finished invitations are shown and the language. The table is fetched
  // for that address.
  function filterParams() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v) params.set(k, v);
    return params;
  }
  function pageQuery() {
    const params = new URLSearchParams(location.search);
    for (const k of ["status", "lock", "q"]) params.delete(k);
    for (const [k, v] of filterParams()) params.set(k, v);
    const s = params.toString();
    return s ? "?" + s : "";
  }

  let refreshing = null;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      try {
        const res = await fetch("partials/invitations" + location.search, { credentials: "same-origin" });
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        swap("#syncline", doc);
        swap("#invitations-head", doc);
        swap("#rows", doc);
        swap("#unmanaged", doc);
        localTimes(document);
      } catch (e) {
        /* offline for a moment: the next event or poll tries again */
      } finally {
        refreshing = null;
        if (again) { again = false; refresh(); }
      }
    })();
    return refreshing;
  }

  function swap(sel, doc) {
    const fresh = $(sel, doc);
    const old = $(sel);
    if (!fresh || !old) return;
    const focused = document.activeElement;
    let keep = null;
    if (focused && old.contains(focused)) {
      if (focused.id) keep = "#" + CSS.escape(focused.id);
      else if (focused.dataset.action) keep = `[data-action="${focused.dataset.action}"][data-id="${focused.dataset.id || ""}"]`;
    }
    old.replaceWith(document.adoptNode(fresh));
    if (keep) { const back = document.querySelector(keep); if (back) back.focus(); }
  }

  let soon;
  function refreshSoon() {
    clearTimeout(soon);
    soon = setTimeout(refresh, 150);
  }

  // Live updates: server-sent events, polling when they are unavailable.
  let poll = null;
  function startPolling() {
    if (!poll) poll = setInterval(refresh, 15000);
  }
  function listen() {
    if (!("EventSource" in window)) { startPolling(); return; }
    const es = new EventSource("api/v1/events");
    es.addEventListener("open", () => {
      if (poll) { clearInterval(poll); poll = null; }
      document.body.dataset.live = "sse";
      refreshSoon();
    });
    for (const type of ["invitation", "state", "resync"]) es.addEventListener(type, refreshSoon);
    es.addEventListener("error", () => {
      document.body.dataset.live = "polling";
      startPolling();
      if (es.readyState === EventSource.CLOSED) setTimeout(listen, 10000);
    });
  }
  // Relative times ("in 5 h") age; re-render them every minute.
  setInterval(refresh, 60000);

  // Times carry the relative text from the server; the exact moment is
  // shown in the browser's own time zone (as text in the history, else as a
  // tooltip).
  const exact = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      const d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) continue;
      if (el.hasAttribute("data-absolute") && !el.dataset.relative) {
        el.dataset.relative = el.textContent;
        el.title = el.textContent;
        el.textContent = exact.format(d);
      } else if (!el.hasAttribute("data-absolute")) {
        el.title = exact.format(d);
      }
    }
  }

  // ---- filters, sorting, folding ---------------------------------------------

  const exportLink = $("#export");
  function filtersChanged() {
    history.replaceState(null, "", pageQuery() || "./");
    const q = filterParams().toString();
    exportLink.setAttribute("href", "api/v1/invitations.csv" + (q ? "?" + q : ""));
    refresh();
  }
  filters.addEventListener("change", filtersChanged);
  let typing;
  filters.addEventListener("input", (e) => {
    if (e.target.type !== "search") return;
    clearTimeout(typing);
    typing = setTimeout(filtersChanged, 250);
  });
  filters.addEventListener("submit", (e) => { e.preventDefault(); filtersChanged(); });

  // The column headers and the "Show N finished" toggle are links that
  // also work without script; here they change the address and the table
  // follows without a reload.
  document.addEventListener("click", (e) => {
    const link = e.target.closest("a.sort, a.fold-toggle");
    if (!link || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    history.replaceState(null, "", link.getAttribute("href"));
    refresh();
  });

  // ---- create ------------------------------------------------------------------

  const form = $("#create");
  const createError = $("#create-error");
  // The API names fields as in JSON; the form shows them by their labels.
  const fields = {
    email: ["#email", t("field.email")], name: ["#name", t("field.name")], language: ["#language", t("field.language")],
    smartlock_ids: ["#locks", t("field.locks")], delivery: [null, t("field.delivery")],
    allowed_from_time: ["#from-time", t("field.from_time")], allowed_until_time: ["#until-time", t("field.until_time")],
    allowed_from: ["#allowed-from", t("field.from")], allowed_until: ["#allowed-until", t("field.until")],
    allowed_weekdays: [null, t("field.weekdays")],
    code: ["#code", t("field.code")], time_zone: ["#time-zone", t("field.time_zone")],
  };
  const fieldNames = new RegExp("\\b(" + Object.keys(fields).join("|") + ")\\b", "g");
  form.addEventListener("input", (e) => {
    const field = e.target.closest("[aria-invalid]");
    if (field) field.removeAttribute("aria-invalid");
  });

  function setMode(mode) {
    form.dataset.mode = mode;
    for (const el of form.querySelectorAll(".one-only")) el.hidden = mode !== "one";
    for (const el of form.querySelectorAll(".bulk-only")) el.hidden = mode !== "bulk";
    bulk.report.hidden = mode !== "bulk" || !bulk.tbody.children.length;
    clearCreateError();
  }
  // setKind switches the form between an app invitation and a keypad
  // code: a keypad code is for one guest at a time, on locks with a
  // keypad, within a window that ends; Nuki's delivery and remote access
  // do not apply to it, a time zone and a code of one's own do.
  function setKind(kind) {
    const keypad = kind === "keypad";
    form.dataset.kind = kind;
    if (keypad && form.dataset.mode !== "one") {
      form.querySelector('input[name=mode][value="one"]').checked = true;
      setMode("one");
    }
    for (const el of form.querySelectorAll(".app-only")) el.hidden = keypad;
    for (const el of form.querySelectorAll(".keypad-only")) el.hidden = !keypad;
    for (const label of form.querySelectorAll('#locks label[data-keypad="false"]')) {
      label.hidden = keypad;
      if (keypad) $("input", label).checked = false;
    }
    $("#email").required = !keypad;
    $("#allowed-until").required = keypad;
    if (keypad) {
      form.querySelector("details.window").open = true;
      $("#time-zone").placeholder = Intl.DateTimeFormat().resolvedOptions().timeZone || "Europe/Berlin";
    }
    $("#create-submit").textContent = keypad ? t("create.submit.keypad") : t("create.submit");
    clearCreateError();
  }
  form.addEventListener("change", (e) => {
    if (e.target.name === "mode") setMode(e.target.value);
    if (e.target.name === "kind") setKind(e.target.value);
  });

  // sharedFields reads what every invitation of the form has in common:
  // locks, delivery, remote access and the window. Problems are added to
  // problems as [field selector, message].
  function sharedFields(fd, problems) {
    const locks = fd.getAll("lock").map(Number);
    if (locks.length === 0) problems.push(["#locks", t("create.error.locks")]);
    const body = fd.get("kind") === "keypad" ? { kind: "keypad", smartlock_ids: locks } : {
      smartlock_ids: locks,
      delivery: fd.get("delivery") || "nuki",
      remote_allowed: fd.get("remote_allowed") === "on",
    };
    const from = fd.get("allowed_from"), until = fd.get("allowed_until");
    if (from) body.allowed_from = new Date(from).toISOString();
    if (until) body.allowed_until = new Date(until).toISOString();
    const days = fd.getAll("weekday");
    if (days.length) body.allowed_weekdays = days;
    if (fd.get("allowed_from_time")) body.allowed_from_time = fd.get("allowed_from_time");
    if (fd.get("allowed_until_time")) body.allowed_until_time = fd.get("allowed_until_time");
    return body;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (form.dataset.mode === "bulk") { bulkCheck(); return; }
    clearCreateError();
    const fd = new FormData(form);
    const keypad = fd.get("kind") === "keypad";
    const email = (fd.get("email") || "").trim();
    const name = (fd.get("name") || "").trim();
    const problems = [];
    if (!email && !keypad) problems.push(["#email", t("create.error.email")]);
    else if (email && (!$("#email").checkValidity() || !/@[^@]+\.[^@]+$/.test(email))) {
      problems.push(["#email", t("create.error.email_bad", { email })]);
    }
    if (!name) problems.push(["#name", t("create.error.name")]);
    const body = { name, language: fd.get("language") || "en", ...sharedFields(fd, problems) };
    if (email || !keypad) body.email = email;
    if (keypad) {
      if (!body.allowed_until) problems.push(["#allowed-until", t("create.error.until")]);
      const code = (fd.get("code") || "").trim();
      if (code && !/^[1-9]{6}$/.test(code)) problems.push(["#code", t("create.error.code")]);
      if (code) body.code = code;
      const zone = (fd.get("time_zone") || "").trim();
      if (zone) body.time_zone = zone;
    }
    if (problems.length) { showCreateError(problems); return; }

    const submit = $("#create-submit");
    submit.disabled = true;
    submit.textContent = t("create.sending");
    try {
      const res = await api("POST", "api/v1/invitations", body);
      const n = (res && res.invitations && res.invitations.length) || body.smartlock_ids.length;
      form.reset();
      setMode("one");
      setKind("app");
      say(keypad ? tn("create.keypad_sent", n, { name }) : tn("create.sent", n, { email }));
      await refresh();
    } catch (err) {
      showCreateError(problemsOf(err));
    } finally {
      submit.disabled = false;
      submit.textContent = form.dataset.kind === "keypad" ? t("create.submit.keypad") : t("create.submit");
    }
  });
  // problemsOf turns a refused request into the form's problems: a 400
  // lists every problem of the request, separated by "; ".
  function problemsOf(err) {
    return err.status === 400 ? err.message.split("; ").map(plainProblem)
      : [[null, sentence(err.message.replace(/; (.)/g, (m, c) => ". " + c.toUpperCase()))]];
  }
  // plainProblem turns one of the API's problems ("allowed_until must be
  // after allowed_from") into the form's words and finds its field. A
  // plain word ("email") is a field's name only where a problem starts
  // with it, not in "an email address".
  function plainProblem(text) {
    let field = null;
    text = text.replace(fieldNames, (m, name, offset) => {
      if (offset > 0 && !name.includes("_")) return m;
      if (!field && fields[name][0]) field = fields[name][0];
      return fields[name][1];
    });
    return [field, sentence(text)];
  }
  function sentence(text) {
    text = text.charAt(0).toUpperCase() + text.slice(1);
    return /[.!?]$/.test(text) ? text : text + ".";
  }
  // showCreateError lists [field selector, message] pairs under the form,
  // marks those fields and moves the focus to the first one.
  function showCreateError(problems) {
    const list = document.createElement(problems.length > 1 ? "ul" : "p");
    for (const [, msg] of problems) {
      const item = document.createElement(problems.length > 1 ? "li" : "span");
      item.textContent = msg;
      list.append(item);
    }
    createError.replaceChildren(list);
    createError.hidden = false;
    let first = null;
    for (const [sel] of problems) {
      const field = sel && $(sel);
      if (!field) continue;
      field.setAttribute("aria-invalid", "true");
      if (field.closest("details.window")) field.closest("details.window").open = true;
      first = first || (field.matches("fieldset") ? $("input", field) : field);
    }
    (first || createError).focus();
  }
  function clearCreateError() {
    createError.hidden = true;
    createError.replaceChildren();
    for (const f of form.querySelectorAll("[aria-invalid]")) f.removeAttribute("aria-invalid");
  }

  // ---- several guests at once --------------------------------------------------

  // A list of guests is checked first (the daemon's dry run, after the
  // page's own checks), then sent one guest per call, so the progress bar
  // moves and every row gets its own answer. Each guest's request_id is
  // the batch's and the row's, so sending the same check again creates
  // nothing twice.
  const MAX_GUESTS = 500;
  const CHECK_CHUNK = 100;
  const bulk = {
    text: $("#bulk-text"), file: $("#bulk-file"), report: $("#bulk-report"), tbody: $("#bulk-results tbody"),
    summary: $("#bulk-summary"), progressBox: $("#bulk-progress-box"), progress: $("#bulk-progress"),
    percent: $("#bulk-percent"), check: $("#bulk-check"), send: $("#bulk-send"),
  };
  let checked = null; // the last check: { rows, header, shared, batch }
  let sending = false;
  const percent = new Intl.NumberFormat(lang, { style: "percent" });

  // splitCells splits one line at sep; a cell may be quoted as in CSV.
  function splitCells(line, sep) {
    const cells = [];
    let cur = "", quoted = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quoted) {
        if (c === '"' && line[i + 1] === '"') { cur += '"'; i++; }
        else if (c === '"') quoted = false;
        else cur += c;
      } else if (c === '"' && cur.trim() === "") { quoted = true; cur = ""; }
      else if (c === sep) { cells.push(cur); cur = ""; }
      else cur += c;
    }
    cells.push(cur);
    return cells.map((s) => s.trim());
  }
  function separatorOf(line) {
    const bare = line.replace(/"[^"]*"/g, "");
    return bare.includes("\t") ? "\t" : bare.includes(";") ? ";" : ",";
  }
  const headerWords = {
    name: /^(name|full ?name|guest|gast|vor- und nachname)$/i,
    email: /^(e-?mail|e-?mail[ -]address|e-mail-adresse|mail)$/i,
    language: /^(language|lang|sprache)$/i,
  };
  // headerColumns reads a header row into column indexes, or returns null
  // when cells are not one.
  function headerColumns(cells) {
    if (cells.some((c) => c.includes("@"))) return null;
    const cols = {};
    cells.forEach((c, i) => {
      for (const [k, re] of Object.entries(headerWords)) if (re.test(c) && cols[k] === undefined) cols[k] = i;
    });
    if (cols.email === undefined) return null;
    if (cols.name === undefined) {
      const i = cells.findIndex((c, j) => j !== cols.email && j !== cols.language);
      if (i >= 0) cols.name = i;
    }
    return cols;
  }
  // parseGuests reads the list: one guest a line, "name, email[,
  // language]" (or in a header row's order), and marks what the page can
  // tell is wrong before the daemon is asked.
  function parseGuests(text) {
    const codes = [...$("#language").options].map((o) => o.value);
    let cols = { name: 0, email: 1, language: 2 };
    let header = null;
    const rows = [];
    const seen = new Map();
    text.split(/\r\n|\r|\n/).forEach((raw, i) => {
      if (!raw.trim()) return;
      const cells = splitCells(raw, separatorOf(raw));
      if (header === null && rows.length === 0) {
        const h = headerColumns(cells);
        if (h) { header = raw; cols = h; return; }
      }
      const get = (k) => (cols[k] === undefined ? "" : cells[cols[k]] || "");
      const row = { line: i + 1, raw, name: get("name"), email: get("email"), language: get("language").toLowerCase(), state: "bad", problem: "" };
      if (header === null && cells.length === 1 && cells[0].includes("@")) {
        row.name = "";
        row.email = cells[0];
      } else if (header === null && (cells.length < 2 || cells.length > 3)) {
        row.problem = t("bulk.problem.columns");
      }
      if (!row.problem) {
        const twin = seen.get(row.email.toLowerCase());
        if (!row.name) row.problem = t("bulk.problem.name");
        else if (!row.email) row.problem = t("bulk.problem.email");
        else if (!/^[^\s@]+@[^\s@]+$/.test(row.email)) row.problem = t("bulk.problem.email_bad", { email: row.email });
        else if (row.language && !codes.includes(row.language)) {
          row.problem = t("bulk.problem.language", { language: row.language, list: codes.join(", ") });
        } else if (twin) row.problem = t("bulk.problem.twice", { line: twin });
      }
      if (row.email && !seen.has(row.email.toLowerCase())) seen.set(row.email.toLowerCase(), row.line);
      rows.push(row);
    });
    return { rows, header };
  }

  function resultText(row) {
    switch (row.state) {
      case "ready": return t("bulk.row.ready");
      case "waiting": return t("bulk.row.waiting");
      case "sending": return t("bulk.row.sending");
      case "created": return t("bulk.row.created");
      case "refused": return t("bulk.row.refused", { why: row.problem });
    }
    return row.problem;
  }
  function rowElement(row) {
    const tr = document.createElement("tr");
    tr.dataset.line = row.line;
    tr.className = "is-" + row.state;
    const line = document.createElement("td");
    line.className = "line";
    line.textContent = row.line;
    const guest = document.createElement("td");
    const name = document.createElement("span");
    name.className = "guest-name";
    name.textContent = row.name || "—";
    const email = document.createElement("span");
    email.className = "guest-email";
    email.textContent = row.email;
    guest.append(name, email);
    const language = document.createElement("td");
    language.textContent = row.lang || row.language || "";
    const result = document.createElement("td");
    result.className = "result";
    result.textContent = resultText(row);
    tr.append(line, guest, language, result);
    return tr;
  }
  function showRows(rows) {
    bulk.tbody.replaceChildren(...rows.map(rowElement));
    bulk.report.hidden = false;
  }
  function showRow(row) {
    const old = bulk.tbody.querySelector(`tr[data-line="${row.line}"]`);
    if (old) old.replaceWith(rowElement(row));
  }
  function setProgress(done, total) {
    bulk.progress.max = Math.max(total, 1);
    bulk.progress.value = done;
    bulk.percent.textContent = percent.format(total ? done / total : 1);
  }
  function guestOf(row) {
    return { name: row.name, email: row.email, language: row.lang };
  }
  function rowProblem(p) {
    return plainProblem((p && (p.detail || p.title)) || t("error.status", { status: (p && p.status) || "?" }))[1];
  }
  function newBatch() {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    return "web-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  }
  function readyRows() {
    return checked ? checked.rows.filter((r) => r.state === "ready") : [];
  }
  function updateSend() {
    const n = readyRows().length;
    bulk.send.disabled = sending || n === 0;
    bulk.send.textContent = n ? tn("bulk.send", n) : t("bulk.send");
  }

  async function bulkCheck() {
    if (sending) return;
    clearCreateError();
    const fd = new FormData(form);
    const problems = [];
    const shared = sharedFields(fd, problems);
    const { rows, header } = parseGuests(bulk.text.value);
    if (rows.length === 0) problems.unshift(["#bulk-text", t("bulk.error.empty")]);
    else if (rows.length > MAX_GUESTS) problems.unshift(["#bulk-text", t("bulk.error.too_many", { max: MAX_GUESTS })]);
    if (problems.length) { showCreateError(problems); return; }
    const fallback = fd.get("language") || "en";
    for (const r of rows) r.lang = r.language || fallback;

    checked = null;
    updateSend();
    bulk.check.disabled = true;
    bulk.check.textContent = t("bulk.checking");
    bulk.progressBox.hidden = true;
    try {
      const candidates = rows.filter((r) => !r.problem);
      for (const r of candidates) r.state = "waiting";
      for (let i = 0; i < candidates.length; i += CHECK_CHUNK) {
        const chunk = candidates.slice(i, i + CHECK_CHUNK);
        const res = await api("POST", "api/v1/invitations/bulk", { ...shared, guests: chunk.map(guestOf), dry_run: true });
        for (const out of (res && res.results) || []) {
          const row = chunk[out.row];
          if (!row) continue;
          if (out.ok) row.state = "ready";
          else { row.state = "bad"; row.problem = rowProblem(out.problem); }
        }
      }
      checked = { rows, header, shared, batch: newBatch() };
      showRows(rows);
      const ok = readyRows().length;
      bulk.summary.textContent = t("bulk.summary.checked", { ok, bad: rows.length - ok });
    } catch (err) {
      showCreateError(problemsOf(err));
    } finally {
      bulk.check.disabled = false;
      bulk.check.textContent = t("bulk.check");
      updateSend();
    }
  }

  async function bulkSend() {
    if (!checked || sending) return;
    const run = checked;
    const ready = readyRows();
    sending = true;
    updateSend();
    bulk.check.disabled = true;
    bulk.text.readOnly = true;
    for (const r of ready) r.state = "waiting";
    showRows(run.rows);
    bulk.progressBox.hidden = false;
    setProgress(0, ready.length);
    let done = 0;
    for (const r of ready) {
      r.state = "sending";
      showRow(r);
      try {
        const res = await api("POST", "api/v1/invitations/bulk",
          { ...run.shared, request_id: `${run.batch}-${r.line}`, guests: [guestOf(r)], dry_run: false });
        const out = res && res.results && res.results[0];
        if (out && out.ok) r.state = "created";
        else { r.state = "refused"; r.problem = rowProblem(out && out.problem); }
      } catch (err) {
        r.state = "refused";
        r.problem = sentence(err.message);
      }
      done++;
      setProgress(done, ready.length);
      showRow(r);
    }
    for (const r of run.rows) if (r.state === "bad") { r.state = "refused"; showRow(r); }
    const left = run.rows.filter((r) => r.state !== "created");
    const created = run.rows.length - left.length;
    bulk.summary.textContent = t("bulk.summary.sent", { ok: created, bad: left.length }) + (left.length ? " " + t("bulk.left") : "");
    // Nothing refused is lost: those rows stay in the list to be fixed.
    bulk.text.value = left.length ? [run.header, ...left.map((r) => r.raw)].filter((x) => x !== null).join("\n") : "";
    checked = null;
    sending = false;
    bulk.text.readOnly = false;
    bulk.check.disabled = false;
    updateSend();
    await refresh();
  }
  bulk.send.addEventListener("click", bulkSend);

  // A change of the list or of the shared fields makes the last check
  // stale: it must be checked again before sending.
  function checkStale(e) {
    if (!checked || sending || form.dataset.mode !== "bulk" || e.target.name === "mode") return;
    checked = null;
    updateSend();
    bulk.summary.textContent = t("bulk.stale");
  }
  form.addEventListener("input", checkStale);
  form.addEventListener("change", checkStale);

  bulk.file.addEventListener("change", async () => {
    const file = bulk.file.files[0];
    if (!file) return;
    try {
      const buf = await file.arrayBuffer();
      // Spreadsheets still write CSV in Windows-1252 at times.
      let text = new TextDecoder("utf-8").decode(buf);
      if (text.includes("\uFFFD")) text = new TextDecoder("windows-1252").decode(buf);
      bulk.text.value = text.replace(/^\uFEFF/, "");
      bulk.file.value = "";
      clearCreateError();
    } catch (err) {
      showCreateError([["#bulk-file", t("bulk.error.file", { why: err.message })]]);
    }
  });

  // ---- row actions -----------------------------------------------------------

  const confirmDialog = $("#confirm");
  function confirmAction(title, text, okLabel, danger) {
    return new Promise((resolve) => {
      $("#confirm-title").textContent = title;
      $("#confirm-text").textContent = text;
      const ok = $("#confirm-ok");
      ok.textContent = okLabel;
      ok.classList.toggle("danger", !!danger);
      confirmDialog.returnValue = "";
      confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue === "ok"), { once: true });
      confirmDialog.showModal();
      (danger ? $("#confirm button[value=cancel]") : ok).focus();
    });
  }

  const detailsDialog = $("#details");
  async function showDetails(id) {
    const res = await fetch("partials/invitations/" + encodeURIComponent(id) + location.search, { credentials: "same-origin" });
    if (!res.ok) {
      let msg = t("error.status", { status: res.status });
      try { msg = (await res.json()).detail || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const body = $("#details-body");
    body.replaceChildren(document.adoptNode($("#details-content", doc)));
    localTimes(body);
    detailsDialog.showModal();
  }

  // copyText puts text on the clipboard: the Clipboard API where the page
  // may use it (Home Assistant's iframe may not allow it), else a selected
  // text field and the copy command. It reports whether either worked.
  async function copyText(text, within) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) {
      /* not allowed here: fall back */
    }
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "copy-buffer";
    within.append(area);
    area.select();
    let ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    area.remove();
    return ok;
  }

  function showCode(code, who, keypad) {
    const body = $("#details-body");
    const h = document.createElement("h2");
    h.id = "details-title";
    h.textContent = keypad ? t("code.title.keypad", { who }) : who ? t("code.title", { who }) : t("code.title.anonymous");
    const line = document.createElement("div");
    line.className = "code-line";
    const p = document.createElement("p");
    p.className = "code";
    p.textContent = code.code;
    const copy = document.createElement("button");
    copy.type = "button";
    copy.id = "copy-code";
    copy.textContent = t("copy");
    line.append(p, copy);
    const note = document.createElement("p");
    note.className = "muted";
    note.setAttribute("role", "status");
    note.textContent = keypad ? t("code.keypad")
      : code.expires_at ? t("code.redeem_by", { time: exact.format(new Date(code.expires_at)) })
      : t("code.redeem");
    copy.addEventListener("click", async () => {
      if (await copyText(code.code, body)) {
        copy.textContent = t("copy.done");
        copy.classList.add("is-done");
      } else {
        note.textContent = t("copy.failed");
        getSelection().selectAllChildren(p);
      }
    });
    body.replaceChildren(h, line, note);
    detailsDialog.showModal();
  }

  // The buttons are disabled while they work and rows are re-rendered, so
  // the focus would fall back to the page's top after a dialog; it goes back
  // to the button that opened it, or to its row.
  let opener = null;
  function refocus() {
    const focused = document.activeElement;
    if (!opener || (focused && focused !== document.body && !focused.closest("dialog:not([open])"))) return;
    const { action, id } = opener;
    const row = id ? `[data-id="${CSS.escape(id)}"]` : "";
    const target = document.querySelector(`button[data-action="${action}"]${row}:not(:disabled)`) ||
      (id && document.querySelector(`tr${row} button:not(:disabled)`));
    if (target) target.focus();
  }
  detailsDialog.addEventListener("close", refocus);

  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("button[data-action]");
    if (!btn) return;
    opener = { action: btn.dataset.action, id: btn.dataset.id };
    const id = btn.dataset.id;
    const who = btn.dataset.who;
    const path = id ? "api/v1/invitations/" + encodeURIComponent(id) : "";
    btn.disabled = true;
    try {
      switch (btn.dataset.action) {
        case "history":
          await showDetails(id);
          break;
        case "resend":
          // An accepted invitation is re-sent only on purpose: the guest
          // loses the key they use until they redeem the new code.
          if (btn.dataset.force) {
            if (!await confirmAction(t("resend.force.title"), t("resend.force.text", { who }), t("resend.force.ok"), true)) break;
            await api("POST", path + "/resend", { force: true });
          } else {
            if (!await confirmAction(t("resend.title"), t("resend.text", { who }), t("row.resend"))) break;
            await api("POST", path + "/resend");
          }
          say(t("resend.done", { who }));
          await refresh();
          break;
        case "revoke":
          if (!await confirmAction(t("revoke.title"), t("revoke.text", { who }), t("row.revoke"), true)) break;
          await api("POST", path + "/revoke");
          say(t("revoke.done", { who }));
          await refresh();
          break;
        case "code":
          showCode(await api("POST", path + "/code"), who, btn.dataset.kind === "keypad");
          break;
        case "adopt":
          if (!await confirmAction(t("adopt.title"), t("adopt.text", { who }), t("unmanaged.adopt"))) break;
          await api("POST", "api/v1/keypad-codes/adopt", { smartlock_id: Number(btn.dataset.lock), auth_id: btn.dataset.auth });
          say(t("adopt.done", { who }));
          await refresh();
          break;
        case "confirm-sync":
          if (!await confirmAction(t("sync.confirm.title"), t("sync.confirm.text"), t("row.revoke"), true)) break;
          await api("POST", "api/v1/sync/confirm");
          say(t("sync.confirm.done"));
          break;
        case "sync":
          // The server only asks for a sync; the sync line follows it live.
          await api("POST", "api/v1/sync");
          say(t("sync.requested"));
          break;
      }
    } catch (err) {
      say(err.message, true);
    } finally {
      if (btn.isConnected) btn.disabled = false;
      refocus();
    }
  });

  setMode(form.querySelector("input[name=mode]:checked").value);
  setKind(form.querySelector("input[name=kind]:checked").value);
  localTimes(document);
  listen();
})();
