// The MP and Sub-MP tabs (beside Settings): the strategy decision in force, an edit form with hints
// (the server validates, exactly as `targets set FILE` does, and its errors are shown at the field),
// and the history of decisions with who changed what and when. Loaded before app.js: it adds its
// tabs to the page and registers their loaders in window.EXTRA_TABS, which app.js's router calls;
// the helpers it calls (call, explain, fmtTime, toast) are app.js's, used at call time.
"use strict";

(function () {
  const CLASSES = ["Stocks", "Bonds", "Alternatives", "Cash"];
  const TOL = 0.01;  // statemachine.models.SUM_TOLERANCE
  const TICKER = /^[0-9A-Z]{6,7}$/;  // statemachine.models.TICKER_RE (or CASH in the Cash class)
  const state = { current: null, history: null, offset: 0, limit: 10 };
  const API = "/api/macro-trading";
  // messages: i18n.js (loaded first); static labels carry data-i18n so the language toggle redraws them
  const T = (id, params) => window.t(id, params);
  const L = (tag, id, attrs = {}) => el(tag, { ...attrs, "data-i18n": id }, T(id));
  // app.js's h() is not defined yet when this file builds the tabs: the same builder (never innerHTML)
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const css = document.createElement("style");
  css.textContent = "input.invalid { border-color: #c0392b; background: #fdecea; } ul.changes { margin: 0; padding-left: 16px; }";
  document.head.append(css);

  // ---------------------------------------------------------------- the tabs' skeleton
  function section(id, title, help) {
    const s = document.createElement("section");
    s.id = `tab-${id}`; s.className = "tab"; s.hidden = true;
    s.append(
      el("div", { class: "toolbar" }, L("button", "common.refresh", { id: `${id}-refresh`, type: "button" }),
        el("span", { class: "grow" }), el("span", { id: `${id}-decided`, class: "muted small" })),
      el("div", { id: `${id}-error`, class: "alert", hidden: true }),
      el("h2", {}, L("span", title), " ", L("small", help, { class: "muted" })),
      el("table", { id: `${id}-current`, class: "grid narrow" }, el("thead"), el("tbody")),
      el("form", { id: `${id}-form`, class: "panel narrow", novalidate: true, autocomplete: "off" }),
      el("h3", {}, L("span", "tg.history"), L("small", "tg.historyHelp", { class: "muted" })),
      el("table", { id: `${id}-history`, class: "grid small" },
        el("thead", {}, el("tr", {}, el("th", {}, "#"), L("th", "tg.decided"), L("th", "tg.by"),
          L("th", "col.name"), L("th", "tg.whatChanged"))), el("tbody")),
      el("div", { class: "row" }, L("button", "tg.newer", { type: "button", class: "link", id: `${id}-newer` }),
        el("span", { id: `${id}-page`, class: "muted small" }),
        L("button", "tg.older", { type: "button", class: "link", id: `${id}-older` })));
    return s;
  }

  const nav = document.querySelector("nav.tabs");
  const after = nav.querySelector('a[data-tab="settings"]');
  const links = [["mp", "tg.tabMp"], ["submp", "tg.tabSub"]].map(([id, label]) =>
    L("a", label, { href: `#${id}`, role: "tab", "data-tab": id }));
  after.after(...links);
  const main = document.querySelector("main");
  main.append(section("mp", "tg.mpTitle", "tg.mpHelp"), section("submp", "tg.subTitle", "tg.subHelp"));

  // ---------------------------------------------------------------- loading
  async function load(kind) {
    const err = document.getElementById(`${kind}-error`);
    err.hidden = true;
    try {
      state.current = await window.call("GET", `${API}/targets`);
    } catch (e) {
      state.current = null;
      if (!(e.status === 409)) { err.textContent = window.explain(e); err.hidden = false; }
    }
    try {
      state.history = await window.call("GET",
        `${API}/targets/history?limit=${state.limit}&offset=${state.offset}`);
    } catch (e) { state.history = null; window.toast(window.explain(e), "error"); }
    render(kind);
  }

  function render(kind) {
    const c = state.current;
    document.getElementById(`${kind}-decided`).textContent = c
      ? T("tg.decision", { id: c.id, name: c.mp_id, time: window.fmtTime(c.decided_at), by: c.decided_by || T("tg.unknown") })
      : T("tg.noTargets");
    if (kind === "mp") { renderMpTable(c); renderMpForm(c); } else { renderSubTable(c); renderSubForm(c); }
    renderHistory(kind);
  }

  function renderMpTable(c) {
    const t = document.getElementById("mp-current");
    t.tHead.replaceChildren(el("tr", {}, el("th", {}, T("col.class")), el("th", { class: "num" }, T("col.targetPct"))));
    t.tBodies[0].replaceChildren(...(c ? Object.entries(c.mp).map(([k, v]) =>
      el("tr", { dataset: { cls: k } }, el("td", {}, k), el("td", { class: "num" }, Number(v).toFixed(2))))
      : [el("tr", {}, el("td", { colspan: 2, class: "muted" }, T("tg.none")))]));
  }

  function renderSubTable(c) {
    const t = document.getElementById("submp-current");
    t.tHead.replaceChildren(el("tr", {}, el("th", {}, T("col.class")), el("th", {}, T("col.ticker")), el("th", {}, T("col.name")),
      el("th", { class: "num" }, T("tg.weight")), el("th", { class: "num" }, T("tg.ofAccount"))));
    const rows = [];
    for (const [cls, weights] of Object.entries(c ? c.sub_mp : {})) {
      for (const [tk, w] of Object.entries(weights)) {
        rows.push(el("tr", { dataset: { ticker: tk } }, el("td", {}, cls), el("td", { class: "mono" }, tk),
          el("td", {}, (c.names || {})[tk] || ""), el("td", { class: "num" }, Number(w).toFixed(3)),
          el("td", { class: "num" }, ((c.mp[cls] || 0) * w).toFixed(2))));
      }
    }
    t.tBodies[0].replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, T("tg.none")))]));
  }

  // ---------------------------------------------------------------- edit forms
  function commonFields(kind, c) {
    return [
      el("label", { for: `${kind}-mp-id` }, T("tg.decisionName"), el("small", { class: "muted" }, "(mp_id)")),
      el("input", { id: `${kind}-mp-id`, name: "mp_id", maxlength: 32, value: c ? c.mp_id : "MP" }),
      el("label", { for: `${kind}-by` }, T("tg.decidedBy"), el("small", { class: "muted" }, T("tg.recorded"))),
      el("input", { id: `${kind}-by`, name: "decided_by", maxlength: 64, value: "web" }),
    ];
  }
  function saveRow(kind) {
    return el("div", { class: "row" },
      el("button", { type: "submit", class: "primary", id: `${kind}-save` }, T("tg.save")),
      el("span", { id: `${kind}-msg`, class: "small", role: "status" }));
  }
  function numberInput(id, field, value, step) {
    return el("input", { id, type: "number", step, min: "0", value: value === undefined ? "" : String(value),
      dataset: { field } });
  }

  function renderMpForm(c) {
    const f = document.getElementById("mp-form");
    const rows = CLASSES.map((k) => el("tr", {}, el("td", {}, el("label", { for: `mp-in-${k}` }, k)),
      el("td", {}, numberInput(`mp-in-${k}`, `mp.${k}`, c ? c.mp[k] ?? 0 : 0, "0.1"))));
    f.replaceChildren(el("h3", {}, T("tg.editMp")), ...commonFields("mp", c),
      el("table", { class: "grid small" }, el("tbody", {}, ...rows)),
      el("p", { id: "mp-sum", class: "small" }), saveRow("mp"));
    f.oninput = () => mpHint();
    f.onsubmit = (ev) => { ev.preventDefault(); save("mp"); };
    mpHint();
  }
  function mpValues() {
    const mp = {};
    for (const k of CLASSES) {
      const v = document.getElementById(`mp-in-${k}`).value;
      mp[k] = v === "" ? NaN : Number(v);
    }
    return mp;
  }
  function mpHint() {
    const mp = mpValues();
    const total = Object.values(mp).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const neg = Object.entries(mp).filter(([, v]) => !Number.isFinite(v) || v < 0).map(([k]) => k);
    const p = document.getElementById("mp-sum");
    const ok = Math.abs(total - 100) <= TOL && !neg.length;
    p.textContent = T("tg.sum", { total: total.toFixed(2), mark: ok ? "✓" : T("tg.must100") }) +
      (neg.length ? T("tg.notNumber", { list: neg.join(", ") }) : "");
    p.className = `small ${ok ? "ok" : "error"}`;
  }

  function renderSubForm(c) {
    const f = document.getElementById("submp-form");
    const blocks = [];
    for (const cls of CLASSES) {
      const weights = c ? (c.sub_mp[cls] || {}) : {};
      const rows = Object.entries(weights).map(([tk, w]) => subRow(cls, tk, w, (c.names || {})[tk] || ""));
      const body = el("tbody", { id: `submp-rows-${cls}` }, ...rows);
      blocks.push(el("h4", {}, cls, " ", el("span", { id: `submp-sum-${cls}`, class: "small" })),
        el("table", { class: "grid small", dataset: { cls } },
          el("thead", {}, el("tr", {}, el("th", {}, T("col.ticker")), el("th", {}, T("col.name")), el("th", {}, T("tg.weight")), el("th"))),
          body),
        el("button", { type: "button", class: "link", id: `submp-add-${cls}`,
          onclick: () => { body.append(subRow(cls, "", "", "")); subHint(); } }, T("tg.addEtf", { cls })));
    }
    f.replaceChildren(el("h3", {}, T("tg.editSub")), ...commonFields("submp", c), ...blocks,
      el("p", { id: "submp-hint", class: "small" }), saveRow("submp"));
    f.oninput = () => subHint();
    f.onsubmit = (ev) => { ev.preventDefault(); save("submp"); };
    subHint();
  }
  function subRow(cls, tk, w, name) {
    const tr = el("tr", { class: "sub-row", dataset: { cls } },
      el("td", {}, el("input", { class: "sub-ticker mono", value: tk, size: 8, maxlength: 7, "aria-label": `${cls} ticker` })),
      el("td", {}, el("input", { class: "sub-name", value: name, "aria-label": `${cls} name` })),
      el("td", {}, el("input", { class: "sub-weight", type: "number", step: "0.01", min: "0", value: String(w),
        "aria-label": `${cls} weight` })),
      el("td", {}, el("button", { type: "button", class: "link", onclick: () => { tr.remove(); subHint(); } }, T("tg.remove"))));
    return tr;
  }
  function subValues() {
    const sub = {}; const names = {};
    for (const cls of CLASSES) {
      const w = {};
      for (const tr of document.querySelectorAll(`#submp-rows-${cls} tr.sub-row`)) {
        const tk = tr.querySelector(".sub-ticker").value.trim().toUpperCase();
        const v = tr.querySelector(".sub-weight").value;
        if (!tk && v === "") continue;
        w[tk] = v === "" ? NaN : Number(v);
        const nm = tr.querySelector(".sub-name").value.trim();
        if (tk && nm) names[tk] = nm;
        tr.querySelector(".sub-ticker").dataset.field = `sub_mp.${cls}.${tk}`;
        tr.querySelector(".sub-weight").dataset.field = `sub_mp.${cls}.${tk}`;
      }
      if (Object.keys(w).length) sub[cls] = w;
    }
    return { sub, names };
  }
  function subHint() {
    const { sub } = subValues();
    const problems = [];
    for (const cls of CLASSES) {
      const w = sub[cls] || {};
      const total = Object.values(w).reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
      const span = document.getElementById(`submp-sum-${cls}`);
      const ok = !Object.keys(w).length || Math.abs(total - 1) <= TOL;
      span.textContent = Object.keys(w).length ? T("tg.subSum", { total: total.toFixed(3), mark: ok ? "✓" : T("tg.must1") }) : T("tg.empty");
      span.className = `small ${ok ? "ok" : "error"}`;
      for (const tk of Object.keys(w)) {
        if (tk === "CASH" ? cls !== "Cash" : !TICKER.test(tk)) problems.push(T("tg.badTicker", { cls, ticker: tk }));
        if (!Number.isFinite(w[tk]) || w[tk] < 0) problems.push(T("tg.badWeight", { cls, ticker: tk }));
      }
    }
    const p = document.getElementById("submp-hint");
    p.textContent = problems.join(" · ");
    p.className = "small error";
  }

  async function save(kind) {
    const msg = document.getElementById(`${kind}-msg`);
    const form = document.getElementById(`${kind}-form`);
    for (const x of form.querySelectorAll(".invalid")) x.classList.remove("invalid");
    const c = state.current;
    const body = {
      mp_id: document.getElementById(`${kind}-mp-id`).value.trim() || "MP",
      decided_by: document.getElementById(`${kind}-by`).value.trim() || "web",
      mp: kind === "mp" ? mpValues() : (c ? c.mp : {}),
      sub_mp: c ? c.sub_mp : {},
      names: c ? (c.names || {}) : {},
    };
    if (kind === "submp") { const v = subValues(); body.sub_mp = v.sub; body.names = v.names; }
    // NaN is not JSON: send null so that the server names the field
    body.mp = Object.fromEntries(Object.entries(body.mp).map(([k, v]) => [k, Number.isFinite(v) ? v : null]));
    body.sub_mp = Object.fromEntries(Object.entries(body.sub_mp).map(([k, w]) =>
      [k, Object.fromEntries(Object.entries(w).map(([t, v]) => [t, Number.isFinite(v) ? v : null]))]));
    try {
      const d = await window.call("PUT", `${API}/targets`, body);
      state.offset = 0;
      await load(kind);
      const m = document.getElementById(`${kind}-msg`);
      m.textContent = T("tg.saved", { id: d.id }); m.className = "small ok";
    } catch (e) {
      msg.textContent = window.explain(e); msg.className = "small error";
      const field = e.body && e.body.field;
      if (field) {
        for (const x of form.querySelectorAll("[data-field]")) {
          if (x.dataset.field === field || x.dataset.field.startsWith(`${field}.`)) x.classList.add("invalid");
        }
      }
    }
  }

  // ---------------------------------------------------------------- history
  const show = (v) => (v === null || v === undefined ? "–" : String(v));
  function renderHistory(kind) {
    const t = document.getElementById(`${kind}-history`).tBodies[0];
    const hist = state.history;
    const rows = hist ? hist.decisions.map((d) => {
      const changes = d.changes.filter((ch) => kind === "mp" ? !ch.field.startsWith("sub_mp.") : ch.field !== "mp_id" && !ch.field.startsWith("mp."));
      return el("tr", { dataset: { id: String(d.id) } }, el("td", {}, String(d.id)), el("td", {}, window.fmtTime(d.decided_at)),
        el("td", {}, d.decided_by || T("tg.unknown")), el("td", {}, d.mp_id),
        el("td", {}, changes.length ? el("ul", { class: "changes" }, ...changes.map((ch) =>
          el("li", {}, el("span", { class: "mono" }, ch.field), ": ", show(ch.before), " → ", show(ch.after))))
          : el("span", { class: "muted" }, T(kind === "mp" ? "tg.mpUnchanged" : "tg.subUnchanged"))));
    }) : [];
    t.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 5, class: "muted" }, T("tg.noDecisions")))]));
    const total = hist ? hist.total : 0;
    document.getElementById(`${kind}-page`).textContent = total
      ? T("tg.page", { from: state.offset + 1, to: Math.min(total, state.offset + state.limit), total }) : "";
    document.getElementById(`${kind}-newer`).disabled = state.offset === 0;
    document.getElementById(`${kind}-older`).disabled = state.offset + state.limit >= total;
  }

  for (const kind of ["mp", "submp"]) {
    document.getElementById(`${kind}-refresh`).addEventListener("click", () => load(kind));
    document.getElementById(`${kind}-newer`).addEventListener("click", () => {
      state.offset = Math.max(0, state.offset - state.limit); load(kind);
    });
    document.getElementById(`${kind}-older`).addEventListener("click", () => { state.offset += state.limit; load(kind); });
  }
  window.EXTRA_TABS = Object.assign(window.EXTRA_TABS || {}, { mp: () => load("mp"), submp: () => load("submp") });
})();
