// Operator page of the rebalancer. No build step, no framework: DOM built with h(), never innerHTML
// with data (run reasons and names come from outside). The API token lives in sessionStorage only.
"use strict";

const API = "/api/macro-trading";
const TOKEN_KEY = "rebalance.token";
const $ = (sel) => document.querySelector(sel);

// ------------------------------------------------------------------ small helpers
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
// strings come from i18n.js: t(id, params); numbers and dates are formatted for the page's language
// (function declarations: targets.js calls window.fmtTime)
function fmtKrw(n) { return fmtInt(n); }
function fmtPct(n, d = 2) { return fmtDec(n, d); }
function fmtPp(n) { return fmtDec(n, 2, true); }
function fmtTime(iso) { return fmtDateTime(iso); }
// status names (SUCCEEDED, BLOCKED...) are identifiers and stay; their meaning is the tooltip
function statusBadge(status) {
  return h("span", { class: `badge st-${(status || "").toLowerCase()}`, title: status ? t(`status.${status}`) : null },
    status || "–");
}
function toast(msg, kind = "info") {
  const t = $("#toast");
  t.textContent = msg;
  t.className = `toast ${kind}`;
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, kind === "error" ? 8000 : 4000);
}

// ------------------------------------------------------------------ API access
function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && token()) headers.Authorization = `Bearer ${token()}`;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await res.json(); } catch (_) { data = null; }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}
function explain(err) {
  if (!(err instanceof ApiError)) return String(err.message || err);
  let m = err.message;
  if (err.status === 401 || err.status === 403) m += t("error.needToken");
  if (err.body.allowed) m += t("error.allowed", { list: err.body.allowed.join(", ") });
  return m;
}

// ------------------------------------------------------------------ token
function showTokenState() {
  const s = $("#token-state");
  const has = !!token();
  s.textContent = has ? t("token.set") : t("token.readOnly");
  s.className = `badge ${has ? "st-succeeded" : "st-stopped"}`;
  $("#token-input").value = "";
  $("#token-input").placeholder = has ? t("token.replace") : t("token.placeholder");
}
$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const v = $("#token-input").value.trim();
  if (!v) { toast(t("token.enterFirst"), "error"); return; }
  sessionStorage.setItem(TOKEN_KEY, v);
  showTokenState();
  toast(t("token.kept"));
});
$("#token-clear").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showTokenState();
  toast(t("token.forgotten"));
});

