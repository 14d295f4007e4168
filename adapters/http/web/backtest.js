// The Backtest tab (issue 20): runs POST /api/backtest on SYNTHETIC prices or an uploaded prices CSV
// and draws the value and drift chart as SVG (DOM nodes, never innerHTML), rebalance days marked.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const el = (sel) => document.querySelector(sel);
  const fmt = new Intl.NumberFormat("ko-KR");

  function svg(tag, attrs) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, String(v));
    return n;
  }
  function text(x, y, s, attrs) {
    const t = svg("text", { x, y, ...(attrs || {}) });
    t.textContent = s;
    return t;
  }

  function chart(c, threshold, synthetic) {
    const W = 900, H = 460, L = 70, R = 20, T1 = 30, B1 = 250, T2 = 290, B2 = 430;
    const n = c.dates.length;
    const x = (i) => L + (i / Math.max(1, n - 1)) * (W - L - R);
    const all = c.value.concat(c.buy_and_hold, c.ideal_daily);
    const lo = Math.min(...all), hi = Math.max(...all), span = hi - lo || 1;
    const y1 = (v) => B1 - ((v - lo) / span) * (B1 - T1);
    const dmax = Math.max(1, threshold || 0, ...c.max_abs_drift_pp) * 1.05;
    const y2 = (v) => B2 - (v / dmax) * (B2 - T2);
    const root = svg("svg", { id: "bt-svg", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
      "font-size": 11, "font-family": "sans-serif" });
    root.append(svg("rect", { width: "100%", height: "100%", fill: "white" }));
    c.rebalanced.forEach((r, i) => {
      if (r) root.append(svg("line", { class: "bt-rebalance", x1: x(i), x2: x(i), y1: T1, y2: B2,
        stroke: "#f0a000", "stroke-opacity": 0.4 }));
    });
    for (const [t, b] of [[T1, B1], [T2, B2]]) {
      root.append(svg("rect", { x: L, y: t, width: W - L - R, height: b - t, fill: "none", stroke: "#888" }));
    }
    const path = (vals, y) => "M" + vals.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" L");
    root.append(svg("path", { d: path(c.ideal_daily, y1), fill: "none", stroke: "#999", "stroke-dasharray": "4 3" }));
    root.append(svg("path", { d: path(c.buy_and_hold, y1), fill: "none", stroke: "#2a9d8f" }));
    root.append(svg("path", { class: "bt-value", d: path(c.value, y1), fill: "none", stroke: "#1d3557", "stroke-width": 1.5 }));
    root.append(svg("path", { class: "bt-drift", d: path(c.max_abs_drift_pp, y2), fill: "none", stroke: "#e63946" }));
    if (threshold) root.append(svg("line", { x1: L, x2: W - R, y1: y2(threshold), y2: y2(threshold), stroke: "#e63946",
      "stroke-dasharray": "6 3" }));
    for (const v of [lo, hi]) root.append(text(L - 4, y1(v) + 4, `${(v / 1e6).toFixed(1)}M`, { "text-anchor": "end" }));
    for (const v of [0, dmax / 1.05]) root.append(text(L - 4, y2(v) + 4, `${v.toFixed(1)}pp`, { "text-anchor": "end" }));
    root.append(text(L + 6, T1 + 14, "value: policy (navy), buy-and-hold (green), ideal daily (grey); rebalances orange"
      + (synthetic ? " — SYNTHETIC DATA" : "")));
    root.append(text(L + 6, T2 + 14, "largest absolute drift (pp of T); MP threshold dashed"));
    root.append(text(L, H - 10, c.dates[0] || ""));
    root.append(text(W - R, H - 10, c.dates[n - 1] || "", { "text-anchor": "end" }));
    return root;
  }

  function summary(doc) {
    const rows = [["final value (KRW)", "final_value", (v) => fmt.format(v)],
      ["total return %", "total_return_pct", (v) => v.toFixed(2)],
      ["tracking error pp", "tracking_error_pp", (v) => v.toFixed(3)],
      ["mean abs drift pp", "mean_abs_drift_pp", (v) => v.toFixed(3)],
      ["max abs drift pp", "max_abs_drift_pp", (v) => v.toFixed(3)],
      ["turnover", "turnover", (v) => v.toFixed(3)],
      ["commissions (KRW)", "commissions", (v) => fmt.format(v)],
      ["taxes (KRW)", "taxes", (v) => fmt.format(v)],
      ["rebalances", "rebalances", (v) => fmt.format(v)]];
    const table = document.createElement("table");
    table.className = "grid narrow";
    table.id = "bt-summary";
    const head = table.insertRow();
    for (const t of ["", "policy", "buy-and-hold", "ideal daily"]) head.insertCell().textContent = t;
    for (const [label, key, f] of rows) {
      const tr = table.insertRow();
      tr.insertCell().textContent = label;
      for (const block of [doc.summary, doc.buy_and_hold, doc.ideal_daily]) tr.insertCell().textContent = f(block[key]);
    }
    return table;
  }

  async function run(ev) {
    ev.preventDefault();
    const out = el("#bt-result");
    const body = {
      policy: { name: el("#bt-policy").value },
      mp_threshold: Number(el("#bt-mp").value), sub_mp_threshold: Number(el("#bt-sub").value),
      cash: Number(el("#bt-cash").value),
    };
    const file = el("#bt-file").files[0];
    if (file) {
      body.prices_csv = await file.text();
      const tfile = el("#bt-targets").files[0];
      if (!tfile) { out.replaceChildren("A targets JSON file is needed with a prices CSV."); return; }
      body.targets = JSON.parse(await tfile.text());
    } else {
      body.synthetic_years = Number(el("#bt-years").value);
    }
    out.replaceChildren("running…");
    const res = await fetch("/api/backtest", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body) });
    const doc = await res.json();
    if (!res.ok) { out.replaceChildren(`error: ${doc.message || res.status}`); return; }
    const title = document.createElement("p");
    title.id = "bt-title";
    title.textContent = `${doc.start} … ${doc.end}, policy ${doc.policy}, planner ${doc.planner}`
      + (doc.synthetic ? " (SYNTHETIC DATA)" : "") + `: ${doc.summary.rebalances} rebalance(s)`;
    out.replaceChildren(title, chart(doc.chart, body.mp_threshold, doc.synthetic), summary(doc));
  }

  window.loadBacktest = function () {
    const form = el("#bt-form");
    if (form && !form.dataset.bound) { form.addEventListener("submit", run); form.dataset.bound = "1"; }
  };
})();
