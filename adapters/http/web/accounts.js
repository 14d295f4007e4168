// Accounts (issue 19): the account switcher in the tab bar and the Accounts tab, which shows every
// account's drift verdict, last run, status and whether it needs an operator (#accounts), or one
// account with its runs (#accounts/ALIAS). Uses app.js's helpers (h, call, $, statusBadge, fmtTime);
// app.js's router calls loadAccounts(alias). Data is put in the DOM as text only, never as HTML.
"use strict";

const ACCOUNTS_API = "/api/accounts";

function accountHash(alias) { return alias ? `#accounts/${encodeURIComponent(alias)}` : "#accounts"; }

async function fillSwitcher(selected) {
  const sel = $("#account-switcher");
  try {
    const { accounts, environment_account: env } = await call("GET", ACCOUNTS_API);
    const aliases = accounts.length ? accounts.map((a) => a.alias) : (env ? [env] : []);
    sel.replaceChildren(h("option", { value: "" }, "All accounts"),
      ...aliases.map((a) => h("option", { value: a }, a)));
    sel.value = selected && aliases.includes(selected) ? selected : "";
  } catch (e) { toast(explain(e), "error"); }
}
$("#account-switcher").addEventListener("change", (ev) => { location.hash = accountHash(ev.target.value); });
$("#refresh-accounts").addEventListener("click", () => route());

function problemsCell(r) {
  return r.needs_operator ? h("ul", { class: "small" }, r.problems.map((p) => h("li", {}, p))) : "–";
}

function driftText(d) {
  const ex = d.exceeded || [];
  const shown = ex.slice(0, 3).join(", ") + (ex.length > 3 ? `, +${ex.length - 3} more` : "");
  return d.verdict + (ex.length ? ` (${shown})` : "");
}

async function renderOverview(view) {
  const { accounts, needs_operator: need } = await call("GET", `${ACCOUNTS_API}/overview`);
  $("#accounts-note").textContent = `${accounts.length} account(s)`
    + (need.length ? ` · needs an operator: ${need.join(", ")}` : "");
  const rows = accounts.map((r) => h("tr", {
    dataset: { account: r.alias, needsOperator: String(r.needs_operator) },
    class: r.needs_operator ? "needs-operator" : "",
    onclick: () => { location.hash = accountHash(r.alias); },
  },
  h("td", {}, r.alias), h("td", {}, r.broker), h("td", { class: "mono small" }, r.masked_number || "–"),
  h("td", {}, r.portfolio || "default"), h("td", { class: "drift-verdict" }, driftText(r.drift)),
  h("td", { class: "mono small" }, r.last_run ? r.last_run.id : "–"),
  h("td", {}, r.status ? statusBadge(r.status) : "–"), h("td", {}, r.enabled ? "yes" : "no"),
  h("td", { class: "operator" }, problemsCell(r))));
  view.replaceChildren(h("table", { id: "accounts-table", class: "grid clickable" },
    h("thead", {}, h("tr", {}, ["Account", "Broker", "Number", "Portfolio", "Drift (last run)", "Last run", "Status",
      "Enabled", "Needs an operator"].map((c) => h("th", {}, c)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 9, class: "muted" }, "No accounts.")))));
}

async function renderAccount(view, alias) {
  let a = null;
  try {
    a = await call("GET", `${ACCOUNTS_API}/${encodeURIComponent(alias)}`);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 404) throw e;
  }
  const { runs } = await call("GET", `${API}/runs?limit=200`);
  const mine = runs.filter((r) => r.account === alias);
  $("#accounts-note").textContent = `${mine.length} run(s) of ${alias}`;
  const facts = a ? [
    ["Broker", a.broker], ["Number", a.masked_number || "–"], ["Credentials", a.credentials.kind === "env"
      ? `env ${a.credentials.appkey_env}, ${a.credentials.appsecret_env}, ${a.credentials.account_env}`
      : a.credentials.kind === "file" ? `file ${a.credentials.file}` : "none"],
    ["Follows", a.follows], ["Thresholds", a.thresholds ? `${a.thresholds.mp} / ${a.thresholds.sub_mp}` : "global"],
    ["Schedule", a.schedule_cron || "global"], ["Enabled", a.enabled ? "yes" : "no"],
    ["Drift (last run)", driftText(a.drift)], ["Status", a.status || "–"],
  ] : [["Account", "the server's environment set-up (no accounts row)"]];
  view.replaceChildren(
    h("h2", { id: "account-title" }, alias),
    a && a.needs_operator ? h("div", { class: "alert", id: "account-problems" }, "Needs an operator: ",
      a.problems.join("; ")) : null,
    h("table", { class: "grid narrow", id: "account-facts" }, h("tbody", {},
      facts.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, v))))),
    h("h3", {}, "Runs"),
    h("table", { class: "grid clickable", id: "account-runs" },
      h("thead", {}, h("tr", {}, ["Started", "Run", "Status", "Phase", "State"].map((c) => h("th", {}, c)))),
      h("tbody", {}, mine.length ? mine.map((r) => h("tr", { dataset: { run: r.id },
        onclick: () => { location.hash = `#runs/${r.id}`; } },
      h("td", {}, fmtTime(r.created_at)), h("td", { class: "mono small" }, r.id), h("td", {}, statusBadge(r.status)),
      h("td", {}, String(r.max_phase)), h("td", { class: "small" }, r.state)))
        : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No runs yet.")))));
}

async function loadAccounts(alias) {
  const view = $("#accounts-view");
  await fillSwitcher(alias);
  try {
    if (alias) await renderAccount(view, alias);
    else await renderOverview(view);
  } catch (e) { toast(explain(e), "error"); }
}

fillSwitcher(null);
if (location.hash.startsWith("#accounts")) route();  // app.js routed before this script was loaded