// ------------------------------------------------------------------ tabs (hash routing)
const TABS = ["drift", "runs", "settings", ...Object.keys(window.EXTRA_TABS || {}), "machine", "backtest", "accounts"];  // EXTRA_TABS: targets.js
function route() {
  const [tab, arg] = (location.hash.replace(/^#/, "") || "drift").split("/");
  const name = TABS.includes(tab) ? tab : "drift";
  for (const t of TABS) {
    $(`#tab-${t}`).hidden = t !== name;
    const link = document.querySelector(`nav a[data-tab="${t}"]`);
    link.classList.toggle("active", t === name);
    link.setAttribute("aria-selected", String(t === name));
  }
  if (name === "drift") loadDrift();
  if (name === "runs") { loadRuns(); if (arg) loadRun(decodeURIComponent(arg)); else $("#run-detail").hidden = true; }
  if (name === "settings") loadConfig();
  if (name === "machine") loadMachine();
  if (window.EXTRA_TABS && window.EXTRA_TABS[name]) window.EXTRA_TABS[name](arg);
  if (name === "backtest" && window.loadBacktest) window.loadBacktest();  // backtest.js
  if (name === "accounts" && typeof loadAccounts === "function") loadAccounts(arg ? decodeURIComponent(arg) : null);
}
window.addEventListener("hashchange", route);

// ------------------------------------------------------------------ drift
function driftBar(drift, threshold, scale = 30) {
  const w = Math.min(50, (Math.abs(drift) / scale) * 50);
  const exceeded = Math.abs(drift) >= threshold;
  const bar = h("div", { class: `bar ${drift < 0 ? "neg" : "pos"} ${exceeded ? "exceeded" : ""}` });
  bar.style.width = `${w}%`;
  bar.style[drift < 0 ? "right" : "left"] = "50%";
  const tl = h("div", { class: "thr" }); tl.style.left = `${50 - (threshold / scale) * 50}%`;
  const tr = h("div", { class: "thr" }); tr.style.left = `${50 + (threshold / scale) * 50}%`;
  return h("div", { class: "barbox", title: t("drift.barTitle", { threshold }) }, tl, tr, h("div", { class: "axis" }), bar);
}
const exceededTag = (x) => (x ? h("span", { class: "tag exceeded" }, t("tag.exceeded"))
  : h("span", { class: "tag ok" }, t("tag.ok")));
// (inside the tickers' map below, `t` is a ticker: the tag is built out here)
const untargetedTag = () => h("span", { class: "tag exceeded" }, t("tag.untargeted"));

async function loadDrift() {
  const err = $("#drift-error");
  try {
    const d = await call("GET", `${API}/rebalancing-status`);
    err.hidden = true;
    renderDrift(d);
  } catch (e) {
    err.textContent = t("drift.cannotRead", { message: explain(e) });
    err.hidden = false;
  }
}
function card(label, value, extra, cls = "") {
  return h("div", { class: `card ${cls}` }, h("div", { class: "label" }, label), h("div", { class: "value" }, value),
    extra ? h("div", { class: "extra" }, extra) : null);
}
function renderDrift(d) {
  const cards = $("#drift-cards");
  cards.replaceChildren(...[
    card(t("card.verdict"), d.needed ? t("card.needed") : t("card.within"),
      d.needed ? t("card.bandsExceeded", { count: d.exceeded.length }) : t("card.noDrift"),
      d.needed ? "bad" : "good"),
    card(t("card.accountValue"), t("common.krw", { amount: fmtKrw(d.total) }), t("card.cash", { amount: fmtKrw(d.cash) })),
    card(t("card.thresholds"), t("card.thresholdValues", { mp: d.thresholds.mp, sub: d.thresholds.sub_mp }),
      h("a", { href: "#settings" }, t("card.change"))),
    card(t("card.targets"), d.mp_id, t("card.decided", { time: fmtTime(d.decided_at) })),
    d.active_run_id ? card(t("card.activeRun"), h("a", { href: `#runs/${d.active_run_id}` }, d.active_run_id),
      t("card.inProgress"), "warn") : null,
  ].filter(Boolean));
  cards.dataset.needed = String(d.needed);
  const mp = $("#mp-table tbody");
  mp.replaceChildren(...d.classes.map((c) => h("tr", { class: c.exceeded ? "exceeded" : "", dataset: { class: c.asset_class } },
    h("td", {}, c.asset_class), h("td", { class: "num" }, fmtPct(c.target_pct)), h("td", { class: "num" }, fmtPct(c.actual_pct)),
    h("td", { class: "num strong" }, fmtPp(c.drift)), h("td", { class: "bar-col" }, driftBar(c.drift, d.thresholds.mp)),
    h("td", { class: "num" }, fmtKrw(c.value)), h("td", {}, exceededTag(c.exceeded)))));
  const sub = $("#sub-table tbody");
  let last = null;
  sub.replaceChildren(...d.tickers.map((t) => {
    const first = t.asset_class !== last; last = t.asset_class;
    return h("tr", { class: `${t.exceeded ? "exceeded" : ""} ${first ? "group" : ""}`, dataset: { ticker: t.ticker } },
      h("td", { class: "muted" }, first ? t.asset_class : ""), h("td", { class: "mono" }, t.ticker), h("td", {}, t.name),
      h("td", { class: "num" }, t.ticker === "CASH" ? "–" : fmtKrw(t.quantity)),
      h("td", { class: "num" }, t.ticker === "CASH" ? "–" : fmtKrw(t.price)),
      h("td", { class: "num" }, fmtKrw(t.value)), h("td", { class: "num" }, fmtPct(t.target_weight)),
      h("td", { class: "num" }, fmtPct(t.actual_weight)), h("td", { class: "num strong" }, fmtPp(t.drift)),
      h("td", {}, t.asset_class === "Other" ? untargetedTag() : exceededTag(t.exceeded)));
  }));
}
$("#refresh-drift").addEventListener("click", loadDrift);

// ------------------------------------------------------------------ confirmation dialog
function confirmAction({ title, text, targets = null, docs = {}, okLabel = t("common.confirm"), needReason = true }) {
  return new Promise((resolve) => {
    const dlg = $("#confirm-dialog");
    $("#confirm-title").textContent = title;
    $("#confirm-text").textContent = text;
    $("#confirm-reason").value = "";
    $("#confirm-error").textContent = "";
    $("#confirm-reason-row").hidden = !needReason;
    $("#confirm-target-row").hidden = !targets;
    if (targets) {
      const sel = $("#confirm-target");
      sel.replaceChildren(...targets.map((t) => h("option", { value: t }, t)));
      const showDoc = () => { $("#confirm-target-doc").textContent = docs[sel.value] || ""; };
      sel.onchange = showDoc; showDoc();
    }
    $("#confirm-ok").textContent = okLabel;
    const done = (v) => { dlg.close(); resolve(v); };
    $("#confirm-ok").onclick = () => {
      const reason = $("#confirm-reason").value.trim();
      if (needReason && !reason) { $("#confirm-error").textContent = t("confirm.reasonRequired"); return; }
      done({ reason, target: targets ? $("#confirm-target").value : null });
    };
    $("#confirm-cancel").onclick = () => done(null);
    dlg.oncancel = () => resolve(null);
    dlg.showModal();
    (needReason ? $("#confirm-reason") : $("#confirm-ok")).focus();
  });
}

// ------------------------------------------------------------------ rebalance now
$("#start-rebalance").addEventListener("click", async () => {
  const ok = await confirmAction({
    title: t("rebalance.title"), okLabel: t("rebalance.ok"), needReason: false, text: t("rebalance.text"),
  });
  if (!ok) return;
  try {
    const r = await call("POST", `${API}/rebalance`, { actor: "web" });
    toast(t("rebalance.started", { id: r.run_id }));
    location.hash = `#runs/${r.run_id}`;
  } catch (e) { toast(explain(e), "error"); }
});

// ------------------------------------------------------------------ rebalancing test dialog
$("#open-test").addEventListener("click", () => {
  $("#test-result").replaceChildren();
  $("#test-dialog").showModal();
});
$("#test-close").addEventListener("click", () => { $("#test-dialog").close(); loadDrift(); });
$("#test-phase").addEventListener("change", () => {
  $("#test-warning").hidden = $("#test-phase").value !== "5";
  $("#test-confirm").checked = false;
});
$("#test-run").addEventListener("click", async () => {
  const phase = Number($("#test-phase").value);
  if (phase === 5 && !$("#test-confirm").checked) { toast(t("test.tick"), "error"); return; }
  const btn = $("#test-run");
  btn.disabled = true; $("#test-busy").hidden = false;
  $("#test-result").replaceChildren();
  try {
    const r = await call("POST", `${API}/rebalance/test`, { max_phase: phase, actor: "web-test", confirm: phase === 5 });
    $("#test-result").replaceChildren(renderResult(r));
  } catch (e) {
    $("#test-result").replaceChildren(h("div", { class: "alert danger" }, explain(e),
      e.body && e.body.run_id ? h("div", {}, h("a", { href: `#runs/${e.body.run_id}` }, t("test.openRun", { id: e.body.run_id }))) : null));
  } finally { btn.disabled = false; $("#test-busy").hidden = true; }
});

function lastReason(view) {
  const t = view.transitions[view.transitions.length - 1];
  return t ? t.reason || "" : "";
}
function driftSummary(drift, label) {
  if (!drift) return null;
  const ex = [...drift.classes.filter((c) => c.exceeded).map((c) => `MP ${c.asset_class} ${fmtPp(c.drift)}`),
    ...drift.tickers.filter((t) => t.exceeded).map((t) => `Sub-MP ${t.ticker} ${fmtPp(t.drift)}`)];
  return h("div", { class: "drift-summary" },
    h("h4", {}, t("summary.head", { label, total: fmtPct(drift.total_abs_drift),
      verdict: drift.needed ? t("summary.needed") : t("summary.within") })),
    h("div", { class: "classes" }, ...drift.classes.map((c) => h("span", { class: `chip ${c.exceeded ? "exceeded" : ""}` },
      `${c.asset_class} ${fmtPct(c.actual_pct, 1)}% / ${fmtPct(c.target_pct, 1)}% (${fmtPp(c.drift)})`))),
    ex.length ? h("p", { class: "small" }, t("summary.exceeded"), ex.join(" · ")) : null);
}
function fmtUsd(micros) {
  return micros === null || micros === undefined ? "–"
    : new Intl.NumberFormat(locale(), { style: "currency", currency: "USD", minimumFractionDigits: 4,
      maximumFractionDigits: 4 }).format(micros / 1e6);
}
function llmText(c) {
  if (!c || !c.llm_attempts) return t("llm.none");
  return t("llm.some", { attempts: c.llm_attempts, total: fmtKrw(c.total_tokens), input: fmtKrw(c.prompt_tokens),
    output: fmtKrw(c.output_tokens), usd: fmtUsd(c.usd_micros),
    unpriced: c.unpriced_attempts ? t("llm.unpriced", { count: c.unpriced_attempts }) : "",
    models: (c.models || []).join(", ") });
}
function plansBlock(plans) {
  if (!plans.length) return null;
  return h("div", {}, ...plans.map((p) => h("div", { class: "plan" },
    h("h4", {}, t(p.side === "sell" ? "plan.sell" : "plan.buy", { attempt: p.attempt, planner: p.planner })
      + (p.meta && p.meta.cost ? t("plan.tokens", { tokens: fmtKrw(p.meta.cost.total_tokens), usd: fmtUsd(p.meta.cost.usd_micros) })
        : "") + ": ",
      p.passed === true ? h("span", { class: "tag ok" }, t("plan.passed"))
        : p.passed === false ? h("span", { class: "tag exceeded" }, t("plan.failed")) : h("span", { class: "tag" }, t("plan.unchecked"))),
    p.error ? h("p", { class: "error small" }, p.error) : null,
    p.orders.length ? h("table", { class: "grid small" },
      h("thead", {}, h("tr", {}, h("th", {}, t("col.ticker")), h("th", {}, t("col.name")), h("th", { class: "num" }, t("col.qty")),
        h("th", {}, t("col.why")))),
      h("tbody", {}, ...p.orders.map((o) => h("tr", {}, h("td", { class: "mono" }, o.ticker), h("td", {}, o.name),
        h("td", { class: "num" }, fmtKrw(o.quantity)), h("td", { class: "small" }, o.reason)))))
      : h("p", { class: "small muted" }, t("plan.noOrders")),
    p.checks.length ? h("ul", { class: "checks" }, ...p.checks.map((c) => h("li", { class: c.passed ? "pass" : "fail" },
      h("span", { class: "mark" }, c.passed ? "✓" : "✗"), ` ${c.rule}${c.ticker ? " " + c.ticker : ""}: ${c.message}`))) : null)));
}
function fillsBlock(view) {
  const rows = [...((view.sell_fills || {}).fills || []), ...((view.buy_fills || {}).fills || [])];
  if (!rows.length) return null;
  const projected = (view.sell_fills || view.buy_fills || {}).projected;
  return h("div", {}, h("h4", {}, projected ? t("fills.projected") : t("fills.title")),
    h("table", { class: "grid small" },
      h("thead", {}, h("tr", {}, ...["col.side", "col.ticker", "col.name", "col.intended", "col.filled", "col.amountKrw", "col.fees", "col.status"]
        .map((x, i) => h("th", { class: i >= 3 && i <= 6 ? "num" : "" }, t(x))))),
      h("tbody", {}, ...rows.map((f) => h("tr", {}, h("td", {}, t(`side.${f.side}`)), h("td", { class: "mono" }, f.ticker), h("td", {}, f.name),
        h("td", { class: "num" }, fmtKrw(f.intended)), h("td", { class: "num" }, fmtKrw(f.filled)),
        h("td", { class: "num" }, fmtKrw(f.amount)), h("td", { class: "num" }, fmtKrw(f.fees)), h("td", {}, f.status))))));
}
// the run's orders as the broker knows them (intent / sent / filled / unknown ...), each with its order
// number: what an interrupted run left at the broker, before any fill summary exists
function ordersBlock(view) {
  const orders = (view.orders || []).filter((o) => o.status !== "PROJECTED");
  if (!orders.length) return null;
  return h("div", { class: "orders-block" }, h("h4", {}, t("orders.title")),
    h("table", { class: "grid small orders" },
      h("thead", {}, h("tr", {}, ...["col.side", "col.ticker", "col.name", "col.state", "col.qty", "col.filled", "col.avgPrice", "col.orderNo", "col.note"]
        .map((x, i) => h("th", { class: i >= 4 && i <= 6 ? "num" : "" }, t(x))))),
      h("tbody", {}, ...orders.map((o) => h("tr", { dataset: { order: String(o.id), state: o.status } },
        h("td", {}, t(`side.${o.side}`)), h("td", { class: "mono" }, o.ticker), h("td", {}, o.name),
        h("td", {}, h("span", { class: `tag ord-${o.status.toLowerCase()}` }, o.status)),
        h("td", { class: "num" }, fmtKrw(o.quantity)), h("td", { class: "num" }, fmtKrw(o.filled_quantity)),
        h("td", { class: "num" }, o.filled_quantity ? fmtKrw(Math.round(o.avg_price)) : "–"),
        h("td", { class: "mono" }, o.odno || "–"), h("td", { class: "small" }, o.message || ""))))));
}
function leaseAlert(lease) {
  if (!lease || !lease.message || (lease.state !== "stale" && lease.state !== "free")) return null;
  return h("div", { class: "alert warn lease-alert", dataset: { lease: lease.state } }, lease.message);
}
function renderResult(view) {
  const run = view.run;
  const hist = view.history;
  return h("div", { class: "result-body", dataset: { status: run.status, state: run.state } },
    h("div", { class: "headline" }, statusBadge(run.status), t("result.in", { state: run.state, phase: run.max_phase }),
      h("a", { href: `#runs/${run.id}`, onclick: () => $("#test-dialog").close() }, t("result.run", { id: run.id }))),
    h("p", { class: "reason" }, run.error || lastReason(view)),
    driftSummary(view.drift_before, t("summary.driftBefore")),
    plansBlock(view.plans),
    fillsBlock(view),
    view.orders.length ? driftSummary(view.drift_after, t("summary.driftAfter")) : null,
    hist && hist.trades.length ? h("p", {}, t("result.trades", { count: hist.trades.length, cost: fmtKrw(hist.total_cost) }))
      : null,
    h("p", { class: "small llm-cost" }, t("llm.line", { text: llmText(view.llm_cost) })),
    h("details", {}, h("summary", {}, t("result.raw")), h("pre", {}, JSON.stringify(view, null, 2))));
}

// ------------------------------------------------------------------ runs
let runsTimer = null;
let runsShown = "";
// auto-refresh never re-renders what is under the pointer or holds the focus (a click would hit a
// detached row): it waits, and it replaces the table only when a row changed
const pointerIn = (el) => el.matches(":hover") || el.contains(document.activeElement);
async function loadRuns() {
  try {
    const { runs } = await call("GET", `${API}/runs?limit=100`);
    const tb = $("#runs-table tbody");
    const key = `${I18N.lang}|${location.hash}|` + runs.map((r) => `${r.id}:${r.status}:${r.state}:${r.checkpoint}:${(r.lease || {}).state}`).join(",");
    // a run driven by a live process (not one whose holder died): that is what "in progress" means
    const busy = runs.some((r) => r.status === "RUNNING" && (r.driven_here || (r.lease || {}).state === "live"));
    const stale = runs.filter((r) => r.lease && (r.lease.state === "stale" || (r.status === "RUNNING" && r.lease.state === "free")));
    $("#runs-note").textContent = busy ? t("runs.busy")
      : stale.length ? t("runs.countStale", { count: runs.length, stale: stale.length, message: stale[0].lease.message })
        : t("runs.count", { count: runs.length });
    clearTimeout(runsTimer);
    if (busy && !$("#tab-runs").hidden) runsTimer = setTimeout(route, 1500);
    if (key === runsShown) return;
    if (runsShown && pointerIn($("#runs-table"))) { runsTimer = setTimeout(route, 1500); return; }  // later
    runsShown = key;
    tb.replaceChildren(...runs.map((r) => h("tr", {
      dataset: { run: r.id, status: r.status }, class: location.hash === `#runs/${r.id}` ? "selected" : "",
      onclick: () => { location.hash = `#runs/${r.id}`; },
    },
    h("td", {}, fmtTime(r.created_at)), h("td", { class: "mono small" }, r.id), h("td", {}, statusBadge(r.status)),
    h("td", {}, String(r.max_phase)), h("td", {}, `${r.thresholds.mp} / ${r.thresholds.sub_mp}`),
    h("td", { class: "num" }, r.drift_before === null ? "–"
      : t("runs.driftCell", { before: fmtPct(r.drift_before), after: fmtPct(r.drift_after) })),
    h("td", { class: "num" }, r.trades === null ? "–" : String(r.trades)),
    h("td", { class: "num" }, fmtKrw(r.total_cost)),
    h("td", { class: "num" }, r.llm_cost && r.llm_cost.llm_attempts ? fmtUsd(r.llm_cost.usd_micros) : "–"),
    h("td", { class: "small" }, r.state))));
    if (!runs.length) tb.replaceChildren(h("tr", {}, h("td", { colspan: 10, class: "muted" }, t("runs.none"))));
  } catch (e) { toast(explain(e), "error"); }
}
$("#refresh-runs").addEventListener("click", route);

let machineDocs = null;
async function forceDocs() {
  if (!machineDocs) {
    const m = await call("GET", "/api/state-machine");
    machineDocs = m;
  }
  return machineDocs;
}

let shownRun = "";
async function loadRun(id) {
  const box = $("#run-detail");
  try {
    const v = await call("GET", `${API}/runs/${encodeURIComponent(id)}`);
    const key = `${I18N.lang}:${id}:${v.run.checkpoint}:${v.run.status}:${v.driven_here}:${v.run.updated_at}:${(v.lease || {}).state}:`
      + v.orders.map((o) => `${o.status}/${o.filled_quantity}`).join(",");
    if (key === shownRun && !box.hidden) return;  // polling: nothing new, keep the page still
    shownRun = key;
    box.hidden = false;
    box.replaceChildren(await renderRun(v));
    await drawDiagram(box.querySelector(".diagram"), v.mermaid);
  } catch (e) {
    shownRun = "";
    box.hidden = false;
    box.replaceChildren(h("div", { class: "alert danger" }, explain(e)));
  }
}

async function operator(run, action) {
  const m = await forceDocs();
  if (action === "force") {
    const targets = run.allowed;
    const docs = {};
    for (const t of m.transitions) if (t.kind === "operator" && t.source === run.state) docs[t.dest] = `${t.trigger}: ${t.doc}`;
    docs.ABORTED = t("op.abortDoc");
    const r = await confirmAction({ title: t("op.forceTitle", { id: run.id }), okLabel: t("op.forceOk"),
      text: t("op.forceText", { status: run.status, state: run.state }), targets, docs });
    if (!r) return;
    return call("POST", `${API}/runs/${run.id}/force`, { target: r.target, reason: r.reason, actor: "web" });
  }
  if (action === "retry-buys") {
    const r = await confirmAction({ title: t("op.retryTitle", { id: run.id }), okLabel: t("op.retryOk"),
      text: t("op.retryText") });
    if (!r) return;
    return call("POST", `${API}/runs/${run.id}/retry-buys`, { reason: r.reason, actor: "web" });
  }
  if (action === "abort") {
    const r = await confirmAction({ title: t("op.abortTitle", { id: run.id }), okLabel: t("op.abortOk"),
      text: t("op.abortText") });
    if (!r) return;
    return call("POST", `${API}/runs/${run.id}/abort`, { reason: r.reason, actor: "web" });
  }
  const r = await confirmAction({ title: t("op.resumeTitle", { id: run.id }), okLabel: t("op.resumeOk"),
    text: t(run.max_phase === 5 ? "op.resumeTextOrders" : "op.resumeText", { state: run.state }), needReason: false });
  if (!r) return;
  return call("POST", `${API}/runs/${run.id}/resume`);
}

async function renderRun(v) {
  const r = v.run;
  const active = r.status === "RUNNING" || r.status === "BLOCKED";
  const forceable = v.allowed_force_targets.filter((t) => t !== "ABORTED");
  // the table's recovery edges (kind "recovery") say where a PARTIAL run's buy side can be retried from
  const recoverable = r.status === "PARTIAL"
    && (await forceDocs()).transitions.some((t) => t.kind === "recovery" && t.source === r.state);
  const act = (action) => async () => {
    try {
      const out = await operator({ ...r, allowed: v.allowed_force_targets }, action);
      if (out) { toast(t("op.done", { action })); route(); }
    } catch (e) { toast(explain(e), "error"); }
  };
  const buttons = h("div", { class: "toolbar" },
    active && r.status === "RUNNING" && !v.driven_here ? h("button", { id: "op-resume", onclick: act("resume") }, t("op.resume")) : null,
    (active || r.status === "FAILED") && forceable.length ? h("button", { id: "op-force", onclick: act("force") }, t("op.force")) : null,
    active ? h("button", { id: "op-abort", class: "danger", onclick: act("abort") }, t("op.abort")) : null,
    r.status === "PARTIAL" && recoverable
      ? h("button", { id: "op-retry-buys", onclick: act("retry-buys") }, t("op.retryBuys")) : null,
    v.driven_here ? h("span", { class: "muted small" }, t("op.drivenHere")) : null);
  const tl = h("table", { class: "grid small timeline" },
    h("thead", {}, h("tr", {}, ...["#", t("col.time"), t("col.took"), t("col.transition"), t("col.status"), t("col.actor"), t("col.whatHappened")]
      .map((x) => h("th", {}, x)))),
    h("tbody", {}, ...v.transitions.map((t) => h("tr", { class: t.actor !== "engine" && t.actor !== r.actor ? "operator" : "" },
      h("td", {}, String(t.seq)), h("td", { class: "mono" }, fmtClock(t.at)),
      h("td", { class: "num" }, t.duration_ms === null ? "" : `${fmtDec(t.duration_ms / 1000)}s`),
      h("td", {}, h("span", { class: "mono" }, t.trigger), h("br"),
        h("span", { class: "muted" }, t.from === "-" || t.from === t.to ? t.to : `${t.from} → ${t.to}`)),
      h("td", {}, statusBadge(t.status)), h("td", {}, t.actor), h("td", { class: "small" }, t.reason || "")))));
  const hist = v.history;
  return h("div", {},
    h("div", { class: "run-head" }, h("h2", {}, t("run.title", { id: r.id })), statusBadge(r.status),
      h("span", { class: "muted" }, t("run.meta", { state: r.state, phase: r.max_phase, planner: r.planner, actor: r.actor,
        mp: r.thresholds.mp, sub: r.thresholds.sub_mp }))),
    r.error ? h("div", { class: "alert danger" }, r.error) : null,
    r.blocked_reason ? h("div", { class: "alert warn" }, t("run.blocked", { reason: r.blocked_reason })) : null,
    leaseAlert(v.lease),
    buttons,
    h("div", { class: "split" },
      h("div", {}, h("div", { class: "diagram" }),
        h("p", { class: "small muted" }, h("span", { class: "legend cur" }, t("run.legendCurrent")),
          h("span", { class: "legend prev" }, t("run.legendPassed")), t("run.legendOperator"))),
      h("div", {}, h("h3", {}, t("run.timeline")), tl,
        ...(v.interruptions || []).map((i) => h("p", { class: "alert warn small interruption" },
          t("run.interruption", { seq: i.after_seq, message: i.message }))),
        hist ? h("p", { class: "summary" }, t("run.result"), statusBadge(hist.status),
          t("run.resultLine", { count: hist.trades.length, cost: fmtKrw(hist.total_cost),
            before: fmtPct((hist.drift_before || {}).total_abs_drift), after: fmtPct((hist.drift_after || {}).total_abs_drift) }))
          : null,
        h("p", { class: "small llm-cost" }, t("llm.line", { text: llmText(v.llm_cost) })))),
    driftSummary(v.drift_before, t("summary.driftBefore")),
    plansBlock(v.plans), fillsBlock(v), ordersBlock(v),
    v.orders.length ? driftSummary(v.drift_after, t("summary.driftAfter")) : null);
}

// ------------------------------------------------------------------ state diagram
let diagramSeq = 0;
function fallbackDiagram(el, text) {
  el.replaceChildren(h("pre", { class: "mermaid-src" }, text));
}
async function drawDiagram(el, text) {
  if (!el) return;
  // the title block goes (the page has its own); top-to-bottom fits beside a table better than left-to-right
  const src = text.replace(/^---[\s\S]*?---\s*/, "").replace("direction LR", "direction TB");
  if (!window.mermaid) { fallbackDiagram(el, src); return; }
  try {
    if (!drawDiagram.ready) {
      window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral",
        state: { useMaxWidth: true } });
      drawDiagram.ready = true;
    }
    const { svg } = await window.mermaid.render(`sm${++diagramSeq}`, src);
    const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
    el.replaceChildren(document.importNode(doc.documentElement, true));
    el.dataset.rendered = "true";
  } catch (e) {
    fallbackDiagram(el, src);
    el.dataset.rendered = "false";
  }
}

