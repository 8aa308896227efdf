// The invitations page: filters, the create form, confirmations and live
// updates. Every URL is relative, so the page works behind Home Assistant's
// ingress path.
"use strict";

(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
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
      throw new Error("The server cannot be reached. Check that nuki-invites is running.");
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!res.ok) {
      const msg = data && (data.detail || data.title);
      const err = new Error(msg || `The server answered ${res.status}.`);
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

  function filterQuery() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData(filters)) if (v) params.set(k, v);
    const s = params.toString();
    return s ? "?" + s : "";
  }

  let refreshing = null;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = (async () => {
      try {
        const res = await fetch("partials/invitations" + filterQuery(), { credentials: "same-origin" });
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        swap("#syncline", doc);
        swap("#rows", doc);
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
    const keep = focused && old.contains(focused) && focused.dataset.action
      ? `[data-action="${focused.dataset.action}"][data-id="${focused.dataset.id || ""}"]` : null;
    old.replaceWith(document.adoptNode(fresh));
    if (keep) { const again = document.querySelector(keep); if (again) again.focus(); }
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
  const exact = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function localTimes(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) continue;
      if (t.hasAttribute("data-absolute") && !t.dataset.relative) {
        t.dataset.relative = t.textContent;
        t.title = t.textContent;
        t.textContent = exact.format(d);
      } else if (!t.hasAttribute("data-absolute")) {
        t.title = exact.format(d);
      }
    }
  }

  // ---- filters ---------------------------------------------------------------

  function filtersChanged() {
    const q = filterQuery();
    history.replaceState(null, "", q || "./");
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

  // ---- create ------------------------------------------------------------------

  const form = $("#create");
  const createError = $("#create-error");
  // The API names fields as in JSON; the form shows them by their labels.
  const fields = {
    email: ["#email", "Email"], name: ["#name", "Name"], language: ["#language", "Language"],
    smartlock_ids: ["#locks", "Locks"], delivery: [null, "Delivery"],
    allowed_from_time: ["#from-time", "Daily from"], allowed_until_time: ["#until-time", "Daily until"],
    allowed_from: ["#allowed-from", "From"], allowed_until: ["#allowed-until", "Until"],
    allowed_weekdays: [null, "Weekdays"],
  };
  const fieldNames = new RegExp("\\b(" + Object.keys(fields).join("|") + ")\\b", "g");
  form.addEventListener("input", (e) => {
    const field = e.target.closest("[aria-invalid]");
    if (field) field.removeAttribute("aria-invalid");
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearCreateError();
    const fd = new FormData(form);
    const email = (fd.get("email") || "").trim();
    const name = (fd.get("name") || "").trim();
    const locks = fd.getAll("lock").map(Number);
    const problems = [];
    if (!email) problems.push(["#email", "Enter the guest's email address."]);
    else if (!$("#email").checkValidity() || !/@[^@]+\.[^@]+$/.test(email)) {
      problems.push(["#email", `“${email}” is not an email address like guest@example.com.`]);
    }
    if (!name) problems.push(["#name", "Enter the guest's name; the Nuki app shows it."]);
    if (locks.length === 0) problems.push(["#locks", "Choose at least one lock."]);
    if (problems.length) { showCreateError(problems); return; }

    const body = {
      email,
      name,
      language: fd.get("language") || "en",
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

    const submit = $("#create-submit");
    submit.disabled = true;
    submit.textContent = "Sending…";
    try {
      const res = await api("POST", "api/v1/invitations", body);
      const n = (res && res.invitations && res.invitations.length) || locks.length;
      form.reset();
      say(`Invitation${n > 1 ? "s" : ""} sent to ${email}.`);
      await refresh();
    } catch (err) {
      // A 400 lists every problem of the request, separated by "; ".
      showCreateError(err.status === 400 ? err.message.split("; ").map(plainProblem)
        : [[null, sentence(err.message.replace(/; (.)/g, (m, c) => ". " + c.toUpperCase()))]]);
    } finally {
      submit.disabled = false;
      submit.textContent = "Send invitation";
    }
  });
  // plainProblem turns one of the API's problems ("allowed_until must be
  // after allowed_from") into the form's words and finds its field.
  function plainProblem(text) {
    let field = null;
    text = text.replace(fieldNames, (m) => {
      if (!field && fields[m][0]) field = fields[m][0];
      return fields[m][1];
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
    const res = await fetch("partials/invitations/" + encodeURIComponent(id), { credentials: "same-origin" });
    if (!res.ok) {
      let msg = `The server answered ${res.status}.`;
      try { msg = (await res.json()).detail || msg; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const body = $("#details-body");
    body.replaceChildren(document.adoptNode($("#details-content", doc)));
    localTimes(body);
    detailsDialog.showModal();
  }

  function showCode(code, who) {
    const body = $("#details-body");
    const h = document.createElement("h2");
    h.id = "details-title";
    h.textContent = who ? "Invite code for " + who : "Invite code";
    const p = document.createElement("p");
    p.className = "code";
    p.textContent = code.code;
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = code.expires_at
      ? "Redeem it in the Nuki app before " + exact.format(new Date(code.expires_at)) + "."
      : "Redeem it in the Nuki app.";
    body.replaceChildren(h, p, note);
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
            if (!await confirmAction("Re-send an accepted invitation?",
              `${who} already uses this key. A re-send deletes it: ${who} cannot open the lock until they redeem the new code.`,
              "Re-send anyway", true)) break;
            await api("POST", path + "/resend", { force: true });
          } else {
            if (!await confirmAction("Re-send the invitation?",
              `${who} gets a new invite code; the old one stops working.`, "Re-send")) break;
            await api("POST", path + "/resend");
          }
          say(`Re-sending to ${who}: waiting for the lock.`);
          await refresh();
          break;
        case "revoke":
          if (!await confirmAction("Revoke the invitation?",
            `${who} loses access to this lock. This cannot be undone.`, "Revoke", true)) break;
          await api("POST", path + "/revoke");
          say(`Access of ${who} revoked.`);
          await refresh();
          break;
        case "code":
          showCode(await api("POST", path + "/code"), who);
          break;
        case "confirm-sync":
          if (!await confirmAction("Revoke them all?",
            "Nuki Web no longer lists these keys. Confirm only if you deleted them there yourself; otherwise wait for the next sync to check again.",
            "Revoke", true)) break;
          await api("POST", "api/v1/sync/confirm");
          say("Confirmed; the sync carries the revocations out.");
          break;
        case "sync":
          // The server only asks for a sync; the sync line follows it live.
          await api("POST", "api/v1/sync");
          say("Sync with Nuki Web requested.");
          break;
      }
    } catch (err) {
      say(err.message, true);
    } finally {
      if (btn.isConnected) btn.disabled = false;
      refocus();
    }
  });

  localTimes(document);
  listen();
})();