async function loadMachine() {
  try {
    const m = await forceDocs();
    await drawDiagram($("#machine-diagram"), m.mermaid);
    $("#machine-table tbody").replaceChildren(...m.transitions.map((t) => h("tr", { class: `kind-${t.kind}` },
      h("td", { class: "mono" }, t.trigger), h("td", {}, t.source), h("td", {}, t.dest),
      h("td", {}, h("span", { class: `tag kind-${t.kind}` }, t.kind)), h("td", {}, t.doc))));
    $("#phase-table tbody").replaceChildren(...m.max_phase.map((p) => h("tr", {},
      h("td", {}, String(p.max_phase)), h("td", {}, p.state), h("td", {}, p.sends_orders ? t("machine.sent") : t("machine.none")),
      h("td", { class: "small" }, p.doc))));
  } catch (e) { toast(explain(e), "error"); }
}

// ------------------------------------------------------------------ settings
async function loadConfig() {
  try {
    const c = await call("GET", `${API}/rebalancing/config`);
    $("#mp-threshold").value = c.mp_threshold_percent;
    $("#sub-threshold").value = c.sub_mp_threshold_percent;
    $("#config-table tbody").replaceChildren(...(c.recent.length ? c.recent.map((r) => h("tr", {},
      h("td", {}, String(r.id)), h("td", {}, fmtTime(r.updated_at)), h("td", { class: "num" }, String(r.mp_threshold_percent)),
      h("td", { class: "num" }, String(r.sub_mp_threshold_percent))))
      : [h("tr", {}, h("td", { colspan: 4, class: "muted" }, t("settings.noRows")))]));
  } catch (e) { toast(explain(e), "error"); }
}
$("#settings-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = $("#settings-msg");
  const mp = $("#mp-threshold"); const sub = $("#sub-threshold");
  for (const inp of [mp, sub]) {
    if (!inp.checkValidity() || inp.value === "") {
      msg.textContent = t("settings.range", { label: t(inp === mp ? "settings.mp" : "settings.sub") });
      msg.className = "small error"; inp.focus(); return;
    }
  }
  try {
    await call("POST", `${API}/rebalancing/config`,
      { mp_threshold_percent: Number(mp.value), sub_mp_threshold_percent: Number(sub.value) });
    msg.textContent = t("settings.saved"); msg.className = "small ok";
    loadConfig();
  } catch (e) { msg.textContent = explain(e); msg.className = "small error"; }
});

// ------------------------------------------------------------------ start
let info = null;
function showInfo() {
  if (!info) return;
  $("#account").textContent = t("account.line", { account: info.account,
    broker: info.broker === "sim" ? t("account.sim") : t("account.kis") })
    + (info.writes_enabled ? "" : t("account.readOnly"));
  if (!info.writes_enabled) {
    for (const sel of ["#open-test", "#start-rebalance", "#settings-save", "#token-save"]) {
      $(sel).disabled = true;
      $(sel).title = t("account.writesDisabled");
    }
  }
}
// the language toggle: kept in localStorage; everything on screen is drawn again in the new language
$("#lang-select").addEventListener("change", (ev) => setLang(ev.target.value));
onLangChange(() => { showTokenState(); showInfo(); route(); });

async function start() {
  applyStatic();
  showTokenState();
  try {
    info = await call("GET", "/api/info");
    setServerLang(info.lang);
    showTokenState();
    showInfo();
  } catch (e) { toast(explain(e), "error"); }
  route();
}
start();
